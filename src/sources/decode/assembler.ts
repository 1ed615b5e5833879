/**
 * The assembler: turns the bytes a source read into complete events — one line each, or several
 * lines grouped by a multiline mode (`modes.ts`), after joining CRI `P` pieces (`cri.ts`), parsed
 * as JSON where asked — and says how many input bytes those events account for. The rest (the
 * pending event, lines held for look-ahead, open `P` sequences, a partial line) stays with the
 * source as its carry, in front of the next read, exactly like a partial line does without a
 * decoder. So the file source's position — just after the bytes `consumed` — never moves past the
 * first byte of an event that is not complete and emitted, and an event is emitted whole in one
 * batch: after a crash it is read again from its first line.
 *
 * Output is NDJSON (`format: 'events'`), one object per event:
 *   { "message": <lines joined by \n>, "file": <origin>, ["stream", "timestamp": CRI],
 *     ["cut": "max_lines" | "max_bytes", "continuation": true, "partial": true] }
 * With `decoding: json` (or `cri` + `parse_json`) the event's text, when it is a JSON object, is
 * that object (its own fields win) with the same added fields where absent; otherwise it is kept as
 * `{ "message": … }` and counted.
 *
 * Incremental: the carry's lines were classified by the previous call, and the state says what they
 * are; only new lines are looked at. If the carry handed back is not the one this assembler left
 * (the source dropped it: truncation, an idle close), everything starts over from the first byte.
 *
 * Positions with CRI: a stdout piece sequence and stderr lines may interleave. Logical lines are
 * grouped in the order they start; lines whose byte ranges overlap are emitted together, and the
 * events in hand are completed then, so no position ever falls inside a line that was emitted.
 */
import type { SourceStats } from '../../core/source';
import { parseCri } from './cri';
import type { DecodeConfig } from './config';
import { grouperFor } from './modes';
import type { Grouper, Verdict } from './modes';

/** What the source wants emitted: `false` complete events only; `events` also the pending one (timeout); `all` also a partial last line (the input ended). */
export type Flush = false | 'events' | 'all';

/** The decoder's counters (part of the file and stdin source metrics). */
export interface DecodeCounts {
  /** Events made of more than one line. */
  multilineEvents: number;
  /** Events cut at `max_lines` / `max_bytes` (flagged `cut`; the rest follows as a `continuation`). */
  cutMaxLines: number;
  cutMaxBytes: number;
  /** Pending events emitted because their input was quiet for `timeout`. */
  timeoutFlushes: number;
  /** Events that start with a continuation line (after a timeout, a cut, or at the start of the input): flagged `continuation`. */
  continuations: number;
  /** Events kept as `{ "message": … }` because their text is not a JSON object. */
  invalidJson: number;
  /** Lines kept as `{ "message": … }` because they are not in the CRI format. */
  invalidCri: number;
  /** CRI `P` pieces joined into their line. */
  criPieces: number;
}

/** The counters a decoding source shows on `/metrics` and `/api/status` (`Source.stats()`). */
export const decodeStats = (c: DecodeCounts): SourceStats => ({
  parseFailures: c.invalidJson + c.invalidCri,
  multilineEvents: c.multilineEvents,
  cutEvents: c.cutMaxLines + c.cutMaxBytes,
});

export const newDecodeCounts = (): DecodeCounts => ({
  multilineEvents: 0,
  cutMaxLines: 0,
  cutMaxBytes: 0,
  timeoutFlushes: 0,
  continuations: 0,
  invalidJson: 0,
  invalidCri: 0,
  criPieces: 0,
});

export interface Decoded {
  /** NDJSON, one object per event (empty when there is none): a view into the assembler's reused buffer, valid until its next call. */
  readonly lines: Buffer;
  readonly events: number;
  /** Input bytes the events account for: the carry is `input.subarray(consumed)`. */
  readonly consumed: number;
  /** Lines cut at `max_line_bytes`. */
  readonly splits: number;
  /**
   * The output reached the call's `cap` and the call stopped there, between lines: the carry
   * (`input.subarray(consumed)`) still holds complete lines; decode it again (no new bytes) before
   * the next read. No flush was done.
   */
  readonly more: boolean;
}

/** A CRI line (or joined `P`… `F` sequence), or a line that is not CRI. Offsets are into the current input. */
interface Logical {
  start: number;
  end: number;
  readonly stream: string | null;
  readonly timestamp: string | null;
  parts: string[];
  done: boolean;
  /** An open sequence completed without its `F` (bound, or the input ended). */
  partial: boolean;
}

/** A line held for look-ahead (`maybe`). */
interface Held {
  start: number;
  contentEnd: number;
  end: number;
  readonly cri: Logical | null;
}

const PREFIX = Buffer.from('{"message":"');

export class Assembler {
  private readonly grouper: Grouper | null;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  /** Bound on a CRI sequence's bytes, and on how far behind an open sequence may hold the position. */
  private readonly maxSeq: number;
  private readonly cri: boolean;
  private readonly json: boolean;

  // The state between calls; offsets are into the input of the current call (shifted on return).
  /** Bytes of the carry already looked at (complete lines). */
  private scanned = 0;
  /** The carry length this assembler handed back last time. */
  private kept = 0;
  private evStart = -1;
  private evContentEnd = 0;
  private evEnd = 0;
  private evLines = 0;
  private evContinuation = false;
  private evParts: string[] | null = null;
  private evStream: string | null = null;
  private evTimestamp: string | null = null;
  private evPartial = false;
  private held: Held[] = [];
  /** CRI: logical lines not yet grouped, in the order they start, and each stream's open sequence. */
  private queue: Logical[] = [];
  private open: { stdout: Logical | null; stderr: Logical | null } = { stdout: null, stderr: null };

  // Per call.
  private input: Buffer = Buffer.alloc(0);
  /** The output of the current call: NDJSON bytes written straight into a growing buffer. */
  private out: Buffer = Buffer.allocUnsafe(64 * 1024);
  private outLen = 0;
  private suffixBytes: Buffer = Buffer.from('}\n');
  private events = 0;
  private splits = 0;
  private suffix = '}\n';
  private fileJson = '';

  constructor(
    cfg: DecodeConfig,
    private readonly maxLine: number,
    private readonly counts: DecodeCounts,
  ) {
    this.grouper = cfg.multiline ? grouperFor(cfg.multiline) : null;
    this.maxLines = cfg.multiline?.max_lines ?? 1;
    this.maxBytes = cfg.multiline?.max_bytes ?? Number.MAX_SAFE_INTEGER;
    this.maxSeq = Math.max(maxLine, cfg.multiline?.max_bytes ?? 1024 * 1024);
    this.cri = cfg.decoding === 'cri';
    this.json = cfg.decoding === 'json' || (this.cri && cfg.parse_json === true);
  }

  /** The most bytes the carry can hold after a call (the source sizes its read buffer with it). */
  static carryBound(cfg: DecodeConfig, maxLine: number): number {
    const ev = Math.max(maxLine, cfg.multiline?.max_bytes ?? 1024 * 1024);
    return 2 * ev + 2 * maxLine;
  }

  /** Complete lines are held (a pending event, look-ahead lines, CRI lines): a timeout can emit them. */
  get holding(): boolean {
    return this.evStart >= 0 || this.held.length > 0;
  }

  /**
   * Decodes `input` (the carry this assembler left, `carried` bytes, then new bytes) into events.
   * @param origin the file path (`"stdin"` for stdin), written as `file` into each event.
   * @param cap output bytes after which the call stops at the next line (`more`), so that one batch
   *   fits a queue record: NDJSON can be many times the bytes read. The position rule holds as for a
   *   read that ended there: `consumed` never passes an event that is not emitted.
   */
  decode(input: Buffer, carried: number, flush: Flush, origin: string, cap = Infinity): Decoded {
    if (carried !== this.kept) this.reset();
    this.input = input;
    this.outLen = 0;
    this.events = 0;
    if (origin !== this.fileJson) {
      this.fileJson = origin;
      this.suffix = `,"file":${JSON.stringify(origin)}}\n`;
      this.suffixBytes = Buffer.from(this.suffix);
    }
    this.splits = 0;
    let pos = this.scanned;
    const n = input.length;
    const maxLine = this.maxLine;
    let nl = input.indexOf(10, pos);
    let more = false;
    while (nl !== -1) {
      if (this.outLen >= cap) {
        more = true;
        break;
      }
      if (nl - pos > maxLine) pos = this.pieces(pos, nl);
      const b = nl > pos && input[nl - 1] === 13 ? nl - 1 : nl;
      this.line(pos, b, nl + 1);
      pos = nl + 1;
      nl = input.indexOf(10, pos);
    }
    if (!more && n - pos > maxLine) {
      // A partial line longer than max_line_bytes: its pieces are lines, at most maxLine bytes stay.
      pos = this.pieces(pos, n);
    }
    if (!more && flush === 'all' && pos < n) {
      this.line(pos, n, n);
      pos = n;
    }
    this.scanned = pos;
    if (!more && flush !== false) this.flushAll(flush === 'all', flush === 'events');
    return { ...this.finish(pos, this.splits), more };
  }

  /**
   * Feeds the over-long `[a, to)` as pieces of at most `maxLine` bytes but its last (at most
   * `maxLine` bytes), each cut moved back to the start of a UTF-8 character (as `../lines.ts` does);
   * returns where the last piece starts. Counts the pieces in `splits`.
   */
  private pieces(a: number, to: number): number {
    const input = this.input;
    let p = a;
    while (to - p > this.maxLine) {
      let end = p + this.maxLine;
      for (let k = 0; k < 3 && end - 1 > p && ((input[end] as number) & 0xc0) === 0x80; k++) end--;
      if (((input[end] as number) & 0xc0) === 0x80) end = p + this.maxLine; // not UTF-8 text: cut where it was
      this.line(p, end, end);
      this.splits++;
      p = end;
    }
    return p;
  }

  /** One line of the input: `[a, b)` its text, `end` just after its newline. */
  private line(a: number, b: number, end: number): void {
    if (this.cri) this.criLine(a, b, end);
    else this.group(a, b, end, null);
  }

  // --- CRI --------------------------------------------------------------------------------------

  private criLine(a: number, b: number, end: number): void {
    const input = this.input;
    const c = parseCri(input, a, b);
    if (c === null) {
      this.counts.invalidCri++;
      this.queue.push({ start: a, end, stream: null, timestamp: null, parts: [input.toString('utf8', a, b)], done: true, partial: false });
    } else {
      const text = input.toString('utf8', c.message, b);
      const o = this.open[c.stream];
      if (o !== null) {
        o.parts.push(text);
        o.end = end;
        this.counts.criPieces++;
        if (!c.partial) {
          o.done = true;
          this.open[c.stream] = null;
        }
      } else {
        const l: Logical = { start: a, end, stream: c.stream, timestamp: c.timestamp, parts: [text], done: !c.partial, partial: false };
        this.queue.push(l);
        if (c.partial) this.open[c.stream] = l;
      }
    }
    // A sequence that grows too long, or holds the position too far back, is completed as it is.
    const first = this.queue[0];
    if (first && !first.done && end - first.start > this.maxSeq) this.closeOpen(first);
    this.drain(false);
  }

  private closeOpen(l: Logical): void {
    l.done = true;
    l.partial = true;
    if (this.open.stdout === l) this.open.stdout = null;
    if (this.open.stderr === l) this.open.stderr = null;
  }

  /** Groups the logical lines that can be: complete, and not overlapping one still open. */
  private drain(all: boolean): void {
    const q = this.queue;
    while (q.length > 0) {
      const first = q[0] as Logical;
      if (!first.done) {
        if (!all) return;
        this.closeOpen(first);
      }
      let k = 1;
      let end = first.end;
      while (k < q.length && (q[k] as Logical).start < end) {
        const l = q[k] as Logical;
        if (!l.done) {
          if (!all) return;
          this.closeOpen(l);
        }
        if (l.end > end) end = l.end;
        k++;
      }
      const group = q.splice(0, k);
      for (const l of group) this.group(l.start, l.end, l.end, l);
      // Overlapping lines: nothing stays pending across them, so no position falls inside one.
      if (k > 1) this.flushAll(false, false);
    }
  }

  // --- grouping ---------------------------------------------------------------------------------

  /** One logical line into the pending event (or an event of its own). */
  private group(a: number, contentEnd: number, end: number, cri: Logical | null): void {
    const g = this.grouper;
    if (g === null) {
      this.emitOne(a, contentEnd, end, cri);
      return;
    }
    let v: Verdict;
    if (cri === null) v = g.next(this.input, a, contentEnd);
    else {
      const text = Buffer.from(cri.parts.length === 1 ? (cri.parts[0] as string) : cri.parts.join(''));
      v = g.next(text, 0, text.length);
    }
    if (this.evStart < 0) {
      this.startEvent(a, contentEnd, end, cri, v === 'continue');
      return;
    }
    switch (v) {
      case 'start':
        this.finishEvent();
        this.startEvent(a, contentEnd, end, cri, false);
        return;
      case 'continue': {
        const held = this.held;
        if (held.length > 0) {
          this.held = [];
          for (const h of held) this.addLine(h.start, h.contentEnd, h.end, h.cri);
        }
        this.addLine(a, contentEnd, end, cri);
        return;
      }
      case 'maybe':
        if (this.evLines + this.held.length + 1 > this.maxLines || end - this.evStart > this.maxBytes) {
          // Too much held back to wait any longer: what is held is not part of the event.
          g.reset();
          this.finishEvent();
          this.startEvent(a, contentEnd, end, cri, false);
        } else this.held.push({ start: a, contentEnd, end, cri });
        return;
    }
  }

  private startEvent(a: number, contentEnd: number, end: number, cri: Logical | null, continuation: boolean): void {
    this.evStart = a;
    this.evContentEnd = contentEnd;
    this.evEnd = end;
    this.evLines = 1;
    this.evContinuation = continuation;
    if (continuation) this.counts.continuations++;
    if (cri !== null) {
      this.evParts = [cri.parts.join('')];
      this.evStream = cri.stream;
      this.evTimestamp = cri.timestamp;
      this.evPartial = cri.partial;
    }
  }

  private addLine(a: number, contentEnd: number, end: number, cri: Logical | null): void {
    const cut = this.evLines + 1 > this.maxLines ? 'max_lines' : end - this.evStart > this.maxBytes ? 'max_bytes' : null;
    if (cut !== null) {
      if (cut === 'max_lines') this.counts.cutMaxLines++;
      else this.counts.cutMaxBytes++;
      this.emitEvent(cut);
      this.startEvent(a, contentEnd, end, cri, true);
      return;
    }
    this.evContentEnd = contentEnd;
    this.evEnd = end;
    this.evLines++;
    if (cri !== null) {
      this.evParts?.push(cri.parts.join(''));
      if (cri.partial) this.evPartial = true;
    }
  }

  /** Emits the pending event, then each held line as an event of its own. */
  private finishEvent(): void {
    if (this.evStart >= 0) this.emitEvent(null);
    const held = this.held;
    if (held.length === 0) return;
    this.held = [];
    for (const h of held) this.emitOne(h.start, h.contentEnd, h.end, h.cri);
  }

  /** Everything complete becomes events (a timeout, the end of the input, overlapping CRI lines). */
  private flushAll(openToo: boolean, timeout: boolean): void {
    if (openToo) this.drain(true);
    if (timeout && this.evStart >= 0) this.counts.timeoutFlushes++;
    this.finishEvent();
    this.grouper?.reset();
  }

  // --- output -----------------------------------------------------------------------------------

  private emitOne(a: number, contentEnd: number, end: number, cri: Logical | null): void {
    this.evStart = a;
    this.evContentEnd = contentEnd;
    this.evEnd = end;
    this.evLines = 1;
    this.evContinuation = false;
    if (cri !== null) {
      this.evParts = [cri.parts.join('')];
      this.evStream = cri.stream;
      this.evTimestamp = cri.timestamp;
      this.evPartial = cri.partial;
    }
    this.emitEvent(null);
  }

  private emitEvent(cut: 'max_lines' | 'max_bytes' | null): void {
    if (!this.cri && !this.json && cut === null && !this.evContinuation && this.rawEvent()) return;
    let message: string;
    let extra = '';
    if (this.cri) {
      message = (this.evParts ?? []).join('\n');
      if (this.evStream !== null) extra += `,"stream":"${this.evStream}","timestamp":${JSON.stringify(this.evTimestamp)}`;
      if (this.evPartial) extra += ',"partial":true';
    } else {
      message = this.input.toString('utf8', this.evStart, this.evContentEnd);
    }
    if (this.evLines > 1) this.counts.multilineEvents++;
    if (cut !== null) extra += `,"cut":"${cut}"`;
    if (this.evContinuation) extra += ',"continuation":true';
    const text = this.json ? this.jsonEvent(message, extra) : `{"message":${JSON.stringify(message)}${extra}${this.suffix}`;
    this.room(Buffer.byteLength(text));
    this.outLen += this.out.write(text, this.outLen, 'utf8');
    this.events++;
    this.endEvent();
  }

  /** No event pending any more. */
  private endEvent(): void {
    this.evStart = -1;
    this.evParts = null;
    this.evStream = null;
    this.evTimestamp = null;
    this.evPartial = false;
    this.evContinuation = false;
  }

  /** Makes room for `n` more output bytes. */
  private room(n: number): void {
    if (this.outLen + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.outLen + n));
    this.out.copy(bigger, 0, 0, this.outLen);
    this.out = bigger;
  }

  /**
   * The hot path (text, no flags): `{"message":"…"` written from the input bytes with JSON escapes,
   * no string in between. False (nothing written) when the text has bytes this does not escape
   * (other control characters, non-ASCII: the string path handles UTF-8 and invalid bytes).
   */
  private rawEvent(): boolean {
    const src = this.input;
    const a = this.evStart;
    const b = this.evContentEnd;
    const suffix = this.suffixBytes;
    // Worst case every byte doubles (\t, \n, \", \\).
    this.room(PREFIX.length + 2 * (b - a) + 1 + suffix.length);
    const out = this.out;
    const start = this.outLen;
    let o = start + PREFIX.copy(out, start);
    let run = a;
    for (let i = a; i < b; i++) {
      const c = src[i] as number;
      if (c >= 0x20 && c < 0x80 && c !== 0x22 && c !== 0x5c) continue;
      let e: number;
      if (c === 0x0a) e = 0x6e; // n
      else if (c === 0x09) e = 0x74; // t
      else if (c === 0x22 || c === 0x5c) e = c;
      else if (c === 0x0d) e = 0x72; // r
      else return false;
      o += src.copy(out, o, run, i);
      out[o++] = 0x5c;
      out[o++] = e;
      run = i + 1;
    }
    o += src.copy(out, o, run, b);
    out[o++] = 0x22;
    o += suffix.copy(out, o);
    this.outLen = o;
    if (this.evLines > 1) this.counts.multilineEvents++;
    this.events++;
    this.endEvent();
    return true;
  }

  /** The event's text as its JSON object with the added fields where absent; else `{ "message": … }`, counted. */
  private jsonEvent(message: string, extra: string): string {
    let obj: unknown;
    try {
      obj = JSON.parse(message);
    } catch {
      obj = undefined;
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      this.counts.invalidJson++;
      return `{"message":${JSON.stringify(message)}${extra}${this.suffix}`;
    }
    const own = obj as Record<string, unknown>;
    let add = extra;
    if (add.length > 0) {
      // Drop the added fields the object has of its own (its own win).
      add = add.replace(/,"(stream|timestamp|partial|cut|continuation)":("(?:[^"\\]|\\.)*"|true)/g, (m: string, k: string) => (Object.hasOwn(own, k) ? '' : m));
    }
    add += Object.hasOwn(own, 'file') ? '}\n' : this.suffix;
    let s = message.indexOf('\n') === -1 ? message.trim() : JSON.stringify(own);
    s = s.slice(0, s.length - 1).trimEnd(); // without its closing brace
    return Object.keys(own).length === 0 ? `${s}${add.slice(1)}` : `${s}${add}`;
  }

  /** Ends a call: the output, and the state shifted to the carry (`input.subarray(consumed)`). */
  private finish(pos: number, splits: number): Omit<Decoded, 'more'> {
    let consumed = pos;
    if (this.evStart >= 0 && this.evStart < consumed) consumed = this.evStart;
    const h = this.held[0];
    if (h && h.start < consumed) consumed = h.start;
    const q = this.queue[0];
    if (q && q.start < consumed) consumed = q.start;
    if (consumed > 0) {
      if (this.evStart >= 0) {
        this.evStart -= consumed;
        this.evContentEnd -= consumed;
        this.evEnd -= consumed;
      }
      for (const x of this.held) {
        x.start -= consumed;
        x.contentEnd -= consumed;
        x.end -= consumed;
      }
      for (const l of this.queue) {
        l.start -= consumed;
        l.end -= consumed;
      }
    }
    this.scanned = pos - consumed;
    this.kept = this.input.length - consumed;
    this.input = Buffer.alloc(0);
    // A view into the reused output buffer: the source's `emit` copies it before it returns.
    const lines = this.events === 0 ? Buffer.alloc(0) : this.out.subarray(0, this.outLen);
    return { lines, events: this.events, consumed, splits };
  }

  /** Forgets everything: the source's carry is not the one this assembler left. */
  reset(): void {
    this.scanned = 0;
    this.kept = 0;
    this.endEvent();
    this.held = [];
    this.queue = [];
    this.open = { stdout: null, stderr: null };
    this.grouper?.reset();
  }
}

const WARN_EVERY_MS = 10_000;
const WARN_KEYS = ['cutMaxLines', 'cutMaxBytes', 'timeoutFlushes', 'continuations', 'invalidJson', 'invalidCri'] as const;

/**
 * One stderr warning when a decoder counter that means "look at your input or your limits" moved
 * (cuts, timeouts, continuations, invalid JSON or CRI): at once the first time, then at most every
 * 10 s, with the totals. The counters themselves are on the source's `metrics().decode`.
 */
export class DecodeWarnings {
  private last = -Infinity;
  private warned: Partial<DecodeCounts> = {};

  check(counts: DecodeCounts, now: number, warn: (msg: string, fields: Record<string, unknown>) => void): void {
    if (now - this.last < WARN_EVERY_MS) return;
    const fields: Record<string, unknown> = {};
    let any = false;
    for (const k of WARN_KEYS) {
      if (counts[k] !== (this.warned[k] ?? 0)) {
        fields[`${k}Total`] = counts[k];
        any = true;
      }
    }
    if (!any) return;
    this.last = now;
    this.warned = { ...counts };
    warn('decoding: events cut at multiline limits or timeout, continuations, or lines kept as message because they are not JSON / CRI (docs/sources.md, "Events")', fields);
  }
}
