/**
 * Following a file renamed away from the patterns while the source did not hold it open: the agent
 * was stopped or killed while `app.log` was rotated to `app.log.1` under the pattern `*.log`, an
 * idle-closed file was renamed away, or copytruncate's copy (`app.log.1`) holds the lines the
 * truncated file no longer has. The position is remembered, but no file the patterns match resumes
 * it, so the scan also looks for it here:
 *
 *  - where: the directory the position's file had, among the regular files whose name starts with
 *    the stem of the old name (the name up to its first `.`: `app.log` → `app.log.1`,
 *    `app.log-20261130`, `app.1.log`), that the patterns do not match (those are candidates of
 *    the scan already) and that are not excluded;
 *  - when: at the first scan for every remembered position (a restart), and afterwards for a
 *    position remembered (let go, truncated, unpinned) within the last `max(rotate_wait_ms,
 *    3 × glob_interval_ms)`;
 *  - how: a name is only `stat`ed; a file is opened (`Discovery.open` with `resumeOnly`: the
 *    fingerprint and the tail check decide, never a new identity) only if its `dev:ino`, size or
 *    mtime changed since it was last looked at, so a drained rotated file is not reopened.
 *
 * A file found this way is read to its end and let go like any file renamed away.
 */
import { basename, dirname, join } from 'node:path';
import type { ReadFileSystem, ReadStat } from '../../core/ports';
import type { PositionBook } from './book';
import type { Found } from './discovery';
import type { Glob } from './glob';

/** Names looked at per directory and scan, at most (a directory of thousands of rotated files). */
const MAX_NAMES_PER_DIR = 256;

export class Follower {
  /** `path` → `dev:ino:size:mtime` when last looked at (not opened again while unchanged). */
  private readonly looked = new Map<string, string>();

  constructor(
    private readonly glob: Glob,
    private readonly fs: ReadFileSystem,
  ) {}

  /**
   * Files outside the patterns that may hold a remembered position (the caller opens them with
   * `resumeOnly`). `known`: `dev:ino` of the files the scan found or holds open.
   */
  async candidates(book: PositionBook, now: number, all: boolean, windowMs: number, known: (ino: string) => boolean): Promise<Found[]> {
    const stems = new Map<string, Set<string>>();
    for (const r of book.list()) {
      if (r.idle || (!all && now - r.since > windowMs)) continue;
      const dir = dirname(r.path);
      const name = basename(r.path);
      const dot = name.indexOf('.', 1);
      const stem = dot > 0 ? name.slice(0, dot) : name;
      let s = stems.get(dir);
      if (!s) stems.set(dir, (s = new Set()));
      s.add(stem);
    }
    const out: Found[] = [];
    for (const [dir, set] of stems) {
      let names: string[];
      try {
        names = (await this.fs.readdirTyped(dir)).filter((e) => e.type === 'file' || e.type === 'symlink').map((e) => e.name);
      } catch {
        continue; // the directory is gone: nothing to follow there
      }
      let n = 0;
      for (const name of names) {
        if (n >= MAX_NAMES_PER_DIR) break;
        let match = false;
        for (const stem of set) if (name.startsWith(stem)) match = true;
        if (!match) continue;
        const path = join(dir, name);
        if (this.glob.matches(path) || this.glob.isExcluded(path)) continue;
        n++;
        let st: ReadStat;
        try {
          st = await this.fs.stat(path);
        } catch {
          continue;
        }
        if (st.type !== 'file' || st.size === 0) continue;
        const ino = `${st.dev}:${st.ino}`;
        if (known(ino)) continue;
        const sig = `${ino}:${st.size}:${st.mtimeMs}`;
        if (this.looked.get(path) === sig) continue;
        this.looked.set(path, sig);
        out.push({ path, st, ino });
      }
    }
    if (this.looked.size > 4 * MAX_NAMES_PER_DIR * Math.max(1, stems.size)) this.looked.clear(); // bounded; looking again is harmless
    return out;
  }

  /** A followed file was let go at this size and mtime: not opened again until it changes. */
  drained(path: string, ino: string, size: number, mtimeMs: number): void {
    this.looked.set(path, `${ino}:${size}:${mtimeMs}`);
  }
}
