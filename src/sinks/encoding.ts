/**
 * The two output encodings.
 *
 * - `text`: the lines exactly as read, newline included. No per-line work at all: the batch's line
 *   bytes are written as one slice. (Structured events: their text, below.)
 * - `json`: one object per line, `{"message":…,"source":…,"file":…,"timestamp":…}\n`. `message` is
 *   the line without its `\n` (and without a `\r` before it); `file` is omitted when the source has
 *   no origin (stdin gives `"stdin"`; a source may give none); `timestamp` is the ingest time, ISO 8601 UTC. Bytes that are not valid UTF-8
 *   become U+FFFD; JSON escaping is `JSON.stringify`'s, so the output is always valid JSON.
 *
 * Structured events (`events` records: network sources, and file/stdin with `multiline` or
 * `decoding`) are NDJSON: `json` writes the object with `source` and `timestamp` added where it has
 * none (its own fields win); a line that is not a JSON object (it cannot happen unless a source
 * breaks the contract) is written as `{"message": <the line>, …}`: never dropped. `text` writes each
 * event's text: its `message` when that is a string (a multiline event's lines joined by `\n`, a CRI
 * line's content, a syslog message, an OTLP body), then one `\n`; an event without a string
 * `message` is written as its JSON line unchanged, so nothing is left out silently (Vector's `text`
 * codec writes the same field, and an empty line when it is missing).
 *
 * The text of an event whose object starts with `{"message":"` (every event the decoder writes, most
 * network events) is copied from the JSON bytes, escapes resolved byte by byte: no string and no
 * `JSON.parse` per event. Others (the message further in, a `\u` escape, a second `"message"` key
 * in the line) go through `JSON.parse`, which is the reference the fast path must agree with.
 */
import type { Envelope } from '../core/envelope';
import type { Encoding } from '../core/sink';

const NL = 0x0a;
const CR = 0x0d;

/** The bytes to write for these batches, as a list of slices (no copy for `text` of plain lines). */
export const encodeBatches = (encoding: Encoding, batches: readonly Envelope[]): Buffer[] => {
  const out: Buffer[] = [];
  for (const b of batches) {
    if (b.lines.length === 0) continue;
    if (encoding === 'text') out.push(b.kind === 'events' ? encodeEventsText(b.lines) : b.lines);
    else if (b.kind === 'events') out.push(encodeEventsJson(b));
    else out.push(encodeJson(b));
  }
  return out;
};

/**
 * One JSON object per line of the batch, as one buffer. `lines` may be a run of the batch's lines
 * (a sink that splits a batch); with `firstEventId` each object starts with its `event_id`.
 */
export const encodeJson = (b: Envelope, lines: Buffer = b.lines, firstEventId?: number): Buffer => {
  let id = firstEventId ?? 0;
  const tail =
    `,"source":${JSON.stringify(b.sourceId)}` +
    (b.origin === undefined ? '' : `,"file":${JSON.stringify(b.origin)}`) +
    `,"timestamp":"${new Date(b.ingestMs).toISOString()}"}\n`;
  const parts: string[] = [];
  let start = 0;
  const n = lines.length;
  while (start < n) {
    let nl = lines.indexOf(NL, start);
    const next = nl === -1 ? n : nl + 1;
    if (nl === -1) nl = n;
    const end = nl > start && lines[nl - 1] === CR ? nl - 1 : nl;
    const head = firstEventId === undefined ? '{' : `{"event_id":${id++},`;
    parts.push(`${head}"message":${JSON.stringify(lines.toString('utf8', start, end))}${tail}`);
    start = next;
  }
  return Buffer.from(parts.join(''), 'utf8');
};

/**
 * Each event object of an `events` batch with `source` and `timestamp` added where absent. With
 * `firstEventId`, `event_id` comes first and is always sluice's (an own `event_id` is overwritten).
 */
export const encodeEventsJson = (b: Envelope, lines: Buffer = b.lines, firstEventId?: number): Buffer => {
  let id = firstEventId ?? 0;
  const timestamp = new Date(b.ingestMs).toISOString();
  const parts: string[] = [];
  let start = 0;
  while (start < lines.length) {
    let nl = lines.indexOf(NL, start);
    if (nl === -1) nl = lines.length;
    const text = lines.toString('utf8', start, nl);
    start = nl + 1;
    let obj: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(text);
      obj = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : { message: text };
    } catch {
      obj = { message: text };
    }
    obj['source'] ??= b.sourceId;
    obj['timestamp'] ??= timestamp;
    const out = firstEventId === undefined ? obj : Object.assign({ event_id: id }, obj, { event_id: id++ });
    parts.push(`${JSON.stringify(out)}\n`);
  }
  return Buffer.from(parts.join(''), 'utf8');
};

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MESSAGE_FIRST = Buffer.from('{"message":"');
const MESSAGE_KEY = Buffer.from('"message"');
/** The byte a one-character JSON escape stands for (`n` → 0x0a, `t` → 0x09, …); -1: `u` (left to JSON.parse) or not an escape. */
const UNESCAPE = new Int16Array(128).fill(-1);
for (const [c, b] of [['n', 0x0a], ['t', 0x09], ['r', 0x0d], ['"', 0x22], ['\\', 0x5c], ['/', 0x2f], ['b', 0x08], ['f', 0x0c]] as const) UNESCAPE[c.charCodeAt(0)] = b;

/**
 * Each event of an `events` run as its text (see the module header): one buffer, never longer than
 * `lines` unless a line is not valid UTF-8 JSON. With `ends`, the end offset of each event's text in
 * the result is pushed to it (the nats sink's dead-letter path maps a chunk back to its event).
 */
export const encodeEventsText = (lines: Buffer, ends?: number[]): Buffer => {
  const n = lines.length;
  let out = Buffer.allocUnsafe(n);
  let o = 0;
  // The next quote, backslash and `"message"` key at or after where the scan is: positions only
  // grow, so each is searched for again only once the scan has passed it (linear in the batch).
  let quoteAt = -1;
  let slashAt = -1;
  let keyAt = -1;
  let start = 0;
  while (start < n) {
    let e = lines.indexOf(NL, start);
    if (e === -1) e = n;
    if (out.length - o < e - start + 1) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * out.length, o + e - start + 1));
      out.copy(bigger, 0, 0, o);
      out = bigger;
    }
    const mark = o;
    let fast = e - start > MESSAGE_FIRST.length && lines.compare(MESSAGE_FIRST, 0, MESSAGE_FIRST.length, start, start + MESSAGE_FIRST.length) === 0;
    if (fast) {
      let p = start + MESSAGE_FIRST.length;
      for (;;) {
        if (quoteAt < p && quoteAt !== -2) quoteAt = lines.indexOf(QUOTE, p);
        if (quoteAt < 0 || quoteAt >= e) {
          fast = false; // not a JSON string: the reference path decides
          if (quoteAt === -1) quoteAt = -2;
          break;
        }
        if (slashAt < p && slashAt !== -2) {
          slashAt = lines.indexOf(BACKSLASH, p);
          if (slashAt === -1) slashAt = -2;
        }
        if (slashAt < 0 || slashAt > quoteAt) {
          o += lines.copy(out, o, p, quoteAt);
          p = quoteAt + 1;
          break;
        }
        const c = lines[slashAt + 1] ?? 0;
        const b = c < 128 ? (UNESCAPE[c] as number) : -1;
        if (b < 0) {
          fast = false;
          break;
        }
        o += lines.copy(out, o, p, slashAt);
        out[o++] = b;
        p = slashAt + 2;
      }
      if (fast) {
        // A second `"message"` key in the line (JSON.parse would take the last one): the reference path.
        if (keyAt < p && keyAt !== -2) {
          keyAt = lines.indexOf(MESSAGE_KEY, p);
          if (keyAt === -1) keyAt = -2;
        }
        if (keyAt >= 0 && keyAt < e) fast = false;
      }
    }
    if (!fast) {
      o = mark;
      let v: unknown;
      try {
        v = JSON.parse(lines.toString('utf8', start, e));
      } catch {
        v = undefined;
      }
      const m = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)['message'] : undefined;
      if (typeof m === 'string') {
        const need = Buffer.byteLength(m) + 1;
        if (out.length - o < need) {
          const bigger = Buffer.allocUnsafe(Math.max(2 * out.length, o + need));
          out.copy(bigger, 0, 0, o);
          out = bigger;
        }
        o += out.write(m, o, 'utf8');
      } else o += lines.copy(out, o, start, e);
    }
    out[o++] = NL;
    ends?.push(o);
    start = e + 1;
  }
  return out.subarray(0, o);
};
