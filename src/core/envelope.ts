/**
 * The payload of every queue record the agent writes: a small binary envelope around one source
 * batch. One record per batch (sources emit up to ~1 MiB), so the envelope costs nothing per line.
 *
 * Layout (all integers little-endian):
 *
 *   offset  size  field
 *   0       1     version             = 1
 *   1       1     kind                0 = lines, 1 = marker (no data; see below), 2 = events
 *   2       2     source id length S  (UTF-8 bytes, <= 65535)
 *   4       4     origin length O     (UTF-8 bytes; 0 = no origin: a source that gives none)
 *   8       8     ingest time         float64, ms since the Unix epoch (wall clock at emit)
 *   16      S     source id
 *   16+S    O     origin (the file path for the file source)
 *   16+S+O  rest  the lines, exactly the bytes the source gave (complete lines, each ending in \n)
 *
 * The lines are the tail of the payload, so decoding returns a view (`subarray`), never a copy:
 * the text encoding writes that slice straight to its destination without looking at single lines.
 *
 * An `events` record carries structured events (network sources: syslog, HTTP, OTLP, NATS; file and
 * stdin with `multiline` or `decoding`): the tail is NDJSON, one JSON object per event, each ending
 * in `\n`. The text encoding writes each event's `message` (its JSON line when it has no string
 * `message`; `src/sinks/encoding.ts`); the JSON encoding adds `source` and `timestamp` where absent.
 *
 * A `marker` record carries no data: the agent appends one when it must learn the queue's head (the
 * id every sink has to reach to be drained) and appended nothing itself during this run. Sinks ack
 * markers without writing anything.
 *
 * Version rule: a reader refuses versions it does not know (the record is reported and skipped,
 * never delivered half-understood). A new field means a new version number.
 */

import type { RecordId } from './records';

export const ENVELOPE_VERSION = 1;
const HEADER = 16;
/** The envelope's fixed header; the source id and the origin follow it. */
export const ENVELOPE_HEADER_BYTES = HEADER;

export type EnvelopeKind = 'lines' | 'marker' | 'events';

const KIND_BYTE: Readonly<Record<EnvelopeKind, number>> = { lines: 0, marker: 1, events: 2 };
const KINDS: readonly EnvelopeKind[] = ['lines', 'marker', 'events'];

/** One decoded record: a batch of lines from one source. */
export interface Envelope {
  /** The queue record this batch is: event `i` of the batch has the id `recordId + i`, for ever. */
  readonly recordId: RecordId;
  readonly kind: EnvelopeKind;
  readonly sourceId: string;
  /** Where the lines came from (the file path; `"stdin"` for stdin); `undefined` when the source gives none. */
  readonly origin: string | undefined;
  /** Milliseconds since the epoch when the agent received the batch. */
  readonly ingestMs: number;
  /** Complete lines, each ending in `\n` (for `events`: one JSON object per line): a view into the record's payload. */
  readonly lines: Buffer;
  /** Number of lines (the record's event count). */
  readonly events: number;
}

export class EnvelopeError extends Error {
  readonly code = 'SLUICE_ENVELOPE_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

/** Builds the payload: one allocation and one copy of the lines per batch. */
export const encodeEnvelope = (
  kind: EnvelopeKind,
  sourceId: string,
  origin: string | undefined,
  ingestMs: number,
  lines: Uint8Array,
): Buffer => {
  const s = Buffer.byteLength(sourceId);
  if (s > 0xffff) throw new EnvelopeError(`source id longer than 65535 bytes`);
  const o = origin === undefined ? 0 : Buffer.byteLength(origin);
  const buf = Buffer.allocUnsafe(HEADER + s + o + lines.length);
  buf[0] = ENVELOPE_VERSION;
  buf[1] = KIND_BYTE[kind];
  buf.writeUInt16LE(s, 2);
  buf.writeUInt32LE(o, 4);
  buf.writeDoubleLE(ingestMs, 8);
  buf.write(sourceId, HEADER, 'utf8');
  if (origin !== undefined) buf.write(origin, HEADER + s, 'utf8');
  buf.set(lines, HEADER + s + o);
  return buf;
};

/** Decodes a record's payload; throws `EnvelopeError` when it is not one this version understands. */
export const decodeEnvelope = (payload: Buffer, events: number, recordId: RecordId): Envelope => {
  if (payload.length < HEADER) throw new EnvelopeError(`record of ${payload.length} bytes is shorter than the envelope header`);
  const version = payload[0];
  if (version !== ENVELOPE_VERSION) throw new EnvelopeError(`unknown envelope version ${String(version)}`);
  const kindByte = payload[1] ?? 255;
  const kind = KINDS[kindByte];
  if (kind === undefined) throw new EnvelopeError(`unknown envelope kind ${String(kindByte)}`);
  const s = payload.readUInt16LE(2);
  const o = payload.readUInt32LE(4);
  if (HEADER + s + o > payload.length) throw new EnvelopeError(`envelope header claims ${s + o} bytes of names in a ${payload.length}-byte record`);
  return {
    recordId,
    kind,
    sourceId: payload.toString('utf8', HEADER, HEADER + s),
    origin: o === 0 ? undefined : payload.toString('utf8', HEADER + s, HEADER + s + o),
    ingestMs: payload.readDoubleLE(8),
    lines: payload.subarray(HEADER + s + o),
    events,
  };
};
