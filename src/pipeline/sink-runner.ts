/**
 * One sink's loop: `consumer.read()` → decode → `sink.write()` (retried forever with exponential
 * backoff and full jitter) → ack every record of the group. Each sink has its own loop and its own
 * cursor, so a stuck or failing sink never holds up another; its backlog waits in the queue.
 *
 * Records from sources not in the sink's `inputs` (and `marker` records) are acked without being
 * written. A record whose envelope cannot be decoded is reported and acked (it can never be
 * delivered; keeping it would block the sink forever). Each batch handed to the sink carries its
 * record id (`Envelope.recordId`).
 *
 * Everything the loop has to say is an agent event (`sink.failing`, `sink.recovered`,
 * `sink.record-invalid`, `sink.cursor-deferred`); time and jitter come from the `Clock` and
 * `Random` ports, so a test can drive the backoff.
 *
 * Draining: `drainTo(target)` makes the loop end once everything below `target` is acked. A hard
 * stop (`signal`) ends the loop at the next opportunity; records handed out but not acked are
 * replayed after a restart.
 */
import type { Consumer, QueueRecord } from '../queue/types';
import type { Sink } from '../core/sink';
import { decodeEnvelope, type Envelope } from '../core/envelope';
import type { AgentEvent, EventChannel } from '../core/events';
import type { Clock, Random } from '../core/ports';
import type { SinkCounters } from './metrics';

export interface RetryPolicy {
  readonly baseMs: number;
  readonly capMs: number;
  /** Minimum time between two failure reports of one sink (the first failure is always reported). */
  readonly reportEveryMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 100, capMs: 30_000, reportEveryMs: 10_000 };

/** Bytes handed to one `write()` at most (one fdatasync per group). */
const READ_MAX_BYTES = 4 * 1024 * 1024;
const READ_MAX_RECORDS = 4096;

export interface SinkRunnerOptions {
  readonly id: string;
  /** Source ids this sink delivers. */
  readonly inputs: ReadonlySet<string>;
  readonly sink: Sink;
  readonly consumer: Consumer;
  readonly events: EventChannel<AgentEvent>;
  readonly counters: SinkCounters;
  /** Ends the loop at the next opportunity (records handed out but not acked are replayed later). */
  readonly hardStop: AbortSignal;
  readonly retry?: RetryPolicy;
  readonly clock: Clock;
  readonly random: Random;
}

export class SinkRunner {
  readonly id: string;
  private target: number | undefined;
  private persistedOnce = false;
  private isFailing = false;
  /** Ingest time of the newest record of the group in hand. */
  private groupNewestIngestMs = NaN;
  private readonly stopRead = new AbortController();
  private readonly readSignal: AbortSignal;
  private readonly inputs: ReadonlySet<string>;
  private readonly sink: Sink;
  private readonly consumer: Consumer;
  private readonly events: EventChannel<AgentEvent>;
  private readonly counters: SinkCounters;
  private readonly hardStop: AbortSignal;
  private readonly retry: RetryPolicy;
  private readonly clock: Clock;
  private readonly random: Random;
  /** Monotonic ms of the last ack (for the drain watchdog). */
  lastProgress: number;

  constructor(o: SinkRunnerOptions) {
    this.id = o.id;
    this.inputs = o.inputs;
    this.sink = o.sink;
    this.consumer = o.consumer;
    this.events = o.events;
    this.counters = o.counters;
    this.hardStop = o.hardStop;
    this.retry = o.retry ?? DEFAULT_RETRY;
    this.clock = o.clock;
    this.random = o.random;
    this.lastProgress = o.clock.now();
    this.readSignal = AbortSignal.any([this.stopRead.signal, o.hardStop]);
  }

  /** Between a failed write and the next successful one. */
  get failing(): boolean {
    return this.isFailing;
  }

  /** End the loop once every record below `target` is acknowledged. */
  drainTo(target: number): void {
    this.target = target;
    if (this.consumer.ackedUpTo >= target) this.stopRead.abort();
  }

  get drained(): boolean {
    return this.target !== undefined && this.consumer.ackedUpTo >= this.target;
  }

  async run(): Promise<void> {
    while (!this.hardStop.aborted) {
      if (this.drained) return;
      const records = await this.consumer.read({ maxBytes: READ_MAX_BYTES, maxRecords: READ_MAX_RECORDS, signal: this.readSignal });
      // [] only when the read was aborted or the queue closed: either way nothing more will come, and
      // reading again at once would spin without yielding to the event loop (a failed queue rejects).
      if (records.length === 0) return;
      const batches = this.select(records);
      if (batches.length > 0 && !(await this.deliver(batches))) return;
      for (const r of records) this.consumer.ack(r.id);
      // Once per batch, not per line: ingest → acknowledged. What follows this group was ingested
      // no earlier than its newest record, the bound the oldest-unacked age uses until the next read.
      const now = this.clock.wall();
      for (const b of batches) this.counters.latency.observe(Math.max(0, now - b.ingestMs) / 1000);
      this.counters.oldestIngestMs = this.groupNewestIngestMs;
      if (!this.persistedOnce) {
        // Persist the cursor right after the first delivery of this run instead of waiting for the
        // cursor timer: an agent in a fast crash loop would otherwise replay from the same old
        // cursor on every restart. Later deliveries are persisted by the timer (bounded replay).
        this.persistedOnce = true;
        // Not awaited: delivery goes on while the cursor is written; a failure is reported and the
        // queue's cursor timer retries.
        this.consumer.flushCursor().catch((error: unknown) => this.events.emit({ type: 'sink.cursor-deferred', sink: this.id, error }));
      }
      this.counters.records += records.length;
      this.lastProgress = this.clock.now();
      if (this.target !== undefined && this.consumer.ackedUpTo >= this.target) this.stopRead.abort();
    }
  }

  /** The batches this sink writes; notes the group's oldest ingest time (for the oldest-unacked age). */
  private select(records: readonly QueueRecord[]): Envelope[] {
    const out: Envelope[] = [];
    let oldest = NaN;
    let newest = NaN;
    for (const r of records) {
      let env: Envelope;
      try {
        env = decodeEnvelope(r.payload, r.events, r.id);
      } catch (error) {
        this.events.emit({ type: 'sink.record-invalid', sink: this.id, recordId: r.id, events: r.events, error });
        continue;
      }
      if (Number.isNaN(oldest) || env.ingestMs < oldest) oldest = env.ingestMs;
      if (Number.isNaN(newest) || env.ingestMs > newest) newest = env.ingestMs;
      if (env.kind !== 'marker' && this.inputs.has(env.sourceId)) out.push(env);
      else this.counters.skippedEvents += env.kind === 'marker' ? 0 : env.events;
    }
    this.counters.oldestIngestMs = oldest;
    this.groupNewestIngestMs = newest;
    return out;
  }

  /** Write until it succeeds; false if a hard stop came first (nothing may be acked then). */
  private async deliver(batches: readonly Envelope[]): Promise<boolean> {
    let attempt = 0;
    let lastReport = 0;
    let unreported = 0;
    for (;;) {
      try {
        await this.sink.write(batches);
        if (attempt > 0) {
          this.isFailing = false;
          this.events.emit({ type: 'sink.recovered', sink: this.id, failedAttempts: attempt });
        }
        let events = 0;
        let bytes = 0;
        for (const b of batches) {
          events += b.events;
          bytes += b.lines.length;
        }
        this.counters.events += events;
        this.counters.bytes += bytes;
        return true;
      } catch (error) {
        attempt++;
        this.counters.errors++;
        this.isFailing = true;
        // Full jitter: a uniformly random wait up to the capped exponential backoff.
        const delay = Math.round(this.random.next() * Math.min(this.retry.capMs, this.retry.baseMs * 2 ** Math.min(attempt, 30)));
        const now = this.clock.now();
        if (attempt === 1 || now - lastReport >= this.retry.reportEveryMs) {
          this.events.emit({ type: 'sink.failing', sink: this.id, attempt, retryInMs: delay, error, unreported });
          lastReport = now;
          unreported = 0;
        } else unreported++;
        if (this.hardStop.aborted) return false;
        await sleep(this.clock, delay, this.hardStop);
        if (this.hardStop.aborted) return false;
      }
    }
  }
}

/** Waits `ms` on the clock, or until `signal` aborts. The wait keeps the process alive (a retry is work to do). */
const sleep = (clock: Clock, ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      t.cancel();
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = clock.setTimer(ms, done, { keepAlive: true });
    signal.addEventListener('abort', done, { once: true });
  });
