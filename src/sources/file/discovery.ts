/**
 * Discovery: every `glob_interval_ms` the patterns are expanded again (`glob.ts`) and every match
 * is looked at (`stat`): the regular files, with their `dev:ino` (the identity of a file we hold
 * open) and size. Problems with a path are reported once (`warnings.ts`); a directory or special
 * file matching the patterns is skipped. `order` then puts the files not held open in the order
 * the source considers them: idle-closed files that did not change are left out (their position
 * is kept), and files at a remembered position's path come first, so a restart gives each
 * position back to the file that had it. `open` opens one of them and finds out who it is
 * (`Identities.identify`): a tailer at a remembered position or at the start, or nothing to read.
 */
import { basename, dirname } from 'node:path';
import type { FsError, ReadFileHandle, ReadFileSystem, ReadStat } from '../../core/ports';
import type { SourceContext } from '../../core/source';
import type { PositionBook } from './book';
import type { Glob } from './glob';
import type { Identities, Identity } from './identity';
import { NO_TAIL } from './position';
import { afterLastLine, Tailer } from './tailer';
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

/** What opening a file not held open came to. */
export type Opened =
  /** A tailer for it, not yet given its identity (the caller registers both). */
  | { readonly kind: 'opened'; readonly tailer: Tailer; readonly identity: Identity; readonly resumed: boolean }
  /** A copy of a file being read: not read while the original is. */
  | { readonly kind: 'copy' }
  /** Only resumes were asked for, and it resumes no position. */
  | { readonly kind: 'unresolved' }
  /** Nothing to read now (empty, gone, unreadable, already open, not told apart yet). */
  | { readonly kind: 'skipped' };

const SKIPPED: Opened = { kind: 'skipped' };

export class Discovery {
  /** Copies held (`dev:ino` → when first seen as one): after `copyWindowMs` they are files of their own. */
  private readonly copies = new Map<string, number>();
  /** Compressed files found (`dev:ino` → `size:mtime`): not opened again while unchanged. */
  private readonly compressed = new Map<string, string>();

  constructor(
    private readonly glob: Glob,
    private readonly fs: ReadFileSystem,
    private readonly warnings: Warnings,
    private readonly ids: Identities,
    private readonly fingerprintBytes: number,
    private readonly ctx: Pick<SourceContext, 'id' | 'log'>,
    /** How long a file equal to one being read is taken for copytruncate's copy (its original truncated soon). */
    private readonly copyWindowMs: number,
  ) {}

  /** Reported once per path (a file looked at only to follow a rename is not reported). */
  private compressedWarning(path: string, format: string): void {
    this.warnings.once(path, 'COMPRESSED', `${path} is ${format}-compressed: not read as lines (skipped; add its suffix to exclude to silence this)`);
  }

  /** Forgets held copies and compressed files a scan no longer found (bounded memory). */
  keepCopies(seen: ReadonlySet<string>): void {
    for (const ino of [...this.copies.keys()]) if (!seen.has(ino)) this.copies.delete(ino);
    for (const ino of [...this.compressed.keys()]) if (!seen.has(ino)) this.compressed.delete(ino);
  }

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
        } else if (await this.isBrokenSymlink(path)) {
          seenPaths.add(path);
          this.warnings.once(path, 'EBROKENLINK', `${path} matches the patterns but is a symlink to a file that does not exist; skipped until it does`);
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

  /**
   * Opens a matching file we do not hold open and finds out who it is. With `resumeOnly`, only a
   * file that resumes a remembered position is opened. `startAtEnd`: a new file starts after its
   * last complete line (`start_at: end`, first scan). `isOpen(ino)`: whether we hold it already.
   */
  async open(found: Found, now: number, resumeOnly: boolean, startAtEnd: boolean, isOpen: (ino: string) => boolean): Promise<Opened> {
    const { path } = found;
    if (found.st.size === 0) return SKIPPED; // no identity yet
    const sig = `${found.st.size}:${found.st.mtimeMs}`;
    const known = this.compressed.get(found.ino);
    if (known !== undefined && known.startsWith(`${sig}:`)) {
      if (resumeOnly) return { kind: 'unresolved' }; // reported by the second pass, if the patterns match it
      this.compressedWarning(path, known.slice(sig.length + 1));
      return SKIPPED;
    }
    let fh: ReadFileHandle;
    try {
      fh = await this.fs.openRead(path);
    } catch (e) {
      const err = e as FsError;
      if (err.code !== 'ENOENT') this.warnings.once(path, err.code ?? 'ERR', `cannot open ${path}: ${err.message}; other files keep flowing`);
      return SKIPPED;
    }
    let keep = false;
    try {
      // The path may name another file by now (renamed, recreated since the stat): what was opened
      // is what counts.
      const st = await fh.stat();
      const ino = `${st.dev}:${st.ino}`;
      if (st.type !== 'file' || st.size === 0 || isOpen(ino)) return SKIPPED;
      const magic = await this.ids.readHead(fh, MAGIC_BYTES, path);
      const format = magic === null ? null : compression(magic);
      if (format !== null) {
        this.compressed.set(ino, `${st.size}:${st.mtimeMs}:${format}`);
        if (resumeOnly) return { kind: 'unresolved' };
        this.compressedWarning(path, format);
        return SKIPPED;
      }
      let got = await this.ids.identify(fh, st.size, path, ino, this.fingerprintBytes, resumeOnly);
      if (got === 'unresolved') return { kind: 'unresolved' };
      if (got === 'copy') {
        const since = this.copies.get(ino) ?? now;
        this.copies.set(ino, since);
        if (now - since < this.copyWindowMs) {
          this.ctx.log.debug('file held: a copy of a file being read', { source: this.ctx.id, path });
          return { kind: 'copy' };
        }
        // Still equal and the original was not truncated: not copytruncate's copy but a file of its own.
        const id = await this.ids.lookalike(fh, st.size, this.fingerprintBytes, ino, path);
        if (id === null) return SKIPPED;
        this.copies.delete(ino);
        this.ctx.log.info('file equal to one being read, and not a rotated copy: read as a file of its own', { source: this.ctx.id, path });
        got = { identity: id, offset: 0, tail: NO_TAIL, resumed: false, size: st.size };
      }
      this.copies.delete(ino);
      if (got === 'unknown') {
        this.ctx.log.debug('file held: its first bytes do not tell it apart yet', { source: this.ctx.id, path });
        return SKIPPED; // the next scan looks again
      }
      let { offset, tail } = got;
      if (!got.resumed && startAtEnd) ({ offset, tail } = await afterLastLine(fh, got.size));
      keep = true;
      this.warnings.clear(path);
      return { kind: 'opened', tailer: new Tailer(fh, ino, path, offset, tail, now), identity: got.identity, resumed: got.resumed };
    } finally {
      if (!keep) await fh.close().catch(() => undefined);
    }
  }

  /**
   * Whether `path` (listed a moment ago, now ENOENT on stat) is still there as a symlink: then its
   * target is missing (a broken link), not a file that vanished in a rotation. Only on that rare path.
   */
  private async isBrokenSymlink(path: string): Promise<boolean> {
    try {
      const name = basename(path);
      return (await this.fs.readdirTyped(dirname(path))).some((e) => e.name === name && e.type === 'symlink');
    } catch {
      return false;
    }
  }
}

/** Bytes needed to recognise a compressed file. */
const MAGIC_BYTES = 6;

/**
 * The compression format a file's first bytes announce (gzip, zstd, bzip2, xz), or null. A file
 * that starts so is not text: rotated logs compressed by logrotate (`app.log.1.gz` under `app.log*`)
 * would be delivered as binary "lines". A text line starting with `BZh` and a digit is taken for
 * bzip2 only with the block magic after it.
 */
export function compression(head: Uint8Array): string | null {
  const b = (i: number): number => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68 && b(3) >= 0x31 && b(3) <= 0x39 && b(4) === 0x31 && b(5) === 0x41) return 'bzip2';
  return null;
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
  if (complete) book.unpinUnseen(seenIno, now);
  const known = book.paths();
  const byOwnPath: Found[] = [];
  const others: Found[] = [];
  for (const c of rest) (known.has(c.path) ? byOwnPath : others).push(c);
  return [...byOwnPath, ...others];
}
