/**
 * The real adapters for the ports: `nodeFileSystem` over `node:fs/promises`, `systemClock` over
 * `performance.now()`, `Date.now()` and unref'd timers, `systemRandom` over `Math.random`, and
 * `seededRandom` (mulberry32) for tests and simulations that print their seed.
 */
import { open as fsOpen, readdir, mkdir, rename, unlink, stat } from 'node:fs/promises';
import type { FileHandle as NodeFileHandle } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Clock, FileHandle, FileStat, FileSystem, OpenMode, Random, Timer } from './ports';

const flagsFor = (mode: OpenMode): string => {
  switch (mode) {
    case 'read':
      return 'r';
    case 'append':
      return 'a+';
    case 'truncate':
      return 'w';
    case 'exclusive':
      return 'wx';
    case 'update':
      return 'r+';
  }
};

class NodeHandle implements FileHandle {
  constructor(private readonly fh: NodeFileHandle) {}

  async writev(buffers: readonly Uint8Array[]): Promise<void> {
    let total = 0;
    for (const b of buffers) total += b.length;
    if (total === 0) return;
    // libuv loops over short writes and IOV_MAX itself; the check below is a guard, not a loop we expect.
    let { bytesWritten } = await this.fh.writev(buffers as Uint8Array[]);
    while (bytesWritten < total) {
      const rest: Uint8Array[] = [];
      let skip = bytesWritten;
      for (const b of buffers) {
        if (skip >= b.length) {
          skip -= b.length;
          continue;
        }
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
      const r = await this.fh.writev(rest);
      if (r.bytesWritten === 0) throw Object.assign(new Error('writev wrote 0 bytes'), { code: 'EIO' });
      bytesWritten += r.bytesWritten;
    }
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesRead } = await this.fh.read(buffer, offset, length, position);
    return bytesRead;
  }

  async writeAt(data: Uint8Array, position: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, position + done);
      if (bytesWritten === 0) throw Object.assign(new Error('pwrite wrote 0 bytes'), { code: 'EIO' });
      done += bytesWritten;
    }
  }

  datasync(): Promise<void> {
    return this.fh.datasync();
  }

  truncate(length: number): Promise<void> {
    return this.fh.truncate(length);
  }

  async stat(): Promise<FileStat> {
    const s = await this.fh.stat();
    return { size: s.size, dev: s.dev, ino: s.ino };
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export const nodeFileSystem: FileSystem = {
  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    return new NodeHandle(await fsOpen(path, flagsFor(mode)));
  },
  readdir(dir: string): Promise<string[]> {
    return readdir(dir);
  },
  async mkdirp(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
  },
  rename(from: string, to: string): Promise<void> {
    return rename(from, to);
  },
  unlink(path: string): Promise<void> {
    return unlink(path);
  },
  async stat(path: string): Promise<FileStat | null> {
    try {
      const s = await stat(path);
      return { size: s.size, dev: s.dev, ino: s.ino, mtimeMs: s.mtimeMs };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  },
  async syncDir(dir: string): Promise<void> {
    const fh = await fsOpen(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  processAlive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  processStart(pid: number): string | null {
    try {
      // Field 22 of /proc/<pid>/stat (after the parenthesised name, which may hold spaces) is the
      // start time in clock ticks since boot: with the boot id, one process for the life of the machine.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const start = fields[19];
      if (start === undefined || !/^\d+$/.test(start)) return null;
      return `${bootId()}:${start}`;
    } catch {
      return null;
    }
  },
  processStartMs(pid: number): number | null {
    const ticks = startTicks(pid);
    const btime = bootTimeS();
    // USER_HZ is 100 on every Linux (the ABI fixes it for /proc); btime is whole seconds, rounded
    // down, so the result is never later than the real start.
    return ticks === null || btime === null ? null : btime * 1000 + ticks * 10;
  },
  pid: process.pid,
};

/** Field 22 of /proc/<pid>/stat: the start time in clock ticks since boot, or null. */
const startTicks = (pid: number): number | null => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start !== undefined && /^\d+$/.test(start) ? Number(start) : null;
  } catch {
    return null;
  }
};

/** The boot time (`btime` in /proc/stat), seconds since the epoch, or null. */
const bootTimeS = (): number | null => {
  try {
    const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    return m === null ? null : Number(m[1]);
  } catch {
    return null;
  }
};

let boot: string | null = null;
const bootId = (): string => {
  if (boot === null) {
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      boot = 'unknown-boot';
    }
  }
  return boot;
};

export const systemClock: Clock = {
  now: () => performance.now(),
  wall: () => Date.now(),
  setTimer(ms: number, fn: () => void, opts?: { readonly keepAlive?: boolean }): Timer {
    const t = setTimeout(fn, ms);
    if (opts?.keepAlive !== true) t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

export const systemRandom: Random = { next: () => Math.random() };

/** mulberry32: a small, seeded, repeatable generator. */
export const seededRandom = (seed: number): Random => {
  let a = seed >>> 0;
  return {
    next(): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
};

// --- the read side, for sources (`ReadFileSystem`) -----------------------------------------------
// (Its imports are here rather than at the top so this block stands alone; imports are hoisted.)
import type { Dirent, Stats } from 'node:fs';
import type { ReadDirEntry, ReadEntryType, ReadFileHandle, ReadFileSystem, ReadStat } from './ports';

const entryType = (s: Stats | Dirent): ReadEntryType =>
  s.isFile() ? 'file' : s.isDirectory() ? 'directory' : s.isSymbolicLink() ? 'symlink' : 'other';

const readStat = (s: Stats): ReadStat => ({ dev: s.dev, ino: s.ino, size: s.size, mtimeMs: s.mtimeMs, type: entryType(s) });

class NodeReadHandle implements ReadFileHandle {
  constructor(private readonly fh: NodeFileHandle) {}

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    const { bytesRead } = await this.fh.read(buffer, offset, length, position);
    return bytesRead;
  }

  async stat(): Promise<ReadStat> {
    return readStat(await this.fh.stat());
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

export const nodeReadFileSystem: ReadFileSystem = {
  async openRead(path: string): Promise<ReadFileHandle> {
    return new NodeReadHandle(await fsOpen(path, 'r'));
  },
  async stat(path: string): Promise<ReadStat> {
    return readStat(await stat(path));
  },
  async readdirTyped(dir: string): Promise<ReadDirEntry[]> {
    const entries = await readdir(dir, { withFileTypes: true });
    return entries.map((e) => ({ name: e.name, type: entryType(e) }));
  },
};
