/**
 * A full disk is backpressure, not a stop: on the simulated disk with a capacity (free-space
 * accounting: a write past it lands what fits, then ENOSPC), appends wait instead of failing, the
 * queue keeps persisting cursors (in place, no new space) and deleting what was consumed, and every
 * record comes out once, in order. Each test prints its seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openQueue } from '../../src/queue';
import type { AppendResult, Queue, QueueEvent, QueueOptions, QueueRecord } from '../../src/queue/types';
import { SimClock, SimFileSystem, type RunOutcome } from './sim-fs';
import { settled } from './helpers';

const BLOCK = 4096;

class World {
  clock = new SimClock();
  fs: SimFileSystem;
  readonly events: QueueEvent[] = [];

  constructor(
    readonly seed: number,
    blocks: number,
    blockSize = BLOCK,
  ) {
    this.fs = new SimFileSystem({ seed, clock: this.clock, capacity: blocks * blockSize, blockSize });
    this.fs.mkdirDurable('/q');
  }

  /** The next boot of the machine (after a close or a crash), with its own clock. */
  reboot(): void {
    this.clock = new SimClock();
    this.fs = this.fs.reboot({ clock: this.clock });
  }

  open(extra: Partial<QueueOptions> = {}): Promise<Queue> {
    return this.run(
      openQueue({
        dir: '/q',
        consumers: ['c'],
        segmentBytes: 4096,
        maxBytes: 1 << 20, // far above the disk: the disk fills first
        cursorFlushMs: 60_000,
        onEvent: (e) => this.events.push(e),
        ...extra,
        fs: this.fs,
        clock: this.clock,
      }),
    );
  }

  run<T>(p: Promise<T>): Promise<T> {
    return settled(this.clock, p, `seed ${this.seed}: the queue`);
  }

  settle<T>(p: Promise<T>, ms: number): Promise<RunOutcome<T>> {
    return this.clock.runUntil(p, { maxMs: ms });
  }

  /** Reads consumer c until nothing comes for 50 ms, acknowledging and persisting as it goes. */
  async drain(q: Queue): Promise<QueueRecord[]> {
    const c = q.consumer('c');
    const out: QueueRecord[] = [];
    for (;;) {
      const ac = new AbortController();
      const t = this.clock.setTimer(50, () => ac.abort());
      const got = await this.run(c.read({ signal: ac.signal }));
      t.cancel();
      if (got.length === 0) return out;
      out.push(...got);
      for (const r of got) c.ack(r.id);
      await this.run(c.flushCursor());
    }
  }
}

const payload = (i: number): Buffer => Buffer.alloc(900, `r${i}.`);
const serial = (r: QueueRecord): number => Number(/^r(\d+)\./.exec(r.payload.toString('latin1'))?.[1]);

test('a full disk makes appends wait (queue.full, reason disk-full) instead of failing; once the consumer catches up they go on and every record is read once, in order', async () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const w = new World(seed, 8); // lock + cursor + about six segments of 4 KiB
    const q = await w.open();
    await w.drain(q); // creates the cursor file (one block) now, while there is room
    const appends: Promise<AppendResult>[] = [];
    let i = 0;
    // Append until one waits: the disk is full long before maxBytes (1 MiB).
    for (; i < 200; i++) {
      const p = q.append(payload(i));
      appends.push(p);
      if ((await w.settle(p, 2_000)).status !== 'resolved') break;
    }
    assert.ok(i < 200, `seed ${seed}: the disk never filled`);
    assert.equal(q.metrics().full, true, `seed ${seed}`);
    const full = w.events.find((e) => e.type === 'queue.full');
    assert.ok(full?.type === 'queue.full' && full.reason === 'disk-full', `seed ${seed}: ${JSON.stringify(full)}`);
    assert.equal(w.events.filter((e) => e.type === 'queue.failed').length, 0, `seed ${seed}: the queue failed`);
    assert.ok(w.fs.disk.free() < BLOCK, `seed ${seed}: ${w.fs.disk.free()} bytes free`);
    // More appends queue behind the waiting one, in call order.
    for (let k = 0; k < 10; k++) appends.push(q.append(payload(++i)));
    // The consumer catches up: its cursor is persisted in place (no new space), segments go, appends resume.
    const got = await w.drain(q);
    const rest = await w.run(Promise.all(appends));
    got.push(...(await w.drain(q)));
    assert.equal(w.events.filter((e) => e.type === 'queue.cursor-persist-failed').length, 0, `seed ${seed}: a cursor persist needed space`);
    assert.deepEqual(got.map(serial), Array.from({ length: i + 1 }, (_, k) => k), `seed ${seed}: every record once, in order`);
    assert.deepEqual(
      got.map((r) => r.id),
      rest.map((r) => r.id),
      `seed ${seed}`,
    );
    assert.ok(w.events.some((e) => e.type === 'queue.space'), `seed ${seed}`);
    assert.equal(q.metrics().full, false);
    await w.run(q.close());
    // Nothing of a cut-back partial write is left in a segment: a reopen finds no damage.
    w.reboot();
    const again = await w.open();
    assert.equal(again.recovery.corruptRecords, 0, `seed ${seed}: ${again.recovery.notes.join('; ')}`);
    assert.equal(again.recovery.truncatedBytes, 0, `seed ${seed}: ${again.recovery.notes.join('; ')}`);
    await w.run(again.close());
  }
});

test('a queue opened on a full disk starts: its positions snapshot waits for room and goes in front of the first record', async () => {
  for (const seed of [11, 12, 13]) {
    const w = new World(seed, 1 << 20, 1); // byte-granular accounting: no slack in a last block
    let q = await w.open();
    for (let i = 0; i < 6; i++) await w.run(q.append(payload(i), { positions: [{ key: 'src', value: Buffer.from(`p${i}`) }] }));
    await w.run(q.close());
    // The disk fills up while the agent is stopped: room for the lock file (about 22 bytes) only,
    // not for the open's positions snapshot (47 bytes).
    w.fs.disk.capacity = w.fs.disk.used() + 30;
    w.reboot();
    q = await w.open();
    assert.equal(q.positions().get('src')?.toString(), 'p5', `seed ${seed}`);
    const p = q.append(payload(6), { positions: [{ key: 'src', value: Buffer.from('p6') }] });
    assert.equal((await w.settle(p, 3_000)).status, 'timeout', `seed ${seed}: the append should wait for space`);
    const got = await w.drain(q); // frees the older segments
    await w.run(p);
    got.push(...(await w.drain(q)));
    assert.deepEqual(got.map(serial), [0, 1, 2, 3, 4, 5, 6], `seed ${seed}`);
    await w.run(q.close());
    w.reboot();
    q = await w.open();
    assert.equal(q.recovery.corruptRecords, 0, `seed ${seed}: ${q.recovery.notes.join('; ')}`);
    assert.equal(q.positions().get('src')?.toString(), 'p6', `seed ${seed}`);
    await w.run(q.close());
  }
});

test('a power loss while appends wait on a full disk keeps every acknowledged record and brings back no partial write', async () => {
  for (let seed = 21; seed <= 60; seed++) {
    const w = new World(seed, 8);
    const q = await w.open();
    await w.drain(q);
    const acked: number[] = [];
    let i = 0;
    for (; i < 200; i++) {
      const p = q.append(payload(i));
      const out = await w.settle(p, 2_000);
      if (out.status !== 'resolved') break;
      acked.push(i);
    }
    // Crash somewhere in the next steps: inside the retries, the cut-backs or the consumer catching up.
    w.fs.crashAt(w.fs.steps + 1 + (seed % 17));
    const c = q.consumer('c');
    const delivered = new Set<number>();
    const drain = async (): Promise<void> => {
      for (;;) {
        const got = await c.read({});
        for (const r of got) {
          delivered.add(serial(r));
          c.ack(r.id);
        }
        await c.flushCursor();
      }
    };
    void drain().catch(() => undefined); // ends with the crash (its calls reject)
    await w.clock.runUntil(new Promise<void>(() => undefined), { maxMs: 5_000, stop: () => w.fs.crashed });
    assert.ok(w.fs.crashed, `seed ${seed}: did not crash`);
    const clock2 = new SimClock();
    const fs2 = w.fs.reboot({ clock: clock2 });
    const w2run = <T>(p: Promise<T>): Promise<T> => settled(clock2, p, `seed ${seed}: the reopened queue`);
    const q2 = await w2run(openQueue({ dir: '/q', consumers: ['c'], segmentBytes: 4096, maxBytes: 1 << 20, fs: fs2, clock: clock2 }));
    assert.equal(q2.recovery.corruptRecords, 0, `seed ${seed}: ${q2.recovery.notes.join('; ')}`);
    const c2 = q2.consumer('c');
    const seen: number[] = [];
    for (;;) {
      const ac = new AbortController();
      const t = clock2.setTimer(50, () => ac.abort());
      const got = await w2run(c2.read({ signal: ac.signal }));
      t.cancel();
      if (got.length === 0) break;
      for (const r of got) {
        seen.push(serial(r));
        c2.ack(r.id);
      }
    }
    // Every acknowledged append was delivered before the crash or is read after it.
    for (const k of acked) assert.ok(delivered.has(k) || seen.includes(k), `seed ${seed}: acknowledged record ${k} lost`);
    for (let k = 1; k < seen.length; k++) assert.ok((seen[k] as number) > (seen[k - 1] as number), `seed ${seed}: order ${seen.join(',')}`);
    await w2run(q2.close());
  }
});
