/**
 * The record model every component shares. The queue stores records; sources put positions in
 * them; sinks receive them with their ids.
 *
 * Ids: every event appended gets a monotonic 64-bit-safe id. A record holds one batch of `events`
 * events and is named by the id of its first event; the next record's id is `id + events`. Ids are
 * never reused, across restarts included, so `(record id, line index)` — equivalently the event id
 * `recordId + index` — names one event for ever: the key to idempotent and exactly-once delivery.
 */

declare const recordIdBrand: unique symbol;
/** The id of a record: the id of its first event. Never mixed up with byte offsets or counts. */
export type RecordId = number & { readonly [recordIdBrand]: 'RecordId' };
export const asRecordId = (n: number): RecordId => n as RecordId;

/** An opaque source position ("checkpoint") made durable in the same write as the data it describes. */
export interface SourcePosition {
  /** Stable key, e.g. `app:3f2a…` (source id + file fingerprint). */
  readonly key: string;
  /** Opaque to the queue. `null` forgets the key (e.g. the file is gone for good). */
  readonly value: Uint8Array | null;
}
