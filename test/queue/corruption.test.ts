/**
 * Tests for the rows of the recovery decision table (src/queue/recovery-table.ts): each damages
 * real files with node:fs, reopens the queue and checks what recovery reported and what a consumer
 * reads. (The torn-tail rows are exercised on the simulated disk, in ./torn-tail.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { openQueue } from '../../src/queue/index';
import { decodeCursorFile, encodeCursor, encodeFrame } from '../../src/queue/format';
import type { Queue } from '../../src/queue/types';
import { readAvailable, tempDir, text } from './helpers';

const OPTS = { consumers: ['a'], segmentBytes: 4096, maxBytes: 1 << 20 } as const;

interface Frame {
  offset: number;
  len: number;
  kind: number;
  id: number;
  events: number;
}

/** Walks a segment file's frames by their length fields (no validation: the files are ours). */
function frames(file: string): Frame[] {
  const b = readFileSync(file);
  const out: Frame[] = [];
  for (let at = 0; at + 32 <= b.length; ) {
    const len = b.readUInt32LE(at + 8);
    if (len < 32 || at + len > b.length) break;
    out.push({ offset: at, len, kind: b[at + 12]!, id: b.readUInt32LE(at + 16), events: b.readUInt32LE(at + 24) });
    at += len;
  }
  return out;
}

const segments = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.startsWith('seg-'))
    .sort()
    .map((n) => join(dir, n));

/** A queue with `n` records `rec-<i>` (events: i % 3 + 1), closed. */
async function filled(dir: string, n: number, payloadBytes = 40): Promise<void> {
  const q = await openQueue({ dir, ...OPTS });
  for (let i = 0; i < n; i++) {
    await q.append(Buffer.from(`rec-${i}-`.padEnd(payloadBytes, '.')), { events: (i % 3) + 1 });
  }
  await q.close();
}

const names = (recs: { payload: Buffer }[]): string[] => recs.map((r) => text({ payload: r.payload } as never).split('-').slice(0, 2).join('-'));

async function reopenAndRead(dir: string): Promise<{ q: Queue; got: string[]; ids: number[] }> {
  const q = await openQueue({ dir, ...OPTS });
  const recs = await readAvailable(q.consumer('a'));
  return { q, got: names(recs), ids: recs.map((r) => r.id) };
}

const expectedNames = (n: number, skip: number[] = []): string[] =>
  Array.from({ length: n }, (_, i) => i)
    .filter((i) => !skip.includes(i))
    .map((i) => `rec-${i}`);

for (const cut of [1, 4, 12, 31, 32, 33, 'all-but-1'] as const) {
  test(`a torn last record (cut ${cut} bytes into it) is truncated and the records before it are kept`, async () => {
    const { dir, cleanup } = tempDir();
    try {
      await filled(dir, 5);
      const seg = segments(dir).at(-1)!;
      // The last data record, torn as a crash leaves it (no closing snapshot after it then).
      const last = frames(seg)
        .filter((f) => f.kind === 1)
        .at(-1)!;
      const keep = cut === 'all-but-1' ? last.len - 1 : cut;
      truncateSync(seg, last.offset + keep);
      const { q, got } = await reopenAndRead(dir);
      assert.equal(q.recovery.truncatedBytes, keep);
      assert.equal(q.recovery.corruptRecords, 0);
      assert.equal(q.recovery.lostEvents, 0);
      assert.deepEqual(got, expectedNames(4));
      const next = await q.append(Buffer.from('after'));
      assert.equal(next.id, last.id, 'the torn record never resolved, so its id is used again');
      await q.close();
    } finally {
      cleanup();
    }
  });
}

test('a record with a bad checksum in the middle is skipped, counted, and the records after it are read', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 6);
    const seg = segments(dir)[0]!;
    const data = frames(seg).filter((f) => f.kind === 1);
    const victim = data[2]!; // rec-2: 3 events
    const b = readFileSync(seg);
    b[victim.offset + 40] = b[victim.offset + 40]! ^ 0xff;
    writeFileSync(seg, b);
    const { q, got } = await reopenAndRead(dir);
    assert.equal(q.recovery.corruptRecords, 1);
    assert.equal(q.recovery.lostEvents, 3);
    assert.equal(q.recovery.truncatedBytes, 0);
    assert.deepEqual(got, expectedNames(6, [2]));
    assert.ok(q.recovery.notes.some((n) => n.includes('damaged')));
    await q.close();
  } finally {
    cleanup();
  }
});

test('zeros from a frame start to a sector boundary before a snapshot are skipped as corruption', async () => {
  // A cleanly closed queue ends with the closing snapshot: every byte before it was durable, so
  // zeros there that look like a torn write's (from a frame start up to a sector boundary) are bit
  // rot, and the records after them were acknowledged: skipped and counted, never cut.
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 12, 150);
    const seg = segments(dir).at(-1)!;
    const all = frames(seg);
    assert.equal(all.at(-1)!.kind, 2, 'the closing snapshot ends the segment');
    const data = all.filter((f) => f.kind === 1);
    const victim = data.slice(0, -2).find((f) => f.offset % 512 !== 0 && f.offset + f.len > Math.ceil(f.offset / 512) * 512)!;
    const b = readFileSync(seg);
    b.fill(0, victim.offset, Math.ceil(victim.offset / 512) * 512);
    writeFileSync(seg, b);
    const { q, ids } = await reopenAndRead(dir);
    assert.equal(q.recovery.truncatedBytes, 0);
    assert.equal(q.recovery.corruptRecords, 1);
    assert.equal(q.recovery.lostEvents, victim.events);
    const want = data.filter((f) => f !== victim).map((f) => f.id);
    assert.deepEqual(ids, want, 'every other record is read, those after the zeros included');
    await q.close();
  } finally {
    cleanup();
  }
});

test('a graceful close ends the last segment with a positions snapshot that the next open reuses', async () => {
  const { dir, cleanup } = tempDir();
  try {
    let q = await openQueue({ dir, ...OPTS, fsync: { mode: 'never' } });
    for (let i = 0; i < 3; i++) await q.append(Buffer.from(`rec-${i}`), { positions: [{ key: 'k', value: Buffer.from(`p${i}`) }] });
    await q.close();
    const seg = segments(dir).at(-1)!;
    const closed = frames(seg);
    assert.deepEqual(
      closed.map((f) => f.kind),
      [2, 1, 1, 1, 2],
      'the first open\'s snapshot, the records, the closing snapshot',
    );
    assert.equal(closed.at(-1)!.id, 3, 'the closing snapshot carries the next id');
    for (let round = 0; round < 3; round++) {
      q = await openQueue({ dir, ...OPTS });
      assert.deepEqual(q.positions().get('k'), Buffer.from('p2'));
      assert.equal(q.recovery.truncatedBytes, 0);
      await q.close();
    }
    assert.equal(statSync(seg).size, closed.at(-1)!.offset + closed.at(-1)!.len, 'restarts without appends do not grow the segment');
    q = await openQueue({ dir, ...OPTS });
    assert.equal((await q.append(Buffer.from('next'))).id, 3);
    await q.close();
  } finally {
    cleanup();
  }
});

test('a record whose length field is damaged is skipped by resyncing on the next frame magic', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 6);
    const seg = segments(dir)[0]!;
    const data = frames(seg).filter((f) => f.kind === 1);
    const b = readFileSync(seg);
    b.writeUInt32LE(999_999, data[1]!.offset + 8);
    writeFileSync(seg, b);
    const { q, got } = await reopenAndRead(dir);
    assert.equal(q.recovery.corruptRecords, 1);
    assert.equal(q.recovery.lostEvents, 2);
    assert.deepEqual(got, expectedNames(6, [1]));
    await q.close();
  } finally {
    cleanup();
  }
});

test('two adjacent damaged records count their lost events from the ids around them', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 8);
    const seg = segments(dir)[0]!;
    const data = frames(seg).filter((f) => f.kind === 1);
    const b = readFileSync(seg);
    b.fill(0x55, data[3]!.offset, data[5]!.offset); // rec-3 (1 event) and rec-4 (2 events), magics included
    writeFileSync(seg, b);
    const { q, got } = await reopenAndRead(dir);
    assert.equal(q.recovery.corruptRecords, 1, 'one damaged region');
    assert.equal(q.recovery.lostEvents, 3);
    assert.deepEqual(got, expectedNames(8, [3, 4]));
    await q.close();
  } finally {
    cleanup();
  }
});

test('garbage appended after the last record is truncated', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 4);
    const seg = segments(dir).at(-1)!;
    appendFileSync(seg, Buffer.from('this is not a frame, just bytes a crash could leave behind'));
    const { q, got } = await reopenAndRead(dir);
    assert.equal(q.recovery.truncatedBytes, 58);
    assert.equal(q.recovery.corruptRecords, 0);
    assert.deepEqual(got, expectedNames(4));
    await q.close();
  } finally {
    cleanup();
  }
});

test('zeros appended after the last record (a torn sector) are truncated', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 4);
    const seg = segments(dir).at(-1)!;
    const size = statSync(seg).size;
    appendFileSync(seg, Buffer.alloc(512));
    const { q, got } = await reopenAndRead(dir);
    assert.equal(q.recovery.truncatedBytes, 512);
    assert.deepEqual(got, expectedNames(4));
    // Cut back to the closing snapshot, which then stands for the open's (made durable, not repeated).
    assert.equal(statSync(seg).size, size);
    assert.equal(frames(seg).at(-1)!.kind, 2, 'the segment ends with a positions snapshot');
    await q.close();
  } finally {
    cleanup();
  }
});

test('a frame magic inside garbage at the tail does not fool resync', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 4);
    const seg = segments(dir).at(-1)!;
    const junk = Buffer.alloc(100, 0x20);
    Buffer.from([0xf1, 0x53, 0x4c, 0x51]).copy(junk, 10);
    junk.writeUInt32LE(40, 18);
    appendFileSync(seg, junk);
    const { q, got } = await reopenAndRead(dir);
    assert.equal(q.recovery.truncatedBytes, 100);
    assert.deepEqual(got, expectedNames(4));
    await q.close();
  } finally {
    cleanup();
  }
});

test('an unknown file is reported and left alone', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 2);
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    const { q, got } = await reopenAndRead(dir);
    assert.deepEqual(q.recovery.unknownFiles, ['notes.txt']);
    assert.ok(existsSync(join(dir, 'notes.txt')));
    assert.deepEqual(got, expectedNames(2));
    await q.close();
  } finally {
    cleanup();
  }
});

test('a leftover temporary cursor file is removed and the previous cursor stands', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 4);
    let q = await openQueue({ dir, ...OPTS });
    const a = q.consumer('a');
    const recs = await readAvailable(a);
    a.ack(recs[0]!.id);
    await q.close();
    writeFileSync(join(dir, 'tmp.cursor.a'), Buffer.alloc(24, 7));
    q = await openQueue({ dir, ...OPTS });
    assert.deepEqual(q.recovery.unknownFiles, ['tmp.cursor.a']);
    assert.ok(!existsSync(join(dir, 'tmp.cursor.a')));
    assert.deepEqual(q.recovery.cursorsReset, []);
    assert.deepEqual(names(await readAvailable(q.consumer('a'))), expectedNames(4, [0]));
    await q.close();
  } finally {
    cleanup();
  }
});

test('a missing cursor file starts the consumer at the oldest retained record', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 4);
    let q = await openQueue({ dir, ...OPTS });
    const a = q.consumer('a');
    for (const r of await readAvailable(a)) a.ack(r.id);
    await q.close();
    unlinkSync(join(dir, 'cursor.a'));
    q = await openQueue({ dir, ...OPTS });
    assert.deepEqual(q.recovery.cursorsReset, ['a']);
    assert.deepEqual(names(await readAvailable(q.consumer('a'))), expectedNames(4));
    await q.close();
  } finally {
    cleanup();
  }
});

test('a damaged cursor file starts the consumer at the oldest retained record', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 4);
    let q = await openQueue({ dir, ...OPTS });
    const a = q.consumer('a');
    for (const r of await readAvailable(a)) a.ack(r.id);
    await q.close();
    // Both copies (slots at 0 and 512): one damaged copy falls back to the other (next test).
    const b = readFileSync(join(dir, 'cursor.a'));
    b[9] = b[9]! ^ 0x01;
    b[512 + 9] = b[512 + 9]! ^ 0x01;
    writeFileSync(join(dir, 'cursor.a'), b);
    q = await openQueue({ dir, ...OPTS });
    assert.deepEqual(q.recovery.cursorsReset, ['a']);
    assert.ok(q.recovery.notes.some((n) => n.includes('damaged')));
    assert.deepEqual(names(await readAvailable(q.consumer('a'))), expectedNames(4));
    await q.close();
  } finally {
    cleanup();
  }
});

test('a cursor file with one damaged copy falls back to the other copy instead of the oldest record', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 6);
    let q = await openQueue({ dir, ...OPTS });
    const a = q.consumer('a');
    const recs = await readAvailable(a);
    for (const r of recs.slice(0, 3)) a.ack(r.id);
    await a.flushCursor();
    for (const r of recs.slice(3)) a.ack(r.id);
    await a.flushCursor(); // overwrites the other slot in place
    await q.close();
    assert.equal(statSync(join(dir, 'cursor.a')).size, 1024);
    // A torn write of the newest copy: the other slot holds the one before.
    const b = readFileSync(join(dir, 'cursor.a'));
    const newest = decodeCursorFile(b);
    assert.ok(newest?.format === 2 && newest.id === 12);
    const at = (newest.seq % 2) * 512 + 9;
    b[at] = b[at]! ^ 0x01;
    writeFileSync(join(dir, 'cursor.a'), b);
    q = await openQueue({ dir, ...OPTS });
    assert.deepEqual(q.recovery.cursorsReset, []);
    assert.ok(q.recovery.notes.some((n) => n.includes('one copy of the cursor')), q.recovery.notes.join('\n'));
    assert.deepEqual(names(await readAvailable(q.consumer('a'))), expectedNames(6, [0, 1, 2]));
    await q.close();
  } finally {
    cleanup();
  }
});

test('a version 1 cursor file is read and migrated in place to two copies', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 4); // ids: rec-0 0, rec-1 1, rec-2 3, rec-3 6
    const v1 = encodeCursor(3);
    writeFileSync(join(dir, 'cursor.a'), v1);
    let q = await openQueue({ dir, ...OPTS });
    assert.deepEqual(q.recovery.cursorsReset, []);
    assert.ok(q.recovery.notes.some((n) => n.includes('version 1')), q.recovery.notes.join('\n'));
    const a = q.consumer('a');
    const got = await readAvailable(a);
    assert.deepEqual(names(got), expectedNames(4, [0, 1]));
    await q.close(); // the first persist migrates: slot 1 written, the version 1 bytes left at offset 0
    const file = readFileSync(join(dir, 'cursor.a'));
    assert.equal(file.length, 1024);
    assert.deepEqual(file.subarray(0, 24), v1);
    assert.deepEqual(decodeCursorFile(file), { format: 2, id: 3, seq: 1, otherDamaged: false, checkpoint: null });
    q = await openQueue({ dir, ...OPTS });
    assert.ok(!q.recovery.notes.some((n) => n.includes('version 1')), q.recovery.notes.join('\n'));
    const b = q.consumer('a');
    const again = await readAvailable(b);
    assert.deepEqual(names(again), expectedNames(4, [0, 1]));
    for (const r of again) b.ack(r.id);
    await q.close(); // sequence 2 overwrites slot 0 (the version 1 bytes) in place
    assert.deepEqual(decodeCursorFile(readFileSync(join(dir, 'cursor.a'))), { format: 2, id: 7, seq: 2, otherDamaged: false, checkpoint: null });
  } finally {
    cleanup();
  }
});

test('a truncated (empty) cursor file starts the consumer at the oldest retained record', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 3);
    writeFileSync(join(dir, 'cursor.a'), '');
    const { q, got } = await reopenAndRead(dir);
    assert.deepEqual(q.recovery.cursorsReset, ['a']);
    assert.deepEqual(got, expectedNames(3));
    await q.close();
  } finally {
    cleanup();
  }
});

test('an empty last segment (crash right after creating it) is reused and ids continue', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 3); // ids 0..5 (events 1,2,3)
    writeFileSync(join(dir, 'seg-00000000000000000006.log'), '');
    const { q, got } = await reopenAndRead(dir);
    assert.ok(q.recovery.notes.some((n) => n.includes('empty')));
    assert.equal(q.recovery.lostEvents, 0);
    assert.deepEqual(got, expectedNames(3));
    assert.equal((await q.append(Buffer.from('x'))).id, 6);
    await q.close();
    const again = await openQueue({ dir, ...OPTS });
    assert.equal(again.recovery.corruptRecords, 0);
    assert.equal(again.recovery.records, 4);
    await again.close();
  } finally {
    cleanup();
  }
});

test('a segment file missing in the middle loses only its events, which are counted', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 60, 200); // several 4 KiB segments
    const segs = segments(dir);
    assert.ok(segs.length >= 3);
    const gone = segs[1]!;
    const goneIds = frames(gone)
      .filter((f) => f.kind === 1)
      .map((f) => ({ id: f.id, events: f.events }));
    const goneEvents = goneIds.reduce((s, f) => s + f.events, 0);
    unlinkSync(gone);
    const { q, ids } = await reopenAndRead(dir);
    assert.equal(q.recovery.lostEvents, goneEvents);
    assert.ok(q.recovery.notes.some((n) => n.includes('missing')));
    assert.equal(ids.length, 60 - goneIds.length);
    for (const g of goneIds) assert.ok(!ids.includes(g.id));
    await q.close();
  } finally {
    cleanup();
  }
});

test('damage at the end of a segment that is not the last is skipped, not truncated', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 60, 200);
    const segs = segments(dir);
    const first = segs[0]!;
    const lastFrame = frames(first).at(-1)!;
    const size = statSync(first).size;
    const b = readFileSync(first);
    b[lastFrame.offset + 50] = b[lastFrame.offset + 50]! ^ 0xff;
    writeFileSync(first, b);
    const { q, got } = await reopenAndRead(dir);
    assert.equal(q.recovery.truncatedBytes, 0);
    assert.equal(q.recovery.corruptRecords, 1);
    assert.equal(q.recovery.lostEvents, lastFrame.events);
    assert.equal(statSync(first).size, size);
    const victim = Number(b.toString('latin1', lastFrame.offset + 32 + 4, lastFrame.offset + 32 + 8).replace(/\D.*$/, ''));
    assert.equal(got.length, 59);
    assert.ok(!got.includes(`rec-${victim}`));
    await q.close();
  } finally {
    cleanup();
  }
});

test('damage found on open never blocks start-up: a queue of nothing but garbage opens empty', async () => {
  const { dir, cleanup } = tempDir();
  try {
    writeFileSync(join(dir, 'seg-00000000000000000000.log'), Buffer.alloc(3000, 0xab));
    writeFileSync(join(dir, 'cursor.a'), 'garbage');
    const { q, got } = await reopenAndRead(dir);
    assert.equal(q.recovery.truncatedBytes, 3000);
    assert.deepEqual(q.recovery.cursorsReset, ['a']);
    assert.deepEqual(got, []);
    assert.equal((await q.append(Buffer.from('fresh'))).id, 0);
    await q.close();
  } finally {
    cleanup();
  }
});

test('a damaged record in a segment that is not the last is skipped and the records after it are read', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 60, 200);
    const first = segments(dir)[0]!;
    const data = frames(first).filter((f) => f.kind === 1);
    assert.ok(data.length >= 4 && segments(dir).length >= 2);
    const victim = data[1]!;
    const b = readFileSync(first);
    b[victim.offset + 60] = b[victim.offset + 60]! ^ 0xff;
    writeFileSync(first, b);
    const { q, ids } = await reopenAndRead(dir);
    assert.equal(q.recovery.truncatedBytes, 0);
    assert.equal(q.recovery.corruptRecords, 1);
    assert.equal(q.recovery.lostEvents, victim.events);
    assert.equal(ids.length, 59);
    assert.ok(!ids.includes(victim.id));
    for (const f of data.slice(2)) assert.ok(ids.includes(f.id), `record ${f.id} after the damage is read`);
    await q.close();
  } finally {
    cleanup();
  }
});

test('a frame whose positions block does not parse keeps its record and ignores the positions', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 3); // ids 0..5
    // A frame with a good checksum whose positions block claims one entry and holds none.
    appendFileSync(segments(dir).at(-1)!, encodeFrame('data', 6, 1, Buffer.from('odd'), Buffer.from([1, 0, 0, 0])));
    const q = await openQueue({ dir, ...OPTS });
    assert.ok(q.recovery.notes.some((n) => n.includes('unreadable positions')));
    assert.equal(q.recovery.corruptRecords, 0);
    assert.equal(q.recovery.truncatedBytes, 0);
    const recs = await readAvailable(q.consumer('a'));
    assert.deepEqual(recs.at(-1)?.payload.toString(), 'odd');
    assert.equal(q.positions().size, 0);
    assert.equal((await q.append(Buffer.from('next'))).id, 7);
    await q.close();
  } finally {
    cleanup();
  }
});

test('a cursor beyond the end of the log makes new ids start at the cursor', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 3); // ids 0..5, next 6
    writeFileSync(join(dir, 'cursor.a'), encodeCursor(100));
    let q = await openQueue({ dir, ...OPTS });
    assert.ok(q.recovery.notes.some((n) => n.includes('beyond the end of the log')));
    assert.equal((await q.append(Buffer.from('x'))).id, 100, 'ids are never reused');
    await q.close();
    // Ids 6..99 never existed: missing inside the segment, and below every cursor, so not lost.
    q = await openQueue({ dir, ...OPTS });
    assert.ok(q.recovery.notes.some((n) => n.includes('ids 6..99 are missing')));
    assert.equal(q.recovery.lostEvents, 0);
    assert.deepEqual((await readAvailable(q.consumer('a'))).map((r) => r.id), [100]);
    await q.close();
  } finally {
    cleanup();
  }
});

test('the cursor file of a consumer that is no longer configured is left alone', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await filled(dir, 3);
    writeFileSync(join(dir, 'cursor.gone'), encodeCursor(2));
    const { q, got } = await reopenAndRead(dir);
    assert.ok(q.recovery.notes.some((n) => n.includes('cursor.gone') && n.includes('no configured consumer')));
    assert.deepEqual(q.recovery.unknownFiles, []);
    assert.deepEqual(got, expectedNames(3));
    await q.close();
    assert.ok(existsSync(join(dir, 'cursor.gone')));
  } finally {
    cleanup();
  }
});

test('records damaged on disk after they were acknowledged, while the queue runs, are passed over with an error event naming the ids, never silently', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const events: unknown[] = [];
    // No read cache: the consumer reads every record back from the segment file.
    const q = await openQueue({ dir, ...OPTS, cacheBytes: 0, onEvent: (e) => events.push(e) });
    for (let i = 0; i < 3; i++) await q.append(Buffer.from(`rec-${i}-`.padEnd(40, '.')), { events: 2 });
    // Every data frame damaged in place (same file, so the open queue reads the damage).
    const seg = segments(dir)[0]!;
    const b = readFileSync(seg);
    for (const f of frames(seg).filter((x) => x.kind === 1)) b.fill(0x55, f.offset + 8, f.offset + f.len);
    writeFileSync(seg, b);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 200);
    const got = await q.consumer('a').read({ signal: ac.signal });
    assert.deepEqual(got, []);
    assert.deepEqual(events.filter((e) => (e as { type: string }).type === 'queue.records-skipped'), [{ type: 'queue.records-skipped', consumer: 'a', fromId: 0, toId: 6 }]);
    await q.close();
  } finally {
    cleanup();
  }
});
