import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeFileSystem, openQueue, QueueLockedError, QueueUsageError, RecordTooLargeError } from '../../src/queue/index';
import type { FileHandle, FileSystem } from '../../src/core/ports';
import { asRecordId } from '../../src/queue/types';
import { readAvailable, readN, tempDir, text } from './helpers';

/** Lets pending background work (deletion after a cursor flush) run. */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10));
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await settle();
  assert.ok(cond(), 'condition not reached within 10 s');
}

const segFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('seg-')).sort();

test('appended records are read back in order with ids advancing by their event counts', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'] });
    const r1 = await q.append(Buffer.from('one'), { events: 3 });
    const r2 = await q.append(Buffer.from('two'));
    const r3 = await q.append(Buffer.from('three'), { events: 2 });
    assert.equal(r1.id, 0);
    assert.equal(r1.nextId, 3);
    assert.equal(r2.id, 3);
    assert.equal(r3.id, 4);
    assert.equal(r3.nextId, 6);
    const recs = await readN(q.consumer('a'), 3);
    assert.deepEqual(
      recs.map((r) => [r.id, r.events, text(r)]),
      [
        [0, 3, 'one'],
        [3, 1, 'two'],
        [4, 2, 'three'],
      ],
    );
    await q.close();
  } finally {
    cleanup();
  }
});

test('a reopened queue resumes each consumer after its acknowledged records and continues the ids', async () => {
  const { dir, cleanup } = tempDir();
  try {
    let q = await openQueue({ dir, consumers: ['a', 'b'] });
    for (let i = 0; i < 10; i++) await q.append(Buffer.from(`r${i}`));
    const a = q.consumer('a');
    const got = await readN(a, 10);
    for (const r of got.slice(0, 4)) a.ack(r.id);
    await q.close();

    q = await openQueue({ dir, consumers: ['a', 'b'] });
    assert.equal(q.recovery.records, 10);
    assert.equal(q.recovery.corruptRecords, 0);
    assert.deepEqual(q.recovery.cursorsReset, []);
    const a2 = await readAvailable(q.consumer('a'));
    assert.deepEqual(a2.map(text), ['r4', 'r5', 'r6', 'r7', 'r8', 'r9']);
    const b2 = await readAvailable(q.consumer('b'));
    assert.equal(b2.length, 10);
    const next = await q.append(Buffer.from('r10'));
    assert.equal(next.id, 10);
    await q.close();
  } finally {
    cleanup();
  }
});

test('a record read by one consumer is still delivered to the others', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a', 'b'] });
    await q.append(Buffer.from('x'));
    const a = await readN(q.consumer('a'), 1);
    q.consumer('a').ack(a[0]!.id);
    const b = await readN(q.consumer('b'), 1);
    assert.equal(text(b[0]!), 'x');
    await q.close();
  } finally {
    cleanup();
  }
});

test('positions recorded with appends survive reopen and a null value forgets a key', async () => {
  const { dir, cleanup } = tempDir();
  try {
    let q = await openQueue({ dir, consumers: ['a'], segmentBytes: 4096, maxBytes: 1 << 20 });
    await q.append(Buffer.from('l1'), { positions: [{ key: 'f:1', value: Buffer.from('100') }] });
    await q.append(Buffer.from('l2'), {
      positions: [
        { key: 'f:1', value: Buffer.from('200') },
        { key: 'f:2', value: Buffer.from('7') },
      ],
    });
    await q.append(Buffer.from('l3'), { positions: [{ key: 'f:2', value: null }] });
    assert.equal(Buffer.from(q.positions().get('f:1')!).toString(), '200');
    assert.equal(q.positions().has('f:2'), false);
    await q.close();
    q = await openQueue({ dir, consumers: ['a'], segmentBytes: 4096, maxBytes: 1 << 20 });
    assert.equal(Buffer.from(q.positions().get('f:1')!).toString(), '200');
    assert.equal(q.positions().has('f:2'), false);
    await q.close();
  } finally {
    cleanup();
  }
});

test('positions survive the deletion of the segments that carried them', async () => {
  const { dir, cleanup } = tempDir();
  try {
    let q = await openQueue({ dir, consumers: ['a'], segmentBytes: 4096, maxBytes: 1 << 20 });
    await q.append(Buffer.from('x'), { positions: [{ key: 'k', value: Buffer.from('first') }] });
    const filler = Buffer.alloc(1000, 0x61);
    for (let i = 0; i < 20; i++) await q.append(filler);
    const a = q.consumer('a');
    for (const r of await readN(a, 21)) a.ack(r.id);
    await a.flushCursor();
    await q.append(filler);
    // Deletion runs in the background after the cursor is persisted: wait for it, don't race it.
    await waitFor(() => q.metrics().deletedSegments > 0);
    assert.ok(!segFiles(dir).includes('seg-00000000000000000000.log'));
    await q.close();
    q = await openQueue({ dir, consumers: ['a'], segmentBytes: 4096, maxBytes: 1 << 20 });
    assert.equal(Buffer.from(q.positions().get('k')!).toString(), 'first');
    await q.close();
  } finally {
    cleanup();
  }
});

test('segments roll at the configured size and are deleted only after every consumer passed them', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a', 'b'], segmentBytes: 8192, maxBytes: 1 << 20 });
    const payload = Buffer.alloc(2000, 0x62);
    for (let i = 0; i < 12; i++) await q.append(payload);
    const before = segFiles(dir);
    assert.ok(before.length >= 3, `expected several segments, got ${before.join(',')}`);
    for (const f of before) assert.ok(statSync(join(dir, f)).size <= 8192);
    const a = q.consumer('a');
    for (const r of await readN(a, 12)) a.ack(r.id);
    await a.flushCursor();
    await settle();
    assert.deepEqual(segFiles(dir), before, 'consumer b has not read anything: nothing deleted');
    const b = q.consumer('b');
    const bRecs = await readN(b, 12);
    for (const r of bRecs.slice(0, 6)) b.ack(r.id);
    await settle();
    assert.deepEqual(segFiles(dir), before, 'acks alone delete nothing until the cursor is persisted');
    await b.flushCursor();
    await waitFor(() => segFiles(dir).length < before.length);
    const mid = segFiles(dir);
    assert.ok(mid.length > 1, `some but not all deleted: ${mid.join(',')}`);
    for (const r of bRecs.slice(6)) b.ack(r.id);
    await b.flushCursor();
    await waitFor(() => q.metrics().deletedSegments === before.length - 1);
    assert.equal(segFiles(dir).length, 1, 'only the active segment remains');
    await q.close();
  } finally {
    cleanup();
  }
});

test('acknowledgements out of order fold into a contiguous low-water mark', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'] });
    for (let i = 0; i < 5; i++) await q.append(Buffer.from(`r${i}`), { events: 2 });
    const a = q.consumer('a');
    const recs = await readN(a, 5);
    a.ack(recs[2]!.id);
    a.ack(recs[1]!.id);
    assert.equal(a.ackedUpTo, 0);
    a.ack(recs[0]!.id);
    assert.equal(a.ackedUpTo, 6);
    a.ack(recs[4]!.id);
    assert.equal(a.ackedUpTo, 6);
    a.ack(recs[3]!.id);
    assert.equal(a.ackedUpTo, 10);
    assert.throws(() => a.ack(asRecordId(10)), /never read/);
    await q.close();
  } finally {
    cleanup();
  }
});

test('rewind hands out unacknowledged records again from the low-water mark', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'] });
    for (let i = 0; i < 4; i++) await q.append(Buffer.from(`r${i}`));
    const a = q.consumer('a');
    const recs = await readN(a, 4);
    a.ack(recs[0]!.id);
    a.ack(recs[2]!.id);
    a.rewind();
    const again = await readAvailable(a);
    assert.deepEqual(again.map(text), ['r1', 'r2', 'r3']);
    await q.close();
  } finally {
    cleanup();
  }
});

test('the cursor is persisted by flushCursor and survives without close', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'], cursorFlushMs: 60_000 });
    for (let i = 0; i < 3; i++) await q.append(Buffer.from(`r${i}`));
    const a = q.consumer('a');
    const recs = await readN(a, 3);
    a.ack(recs[0]!.id);
    a.ack(recs[1]!.id);
    await a.flushCursor();
    const cursor = readdirSync(dir).filter((n) => n.startsWith('cursor.'));
    assert.deepEqual(cursor, ['cursor.a']);
    // Version 2: two 512-byte slots, written once in full so later persists overwrite in place.
    assert.equal(statSync(join(dir, 'cursor.a')).size, 1024);
    assert.equal(readdirSync(dir).filter((n) => n.startsWith('tmp.')).length, 0);
    await q.close();
  } finally {
    cleanup();
  }
});

test('the cursor is persisted on a timer', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'], cursorFlushMs: 20 });
    await q.append(Buffer.from('r0'));
    const a = q.consumer('a');
    a.ack((await readN(a, 1))[0]!.id);
    for (let i = 0; i < 100 && !readdirSync(dir).includes('cursor.a'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(readdirSync(dir).includes('cursor.a'));
    await q.close();
  } finally {
    cleanup();
  }
});

test('a second opener of a locked directory gets SLUICE_QUEUE_LOCKED naming the directory and pid', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: [] });
    await assert.rejects(openQueue({ dir, consumers: [] }), (e: unknown) => {
      assert.ok(e instanceof QueueLockedError);
      assert.equal(e.code, 'SLUICE_QUEUE_LOCKED');
      assert.ok(e.message.includes(dir));
      assert.ok(e.message.includes(String(process.pid)));
      return true;
    });
    await q.close();
    const q2 = await openQueue({ dir, consumers: [] });
    await q2.close();
  } finally {
    cleanup();
  }
});

test('a lock left by a dead process is taken over', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'lock'), '2147483646\n');
    const q = await openQueue({ dir, consumers: [] });
    assert.ok(q.recovery.notes.some((n) => n.includes('stale lock')));
    await q.close();
  } finally {
    cleanup();
  }
});

test('a lock file naming a live pid that another process has now (pid reused) is taken over', { skip: nodeFileSystem.processStart?.(process.pid) == null ? 'no /proc here: a process start time cannot be read' : false }, async () => {
  const { dir, cleanup } = tempDir();
  // An unrelated live process: the pid a container restart handed out again.
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const pid = other.pid as number;
    const token = nodeFileSystem.processStart?.(pid) as string;
    assert.ok(token.length > 0);
    // Written by the process that had this pid before (another start time): stale.
    writeFileSync(join(dir, 'lock'), `${pid} ${token.replace(/:\d+$/, ':1')}\n`);
    const q = await openQueue({ dir, consumers: [] });
    assert.ok(q.recovery.notes.some((n) => n.includes('stale lock') && n.includes('another process has now')), q.recovery.notes.join('\n'));
    await q.close();
    // Written by that very process (its own start token): it holds the directory.
    writeFileSync(join(dir, 'lock'), `${pid} ${token}\n`);
    await assert.rejects(openQueue({ dir, consumers: [] }), (e: unknown) => e instanceof QueueLockedError && e.message.includes(String(pid)));
  } finally {
    other.kill('SIGKILL');
    cleanup();
  }
});

test('the lock file records the pid and the start token of the process holding the queue', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: [] });
    const [pid, token] = readFileSync(join(dir, 'lock'), 'utf8').trim().split(' ');
    assert.equal(Number(pid), process.pid);
    assert.equal(token, nodeFileSystem.processStart?.(process.pid) ?? undefined);
    await q.close();
  } finally {
    cleanup();
  }
});

test('an empty lock file (a crash while creating it) is taken over', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'lock'), '');
    const q = await openQueue({ dir, consumers: [] });
    assert.ok(q.recovery.notes.some((n) => n.includes('stale lock')));
    await q.close();
  } finally {
    cleanup();
  }
});

test('appends wait when maxBytes is reached and proceed once a consumer acknowledges', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'], segmentBytes: 4096, maxBytes: 16384 });
    const payload = Buffer.alloc(1000, 0x63);
    const done: number[] = [];
    const appends: Promise<unknown>[] = [];
    for (let i = 0; i < 30; i++) appends.push(q.append(payload).then((r) => done.push(r.id)));
    for (let i = 0; i < 100 && !q.metrics().full; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(q.metrics().full, true, 'the queue reports full');
    const stuck = done.length;
    assert.ok(stuck < 30 && stuck > 0, `some appends wait (${stuck} done)`);
    assert.ok(q.metrics().bytesOnDisk <= 16384 + 64);
    const a = q.consumer('a');
    let seen = 0;
    while (seen < 30) {
      const recs = await a.read({ signal: AbortSignal.timeout(5000) });
      assert.ok(recs.length > 0);
      for (const r of recs) a.ack(r.id);
      seen += recs.length;
    }
    await Promise.all(appends);
    assert.equal(done.length, 30);
    assert.equal(q.metrics().full, false);
    assert.ok(q.metrics().fullMsTotal > 0);
    await q.close();
  } finally {
    cleanup();
  }
});

test('an append larger than a segment is refused with a clear error instead of waiting', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'], segmentBytes: 4096, maxBytes: 8192 });
    await assert.rejects(q.append(Buffer.alloc(5000)), (e: unknown) => {
      assert.ok(e instanceof RecordTooLargeError);
      assert.equal(e.code, 'SLUICE_QUEUE_RECORD_TOO_LARGE');
      assert.match(e.message, /segmentBytes/);
      return true;
    });
    await q.append(Buffer.from('still works'));
    await q.close();
  } finally {
    cleanup();
  }
});

test('concurrent appends are grouped: fewer fsyncs than appends', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'] });
    const before = q.metrics().fsyncs;
    await Promise.all(Array.from({ length: 200 }, (_, i) => q.append(Buffer.from(`e${i}`))));
    const fsyncs = q.metrics().fsyncs - before;
    assert.ok(fsyncs >= 1);
    assert.ok(fsyncs < 100, `200 concurrent appends took ${fsyncs} fsyncs`);
    assert.equal(q.metrics().appendedRecords, 200);
    await q.close();
  } finally {
    cleanup();
  }
});

test('a reader waiting for data wakes when a record is committed and returns [] on abort', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a', 'b'] });
    const pending = q.consumer('a').read();
    await new Promise((r) => setTimeout(r, 10));
    await q.append(Buffer.from('wake'));
    const got = await pending;
    assert.equal(text(got[0]!), 'wake');
    const ac = new AbortController();
    const waiting = q.consumer('a').read({ signal: ac.signal });
    ac.abort();
    assert.deepEqual(await waiting, []);
    assert.equal((await readN(q.consumer('b'), 1)).length, 1);
    const onClose = q.consumer('b').read();
    await q.close();
    assert.deepEqual(await onClose, []);
  } finally {
    cleanup();
  }
});

for (const fsync of [{ mode: 'interval', intervalMs: 5 }, { mode: 'never' }] as const) {
  test(`appends under the ${fsync.mode} policy are durable for readers and after reopen`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      let q = await openQueue({ dir, consumers: ['a'], fsync, segmentBytes: 4096, maxBytes: 1 << 20 });
      await Promise.all(Array.from({ length: 50 }, (_, i) => q.append(Buffer.from(`p${i}`.repeat(20)))));
      const recs = await readN(q.consumer('a'), 50);
      assert.deepEqual(
        recs.map((r) => r.id),
        Array.from({ length: 50 }, (_, i) => i),
      );
      await q.close();
      q = await openQueue({ dir, consumers: ['a'], fsync, segmentBytes: 4096, maxBytes: 1 << 20 });
      const again = await readAvailable(q.consumer('a'));
      assert.equal(again.length, 50);
      assert.equal(text(again[49]!), 'p49'.repeat(20));
      await q.close();
    } finally {
      cleanup();
    }
  });
}

test('reading from disk after a restart returns large batches across segments', async () => {
  const { dir, cleanup } = tempDir();
  try {
    let q = await openQueue({ dir, consumers: ['a'], segmentBytes: 64 * 1024, maxBytes: 16 << 20 });
    await Promise.all(Array.from({ length: 3000 }, (_, i) => q.append(Buffer.from(`line ${i}\n`))));
    await q.close();
    q = await openQueue({ dir, consumers: ['a'], segmentBytes: 64 * 1024, maxBytes: 16 << 20 });
    const a = q.consumer('a');
    const first = await a.read({ maxRecords: 5000 });
    assert.ok(first.length > 100, `one read returned ${first.length}`);
    const rest = await readAvailable(a);
    const all = [...first, ...rest];
    assert.equal(all.length, 3000);
    all.forEach((r, i) => assert.equal(text(r), `line ${i}\n`));
    await q.close();
  } finally {
    cleanup();
  }
});

test('a read bounded by maxBytes returns what fits and the next read continues after it', async () => {
  const { dir, cleanup } = tempDir();
  try {
    let q = await openQueue({ dir, consumers: ['a'] });
    for (let i = 0; i < 6; i++) await q.append(Buffer.alloc(1000, 0x30 + i));
    await q.close();
    q = await openQueue({ dir, consumers: ['a'] }); // from disk, not from memory
    const a = q.consumer('a');
    const first = await a.read({ maxBytes: 2500 });
    assert.equal(first.length, 2);
    const second = await a.read({ maxBytes: 10, maxRecords: 10 });
    assert.equal(second.length, 1, 'at least one record even when it is larger than maxBytes');
    const rest = await a.read({ maxRecords: 2 });
    assert.deepEqual(
      [...first, ...second, ...rest].map((r) => r.payload[0]),
      [0x30, 0x31, 0x32, 0x33, 0x34],
    );
    await q.close();
  } finally {
    cleanup();
  }
});

test('a read bounded by maxRecords from memory returns that many and the next read continues', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'] });
    for (let i = 0; i < 5; i++) await q.append(Buffer.from(`m${i}`));
    const a = q.consumer('a');
    assert.deepEqual((await a.read({ maxRecords: 2 })).map(text), ['m0', 'm1']);
    assert.deepEqual((await a.read({ maxRecords: 10 })).map(text), ['m2', 'm3', 'm4']);
    await q.close();
  } finally {
    cleanup();
  }
});

test('options under which appends could wait for ever (a segment over half of maxBytes) are refused with SLUICE_QUEUE_USAGE', async () => {
  const { dir, cleanup } = tempDir();
  try {
    for (const [segmentBytes, maxBytes] of [
      [8192, 8192],
      [8192, 16383],
      [64 << 20, 100 << 20],
    ] as const) {
      await assert.rejects(openQueue({ dir, consumers: ['a'], segmentBytes, maxBytes }), (e: unknown) => {
        assert.ok(e instanceof QueueUsageError);
        assert.equal(e.code, 'SLUICE_QUEUE_USAGE');
        assert.match(e.message, /segmentBytes \(\d+\) must be at most half of maxBytes/);
        return true;
      });
    }
    // Refused before touching the directory: nothing was created or locked.
    assert.deepEqual(readdirSync(dir), []);
    const q = await openQueue({ dir, consumers: ['a'], segmentBytes: 8192, maxBytes: 16384 });
    await q.append(Buffer.from('half is enough'));
    await q.close();
    await assert.rejects(openQueue({ dir, consumers: ['a'], cacheBytes: -1 }), { code: 'SLUICE_QUEUE_USAGE' });
  } finally {
    cleanup();
  }
});

test('with cacheBytes 0 every record is read back from the segment files, in order and intact', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a', 'b'], segmentBytes: 4096, maxBytes: 1 << 20, cacheBytes: 0 });
    const sent: string[] = [];
    for (let i = 0; i < 50; i++) {
      const s = `record ${i} ${'z'.repeat(i * 13)}`;
      sent.push(s);
      await q.append(Buffer.from(s), { events: 2 });
    }
    for (const name of ['a', 'b']) {
      const got = await readN(q.consumer(name), 50);
      assert.deepEqual(got.map((r) => r.payload.toString()), sent);
      assert.deepEqual(got.map((r) => r.id), sent.map((_, i) => i * 2));
    }
    await q.close();
  } finally {
    cleanup();
  }
});

test('appends after close are refused with SLUICE_QUEUE_CLOSED and close persists cursors', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'], cursorFlushMs: 60_000 });
    await q.append(Buffer.from('x'));
    const a = q.consumer('a');
    a.ack((await readN(a, 1))[0]!.id);
    await q.close();
    await assert.rejects(q.append(Buffer.from('y')), { code: 'SLUICE_QUEUE_CLOSED' });
    const q2 = await openQueue({ dir, consumers: ['a'] });
    assert.equal(q2.consumer('a').ackedUpTo, 1);
    assert.deepEqual(await readAvailable(q2.consumer('a')), []);
    await q2.close();
  } finally {
    cleanup();
  }
});

test('an unknown consumer name is a clear usage error', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'] });
    assert.throws(() => q.consumer('b'), { code: 'SLUICE_QUEUE_USAGE', message: /no consumer named b/ });
    await q.close();
  } finally {
    cleanup();
  }
});

test('metrics count appended and acknowledged records and events', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const q = await openQueue({ dir, consumers: ['a'] });
    await q.append(Buffer.from('abc'), { events: 4 });
    await q.append(Buffer.from('de'));
    const a = q.consumer('a');
    for (const r of await readN(a, 2)) a.ack(r.id);
    const m = q.metrics();
    assert.equal(m.appendedRecords, 2);
    assert.equal(m.appendedEvents, 5);
    assert.equal(m.appendedBytes, 5);
    assert.equal(m.ackedRecords, 2);
    assert.equal(m.ackedEvents, 5);
    assert.ok(m.fsyncs >= 2);
    assert.ok(m.bytesOnDisk > 0);
    await q.close();
  } finally {
    cleanup();
  }
});

test('two opens of one directory at once in the same process: exactly one wins', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const results = await Promise.allSettled([openQueue({ dir, consumers: [] }), openQueue({ dir, consumers: [] })]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 1);
    assert.equal(((lost[0] as PromiseRejectedResult).reason as { code?: string }).code, 'SLUICE_QUEUE_LOCKED');
    await (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof openQueue>>>).value.close();
  } finally {
    cleanup();
  }
});

test('reading records one at a time from disk reads the file in large chunks, not once per record', async () => {
  const { dir, cleanup } = tempDir();
  try {
    let q = await openQueue({ dir, consumers: ['a'] });
    await Promise.all(Array.from({ length: 1000 }, (_, i) => q.append(Buffer.from(`r${i}`))));
    await q.close();
    let reads = 0;
    const counting: FileSystem = {
      ...nodeFileSystem,
      open: async (path, mode) => {
        const h = await nodeFileSystem.open(path, mode);
        return { ...bind(h), read: (b, o, l, p) => (reads++, h.read(b, o, l, p)) };
      },
    };
    q = await openQueue({ dir, consumers: ['a'], fs: counting });
    const before = reads;
    const a = q.consumer('a');
    for (let i = 0; i < 1000; i++) {
      const r = await a.read({ maxRecords: 1 });
      assert.equal(text(r[0]!), `r${i}`);
    }
    assert.ok(reads - before < 20, `${reads - before} read calls for 1000 records`);
    await q.close();
  } finally {
    cleanup();
  }
});

/** A FileHandle's methods bound to it, so they can be spread into a wrapper. */
function bind(h: FileHandle): FileHandle {
  return {
    writev: (b) => h.writev(b),
    writeAt: (d, p) => h.writeAt(d, p),
    read: (b, o, l, p) => h.read(b, o, l, p),
    datasync: () => h.datasync(),
    truncate: (n) => h.truncate(n),
    stat: () => h.stat(),
    close: () => h.close(),
  };
}

test('after a write fails (an I/O error), reads reject with SLUICE_QUEUE_IO instead of returning nothing at once for ever', async () => {
  const { dir, cleanup } = tempDir();
  try {
    // EIO from the segment writes once the flag is set (ENOSPC is backpressure, not a failure: see
    // the disk-full tests).
    let full = false;
    const fs: FileSystem = {
      ...nodeFileSystem,
      pid: nodeFileSystem.pid,
      processAlive: (pid) => nodeFileSystem.processAlive(pid),
      open: async (path, mode) => {
        const fh = await nodeFileSystem.open(path, mode);
        if (!path.includes('seg-')) return fh;
        return {
          ...fh,
          read: (b, o, l, p) => fh.read(b, o, l, p),
          datasync: () => fh.datasync(),
          truncate: (n) => fh.truncate(n),
          stat: () => fh.stat(),
          close: () => fh.close(),
          writeAt: (d, p) => fh.writeAt(d, p),
          writev: (bufs) => (full ? Promise.reject(Object.assign(new Error('i/o error'), { code: 'EIO' })) : fh.writev(bufs)),
        };
      },
    };
    const q = await openQueue({ dir, consumers: ['a'], fs });
    const a = q.consumer('a');
    await q.append(Buffer.from('before'));
    assert.deepEqual((await readN(a, 1)).map(text), ['before']);
    full = true;
    await assert.rejects(q.append(Buffer.from('after')), { code: 'SLUICE_QUEUE_IO' });
    // A sink loop reads until it gets [] with its signal aborted; an instant [] would make it spin.
    for (let i = 0; i < 3; i++) {
      await assert.rejects(a.read({ signal: new AbortController().signal }), (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'SLUICE_QUEUE_IO');
        assert.match((e as Error).message, /i\/o error/);
        return true;
      });
    }
    await q.close().catch(() => undefined);
  } finally {
    cleanup();
  }
});

/** The real disk, counting the reads of segment files. */
function countingReads(): { fs: FileSystem; reads: () => number } {
  let reads = 0;
  const fs: FileSystem = {
    ...nodeFileSystem,
    pid: nodeFileSystem.pid,
    processAlive: (pid) => nodeFileSystem.processAlive(pid),
    open: async (path, mode) => {
      const fh = await nodeFileSystem.open(path, mode);
      if (mode !== 'read' || !path.includes('seg-')) return fh;
      return {
        writev: (bufs) => fh.writev(bufs),
        writeAt: (d, p) => fh.writeAt(d, p),
        read: (b, o, l, p) => {
          reads++;
          return fh.read(b, o, l, p);
        },
        datasync: () => fh.datasync(),
        truncate: (n) => fh.truncate(n),
        stat: () => fh.stat(),
        close: () => fh.close(),
      };
    },
  };
  return { fs, reads: () => reads };
}

test('consumers that keep up are served from memory; a record every consumer has read is not kept, and a rewind reads it from disk', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { fs, reads } = countingReads();
    const q = await openQueue({ dir, consumers: ['a', 'b'], segmentBytes: 1 << 20, maxBytes: 16 << 20, cacheBytes: 1 << 20, fs });
    const a = q.consumer('a');
    const b = q.consumer('b');
    const sent = Array.from({ length: 20 }, (_, i) => `r${i} ${'y'.repeat(1000)}`);
    for (const s of sent) await q.append(Buffer.from(s));
    // b has not read them: they stay for b even after a has read them all.
    assert.deepEqual((await readN(a, 20)).map(text), sent);
    assert.deepEqual((await readN(b, 20)).map(text), sent);
    assert.equal(reads(), 0, 'both consumers were served from memory');
    // Now every consumer has read them: a rewind must go to the segment file for them.
    a.rewind();
    assert.deepEqual((await readN(a, 20)).map(text), sent);
    assert.ok(reads() > 0, 'the rewound records came from disk');
    await q.close();
  } finally {
    cleanup();
  }
});

test('a consumer further behind than cacheBytes reads the older records from disk, in order and intact', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { fs, reads } = countingReads();
    const q = await openQueue({ dir, consumers: ['slow'], segmentBytes: 64 << 10, maxBytes: 16 << 20, cacheBytes: 8 << 10, fs });
    const sent = Array.from({ length: 100 }, (_, i) => `s${i} ${'q'.repeat(500 + i)}`);
    for (const s of sent) await q.append(Buffer.from(s), { events: 3 });
    const got = await readN(q.consumer('slow'), 100);
    assert.deepEqual(got.map(text), sent);
    assert.deepEqual(got.map((r) => r.id), sent.map((_, i) => i * 3));
    assert.ok(reads() > 0, 'the backlog beyond cacheBytes came from disk');
    await q.close();
  } finally {
    cleanup();
  }
});
