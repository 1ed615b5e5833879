/**
 * Discovery: every `glob_interval_ms` the patterns are expanded again (`glob.ts`) and every match
 * is looked at (`stat`): the regular files, with their `dev:ino` (the identity of a file we hold
 * open) and size. Problems with a path are reported once (`warnings.ts`); a directory or special
 * file matching the patterns is skipped. `order` then puts the files not held open in the order
 * the source considers them: idle-closed files that did not change are left out (their position
 * is kept), and files at a remembered position's path come first, so a restart gives each
 * position back to the file that had it.
 */
import type { FsError, ReadFileSystem, ReadStat } from '../../core/ports';
import type { PositionBook } from './book';
import type { Glob } from './glob';
import type { Warnings } from './warnings';

/** An idle-closed, unchanged file whose position was refreshed longer ago than this is refreshed again. */
const IDLE_REFRESH_MS = 60_000;

/** A regular file the patterns match. */
export interface Found {
  readonly path: string;
  readonly st: ReadStat;
  /** `dev:ino` */
  readonly ino: string;
}

export interface Listing {
  readonly files: Found[];
  /**
   * False when a directory could not be listed (EMFILE, EACCES): the listing says nothing about the
   * files it did not list, so they keep their state instead of being taken as renamed away.
   */
  readonly complete: boolean;
  /** Every path the patterns matched (files or not, readable or not). */
  readonly seenPaths: Set<string>;
}

export class Discovery {
  constructor(
    private readonly glob: Glob,
    private readonly fs: ReadFileSystem,
    private readonly warnings: Warnings,
  ) {}

  async list(): Promise<Listing> {
    let complete = true;
    const paths = await this.glob.list((dir, err) => {
      complete = false;
      this.warnings.once(dir, err.code ?? 'ERR', `cannot list directory ${dir}: ${err.message}`);
    });
    const files: Found[] = [];
    const seenPaths = new Set<string>();
    for (const path of paths) {
      let st: ReadStat;
      try {
        st = await this.fs.stat(path);
      } catch (e) {
        const err = e as FsError;
        if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') {
          seenPaths.add(path);
          this.warnings.once(path, err.code ?? 'ERR', `cannot stat ${path}: ${err.message}`);
        }
        continue;
      }
      seenPaths.add(path);
      if (st.type !== 'file') {
        const what = st.type === 'directory' ? 'a directory' : 'special file';
        this.warnings.once(path, 'ENOTFILE', `${path} matches the patterns but is not a regular file (${what}); skipped`);
        continue;
      }
      files.push({ path, st, ino: `${st.dev}:${st.ino}` });
    }
    return { files, complete, seenPaths };
  }
}

/**
 * The files not held open, in the order to consider them: unchanged idle-closed files left out
 * (their position kept alive), changed ones unpinned; those at a remembered path first.
 */
export function order(candidates: readonly Found[], book: PositionBook, complete: boolean, now: number): Found[] {
  const seenIno = new Set<string>();
  const rest: Found[] = [];
  for (const c of candidates) {
    seenIno.add(c.ino);
    const k = book.idleFile(c.ino);
    if (k?.idle && k.idle.size === c.st.size && k.idle.mtimeMs === c.st.mtimeMs) {
      if (now - k.since > IDLE_REFRESH_MS) book.touch(k, now);
      continue;
    }
    if (k) book.unpin(c.ino);
    rest.push(c);
  }
  if (complete) book.unpinUnseen(seenIno);
  const known = book.paths();
  const byOwnPath: Found[] = [];
  const others: Found[] = [];
  for (const c of rest) (known.has(c.path) ? byOwnPath : others).push(c);
  return [...byOwnPath, ...others];
}
