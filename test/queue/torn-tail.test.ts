/**
 * The torn-tail rule of the recovery decision table (src/queue/recovery-table.ts), on the simulated
 * disk: a hole of zeros followed by valid frames after the last durable point of the last segment
 * (its last positions snapshot) is a torn write and is cut there; the same hole before a snapshot
 * lies in data that was durable once and is skipped as corruption. Out-of-order writeback (finding
 * F-OOO) leaves a shorter mark, zeros from the old end of file to a sector boundary: cut as well.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openQueue } from '../../src/queue';
import type { Queue, QueueOptions, QueueRecord } from '../../src/queue/types';
import { SimClock, SimFileSystem } from './sim-fs';

const SECTOR = 512;

interface Frame {
  readonly offset: number;
  readonly len: number;
  readonly kind: number;
  readonly id: number;
  readonly events: number;
}

/** The frames of a file, walked by their length fields (the file is undamaged when this runs). */
function frames(b: Buffer): Frame[] {
  const out: Frame[] = [];
  for (let at = 0; at + 32 <= b.length; ) {
    const len = b.readUInt32LE(at + 8);
    if (len < 32 || at + len > b.length) break;
    out.push({ offset: at, len, kind: b[at + 12] as number, id: b.readUInt32LE(at + 16), events: b.readUInt32LE(at + 24) });
    at += len;
  }
  return out;
}

function machine(seed: number): {
  fs: SimFileSystem;
  clock: SimClock;
  open(extra?: Partial<QueueOptions>): Promise<Queue>;
  run<T>(p: Promise<T>): Promise<T>;
  readAll(q: Queue): Promise<QueueRecord[]>;
  reboot(): void;
} {
  const m = {
    fs: new SimFileSystem({ seed, clock: new SimClock() }),
    get clock(): SimClock {
      return m.fs.clock as SimClock;
    },
    async run<T>(p: Promise<T>): Promise<T> {
      const out = await m.clock.runUntil(p, { maxMs: 30_000 });
      if (out.status === 'resolved') return out.value;
      if (out.status === 'rejected') throw out.error;
      throw new Error(`the queue did not finish (${out.status})`);
    },
    open(extra: Partial<QueueOptions> = {}): Promise<Queue> {
      return m.run(openQueue({ dir: '/q', consumers: ['c'], segmentBytes: 1 << 16, ...extra, fs: m.fs, clock: m.clock }));
    },
    async readAll(q: Queue): Promise<QueueRecord[]> {
      const out: QueueRecord[] = [];
      for (;;) {
        const ac = new AbortController();
        const t = m.clock.setTimer(100, () => ac.abort());
        const got = await m.run(q.consumer('c').read({ signal: ac.signal }));
        t.cancel();
        if (got.length === 0) return out;
        out.push(...got);
      }
    },
    reboot(): void {
      m.fs = m.fs.reboot({ clock: new SimClock() });
    },
  };
  m.fs.mkdirDurable('/q');
  return m;
}

const SEG = '/q/seg-00000000000000000000.log';
const record = (i: number): Buffer => Buffer.from(`r${i}:`.padEnd(300, String.fromCharCode(97 + (i % 26))));
const fileKey = 'file:app.log';
const positionOf = (i: number): Uint8Array => Buffer.from(`offset-${i}`);

test("a hole of zeros followed by valid frames in the last segment's tail is cut as a torn write", async () => {
  const m = machine(1);
  // Records 0-3, durable (always), then a restart in `never` mode: its snapshot is fdatasync'ed,
  // records 4-15 are written after it and never synced.
  let q = await m.open();
  for (let i = 0; i < 4; i++) await m.run(q.append(record(i), { positions: [{ key: fileKey, value: positionOf(i) }] }));
  await m.run(q.close());
  q = await m.open({ fsync: { mode: 'never' } });
  for (let i = 4; i < 16; i++) await m.run(q.append(record(i), { positions: [{ key: fileKey, value: positionOf(i) }] }));
  const content = m.fs.peek(SEG) as Buffer;
  const all = frames(content);
  const lastSnapshot = all.filter((f) => f.kind === 2).at(-1) as Frame;
  // The power goes: the size and every unsynced page reached the disk but one, a sector of zeros
  // in the middle of records 4-15, with whole valid frames after it.
  const holeFrom = Math.ceil((lastSnapshot.offset + lastSnapshot.len + 400) / SECTOR) * SECTOR;
  const hit = all.find((f) => f.offset <= holeFrom && holeFrom < f.offset + f.len) as Frame;
  const after = all.filter((f) => f.offset >= holeFrom + SECTOR);
  assert.ok(after.length >= 3, 'valid frames follow the hole');
  m.fs.crash({ holes: new Map([[SEG, [holeFrom, holeFrom + SECTOR]]]) });
  m.reboot();

  q = await m.open();
  assert.equal(q.recovery.truncatedBytes, content.length - hit.offset, 'cut where the torn frame starts');
  assert.equal(q.recovery.corruptRecords, 0);
  assert.equal(q.recovery.lostEvents, 0);
  assert.ok(q.recovery.notes.some((n) => n.includes('truncated')));
  const got = await m.readAll(q);
  const kept = all.filter((f) => f.kind === 1 && f.offset + f.len <= hit.offset).map((f) => f.id);
  assert.deepEqual(
    got.map((r) => r.id),
    kept,
    'the records before the hole come back; none after it is resurrected',
  );
  assert.ok(kept.length >= 4 && !got.some((r) => after.some((f) => f.id === r.id)));
  // The source resumes after the last record kept, so the lines in the hole are read again.
  const last = kept.length - 1;
  assert.deepEqual(q.positions().get(fileKey), positionOf(last));
  const next = await m.run(q.append(Buffer.from('next')));
  assert.equal(next.id, hit.id, 'ids continue after the last record kept');
  await m.run(q.close());
});

test('a hole of zeros before a snapshot the last open wrote is skipped as corruption', async () => {
  const m = machine(2);
  let q = await m.open();
  for (let i = 0; i < 12; i++) await m.run(q.append(record(i)));
  await m.run(q.close());
  q = await m.open(); // appends a snapshot (fdatasync'ed): everything before it was durable
  for (let i = 12; i < 14; i++) await m.run(q.append(record(i)));
  await m.run(q.close());
  const content = m.fs.peek(SEG) as Buffer;
  const all = frames(content);
  const data = all.filter((f) => f.kind === 1);
  // Bit rot zeroes a whole sector of durable data in the middle of records 0-11.
  const holeFrom = Math.ceil(((data[3] as Frame).offset + 10) / SECTOR) * SECTOR;
  for (let at = holeFrom; at < holeFrom + SECTOR; at++) {
    const byte = content[at] as number;
    if (byte !== 0) m.fs.corrupt(SEG, at, byte);
  }
  const touched = data.filter((f) => f.offset < holeFrom + SECTOR && f.offset + f.len > holeFrom);
  q = await m.open();
  assert.equal(q.recovery.truncatedBytes, 0);
  assert.equal(q.recovery.corruptRecords, 1);
  assert.equal(q.recovery.lostEvents, touched.length);
  const got = await m.readAll(q);
  assert.deepEqual(
    got.map((r) => r.id),
    data.filter((f) => !touched.includes(f)).map((f) => f.id),
    'every record outside the hole is read, the ones after it included',
  );
  await m.run(q.close());
});

/** Out-of-order writeback left the sector or 4 KiB page holding the durable end unwritten: cut there. */
async function oldEndNotWrittenBack(unit: 'sector' | 'page'): Promise<void> {
  // FINDINGS.md, F-OOO (seeds 128 and 1600). The segment is durable up to E (not a sector
  // boundary); the records after E were written, never synced. The power goes and the disk writes
  // back out of order: the sector (or 4 KiB page) holding E is not written back, so it reads as
  // its old bytes up to E, then zeros up to the boundary; every later one is. No whole aligned
  // sector of zeros is left: before the fix this was skipped as a corrupt record, and the frames
  // after it, never acknowledged, came back with positions past the lines of the skipped one.
  // E inside the first unsynced frame's first sector (and, for a page, in the page's last sector).
  const wanted = (e: number): boolean =>
    e % SECTOR !== 0 && Math.ceil(e / SECTOR) * SECTOR - e < 300 && (unit === 'page') === e % 4096 >= 4096 - SECTOR;
  let m = machine(3);
  let q: Queue | null = null;
  let durableEnd = 0;
  for (let n = 1; n < 200 && q === null; n++) {
    m = machine(3);
    let d = await m.open();
    for (let i = 0; i < n; i++) await m.run(d.append(record(i), { positions: [{ key: fileKey, value: positionOf(i) }] }));
    await m.run(d.close());
    d = await m.open({ fsync: { mode: 'never' } }); // its snapshot is fdatasync'ed: the durable end
    durableEnd = (m.fs.peek(SEG) as Buffer).length;
    if (wanted(durableEnd)) q = d;
    else await m.run(d.close());
  }
  assert.ok(q !== null && wanted(durableEnd), `found a durable end for the ${unit} case`);
  for (let i = 1000; i < 1012; i++) await m.run(q.append(record(i), { positions: [{ key: fileKey, value: positionOf(i) }] }));
  const content = m.fs.peek(SEG) as Buffer;
  const all = frames(content);
  const torn = all.find((f) => f.offset === durableEnd) as Frame;
  const boundary = Math.ceil(durableEnd / SECTOR) * SECTOR;
  assert.ok(torn !== undefined && torn.offset + torn.len > boundary, 'the first unsynced frame spans the boundary');
  const after = all.filter((f) => f.offset >= boundary);
  assert.ok(after.length >= 3, 'valid frames follow the zeros');
  m.fs.crash({ holes: new Map([[SEG, [durableEnd, boundary]]]) });
  m.reboot();

  const r = await m.open();
  assert.equal(r.recovery.corruptRecords, 0, r.recovery.notes.join(' | '));
  assert.equal(r.recovery.lostEvents, 0);
  assert.equal(r.recovery.truncatedBytes, content.length - durableEnd, 'cut at the old end of file');
  const got = await m.readAll(r);
  assert.ok(!got.some((rec) => rec.id >= torn.id), 'no record written after the durable end is resurrected');
  const kept = all.filter((f) => f.kind === 1 && f.offset < durableEnd);
  assert.deepEqual(
    got.map((rec) => rec.id),
    kept.map((f) => f.id),
  );
  // The source resumes after the last durable record, so the lines after it are read again.
  assert.deepEqual(r.positions().get(fileKey), positionOf(kept.length - 1));
  assert.equal((await m.run(r.append(Buffer.from('next')))).id, torn.id, 'ids continue at the cut');
  await m.run(r.close());
}

test("zeros from the old end of file to a sector boundary, then the middle of a frame, in the last segment's tail are cut as a torn write (F-OOO)", async () => {
  await oldEndNotWrittenBack('sector'); // seed 128 with 512-byte units
});

test('zeros from an old end of file in the last sector of a 4 KiB page up to the page end are cut as a torn write (F-OOO)', async () => {
  await oldEndNotWrittenBack('page'); // seed 1600: whole pages, the old end in a page's last sector
});
