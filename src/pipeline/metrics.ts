/**
 * The agent's counters. Per-batch numbers are plain fields updated in place on the hot path (one
 * add per batch); everything about episodes (a sink failing, invalid records, the queue full,
 * cursors that cannot be persisted) is derived from the agent's events by `observe`, so the
 * Prometheus counters and `/health` say exactly what the events said.
 */
import { errorText } from '../core/diagnostics';
import type { AgentEvent } from '../core/events';
import type { SourceStats } from '../core/source';
import { RETRY_REASONS, type RetryReason } from '../core/sink';

export interface SourceCounters {
  events: number;
  bytes: number;
  batches: number;
}

export interface SinkCounters {
  /** Events written to the destination. */
  events: number;
  bytes: number;
  /** Records acknowledged to the queue (written, or not for this sink). */
  records: number;
  /** Events in records of sources this sink does not subscribe to (acked without writing). */
  skippedEvents: number;
  /** Failed write attempts. */
  errors: number;
  /** Failed write attempts by reason (they add up to `errors`). */
  readonly retriesByReason: Record<RetryReason, number>;
  /** Records whose envelope could not be decoded (reported, dead-lettered and acked, never delivered). */
  invalidRecords: number;
  /** Events put in the dead-letter store (refused for good, or in undecodable records). */
  deadLetteredEvents: number;
  /** Dead-letter entries written. */
  deadLetterEntries: number;
  /** 1 while the dead-letter store cannot take an entry (the sink waits). */
  deadLetterBlocked: number;
  /** 1 while the sink is failing (between a failed write and the next successful one). */
  failing: number;
  /** The last write error, while failing. */
  lastError: string | undefined;
  /**
   * Ingest time (wall ms) of the oldest record handed to the sink and not yet acknowledged; after a
   * group is acked, its newest record's (what follows was ingested no earlier). NaN before the first
   * read. Set once per group, not per line.
   */
  oldestIngestMs: number;
  /** Ingest → acknowledged, observed once per delivered batch (queue record), not per line. */
  readonly latency: Histogram;
}

/** Upper bounds (seconds) of the delivery latency histogram's buckets (+Inf is implied). */
export const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600];

/** A fixed-bucket histogram (Prometheus semantics once made cumulative); one add per observation. */
export class Histogram {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > (this.bounds[i] ?? Infinity)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += v;
    this.count++;
  }
}

export class AgentMetrics {
  readonly sources = new Map<string, SourceCounters>();
  /** Each running source's own counters (requests, connections, parse failures…), read at scrape time. */
  readonly sourceStats = new Map<string, () => SourceStats>();
  readonly sinks = new Map<string, SinkCounters>();
  /** How many events of each type the agent has emitted. */
  readonly eventCounts = new Map<AgentEvent['type'], number>();
  /** Queue consumers whose cursor cannot be persisted right now, with the error. */
  readonly cursorPersistFailing = new Map<string, string>();
  queueFull = false;

  source(id: string): SourceCounters {
    let c = this.sources.get(id);
    if (!c) this.sources.set(id, (c = { events: 0, bytes: 0, batches: 0 }));
    return c;
  }

  sink(id: string): SinkCounters {
    let c = this.sinks.get(id);
    if (!c) {
      c = {
        events: 0,
        bytes: 0,
        records: 0,
        skippedEvents: 0,
        errors: 0,
        retriesByReason: Object.fromEntries(RETRY_REASONS.map((r) => [r, 0])) as Record<RetryReason, number>,
        invalidRecords: 0,
        deadLetteredEvents: 0,
        deadLetterEntries: 0,
        deadLetterBlocked: 0,
        failing: 0,
        lastError: undefined,
        oldestIngestMs: NaN,
        latency: new Histogram(),
      };
      this.sinks.set(id, c);
    }
    return c;
  }

  /** Fold one agent event into the counters. */
  observe(e: AgentEvent): void {
    this.eventCounts.set(e.type, (this.eventCounts.get(e.type) ?? 0) + 1);
    switch (e.type) {
      case 'sink.failing': {
        const c = this.sink(e.sink);
        c.failing = 1;
        c.lastError = errorText(e.error);
        break;
      }
      case 'sink.recovered': {
        const c = this.sink(e.sink);
        c.failing = 0;
        c.lastError = undefined;
        break;
      }
      case 'sink.record-invalid':
        this.sink(e.sink).invalidRecords++;
        break;
      case 'sink.dead-lettered': {
        const c = this.sink(e.sink);
        c.deadLetteredEvents += e.events;
        c.deadLetterEntries++;
        break;
      }
      case 'sink.dead-letter-blocked':
        this.sink(e.sink).deadLetterBlocked = 1;
        break;
      case 'sink.dead-letter-resumed':
        this.sink(e.sink).deadLetterBlocked = 0;
        break;
      case 'queue.full':
        this.queueFull = true;
        break;
      case 'queue.space':
        this.queueFull = false;
        break;
      case 'queue.cursor-persist-failed':
        this.cursorPersistFailing.set(e.consumer, errorText(e.error));
        break;
      case 'queue.cursor-persisted':
        this.cursorPersistFailing.delete(e.consumer);
        break;
      default:
        break;
    }
  }
}
