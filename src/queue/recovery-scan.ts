/**
 * Recovery's look at one segment file: scan its frames (rebuilding positions, the sparse index and
 * the record count, noticing ids that are missing) and classify each damaged region it holds as a
 * `damage` finding of the recovery table (where it is, what follows it, whether it is a zero hole).
 * Deciding what to do with the findings is `./recovery.ts`'s job, by the table.
 */
import type { FileHandle } from '../core/ports';
import { applyPositions, scanFrames, segmentName } from './format';
import { decide, SECTOR, type FindingOf } from './recovery-table';
import { indexFrame, newSegment, type Segment } from './segment';
import { READ_CHUNK } from './reader';

export interface Region {
  readonly from: number;
  readonly to: number;
}

export interface SegmentScan {
  /** A fresh segment with its data frames indexed (size not set). */
  readonly seg: Segment;
  readonly records: number;
  readonly lost: number;
  readonly notes: string[];
  /** The id after the last valid frame (at least the id expected at the start). */
  readonly nextId: number;
  /** Damaged regions followed by a valid frame, in file order. */
  readonly regions: readonly Region[];
  /** Start of damage that runs to the end of the scanned range, or null. */
  readonly badTailFrom: number | null;
  /** Offset of the last valid positions snapshot frame, or -1. */
  readonly lastSnapshotAt: number;
  /** The last valid frame, or null. */
  readonly lastFrame: { readonly kind: 'data' | 'snapshot'; readonly end: number; readonly len: number; readonly id: number } | null;
}

/** Scans `[0, limit)` of one segment: frames are applied to `positions`; damage is only collected. */
export async function scanSegment(
  fh: FileHandle,
  dir: string,
  firstId: number,
  limit: number,
  expected: number,
  positions: Map<string, Uint8Array>,
  lose: (from: number, to: number) => number,
): Promise<SegmentScan> {
  const seg = newSegment(dir, firstId);
  const name = segmentName(firstId);
  const notes: string[] = [];
  const regions: Region[] = [];
  let records = 0;
  let lost = 0;
  let lastSnapshotAt = -1;
  let lastFrame: SegmentScan['lastFrame'] = null;
  let exp = expected;
  const unreadablePositions = (offset: number, what: string): void => {
    const row = decide({ kind: 'positions', state: 'unreadable' });
    switch (row.action) {
      case 'ignore':
        notes.push(`${name}: unreadable ${what} at offset ${offset}`);
        break;
    }
  };
  const end = await scanFrames(fh, 0, limit, expected, 4 * READ_CHUNK, (ev) => {
    switch (ev.type) {
      case 'bad':
        regions.push({ from: ev.from, to: ev.to });
        return 'continue';
      case 'frame': {
        const f = ev.frame;
        if (f.id > exp) {
          lost += lose(exp, f.id);
          if (regions.length === 0) {
            const row = decide({ kind: 'ids', where: 'inside-segment' });
            switch (row.action) {
              case 'count-lost':
                notes.push(`${name}: ids ${exp}..${f.id - 1} are missing`);
                break;
            }
          }
        }
        switch (f.kind) {
          case 'snapshot':
            lastSnapshotAt = f.offset;
            positions.clear();
            if (f.meta !== null && !applyPositions(f.meta, positions)) unreadablePositions(f.offset, 'positions snapshot');
            break;
          case 'data':
            records++;
            seg.hasData = true;
            seg.endId = f.id + f.events;
            if (f.meta !== null && !applyPositions(f.meta, positions)) unreadablePositions(f.offset, 'positions');
            indexFrame(seg, f.id, f.offset);
            break;
        }
        exp = f.id + f.events;
        lastFrame = { kind: f.kind, end: f.offset + f.len, len: f.len, id: f.id };
        return 'continue';
      }
    }
  });
  return { seg, records, lost, notes, nextId: Math.max(exp, end.nextId), regions, badTailFrom: end.badTailFrom, lastSnapshotAt, lastFrame };
}

/** The finding for a damaged region of a segment (reads the region's bytes to look for a zero hole). */
export async function classifyDamage(
  fh: FileHandle,
  region: Region & { readonly followedBy?: 'end' },
  last: boolean,
  lastSnapshotAt: number,
): Promise<FindingOf<'damage'>> {
  return {
    kind: 'damage',
    segment: last ? 'last' : 'older',
    followedBy: region.followedBy ?? 'frame',
    content: (await holdsZeroSector(fh, region.from, region.to)) ? 'zeros' : (await zerosToSector(fh, region.from, region.to)) ? 'zeros-to-sector' : 'other',
    place: lastSnapshotAt > region.from ? 'before-snapshot' : 'tail',
  };
}

/**
 * Whether bytes [from, to) start unaligned with zeros that run up to the next sector boundary: what
 * the sector (or page) holding a file's old end leaves when the write that filled it was not written
 * back and later ones were (the old bytes before `from` are intact, the file never had any after it).
 */
async function zerosToSector(fh: FileHandle, from: number, to: number): Promise<boolean> {
  const boundary = Math.ceil(from / SECTOR) * SECTOR;
  if (boundary === from || boundary > to) return false;
  const buf = Buffer.alloc(boundary - from);
  const n = await fh.read(buf, 0, buf.length, from);
  if (n < buf.length) return false;
  for (let i = 0; i < n; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Whether bytes [from, to) of the file hold a whole aligned sector of zeros (a zero hole). */
async function holdsZeroSector(fh: FileHandle, from: number, to: number): Promise<boolean> {
  const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(0, to - from)));
  for (let at = Math.ceil(from / SECTOR) * SECTOR; at + SECTOR <= to; ) {
    const want = Math.min(buf.length, to - at) - (Math.min(buf.length, to - at) % SECTOR);
    const n = await fh.read(buf, 0, want, at);
    for (let s = 0; s + SECTOR <= n; s += SECTOR) {
      let zero = true;
      for (let i = s; i < s + SECTOR; i++) {
        if (buf[i] !== 0) {
          zero = false;
          break;
        }
      }
      if (zero) return true;
    }
    if (n < want || n === 0) break;
    at += n;
  }
  return false;
}
