/**
 * The live status (src/pipeline/status.ts) on a hand-driven clock and queue: rates from counters,
 * backlogs, the oldest-unacked age, the `sink.behind` / `sink.caught-up` episode, recent warnings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventChannel, type AgentEvent } from '../../src/core/events';
import type { Clock, Timer } from '../../src/core/ports';
import { AgentMetrics, Histogram } from '../../src/pipeline/metrics';
import { describeEvent } from '../../src/pipeline/report';
import { Series, StatusTracker } from '../../src/pipeline/status';

class ManualClock implements Clock {
  mono = 1_000;
  wallMs = 1_700_000_000_000;
  now(): number {
    return this.mono;
  }
  wall(): number {
    return this.wallMs;
  }
  setTimer(): Timer {
    return { cancel: () => undefined };
  }
  advance(ms: number): void {
    this.mono += ms;
    this.wallMs += ms;
  }
}

const setup = (opts: { behindEvents?: number; warningsKept?: number } = {}) => {
  const clock = new ManualClock();
  const metrics = new AgentMetrics();
  const events = new EventChannel<AgentEvent>();
  const seen: AgentEvent[] = [];
  events.subscribe((e) => metrics.observe(e));
  events.subscribe((e) => seen.push(e));
  const queue = { head: 0, acked: new Map<string, number>(), bytes: 0, full: false, fullMs: 0 };
  const tracker = new StatusTracker({
    clock,
    metrics,
    events,
    queue: {
      metrics: () => ({ headId: queue.head, bytesOnDisk: queue.bytes, full: queue.full, fullMsTotal: queue.fullMs }),
      ackedUpTo: (sink) => queue.acked.get(sink) ?? 0,
    },
    maxBytes: 1 << 20,
    sources: [{ id: 'app', type: 'file' }],
    sinks: [
      { id: 'archive', type: 'file' },
      { id: 'slow', type: 'file' },
    ],
    ...opts,
  });
  return { clock, metrics, events, seen, queue, tracker };
};

test('rates are the counters’ growth per second between samples; the backlog is the queue head minus the sink’s acked id', () => {
  const { clock, metrics, queue, tracker } = setup();
  metrics.source('app').events = 1000;
  metrics.source('app').bytes = 50_000;
  metrics.sink('archive').events = 400;
  queue.head = 1000;
  queue.acked.set('archive', 400);
  queue.acked.set('slow', 1000);
  clock.advance(2000);
  tracker.sample();
  const s = tracker.snapshot();
  const app = s.sources.find((c) => c.id === 'app');
  assert.deepEqual([app?.events, app?.eventsPerSecond, app?.bytesPerSecond], [1000, 500, 25_000]);
  const archive = s.sinks.find((c) => c.id === 'archive');
  assert.deepEqual([archive?.eventsPerSecond, archive?.backlogEvents], [200, 600]);
  assert.equal(s.sinks.find((c) => c.id === 'slow')?.backlogEvents, 0);
  assert.deepEqual(archive?.history.eventsPerSecond, [200]);
  assert.deepEqual(archive?.backlogHistory, [600]);
  assert.equal(s.uptimeSeconds, 2);
  assert.deepEqual(s.queue, { bytesOnDisk: 0, maxBytes: 1 << 20, full: false, appendWaitSeconds: 0 });
});

test('the oldest unacked age comes from the record the sink holds, is 0 without a backlog, and never predates the last empty sample', () => {
  const { clock, metrics, queue, tracker } = setup();
  queue.head = 10;
  queue.acked.set('archive', 10);
  metrics.sink('archive').oldestIngestMs = clock.wall() - 3_600_000; // the group acked last, an hour ago
  tracker.sample();
  assert.equal(tracker.oldestAge('archive'), 0);
  // A record arrives after an idle hour; before the sink reads it, the bound says "since the last sample".
  clock.advance(1000);
  queue.head = 20;
  assert.equal(tracker.oldestAge('archive'), 1);
  metrics.sink('archive').oldestIngestMs = clock.wall(); // the sink holds it now
  clock.advance(2000);
  assert.equal(tracker.oldestAge('archive'), 2);
  tracker.sample();
  clock.advance(10_000);
  assert.equal(tracker.oldestAge('archive'), 12);
  metrics.sink('archive').oldestIngestMs = NaN; // nothing read yet (a start with a backlog)
  assert.equal(tracker.oldestAge('archive'), undefined);
});

test('a sink far behind reports sink.behind at once and every few seconds with rate and time left, then sink.caught-up', () => {
  const { clock, seen, queue, tracker } = setup({ behindEvents: 1000 });
  queue.head = 10_000;
  queue.acked.set('archive', 10_000);
  queue.acked.set('slow', 0);
  const behind = (): Extract<AgentEvent, { type: 'sink.behind' }>[] =>
    seen.filter((e): e is Extract<AgentEvent, { type: 'sink.behind' }> => e.type === 'sink.behind');
  clock.advance(1000);
  tracker.sample();
  assert.equal(behind().length, 0, 'the first report waits for a rate (a second sample)');
  clock.advance(1000);
  tracker.sample();
  assert.equal(behind().length, 1);
  assert.deepEqual({ ...behind()[0], oldestAgeSeconds: undefined }, {
    type: 'sink.behind',
    sink: 'slow',
    backlogEvents: 10_000,
    eventsPerSecond: 0,
    etaSeconds: undefined,
    oldestAgeSeconds: undefined,
  });
  // 1000 events acked a second while nothing new arrives: 5 s later, 5000 left at 1000/s.
  for (let i = 1; i <= 5; i++) {
    clock.advance(1000);
    queue.acked.set('slow', i * 1000);
    tracker.sample();
  }
  assert.equal(behind().length, 2);
  const last = behind()[1];
  assert.deepEqual([last?.backlogEvents, last?.eventsPerSecond, last?.etaSeconds], [5000, 1000, 5]);
  assert.equal(tracker.snapshot().sinks.find((s) => s.id === 'slow')?.behind?.etaSeconds, 5);
  assert.match(describeEvent(last!)?.msg ?? '', /^sink slow: 5000 events behind.*, delivering 1000\/s, about 5s left$/);
  // Below a tenth of the threshold: the episode ends, once.
  clock.advance(1000);
  queue.acked.set('slow', 9950);
  tracker.sample();
  tracker.sample();
  const done = seen.filter((e) => e.type === 'sink.caught-up');
  assert.equal(done.length, 1);
  assert.deepEqual(done[0], { type: 'sink.caught-up', sink: 'slow', backlogEvents: 50, behindMs: 7000 });
  assert.equal(tracker.snapshot().sinks.find((s) => s.id === 'slow')?.behind, undefined);
  assert.equal(behind().filter((e) => e.sink === 'archive').length, 0);
});

test('warnings and errors are kept as recent warnings with their stderr wording, the newest few only', () => {
  const { events, tracker } = setup({ warningsKept: 2 });
  events.emit({ type: 'sink.failing', sink: 'archive', attempt: 1, retryInMs: 100, error: new Error('disk gone'), unreported: 0 });
  events.emit({ type: 'sink.recovered', sink: 'archive', failedAttempts: 1 }); // info: not a warning
  events.emit({ type: 'queue.failed', error: new Error('EIO') });
  events.emit({ type: 'sink.close-failed', sink: 'archive', error: new Error('EBADF') });
  const w = tracker.snapshot().warnings;
  assert.deepEqual(
    w.map((x) => [x.level, x.message]),
    [
      ['error', 'queue: failed: EIO'],
      ['warn', 'sink archive: close failed: EBADF'],
    ],
  );
});

test('a series keeps the newest values, oldest first', () => {
  const s = new Series(3);
  for (const v of [1, 2, 3, 4]) s.push(v);
  assert.deepEqual(s.toArray(), [2, 3, 4]);
  assert.equal(s.back(0), 4);
  assert.equal(s.back(3), undefined);
});

test('the latency histogram counts each observation in the first bucket that holds it', () => {
  const h = new Histogram([1, 10]);
  for (const v of [0.5, 1, 5, 11]) h.observe(v);
  assert.deepEqual([...h.counts], [2, 1, 1]);
  assert.equal(h.count, 4);
  assert.equal(h.sum, 17.5);
});
