/**
 * Sink checkpoints stored with the cursor, and the cursor written in place after every delivered
 * group (`saveCursor`: a pwrite, no fsync). On the simulated disk: a process crash (`kill -9`) keeps
 * every saved cursor; a power loss keeps at least the last durable one (`flushCursor`, the timer,
 * close), never an older one, never a damaged file, and the checkpoint always belongs to the id it
 * was saved with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openQueue } from '../../src/queue';
import type { Queue, QueueOptions, QueueRecord } from '../../src/queue/types';
import { createRng, SimClock, SimFileSystem } from './sim-fs';

const DIR = '/data/queue';
const opts = (fs: SimFileSystem, clock: SimClock, extra: Partial<QueueOptions> = {}): QueueOptions & { fs: SimFileSystem; clock: SimClock } => ({
  dir: DIR,
  consumers: ['out'],
  segmentBytes: 4096,
  maxBytes: 64 * 1024,
  cursorFlushMs: 1_000_000, // no timer persist during the test: only what the test asks for
  fs,
  clock,
  ...extra,
});

/** Runs `p` on the virtual clock. */
const runner = (clock: SimClock, seed: number) => async <T>(p: Promise<T>): Promise<T> => {
  const out = await clock.runUntil(p, { maxMs: 60_000 });
  if (out.status === 'resolved') return out.value;
  if (out.status === 'rejected') throw out.error;
  throw new Error(`seed ${seed}: did not finish (${out.status})`);
};

/** The checkpoint a test sink would give after the record ending at `nextId`. */
const cp = (nextId: number): Buffer => Buffer.from(`length-after:${nextId}`);

/** Appends `n` one-event records, reads them all; returns the queue's records. */
const fill = async (q: Queue, run: <T>(p: Promise<T>) => Promise<T>, clock: SimClock, n: number) => {
  for (let i = 0; i < n; i++) await run(q.append(Buffer.from(`r${i}`), { events: 1 }));
  const ac = new AbortController();
  clock.setTimer(10, () => ac.abort());
  const got: QueueRecord[] = [];
  for (;;) {
    const recs = await run(q.consumer('out').read({ signal: ac.signal }));
    if (recs.length === 0) break;
    got.push(...recs);
    if (got.length >= n) break;
  }
  assert.equal(got.length, n);
  return got;
};

const reopen = async (fs: SimFileSystem, kind: 'power' | 'process', seed: number, extra: Partial<QueueOptions> = {}) => {
  fs.crash({ kind, rng: createRng(seed * 7 + 1) });
  const clock = new SimClock();
  const fs2 = fs.reboot({ clock });
  const run = runner(clock, seed);
  const q = await run(openQueue(opts(fs2, clock, extra)));
  return { q, run };
};

test('a checkpoint given with an ack comes back with the cursor after a clean close', async () => {
  const clock = new SimClock();
  const fs = new SimFileSystem({ seed: 1, clock });
  fs.mkdirDurable('/data');
  const run = runner(clock, 1);
  const q = await run(openQueue(opts(fs, clock)));
  assert.equal(q.consumer('out').checkpoint, null, 'no checkpoint before any was given');
  const recs = await fill(q, run, clock, 5);
  const c = q.consumer('out');
  for (const r of recs.slice(0, 3)) c.ack(r.id, cp(r.id + 1));
  c.ack(recs[3]!.id); // an ack without a checkpoint keeps the one before
  await run(q.close());
  const clock2 = new SimClock();
  const fs2 = fs.reboot({ clock: clock2 });
  const run2 = runner(clock2, 1);
  const q2 = await run2(openQueue(opts(fs2, clock2)));
  assert.equal(q2.consumer('out').ackedUpTo, 4);
  assert.deepEqual(q2.consumer('out').checkpoint, cp(3));
  await run2(q2.close());
});

test('acks out of order: the stored checkpoint is the one of the record just below the low-water mark', async () => {
  const clock = new SimClock();
  const fs = new SimFileSystem({ seed: 2, clock });
  fs.mkdirDurable('/data');
  const run = runner(clock, 2);
  const q = await run(openQueue(opts(fs, clock)));
  const [a, , c3] = await fill(q, run, clock, 3);
  const c = q.consumer('out');
  c.ack(c3!.id, cp(3));
  c.ack(a!.id, cp(1));
  await run(c.saveCursor());
  const { q: q2, run: run2 } = await reopen(fs, 'process', 2);
  assert.equal(q2.consumer('out').ackedUpTo, 1, 'the mark stops below the unacked record');
  assert.deepEqual(q2.consumer('out').checkpoint, cp(1));
  await run2(q2.close());
});

test('a group acked after a later one (a retry written after it): the checkpoint stored is the one acked last', async () => {
  const clock = new SimClock();
  const fs = new SimFileSystem({ seed: 4, clock });
  fs.mkdirDurable('/data');
  const run = runner(clock, 4);
  const q = await run(openQueue(opts(fs, clock)));
  const [a, b] = await fill(q, run, clock, 2);
  const c = q.consumer('out');
  c.ack(b!.id, Buffer.from('after b'));
  c.ack(a!.id, Buffer.from('after a, retried, written after b'));
  await run(c.saveCursor());
  const { q: q2, run: run2 } = await reopen(fs, 'process', 4);
  assert.equal(q2.consumer('out').ackedUpTo, 2);
  assert.equal(String(q2.consumer('out').checkpoint), 'after a, retried, written after b');
  await run2(q2.close());
});

test('kill -9 after saveCursor (no fsync): the restart resumes at the saved cursor with its checkpoint', async () => {
  for (let seed = 1; seed <= 30; seed++) {
    const clock = new SimClock();
    const fs = new SimFileSystem({ seed, clock });
    fs.mkdirDurable('/data');
    const run = runner(clock, seed);
    const q = await run(openQueue(opts(fs, clock)));
    const recs = await fill(q, run, clock, 12);
    const c = q.consumer('out');
    const upto = 1 + createRng(seed).int(12);
    for (const r of recs.slice(0, upto)) {
      c.ack(r.id, cp(r.id + 1));
      await run(c.saveCursor());
    }
    const { q: q2, run: run2 } = await reopen(fs, 'process', seed);
    assert.equal(q2.consumer('out').ackedUpTo, upto, `seed ${seed}`);
    assert.deepEqual(q2.consumer('out').checkpoint, cp(upto), `seed ${seed}`);
    assert.deepEqual(q2.recovery.cursorsReset, [], `seed ${seed}`);
    await run2(q2.close());
  }
});

test('power loss after saves without fsync, dirty sectors written back in any order: the cursor is never older than the last durable one, and its checkpoint is its own (200 seeds)', async () => {
  const bad: string[] = [];
  for (let seed = 1; seed <= 200; seed++) {
    const rng = createRng(seed);
    const clock = new SimClock();
    const fs = new SimFileSystem({ seed, clock, writeback: 'any-order' });
    fs.mkdirDurable('/data');
    const run = runner(clock, seed);
    const q = await run(openQueue(opts(fs, clock)));
    const recs = await fill(q, run, clock, 20);
    const c = q.consumer('out');
    let durable = 0;
    let saved = 0;
    for (const r of recs) {
      c.ack(r.id, cp(r.id + 1));
      saved = r.id + 1;
      await run(c.saveCursor());
      if (rng.int(5) === 0) {
        await run(c.flushCursor());
        durable = saved;
      }
    }
    const { q: q2, run: run2 } = await reopen(fs, 'power', seed);
    const got = q2.consumer('out').ackedUpTo;
    const gotCp = q2.consumer('out').checkpoint;
    if (got < durable || got > saved) bad.push(`seed ${seed}: cursor ${got}, durable ${durable}, saved ${saved}`);
    else if (got > 0 && !cp(got).equals(gotCp ?? Buffer.alloc(0))) bad.push(`seed ${seed}: cursor ${got} with checkpoint ${String(gotCp)}`);
    if (q2.recovery.cursorsReset.length > 0) bad.push(`seed ${seed}: cursor reset (${q2.recovery.notes.join('; ')})`);
    await run2(q2.close());
  }
  assert.deepEqual(bad, []);
});

test('fsync: never hands no checkpoint back (a power loss may have taken records past the cursor)', async () => {
  const clock = new SimClock();
  const fs = new SimFileSystem({ seed: 3, clock });
  fs.mkdirDurable('/data');
  const run = runner(clock, 3);
  const never = { fsync: { mode: 'never' } } as const;
  const q = await run(openQueue(opts(fs, clock, never)));
  const [r] = await fill(q, run, clock, 1);
  q.consumer('out').ack(r!.id, cp(1));
  await run(q.close());
  const clock2 = new SimClock();
  const q2 = await runner(clock2, 3)(openQueue(opts(fs.reboot({ clock: clock2 }), clock2, never)));
  assert.equal(q2.consumer('out').ackedUpTo, 1);
  assert.equal(q2.consumer('out').checkpoint, null);
  await runner(clock2, 3)(q2.close());
});
