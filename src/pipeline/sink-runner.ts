/**
 * One sink's loop, and the one place delivery policy lives (the contract: `src/core/sink.ts`):
 *
 *   read a group (`batch`: up to max_bytes / max_events, lingering up to `timeout` for more)
 *   → decode → `sink.write(batches, { signal })` with a per-request timeout
 *   → delivered: ack every record of the group
 *     errored:   retry the same group forever, capped exponential backoff with full jitter, or the
 *                destination's `Retry-After` (capped at `max_backoff`)
 *     rejected:  each refused payload into the dead-letter store (fsynced), then ack
 *
 * Up to `request.concurrency` groups are in flight at once; `consumer.read` hands them out in order
 * and each group is acked when it is done, out of order (the consumer folds acks into a contiguous
 * low-water mark, so a restart replays from the oldest group not done). Each sink has its own loop
 * and its own cursor, so a stuck or failing sink never holds up another; its backlog waits in the
 * queue.
 *
 * Records from sources not in the sink's `inputs` (and `marker` records) are acked without being
 * written. A record whose envelope cannot be decoded is reported, put in the dead-letter store
 * (raw), and acked (it can never be delivered; keeping it would block the sink forever). Each batch
 * handed to the sink carries its record id (`Envelope.recordId`).
 *
 * Everything the loop has to say is an agent event (`sink.failing`, `sink.recovered`,
 * `sink.record-invalid`, `sink.dead-lettered`, `sink.dead-letter-blocked`, `sink.cursor-deferred`);
 * time and jitter come from the `Clock` and `Random` ports, so a test can drive the backoff.
 *
 * Resuming: before the first write the sink gets the checkpoint stored with its cursor
 * (`sink.resume`); after every delivered group the checkpoint it returned goes with the group's last
 * ack and the cursor is saved in place (`consumer.saveCursor()`, no fsync), so a kill -9 replays at
 * most the groups in flight and a sink that can cut its destination (the file sink) none. The
 * checkpoint `resume` answers, and one `prepare` answers (a new destination), are made durable
 * (`consumer.flushCursor()`) before anything is written into that destination.
 *
 * Draining: `drainTo(target)` makes the loop end once everything below `target` is acked. A hard
 * stop (`signal`) ends the loop at the next opportunity (it also aborts the writes in flight);
 * records handed out but not acked are replayed after a restart.
 */
import { linkedAbort } from '../core/abort';
import type { Consumer, QueueRecord } from '../queue/types';
import { retryReasonOf, type Rejection, type Sink, type WriteResult } from '../core/sink';
import { decodeEnvelope, type Envelope } from '../core/envelope';
import { errorText } from '../core/diagnostics';
import type { AgentEvent, EventChannel } from '../core/events';
import type { Clock, Random } from '../core/ports';
import type { DeadLetterStore } from './dead-letter';
import type { SinkCounters } from './metrics';

export interface RetryPolicy {
  readonly baseMs: number;
  readonly capMs: number;
  /** Minimum time between two failure reports of one sink (the first failure is always reported). */
  readonly reportEveryMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 100, capMs: 30_000, reportEveryMs: 10_000 };

/** The shared `batch` and `request` keys, resolved. */
export interface DeliveryPolicy {
  /** Bytes of queue payload per write at most (one record is never split). */
  readonly maxBytes: number;
  /** Events per write at most (one record is never split: a group may pass it by one record). */
  readonly maxEvents: number;
  /** How long to wait for more records when a group is not full (0: send what there is). */
  readonly lingerMs: number;
  /** One write's time limit: its signal aborts then. */
  readonly timeoutMs: number;
  /** Groups in flight at once. */
  readonly concurrency: number;
}

export const DEFAULT_DELIVERY: DeliveryPolicy = { maxBytes: 4 * 1024 * 1024, maxEvents: 100_000, lingerMs: 0, timeoutMs: 30_000, concurrency: 1 };

/** Records handed to one `write()` at most. */
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
  readonly delivery?: Partial<DeliveryPolicy>;
  /** Where refused payloads and undecodable records go before their group is acked. */
  readonly deadLetter: DeadLetterStore;
  readonly clock: Clock;
  readonly random: Random;
}

export class SinkRunner {
  readonly id: string;
  private target: number | undefined;
  private persistedOnce = false;
  /** A new destination's checkpoint (from `sink.prepare`) is set but not yet durable with the cursor. */
  private destinationUnsaved = false;
  private isFailing = false;
  /** Failed attempts in the current failing episode, and the reporting state of the episode. */
  private failedAttempts = 0;
  private lastReport = 0;
  private unreported = 0;
  /** An alert was reported in this episode (later ones follow the report interval: one ERROR line, not one per retry). */
  private alertReported = false;
  private readonly stopRead = new AbortController();
  private readonly readSignal: AbortSignal;
  private readonly inputs: ReadonlySet<string>;
  private readonly sink: Sink;
  private readonly consumer: Consumer;
  private readonly events: EventChannel<AgentEvent>;
  private readonly counters: SinkCounters;
  private readonly hardStop: AbortSignal;
  private readonly retry: RetryPolicy;
  private readonly policy: DeliveryPolicy;
  private readonly deadLetter: DeadLetterStore;
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
    this.policy = { ...DEFAULT_DELIVERY, ...o.delivery };
    this.deadLetter = o.deadLetter;
    this.clock = o.clock;
    this.random = o.random;
    this.lastProgress = o.clock.now();
    this.readSignal = linkedAbort(this.stopRead.signal, o.hardStop).signal; // once per run: never disposed
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
    const inFlight = new Set<Promise<void>>();
    let stopped = false;
    let failure: { error: unknown } | undefined;
    if (!(await this.resume())) return;
    try {
      while (!this.hardStop.aborted && !stopped) {
        if (this.drained) break;
        while (inFlight.size >= this.policy.concurrency) await Promise.race(inFlight);
        if (stopped || this.hardStop.aborted || this.drained) break;
        const records = await this.readGroup();
        // [] only when the read was aborted or the queue closed: either way nothing more will come, and
        // reading again at once would spin without yielding to the event loop (a failed queue rejects).
        if (records.length === 0) break;
        const p: Promise<void> = this.handle(records)
          .then(
            (ok) => {
              if (!ok) stopped = true;
            },
            (error: unknown) => {
              failure ??= { error };
              stopped = true;
            },
          )
          .finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
    } finally {
      await Promise.all(inFlight);
    }
    if (failure !== undefined) throw failure.error;
  }

  /** The next group: what the queue has now, plus what comes within the linger, up to the batch bounds. */
  private async readGroup(): Promise<QueueRecord[]> {
    const { maxBytes, maxEvents, lingerMs } = this.policy;
    const records = await this.consumer.read({ maxBytes, maxRecords: READ_MAX_RECORDS, signal: this.readSignal });
    if (records.length === 0 || lingerMs <= 0) return records;
    let bytes = 0;
    let events = 0;
    for (const r of records) {
      bytes += r.payload.length;
      events += r.events;
    }
    const deadline = this.clock.now() + lingerMs;
    while (bytes < maxBytes && events < maxEvents && records.length < READ_MAX_RECORDS && !this.readSignal.aborted) {
      const left = deadline - this.clock.now();
      if (left <= 0) break;
      const linger = linkedAbort(this.readSignal);
      // Keeps the process alive: records in hand are work to do (an unref'd timer would let it exit).
      const t = this.clock.setTimer(left, () => linger.abort(), { keepAlive: true });
      let more: QueueRecord[];
      try {
        more = await this.consumer.read({ maxBytes: maxBytes - bytes, maxRecords: READ_MAX_RECORDS - records.length, signal: linger.signal });
      } finally {
        t.cancel();
        linger.dispose();
      }
      if (more.length === 0) break;
      for (const r of more) {
        records.push(r);
        bytes += r.payload.length;
        events += r.events;
      }
    }
    return records;
  }

  /** Delivers one group and acks it; false if a hard stop came first (nothing is acked then). */
  private async handle(records: readonly QueueRecord[]): Promise<boolean> {
    const { batches, invalid } = this.select(records);
    for (const r of invalid) {
      const kept = await this.keep(
        (wall) => this.deadLetter.putRecord(r.record.id, r.record.events, r.record.payload, `undecodable record: ${errorText(r.error)}`, wall),
        { reason: 'undecodable record', status: undefined, firstEventId: r.record.id, lastEventId: r.record.id + Math.max(1, r.record.events) - 1, events: r.record.events, bytes: r.record.payload.length },
      );
      if (!kept) return false;
    }
    let checkpoint: Uint8Array | undefined;
    if (batches.length > 0) {
      const done = await this.deliver(batches);
      if (done === false) return false;
      checkpoint = done.checkpoint;
    }
    const last = records.length - 1;
    for (let i = 0; i < last; i++) this.consumer.ack((records[i] as QueueRecord).id);
    this.consumer.ack((records[last] as QueueRecord).id, checkpoint);
    // The cursor (and the sink's checkpoint) in place after every group: a kill -9 replays at most
    // the groups in flight. A failure is reported by the queue (an event) and retried by its timer.
    await this.consumer.saveCursor().catch(() => undefined);
    // Once per batch, not per line: ingest → acknowledged. What follows this group was ingested
    // no earlier than its newest record, the bound the oldest-unacked age uses until the next read.
    const now = this.clock.wall();
    let newest = NaN;
    for (const b of batches) {
      this.counters.latency.observe(Math.max(0, now - b.ingestMs) / 1000);
      if (Number.isNaN(newest) || b.ingestMs > newest) newest = b.ingestMs;
    }
    if (!Number.isNaN(newest)) this.counters.oldestIngestMs = newest;
    if (!this.persistedOnce) {
      // Make the cursor durable right after the first delivery of this run instead of waiting for
      // the cursor timer (every group's cursor is saved in place above; this one also survives a
      // power loss). Later ones are made durable by the timer.
      this.persistedOnce = true;
      // Not awaited: delivery goes on while the cursor is written; a failure is reported and the
      // queue's cursor timer retries.
      this.consumer.flushCursor().catch((error: unknown) => this.events.emit({ type: 'sink.cursor-deferred', sink: this.id, error }));
    }
    this.counters.records += records.length;
    this.lastProgress = this.clock.now();
    if (this.target !== undefined && this.consumer.ackedUpTo >= this.target) this.stopRead.abort();
    return true;
  }

  /** The batches this sink writes and the records that cannot be decoded; notes the group's oldest ingest time. */
  private select(records: readonly QueueRecord[]): { batches: Envelope[]; invalid: { record: QueueRecord; error: unknown }[] } {
    const batches: Envelope[] = [];
    const invalid: { record: QueueRecord; error: unknown }[] = [];
    let oldest = NaN;
    for (const r of records) {
      let env: Envelope;
      try {
        env = decodeEnvelope(r.payload, r.events, r.id);
      } catch (error) {
        this.events.emit({ type: 'sink.record-invalid', sink: this.id, recordId: r.id, events: r.events, error });
        invalid.push({ record: r, error });
        continue;
      }
      if (Number.isNaN(oldest) || env.ingestMs < oldest) oldest = env.ingestMs;
      if (env.kind !== 'marker' && this.inputs.has(env.sourceId)) batches.push(env);
      else this.counters.skippedEvents += env.kind === 'marker' ? 0 : env.events;
    }
    this.counters.oldestIngestMs = oldest;
    return { batches, invalid };
  }

  /** Hands the sink the checkpoint it resumes from, retrying with backoff; false on a hard stop. */
  private async resume(): Promise<boolean> {
    const sink = this.sink;
    if (sink.resume === undefined) return true;
    for (let attempt = 1; ; attempt++) {
      try {
        const now = await sink.resume(this.consumer.checkpoint, { signal: this.hardStop });
        if (now !== null) {
          // The destination's state at the cursor, made durable before the first write: it may be
          // another destination than the recovered checkpoint's (the file sink's output rotated
          // while the agent was down), and an in-place save could be taken back by a power loss.
          // A failure is retried with the rest (`resume` again, with this checkpoint: nothing to cut).
          this.consumer.setCheckpoint(now);
          await this.consumer.flushCursor();
        }
        if (this.isFailing) {
          this.isFailing = false;
          this.events.emit({ type: 'sink.recovered', sink: this.id, failedAttempts: attempt - 1 });
        }
        return true;
      } catch (error) {
        if (this.hardStop.aborted) return false;
        this.counters.errors++;
        this.counters.retriesByReason[retryReasonOf({ error })]++;
        const delay = Math.round(this.random.next() * Math.min(this.retry.capMs, this.retry.baseMs * 2 ** Math.min(attempt, 30)));
        const now = this.clock.now();
        if (!this.isFailing || now - this.lastReport >= this.retry.reportEveryMs) {
          this.events.emit({ type: 'sink.failing', sink: this.id, attempt, retryInMs: delay, error, unreported: 0 });
          this.lastReport = now;
        }
        this.isFailing = true;
        await sleep(this.clock, delay, this.hardStop);
        if (this.hardStop.aborted) return false;
      }
    }
  }

  /** Write until delivered or rejected (and dead-lettered); false if a hard stop came first. */
  private async deliver(batches: readonly Envelope[]): Promise<false | { readonly checkpoint: Uint8Array | undefined }> {
    let attempt = 0;
    for (;;) {
      const result = await this.attempt(batches);
      if (result.status === 'errored') {
        // Cut off by the hard stop (its signal aborted the write): not a destination failure to report.
        if (this.hardStop.aborted) return false;
        attempt++;
        this.counters.errors++;
        this.counters.retriesByReason[retryReasonOf(result)]++;
        this.failedAttempts++;
        const wasFailing = this.isFailing;
        this.isFailing = true;
        // Full jitter: a uniformly random wait up to the capped exponential backoff; or what the
        // destination asked for (Retry-After), capped so a bogus header cannot stall the sink.
        const delay =
          result.retryAfterMs !== undefined
            ? Math.min(this.retry.capMs, Math.max(0, Math.round(result.retryAfterMs)))
            : Math.round(this.random.next() * Math.min(this.retry.capMs, this.retry.baseMs * 2 ** Math.min(attempt, 30)));
        const now = this.clock.now();
        if (!wasFailing) this.alertReported = false;
        const newAlert = result.alert === true && !this.alertReported;
        if (!wasFailing || newAlert || now - this.lastReport >= this.retry.reportEveryMs) {
          if (result.alert === true) this.alertReported = true;
          this.events.emit({
            type: 'sink.failing',
            sink: this.id,
            attempt: this.failedAttempts,
            retryInMs: delay,
            error: result.error,
            unreported: this.unreported,
            ...(result.alert === true ? { alert: true } : {}),
          });
          this.lastReport = now;
          this.unreported = 0;
        } else this.unreported++;
        if (this.hardStop.aborted) return false;
        await sleep(this.clock, delay, this.hardStop);
        if (this.hardStop.aborted) return false;
        continue;
      }
      let events = 0;
      let bytes = 0;
      for (const b of batches) {
        events += b.events;
        bytes += b.lines.length;
      }
      if (result.status === 'rejected') {
        for (const r of result.rejections) {
          const kept = await this.keep((wall) => this.deadLetter.put(r, wall), describe(r));
          if (!kept) return false;
          events -= r.events;
        }
      }
      if (this.isFailing) {
        this.isFailing = false;
        this.events.emit({ type: 'sink.recovered', sink: this.id, failedAttempts: this.failedAttempts });
        this.failedAttempts = 0;
        this.unreported = 0;
      }
      this.counters.events += Math.max(0, events);
      this.counters.bytes += bytes;
      return { checkpoint: result.status === 'delivered' ? result.checkpoint : undefined };
    }
  }

  /**
   * One write with its timeout; a sink that throws has answered `errored`. First `sink.prepare()`,
   * at every attempt (a failed write may have dropped the destination, and the retry opens it
   * again): a new destination (the file sink reopened its path) has its state made durable with the
   * cursor before anything is written into it. Saved in place only, a power loss could take it back
   * while the group written into the new destination (fdatasynced) stays: the cursor recovered would
   * carry the old destination's checkpoint, and the groups in the new one would be written again.
   * A failure of either is the attempt's (`errored`, retried).
   */
  private async attempt(batches: readonly Envelope[]): Promise<WriteResult> {
    if (this.sink.prepare !== undefined) {
      try {
        const moved = await this.sink.prepare();
        if (moved !== null) {
          this.consumer.setCheckpoint(moved);
          this.destinationUnsaved = true;
        }
        if (this.destinationUnsaved) {
          await this.consumer.flushCursor();
          this.destinationUnsaved = false;
        }
      } catch (error) {
        return { status: 'errored', error };
      }
    }
    // The write's signal: this attempt's timeout, or the hard stop (not `AbortSignal.any`: see ../core/abort.ts).
    const timeout = linkedAbort(this.hardStop);
    const t = this.clock.setTimer(this.policy.timeoutMs, () => timeout.abort(new RequestTimeoutError(this.policy.timeoutMs)));
    try {
      return await this.sink.write(batches, { signal: timeout.signal });
    } catch (error) {
      return { status: 'errored', error };
    } finally {
      t.cancel();
      timeout.dispose();
    }
  }

  /** Puts one entry in the dead-letter store, waiting (backpressure) while it cannot; false on a hard stop. */
  private async keep(put: (wallMs: number) => Promise<string>, what: Omit<Extract<AgentEvent, { type: 'sink.dead-lettered' }>, 'type' | 'sink' | 'file'>): Promise<boolean> {
    let blockedSince: number | undefined;
    let attempt = 0;
    let lastReport = 0;
    for (;;) {
      try {
        const name = await put(this.clock.wall());
        if (blockedSince !== undefined) this.events.emit({ type: 'sink.dead-letter-resumed', sink: this.id, waitedMs: this.clock.now() - blockedSince });
        this.events.emit({ type: 'sink.dead-lettered', sink: this.id, file: `${this.deadLetter.dir}/${name}`, ...what });
        return true;
      } catch (error) {
        attempt++;
        const now = this.clock.now();
        if (blockedSince === undefined || now - lastReport >= this.retry.reportEveryMs) {
          this.events.emit({ type: 'sink.dead-letter-blocked', sink: this.id, error });
          lastReport = now;
        }
        blockedSince ??= now;
        if (this.hardStop.aborted) return false;
        await sleep(this.clock, Math.round(this.random.next() * Math.min(this.retry.capMs, this.retry.baseMs * 2 ** Math.min(attempt, 30))), this.hardStop);
        if (this.hardStop.aborted) return false;
      }
    }
  }
}

const describe = (r: Rejection): Omit<Extract<AgentEvent, { type: 'sink.dead-lettered' }>, 'type' | 'sink' | 'file'> => ({
  reason: r.reason,
  status: r.status,
  firstEventId: r.firstEventId,
  lastEventId: r.lastEventId,
  events: r.events,
  bytes: r.payload.length,
});

export class RequestTimeoutError extends Error {
  readonly code = 'SLUICE_SINK_TIMEOUT';
  constructor(ms: number) {
    super(`no answer within request.timeout (${ms}ms)`);
    this.name = 'RequestTimeoutError';
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
