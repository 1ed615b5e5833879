/**
 * The agent's live status: rates over the last minutes, each sink's backlog and the age of its
 * oldest unacknowledged record, failing sinks, recent warnings. What `/api/status`, the status page
 * and `sluice top` show, and where the `sink.behind` / `sink.caught-up` events come from.
 *
 * No hot-path cost: `sample()` runs once a second (the agent's timer) and reads the counters the
 * pipeline keeps anyway (`AgentMetrics`), the queue's head id and each sink's `ackedUpTo`. Warnings
 * come from the agent's events (episodic, never per line). Time comes from the `Clock` port, so a
 * test drives the samples.
 *
 * Backlog = `headId - ackedUpTo`: events durable in the queue that the sink has not acknowledged
 * (records of sources it does not read count too until it skips them, which is immediate).
 * Oldest unacked age: from the ingest time of the oldest record the sink holds (it reads in order,
 * so that is the oldest unacknowledged one; between two groups, the newest of the last acked group:
 * a lower bound). Never more than the time since a sample last saw the backlog at 0, so records that
 * arrive after a long idle time are not reported as old.
 */
import type { AgentEvent, EventChannel } from '../core/events';
import type { Clock } from '../core/ports';
import type { AgentMetrics } from './metrics';
import { describeEvent } from './report';

/** A fixed-size ring of per-second samples, oldest first when read. */
export class Series {
  private readonly values: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity);
  }

  push(v: number): void {
    this.values[this.next] = v;
    this.next = (this.next + 1) % this.capacity;
    if (this.filled < this.capacity) this.filled++;
  }

  get length(): number {
    return this.filled;
  }

  /** The `i`-th newest value (0 = the last pushed); `undefined` past the oldest. */
  back(i: number): number | undefined {
    if (i < 0 || i >= this.filled) return undefined;
    return this.values[(this.next - 1 - i + this.capacity) % this.capacity];
  }

  toArray(): number[] {
    const out: number[] = [];
    for (let i = this.filled - 1; i >= 0; i--) out.push(this.back(i) ?? 0);
    return out;
  }
}

export interface ComponentStatus {
  readonly id: string;
  readonly type: string;
  readonly events: number;
  readonly bytes: number;
  /** Over the last sample interval (about a second). */
  readonly eventsPerSecond: number;
  readonly bytesPerSecond: number;
  /** Per-second rates, oldest first, one value a sample (at most `historySeconds`). */
  readonly history: { readonly eventsPerSecond: readonly number[]; readonly bytesPerSecond: readonly number[] };
}

export interface BehindStatus {
  readonly sinceSeconds: number;
  readonly eventsPerSecond: number;
  readonly etaSeconds: number | undefined;
}

export interface SinkStatus extends ComponentStatus {
  readonly backlogEvents: number;
  /** `undefined` when the sink has a backlog but has not read any of it yet. */
  readonly oldestUnackedAgeSeconds: number | undefined;
  readonly failing: boolean;
  readonly lastError: string | undefined;
  /** Failed write attempts (each one retried). */
  readonly retries: number;
  readonly invalidRecords: number;
  /** Set while the sink is far behind (`sink.behind`). */
  readonly behind: BehindStatus | undefined;
  readonly backlogHistory: readonly number[];
}

export interface Warning {
  /** Wall-clock ms. */
  readonly at: number;
  readonly level: 'warn' | 'error';
  readonly message: string;
}

export interface StatusSnapshot {
  readonly uptimeSeconds: number;
  readonly sources: readonly ComponentStatus[];
  readonly sinks: readonly SinkStatus[];
  readonly queue: { readonly bytesOnDisk: number; readonly maxBytes: number; readonly full: boolean; readonly appendWaitSeconds: number };
  /** Newest last. */
  readonly warnings: readonly Warning[];
}

/** What the tracker reads from the queue (narrow, so a test can fake it). */
export interface QueueView {
  metrics(): { readonly headId: number; readonly bytesOnDisk: number; readonly full: boolean; readonly fullMsTotal: number };
  ackedUpTo(sink: string): number;
}

export interface StatusOptions {
  readonly clock: Clock;
  readonly metrics: AgentMetrics;
  readonly events: EventChannel<AgentEvent>;
  readonly queue: QueueView;
  readonly maxBytes: number;
  readonly sources: readonly { readonly id: string; readonly type: string }[];
  readonly sinks: readonly { readonly id: string; readonly type: string }[];
  /** Samples kept for the charts (default 300: five minutes at one a second). */
  readonly historySamples?: number;
  /** A backlog of at least this many events starts a `sink.behind` episode (default 100,000). */
  readonly behindEvents?: number;
  /** How often `sink.behind` is repeated while it lasts (default 5 s). */
  readonly behindReportMs?: number;
  /** Warnings kept (default 20). */
  readonly warningsKept?: number;
}

export const SAMPLE_EVERY_MS = 1000;
const DEFAULTS = { historySamples: 300, behindEvents: 100_000, behindReportMs: 5000, warningsKept: 20 } as const;
/** Samples the rates of a `sink.behind` report are averaged over. */
const RATE_WINDOW = 5;

interface Tracked {
  readonly id: string;
  readonly type: string;
  lastEvents: number;
  lastBytes: number;
  readonly events: Series;
  readonly bytes: Series;
}

interface TrackedSink extends Tracked {
  readonly backlog: Series;
  /** `ackedUpTo` at each sample (for the drain rate). */
  readonly acked: Series;
  /** Monotonic ms of the last sample that saw no backlog (undefined: none yet). */
  zeroAt: number | undefined;
  behind: { readonly since: number; lastReport: number } | undefined;
}

export class StatusTracker {
  private readonly o: StatusOptions;
  private readonly historySamples: number;
  private readonly behindEvents: number;
  private readonly behindReportMs: number;
  private readonly warningsKept: number;
  private readonly startedAt: number;
  private lastSampleAt: number;
  private readonly sources: Tracked[];
  private readonly sinks: TrackedSink[];
  private warnings: Warning[] = [];

  constructor(o: StatusOptions) {
    this.o = o;
    this.historySamples = o.historySamples ?? DEFAULTS.historySamples;
    this.behindEvents = o.behindEvents ?? DEFAULTS.behindEvents;
    this.behindReportMs = o.behindReportMs ?? DEFAULTS.behindReportMs;
    this.warningsKept = o.warningsKept ?? DEFAULTS.warningsKept;
    this.startedAt = o.clock.now();
    this.lastSampleAt = this.startedAt;
    const track = (id: string, type: string): Tracked => ({
      id,
      type,
      lastEvents: 0,
      lastBytes: 0,
      events: new Series(this.historySamples),
      bytes: new Series(this.historySamples),
    });
    this.sources = o.sources.map((s) => track(s.id, s.type));
    this.sinks = o.sinks.map((s) => ({
      ...track(s.id, s.type),
      backlog: new Series(this.historySamples),
      acked: new Series(RATE_WINDOW + 1),
      zeroAt: undefined,
      behind: undefined,
    }));
    o.events.subscribe((e) => this.observe(e));
  }

  /** Keeps the recent warnings and errors (the same words as the stderr lines). */
  private observe(e: AgentEvent): void {
    const line = describeEvent(e);
    if (line === undefined || (line.level !== 'warn' && line.level !== 'error')) return;
    this.warnings.push({ at: this.o.clock.wall(), level: line.level, message: line.msg });
    if (this.warnings.length > this.warningsKept) this.warnings = this.warnings.slice(-this.warningsKept);
  }

  /** Once a second: rates from the counters, backlogs, and the `sink.behind` episodes. */
  sample(): void {
    const now = this.o.clock.now();
    const dt = Math.max(0.001, (now - this.lastSampleAt) / 1000);
    this.lastSampleAt = now;
    for (const s of this.sources) {
      const c = this.o.metrics.source(s.id);
      this.rate(s, c.events, c.bytes, dt);
    }
    const head = this.o.queue.metrics().headId;
    for (const s of this.sinks) {
      const c = this.o.metrics.sink(s.id);
      this.rate(s, c.events, c.bytes, dt);
      const acked = this.o.queue.ackedUpTo(s.id);
      const backlog = Math.max(0, head - acked);
      s.backlog.push(backlog);
      s.acked.push(acked);
      if (backlog === 0) s.zeroAt = now;
      this.checkBehind(s, backlog, now);
    }
  }

  private rate(s: Tracked, events: number, bytes: number, dt: number): void {
    s.events.push(Math.max(0, events - s.lastEvents) / dt);
    s.bytes.push(Math.max(0, bytes - s.lastBytes) / dt);
    s.lastEvents = events;
    s.lastBytes = bytes;
  }

  private checkBehind(s: TrackedSink, backlog: number, now: number): void {
    if (s.behind === undefined) {
      if (backlog < this.behindEvents) return;
      s.behind = { since: now, lastReport: -Infinity };
    }
    if (backlog < this.behindEvents / 10) {
      this.o.events.emit({ type: 'sink.caught-up', sink: s.id, backlogEvents: backlog, behindMs: now - s.behind.since });
      s.behind = undefined;
      return;
    }
    // The first report waits for a second sample: before it there is no rate to tell.
    if (now - s.behind.lastReport < this.behindReportMs || s.acked.length < 2) return;
    s.behind.lastReport = now;
    const r = this.behindRates(s);
    this.o.events.emit({
      type: 'sink.behind',
      sink: s.id,
      backlogEvents: backlog,
      eventsPerSecond: r.eventsPerSecond,
      etaSeconds: r.etaSeconds,
      oldestAgeSeconds: this.oldestAge(s.id, backlog),
    });
  }

  /** Acknowledged events a second, and the time left at the rate the backlog shrank, over the last few samples. */
  private behindRates(s: TrackedSink): { eventsPerSecond: number; etaSeconds: number | undefined } {
    const n = Math.min(RATE_WINDOW, s.acked.length - 1, s.backlog.length - 1);
    if (n < 1) return { eventsPerSecond: 0, etaSeconds: undefined };
    const ackedNow = s.acked.back(0) ?? 0;
    const ackedThen = s.acked.back(n) ?? ackedNow;
    const backlogNow = s.backlog.back(0) ?? 0;
    const backlogThen = s.backlog.back(n) ?? backlogNow;
    // One sample a second (the timer), so n samples are about n seconds.
    const eventsPerSecond = Math.max(0, ackedNow - ackedThen) / n;
    const shrink = (backlogThen - backlogNow) / n;
    return { eventsPerSecond, etaSeconds: shrink > 0 ? backlogNow / shrink : undefined };
  }

  /** Seconds since the oldest record the sink has not acknowledged was ingested (see the header). */
  oldestAge(sink: string, backlog = this.backlogOf(sink)): number | undefined {
    const s = this.sinks.find((x) => x.id === sink);
    if (s === undefined) return undefined;
    if (backlog === 0) return 0;
    const ingest = this.o.metrics.sink(sink).oldestIngestMs;
    if (Number.isNaN(ingest)) return undefined;
    const age = Math.max(0, (this.o.clock.wall() - ingest) / 1000);
    return s.zeroAt === undefined ? age : Math.min(age, (this.o.clock.now() - s.zeroAt) / 1000);
  }

  get maxBytes(): number {
    return this.o.maxBytes;
  }

  uptimeSeconds(): number {
    return (this.o.clock.now() - this.startedAt) / 1000;
  }

  /** The sink's backlog right now (for a scrape between samples). */
  backlogOf(sink: string): number {
    return Math.max(0, this.o.queue.metrics().headId - this.o.queue.ackedUpTo(sink));
  }

  snapshot(): StatusSnapshot {
    const q = this.o.queue.metrics();
    const component = (s: Tracked): ComponentStatus => ({
      id: s.id,
      type: s.type,
      events: s.lastEvents,
      bytes: s.lastBytes,
      eventsPerSecond: s.events.back(0) ?? 0,
      bytesPerSecond: s.bytes.back(0) ?? 0,
      history: { eventsPerSecond: s.events.toArray(), bytesPerSecond: s.bytes.toArray() },
    });
    return {
      uptimeSeconds: this.uptimeSeconds(),
      sources: this.sources.map((s) => {
        const c = this.o.metrics.source(s.id);
        return { ...component(s), events: c.events, bytes: c.bytes };
      }),
      sinks: this.sinks.map((s): SinkStatus => {
        const c = this.o.metrics.sink(s.id);
        const backlog = Math.max(0, q.headId - this.o.queue.ackedUpTo(s.id));
        const r = s.behind ? this.behindRates(s) : undefined;
        return {
          ...component(s),
          events: c.events,
          bytes: c.bytes,
          backlogEvents: backlog,
          oldestUnackedAgeSeconds: this.oldestAge(s.id, backlog),
          failing: c.failing === 1,
          lastError: c.lastError,
          retries: c.errors,
          invalidRecords: c.invalidRecords,
          behind: s.behind && r ? { sinceSeconds: (this.o.clock.now() - s.behind.since) / 1000, ...r } : undefined,
          backlogHistory: s.backlog.toArray(),
        };
      }),
      queue: { bytesOnDisk: q.bytesOnDisk, maxBytes: this.o.maxBytes, full: q.full, appendWaitSeconds: q.fullMsTotal / 1000 },
      warnings: [...this.warnings],
    };
  }
}
