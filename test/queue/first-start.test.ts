/**
 * The queue creates its own directory on first start (no test harness pre-creating it durably):
 * every directory it creates is made durable (an fsync of its parent) before anything in it is
 * acknowledged, so a power loss right after the first acknowledged append loses nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openQueue } from '../../src/queue';
import { SimClock, SimFileSystem } from './sim-fs';
import { settled } from './helpers';

const SEEDS = 200;

test(`first start + power loss right after an acknowledged append: the record is there after reboot (${SEEDS} seeds)`, async () => {
  const lost: number[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    const clock = new SimClock();
    const fs = new SimFileSystem({ seed, clock });
    const run = <T>(p: Promise<T>): Promise<T> => settled(clock, p, `seed ${seed}: the queue`, 30_000);
    // /var/lib exists (durably); sluice, its data_dir and the queue directory do not
    fs.mkdirDurable('/var/lib');
    const q = await run(openQueue({ dir: '/var/lib/sluice/data/queue', consumers: ['c'], segmentBytes: 4096, fs, clock }));
    await run(q.append(Buffer.from('acknowledged'), { events: 1 }));
    fs.crash({ kind: 'power' });
    const clock2 = new SimClock();
    const fs2 = fs.reboot({ clock: clock2 });
    const run2 = <T>(p: Promise<T>): Promise<T> => settled(clock2, p, `seed ${seed}: the reopened queue`, 30_000);
    const q2 = await run2(openQueue({ dir: '/var/lib/sluice/data/queue', consumers: ['c'], segmentBytes: 4096, fs: fs2, clock: clock2 }));
    const ac = new AbortController();
    clock2.setTimer(100, () => ac.abort());
    const recs = await run2(q2.consumer('c').read({ signal: ac.signal }));
    if (!recs.some((r) => r.payload.toString() === 'acknowledged')) lost.push(seed);
    await run2(q2.close());
  }
  assert.deepEqual(lost, [], `an acknowledged record was lost after a first-start power loss (seeds ${lost.slice(0, 10).join(', ')})`);
});
