import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openQueue } from '../../src/queue/index';
import { RecordArena } from '../../src/queue/arena';
import type { QueueRecord } from '../../src/queue/types';
import { tempDir } from './helpers';

const KiB = 1024;

/** Payload parts for record `i`: a small header naming it, then `size` bytes all equal to `i % 251`. */
const parts = (i: number, size: number): Buffer[] => [Buffer.from(`rec ${String(i).padStart(6, '0')} `), Buffer.alloc(size, i % 251)];
const intact = (r: QueueRecord, i: number, size: number): boolean => r.payload.equals(Buffer.concat(parts(i, size)));

test('the record arena reuses a chunk once all its slots are released, and never a slot still taken', () => {
  const arena = new RecordArena(64 * KiB);
  const held: { buf: Buffer; chunk: ReturnType<RecordArena['take']>['chunk']; fill: number }[] = [];
  for (let round = 0; round < 200; round++) {
    const t = arena.take(10 * KiB);
    t.buf.fill(round % 251);
    held.push({ ...t, fill: round % 251 });
    // Release in order, keeping the last 8 slots taken.
    while (held.length > 8) {
      const h = held.shift();
      assert.ok(h !== undefined && h.buf.every((b) => b === h.fill), 'a slot still taken was overwritten');
      if (h.chunk !== null) arena.release(h.chunk);
    }
  }
  for (const h of held) assert.ok(h.buf.every((b) => b === h.fill), 'a slot still taken was overwritten');
  // 200 slots of 10 KiB (2 MB) went through a handful of 64 KiB chunks.
  assert.ok(arena.chunksAllocated <= 4, `allocated ${arena.chunksAllocated} chunks`);
  const big = arena.take(40 * KiB);
  assert.equal(big.chunk, null, 'more than half a chunk gets memory of its own');
});

for (const [cacheBytes, how] of [
  [undefined, 'served from the read cache'],
  [0, 'read back from the segment files into reused buffers (no cache)'],
] as const) {
test(`payloads appended as parts stay intact while any consumer holds them unacknowledged, as later appends reuse memory others released: ${how}`, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['fast', 'slow'], fsync: { mode: 'never' }, ...(cacheBytes === undefined ? {} : { cacheBytes }) });
    const size = 200 * KiB;
    const n = 150; // 30 MB: more than the cache and the released-memory bookkeeping hold
    const fast = q.consumer('fast');
    const slow = q.consumer('slow');
    const slowHeld: QueueRecord[] = [];
    let appended = 0;
    let fastSeen = 0;
    const reuse: Promise<void>[] = [];
    while (appended < n || fastSeen < n) {
      if (appended < n) {
        const i = appended++;
        const p = parts(i, size);
        reuse.push(q.append(p).then(() => undefined));
        p[1]?.fill(255); // the caller's parts may change at once: the queue copied them
      }
      if (appended % 10 === 0 || appended === n) {
        await Promise.all(reuse.splice(0));
        for (const r of await fast.read({ maxRecords: 1000 })) {
          assert.ok(intact(r, fastSeen, size), `fast: record ${fastSeen} damaged`);
          fastSeen++;
          fast.ack(r.id);
        }
        if (slowHeld.length < n) slowHeld.push(...(await slow.read({ maxRecords: 1000 })));
      }
    }
    // The slow consumer held every record unacknowledged while the fast one went through all.
    assert.equal(slowHeld.length, n);
    slowHeld.forEach((r, i) => assert.ok(intact(r, i, size), `slow: record ${i} damaged while held`));
    for (const r of slowHeld) slow.ack(r.id);
    // With both acked, a second round reuses released memory and stays intact too.
    for (let i = 0; i < 40; i++) {
      await q.append(parts(n + i, size));
      for (const c of [fast, slow]) {
        const [r] = await c.read({ maxRecords: 1 });
        assert.ok(r !== undefined && intact(r, n + i, size), `record ${n + i} damaged`);
        c.ack(r.id);
      }
    }
    await q.close();
  } finally {
    cleanup();
  }
});
}

test('records the read cache drops before any consumer read them give their memory back at once: a consumer far behind costs a few chunks, not the backlog', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // Default cache (8 MiB); 40 MB appended while the only consumer reads nothing.
    const q = await openQueue({ dir, consumers: ['behind'], fsync: { mode: 'never' } });
    const size = 256 * KiB;
    const n = 160;
    for (let i = 0; i < n; i += 8) await Promise.all(Array.from({ length: 8 }, (_, k) => q.append(parts(i + k, size))));
    // The cache (2 chunks) + the chunk being filled + 2 kept free: the 38 chunks the backlog would
    // fill stay unallocated, since none of it was ever handed out of memory.
    const chunks = q.metrics().memoryChunksAllocated;
    assert.ok(chunks <= 6, `allocated ${chunks} chunks for a 40 MB backlog`);
    // The consumer then reads everything back intact (from the segment files, then the cache).
    const c = q.consumer('behind');
    let seen = 0;
    while (seen < n) {
      for (const r of await c.read({ maxRecords: 1000 })) {
        assert.ok(intact(r, seen, size), `record ${seen} damaged`);
        seen++;
        c.ack(r.id);
      }
    }
    await q.close();
  } finally {
    cleanup();
  }
});
