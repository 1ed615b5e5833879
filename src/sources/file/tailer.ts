/**
 * One file's tailer: the open handle and what reading it needs — the read offset, the partial last
 * line held until its newline comes (or `idle_flush_ms`), the emitted offset and its tail check, the
 * poll schedule (50 ms backing off to 250 ms at EOF, `glob_interval_ms` after 5 s idle; a change
 * notification, `poke`, makes it due at once), and when an
 * idle file is due to be let go (renamed away or deleted: `rotate_wait_ms`) or closed (still
 * matching: `close_idle_ms`). The source decides what letting go or closing means for the position
 * book; a tailer only knows its own file. All times are `Clock.now()` (monotonic) milliseconds.
 */
import type { ReadFileHandle } from '../../core/ports';
import type { FileSourceConfig } from './config';
import { frameLines } from '../lines';
import type { Assembler } from '../decode';
import type { Holder, Identity } from './identity';
import { extendTail, NO_TAIL, tailOf } from './position';
import type { Tail } from './position';

const POLL_MIN_MS = 50;
const POLL_MAX_MS = 250;
/** A file idle for this long is polled only every `glob_interval_ms`; scans wake it when it grows. */
const SLOW_POLL_AFTER_MS = 5000;
/** At most one warning about split lines per file in this long. */
const SPLIT_WARN_EVERY_MS = 10_000;
/** How much of a file's tail `start_at: end` looks at to start after the last complete line. */
const TAIL_BYTES = 64 * 1024;

/** Complete lines ready for `emit`, and the position just after them. */
export interface Lines {
  /** Possibly a view into the reused read buffer: valid until the next read. */
  readonly lines: Buffer;
  readonly events: number;
  /** Newlines inserted to split over-long lines. */
  readonly splits: number;
  readonly endOffset: number;
  readonly tail: Tail;
  /** `events` when a decoder made them (NDJSON objects, `../decode`). */
  readonly format?: 'events';
}

/** What an idle file (nothing new at EOF) is due for, besides the idle flush. */
export type IdleStep = 'wait' | 'let-go' | 'close-idle';

type Timing = Pick<FileSourceConfig, 'glob_interval_ms' | 'idle_flush_ms' | 'rotate_wait_ms' | 'close_idle_ms'>;

export class Tailer implements Holder {
  /** Changed only through `Identities.assign`. */
  identity: Identity | null = null;
  /** File offset of the next read. */
  readOffset: number;
  /** Bytes read but not yet emitted (a partial line); they sit just before `readOffset`. */
  carry: Buffer | null = null;
  emittedOffset: number;
  emittedTail: Tail;
  lastGrowth: number;
  nextPoll = 0;
  private backoff = 0;
  /** A change notification came since the last read started: a read at EOF is not the last word. */
  private poked = false;
  /** Matched by the last scan. */
  inGlob = true;
  /** When a scan first missed it (renamed away or deleted); null while it matches. */
  goneSince: number | null = null;
  /**
   * The full fingerprint, once a file that was shorter has grown past `fingerprint_bytes`. It
   * replaces the identity in the next batch (old key `null`, new key set, one durable write), so the
   * identity in memory is always the one whose position is durable or in flight.
   */
  upgrade: Identity | null = null;
  /** Size and mtime at the last check by a scan (unchanged: nothing to check). */
  private checkedSize = -1;
  private checkedMtime = -1;
  private lastSplitWarn = -Infinity;
  private closed = false;
  /**
   * Set by the source when it decodes (multiline, JSON, CRI): the carry then also holds the pending
   * event, so the emitted offset stays at its first byte until it is emitted whole.
   */
  decoder: Assembler | null = null;
  /** Decoded output per batch at most (set by the source from `ctx.recordBytes`): past it a decode stops, `more`. */
  outputCap = Infinity;
  /** The carry holds complete lines a decode left for the next batch (`takeMore`, before any read). */
  more = false;

  constructor(
    readonly fh: ReadFileHandle,
    /** `dev:ino`: the identity at run time, while the file is held open. */
    readonly ino: string,
    public path: string,
    offset: number,
    tail: Tail,
    now: number,
  ) {
    this.readOffset = offset;
    this.emittedOffset = offset;
    this.emittedTail = tail;
    this.lastGrowth = now;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** No identity yet (new contents too short to tell apart): the next scan looks again. */
  waitForIdentity(now: number): void {
    this.nextPoll = now + POLL_MAX_MS;
  }

  /**
   * Seen by a scan at `path` with this size and mtime: wakes the tailer if the file grew. True when
   * size or mtime changed since the last check (or it has no identity): the source checks it then.
   */
  seen(path: string, size: number, mtimeMs: number): boolean {
    this.path = path;
    this.inGlob = true;
    this.goneSince = null;
    if (size > this.readOffset) this.nextPoll = 0; // it grew: read it now
    if (this.identity !== null && size === this.checkedSize && mtimeMs === this.checkedMtime) return false;
    this.checkedSize = size;
    this.checkedMtime = mtimeMs;
    return true;
  }

  /**
   * The file changed (a change notification): due for a read now. One that comes while a read is
   * in flight makes a read at EOF try again at once (the write may have landed just after it).
   */
  poke(): void {
    this.poked = true;
    this.nextPoll = 0;
  }

  /** A complete scan did not see it. */
  missed(now: number): void {
    if (!this.inGlob && this.goneSince === null) this.goneSince = now;
  }

  /**
   * Reads the next bytes into `scratch`, after a copy of the held partial line; resolves to the
   * bytes read (0 at EOF). Rejects with the file system's error.
   */
  read(scratch: Buffer, size: number): Promise<number> {
    this.poked = false;
    const carry = this.carry;
    if (carry) carry.copy(scratch, 0);
    return this.fh.read(scratch, carry ? carry.length : 0, size, this.readOffset);
  }

  /** `n` new bytes are in `scratch` after the partial line: the complete lines, the rest held. */
  took(scratch: Buffer, n: number, now: number, maxLine: number): Lines | null {
    this.lastGrowth = now;
    this.backoff = 0;
    this.nextPoll = 0;
    this.readOffset += n;
    const carried = this.carry ? this.carry.length : 0;
    const data = scratch.subarray(0, carried + n);
    const d = this.decoder;
    const f = d === null ? frameLines(data, maxLine, false) : d.decode(data, carried, false, this.path, this.outputCap);
    this.carry = f.consumed < data.length ? Buffer.from(data.subarray(f.consumed)) : null;
    this.more = 'more' in f && f.more === true;
    if (f.events === 0) return null;
    // `f.lines` is a view into the scratch buffer: emit copies it before it returns.
    const endOffset = this.readOffset - (data.length - f.consumed);
    const tail = extendTail(this.emittedTail, data.subarray(0, f.consumed));
    return d === null ? { lines: f.lines, events: f.events, splits: f.splits, endOffset, tail } : { lines: f.lines, events: f.events, splits: f.splits, endOffset, tail, format: 'events' };
  }

  /** After a decode that stopped at `outputCap` (`more`): the next batch of events from the carry, no new bytes. */
  takeMore(): Lines | null {
    const carry = this.carry;
    const d = this.decoder;
    this.more = false;
    if (!carry || !d || !this.identity) return null;
    const f = d.decode(carry, carry.length, false, this.path, this.outputCap);
    this.carry = f.consumed < carry.length ? Buffer.from(carry.subarray(f.consumed)) : null;
    this.more = f.more;
    if (f.events === 0) return null;
    const endOffset = this.readOffset - (carry.length - f.consumed);
    return { lines: f.lines, events: f.events, splits: f.splits, endOffset, tail: extendTail(this.emittedTail, carry.subarray(0, f.consumed)), format: 'events' };
  }

  /** The decoder's pending event (and held lines) as events, after `timeout` of quiet; a partial line stays. */
  takePending(): Lines | null {
    const carry = this.carry;
    const d = this.decoder;
    if (!carry || !d || !this.identity) return null;
    const f = d.decode(carry, carry.length, 'events', this.path);
    this.carry = f.consumed < carry.length ? Buffer.from(carry.subarray(f.consumed)) : null;
    if (f.events === 0) return null;
    const endOffset = this.readOffset - (carry.length - f.consumed);
    return { lines: f.lines, events: f.events, splits: f.splits, endOffset, tail: extendTail(this.emittedTail, carry.subarray(0, f.consumed)), format: 'events' };
  }

  /** Nothing new at EOF: schedules the next poll; says whether the partial line is due and what else is. */
  atEof(now: number, cfg: Timing): { readonly flush: boolean; readonly then: IdleStep } {
    const idle = now - this.lastGrowth;
    if (this.poked) {
      this.nextPoll = now;
    } else {
      this.backoff = this.backoff === 0 ? POLL_MIN_MS : Math.min(this.backoff * 2, POLL_MAX_MS);
      this.nextPoll = now + (idle >= SLOW_POLL_AFTER_MS ? Math.max(this.backoff, cfg.glob_interval_ms) : this.backoff);
    }
    const flush = this.carry !== null && cfg.idle_flush_ms > 0 && idle >= cfg.idle_flush_ms;
    if (!this.inGlob && now - Math.max(this.lastGrowth, this.goneSince ?? this.lastGrowth) >= cfg.rotate_wait_ms) return { flush, then: 'let-go' };
    if (this.inGlob && cfg.close_idle_ms > 0 && idle >= cfg.close_idle_ms) return { flush, then: 'close-idle' };
    return { flush, then: 'wait' };
  }

  /** The held partial line as a line of its own, with a `\n` added (idle flush, letting go). */
  takeCarry(maxLine: number): Lines | null {
    const carry = this.carry;
    if (!carry || !this.identity) return null;
    const d = this.decoder;
    const f = d === null ? frameLines(carry, maxLine, true) : d.decode(carry, carry.length, 'all', this.path);
    this.carry = null;
    this.more = false;
    if (f.events === 0) return null;
    const lines = f.lines.buffer === carry.buffer ? Buffer.from(f.lines) : f.lines;
    const tail = extendTail(this.emittedTail, carry);
    return d === null ? { lines, events: f.events, splits: f.splits, endOffset: this.readOffset, tail } : { lines, events: f.events, splits: f.splits, endOffset: this.readOffset, tail, format: 'events' };
  }

  /** The lines up to `endOffset` were handed to `emit`. */
  emitted(endOffset: number, tail: Tail): void {
    this.emittedOffset = endOffset;
    this.emittedTail = tail;
  }

  /** The file was truncated: reading starts over at 0 (the caller has released the old identity). */
  restart(): void {
    this.readOffset = 0;
    this.emittedOffset = 0;
    this.emittedTail = NO_TAIL;
    this.upgrade = null;
    this.carry = null;
    this.more = false;
    this.decoder?.reset();
    this.nextPoll = 0;
    this.backoff = 0;
  }

  /** Whether a warning about split lines is due (at most one per file every 10 s). */
  splitWarningDue(now: number): boolean {
    if (now - this.lastSplitWarn < SPLIT_WARN_EVERY_MS) return false;
    this.lastSplitWarn = now;
    return true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close().catch(() => undefined);
  }
}

/** Offset just after the last complete line (for `start_at: end`), and its tail check. */
export async function afterLastLine(fh: ReadFileHandle, size: number): Promise<{ offset: number; tail: Tail }> {
  const n = Math.min(size, TAIL_BYTES);
  const buf = Buffer.allocUnsafe(n);
  try {
    const got = await fh.read(buf, 0, n, size - n);
    if (got < n) return { offset: size, tail: NO_TAIL };
    const nl = buf.lastIndexOf(10);
    return nl < 0 ? { offset: size, tail: tailOf(buf) } : { offset: size - n + nl + 1, tail: tailOf(buf.subarray(0, nl + 1)) };
  } catch {
    return { offset: size, tail: NO_TAIL };
  }
}
