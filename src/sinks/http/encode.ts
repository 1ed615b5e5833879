/**
 * What the http sink sends, and how it cuts a group in halves after a 413.
 *
 * A group is a list of parts; a part is a run of consecutive events of one batch (`first` is the
 * line index of its first event in the batch, so its event ids are `recordId + first …`). A fresh
 * group has one part per batch; only a 413 cuts parts, at line boundaries.
 *
 * Bodies:
 *   - `json` (`application/x-ndjson`): one object per event, `event_id` first, then the fields of
 *     the sink encoding (`message`, `source`, `file`, `timestamp`; structured events keep their own
 *     fields, and get `source` and `timestamp` where absent). `event_id` is always the sluice id.
 *   - `text` (`text/plain`): the lines exactly as read, or each structured event's text (its
 *     `message`; `../encoding.ts`); the event ids are in the `Idempotency-Key`.
 */
import type { Envelope } from '../../core/envelope';
import type { Encoding } from '../../core/sink';
import { encodeEventsJson, encodeEventsText, encodeJson } from '../encoding';

const NL = 0x0a;

export interface Part {
  readonly batch: Envelope;
  /** Line index (in `batch`) of the first event. */
  readonly first: number;
  readonly events: number;
  /** The part's lines (a view into the batch). */
  readonly lines: Buffer;
}

export const partsOf = (batches: readonly Envelope[]): Part[] => {
  const out: Part[] = [];
  for (const b of batches) if (b.events > 0 && b.lines.length > 0) out.push({ batch: b, first: 0, events: b.events, lines: b.lines });
  return out;
};

export const eventCount = (parts: readonly Part[]): number => {
  let n = 0;
  for (const p of parts) n += p.events;
  return n;
};

/** Event ids of the first and last event of a non-empty list of parts. */
export const idRange = (parts: readonly Part[]): { first: number; last: number } => {
  const a = parts[0] as Part;
  const z = parts[parts.length - 1] as Part;
  return { first: a.batch.recordId + a.first, last: z.batch.recordId + z.first + z.events - 1 };
};

/** Two halves by events (a part is cut at a line boundary when one part holds more than half). */
export const splitParts = (parts: readonly Part[]): [Part[], Part[]] => {
  const half = Math.ceil(eventCount(parts) / 2);
  const left: Part[] = [];
  const right: Part[] = [];
  let taken = 0;
  for (const p of parts) {
    if (taken >= half) right.push(p);
    else if (taken + p.events <= half) {
      left.push(p);
      taken += p.events;
    } else {
      const k = half - taken; // events of p that go left, 0 < k < p.events
      let at = 0;
      for (let i = 0; i < k; i++) at = p.lines.indexOf(NL, at) + 1;
      left.push({ batch: p.batch, first: p.first, events: k, lines: p.lines.subarray(0, at) });
      right.push({ batch: p.batch, first: p.first + k, events: p.events - k, lines: p.lines.subarray(at) });
      taken = half;
    }
  }
  return [left, right];
};

export const contentTypeOf = (encoding: Encoding): string => (encoding === 'json' ? 'application/x-ndjson' : 'text/plain');

/** The body as slices (no copy for `text` of plain lines). */
export const encodeParts = (encoding: Encoding, parts: readonly Part[]): Buffer[] => {
  if (encoding === 'text') return parts.map((p) => (p.batch.kind === 'events' ? encodeEventsText(p.lines) : p.lines));
  return parts.map((p) =>
    p.batch.kind === 'events' ? encodeEventsJson(p.batch, p.lines, p.batch.recordId + p.first) : encodeJson(p.batch, p.lines, p.batch.recordId + p.first),
  );
};
