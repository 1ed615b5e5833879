/**
 * Identity: which file is which. The fingerprint (a hash of the first `L` bytes, `position.ts`), the
 * tail check (the bytes just before an offset), and the index of the identities in use — the open
 * files' keys and, through the position book, the remembered ones — so that a file found by a scan
 * is matched against every identity its first bytes satisfy, and a new file never takes a key that
 * is already someone's (`fresh`). See `index.ts`, "Identity", for the rules.
 */
import type { ReadFileHandle } from '../../core/ports';
import type { Diagnostics } from '../../core/source';
import type { PositionBook, Remembered } from './book';
import { fingerprint, NO_TAIL, tailChecksum } from './position';
import type { Tail } from './position';

/** Between the fingerprint and a look-alike's `dev:ino` in its key. */
const LOOKALIKE = '@';

/** How much of two same-fingerprint files is compared to tell a copy from identical headers. */
const COMPARE_BYTES = 64 * 1024;

export interface Identity {
  /** `<id>:<fp>` */
  readonly key: string;
  /** Bytes the fingerprint covers. */
  readonly fpLen: number;
}

/** What the index needs of an open file (a `Tailer`). */
export interface Holder {
  readonly fh: ReadFileHandle;
  readonly path: string;
  /** Changed only through `Identities.assign`, which keeps the index in step. */
  identity: Identity | null;
  /** Offset just after the last line handed to `emit`, and its tail check. */
  readonly emittedOffset: number;
  readonly emittedTail: Tail;
}

/** A file's identity and where to read it from. */
export interface Identified {
  readonly identity: Identity;
  readonly offset: number;
  readonly tail: Tail;
  /** At a remembered position (else a new file, at 0). */
  readonly resumed: boolean;
  /** The file's size as far as we know (the stat, or the bytes read if more). */
  readonly size: number;
}

/** What a scan finds about a file we hold open (`Identities.check`). */
export type HeldCheck =
  | { readonly kind: 'ok' }
  /** It grew past its provisional (short) fingerprint: this full one replaces it with the next batch. */
  | { readonly kind: 'upgrade'; readonly identity: Identity }
  /** It no longer holds what we read: read it again from the start. */
  | { readonly kind: 'truncated'; readonly why: string }
  /** It has no identity (new contents that could not be told apart yet). */
  | { readonly kind: 'unidentified' };

/** Reports a problem with one path once (see `warnings.ts`). */
export type WarnOnce = (path: string, code: string, msg: string) => void;

/**
 * The identities of the open files (by key) and the lengths their fingerprints cover; with the
 * position book's, every identity a new file is matched against.
 */
export class Identities {
  private readonly owners = new Map<string, Holder>();
  /** Distinct fingerprint lengths of the open files: length -> reference count. */
  private readonly lens = new Map<number, number>();

  constructor(
    /** `<sourceId>:` */
    private readonly prefix: string,
    private readonly book: PositionBook,
    private readonly log: Diagnostics,
    private readonly sourceId: string,
    private readonly warnOnce: WarnOnce,
    /** `dev:ino` of the file at a path now, null if none. */
    private readonly inoAt: (path: string) => Promise<string | null>,
  ) {}

  keyOf(head: Uint8Array): string {
    return this.prefix + fingerprint(head);
  }

  /** Whether `head` (exactly `id.fpLen` bytes) is what `id` was taken from (a look-alike's `@dev:ino` aside). */
  private holdsKey(head: Uint8Array, id: Identity): boolean {
    const at = id.key.indexOf(LOOKALIKE, this.prefix.length);
    return this.keyOf(head) === (at < 0 ? id.key : id.key.slice(0, at));
  }

  /**
   * The identity of a look-alike: a file equal to one being read (a replica, an identical
   * rewrite under a new inode) that stayed so past the copy window, so it is not copytruncate's
   * copy. Its key is the fingerprint plus its `dev:ino`, so it is told from the other after a
   * restart too (`remembered` looks for this key first). Null while the file cannot be read.
   */
  async lookalike(fh: ReadFileHandle, size: number, fingerprintBytes: number, ino: string, path: string): Promise<Identity | null> {
    const len = Math.min(size, fingerprintBytes);
    const head = await this.readHead(fh, len, path);
    if (head === null || head.length < len || len === 0) return null;
    const key = `${this.keyOf(head)}${LOOKALIKE}${ino}`;
    if (this.owners.has(key)) return null;
    return { key, fpLen: len };
  }

  /** Whether an open file or a remembered position has this key. */
  taken(key: string): boolean {
    return this.owners.has(key) || this.book.has(key);
  }

  /** Gives `h` the identity `id` (or none), keeping the index in step. */
  assign(h: Holder, id: Identity | null): void {
    const old = h.identity;
    if (old) {
      if (this.owners.get(old.key) === h) this.owners.delete(old.key);
      const n = (this.lens.get(old.fpLen) ?? 0) - 1;
      if (n <= 0) this.lens.delete(old.fpLen);
      else this.lens.set(old.fpLen, n);
    }
    h.identity = id;
    if (id) {
      this.owners.set(id.key, h);
      this.lens.set(id.fpLen, (this.lens.get(id.fpLen) ?? 0) + 1);
    }
  }

  /** The longest fingerprint in use, at least `atLeast`: how many first bytes a new file needs read. */
  longest(atLeast: number): number {
    let max = atLeast;
    for (const l of this.lens.keys()) if (l > max) max = l;
    for (const l of this.book.lengths()) if (l > max) max = l;
    return max;
  }

  /** Every remembered position whose fingerprint `head` satisfies, longest fingerprint first. */
  remembered(head: Buffer, ino: string): Remembered[] {
    const lens = [...this.book.lengths()].filter((l) => l <= head.length).sort((a, b) => b - a);
    const out: Remembered[] = [];
    for (const l of lens) {
      const key = this.keyOf(head.subarray(0, l));
      const own = this.book.get(`${key}${LOOKALIKE}${ino}`); // a look-alike's own position first
      if (own) out.push(own);
      const entry = this.book.get(key);
      if (entry) out.push(entry);
    }
    return out;
  }

  /**
   * A file we hold open, of this size now: does it still hold what we read (the size, the
   * fingerprint, the tail check)? Has it grown past a short fingerprint (to one no other file, open
   * or remembered, has; a pending upgrade is not looked for again)?
   */
  async check(h: Holder & { readonly readOffset: number; readonly upgrade: Identity | null }, size: number, fingerprintBytes: number): Promise<HeldCheck> {
    const id = h.identity;
    if (id === null) return { kind: 'unidentified' };
    if (size < h.readOffset) return { kind: 'truncated', why: `size ${size} is below the read offset ${h.readOffset}` };
    const want = Math.min(size, fingerprintBytes);
    const head = await this.readHead(h.fh, Math.max(id.fpLen, want), h.path);
    if (head === null) return { kind: 'ok' }; // a read error (reported): the next look tells
    if (head.length < id.fpLen || !this.holdsKey(head.subarray(0, id.fpLen), id) || !(await this.stillHolds(h))) {
      return { kind: 'truncated', why: 'its contents changed' };
    }
    if (want > id.fpLen && h.upgrade === null) {
      const up = await this.fresh(h.fh, size, want, h.path, h);
      if (up !== null && up !== 'copy') return { kind: 'upgrade', identity: up }; // else keep the short key until they differ
    }
    return { kind: 'ok' };
  }

  /**
   * Who a file we do not hold open is: the first remembered position it resumes (fingerprint and
   * tail check, longest fingerprint first: `resumed`, at that offset), else — unless `resumeOnly`
   * (then `'unresolved'`) — a new identity at offset 0 (`fresh`), `'copy'` of an open file, or
   * `'unknown'` while its bytes cannot tell it apart (or cannot be read).
   */
  async identify(fh: ReadFileHandle, statSize: number, path: string, ino: string, fingerprintBytes: number, resumeOnly: boolean): Promise<Identified | 'copy' | 'unknown' | 'unresolved'> {
    const head = await this.readHead(fh, Math.min(this.longest(fingerprintBytes), statSize), path);
    if (head === null || head.length === 0) return 'unknown';
    const size = Math.max(statSize, head.length);
    for (const k of this.remembered(head, ino)) {
      if (k.ino !== undefined && k.ino !== ino && (await this.inoAt(k.path)) === k.ino) continue; // its own file is still there
      const bytes = await this.resumes(fh, size, k, path, resumeOnly);
      if (bytes === null) continue;
      this.book.take(k.key);
      return { identity: { key: k.key, fpLen: k.fpLen }, offset: k.offset, tail: { ...k.tail, bytes }, resumed: true, size };
    }
    if (resumeOnly) return 'unresolved';
    const fresh = await this.fresh(fh, size, Math.min(size, fingerprintBytes), path, null);
    if (fresh === null) return 'unknown';
    if (fresh === 'copy') return 'copy';
    return { identity: fresh, offset: 0, tail: NO_TAIL, resumed: false, size };
  }

  /**
   * An identity for a file read as new (or for new contents, or a grown short fingerprint): the
   * fingerprint of its first `minLen` bytes, made longer while another file has that key — an open
   * one (the contents are compared: `L` goes past the first differing byte; `'copy'` if this file is
   * no longer and equal), or a remembered position (kept for its file: `L` goes past its length).
   * Null when the file is too short to be told apart yet.
   */
  async fresh(fh: ReadFileHandle, size: number, minLen: number, path: string, self: Holder | null): Promise<Identity | 'copy' | null> {
    let len = minLen;
    for (let i = 0; i < 32; i++) {
      if (len > size) return null;
      const bytes = await this.readHead(fh, len, path);
      if (bytes === null || bytes.length < len) return null;
      const key = this.keyOf(bytes);
      const owner = this.owners.get(key);
      if (owner && owner !== self) {
        const diff = await this.compare(fh, size, owner);
        if (diff === 'copy') return 'copy';
        len = Math.max(len + 1, diff + 1);
        continue;
      }
      const k = this.book.get(key);
      if (!k) return { key, fpLen: len };
      len = Math.max(len, k.fpLen) + 1;
    }
    return null;
  }

  /**
   * Compares a new file with an open one that has the same first bytes: `'copy'` when the new one
   * is no longer and equal over the compared range, else the index of the first byte that tells
   * them apart.
   */
  private async compare(fh: ReadFileHandle, size: number, other: Holder): Promise<number | 'copy'> {
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

  /**
   * Whether the file's bytes just before a remembered offset are the ones that were read there (the
   * tail check): the bytes if so, else null. A file that only shares the first bytes (same header,
   * other contents) fails and is read as new.
   */
  async resumes(fh: ReadFileHandle, size: number, k: Remembered, path: string, quiet: boolean): Promise<Buffer | null> {
    let bytes: Buffer | null = k.offset <= size ? Buffer.alloc(0) : null;
    if (bytes && k.tail.len > 0) {
      const buf = Buffer.allocUnsafe(k.tail.len);
      try {
        const got = await fh.read(buf, 0, k.tail.len, k.offset - k.tail.len);
        bytes = got === k.tail.len && tailChecksum(buf) === k.tail.crc ? buf : null;
      } catch {
        bytes = null;
      }
    }
    if (!bytes && !quiet) {
      this.log.info('file starts like a remembered one but does not hold the bytes read there: reading it as a new file', {
        source: this.sourceId,
        path,
        rememberedPath: k.path,
        rememberedOffset: k.offset,
        size,
      });
    }
    return bytes;
  }

  /**
   * Whether an open file still holds what we read: the bytes just before the emitted offset (the
   * tail check) or, before anything was emitted, the fingerprint. The tail check also sees a
   * truncation that the fingerprint cannot (every file starting with the same header).
   */
  async stillHolds(h: Holder): Promise<boolean> {
    const id = h.identity;
    if (!id) return false;
    const t = h.emittedTail;
    if (t.len > 0) {
      const buf = Buffer.allocUnsafe(t.len);
      try {
        const got = await h.fh.read(buf, 0, t.len, h.emittedOffset - t.len);
        return got === t.len && tailChecksum(buf) === t.crc;
      } catch {
        return true; // a read error: the next read reports it
      }
    }
    const head = await this.readHead(h.fh, id.fpLen, h.path);
    if (head === null) return true;
    return head.length === id.fpLen && this.holdsKey(head, id);
  }

  /** The first `len` bytes (fewer if the file is shorter); null after a read error (reported when `path` is given). */
  async readHead(fh: ReadFileHandle, len: number, path: string): Promise<Buffer | null> {
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    try {
      while (got < len) {
        const n = await fh.read(buf, got, len - got, got);
        if (n === 0) break;
        got += n;
      }
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (path) this.warnOnce(path, err.code ?? 'ERR', `cannot read ${path}: ${err.message}`);
      return null;
    }
    return buf.subarray(0, got);
  }
}
