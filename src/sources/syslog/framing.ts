/**
 * Syslog over a byte stream: cutting TCP reads into frames (RFC 6587).
 *
 * Two framings exist on the wire:
 *   - octet counting: `LEN SP MSG`, LEN = a non-zero digit then up to 9 more digits, MSG exactly
 *     LEN bytes (an LF inside MSG belongs to the message). rsyslog counts a trailing LF inside the
 *     frame, util-linux `logger` does not: one trailing LF of a counted frame is stripped.
 *   - non-transparent (LF) framing: a frame ends at LF; a CR before the LF is stripped.
 *
 * `auto` decides per frame: a digit 1-9 where a frame starts begins an octet count (a syslog message
 * itself starts with `<`); anything else begins an LF-terminated frame. Digits not followed by a
 * space (`123abc…`, or more than 10 digits) were not a count after all: they are the start of an
 * LF-terminated frame, so a sender that mixes framings, or garbage between frames, never swallows
 * the frames after it. `octet_counting` does the same (and counts the fallback as a bad count);
 * `newline` never looks for a count.
 *
 * Sizes: no frame is held whole beyond `max` bytes. A longer one (counted or not) is cut into
 * pieces of `max` bytes: the first is `head`, the following ones `tail`; nothing is dropped. At the
 * end of the stream a partial LF frame is a `whole` frame (the sender closed after its last
 * message), a counted frame that got fewer bytes than its count is `cut`. Empty frames (a blank
 * line, an LF between counted frames) carry nothing and are skipped.
 *
 * Memory: bytes of an unfinished frame are kept as a list of copies (never re-concatenated on each
 * read), so a frame arriving a byte at a time costs linear time.
 */

export type Framing = 'auto' | 'octet_counting' | 'newline';

/** `whole`: a complete frame. `head`/`tail`: pieces of a frame longer than max. `cut`: a counted frame the stream ended inside. */
export type FrameKind = 'whole' | 'head' | 'tail' | 'cut';

/** Receives each frame synchronously; `frame` may be a view into the read buffer: use it before returning. */
export type FrameHandler = (frame: Buffer, kind: FrameKind) => void;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const D0 = 0x30;
const D1 = 0x31;
const D9 = 0x39;
/** 10 digits: up to 9,999,999,999; a count above `max` is split anyway. */
const MAX_DIGITS = 10;

export interface FramerCounters {
  /** Frames longer than max, cut into pieces. */
  split: number;
  /** Counted frames the stream ended inside. */
  cut: number;
  /** `octet_counting`: frames that did not start with a valid count (read as LF frames). */
  badCounts: number;
}

export class SyslogFramer {
  private phase: 'start' | 'digits' | 'counted' | 'line' = 'start';
  private parts: Buffer[] = [];
  private partLen = 0;
  /** Digits of a count being read (kept as bytes: they become a line if no SP follows). */
  private digits = '';
  /** Counted frame: body bytes still to come. */
  private need = 0;
  /** Pieces of the current frame already emitted (it was longer than max). */
  private pieces = 0;
  readonly counters: FramerCounters = { split: 0, cut: 0, badCounts: 0 };

  constructor(
    private readonly mode: Framing,
    private readonly max: number,
  ) {}

  /** Feed one read; complete frames go to `out` before this returns. */
  push(chunk: Buffer, out: FrameHandler): void {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      switch (this.phase) {
        case 'start': {
          const c = chunk[i] as number;
          if (this.mode !== 'newline' && c >= D1 && c <= D9) {
            this.phase = 'digits';
            this.digits = String.fromCharCode(c);
            i++;
          } else {
            if (this.mode === 'octet_counting' && c !== LF && c !== CR) this.counters.badCounts++;
            this.phase = 'line';
          }
          break;
        }
        case 'digits': {
          const c = chunk[i] as number;
          if (c >= D0 && c <= D9 && this.digits.length < MAX_DIGITS) {
            this.digits += String.fromCharCode(c);
            i++;
          } else if (c === SP) {
            i++;
            this.need = Number(this.digits);
            this.digits = '';
            this.phase = 'counted';
          } else {
            // Not a count: the digits begin an LF-terminated frame.
            if (this.mode === 'octet_counting') this.counters.badCounts++;
            this.add(Buffer.from(this.digits, 'latin1'));
            this.digits = '';
            this.phase = 'line';
          }
          break;
        }
        case 'counted': {
          const take = Math.min(this.need, n - i, this.max - this.partLen);
          if (take > 0) this.add(chunk.subarray(i, i + take));
          i += take;
          this.need -= take;
          if (this.need === 0) this.finish(out, true);
          else if (this.partLen >= this.max) this.piece(out);
          break;
        }
        case 'line': {
          const lf = chunk.indexOf(LF, i);
          const end = lf === -1 ? n : lf;
          while (this.partLen + (end - i) > this.max) {
            const take = this.max - this.partLen;
            this.add(chunk.subarray(i, i + take));
            i += take;
            this.piece(out);
          }
          if (end > i) this.add(chunk.subarray(i, end));
          i = end;
          if (lf !== -1) {
            i = lf + 1;
            this.finish(out, false);
          }
          break;
        }
      }
    }
    // Views into `chunk` that outlive this call are copied (the caller may reuse its buffer).
    for (let p = 0; p < this.parts.length; p++) {
      const part = this.parts[p] as Buffer;
      if (part.buffer === chunk.buffer && part.byteOffset >= chunk.byteOffset && part.byteOffset < chunk.byteOffset + chunk.length) this.parts[p] = Buffer.from(part);
    }
  }

  /** The stream ended: what is left becomes a frame (a counted one cut short is `cut`). */
  end(out: FrameHandler): void {
    switch (this.phase) {
      case 'start':
        break;
      case 'digits':
        this.add(Buffer.from(this.digits, 'latin1'));
        this.digits = '';
        this.finish(out, false);
        break;
      case 'counted':
        if (this.partLen > 0) {
          this.counters.cut++;
          this.emit(out, this.take(), 'cut');
        } else if (this.pieces === 0) this.counters.cut++;
        this.reset();
        break;
      case 'line':
        this.finish(out, false);
        break;
    }
  }

  /** True while a frame is partly read. */
  get partial(): boolean {
    return this.phase !== 'start';
  }

  private add(b: Buffer): void {
    this.parts.push(b);
    this.partLen += b.length;
  }

  private take(): Buffer {
    const b = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.partLen);
    this.parts = [];
    this.partLen = 0;
    return b;
  }

  private reset(): void {
    this.parts = [];
    this.partLen = 0;
    this.pieces = 0;
    this.need = 0;
    this.phase = 'start';
  }

  /** A piece of `max` bytes of an oversized frame. */
  private piece(out: FrameHandler): void {
    if (this.pieces === 0) this.counters.split++;
    this.emit(out, this.take(), this.pieces === 0 ? 'head' : 'tail');
    this.pieces++;
  }

  private finish(out: FrameHandler, counted: boolean): void {
    let b = this.take();
    let end = b.length;
    if (counted) {
      if (end > 0 && b[end - 1] === LF) end--;
    } else if (end > 0 && b[end - 1] === CR) end--;
    if (end < b.length) b = b.subarray(0, end);
    const kind: FrameKind = this.pieces === 0 ? 'whole' : 'tail';
    this.reset();
    this.emit(out, b, kind);
  }

  private emit(out: FrameHandler, b: Buffer, kind: FrameKind): void {
    if (b.length === 0) return;
    out(b, kind);
  }
}

/** One UDP datagram as frames: trailing LF (and CR) stripped, cut into pieces above `max`. */
export const datagramFrames = (d: Buffer, max: number, out: FrameHandler): number => {
  let end = d.length;
  while (end > 0 && (d[end - 1] === LF || d[end - 1] === CR)) end--;
  if (end === 0) return 0;
  if (end <= max) {
    out(d.subarray(0, end), 'whole');
    return 0;
  }
  for (let s = 0; s < end; s += max) out(d.subarray(s, Math.min(end, s + max)), s === 0 ? 'head' : 'tail');
  return 1;
};
