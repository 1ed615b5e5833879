/**
 * The public contract of the write-ahead queue: what sources, sinks and the pipeline may rely on.
 * The implementation (format, group commit, recovery) lives beside this file; `./README.md`
 * documents the on-disk format, the invariants and the modules, and `./recovery-table.ts` holds the
 * recovery decision table.
 *
 * Ids: every event appended gets a monotonic 64-bit-safe id. A record holds one batch of `events`
 * events and is named by the id of its first event; the next record's id is `id + events`.
 * Ids are never reused, across restarts included, so a sink may use them as idempotency keys.
 */

import type { RecordId, SourcePosition } from '../core/records';
import type { QueueEventListener } from '../core/events';

export type { RecordId, SourcePosition } from '../core/records';
export { asRecordId } from '../core/records';
export type { QueueEvent, QueueEventListener } from '../core/events';

/** When an append's promise resolves. */
export type FsyncPolicy =
  /** After an fdatasync that covers the record (group commit): survives power loss. */
  | { readonly mode: 'always' }
  /** fdatasync at most every `intervalMs`; the append still resolves only after the fsync covering it. */
  | { readonly mode: 'interval'; readonly intervalMs: number }
  /** After the bytes are handed to the OS (write returned): survives a process crash, not power loss. */
  | { readonly mode: 'never' };

export interface AppendOptions {
  /** Events in the payload (default 1). Record ids advance by this many. Must be >= 1. */
  readonly events?: number;
  /** Positions that become durable together with this record. */
  readonly positions?: readonly SourcePosition[];
  /**
   * Gives the append up while it still waits (for space, or behind other appends): it then rejects
   * with `AppendAbortedError` and nothing of it is stored. Once a write took it, an abort changes
   * nothing: it resolves as usual. Either way the promise says which happened.
   */
  readonly signal?: AbortSignal;
}

export interface AppendResult {
  /** The id of the record (its first event). */
  readonly id: RecordId;
  /** The id the next record will get: `id + events`. */
  readonly nextId: RecordId;
}

export interface QueueRecord {
  readonly id: RecordId;
  readonly events: number;
  /** The payload bytes exactly as appended. */
  readonly payload: Buffer;
}

/** What opening the queue found and did. Never fatal: damage is reported here and in metrics. */
export interface RecoveryReport {
  readonly segments: number;
  readonly records: number;
  /** Bytes cut off the end of the last segment (a torn write). */
  readonly truncatedBytes: number;
  /** Records skipped because their checksum or framing was bad. */
  readonly corruptRecords: number;
  /** Events lost inside those corrupt records, computed from the ids around them. */
  readonly lostEvents: number;
  /** Files in the directory the queue did not recognise (left alone) or removed (temp files). */
  readonly unknownFiles: readonly string[];
  /** Consumers whose cursor file was missing or damaged and fell back to the oldest retained record. */
  readonly cursorsReset: readonly string[];
  /** Human-readable lines, one per finding, for the agent's diagnostics. */
  readonly notes: readonly string[];
}

export interface QueueMetrics {
  appendedRecords: number;
  appendedEvents: number;
  appendedBytes: number;
  ackedRecords: number;
  ackedEvents: number;
  deletedSegments: number;
  deletedBytes: number;
  fsyncs: number;
  fsyncSecondsTotal: number;
  corruptRecordsSkipped: number;
  /** Bytes currently retained on disk (all segments). */
  bytesOnDisk: number;
  /** True while appends are waiting for space (`max_bytes` reached). */
  full: boolean;
  /** Total milliseconds appends spent waiting for space. */
  fullMsTotal: number;
  /** Failed attempts to persist a consumer's cursor (timer, explicit flush, full writer, close). */
  cursorPersistFailures: number;
  /** Failed attempts to delete a fully consumed segment (or to make its deletion durable). */
  segmentDeleteFailures: number;
  /**
   * The id after the last durable record: consumers can read everything below it, so a consumer's
   * backlog is `headId - ackedUpTo` events.
   */
  headId: number;
  /**
   * Chunks of reused record memory allocated so far (./arena.ts): a steady stream, whatever the
   * consumers' lag, should need only a few. Each is `ARENA_CHUNK_BYTES`.
   */
  memoryChunksAllocated: number;
}

export interface Consumer {
  readonly name: string;
  /**
   * The next records after everything this consumer has already been given, in order.
   * Waits until at least one record is durable (per policy), or resolves `[]` when the queue closes
   * or `signal` aborts. Never returns a record that is not yet acknowledged to its appender.
   * Rejects with the queue's failure (`QueueIoError`) once a write or fsync failed: reading again
   * would never yield anything, so a loop that reads until `[]` with an abort must stop on it.
   */
  read(opts?: { maxRecords?: number; maxBytes?: number; signal?: AbortSignal }): Promise<QueueRecord[]>;
  /**
   * Acknowledge a delivered record (may be out of order; folds into a contiguous low-water mark).
   * `checkpoint`: the sink's state after this record (opaque to the queue, at most
   * `CURSOR_CHECKPOINT_MAX` bytes: the file sink's output identity and length). It is stored with the
   * cursor once the low-water mark passes the record, and handed back on the next start
   * (`checkpoint`), so a sink can match its destination to the cursor (docs/sinks.md).
   */
  ack(id: RecordId, checkpoint?: Uint8Array): void;
  /** The id below which every record is acknowledged (the persisted cursor once flushed). */
  readonly ackedUpTo: RecordId;
  /**
   * The sink checkpoint that goes with `ackedUpTo` (on open: the one stored with the cursor; after
   * a `rewind()`: the state to go back to before the replay), null: none. Always null
   * under `fsync: never`: a power loss there can take records past the cursor out of the log, so
   * what a sink wrote past its checkpoint may not come again and must stay.
   */
  readonly checkpoint: Uint8Array | null;
  /** Replace the checkpoint that goes with `ackedUpTo` (a sink's state before its first write of a run). */
  setCheckpoint(checkpoint: Uint8Array): void;
  /**
   * Write the cursor (and its checkpoint) into its file in place now, without an fsync: one small
   * pwrite that a process crash (`kill -9`) cannot lose; a power loss can (the timer's, a flush's or
   * close's fdatasync makes it durable). The pipeline calls it after every delivered group.
   */
  saveCursor(): Promise<void>;
  /** Persist the cursor now, durably (in place + fdatasync). Also done on a timer and on close. */
  flushCursor(): Promise<void>;
  /** Forget records handed out but not acked: the next read starts again at the low-water mark. */
  rewind(): void;
}

export interface QueueOptions {
  readonly dir: string;
  /** Names of the consumers (sinks). Each gets its own persisted cursor. */
  readonly consumers: readonly string[];
  readonly fsync?: FsyncPolicy;
  /** Segment size at which to roll to a new segment file (default 64 MiB). */
  readonly segmentBytes?: number;
  /**
   * Bound on the bytes retained on disk (default 1 GiB). Appends wait when it is reached. Must be at
   * least twice `segmentBytes` (space is freed a whole segment at a time); `openQueue` refuses less.
   */
  readonly maxBytes?: number;
  /**
   * Bytes of committed records not yet read by every consumer kept in memory, so consumers that
   * keep up read without touching the disk (default: 8 MiB, at most a quarter of `maxBytes`; 0 =
   * always read the segment files, i.e. the page cache). Resident memory; docs/queue.md "Memory".
   */
  readonly cacheBytes?: number;
  /** How often consumer cursors are persisted in the background (default 1000 ms). */
  readonly cursorFlushMs?: number;
  /**
   * Told about what happens in the background, where no caller awaits it: the queue full and with
   * space again, a cursor that cannot be persisted and persisted again, a segment that cannot be
   * deleted, the writer failing (`QueueEvent` in `src/core/events.ts`). Each episode is reported
   * once when it starts (and once when it ends, where it has an end); failed attempts in between are
   * counted in `metrics()`. Called synchronously; an exception it throws is ignored. Default: none.
   */
  readonly onEvent?: QueueEventListener;
}

export interface Queue {
  readonly recovery: RecoveryReport;
  /**
   * Resolves once the record is durable under the fsync policy; rejects only if the queue is closed
   * or I/O failed. A payload given as parts (`[header, lines]`) is copied into the queue's reused
   * memory before this returns (the parts may change at once); a single buffer is kept as it is
   * and must not change until the append resolves.
   */
  append(payload: Uint8Array | readonly Uint8Array[], opts?: AppendOptions): Promise<AppendResult>;
  /** The last durable position for every key (recovered on open, updated as appends become durable). */
  positions(): ReadonlyMap<string, Uint8Array>;
  consumer(name: string): Consumer;
  metrics(): Readonly<QueueMetrics>;
  /** Waits for in-flight appends, persists every cursor, releases the lock. */
  close(): Promise<void>;
}
