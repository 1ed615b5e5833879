/**
 * The directory lock: one writer per queue directory.
 *
 * Across processes: a `lock` file created exclusively (O_EXCL), holding the owner's pid and its
 * start token (`FileSystem.processStart`: on Linux the boot id and the process's start time from
 * /proc). A lock is stale, and taken over, when its pid is not alive, or when the live process with
 * that pid has another start token: the pid was reused (after a container restart a pid is handed
 * out again, often to an unrelated process). A lock in the old format (a pid, no token) is stale
 * when the live process with that pid started after the file was last written (its mtime): a
 * process cannot have written a file before it existed. Why not a unix socket bound in the directory (live
 * holder = connect() answers): taking over its stale socket file races like a stale lock file does
 * (unlink + bind by two starters), and it needs a listener kept in the process; pid + start time
 * names exactly one process for the life of the machine, so it is as sound within one pid namespace
 * and adds nothing to run. Limit (any pid scheme): two agents in separate pid namespaces (two
 * containers) sharing one data_dir volume cannot see each other; give each its own data_dir. Inside one process: a process-wide registry of the
 * directories this process holds, keyed by resolved path and independent of the `FileSystem`
 * object (F7 in test/queue/FINDINGS.md: two objects forwarding to one disk must not both win).
 * The registry lives on `globalThis` under a `Symbol.for` key, so two copies of this module loaded
 * in one process share it too.
 *
 * How a lock found on disk is classified and what is done with it: `./recovery-table.ts`.
 */
import { join, resolve } from 'node:path';
import type { FileSystem } from '../core/ports';
import { LOCK_FILE } from './format';
import { QueueLockedError } from './errors';
import { decide, type FindingOf } from './recovery-table';
import { ioError, isCode } from './util';

/** One open (or opening) queue of this process: the file system it goes through and its pid. */
interface Holder {
  readonly fs: FileSystem;
  readonly pid: number;
}

const REGISTRY = Symbol.for('sluice.queue.held-directories');
type Registry = Map<string, Set<Holder>>;

function registry(): Registry {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>;
  let r = g[REGISTRY];
  if (r === undefined) {
    r = new Map();
    g[REGISTRY] = r;
  }
  return r;
}

/**
 * The holders of `key` other than `me` that are still alive, as seen by this process (`pid`).
 * Holders whose process is gone are dropped: a simulated machine that crashed never closes its
 * queues (a real process that dies takes this registry with it).
 */
function otherHolders(key: string, pid: number, me: Holder | null): Holder[] {
  const set = registry().get(key);
  if (set === undefined) return [];
  const out: Holder[] = [];
  for (const h of [...set]) {
    if (!h.fs.processAlive(h.pid)) set.delete(h);
    else if (h !== me && h.pid === pid) out.push(h);
  }
  if (set.size === 0) registry().delete(key);
  return out;
}

export class DirectoryLock {
  private released = false;

  private constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly key: string,
    private readonly holder: Holder,
    /** What taking the lock found (a stale lock taken over), for the recovery notes. */
    readonly note: string | null,
  ) {}

  /** Takes the lock of `dir` or rejects with `QueueLockedError` (or `QueueIoError`). */
  static async acquire(fs: FileSystem, dir: string): Promise<DirectoryLock> {
    const key = resolve(dir);
    const path = join(dir, LOCK_FILE);
    const refuse = (pid: number): QueueLockedError => new QueueLockedError(dir, pid);
    // Through the very same file system object: certainly the same disk, refuse without looking.
    if (otherHolders(key, fs.pid, null).some((h) => h.fs === fs)) {
      const row = decide({ kind: 'lock', holder: 'open-in-this-process' });
      switch (row.action) {
        case 'refuse':
          throw refuse(fs.pid);
        case 'take-over':
          break;
      }
    }
    // Register before the first await, so two opens in one process cannot both take a stale lock.
    const me: Holder = { fs, pid: fs.pid };
    let set = registry().get(key);
    if (set === undefined) {
      set = new Set();
      registry().set(key, set);
    }
    set.add(me);
    let note: string | null = null;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const fh = await fs.open(path, 'exclusive');
          try {
            const token = fs.processStart?.(fs.pid) ?? null;
            await fh.writev([Buffer.from(token === null ? `${fs.pid}\n` : `${fs.pid} ${token}\n`)]);
            await fh.datasync();
          } finally {
            await fh.close();
          }
          await fs.syncDir(dir);
          return new DirectoryLock(fs, dir, key, me, note);
        } catch (e) {
          if (!isCode(e, 'EEXIST')) throw ioError(`queue ${dir}: cannot create ${path}`, e);
        }
        const { pid, token, mtimeMs } = await readLock(fs, path);
        const finding = classify(fs, pid, token, mtimeMs, otherHolders(key, fs.pid, me).length > 0);
        const row = decide(finding);
        switch (row.action) {
          case 'refuse':
            throw refuse(finding.holder === 'open-in-this-process' ? fs.pid : (pid ?? -1));
          case 'take-over':
            break;
        }
        if (attempt >= 2) throw refuse(pid ?? -1);
        try {
          await fs.unlink(path);
        } catch (u) {
          if (!isCode(u, 'ENOENT')) throw ioError(`queue ${dir}: cannot remove stale ${path}`, u);
        }
        note = `took over a stale lock (pid ${pid ?? 'unreadable'}): ${row.label}`;
      }
    } catch (e) {
      DirectoryLock.forget(key, me);
      throw e;
    }
  }

  private static forget(key: string, me: Holder): void {
    const set = registry().get(key);
    set?.delete(me);
    if (set?.size === 0) registry().delete(key);
  }

  /** Removes the lock file; rejects (QueueIoError) if it is still there afterwards. */
  async release(): Promise<void> {
    if (!this.released) {
      this.released = true;
      DirectoryLock.forget(this.key, this.holder);
    }
    try {
      await this.fs.unlink(join(this.dir, LOCK_FILE));
    } catch (e) {
      if (!isCode(e, 'ENOENT')) throw ioError(`queue ${this.dir}: cannot remove the lock file`, e);
    }
  }
}

/**
 * Who holds `dir` right now, for read-only tools (`sluice queue inspect|verify`): the pid of a live
 * process whose lock file is there, or null (no lock, or a stale one). Takes nothing, writes nothing.
 */
export async function lockHolder(fs: FileSystem, dir: string): Promise<number | null> {
  if ((await fs.stat(join(dir, LOCK_FILE))) === null) return null;
  const { pid, token, mtimeMs } = await readLock(fs, join(dir, LOCK_FILE));
  if (pid === null) return null;
  const holder = classify(fs, pid, token, mtimeMs, false).holder;
  return holder === 'live-process' ? pid : null;
}

/**
 * What an existing lock file means. `openHere`: another open of this directory in this process
 * (same pid, any file system object) is registered and alive; then a lock with our pid, or one
 * still empty (that open is writing it), is theirs.
 */
function classify(fs: FileSystem, pid: number | null, token: string | null, mtimeMs: number | null, openHere: boolean): FindingOf<'lock'> {
  if (pid === null) return { kind: 'lock', holder: openHere ? 'open-in-this-process' : 'unreadable' };
  if (pid === fs.pid) return { kind: 'lock', holder: openHere ? 'open-in-this-process' : 'own-pid' };
  if (!fs.processAlive(pid)) return { kind: 'lock', holder: 'dead-process' };
  // A lock written with a start token: the live process with that pid must be the one that wrote it.
  if (token !== null) {
    const now = fs.processStart?.(pid) ?? null;
    return { kind: 'lock', holder: now !== null && now !== token ? 'pid-reused' : 'live-process' };
  }
  // A lock in the old format (a pid only): its writer started before it wrote the file, so a process
  // that started after the file was last written is not the writer. (The start time is never later
  // than the real one, so a live owner is never taken for a stranger; a stranger started within a
  // second of the write is refused, as before.)
  const started = fs.processStartMs?.(pid) ?? null;
  return { kind: 'lock', holder: started !== null && mtimeMs !== null && started > mtimeMs ? 'pid-reused' : 'live-process' };
}

/**
 * The pid in a lock file (null: empty or unreadable), the start token after it (null: none, an older
 * lock) and when the file was last written (null: unknown).
 */
async function readLock(fs: FileSystem, path: string): Promise<{ pid: number | null; token: string | null; mtimeMs: number | null }> {
  const mtimeMs = (await fs.stat(path).catch(() => null))?.mtimeMs ?? null;
  try {
    const fh = await fs.open(path, 'read');
    try {
      const b = Buffer.alloc(256);
      const n = await fh.read(b, 0, b.length, 0);
      const [p, t] = b.toString('utf8', 0, n).trim().split(/\s+/);
      const pid = Number.parseInt(p ?? '', 10);
      if (!Number.isSafeInteger(pid) || pid <= 0) return { pid: null, token: null, mtimeMs };
      return { pid, token: t !== undefined && t.length > 0 ? t : null, mtimeMs };
    } finally {
      await fh.close();
    }
  } catch {
    return { pid: null, token: null, mtimeMs };
  }
}
