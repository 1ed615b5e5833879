/**
 * How the nats sink cuts a batch into messages.
 *
 * One queue record (a source batch) becomes one or more messages; a message never holds events of
 * two records, so its id — record id + byte range — names the same bytes on every replay, whatever
 * else was read in the same group. The record's encoded bytes (with `encoding: text` the lines as
 * read, or each structured event's text — a multiline event is several lines; NDJSON with
 * `event_id`s with `encoding: json`) are cut at line boundaries into runs of at most `max` bytes. A
 * single line longer than `max` cannot be sent; it becomes a chunk of its own marked `tooLarge` (the
 * sink dead-letters it) and the cutting goes on after it.
 */
import type { Envelope } from '../../core/envelope';
import type { Encoding } from '../../core/sink';
import { encodeEventsJson, encodeEventsText, encodeJson } from '../encoding';

const NL = 0x0a;

export interface Chunk {
  readonly batch: Envelope;
  /** Index of this chunk within its record (the message id names the byte range: `offset`, length). */
  readonly index: number;
  readonly payload: Buffer;
  /** Set when `payload` is one line longer than the limit: it cannot be published. */
  readonly tooLarge: boolean;
  /** Byte offset of `payload` in the record's encoded bytes (to find its event ids when needed). */
  readonly offset: number;
}

/** The record's bytes as published: a view for `text` of plain lines, the events' text for `text` of events, NDJSON with event ids for `json`. */
export const encodeRecord = (encoding: Encoding, b: Envelope): Buffer => {
  if (encoding === 'text') return b.kind === 'events' ? encodeEventsText(b.lines) : b.lines;
  return b.kind === 'events' ? encodeEventsJson(b, b.lines, b.recordId) : encodeJson(b, b.lines, b.recordId);
};

/** Cuts `bytes` (complete lines) into chunks of at most `max` bytes, at line ends. */
export const chunksOf = (batch: Envelope, bytes: Buffer, max: number): Chunk[] => {
  const out: Chunk[] = [];
  let start = 0;
  const n = bytes.length;
  while (start < n) {
    if (n - start <= max) {
      out.push({ batch, index: out.length, payload: bytes.subarray(start), tooLarge: false, offset: start });
      break;
    }
    const cut = bytes.lastIndexOf(NL, start + max - 1);
    if (cut >= start) {
      out.push({ batch, index: out.length, payload: bytes.subarray(start, cut + 1), tooLarge: false, offset: start });
      start = cut + 1;
    } else {
      // One line longer than the limit: alone, marked.
      const nl = bytes.indexOf(NL, start);
      const end = nl === -1 ? n : nl + 1;
      out.push({ batch, index: out.length, payload: bytes.subarray(start, end), tooLarge: true, offset: start });
      start = end;
    }
  }
  return out;
};

/**
 * The event id of the first line of a chunk (counts the lines before it: only on the rare paths that
 * need it). With `text` of structured events a line is not an event (a multiline event's text is
 * several lines): the events' text ends say which event the chunk starts in.
 */
export const firstEventIdOf = (encoding: Encoding, bytes: Buffer, c: Chunk): number => {
  if (encoding === 'text' && c.batch.kind === 'events') {
    const ends: number[] = [];
    encodeEventsText(c.batch.lines, ends);
    let i = 0;
    while (i < ends.length && (ends[i] as number) <= c.offset) i++;
    return c.batch.recordId + i;
  }
  let lines = 0;
  let at = bytes.indexOf(NL);
  while (at !== -1 && at < c.offset) {
    lines++;
    at = bytes.indexOf(NL, at + 1);
  }
  return c.batch.recordId + lines;
};

/** The subject for a batch: `{source}` in the template is the source id, with characters a subject cannot hold replaced by `_`. */
export const subjectFor = (template: string, sourceId: string): string =>
  template.includes('{source}') ? template.replaceAll('{source}', sourceId.replace(/[^A-Za-z0-9_-]/g, '_') || '_') : template;
