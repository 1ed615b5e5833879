/**
 * Giving up an append (`AppendOptions.signal`): while it still waits (for space, or behind other
 * appends) it rejects with `AppendAbortedError` and nothing of it is stored; once written, an abort
 * changes nothing. Either way the caller knows which. Ids stay contiguous (later appends are
 * renumbered), so acknowledgements still fold and a reopen finds no gap. On the real disk (maxBytes)
 * and on the simulated one (a full disk), each simulated run printing its seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openQueue } from '../../src/queue';
import { AppendAbortedError } from '../../src/queue/errors';
import type { AppendResult, Queue, QueueEvent, QueueRecord } from '../../src/queue/types';
import { readAvailable, tempDir } from './helpers';
import { SimClock, SimFileSystem } from './sim-fs';

const rec = (tag: string, size = 900): Buffer => Buffer.alloc(size, `${tag}.`);
const tagOf = (r: QueueRecord): string => r.payload.toString('latin1').split('.')[0] ?? '';

/** Settles within `ms` (real time) or says 'waiting'. */
const within = async <T>(p: Promise<T>, ms: number): Promise<'resolved' | 'rejected' | 'waiting'> => {
  let timer: NodeJS.Timeout | undefined;
  const out = await Promise.race([
    p.then(
      () => 'resolved' as const,
      () => 'rejected' as const,
    ),
    new Promise<'waiting'>((r) => (timer = setTimeout(() => r('waiting'), ms))),
  ]);
  clearTimeout(timer);
  return out;
};

test('an append waiting for space that is given up rejects with AppendAbortedError, is never stored, and the next record takes its id', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const events: QueueEvent[] = [];
    const q = await openQueue({ dir, consumers: ['c'], segmentBytes: 4096, maxBytes: 16 * 1024, cursorFlushMs: 5, onEvent: (e) => events.push(e) });
    const ids: number[] = [];
    let i = 0;
    let waiting: Promise<AppendResult> | null = null;
    const ac = new AbortController();
    for (; i < 100; i++) {
      const p = q.append(rec(`a${i}`), { signal: ac.signal });
      if ((await within(p, 300)) !== 'resolved') {
        waiting = p;
        break;
      }
      ids.push((await p).id);
    }
    assert.ok(waiting !== null, 'the queue never filled');
    assert.equal(q.metrics().full, true);
    const behind = new AbortController();
    const second = q.append(rec('b'), { signal: behind.signal }); // queued behind the waiting one
    const third = q.append(rec('c')); // no signal: cannot be given up
    ac.abort();
    await assert.rejects(waiting, (e: unknown) => e instanceof AppendAbortedError && e.code === 'SLUICE_QUEUE_APPEND_ABORTED');
    behind.abort();
    await assert.rejects(second, AppendAbortedError);
    assert.equal(await within(third, 100), 'waiting', 'the append without a signal still waits for space');
    // The consumer catches up: space frees, the third append is written with the first id after the stored ones.
    const c = q.consumer('c');
    const got = await readAvailable(c);
    for (const r of got) c.ack(r.id);
    const r3 = await third;
    const last = ids[ids.length - 1] as number;
    assert.equal(r3.id, last + 1, 'no gap: the given-up appends left no ids behind');
    const more = await readAvailable(c);
    for (const r of more) c.ack(r.id);
    const all = [...got, ...more];
    assert.deepEqual(
      all.map(tagOf),
      [...ids.map((_, k) => `a${k}`), 'c'],
      'every stored record once, in order; nothing of the given-up ones',
    );
    assert.equal(q.metrics().full, false);
    assert.ok(events.some((e) => e.type === 'queue.space'));
    await q.close();
    // A reopen finds the same records, nothing damaged, and the consumer's cursor past all of them.
    const again = await openQueue({ dir, consumers: ['c'], segmentBytes: 4096, maxBytes: 16 * 1024 });
    assert.equal(again.recovery.corruptRecords, 0);
    assert.deepEqual(await readAvailable(again.consumer('c')), [], 'the acknowledgements folded past the given-up ids');
    const next = await again.append(rec('d'));
    assert.equal(next.id, r3.id + 1);
    await again.close();
  } finally {
    cleanup();
  }
});

test('giving up an append after it resolved changes nothing, and a signal already aborted refuses the append at once without using an id', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['c'] });
    const ac = new AbortController();
    const a = await q.append(rec('a', 10), { signal: ac.signal });
    ac.abort();
    await assert.rejects(q.append(rec('x', 10), { signal: ac.signal }), AppendAbortedError);
    const b = await q.append(rec('b', 10));
    assert.equal(b.id, a.id + 1);
    const got = await readAvailable(q.consumer('c'));
    assert.deepEqual(got.map(tagOf), ['a', 'b']);
    await q.close();
  } finally {
    cleanup();
  }
});

test('only given-up appends waiting: the queue stays full (no flapping) until a consumer frees space, then says queue.space on its own', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const events: QueueEvent[] = [];
    const q = await openQueue({ dir, consumers: ['c'], segmentBytes: 4096, maxBytes: 16 * 1024, cursorFlushMs: 5, onEvent: (e) => events.push(e) });
    const ac = new AbortController();
    let waiting: Promise<AppendResult> | null = null;
    for (let i = 0; i < 100 && waiting === null; i++) {
      const p = q.append(rec(`a${i}`), { signal: ac.signal });
      if ((await within(p, 300)) !== 'resolved') waiting = p;
    }
    assert.ok(waiting !== null);
    ac.abort();
    await assert.rejects(waiting, AppendAbortedError);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(q.metrics().full, true, 'nothing was freed: still full');
    assert.equal(events.filter((e) => e.type === 'queue.space').length, 0);
    const c = q.consumer('c');
    for (const r of await readAvailable(c)) c.ack(r.id);
    for (let k = 0; k < 100 && q.metrics().full; k++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(q.metrics().full, false);
    assert.equal(events.filter((e) => e.type === 'queue.space').length, 1);
    await q.close();
  } finally {
    cleanup();
  }
});

test('on a full simulated disk, appends given up at random while they wait are never stored, the others are stored once in order, and a reboot finds no damage', async () => {
  for (const seed of [101, 102, 103, 104, 105, 106, 107, 108]) {
    let clock = new SimClock();
    let fs = new SimFileSystem({ seed, clock, capacity: 8 * 4096, blockSize: 4096 });
    fs.mkdirDurable('/q');
    const run = async <T>(p: Promise<T>): Promise<T> => {
      const out = await clock.runUntil(p, { maxMs: 60_000 });
      if (out.status === 'resolved') return out.value;
      if (out.status === 'rejected') throw out.error;
      throw new Error(`seed ${seed}: the queue did not finish (${out.status})`);
    };
    const open = (): Promise<Queue> => run(openQueue({ dir: '/q', consumers: ['c'], segmentBytes: 4096, maxBytes: 1 << 20, cursorFlushMs: 60_000, fs, clock }));
    const q = await open();
    const c = q.consumer('c');
    await run(c.flushCursor());
    let n = 0;
    // Fill the disk.
    for (; n < 200; n++) {
      const p = q.append(rec(`r${n}`));
      if ((await clock.runUntil(p, { maxMs: 2_000 })).status !== 'resolved') {
        n++;
        break;
      }
    }
    assert.equal(q.metrics().full, true, `seed ${seed}`);
    // More appends wait behind; a seeded choice of them is given up.
    const outcomes: { tag: string; p: Promise<AppendResult>; abort: boolean }[] = [];
    let x = seed;
    for (let k = 0; k < 12; k++) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const abort = x % 3 === 0;
      const ac = new AbortController();
      const tag = `r${n++}`;
      const p = q.append(rec(tag), { signal: ac.signal });
      p.catch(() => undefined);
      outcomes.push({ tag, p, abort });
      if (abort) ac.abort();
    }
    // The consumer catches up: space frees and the rest are written.
    const got: QueueRecord[] = [];
    const drain = async (): Promise<void> => {
      for (;;) {
        const ac = new AbortController();
        const t = clock.setTimer(50, () => ac.abort());
        const recs = await run(c.read({ signal: ac.signal }));
        t.cancel();
        if (recs.length === 0) return;
        got.push(...recs);
        for (const r of recs) c.ack(r.id);
        await run(c.flushCursor());
      }
    };
    await drain();
    for (const o of outcomes) {
      if (o.abort) await assert.rejects(run(o.p), AppendAbortedError, `seed ${seed}: ${o.tag}`);
      else await run(o.p);
    }
    await drain();
    const expected = [...Array.from({ length: n - outcomes.length }, (_, k) => `r${k}`), ...outcomes.filter((o) => !o.abort).map((o) => o.tag)];
    assert.deepEqual(got.map(tagOf), expected, `seed ${seed}: stored once, in order, none given up`);
    for (let k = 1; k < got.length; k++) assert.equal((got[k] as QueueRecord).id, (got[k - 1] as QueueRecord).id + 1, `seed ${seed}: ids contiguous`);
    await run(q.close());
    clock = new SimClock();
    fs = fs.reboot({ clock });
    const again = await open();
    assert.equal(again.recovery.corruptRecords, 0, `seed ${seed}: ${again.recovery.notes.join('; ')}`);
    assert.equal(again.recovery.truncatedBytes, 0, `seed ${seed}: ${again.recovery.notes.join('; ')}`);
    await run(again.close());
  }
});
