/**
 * The agent's own state changes, as values. Every component reports what happens to it as one of
 * these events on one channel (`EventChannel`); the stderr lines, the Prometheus counters and
 * `/health` are derived from that channel, and tests assert on events rather than on log text.
 *
 * An "episode" (a sink failing, the queue full, cursors that cannot be persisted) is reported when
 * it starts and when it ends; what happens in between is counted, not repeated.
 */

/** What the queue reports about itself, in the background (nobody awaits these operations). */
export type QueueEvent =
  /** Appends wait for space: `max_bytes` is reached (an episode; ends with `queue.space`). */
  | { readonly type: 'queue.full'; readonly bytesOnDisk: number; readonly maxBytes: number }
  | { readonly type: 'queue.space'; readonly waitedMs: number }
  /** A consumer's cursor could not be persisted (an episode per consumer; ends with `queue.cursor-persisted`). */
  | { readonly type: 'queue.cursor-persist-failed'; readonly consumer: string; readonly error: unknown }
  | { readonly type: 'queue.cursor-persisted'; readonly consumer: string }
  /** A fully consumed segment could not be deleted; it is kept (and counted) and retried later. */
  | { readonly type: 'queue.segment-delete-failed'; readonly segment: string; readonly error: unknown }
  /** A write or fsync failed: the queue is failed; appends and reads reject from now on. */
  | { readonly type: 'queue.failed'; readonly error: unknown };

export type QueueEventListener = (event: QueueEvent) => void;
