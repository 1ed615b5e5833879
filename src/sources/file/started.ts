/**
 * `start_at: end` made durable. At its very first start the source skips what the files hold then,
 * and positions of files it read nothing from would exist only in memory: a restart could not tell
 * them from files it never saw, and would skip again what was appended while it was stopped. So the
 * first scan's positions are written to `<data_dir>/sources/<id>.started` (a small file, written
 * once: temp file, fdatasync, rename, fsync of the directory) before any of those files is read.
 *
 * At start: no such file → this is the first start, `start_at` applies. The file exists → the
 * source has started before: its positions are loaded under the queue's (a position in the queue
 * is newer and wins) and `start_at` applies to no file (a file without a position appeared while
 * the agent was stopped, and is read from its beginning like a file that appears while it runs).
 * Without a data directory (unit tests) nothing is written and every start is a first start.
 *
 * Format: `SLUICESTARTED 1\n`, then one line per position: `<key> <value as base64>\n`.
 */
import { join } from 'node:path';
import type { FileSystem } from '../../core/ports';
import { mkdirpDurable } from '../../core/durable-dirs';
import type { SourcePosition } from '../../core/records';

const MAGIC = 'SLUICESTARTED 1';

export class StartState {
  private readonly dir: string;
  private readonly path: string;

  constructor(
    private readonly fs: FileSystem,
    dataDir: string,
    sourceId: string,
  ) {
    this.dir = join(dataDir, 'sources');
    this.path = join(this.dir, `${encodeURIComponent(sourceId)}.started`);
  }

  /** The positions written at the first start, or null if the source never started (or the file is unreadable). */
  async load(): Promise<Map<string, Uint8Array> | null> {
    if ((await this.fs.stat(this.path)) === null) return null;
    const fh = await this.fs.open(this.path, 'read');
    try {
      const size = (await fh.stat()).size;
      const buf = Buffer.allocUnsafe(size);
      let got = 0;
      while (got < size) {
        const n = await fh.read(buf, got, size - got, got);
        if (n === 0) break;
        got += n;
      }
      const lines = buf.toString('utf8', 0, got).split('\n');
      if (lines[0] !== MAGIC) return new Map();
      const out = new Map<string, Uint8Array>();
      for (const line of lines.slice(1)) {
        const sp = line.lastIndexOf(' ');
        if (sp <= 0) continue;
        out.set(line.slice(0, sp), Buffer.from(line.slice(sp + 1), 'base64'));
      }
      return out;
    } finally {
      await fh.close();
    }
  }

  /** Writes the first start's positions durably (resolves once they survive a power loss). */
  async save(positions: readonly SourcePosition[]): Promise<void> {
    await mkdirpDurable(this.fs, this.dir);
    let text = `${MAGIC}\n`;
    for (const p of positions) if (p.value !== null) text += `${p.key} ${Buffer.from(p.value).toString('base64')}\n`;
    const tmp = `${this.path}.tmp`;
    const fh = await this.fs.open(tmp, 'truncate');
    try {
      await fh.writev([Buffer.from(text, 'utf8')]);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await this.fs.rename(tmp, this.path);
    await this.fs.syncDir(this.dir);
  }
}
