/** The queue under load on the real disk: producers and consumers at once, rolling and deleting. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { openQueue } from '../../src/queue/index';
import { readAvailable, tempDir } from './helpers';

const payloadFor = (i: number): Buffer => Buffer.from(`record ${i} `.padEnd(200 + ((i * 37) % 900), String.fromCharCode(97 + (i % 26))));

test('producers and two consumers at once: every record arrives in order while segments roll and are deleted under backpressure', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['fast', 'slow'], segmentBytes: 16 * 1024, maxBytes: 64 * 1024, cursorFlushMs: 5 });
    const total = 1500;
    const byId = new Map<number, number>();
    let next = 0;
    const producer = async (): Promise<void> => {
      while (next < total) {
        const i = next++;
        const r = await q.append(payloadFor(i));
        byId.set(r.id, i);
      }
    };
    const consume = async (name: string, delayEvery: number): Promise<number[]> => {
      const c = q.consumer(name);
      const seen: number[] = [];
      let reads = 0;
      while (seen.length < total) {
        const recs = await c.read({ maxRecords: 64, signal: AbortSignal.timeout(10_000) });
        assert.ok(recs.length > 0, `${name} stalled after ${seen.length} records`);
        for (const r of recs) {
          seen.push(r.id);
          const i = byId.get(r.id);
          if (i !== undefined) assert.ok(r.payload.equals(payloadFor(i)), `${name}: record ${r.id} content`);
        }
        // Out of order acks within the batch.
        for (let k = recs.length - 1; k >= 0; k--) c.ack(recs[k]!.id);
        if (++reads % delayEvery === 0) await new Promise((r) => setTimeout(r, 1));
      }
      return seen;
    };
    const [fast, slow] = await Promise.all([consume('fast', 50), consume('slow', 3), producer(), producer(), producer(), producer()]);
    for (const seen of [fast, slow]) {
      assert.equal(seen.length, total);
      for (let k = 1; k < seen.length; k++) assert.ok(seen[k]! > seen[k - 1]!, 'ids increase');
    }
    for (const [id, i] of byId) assert.ok(fast.includes(id), `record ${i} (id ${id}) delivered`);
    const m = q.metrics();
    assert.ok(m.deletedSegments > 0, 'segments were deleted along the way');
    assert.ok(m.fullMsTotal > 0 || m.full === false);
    assert.ok(m.bytesOnDisk <= 64 * 1024 + 1024, `bytes on disk ${m.bytesOnDisk} stayed bounded`);
    await q.close();
  } finally {
    cleanup();
  }
});

test('a consumer that fell behind the in-memory window reads the older records from disk, then catches up', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // maxBytes 256 KiB: the in-memory window is a quarter of it, so most records must come from disk.
    const q = await openQueue({ dir, consumers: ['late'], segmentBytes: 32 * 1024, maxBytes: 256 * 1024 });
    const n = 150;
    for (let i = 0; i < n; i++) await q.append(payloadFor(i));
    const c = q.consumer('late');
    const recs = await readAvailable(c);
    assert.equal(recs.length, n);
    recs.forEach((r, i) => assert.ok(r.payload.equals(payloadFor(i)), `record ${i}`));
    await q.append(payloadFor(n));
    const more = await c.read();
    assert.equal(more.length, 1);
    assert.ok(more[0]!.payload.equals(payloadFor(n)));
    await q.close();
  } finally {
    cleanup();
  }
});

test('a process whose only pending work is an append waiting for an interval fsync does not exit before it resolves', () => {
  const { dir, cleanup } = tempDir();
  try {
    const mod = JSON.stringify(join(__dirname, '..', '..', 'src', 'queue', 'index.js'));
    const script = `
      const { openQueue } = require(${mod});
      openQueue({ dir: ${JSON.stringify(dir)}, consumers: [], fsync: { mode: 'interval', intervalMs: 200 } })
        .then(async (q) => { await q.append(Buffer.from('a')); await q.append(Buffer.from('b')); console.log('resolved'); await q.close(); });`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout.trim(), 'resolved');
  } finally {
    cleanup();
  }
});
