/** The agent's counters. Plain numbers, updated in place on the hot path (one add per batch). */

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
  /** Records whose envelope could not be decoded (reported and acked, never delivered). */
  invalidRecords: number;
  /** 1 while the sink is failing (between a failed write and the next successful one). */
  failing: number;
}

export class AgentMetrics {
  readonly sources = new Map<string, SourceCounters>();
  readonly sinks = new Map<string, SinkCounters>();

  source(id: string): SourceCounters {
    let c = this.sources.get(id);
    if (!c) this.sources.set(id, (c = { events: 0, bytes: 0, batches: 0 }));
    return c;
  }

  sink(id: string): SinkCounters {
    let c = this.sinks.get(id);
    if (!c) this.sinks.set(id, (c = { events: 0, bytes: 0, records: 0, skippedEvents: 0, errors: 0, invalidRecords: 0, failing: 0 }));
    return c;
  }
}
