/**
 * One sink's loop: `consumer.read()` → decode → `sink.write()` (retried forever with exponential
 * backoff and full jitter) → ack every record of the group. Each sink has its own loop and its own
 * cursor, so a stuck or failing sink never holds up another; its backlog waits in the queue.
 *
 * Records from sources not in the sink's `inputs` (and `marker` records) are acked without being
 * written. A record whose envelope cannot be decoded is reported and acked (it can never be
 * delivered; keeping it would block the sink forever).
 *
 * Draining: `drainTo(target)` makes the loop end once everything below `target` is acked. A hard
 * stop (`signal`) ends the loop at the next opportunity; records handed out but not acked are
 * replayed after a restart.
 */
import type { Consumer, QueueRecord } from '../queue/types';
import type { Sink } from '../core/sink';
import type { Diagnostics } from '../core/source';
import { decodeEnvelope, type Envelope } from '../core/envelope';
import { errorText } from '../core/diagnostics';
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

export class SinkRunner {
  private target: number | undefined;
  private persistedOnce = false;
  private readonly stopRead = new AbortController();
  private readonly readSignal: AbortSignal;
  /** Wall-clock ms of the last ack (for the drain watchdog). */
  lastProgress = Date.now();

  constructor(
    readonly id: string,
    private readonly inputs: ReadonlySet<string>,
    private readonly sink: Sink,
    private readonly consumer: Consumer,
    private readonly log: Diagnostics,
    private readonly counters: SinkCounters,
    private readonly hardStop: AbortSignal,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {
    this.readSignal = AbortSignal.any([this.stopRead.signal, hardStop]);
  }

  get failing(): boolean {
    return this.counters.failing === 1;
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
      if (!this.persistedOnce) {
        // Persist the cursor right after the first delivery of this run instead of waiting for the
        // cursor timer: an agent in a fast crash loop would otherwise replay from the same old
        // cursor on every restart. Later deliveries are persisted by the timer (bounded replay).
        this.persistedOnce = true;
        this.consumer.flushCursor().catch((err: unknown) => this.log.warn(`sink ${this.id}: cannot persist its cursor yet (${errorText(err)}); the cursor timer retries`));
      }
      this.counters.records += records.length;
      this.lastProgress = Date.now();
      if (this.target !== undefined && this.consumer.ackedUpTo >= this.target) this.stopRead.abort();
    }
  }

  private select(records: readonly QueueRecord[]): Envelope[] {
    const out: Envelope[] = [];
    for (const r of records) {
      let env: Envelope;
      try {
        env = decodeEnvelope(r.payload, r.events);
      } catch (err) {
        this.counters.invalidRecords++;
        this.log.error(`sink ${this.id}: skipping record ${r.id}: ${errorText(err)}`, { events: r.events });
        continue;
      }
      if (env.kind === 'lines' && this.inputs.has(env.sourceId)) out.push(env);
      else this.counters.skippedEvents += env.kind === 'lines' ? env.events : 0;
    }
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
          this.counters.failing = 0;
          this.log.info(`sink ${this.id}: write succeeded after ${attempt} failed attempt(s)`);
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
      } catch (err) {
        attempt++;
        this.counters.errors++;
        this.counters.failing = 1;
        const delay = Math.round(Math.random() * Math.min(this.retry.capMs, this.retry.baseMs * 2 ** Math.min(attempt, 30)));
        const now = Date.now();
        if (attempt === 1 || now - lastReport >= this.retry.reportEveryMs) {
          const more = unreported > 0 ? `; ${unreported} more failure(s) since the last report` : '';
          this.log.warn(`sink ${this.id}: write failed, retrying in ${delay}ms (${errorText(err)})${more}`, { attempt });
          lastReport = now;
          unreported = 0;
        } else unreported++;
        if (this.hardStop.aborted) return false;
        await sleep(delay, this.hardStop);
        if (this.hardStop.aborted) return false;
      }
    }
  }
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
