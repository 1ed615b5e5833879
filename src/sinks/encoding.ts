/**
 * The two output encodings.
 *
 * - `text`: the lines exactly as read, newline included. No per-line work at all: the batch's line
 *   bytes are written as one slice.
 * - `json`: one object per line, `{"message":…,"source":…,"file":…,"timestamp":…}\n`. `message` is
 *   the line without its `\n` (and without a `\r` before it); `file` is omitted when the source has
 *   no origin (stdin gives `"stdin"`; a source may give none); `timestamp` is the ingest time, ISO 8601 UTC. Bytes that are not valid UTF-8
 *   become U+FFFD; JSON escaping is `JSON.stringify`'s, so the output is always valid JSON.
 *
 * Structured events (`events` records, from network sources) are NDJSON already: `text` writes each
 * object as its JSON line unchanged; `json` writes the object with `source` and `timestamp` added
 * where it has none (its own fields win). A line that is not a JSON object (it cannot happen unless a
 * source breaks the contract) is written as `{"message": <the line>, …}`: never dropped.
 */
import type { Envelope } from '../core/envelope';
import type { Encoding } from '../core/sink';

const NL = 0x0a;
const CR = 0x0d;

/** The bytes to write for these batches, as a list of slices (no copy for `text`). */
export const encodeBatches = (encoding: Encoding, batches: readonly Envelope[]): Buffer[] => {
  const out: Buffer[] = [];
  for (const b of batches) {
    if (b.lines.length === 0) continue;
    if (encoding === 'text') out.push(b.lines);
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
