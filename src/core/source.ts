/**
 * The contract between sources and the pipeline.
 *
 * A source turns input into batches of complete lines and hands each batch to `ctx.emit`. The
 * promise `emit` returns resolves only when the batch is durable in the queue (together with the
 * positions the batch carries); only then may the source consider that input consumed. A source
 * that is stopped finishes (or abandons, without advancing its positions) the batch in hand and
 * resolves `run()`.
 */
import type { Diagnostics } from './diagnostics';
import type { SourcePosition } from './records';

export type { Diagnostics } from './diagnostics';

export interface SourceBatch {
  /**
   * Complete lines, each ending in `\n` (a `\r\n` ending is kept as read). Never a partial line.
   * With `format: 'events'`, each line is one JSON object (NDJSON): a structured event.
   */
  readonly lines: Buffer;
  /** `lines` (default): raw lines as read. `events`: one JSON object per line (network sources). */
  readonly format?: 'lines' | 'events';
  /** Number of lines in `lines` (>= 1). */
  readonly events: number;
  /** Where the lines came from (the file path for the file source); carried into JSON output. */
  readonly origin?: string;
  /** Positions made durable with this batch (the file source: fingerprint + offset per file). */
  readonly positions?: readonly SourcePosition[];
}

export interface EmitOptions {
  /**
   * Gives the batch up while its append still waits (for queue space): `emit` then rejects with an
   * error whose `code` is `SLUICE_QUEUE_APPEND_ABORTED` and nothing of the batch is stored. Once the
   * queue wrote it, an abort changes nothing and `emit` resolves as usual.
   */
  readonly signal?: AbortSignal;
}

/**
 * What a source counts, for `/metrics` and `/api/status` (docs/operations.md). Each source gives the
 * keys that apply to it; a key left out is not shown for that source.
 */
export interface SourceStats {
  /** Answers by HTTP status code (http, otlp). */
  readonly responses?: Readonly<Record<number, number>>;
  /** Requests answered 503 because the queue was full. */
  readonly refusedFull?: number;
  /** Appends given up while they waited for space: nothing of them stored. */
  readonly appendsGivenUp?: number;
  /** Connections open now, accepted in all, and closed at once because `max_connections` were open. */
  readonly openConnections?: number;
  readonly connections?: number;
  readonly refusedConnections?: number;
  /** Input that did not parse (kept raw: syslog, and file/stdin `decoding: json|cri`; refused alone: OTLP log records). */
  readonly parseFailures?: number;
  /** UDP datagrams the source could not take. */
  readonly datagramsDropped?: number;
  /** Failed TLS handshakes, and SIGHUP reloads of the TLS files that failed (the old certificate stays). */
  readonly tlsErrors?: number;
  readonly tlsReloadFailures?: number;
  /** Events of a sluice sender recognised as already taken: answered 200, not appended again (http). */
  readonly deduplicated?: number;
  /** Events of more than one line, and events cut at `multiline.max_lines` / `max_bytes` (file, stdin). */
  readonly multilineEvents?: number;
  readonly cutEvents?: number;
}

export interface SourceContext {
  /** The source's id from the config (`sources.<id>`). Position keys must start with `<id>:`. */
  readonly id: string;
  /**
   * Resolves when the batch (and its positions) are durable in the queue. `emit` takes what it
   * needs of `batch.lines` before it returns (synchronously), so the source may reuse that memory
   * (its read buffer) as soon as the call returns — it need not wait for the promise.
   */
  emit(batch: SourceBatch, opts?: EmitOptions): Promise<void>;
  /** Last durable positions recovered from the queue, for every key (filter on your `<id>:` prefix). */
  readonly positions: ReadonlyMap<string, Uint8Array>;
  readonly log: Diagnostics;
  /** Aborted when the agent stops taking input. */
  readonly signal: AbortSignal;
  /**
   * True while the queue is at `max_bytes` and appends wait for space. A request-driven source
   * (HTTP) checks it before taking a request and answers "busy" (503 + Retry-After) at once rather
   * than holding the client while `emit` waits. Absent where there is no queue to ask (unit tests):
   * treat as never full.
   */
  readonly full?: () => boolean;
  /**
   * The most bytes one batch may take — its lines, its origin and its positions, as `batchBytes`
   * counts them — since a batch is one queue record and a record never spans two segments. A larger
   * batch is refused (`emit` rejects with `SLUICE_QUEUE_RECORD_TOO_LARGE`: the queue is fine); a
   * source whose input can outgrow it cuts the input into several batches at event boundaries.
   * Absent where there is no queue (unit tests): no bound.
   */
  readonly recordBytes?: number;
}

/** The bytes of a batch that count toward `SourceContext.recordBytes`: lines, origin and encoded positions. */
export const batchBytes = (batch: SourceBatch): number =>
  batch.lines.length + (batch.origin === undefined ? 0 : Buffer.byteLength(batch.origin)) + positionsBytes(batch.positions ?? []);

/** The queue's encoding of positions (`u32` count, then per key `u16` length, key, `u32` length, value). */
export const positionsBytes = (positions: readonly SourcePosition[]): number => {
  if (positions.length === 0) return 0;
  let n = 4;
  for (const p of positions) n += 2 + Buffer.byteLength(p.key) + 4 + (p.value === null ? 0 : p.value.length);
  return n;
};

export interface Source {
  /** Runs until `ctx.signal` aborts and the batch in hand is emitted (or the input ends: stdin EOF). */
  run(ctx: SourceContext): Promise<void>;
  /** Its counters now (read at scrape time, never on the hot path). */
  stats?(): SourceStats;
  /** SIGHUP: read again what was read from files at start (TLS certificates). Never rejects. */
  reload?(): Promise<void>;
}
