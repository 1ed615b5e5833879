/**
 * The sink runner's delivery policy (src/pipeline/sink-runner.ts) with a scripted sink, an
 * in-memory consumer and a clock whose short timers fire at once: concurrency with out-of-order
 * acks, Retry-After, rejections into the dead-letter store, and backpressure when it is full.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEnvelope, type Envelope } from '../../src/core/envelope';
import { EventChannel, type AgentEvent } from '../../src/core/events';
import { nodeFileSystem } from '../../src/core/node-ports';
import type { Clock, Random, Timer } from '../../src/core/ports';
import type { RecordId } from '../../src/core/records';
import { DELIVERED, type Sink, type WriteOptions, type WriteResult } from '../../src/core/sink';
import { DeadLetterStore } from '../../src/pipeline/dead-letter';
import { AgentMetrics } from '../../src/pipeline/metrics';
import { SinkRunner } from '../../src/pipeline/sink-runner';
import type { Consumer, QueueRecord } from '../../src/queue/types';

/** Timers under 10 s fire on the next turn of the event loop; longer ones (request timeouts) never. */
const quickClock: Clock = {
  now: () => 0,
  wall: () => 1_700_000_000_000,
  setTimer(ms: number, fn: () => void): Timer {
    if (ms >= 10_000) return { cancel() {} };
    const t = setImmediate(fn);
    return { cancel: () => clearImmediate(t) };
  },
};
const half: Random = { next: () => 0.5 };

/** Hands out `records` in order; acks fold into `ackedUpTo`. */
class MemoryConsumer implements Consumer {
  readonly name = 'out';
  private next = 0;
  readonly acked = new Set<number>();
  readonly ackOrder: number[] = [];
  constructor(private readonly records: QueueRecord[]) {}
  read(opts?: { maxRecords?: number; signal?: AbortSignal }): Promise<QueueRecord[]> {
    if (this.next < this.records.length) {
      const n = Math.min(opts?.maxRecords ?? Infinity, 1); // one record per group: several groups
      const out = this.records.slice(this.next, this.next + n);
      this.next += out.length;
      return Promise.resolve(out);
    }
    return new Promise((resolve) => {
      if (opts?.signal?.aborted) return resolve([]);
      opts?.signal?.addEventListener('abort', () => resolve([]), { once: true });
    });
  }
  ack(id: RecordId): void {
    this.acked.add(id);
    this.ackOrder.push(id);
  }
  get ackedUpTo(): RecordId {
    let i = 0;
    while (i < this.records.length && this.acked.has((this.records[i] as QueueRecord).id)) i++;
    return (i < this.records.length ? (this.records[i] as QueueRecord).id : this.records.length) as RecordId;
  }
  readonly checkpoint = null;
  setCheckpoint(): void {}
  saveCursor(): Promise<void> {
    return Promise.resolve();
  }
  flushCursor(): Promise<void> {
    return Promise.resolve();
  }
  rewind(): void {}
}

const record = (id: number, text: string): QueueRecord => ({
  id: id as RecordId,
  events: text.split('\n').length - 1,
  payload: encodeEnvelope('lines', 'app', undefined, 1_700_000_000_000, Buffer.from(text)),
});

const setup = async (sink: Sink, records: QueueRecord[], concurrency = 1, deadLetterMax?: number) => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-runner-'));
  const consumer = new MemoryConsumer(records);
  const events = new EventChannel<AgentEvent>();
  const seen: AgentEvent[] = [];
  events.subscribe((e) => seen.push(e));
  const hardStop = new AbortController();
  const runnerOptions = {
    id: 'out',
    inputs: new Set(['app']),
    sink,
    consumer,
    events,
    counters: new AgentMetrics().sink('out'),
    hardStop: hardStop.signal,
    retry: { baseMs: 10, capMs: 5000, reportEveryMs: 0 },
    delivery: { concurrency, timeoutMs: 60_000 },
    deadLetter: new DeadLetterStore(nodeFileSystem, join(dir, 'dead_letter', 'out'), 'out', deadLetterMax),
    clock: quickClock,
    random: half,
  };
  const runner = new SinkRunner(runnerOptions);
  return { dir, consumer, seen, runner, runnerOptions, hardStop, cleanup: () => rm(dir, { recursive: true, force: true }) };
};

const sinkOf = (write: (batches: readonly Envelope[], opts: WriteOptions) => Promise<WriteResult>): Sink => ({
  write,
  reopen() {},
  close: () => Promise.resolve(),
});

test('with concurrency 3 later groups are acked before an earlier one that is still in flight; the cursor waits for it', async () => {
  let releaseFirst!: () => void;
  const firstHeld = new Promise<void>((r) => (releaseFirst = r));
  const inFlight: number[] = [];
  let peak = 0;
  const sink = sinkOf(async (batches) => {
    inFlight.push(1);
    peak = Math.max(peak, inFlight.length);
    if (batches[0]?.recordId === 0) await firstHeld;
    inFlight.pop();
    return DELIVERED;
  });
  const t = await setup(sink, [record(0, 'a\n'), record(1, 'b\n'), record(2, 'c\n')], 3);
  const run = t.runner.run();
  await waitUntil(() => t.consumer.acked.has(1) && t.consumer.acked.has(2));
  assert.equal(t.consumer.ackedUpTo, 0, 'record 0 is not acked yet: a restart replays from it');
  releaseFirst();
  await waitUntil(() => t.consumer.acked.has(0));
  assert.deepEqual(t.consumer.ackOrder, [1, 2, 0]);
  assert.ok(peak >= 2, 'writes overlapped');
  t.runner.drainTo(3);
  await run;
  await t.cleanup();
});

test('errored with retryAfterMs waits what the destination asked (capped at max_backoff), then delivers', async () => {
  let calls = 0;
  const sink = sinkOf(() => Promise.resolve(calls++ === 0 ? { status: 'errored', error: new Error('HTTP 503'), retryAfterMs: 2000 } : DELIVERED));
  const t = await setup(sink, [record(0, 'a\n')]);
  const run = t.runner.run();
  await waitUntil(() => t.consumer.acked.has(0));
  const failing = t.seen.find((e) => e.type === 'sink.failing');
  assert.ok(failing && failing.type === 'sink.failing');
  assert.equal(failing.retryInMs, 2000);
  assert.ok(t.seen.some((e) => e.type === 'sink.recovered'));
  t.runner.drainTo(1);
  await run;
  await t.cleanup();
});

test('a rejected payload is in the dead-letter store, fsynced and reported, before its group is acked', async () => {
  const sink = sinkOf((batches) => {
    const b = batches[0] as Envelope;
    return Promise.resolve({
      status: 'rejected',
      rejections: [{ payload: Buffer.from(b.lines), contentType: 'text/plain', reason: 'HTTP 400 Bad Request', status: 400, response: 'bad', firstEventId: b.recordId, lastEventId: b.recordId + b.events - 1, events: b.events }],
    });
  });
  const t = await setup(sink, [record(0, 'a\nb\n')]);
  const run = t.runner.run();
  await waitUntil(() => t.consumer.acked.has(0));
  const dl = t.seen.find((e) => e.type === 'sink.dead-lettered');
  assert.ok(dl && dl.type === 'sink.dead-lettered');
  assert.deepEqual([dl.firstEventId, dl.lastEventId, dl.events, dl.status], [0, 1, 2, 400]);
  const store = new DeadLetterStore(nodeFileSystem, join(t.dir, 'dead_letter', 'out'), 'out');
  const [entry] = await store.list();
  assert.ok(entry);
  assert.equal((await store.read(entry.name)).payload.toString(), 'a\nb\n');
  assert.equal(entry.meta.response, 'bad');
  t.runner.drainTo(1);
  await run;
  await t.cleanup();
});

test('a full dead-letter store holds the group back (backpressure): nothing more is acked, the block is reported', async () => {
  const sink = sinkOf((batches) => {
    const b = batches[0] as Envelope;
    return Promise.resolve({
      status: 'rejected',
      rejections: [{ payload: Buffer.alloc(4096), contentType: 'text/plain', reason: 'HTTP 400', firstEventId: b.recordId, lastEventId: b.recordId, events: 1 }],
    });
  });
  // The first entry fills the 1 KiB store (an empty store takes one of any size); the second waits.
  const t = await setup(sink, [record(0, 'a\n'), record(1, 'b\n')], 1, 1024);
  const run = t.runner.run();
  await waitUntil(() => t.seen.some((e) => e.type === 'sink.dead-letter-blocked'));
  assert.deepEqual([...t.consumer.acked], [0]);
  t.hardStop.abort();
  await run;
  assert.deepEqual([...t.consumer.acked], [0]);
  await t.cleanup();
});

test('an undecodable record is dead-lettered raw and acked; the records around it are delivered', async () => {
  const written: string[] = [];
  const sink = sinkOf((batches) => {
    for (const b of batches) written.push(b.lines.toString());
    return Promise.resolve(DELIVERED);
  });
  const bad: QueueRecord = { id: 1 as RecordId, events: 1, payload: Buffer.from([99, 0, 0]) };
  const t = await setup(sink, [record(0, 'a\n'), bad, record(2, 'c\n')]);
  const run = t.runner.run();
  await waitUntil(() => t.consumer.ackedUpTo === 3);
  assert.deepEqual(written, ['a\n', 'c\n']);
  assert.deepEqual(await readdir(join(t.dir, 'dead_letter', 'out')), ['record-1.dl']);
  t.runner.drainTo(3);
  await run;
  await t.cleanup();
});

const waitUntil = async (cond: () => boolean): Promise<void> => {
  // Turns of the event loop first, then short sleeps: fsyncs on a busy disk take real time.
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), 'condition never held');
};

test('a new destination (resume, prepare) is made durable with the cursor before anything is written into it, not just saved in place', async () => {
  // What the consumer was asked, in order: an in-place save could be taken back by a power loss
  // while the group written into the new destination stays, and that group would be written again.
  const calls: string[] = [];
  class LoggingConsumer extends MemoryConsumer {
    override setCheckpoint(): void {
      calls.push('checkpoint');
    }
    override saveCursor(): Promise<void> {
      calls.push('save');
      return Promise.resolve();
    }
    override flushCursor(): Promise<void> {
      calls.push('flush');
      return Promise.resolve();
    }
  }
  let writes = 0;
  const sink: Sink = {
    resume: () => Promise.resolve(Uint8Array.of(0)),
    // The second group goes into another file (the output was rotated).
    prepare: () => Promise.resolve(writes === 1 ? Uint8Array.of(1) : null),
    write: () => {
      calls.push(`write ${writes++}`);
      return Promise.resolve(DELIVERED);
    },
    reopen() {},
    close: () => Promise.resolve(),
  };
  const t = await setup(sink, []);
  const consumer = new LoggingConsumer([record(0, 'a\n'), record(1, 'b\n')]);
  const runner = new SinkRunner({ ...t.runnerOptions, consumer });
  const run = runner.run();
  await waitUntil(() => consumer.acked.has(1));
  runner.drainTo(2);
  await run;
  const before = (w: string): string[] => calls.slice(0, calls.indexOf(w));
  assert.deepEqual(before('write 0').slice(0, 2), ['checkpoint', 'flush'], calls.join(' '));
  const ahead = before('write 1');
  assert.deepEqual(ahead.slice(ahead.lastIndexOf('checkpoint')), ['checkpoint', 'flush'], calls.join(' '));
  await t.cleanup();
});

test('a prepare that fails, or a new destination whose cursor cannot be made durable, is a failed attempt: nothing is written until both succeed', async () => {
  const calls: string[] = [];
  let flushes = 0;
  class LoggingConsumer extends MemoryConsumer {
    override setCheckpoint(): void {
      calls.push('checkpoint');
    }
    override flushCursor(): Promise<void> {
      // The first flush of the new destination fails (EIO).
      if (calls.includes('checkpoint') && flushes++ === 0) {
        calls.push('flush failed');
        return Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
      }
      calls.push('flush');
      return Promise.resolve();
    }
  }
  let prepares = 0;
  const sink: Sink = {
    prepare: () => {
      prepares++;
      if (prepares === 2) {
        calls.push('prepare failed');
        return Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
      }
      return Promise.resolve(prepares === 3 ? Uint8Array.of(1) : null);
    },
    write: () => {
      calls.push('write');
      return Promise.resolve(DELIVERED);
    },
    reopen() {},
    close: () => Promise.resolve(),
  };
  const t = await setup(sink, []);
  const consumer = new LoggingConsumer([record(0, 'a\n'), record(1, 'b\n')]);
  const runner = new SinkRunner({ ...t.runnerOptions, consumer });
  const run = runner.run();
  await waitUntil(() => consumer.acked.has(1));
  runner.drainTo(2);
  await run;
  // The first group's cursor is flushed after it (the first delivery of a run), then the second group's attempts.
  assert.deepEqual(calls.slice(calls.indexOf('prepare failed')), ['prepare failed', 'checkpoint', 'flush failed', 'flush', 'write'], calls.join(' | '));
  assert.equal(calls.filter((c) => c === 'write').length, 2, calls.join(' | '));
  await t.cleanup();
});

test('resume whose checkpoint cannot be made durable is retried before anything is written', async () => {
  const calls: string[] = [];
  class LoggingConsumer extends MemoryConsumer {
    override setCheckpoint(): void {
      calls.push('checkpoint');
    }
    override flushCursor(): Promise<void> {
      if (!calls.includes('flush failed')) {
        calls.push('flush failed');
        return Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
      }
      calls.push('flush');
      return Promise.resolve();
    }
  }
  const sink: Sink = {
    resume: () => {
      calls.push('resume');
      return Promise.resolve(Uint8Array.of(0));
    },
    write: () => {
      calls.push('write');
      return Promise.resolve(DELIVERED);
    },
    reopen() {},
    close: () => Promise.resolve(),
  };
  const t = await setup(sink, []);
  const consumer = new LoggingConsumer([record(0, 'a\n')]);
  const runner = new SinkRunner({ ...t.runnerOptions, consumer });
  const run = runner.run();
  await waitUntil(() => consumer.acked.has(0));
  runner.drainTo(1);
  await run;
  assert.deepEqual(calls.slice(0, calls.indexOf('write') + 1), ['resume', 'checkpoint', 'flush failed', 'resume', 'checkpoint', 'flush', 'write'], calls.join(' | '));
  assert.ok(t.seen.some((e) => e.type === 'sink.failing'), 'the failure is reported');
  await t.cleanup();
});

test('delivering group after group leaves nothing behind on the long-lived hard-stop signal, and each write still sees a hard stop', async () => {
  const n = 2000;
  const records = Array.from({ length: n }, (_, i) => record(i, `line ${i}\n`));
  const t = await setup(sinkOf(async () => DELIVERED), records);
  const listenersBefore = getEventListeners(t.hardStop.signal, 'abort').length;
  const run = t.runner.run();
  await waitUntil(() => t.consumer.acked.size === n);
  // Per-attempt signals combined with the stop signal through AbortSignal.any stay linked into it
  // for as long as it lives (Node 20 never drops them): one per group, a leak for a long-lived agent.
  const dependants = Object.getOwnPropertySymbols(t.hardStop.signal).find((s) => s.description === 'kDependantSignals');
  const linked = dependants === undefined ? 0 : ((t.hardStop.signal as unknown as Record<symbol, Set<unknown> | undefined>)[dependants]?.size ?? 0);
  assert.ok(linked <= 1, `${linked} signals still linked to the hard stop after ${n} groups`);
  assert.ok(getEventListeners(t.hardStop.signal, 'abort').length <= listenersBefore + 1, 'no listener per group');
  // A write in flight still learns of a hard stop.
  let held!: AbortSignal;
  const t2 = await setup(sinkOf((_b, opts) => {
    held = opts.signal;
    return new Promise((resolve) => opts.signal.addEventListener('abort', () => resolve({ status: 'errored', error: opts.signal.reason }), { once: true }));
  }), [record(0, 'x\n')]);
  const run2 = t2.runner.run();
  await waitUntil(() => held !== undefined);
  t2.hardStop.abort(new Error('stop now'));
  await run2;
  assert.equal((held.reason as Error).message, 'stop now');
  t.runner.drainTo(n);
  await run;
  await t.cleanup();
  await t2.cleanup();
});
