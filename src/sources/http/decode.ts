/**
 * Request bodies → structured events (NDJSON: one JSON object per line, the `events` batch format).
 *
 * A body is decoded whole or refused whole: either every event in it is taken (200 once durable) or
 * none is (400 with the reason, naming the line or element). There is no partial acceptance a client
 * would have to untangle.
 *
 * - `ndjson`: each non-blank line must be one JSON object; it is kept as sent (trimmed), so valid
 *   NDJSON costs one JSON.parse per line to check it and no re-serialisation. A `\r\n` ending is fine.
 * - `json`: the body is one object (one event) or an array of objects (one event each).
 * - `text`: each non-blank line is one event, `{ "message": <the line> }`.
 *
 * Bytes that are not valid UTF-8 become U+FFFD (as everywhere in sluice's JSON). A leading BOM is
 * ignored. The decoders never throw, whatever the input (fast-check tests feed them arbitrary bytes).
 */

export type Decoding = 'ndjson' | 'json' | 'text';

export type Decoded = { readonly ok: true; readonly lines: Buffer; readonly events: number } | { readonly ok: false; readonly reason: string };

const LF = 10;

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** An event's `event_id` (set by a sluice http sink): a non-negative safe integer, or -1. */
const eventIdOf = (v: Record<string, unknown>): number => {
  const id = v['event_id'];
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0 ? id : -1;
};

const problem = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const text = (body: Buffer): string => {
  const s = body.toString('utf8');
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
};

const done = (out: string[]): Decoded => ({ ok: true, lines: out.length === 0 ? Buffer.alloc(0) : Buffer.from(`${out.join('\n')}\n`, 'utf8'), events: out.length });

/** Each line of `s` (without its LF, and without a CR before it), with its 1-based number. */
const eachLine = (s: string, fn: (line: string, n: number) => string | undefined): string | undefined => {
  let start = 0;
  let n = 0;
  while (start < s.length) {
    let nl = s.indexOf('\n', start);
    if (nl === -1) nl = s.length;
    n++;
    const end = nl > start && s.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
    const err = fn(s.slice(start, end), n);
    if (err !== undefined) return err;
    start = nl + 1;
  }
  return undefined;
};

/** With `ids`, each event's `event_id` (or -1) is pushed to it, in order. */
export const decodeNdjson = (body: Buffer, ids?: number[]): Decoded => {
  const out: string[] = [];
  const err = eachLine(text(body), (raw, n) => {
    const line = raw.trim();
    if (line === '') return undefined;
    if (line.charCodeAt(0) !== 123 /* { */) return `line ${n}: not a JSON object`;
    try {
      const v: unknown = JSON.parse(line);
      if (!isObject(v)) return `line ${n}: not a JSON object`;
      ids?.push(eventIdOf(v));
    } catch (e) {
      return `line ${n}: ${problem(e)}`;
    }
    out.push(line);
    return undefined;
  });
  return err === undefined ? done(out) : { ok: false, reason: err };
};

export const decodeJson = (body: Buffer, ids?: number[]): Decoded => {
  const s = text(body);
  if (s.trim() === '') return done([]);
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch (e) {
    return { ok: false, reason: `body is not JSON: ${problem(e)}` };
  }
  if (isObject(v)) {
    ids?.push(eventIdOf(v));
    return done([JSON.stringify(v)]);
  }
  if (!Array.isArray(v)) return { ok: false, reason: 'body is neither a JSON object nor an array of objects' };
  const out: string[] = [];
  for (let i = 0; i < v.length; i++) {
    const el: unknown = v[i];
    if (!isObject(el)) return { ok: false, reason: `element ${i} of the array is not a JSON object` };
    ids?.push(eventIdOf(el));
    out.push(JSON.stringify(el));
  }
  return done(out);
};

export const decodeText = (body: Buffer): Decoded => {
  const out: string[] = [];
  eachLine(text(body), (line) => {
    if (line.trim() !== '') out.push(JSON.stringify({ message: line }));
    return undefined;
  });
  return done(out);
};

/** With `ids` (ndjson and json only: text lines have none), each event's `event_id` or -1. */
export const decodeBody = (decoding: Decoding, body: Buffer, ids?: number[]): Decoded => {
  switch (decoding) {
    case 'ndjson':
      return decodeNdjson(body, ids);
    case 'json':
      return decodeJson(body, ids);
    case 'text':
      return decodeText(body);
  }
};

/** Media types accepted for each decoding (a request without Content-Type is accepted too). */
export const ACCEPTED_TYPES: Readonly<Record<Decoding, readonly string[]>> = {
  ndjson: ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines', 'application/json'],
  json: ['application/json'],
  text: ['text/plain'],
};

/** Whether a Content-Type header fits the decoding (`+json` types for json, any `text/*` for text). */
export const acceptsContentType = (decoding: Decoding, header: string | undefined): boolean => {
  if (header === undefined || header.trim() === '') return true;
  const type = (header.split(';')[0] ?? '').trim().toLowerCase();
  if (ACCEPTED_TYPES[decoding].includes(type)) return true;
  if (decoding === 'json' && type.startsWith('application/') && type.endsWith('+json')) return true;
  if (decoding === 'text' && type.startsWith('text/')) return true;
  return false;
};

/** The lines of `lines` whose `keep[i]` is 1, as one new buffer (runs of kept lines are copied whole). */
export const selectLines = (lines: Buffer, keep: Uint8Array): Buffer => {
  const parts: Buffer[] = [];
  let start = 0;
  let i = 0;
  let runStart = -1;
  while (start < lines.length) {
    let nl = lines.indexOf(LF, start);
    if (nl === -1) nl = lines.length - 1;
    if (keep[i] === 1) {
      if (runStart === -1) runStart = start;
    } else if (runStart !== -1) {
      parts.push(lines.subarray(runStart, start));
      runStart = -1;
    }
    start = nl + 1;
    i++;
  }
  if (runStart !== -1) parts.push(lines.subarray(runStart, start));
  return Buffer.concat(parts);
};

/** Lines in an NDJSON buffer (for tests and counters). */
export const countLines = (b: Buffer): number => {
  let n = 0;
  for (let i = b.indexOf(LF); i !== -1; i = b.indexOf(LF, i + 1)) n++;
  return n;
};
