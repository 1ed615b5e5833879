/**
 * The two output encodings.
 *
 * - `text`: the lines exactly as read, newline included. No per-line work at all: the batch's line
 *   bytes are written as one slice.
 * - `json`: one object per line, `{"message":…,"source":…,"file":…,"timestamp":…}\n`. `message` is
 *   the line without its `\n` (and without a `\r` before it); `file` is omitted when the source has
 *   no origin (stdin); `timestamp` is the ingest time, ISO 8601 UTC. Bytes that are not valid UTF-8
 *   become U+FFFD; JSON escaping is `JSON.stringify`'s, so the output is always valid JSON.
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
    else out.push(encodeJson(b));
  }
  return out;
};

/** One JSON object per line of the batch, as one buffer. */
export const encodeJson = (b: Envelope): Buffer => {
  const lines = b.lines;
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
    parts.push(`{"message":${JSON.stringify(lines.toString('utf8', start, end))}${tail}`);
    start = next;
  }
  return Buffer.from(parts.join(''), 'utf8');
};
