/**
 * The torn-tail rule of the recovery decision table (src/queue/recovery-table.ts), on the simulated
 * disk: a hole of zeros followed by valid frames after the last durable point of the last segment
 * (its last positions snapshot) is a torn write and is cut there; the same hole before a snapshot
 * lies in data that was durable once and is skipped as corruption.
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
