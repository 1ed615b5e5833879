/**
 * The position book: the positions remembered for files the source does not hold open — loaded
 * from the queue at start, kept when a file is let go, closed because idle or truncated — until a
 * file resumes one, or it is forgotten (`forget_after_ms`, `max_remembered_files`). Forgotten keys
 * wait here until a batch carries them away as `null`s (`takeForgets`). See `index.ts`, "Positions"
 * and "Idle files".
 */
import type { SourcePosition } from '../../queue/types';
import type { Diagnostics } from '../../core/source';
import type { FileSourceConfig } from './config';
import { decodePosition, encodePosition } from './position';
import type { Tail } from './position';

/** Forgotten keys attached to one batch at most. */
export const MAX_FORGETS_PER_BATCH = 1024;
/** Forgotten keys waiting for a batch at most (the oldest are dropped: they stay in the queue's map). */
const MAX_PENDING_FORGETS = 100_000;

/** A file closed because it was idle, as it was then: not reopened while its size and mtime stay the same. */
export interface IdleClosed {
  /** `dev:ino` */
  readonly ino: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** A position remembered for a file we do not hold open. */
export interface Remembered {
  readonly key: string;
  readonly fpLen: number;
  readonly offset: number;
  readonly tail: Tail;
  readonly path: string;
  /**
   * When it stopped being held (or when the source started), on the monotonic clock (`Clock.now`).
   * It is not stored in the queue (the stored value has no time: `position.ts`), so it never has to
   * mean anything across a restart: a loaded position counts from the start, and a wall-clock step
   * can neither forget a position early nor keep one forever.
   */
  readonly since: number;
  /**
   * The partial last line held when the file was truncated. If a copy takes the position over, the
   * copy is read from `offset` and holds the whole line; if none does within `rotate_wait_ms`, these
   * bytes are emitted as a line of their own (never lost).
   */
  readonly carry?: Buffer;
  /**
   * `dev:ino` of the file that had the position, when it was let go in this run (not stored: after
   * a restart content alone decides). While a file with this inode is still at `path`, no other
   * file resumes the position (a replica of it is a file of its own).
   */
  readonly ino?: string;
  /** Set while the file is closed because idle and still there: the position is never forgotten then. */
  readonly idle?: IdleClosed;
}

export class PositionBook {
  /** By key, oldest first (re-inserted when remembered again). */
  private readonly entries = new Map<string, Remembered>();
  /** Distinct fingerprint lengths of the entries: length -> reference count. */
  private readonly lens = new Map<number, number>();
  /** The entries with `idle`, by `idle.ino`. */
  private readonly idle = new Map<string, Remembered>();
  private forgets: string[] = [];

  constructor(private readonly cfg: Pick<FileSourceConfig, 'forget_after_ms' | 'max_remembered_files'>) {}

  /** Takes this source's positions (keys starting with `prefix`) from the queue's map; bad ones are reported and forgotten. */
  load(positions: ReadonlyMap<string, Uint8Array>, prefix: string, now: number, log: Diagnostics, sourceId: string): void {
    for (const [key, value] of positions) {
      if (!key.startsWith(prefix)) continue;
      try {
        const p = decodePosition(key, value);
        this.remember({ key, fpLen: p.fpLen, offset: p.offset, tail: { len: p.tailLen, crc: p.tailCrc, bytes: null }, path: p.path, since: now });
      } catch (e) {
        log.warn((e as Error).message, { source: sourceId });
        this.forgets.push(key);
      }
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Remembered | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The entries, oldest first (a copy: the caller may remember and take while it walks). */
  list(): Remembered[] {
    return [...this.entries.values()];
  }

  /** The paths the entries' files had. */
  paths(): Set<string> {
    const out = new Set<string>();
    for (const k of this.entries.values()) out.add(k.path);
    return out;
  }

  /** Distinct fingerprint lengths of the entries. */
  lengths(): IterableIterator<number> {
    return this.lens.keys();
  }

  /** Remembers a position (replacing the one with the same key; it becomes the newest). */
  remember(r: Remembered): void {
    this.take(r.key);
    this.entries.set(r.key, r);
    this.lens.set(r.fpLen, (this.lens.get(r.fpLen) ?? 0) + 1);
    if (r.idle) this.idle.set(r.idle.ino, r);
  }

  /** Removes and returns the position with this key (a file resumes it, or it is forgotten). */
  take(key: string): Remembered | undefined {
    const r = this.entries.get(key);
    if (!r) return undefined;
    this.entries.delete(key);
    const n = (this.lens.get(r.fpLen) ?? 0) - 1;
    if (n <= 0) this.lens.delete(r.fpLen);
    else this.lens.set(r.fpLen, n);
    if (r.idle && this.idle.get(r.idle.ino) === r) this.idle.delete(r.idle.ino);
    return r;
  }

  /** The position of the idle-closed file with this `dev:ino`. */
  idleFile(ino: string): Remembered | undefined {
    return this.idle.get(ino);
  }

  /** Refreshes `since` of an entry (it becomes the newest). */
  touch(r: Remembered, now: number): void {
    this.remember({ ...r, since: now });
  }

  /** The idle-closed file changed or is gone: its position becomes an ordinary one (it may be forgotten). */
  unpin(ino: string): void {
    const r = this.idle.get(ino);
    if (!r) return;
    this.idle.delete(ino);
    const { idle: _unpinned, ...rest } = r;
    this.replace(r, rest);
  }

  /**
   * Unpins the idle-closed files a complete scan did not see (renamed away or deleted): their
   * positions count as remembered now, so the scan looks for a renamed file (`follow.ts`).
   */
  unpinUnseen(seen: ReadonlySet<string>, now: number): void {
    for (const ino of [...this.idle.keys()]) {
      if (seen.has(ino)) continue;
      const r = this.idle.get(ino);
      this.unpin(ino);
      const after = r && this.entries.get(r.key);
      if (after) this.touch(after, now);
    }
  }

  private replace(old: Remembered, r: Remembered): void {
    if (this.entries.get(old.key) !== old) return;
    this.entries.set(r.key, r); // same key: keeps its place in the age order
    if (r.idle) this.idle.set(r.idle.ino, r);
  }

  /** Forgets positions of files gone for `forget_after_ms`, and the oldest beyond the bound (never an idle-closed file's). */
  expire(now: number): void {
    const pinned = this.idle.size;
    for (const r of this.list()) {
      if (r.idle) continue;
      const tooMany = this.entries.size - pinned > this.cfg.max_remembered_files;
      if (!tooMany && now - r.since < this.cfg.forget_after_ms) continue;
      this.take(r.key);
      this.forgets.push(r.key);
    }
    if (this.forgets.length > MAX_PENDING_FORGETS) this.forgets.splice(0, this.forgets.length - MAX_PENDING_FORGETS);
  }

  /** Appends the `null`s for forgotten keys that the next batch carries away (a bounded number per batch). */
  takeForgets(into: SourcePosition[]): void {
    if (this.forgets.length === 0) return;
    for (const key of this.forgets.splice(0, MAX_FORGETS_PER_BATCH)) into.push({ key, value: null });
  }
}

/** The stored position of a file: just after its last emitted line, with the tail check of that offset. */
export function positionOf(key: string, fpLen: number, offset: number, tail: Tail, path: string): SourcePosition {
  return { key, value: encodePosition({ offset, fpLen, tailLen: tail.len, tailCrc: tail.crc, path }) };
}
