/**
 * The delivery contract between the pipeline and a sink (Vector's Driver + RetryLogic, in one
 * call). The pipeline's runner (`src/pipeline/sink-runner.ts`) reads a group of records from the
 * sink's queue consumer, hands the batches this sink subscribes to (`inputs`) to `write`, and acts
 * on the result:
 *
 *   delivered  every batch is where the sink promises it to be (the file sink: written and
 *              fdatasynced; the http sink: a 2xx): the group is acked.
 *   errored    nothing permanent happened: the runner retries the same group with capped
 *              exponential backoff and full jitter, forever, waiting at least `retryAfterMs` when the
 *              destination said so (HTTP `Retry-After`). A `write` that rejects is `errored` too.
 *   rejected   the destination refused these payloads for good (HTTP 400): each one goes, exactly as
 *              sent and with the reason, into the sink's dead-letter store (fsynced) and only then is
 *              the group acked. Any part of the group not listed was delivered.
 *
 * Retries, batching (`batch`), the per-request timeout and the concurrency (`request`) live once,
 * in the runner: a sink does one attempt per call and never sleeps.
 *
 * `signal` aborts when the request's timeout passes (`request.timeout`) or on the agent's hard
 * stop; a sink that can interrupt its I/O does so and answers `errored`.
 *
 * Every batch carries the id of the queue record it came from (`Envelope.recordId`). Ids are never
 * reused (under `fsync: always | interval`), so event `i` of a batch has the deterministic id
 * `recordId + i`: a sink may use it as an idempotency key (exactly-once into a destination that
 * deduplicates). Sinks that do declare `usesEventIds`, and the config refuses them with
 * `fsync: never`.
 */
import type { ComponentContext, SinkBaseConfig } from './component';
import type { Envelope } from './envelope';

export type Encoding = SinkBaseConfig['encoding'];

/** What a sink's factory gets: its id, diagnostics and the ports. */
export type SinkContext = ComponentContext;

export interface WriteOptions {
  /** Aborts at the request timeout or on the hard stop. */
  readonly signal: AbortSignal;
}

/** One payload the destination refused for good: what the dead-letter store keeps. */
export interface Rejection {
  /** Exactly the bytes that were refused (as sent: encoded, before compression). */
  readonly payload: Buffer;
  /** How to read `payload` again (`application/x-ndjson`, `text/plain`). */
  readonly contentType: string;
  /** Why, in words (e.g. `HTTP 400 Bad Request`). */
  readonly reason: string;
  /** The destination's status code, when it has one. */
  readonly status?: number;
  /** The first KiB of the destination's answer. */
  readonly response?: string;
  /** Event ids (record id + line index) of the first and last event in `payload`. */
  readonly firstEventId: number;
  readonly lastEventId: number;
  /** Events in `payload`. */
  readonly events: number;
}

/** A dead-lettered payload as kept: what `resend` sends again. */
export interface StoredPayload {
  readonly payload: Buffer;
  readonly contentType: string;
  readonly firstEventId: number;
  readonly lastEventId: number;
}

export type WriteResult =
  | {
      readonly status: 'delivered';
      /**
       * The sink's state after these batches, opaque to the pipeline (at most 476 bytes): stored
       * with the sink's cursor and handed back to `resume()` on the next start. See `Sink.resume`.
       */
      readonly checkpoint?: Uint8Array;
    }
  | {
      readonly status: 'errored';
      readonly error: unknown;
      /** Do not retry before this many ms (the destination's `Retry-After`). */
      readonly retryAfterMs?: number;
      /** Needs an operator (HTTP 401/403/404: credentials, a proxy, a path): reported as an error. */
      readonly alert?: boolean;
      /** Why, as one of a small fixed set (`sluice_sink_retries_total{reason}`); derived from `error` when absent. */
      readonly reason?: RetryReason;
    }
  | { readonly status: 'rejected'; readonly rejections: readonly Rejection[] };

export const DELIVERED: WriteResult = { status: 'delivered' };

/**
 * Why a write attempt failed: the `reason` label of `sluice_sink_retries_total` and the keys of
 * `retries_by_reason` in `/api/status`. A fixed set, so the number of series stays small.
 */
export const RETRY_REASONS = ['network', 'timeout', 'http_429', 'http_5xx', 'http_4xx', 'disk_full', 'io', 'nats', 'other'] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];

/** Error codes of a connection that failed or broke (Node's and undici's). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * The reason of an `errored` result: the sink's own, else read from the error's `code` or name (the
 * runner's request timeout or an abort, a full disk, a network error, another I/O error), else `other`.
 */
export const retryReasonOf = (r: { readonly error: unknown; readonly reason?: RetryReason }): RetryReason => {
  if (r.reason !== undefined) return r.reason;
  const e = r.error as { code?: unknown; name?: unknown } | null;
  // A write is aborted only by its request timeout (the runner ignores attempts cut by the hard stop).
  if (e?.name === 'AbortError' || e?.name === 'TimeoutError') return 'timeout';
  const code = e?.code;
  if (typeof code !== 'string') return 'other';
  if (code === 'SLUICE_SINK_TIMEOUT' || code === 'ABORT_ERR') return 'timeout';
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'disk_full';
  if (NETWORK_CODES.has(code)) return 'network';
  return /^E[A-Z0-9]+$/.test(code) ? 'io' : 'other';
};

export interface Sink {
  /**
   * Called once before the first `write()` with the checkpoint stored with the cursor delivery
   * resumes from (null: none, a first start, or `fsync: never`). The cursor is written in place
   * after every delivered group (no fsync: a `kill -9` cannot lose it) and made durable on the
   * cursor interval, so after any crash delivery resumes at a cursor whose checkpoint says what the
   * destination held at that point: a sink that can cut its destination back to it (the file sink
   * truncates its output to the recorded length) delivers exactly once; one that cannot repeats
   * what it delivered after the checkpoint (at most the groups in flight, `request.concurrency`).
   * It resolves to the checkpoint of the destination as it is now (the file sink: its output,
   * created if missing, and its length), which is made durable with the cursor before the first
   * write: so a crash before the first group's cursor is saved cuts back to it too (a first start
   * included).
   * A rejection is reported and retried with backoff before any write.
   */
  resume?(checkpoint: Uint8Array | null, opts: WriteOptions): Promise<Uint8Array | null>;
  /**
   * Called before each attempt at writing a group (a retry too): a sink whose destination changed
   * under it (the file sink reopened its path after SIGHUP, a rotation or a failed write) answers the
   * new destination's checkpoint, which is made durable with the cursor (fdatasynced, not only saved
   * in place) before the group is written; null when nothing changed. A rejection, or a failure to
   * make the checkpoint durable, is a failed attempt (retried).
   */
  prepare?(): Promise<Uint8Array | null>;
  /**
   * One attempt at delivering these batches (in order). On `errored` (or a rejection of the
   * promise) the sink leaves its destination as it was before the call where it can (the file sink
   * truncates a partial write away), so a retry does not duplicate.
   */
  write(batches: readonly Envelope[], opts: WriteOptions): Promise<WriteResult>;
  /**
   * Send one dead-lettered payload again as it was stored (`sluice dead-letter replay`). Sinks
   * that cannot (a local file has nothing to refuse) leave it out.
   */
  resend?(entry: StoredPayload, opts: WriteOptions): Promise<WriteResult>;
  /** Reopen the destination before the next write (SIGHUP: the file was rotated away). */
  reopen(): void;
  /** Release the destination. Called once, after the last write settled. */
  close(): Promise<void>;
}
