/**
 * Background failures and state changes become events (`QueueOptions.onEvent`): reported once per
 * episode, counted in metrics. Faults are injected on the simulated disk (EIO, ENOSPC).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openQueue } from '../../src/queue';
import type { QueueEvent, QueueOptions, Queue, QueueRecord } from '../../src/queue/types';
import { SimClock, SimFileSystem } from './sim-fs';
import { settled } from './helpers';

type Rule = (syscall: string, path: string) => string | null;

function world(seed: number): {
  fs: SimFileSystem;
  clock: SimClock;
  events: QueueEvent[];
  setFault(rule: Rule | null): void;
  open(extra?: Partial<QueueOptions>): Promise<Queue>;
  run<T>(p: Promise<T>): Promise<T>;
  sleep(ms: number): Promise<void>;
  readOnce(q: Queue): Promise<QueueRecord[]>;
} {
  let rule: Rule | null = null;
  const clock = new SimClock();
  const fs = new SimFileSystem({ seed, clock, faults: { rule: (syscall, path) => rule?.(syscall, path) ?? null } });
  fs.mkdirDurable('/q');
  const events: QueueEvent[] = [];
  const run = <T>(p: Promise<T>): Promise<T> => settled(clock, p, 'the queue');
  return {
    fs,
    clock,
    events,
    setFault: (r) => {
      rule = r;
    },
    open: (extra = {}) =>
      run(openQueue({ dir: '/q', consumers: ['c'], segmentBytes: 4096, onEvent: (e) => events.push(e), ...extra, fs, clock })),
    run,
    sleep: (ms) => run(clock.sleep(ms)),
    readOnce: async (q) => {
      const ac = new AbortController();
      const t = clock.setTimer(100, () => ac.abort());
      const got = await run(q.consumer('c').read({ signal: ac.signal }));
      t.cancel();
      return got;
    },
  };
}

const types = (events: readonly QueueEvent[], prefix: string): string[] => events.filter((e) => e.type.startsWith(prefix)).map((e) => e.type);
const sized = (n: number, fill: string): Buffer => Buffer.alloc(n, fill);

test('a cursor the timer cannot persist is reported once per episode and counted, and reported again once it is persisted', async () => {
  const w = world(1);
  const q = await w.open({ cursorFlushMs: 100 });
  const c = q.consumer('c');
  for (const fill of ['a', 'b']) await w.run(q.append(sized(10, fill)));
  for (const r of await w.readOnce(q)) c.ack(r.id);
  // The cursor file exists (created at open): persists overwrite it in place.
  w.setFault((syscall, path) => ((syscall === 'open' || syscall === 'pwrite') && path.includes('cursor.') ? 'EIO' : null));
  await w.sleep(550); // five timer rounds, each failing
  assert.deepEqual(types(w.events, 'queue.cursor'), ['queue.cursor-persist-failed']);
  const failed = w.events.find((e) => e.type === 'queue.cursor-persist-failed');
  assert.ok(failed?.type === 'queue.cursor-persist-failed' && failed.consumer === 'c');
  assert.equal((failed.error as { code?: string }).code, 'SLUICE_QUEUE_IO');
  const failures = q.metrics().cursorPersistFailures;
  assert.ok(failures >= 3, `every failed attempt is counted (${failures})`);
  w.setFault(null);
  await w.sleep(250);
  assert.deepEqual(types(w.events, 'queue.cursor'), ['queue.cursor-persist-failed', 'queue.cursor-persisted']);
  assert.equal(q.metrics().cursorPersistFailures, failures);
  await w.run(q.close());
  // The cursor was persisted: nothing is delivered again.
  const again = await w.open();
  assert.deepEqual(await w.readOnce(again), []);
  await w.run(again.close());
});

test('a segment that cannot be deleted is reported once, counted and kept, and deleted once unlink works again', async () => {
  const w = world(2);
  const q = await w.open({ cursorFlushMs: 60_000 });
  const c = q.consumer('c');
  for (let i = 0; i < 8; i++) await w.run(q.append(sized(1500, String.fromCharCode(97 + i))));
  const before = q.metrics().bytesOnDisk;
  w.setFault((syscall, path) => (syscall === 'unlink' && path.includes('seg-') ? 'EIO' : null));
  const consumeAll = async (): Promise<void> => {
    for (let got = await w.readOnce(q); got.length > 0; got = await w.readOnce(q)) for (const r of got) c.ack(r.id);
    await w.run(c.flushCursor()); // persisting the cursor starts a deletion in the background
    await w.sleep(50);
  };
  await consumeAll();
  const deleteFailed = w.events.filter((e) => e.type === 'queue.segment-delete-failed');
  assert.equal(deleteFailed.length, 1);
  assert.ok(deleteFailed[0]?.type === 'queue.segment-delete-failed' && deleteFailed[0].segment === 'seg-00000000000000000000.log');
  assert.equal(q.metrics().deletedSegments, 0);
  assert.equal(q.metrics().bytesOnDisk, before);
  assert.ok(w.fs.list('/q')?.includes('seg-00000000000000000000.log'));
  // The next acknowledged record retries: it fails again, counted, not reported again.
  await w.run(q.append(sized(10, 'x')));
  await consumeAll();
  assert.ok(q.metrics().segmentDeleteFailures >= 2);
  assert.equal(w.events.filter((e) => e.type === 'queue.segment-delete-failed').length, 1);
  w.setFault(null);
  await w.run(q.append(sized(10, 'y')));
  await consumeAll();
  assert.ok(q.metrics().deletedSegments >= 2, 'the passed segments are deleted once unlink works');
  assert.ok(!w.fs.list('/q')?.includes('seg-00000000000000000000.log'));
  assert.equal(w.events.filter((e) => e.type === 'queue.segment-delete-failed').length, 1);
  await w.run(q.close());
});

test('appends waiting for space report queue.full when the wait starts and queue.space with the time waited when it ends', async () => {
  const w = world(3);
  const q = await w.open({ segmentBytes: 4096, maxBytes: 8192, cursorFlushMs: 60_000 });
  const c = q.consumer('c');
  let resolved = 0;
  const appends = ['a', 'b', 'c'].map((fill) =>
    q.append(sized(3000, fill)).then(() => {
      resolved++;
    }),
  );
  await w.sleep(20);
  assert.equal(resolved, 2, 'the third append waits for space');
  assert.deepEqual(types(w.events, 'queue.'), ['queue.full']);
  const full = w.events[0];
  assert.ok(full?.type === 'queue.full' && full.maxBytes === 8192 && full.bytesOnDisk > 8192 - 3032);
  assert.equal(q.metrics().full, true);
  await w.sleep(1000);
  for (const r of await w.readOnce(q)) c.ack(r.id);
  await w.run(Promise.all(appends));
  assert.deepEqual(types(w.events, 'queue.'), ['queue.full', 'queue.space']);
  const space = w.events[1];
  assert.ok(space?.type === 'queue.space' && space.waitedMs >= 1000, `waited ${JSON.stringify(space)}`);
  assert.equal(q.metrics().full, false);
  assert.ok(q.metrics().fullMsTotal >= 1000);
  await w.run(q.close());
});

test('a cursor the full writer cannot persist is reported, and the append proceeds once it can', async () => {
  const w = world(4);
  const q = await w.open({ segmentBytes: 4096, maxBytes: 8192, cursorFlushMs: 60_000 });
  const c = q.consumer('c');
  // Persists overwrite the cursor file in place (no new space, so never ENOSPC): an I/O error.
  w.setFault((syscall, path) => (syscall === 'pwrite' && path.includes('cursor.') ? 'EIO' : null));
  const appends = ['a', 'b', 'c'].map((fill) => q.append(sized(3000, fill)));
  await w.sleep(20);
  for (const r of await w.readOnce(q)) c.ack(r.id); // wakes the full writer: it persists cursors at once
  await w.sleep(20);
  // The writer tries to persist before it starts waiting, so the two episodes start in either order.
  assert.deepEqual(types(w.events, 'queue.').sort(), ['queue.cursor-persist-failed', 'queue.full']);
  assert.ok(q.metrics().cursorPersistFailures >= 1);
  assert.equal(q.metrics().full, true);
  w.setFault(null);
  await w.run(c.flushCursor());
  await w.run(Promise.all(appends));
  const seen = types(w.events, 'queue.');
  assert.deepEqual([...seen].sort(), ['queue.cursor-persist-failed', 'queue.cursor-persisted', 'queue.full', 'queue.space']);
  assert.ok(seen.indexOf('queue.cursor-persist-failed') < seen.indexOf('queue.cursor-persisted'));
  assert.ok(seen.indexOf('queue.full') < seen.indexOf('queue.space'));
  await w.run(q.close());
});

test('a write that fails reports queue.failed once, and appends and reads reject', async () => {
  const w = world(5);
  const q = await w.open();
  await w.run(q.append(sized(10, 'a')));
  w.setFault((syscall, path) => (syscall === 'writev' && path.includes('seg-') ? 'EIO' : null));
  await assert.rejects(w.run(q.append(sized(10, 'b'))), (err: { code?: string }) => err.code === 'SLUICE_QUEUE_IO');
  await assert.rejects(w.run(q.append(sized(10, 'c'))), (err: { code?: string }) => err.code === 'SLUICE_QUEUE_IO');
  assert.deepEqual(types(w.events, 'queue.'), ['queue.failed']);
  const failed = w.events[0];
  assert.ok(failed?.type === 'queue.failed' && (failed.error as { code?: string }).code === 'SLUICE_QUEUE_IO');
  w.setFault(null);
  await assert.rejects(w.run(q.close()), (err: { code?: string }) => err.code === 'SLUICE_QUEUE_IO');
});

test('a listener that throws does not break the queue, and without a listener nothing is reported', async () => {
  const w = world(6);
  const q = await w.open({
    segmentBytes: 4096,
    maxBytes: 8192,
    onEvent: () => {
      throw new Error('listener bug');
    },
  });
  const c = q.consumer('c');
  const appends = ['a', 'b', 'c'].map((fill) => q.append(sized(3000, fill)));
  await w.sleep(20);
  for (const r of await w.readOnce(q)) c.ack(r.id);
  await w.run(Promise.all(appends));
  assert.equal(q.metrics().full, false);
  await w.run(q.close());
});
