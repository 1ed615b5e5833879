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
  /**
   * Appends wait for space (an episode; ends with `queue.space`): `max_bytes` is reached, or
   * (`reason: 'disk-full'`) the disk refused a write (ENOSPC, EDQUOT: `error`); the queue retries
   * when it deleted a segment and every few hundred milliseconds. No `reason`: `max-bytes`.
   */
  | {
      readonly type: 'queue.full';
      readonly bytesOnDisk: number;
      readonly maxBytes: number;
      readonly reason?: 'max-bytes' | 'disk-full';
      readonly error?: unknown;
    }
  | { readonly type: 'queue.space'; readonly waitedMs: number }
  /** A consumer's cursor could not be persisted (an episode per consumer; ends with `queue.cursor-persisted`). */
  | { readonly type: 'queue.cursor-persist-failed'; readonly consumer: string; readonly error: unknown }
  | { readonly type: 'queue.cursor-persisted'; readonly consumer: string }
  /** A fully consumed segment could not be deleted; it is kept (and counted) and retried later. */
  | { readonly type: 'queue.segment-delete-failed'; readonly segment: string; readonly error: unknown }
  /** A write or fsync failed: the queue is failed; appends and reads reject from now on. */
  | { readonly type: 'queue.failed'; readonly error: unknown }
  /**
   * A consumer found ids [fromId, toId) durable but not readable back from the segment files
   * (damaged, or a cursor inside a gap) and went on after them: those events are lost to it.
   */
  | { readonly type: 'queue.records-skipped'; readonly consumer: string; readonly fromId: number; readonly toId: number };

export type QueueEventListener = (event: QueueEvent) => void;

/** Everything the agent reports about itself: the queue's events plus the pipeline's own. */
export type AgentEvent =
  | QueueEvent
  /** Something `openQueue` found and did on start (a torn tail cut, a cursor reset, …). */
  | { readonly type: 'queue.recovery-note'; readonly note: string }
  /** `queue.max_bytes` is more than the data_dir's disk can hold for the queue. */
  | { readonly type: 'queue.disk-small'; readonly dataDir: string; readonly maxBytes: number; readonly roomBytes: number }
  | {
      readonly type: 'agent.started';
      readonly sources: readonly { readonly id: string; readonly type: string }[];
      readonly sinks: readonly { readonly id: string; readonly type: string }[];
      readonly queueDir: string;
    }
  /** A sink reads a source that cannot acknowledge (stdin): lines it held when the process died are lost. */
  | { readonly type: 'agent.unacknowledged-input'; readonly sink: string; readonly source: string; readonly sourceType: string }
  | { readonly type: 'agent.api-failed'; readonly error: unknown }
  | { readonly type: 'api.listening'; readonly host: string; readonly port: number }
  /** The api server's own error after it started (a client socket error is not one). */
  | { readonly type: 'api.error'; readonly error: unknown }
  /** First stop request: intake stops, sinks drain for up to `timeoutMs`. */
  | { readonly type: 'agent.stopping'; readonly reason: string; readonly timeoutMs: number }
  /** Second stop request: stop at once. */
  | { readonly type: 'agent.stopping-now'; readonly reason: string }
  | { readonly type: 'agent.sources-ended' }
  | { readonly type: 'agent.drain-timeout'; readonly timeoutMs: number }
  /** Sinks failing without progress for `timeoutMs` after every source ended: the agent gives up. */
  | { readonly type: 'agent.drain-stuck'; readonly sinks: readonly string[]; readonly timeoutMs: number }
  | { readonly type: 'agent.reopen-sinks' }
  /** Closing the queue failed (cursors, the active segment, the lock) for a reason `queue.failed` did not report already. */
  | { readonly type: 'agent.queue-close-failed'; readonly error: unknown }
  | { readonly type: 'agent.stopped'; readonly drained: boolean; readonly written: Readonly<Record<string, number>> }
  /** Periodic counters and memory (debug). */
  | { readonly type: 'agent.stats'; readonly fields: Readonly<Record<string, unknown>> }
  | { readonly type: 'source.ended'; readonly source: string }
  /** The source failed because the queue failed: the agent stops (exit 1). */
  | { readonly type: 'source.failed'; readonly source: string; readonly error: unknown }
  /** The source threw (a bug, a poison input): it is created again after `retryInMs`; others flow on. */
  | { readonly type: 'source.restarting'; readonly source: string; readonly attempt: number; readonly retryInMs: number; readonly error: unknown }
  /** A write failed and is retried (the first failure of an episode, then at most every `reportEveryMs`). */
  | {
      readonly type: 'sink.failing';
      readonly sink: string;
      readonly attempt: number;
      readonly retryInMs: number;
      readonly error: unknown;
      /** Failures since the last report that were counted, not reported. */
      readonly unreported: number;
      /** Needs an operator (HTTP 401/403/404): reported as an error, every time. */
      readonly alert?: boolean;
    }
  | { readonly type: 'sink.recovered'; readonly sink: string; readonly failedAttempts: number }
  /**
   * The sink is far behind (a replay after an outage or a restart): reported when it starts and then
   * every few seconds while it lasts (an episode; ends with `sink.caught-up`).
   */
  | {
      readonly type: 'sink.behind';
      readonly sink: string;
      /** Events in the queue this sink has not acknowledged yet. */
      readonly backlogEvents: number;
      /** Events the sink acknowledged per second, lately. */
      readonly eventsPerSecond: number;
      /** At the rate the backlog shrank lately; `undefined` while it does not shrink. */
      readonly etaSeconds: number | undefined;
      /** Age of the oldest record not yet acknowledged (`undefined`: not known yet). */
      readonly oldestAgeSeconds: number | undefined;
    }
  | { readonly type: 'sink.caught-up'; readonly sink: string; readonly backlogEvents: number; readonly behindMs: number }
  /** A record whose envelope cannot be decoded: it can never be delivered (dead-lettered, then acked, counted). */
  | { readonly type: 'sink.record-invalid'; readonly sink: string; readonly recordId: number; readonly events: number; readonly error: unknown }
  /** A payload the destination refused for good (or an undecodable record) is in the dead-letter store, fsynced. */
  | {
      readonly type: 'sink.dead-lettered';
      readonly sink: string;
      /** The entry's path. */
      readonly file: string;
      readonly reason: string;
      readonly status: number | undefined;
      readonly firstEventId: number;
      readonly lastEventId: number;
      readonly events: number;
      readonly bytes: number;
    }
  /**
   * The dead-letter store cannot take an entry (full, or a disk error): the sink waits and tries
   * again, acking nothing meanwhile (an episode; ends with `sink.dead-letter-resumed`).
   */
  | { readonly type: 'sink.dead-letter-blocked'; readonly sink: string; readonly error: unknown }
  | { readonly type: 'sink.dead-letter-resumed'; readonly sink: string; readonly waitedMs: number }
  /** The sink's first cursor persist of this run failed (the cursor timer retries). */
  | { readonly type: 'sink.cursor-deferred'; readonly sink: string; readonly error: unknown }
  /** The sink's loop ended with an error: the agent stops gracefully (exit 1). */
  | { readonly type: 'sink.stopped'; readonly sink: string; readonly error: unknown }
  | { readonly type: 'sink.close-failed'; readonly sink: string; readonly error: unknown };

export type AgentEventType = AgentEvent['type'];

/**
 * One channel of events. Listeners run synchronously, in subscription order; a listener that
 * throws (a broken stderr) is isolated: the emitter and the other listeners carry on.
 */
export class EventChannel<E extends { readonly type: string }> {
  private listeners: ((event: E) => void)[] = [];

  /** Returns the function that unsubscribes. */
  subscribe(listener: (event: E) => void): () => void {
    this.listeners = [...this.listeners, listener];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  emit(event: E): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A listener's failure (e.g. EPIPE on stderr) must never stop the data path.
      }
    }
  }
}
