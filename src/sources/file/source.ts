/**
 * The file source: tails the files matching a set of globs, follows rotation, and never loses or
 * repeats a line across restarts, because its positions become durable in the same queue write as
 * the lines they describe.
 *
 * ## Loop
 * One task per source. Each round it reads (one `read_buffer_bytes` read into a reused scratch
 * buffer) from every file whose poll time has come, frames the complete lines (`lines.ts`), and
 * hands them to `ctx.emit` without waiting, up to `max_batches_in_flight` batches in flight. A file
 * at EOF is polled again after 50 ms, backing off to 250 ms while it stays idle; after 5 s of
 * idleness only every `glob_interval_ms`, and the scan (which stats every file anyway) wakes it as
 * soon as its size grows. Every `glob_interval_ms` the patterns are re-expanded (`scan`). No
 * `fs.watch`: polling is the reliable baseline, and costs little.
 *
 * ## Identity (the fingerprint)
 * A file is identified by a hash of its first `L` bytes, `L = fingerprint_bytes` (256) — or the
 * whole file while it is shorter (the key is then upgraded as the file grows: the next batch carries
 * the old key with `null` and the new one). An empty file has no identity and is not opened until
 * it has bytes. While a file is open its inode is the identity at run time (an inode cannot be
 * reused while we hold it open), so a rename is seen as a rename. Across restarts and for files we
 * do not hold open only the fingerprint counts, so inode reuse cannot fool it.
 * A file found by a scan is matched against every identity its first bytes satisfy, longest
 * fingerprint first (`matchIdentities`), in two passes over the scan's new paths:
 *  - pass 1, a remembered position (not held by an open file): resume exactly there, if the file's
 *    bytes just before that offset are the ones read there (the tail check, `position.ts`);
 *  - pass 2, for the files no position claimed:
 *    a file being read (another inode, same first bytes): the contents are compared (first 64 KiB).
 *    If the newcomer is no longer than it and equal, it is a copy (copytruncate's copy, a hard
 *    link): it is not read while the original is. When the original is truncated or let go, its
 *    position is released and the copy takes it over from that offset (so lines written between
 *    our last read and the truncation are read from the copy). If they differ (identical headers),
 *    the newcomer gets a longer fingerprint `L` = first differing byte + 1 and is read as a new file;
 *    otherwise a new file (`start_at` applies to files present at the first scan only; files that
 *    appear later are read from their beginning, so nothing written before we noticed is lost).
 *    A new file never takes the key of a remembered position (`freshIdentity` lengthens `L`).
 *
 * ## Positions
 * Each batch carries `{ key: '<id>:<fp>', value: offset just after its last line + tail check }`
 * (plus `null`s for keys to forget). Offsets count file bytes; newlines the source adds (split
 * lines, flushed partial lines) are not in the file and do not move them. A stop abandons the
 * partial line in hand (not in the position), so the restart reads it whole.
 *
 * ## Idle files
 * A file matching the patterns that has not grown for `close_idle_ms` is closed (position kept,
 * never forgotten while the file is there) and reopened through the fingerprint when its size or
 * mtime changes; a position of a file gone for `forget_after_ms` is forgotten with a later batch.
 *
 * ## Rotation
 * Rename: the open file keeps being read through its fd; when it no longer matches the patterns (or
 * is deleted) it is read to its end and let go once it has not grown for `rotate_wait_ms`.
 * Copytruncate: a size below our read offset, or bytes that are no longer the ones we read (the
 * fingerprint, and the tail check of the emitted offset; looked at by every scan and after every
 * read that returns data) mean the file was truncated: its identity is released at the emitted
 * offset for a copy to take over (with the half-read line, emitted after `rotate_wait_ms` if no copy
 * does) and reading restarts at 0 under a new identity.
 */
import { open, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { resolve } from 'node:path';
import type { SourcePosition } from '../../queue/types';
import type { Source, SourceContext } from '../../core/source';
import type { FileSourceConfig } from './config';
import { SourceEmitError } from '../errors';
import { Glob } from './glob';
import { frameLines } from '../lines';
import { decodePosition, encodePosition, fingerprint, tailChecksum, TAIL_CHECK_BYTES } from './position';

const POLL_MIN_MS = 50;
const POLL_MAX_MS = 250;
/** A file idle for this long is polled only every `glob_interval_ms`; scans wake it when it grows. */
const SLOW_POLL_AFTER_MS = 5000;
/** How much of two same-fingerprint files is compared to tell a copy from identical headers. */
const COMPARE_BYTES = 64 * 1024;
/** How much of a file's tail `start_at: end` looks at to start after the last complete line. */
const TAIL_BYTES = 64 * 1024;
/** Forgotten keys attached to one batch at most. */
const MAX_FORGETS_PER_BATCH = 1024;

/**
 * The tail check: CRC-32 of the `len` file bytes just before an offset (see position.ts), and those
 * bytes themselves while we have them (not for a position loaded from the queue until the file is
 * found and the bytes read back).
 */
interface Tail {
  readonly len: number;
  readonly crc: number;
  readonly bytes: Buffer | null;
}
const NO_TAIL: Tail = { len: 0, crc: 0, bytes: Buffer.alloc(0) };

/** The tail of `bytes` (copied: the input may be a reused buffer). */
function tailOf(bytes: Buffer): Tail {
  const t = Buffer.from(bytes.subarray(Math.max(0, bytes.length - TAIL_CHECK_BYTES)));
  return { len: t.length, crc: tailChecksum(t), bytes: t };
}

/** The tail after `more` bytes that follow the ones `prev` describes. */
function extendTail(prev: Tail, more: Buffer): Tail {
  if (more.length >= TAIL_CHECK_BYTES || prev.bytes === null || prev.bytes.length === 0) return tailOf(more);
  const keep = Math.min(prev.bytes.length, TAIL_CHECK_BYTES - more.length);
  return tailOf(Buffer.concat([prev.bytes.subarray(prev.bytes.length - keep), more]));
}

interface Identity {
  /** `<id>:<fp>` */
  readonly key: string;
  /** Bytes the fingerprint covers. */
  readonly fpLen: number;
}

/** A position remembered for a file we do not hold open. */
interface Remembered {
  readonly key: string;
  readonly fpLen: number;
  readonly offset: number;
  readonly tail: Tail;
  readonly path: string;
  /** When it stopped being held (or when the source started). */
  readonly since: number;
  /**
   * The partial last line held when the file was truncated. If a copy takes the position over, the
   * copy is read from `offset` and holds the whole line; if none does within `rotate_wait_ms`, these
   * bytes are emitted as a line of their own (never lost).
   */
  readonly carry?: Buffer;
}

interface Reader {
  path: string;
  readonly fh: FileHandle;
  readonly ino: string;
  identity: Identity | null;
  /** File offset of the next read. */
  readOffset: number;
  /** Bytes read but not yet emitted (a partial line); they sit just before `readOffset`. */
  carry: Buffer | null;
  /** Offset just after the last line handed to `emit`. */
  emittedOffset: number;
  /** Tail check of `emittedOffset`. */
  emittedTail: Tail;
  lastGrowth: number;
  nextPoll: number;
  backoff: number;
  /** Matched by the last scan. */
  inGlob: boolean;
  goneSince: number;
  /**
   * The full fingerprint, once a file that was shorter has grown past `fingerprint_bytes`. It
   * replaces the identity in the next batch (old key `null`, new key set, one durable write), so the
   * identity in memory is always the one whose position is durable or in flight.
   */
  upgrade: Identity | null;
  /** Size and mtime at the last `checkHeld` (unchanged: nothing to check). */
  checkedSize: number;
  checkedMtime: number;
  lastSplitWarn: number;
  closed: boolean;
}

export interface FileSourceMetrics {
  /** Lines emitted (including pieces of split lines and flushed partial lines). */
  lines: number;
  bytes: number;
  batches: number;
  /** Newlines inserted to split lines longer than `max_line_bytes`. */
  splitLines: number;
  /** Partial last lines emitted after `idle_flush_ms` or on rotation. */
  flushedPartialLines: number;
  truncations: number;
  /** Files currently open. */
  openFiles: number;
  /** Positions remembered for files not open. */
  rememberedFiles: number;
  /** Files not read because they are copies of a file being read. */
  copiesHeld: number;
}

export interface FileSourceOptions {
  /** Directory relative patterns are resolved against (default: the working directory). */
  readonly cwd?: string;
}

export class FileSource implements Source {
  private readonly glob: Glob;
  private readonly cfg: FileSourceConfig;
  private ctx!: SourceContext;
  private prefix = '';
  private readonly readers = new Map<string, Reader>(); // by `dev:ino`
  private readonly owners = new Map<string, Reader>(); // by key
  private readonly remembered = new Map<string, Remembered>(); // by key, oldest first
  /** Distinct fingerprint lengths in use, for matching a new file against every identity. */
  private readonly fpLens = new Map<number, number>(); // length -> reference count
  private pendingForget: string[] = [];
  /** Files closed because idle, by `dev:ino`: not reopened while their size and mtime stay the same. */
  private readonly idleClosed = new Map<string, { size: number; mtimeMs: number; key: string }>();
  private readonly warned = new Map<string, string>(); // path -> code of the last warning
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown = undefined;
  private readonly scratch: Buffer;
  private firstScan = true;
  private readonly m: FileSourceMetrics = {
    lines: 0,
    bytes: 0,
    batches: 0,
    splitLines: 0,
    flushedPartialLines: 0,
    truncations: 0,
    openFiles: 0,
    rememberedFiles: 0,
    copiesHeld: 0,
  };

  constructor(config: FileSourceConfig, options: FileSourceOptions = {}) {
    this.cfg = config;
    const cwd = options.cwd ?? process.cwd();
    this.glob = new Glob(
      config.include.map((p) => resolve(cwd, p)),
      config.exclude.map((p) => resolve(cwd, p)),
    );
    this.scratch = Buffer.allocUnsafe(config.max_line_bytes + config.read_buffer_bytes);
  }

  metrics(): Readonly<FileSourceMetrics> {
    this.m.openFiles = this.readers.size;
    this.m.rememberedFiles = this.remembered.size;
    return { ...this.m };
  }

  async run(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    this.prefix = `${ctx.id}:`;
    this.loadPositions(ctx.positions);
    const signal = ctx.signal;
    let nextScan = 0;
    try {
      while (!signal.aborted && this.failure === undefined) {
        let now = Date.now();
        if (now >= nextScan) {
          await this.scan();
          now = Date.now();
          nextScan = now + this.cfg.glob_interval_ms;
        }
        let wake = nextScan;
        for (const r of this.readers.values()) {
          if (signal.aborted || this.failure !== undefined) break;
          if (r.closed) continue;
          if (r.nextPoll <= now) {
            await this.pump(r);
            now = Date.now();
          }
          if (!r.closed && r.nextPoll < wake) wake = r.nextPoll;
        }
        const wait = wake - Date.now();
        if (wait > 0 && !signal.aborted) await sleep(wait, signal);
      }
    } finally {
      await Promise.allSettled([...this.inflight]);
      for (const r of this.readers.values()) await this.closeFile(r);
      this.readers.clear();
    }
    if (this.failure !== undefined) throw new SourceEmitError(ctx.id, { cause: this.failure });
  }

  // --- positions ----------------------------------------------------------------------------

  private loadPositions(positions: ReadonlyMap<string, Uint8Array>): void {
    const now = Date.now();
    for (const [key, value] of positions) {
      if (!key.startsWith(this.prefix)) continue;
      try {
        const p = decodePosition(key, value);
        this.remember({ key, fpLen: p.fpLen, offset: p.offset, tail: { len: p.tailLen, crc: p.tailCrc, bytes: null }, path: p.path, since: now });
      } catch (e) {
        this.ctx.log.warn((e as Error).message, { source: this.ctx.id });
        this.pendingForget.push(key);
      }
    }
  }

  private remember(r: Remembered): void {
    const old = this.remembered.get(r.key);
    if (old) this.dropLen(old.fpLen);
    this.remembered.delete(r.key);
    this.remembered.set(r.key, r);
    this.addLen(r.fpLen);
  }

  private unremember(key: string): Remembered | undefined {
    const r = this.remembered.get(key);
    if (r) {
      this.remembered.delete(key);
      this.dropLen(r.fpLen);
    }
    return r;
  }

  private addLen(len: number): void {
    this.fpLens.set(len, (this.fpLens.get(len) ?? 0) + 1);
  }

  private dropLen(len: number): void {
    const n = (this.fpLens.get(len) ?? 0) - 1;
    if (n <= 0) this.fpLens.delete(len);
    else this.fpLens.set(len, n);
  }

  private setIdentity(r: Reader, id: Identity | null): void {
    if (r.identity) {
      if (this.owners.get(r.identity.key) === r) this.owners.delete(r.identity.key);
      this.dropLen(r.identity.fpLen);
    }
    r.identity = id;
    if (id) {
      this.owners.set(id.key, r);
      this.addLen(id.fpLen);
    }
  }

  /** Forgets positions of files gone for `forget_after_ms`, and the oldest beyond the bound. */
  private expireRemembered(now: number): void {
    // Positions of idle files we closed belong to files that are still there: never forgotten.
    const pinned = new Set<string>();
    for (const v of this.idleClosed.values()) pinned.add(v.key);
    for (const r of this.remembered.values()) {
      if (pinned.has(r.key)) continue;
      const tooMany = this.remembered.size - pinned.size > this.cfg.max_remembered_files;
      if (!tooMany && now - r.since < this.cfg.forget_after_ms) continue;
      this.unremember(r.key);
      this.pendingForget.push(r.key);
    }
    if (this.pendingForget.length > 100_000) this.pendingForget.splice(0, this.pendingForget.length - 100_000);
  }

  // --- scanning -------------------------------------------------------------------------------

  private async scan(): Promise<void> {
    const now = Date.now();
    let listFailed = false;
    const paths = await this.glob.list((dir, err) => {
      listFailed = true;
      this.warnOnce(dir, err.code ?? 'ERR', `cannot list directory ${dir}: ${err.message}`);
    });
    const seenPaths = new Set<string>();
    const candidates: { path: string; st: Stats }[] = [];
    // A listing that failed (EMFILE, EACCES) says nothing about the files it did not list: they keep
    // their state instead of being taken as renamed away (let go, and never closed as idle).
    if (!listFailed) for (const r of this.readers.values()) r.inGlob = false;
    // Phase 1: files we hold open (renames, truncation, growing fingerprints).
    for (const path of paths) {
      let st: Stats;
      try {
        st = await stat(path);
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') {
          seenPaths.add(path);
          this.warnOnce(path, err.code ?? 'ERR', `cannot stat ${path}: ${err.message}`);
        }
        continue;
      }
      seenPaths.add(path);
      if (!st.isFile()) {
        this.warnOnce(path, 'ENOTFILE', `${path} matches the patterns but is not a regular file (${st.isDirectory() ? 'a directory' : 'special file'}); skipped`);
        continue;
      }
      const r = this.readers.get(`${st.dev}:${st.ino}`);
      if (r) {
        if (r.path !== path && r.inGlob) continue; // a second name (hard link) of a file already seen
        r.path = path;
        r.inGlob = true;
        r.goneSince = 0;
        if (st.size > r.readOffset) r.nextPoll = 0; // it grew: read it now
        if (r.identity === null || st.size !== r.checkedSize || st.mtimeMs !== r.checkedMtime) {
          r.checkedSize = st.size;
          r.checkedMtime = st.mtimeMs;
          await this.checkHeld(r, st.size);
        }
      } else {
        candidates.push({ path, st });
      }
    }
    for (const r of this.readers.values()) {
      if (!r.inGlob && r.goneSince === 0) r.goneSince = now;
    }
    // Idle files we closed: skipped while unchanged (their position is kept alive), else reconsidered.
    const seenIno = new Set<string>();
    for (let i = candidates.length - 1; i >= 0; i--) {
      const c = candidates[i] as { path: string; st: Stats };
      const ino = `${c.st.dev}:${c.st.ino}`;
      seenIno.add(ino);
      const idle = this.idleClosed.get(ino);
      if (!idle) continue;
      const k = this.remembered.get(idle.key);
      if (k && idle.size === c.st.size && idle.mtimeMs === c.st.mtimeMs) {
        if (now - k.since > 60_000) this.remember({ ...k, since: now });
        candidates.splice(i, 1);
      } else {
        this.idleClosed.delete(ino);
      }
    }
    if (!listFailed) for (const ino of this.idleClosed.keys()) if (!seenIno.has(ino)) this.idleClosed.delete(ino);
    // Phase 2: files we do not hold open. Those whose remembered path is theirs go first, so a
    // restart gives each position back to the file that had it.
    const byOwnPath: typeof candidates = [];
    const others: typeof candidates = [];
    const knownPaths = new Set<string>();
    for (const k of this.remembered.values()) knownPaths.add(k.path);
    for (const c of candidates) (knownPaths.has(c.path) ? byOwnPath : others).push(c);
    this.m.copiesHeld = 0;
    // Pass 1: files that resume a remembered position (fingerprint and tail check), so a file that
    // merely shares the first bytes cannot take a position away from the file it belongs to.
    // Pass 2: the others (new files, copies of open files).
    let rest = [...byOwnPath, ...others];
    if (this.remembered.size > 0) {
      const unresolved: typeof candidates = [];
      for (const c of rest) if (!(await this.consider(c.path, c.st, now, true))) unresolved.push(c);
      rest = unresolved;
    }
    for (const c of rest) await this.consider(c.path, c.st, now, false);
    this.firstScan = false;
    for (const p of this.warned.keys()) if (!seenPaths.has(p)) this.warned.delete(p);
    await this.flushOrphans(now);
    this.expireRemembered(now);
  }

  /** A file we hold open, seen again by a scan: truncated? fingerprint to extend? */
  private async checkHeld(r: Reader, size: number): Promise<void> {
    if (r.identity === null) {
      if (size > 0) await this.identifyTruncated(r, size);
      return;
    }
    if (size < r.readOffset) {
      await this.truncated(r, `size ${size} is below the read offset ${r.readOffset}`, size);
      return;
    }
    const id = r.identity;
    const want = Math.min(size, this.cfg.fingerprint_bytes);
    const len = Math.max(id.fpLen, want);
    const head = await this.readHead(r.fh, len, r.path);
    if (head === null) return;
    if (head.length < id.fpLen || this.key(head.subarray(0, id.fpLen)) !== id.key || !(await this.sameFile(r))) {
      await this.truncated(r, 'its contents changed', size);
      return;
    }
    if (want > id.fpLen && r.upgrade === null) {
      // The file grew past its provisional (short) fingerprint: upgrade the key with the next batch,
      // to one no other file (open, or with a remembered position) has.
      const up = await this.freshIdentity(r.fh, size, want, r.path, r);
      if (up !== null && up !== 'copy') r.upgrade = up; // else keep the short key until they differ
    }
  }

  private async truncated(r: Reader, why: string, size: number): Promise<void> {
    this.m.truncations++;
    this.ctx.log.info(`file truncated (${why}): reading it again from the start`, { source: this.ctx.id, path: r.path });
    const id = r.identity;
    if (id) {
      this.setIdentity(r, null);
      // The old identity is released at the offset we reached: a copy (copytruncate) takes it over.
      const carry = r.carry && r.carry.length > 0 ? { carry: r.carry } : {};
      this.remember({ key: id.key, fpLen: id.fpLen, offset: r.emittedOffset, tail: r.emittedTail, path: r.path, since: Date.now(), ...carry });
    }
    r.readOffset = 0;
    r.emittedOffset = 0;
    r.emittedTail = NO_TAIL;
    r.upgrade = null;
    r.carry = null;
    r.nextPoll = 0;
    r.backoff = 0;
    if (size > 0) await this.identifyTruncated(r, size);
  }

  /** New contents of a file we hold open: a new identity, never a resume. */
  private async identifyTruncated(r: Reader, size: number): Promise<void> {
    // The old contents' position may have the same key (same header): it is kept for a copy to take
    // over, and the new contents get a longer fingerprint.
    const id = await this.freshIdentity(r.fh, size, Math.min(size, this.cfg.fingerprint_bytes), r.path, r);
    if (id !== null && id !== 'copy') this.setIdentity(r, id);
  }



  /**
   * A matching file we do not hold open. With `resumeOnly`, it is opened only if it resumes a
   * remembered position; returns whether the file was handled (opened, or nothing to do).
   */
  private async consider(path: string, pathStat: Stats, now: number, resumeOnly: boolean): Promise<boolean> {
    if (pathStat.size === 0) return true; // no identity yet
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'ENOENT') this.warnOnce(path, err.code ?? 'ERR', `cannot open ${path}: ${err.message}; other files keep flowing`);
      return true;
    }
    let keep = false;
    try {
      // The path may name another file by now (renamed, recreated since the stat): what was opened
      // is what counts.
      const st = await fh.stat();
      if (!st.isFile() || st.size === 0 || this.readers.has(`${st.dev}:${st.ino}`)) return true;
      let maxLen = this.cfg.fingerprint_bytes;
      for (const l of this.fpLens.keys()) if (l > maxLen) maxLen = l;
      const head = await this.readHead(fh, Math.min(maxLen, st.size), path);
      if (head === null || head.length === 0) return true;
      const size = Math.max(st.size, head.length);
      const matches = this.matchIdentities(head);
      let offset = 0;
      let tail = NO_TAIL;
      let identity: Identity | null = null;
      let resumed = false;
      for (const m of matches) {
        if (m.kind !== 'remembered') continue;
        const bytes = await this.tailMatches(fh, size, m.entry, path, resumeOnly);
        if (bytes === null) continue;
        this.unremember(m.entry.key);
        identity = { key: m.entry.key, fpLen: m.entry.fpLen };
        offset = m.entry.offset;
        tail = { ...m.entry.tail, bytes };
        resumed = true;
        break;
      }
      if (!identity) {
        if (resumeOnly) return false;
        const fresh = await this.freshIdentity(fh, size, Math.min(size, this.cfg.fingerprint_bytes), path, null);
        if (fresh === 'copy') {
          this.m.copiesHeld++;
          this.ctx.log.debug('file held: a copy of a file being read', { source: this.ctx.id, path });
          return true; // re-examined at every scan; takes over when the original lets go
        }
        if (fresh === null) {
          this.ctx.log.debug('file held: its first bytes do not tell it apart yet', { source: this.ctx.id, path });
          return true; // the next scan looks again
        }
        identity = fresh;
        if (this.firstScan && this.cfg.start_at === 'end') ({ offset, tail } = await this.tailStart(fh, size));
      }
      const ino = `${st.dev}:${st.ino}`;
      const r: Reader = {
        path,
        fh,
        ino,
        identity: null,
        readOffset: offset,
        carry: null,
        emittedOffset: offset,
        emittedTail: tail,
        lastGrowth: now,
        nextPoll: 0,
        backoff: 0,
        inGlob: true,
        goneSince: 0,
        upgrade: null,
        checkedSize: -1,
        checkedMtime: -1,
        lastSplitWarn: 0,
        closed: false,
      };
      this.setIdentity(r, identity);
      this.readers.set(ino, r);
      this.warned.delete(path);
      keep = true;
      this.ctx.log.info('tailing file', { source: this.ctx.id, path, offset, resumed });
      return true;
    } finally {
      if (!keep) await fh.close().catch(() => undefined);
    }
  }

  /**
   * An identity for a file read as new (or for new contents, or a grown short fingerprint): the
   * fingerprint of its first `minLen` bytes, made longer while another file has that key — an open
   * one (the contents are compared: `L` goes past the first differing byte; `'copy'` if this file is
   * no longer and equal), or a remembered position (kept for its file: `L` goes past its length).
   * Null when the file is too short to be told apart yet.
   */
  private async freshIdentity(fh: FileHandle, size: number, minLen: number, path: string, self: Reader | null): Promise<Identity | 'copy' | null> {
    let len = minLen;
    for (let i = 0; i < 32; i++) {
      if (len > size) return null;
      const bytes = await this.readHead(fh, len, path);
      if (bytes === null || bytes.length < len) return null;
      const key = this.key(bytes);
      const owner = this.owners.get(key);
      if (owner && owner !== self) {
        const diff = await this.compare(fh, size, owner);
        if (diff === 'copy') return 'copy';
        len = Math.max(len + 1, diff + 1);
        continue;
      }
      const k = this.remembered.get(key);
      if (!k) return { key, fpLen: len };
      len = Math.max(len, k.fpLen) + 1;
    }
    return null;
  }

  /** Every identity (open file or remembered position) whose fingerprint `head` satisfies, longest first. */
  private matchIdentities(head: Buffer): ({ kind: 'remembered'; entry: Remembered } | { kind: 'open'; reader: Reader })[] {
    const out: ({ kind: 'remembered'; entry: Remembered } | { kind: 'open'; reader: Reader })[] = [];
    const lens = [...this.fpLens.keys()].filter((l) => l <= head.length).sort((a, b) => b - a);
    for (const l of lens) {
      const key = this.key(head.subarray(0, l));
      const owner = this.owners.get(key);
      if (owner) out.push({ kind: 'open', reader: owner });
      const entry = this.remembered.get(key);
      if (entry) out.push({ kind: 'remembered', entry });
    }
    return out;
  }

  /**
   * Compares a new file with an open one that has the same first bytes: `'copy'` when the new one
   * is no longer and equal over the compared range, else the index of the first byte that tells
   * them apart.
   */
  private async compare(fh: FileHandle, size: number, other: Reader): Promise<number | 'copy'> {
    let otherSize: number;
    try {
      otherSize = (await other.fh.stat()).size;
    } catch {
      return 'copy';
    }
    const n = Math.min(size, otherSize, COMPARE_BYTES);
    const a = await this.readHead(fh, n, '');
    const b = await this.readHead(other.fh, n, other.path);
    if (a === null || b === null) return 'copy';
    const m = Math.min(a.length, b.length);
    for (let i = 0; i < m; i++) if (a[i] !== b[i]) return i;
    if (size > otherSize && otherSize < COMPARE_BYTES) return otherSize;
    return 'copy';
  }

  /** Offset just after the last complete line (for `start_at: end`). */
  private async tailStart(fh: FileHandle, size: number): Promise<{ offset: number; tail: Tail }> {
    const n = Math.min(size, TAIL_BYTES);
    const buf = Buffer.allocUnsafe(n);
    try {
      const { bytesRead } = await fh.read(buf, 0, n, size - n);
      if (bytesRead < n) return { offset: size, tail: NO_TAIL };
      const nl = buf.lastIndexOf(10);
      return nl < 0 ? { offset: size, tail: tailOf(buf) } : { offset: size - n + nl + 1, tail: tailOf(buf.subarray(0, nl + 1)) };
    } catch {
      return { offset: size, tail: NO_TAIL };
    }
  }

  /**
   * Whether the file's bytes just before a remembered offset are the ones that were read there: the
   * bytes if so, else null. A file that only shares the first bytes (same header, other contents)
   * fails and is read as new.
   */
  private async tailMatches(fh: FileHandle, size: number, k: Remembered, path: string, quiet: boolean): Promise<Buffer | null> {
    let bytes: Buffer | null = k.offset <= size ? Buffer.alloc(0) : null;
    if (bytes && k.tail.len > 0) {
      const buf = Buffer.allocUnsafe(k.tail.len);
      try {
        const { bytesRead } = await fh.read(buf, 0, k.tail.len, k.offset - k.tail.len);
        bytes = bytesRead === k.tail.len && tailChecksum(buf) === k.tail.crc ? buf : null;
      } catch {
        bytes = null;
      }
    }
    if (!bytes && !quiet) {
      this.ctx.log.info('file starts like a remembered one but does not hold the bytes read there: reading it as a new file', {
        source: this.ctx.id,
        path,
        rememberedPath: k.path,
        rememberedOffset: k.offset,
        size,
      });
    }
    return bytes;
  }

  private async readHead(fh: FileHandle, len: number, path: string): Promise<Buffer | null> {
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    try {
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (path) this.warnOnce(path, err.code ?? 'ERR', `cannot read ${path}: ${err.message}`);
      return null;
    }
    return buf.subarray(0, got);
  }

  private key(head: Uint8Array): string {
    return this.prefix + fingerprint(head);
  }

  // --- reading --------------------------------------------------------------------------------

  /** One read from `r`: emits the complete lines, or handles EOF (idle flush, letting go). */
  private async pump(r: Reader): Promise<void> {
    const now = Date.now();
    if (r.identity === null) {
      r.nextPoll = now + POLL_MAX_MS; // waiting for the next scan to give it an identity
      return;
    }
    const carryLen = r.carry ? r.carry.length : 0;
    // Every read goes into the one reused scratch buffer: `emit` copies the lines before it returns
    // (the SourceContext contract), so no batch allocates a read buffer of its own.
    const readSize = this.cfg.read_buffer_bytes;
    const buf = this.scratch;
    if (r.carry) r.carry.copy(buf, 0);
    let n: number;
    try {
      n = (await r.fh.read(buf, carryLen, readSize, r.readOffset)).bytesRead;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.warnOnce(r.path, err.code ?? 'ERR', `cannot read ${r.path}: ${err.message}; letting it go`);
      await this.letGo(r, false);
      return;
    }
    if (n === 0) {
      const idle = now - r.lastGrowth;
      r.backoff = r.backoff === 0 ? POLL_MIN_MS : Math.min(r.backoff * 2, POLL_MAX_MS);
      r.nextPoll = now + (idle >= SLOW_POLL_AFTER_MS ? Math.max(r.backoff, this.cfg.glob_interval_ms) : r.backoff);
      if (r.carry && this.cfg.idle_flush_ms > 0 && idle >= this.cfg.idle_flush_ms) await this.flushCarry(r);
      if (!r.inGlob && now - Math.max(r.lastGrowth, r.goneSince) >= this.cfg.rotate_wait_ms) await this.letGo(r, true);
      else if (r.inGlob && this.cfg.close_idle_ms > 0 && idle >= this.cfg.close_idle_ms) await this.closeIdle(r);
      return;
    }
    // Truncated and refilled past our offset since the last look (copytruncate)? Then these bytes
    // are the new contents, not the rest of the file we were reading: the first bytes tell. Checked
    // after the read, so a truncation before the read cannot slip through.
    if (!(await this.sameFile(r))) {
      let size = 0;
      try {
        size = (await r.fh.stat()).size;
      } catch {
        // identified at the next scan
      }
      await this.truncated(r, 'its contents changed', size);
      return;
    }
    r.lastGrowth = now;
    r.backoff = 0;
    r.nextPoll = 0;
    r.readOffset += n;
    const data = buf.subarray(0, carryLen + n);
    const f = frameLines(data, this.cfg.max_line_bytes, false);
    r.carry = f.consumed < data.length ? Buffer.from(data.subarray(f.consumed)) : null;
    if (f.events > 0) {
      const lines = f.lines; // a view into the scratch buffer: emit copies it before it returns
      if (f.splits > 0) this.splitWarning(r, f.splits);
      await this.emit(r, lines, f.events, r.readOffset - (data.length - f.consumed), extendTail(r.emittedTail, data.subarray(0, f.consumed)));
    }
  }

  /**
   * Whether the file still holds what we read: the bytes just before the emitted offset (the tail
   * check) or, before anything was emitted, the fingerprint. The tail check also sees a truncation
   * that the fingerprint cannot (every file starting with the same header).
   */
  private async sameFile(r: Reader): Promise<boolean> {
    const id = r.identity;
    if (!id) return false;
    const t = r.emittedTail;
    if (t.len > 0) {
      const buf = Buffer.allocUnsafe(t.len);
      try {
        const { bytesRead } = await r.fh.read(buf, 0, t.len, r.emittedOffset - t.len);
        return bytesRead === t.len && tailChecksum(buf) === t.crc;
      } catch {
        return true; // a read error: the next read reports it
      }
    }
    const head = await this.readHead(r.fh, id.fpLen, r.path);
    if (head === null) return true;
    return head.length === id.fpLen && this.key(head) === id.key;
  }

  private async flushCarry(r: Reader): Promise<void> {
    const carry = r.carry;
    if (!carry || !r.identity) return;
    const f = frameLines(carry, this.cfg.max_line_bytes, true);
    r.carry = null;
    this.m.flushedPartialLines++;
    if (f.splits > 0) this.splitWarning(r, f.splits);
    await this.emit(r, f.lines.buffer === carry.buffer ? Buffer.from(f.lines) : f.lines, f.events, r.readOffset, extendTail(r.emittedTail, carry));
  }

  private splitWarning(r: Reader, splits: number): void {
    this.m.splitLines += splits;
    const now = Date.now();
    if (now - r.lastSplitWarn < 10_000) return;
    r.lastSplitWarn = now;
    this.ctx.log.warn(`lines longer than max_line_bytes (${this.cfg.max_line_bytes}) were split`, {
      source: this.ctx.id,
      path: r.path,
      splitLinesTotal: this.m.splitLines,
    });
  }

  private async emit(r: Reader, lines: Buffer, events: number, endOffset: number, tail: Tail): Promise<void> {
    if (!r.identity) return;
    const positions: SourcePosition[] = [];
    const up = r.upgrade;
    if (up) {
      r.upgrade = null;
      if (!this.owners.has(up.key) && !this.remembered.has(up.key)) {
        // (else another file took that key meanwhile: keep the short key, the next scan retries)
        positions.push({ key: r.identity.key, value: null });
        this.setIdentity(r, up);
      }
    }
    const id = r.identity;
    if (this.pendingForget.length > 0) {
      for (const key of this.pendingForget.splice(0, MAX_FORGETS_PER_BATCH)) positions.push({ key, value: null });
    }
    positions.push({ key: id.key, value: encodePosition({ offset: endOffset, fpLen: id.fpLen, tailLen: tail.len, tailCrc: tail.crc, path: r.path }) });
    r.emittedOffset = endOffset;
    r.emittedTail = tail;
    await this.send(lines, events, r.path, positions);
  }

  /** Emits the partial line a truncated file left behind once no copy took its position over. */
  private async flushOrphans(now: number): Promise<void> {
    for (const k of [...this.remembered.values()]) {
      if (!k.carry || now - k.since < this.cfg.rotate_wait_ms || this.remembered.get(k.key) !== k) continue;
      const f = frameLines(k.carry, this.cfg.max_line_bytes, true);
      const offset = k.offset + k.carry.length;
      const tail = extendTail(k.tail, k.carry);
      const { carry: _dropped, ...rest } = k;
      this.remember({ ...rest, offset, tail });
      this.m.flushedPartialLines++;
      const positions: SourcePosition[] = [{ key: k.key, value: encodePosition({ offset, fpLen: k.fpLen, tailLen: tail.len, tailCrc: tail.crc, path: k.path }) }];
      await this.send(f.lines, f.events, k.path, positions);
    }
  }

  private async send(lines: Buffer, events: number, origin: string, positions: SourcePosition[]): Promise<void> {
    this.m.lines += events;
    this.m.bytes += lines.length;
    this.m.batches++;
    let sent: Promise<void>;
    try {
      sent = this.ctx.emit({ lines, events, origin, positions });
    } catch (e) {
      sent = Promise.reject(e); // an emit that throws instead of rejecting
    }
    const p = sent.then(
      () => undefined,
      (e: unknown) => {
        if (this.failure === undefined) this.failure = e;
      },
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    while (this.inflight.size >= this.cfg.max_batches_in_flight) await Promise.race(this.inflight);
  }

  /** Stops reading a file; its position is remembered (`release`) so a copy or a return resumes it. */
  private async letGo(r: Reader, flush: boolean): Promise<void> {
    if (flush && r.carry) await this.flushCarry(r);
    const id = r.identity;
    this.setIdentity(r, null);
    if (id) this.remember({ key: id.key, fpLen: id.fpLen, offset: r.emittedOffset, tail: r.emittedTail, path: r.path, since: Date.now() });
    this.readers.delete(r.ino);
    await this.closeFile(r);
    this.ctx.log.debug('file let go', { source: this.ctx.id, path: r.path, offset: r.emittedOffset });
  }

  /**
   * Closes a file that matches the patterns but has not grown for `close_idle_ms`, so idle files do
   * not hold descriptors. A held partial line is dropped from memory: the position does not include
   * it, so it is read again when the file is reopened.
   */
  private async closeIdle(r: Reader): Promise<void> {
    const id = r.identity;
    let st: Stats;
    try {
      st = await r.fh.stat();
    } catch {
      return;
    }
    if (!id || st.size !== r.readOffset) return; // it grew meanwhile: keep reading
    r.carry = null;
    await this.letGo(r, false);
    this.idleClosed.set(r.ino, { size: st.size, mtimeMs: st.mtimeMs, key: id.key });
  }

  private async closeFile(r: Reader): Promise<void> {
    if (r.closed) return;
    r.closed = true;
    await r.fh.close().catch(() => undefined);
  }

  private warnOnce(path: string, code: string, msg: string): void {
    if (this.warned.get(path) === code) return;
    this.warned.set(path, code);
    this.ctx.log.warn(msg, { source: this.ctx.id, path, code });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((res) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      res();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
