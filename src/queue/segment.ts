/**
 * Segments: the in-memory state of each segment file, the list of live segments in id order, the
 * sparse (id, offset) index used to position a reader, and the shared read handles.
 *
 * Who touches what: the writer appends to the last segment and pushes new ones (`./writer.ts`),
 * the ledger removes passed ones from the front (`./ledger.ts`), readers look segments up and read
 * them below `durableSize` (`./reader.ts`), recovery builds the list on open (`./recovery.ts`).
 */
import { join } from 'node:path';
import type { FileHandle, FileSystem } from '../core/ports';
import { segmentName } from './format';

const MiB = 1024 * 1024;
/** A sparse (id, offset) index entry every this many bytes of a segment, for rewinds and cursors. */
export const INDEX_EVERY = 1 * MiB;

export interface Segment {
  readonly firstId: number;
  readonly path: string;
  /** Bytes written (after recovery: the file size). */
  size: number;
  /** Bytes whose records are acknowledged to their appenders: readers stop here. */
  durableSize: number;
  /** The id after the last data record written to this segment (firstId if none). */
  endId: number;
  hasData: boolean;
  sealed: boolean;
  /** The snapshot frame at its head (or appended on open) is durable: older segments may go. */
  snapshotDurable: boolean;
  /** Sparse index: [id, offset, id, offset, …] of data frames, ascending. */
  readonly index: number[];
  lastIndexedOffset: number;
  /** Offsets of damaged regions already counted (by recovery or a reader). */
  readonly knownBad: Set<number>;
  readFh: Promise<FileHandle> | null;
  deleted: boolean;
}

/** A position in the log for a reader: the next frame at `offset` of `seg` should have id >= `expect`. */
export interface ReadPos {
  seg: Segment | null;
  offset: number;
  expect: number;
}

export function newSegment(dir: string, firstId: number): Segment {
  return {
    firstId,
    path: join(dir, segmentName(firstId)),
    size: 0,
    durableSize: 0,
    endId: firstId,
    hasData: false,
    sealed: false,
    snapshotDurable: false,
    index: [],
    lastIndexedOffset: 0,
    knownBad: new Set(),
    readFh: null,
    deleted: false,
  };
}

/** Records a data frame (`id` at `offset`) in the segment's sparse index if it is due. */
export function indexFrame(seg: Segment, id: number, offset: number): void {
  if (seg.index.length === 0 || offset - seg.lastIndexedOffset >= INDEX_EVERY) {
    seg.index.push(id, offset);
    seg.lastIndexedOffset = offset;
  }
}

/** The segment's shared read handle, opened on demand. */
export function readHandle(fs: FileSystem, seg: Segment): Promise<FileHandle> {
  if (seg.readFh === null) {
    const fh = fs.open(seg.path, 'read');
    seg.readFh = fh;
    // Deliberately not awaited: a failed open only clears the slot (the reader awaiting `fh` sees
    // the error itself), so the next read opens the file again.
    void fh.catch(() => {
      if (seg.readFh === fh) seg.readFh = null;
    });
  }
  return seg.readFh;
}

/**
 * Closes the segment's read handle, if any. A read handle holds no data of ours, so a failed close
 * is of no consequence and is ignored.
 */
export async function closeReadHandle(seg: Segment): Promise<void> {
  const rfh = seg.readFh;
  seg.readFh = null;
  if (rfh !== null) await rfh.then((h) => h.close()).catch(() => undefined);
}

/** The live segments, in id order (the last is the active one). */
export class SegmentList {
  private readonly list: Segment[] = [];

  get length(): number {
    return this.list.length;
  }
  get first(): Segment | undefined {
    return this.list[0];
  }
  get last(): Segment | undefined {
    return this.list[this.list.length - 1];
  }
  at(i: number): Segment | undefined {
    return this.list[i];
  }
  [Symbol.iterator](): Iterator<Segment> {
    return this.list[Symbol.iterator]();
  }
  push(seg: Segment): void {
    this.list.push(seg);
  }
  /** Removes the first segment (the ledger deleted its file). */
  shift(): Segment | undefined {
    return this.list.shift();
  }

  /** The segment after `seg` (by id), or null. */
  after(seg: Segment): Segment | null {
    for (const s of this.list) if (s.firstId > seg.firstId) return s;
    return null;
  }

  /** The read position of the first record with id >= `id`. */
  locate(id: number): ReadPos {
    const segs = this.list;
    let lo = 0;
    let hi = segs.length - 1;
    let idx = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((segs[mid] as Segment).firstId <= id) {
        idx = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const seg = segs[idx] ?? null;
    if (seg === null) return { seg: null, offset: 0, expect: id };
    let offset = 0;
    let expect = seg.firstId;
    for (let i = 0; i + 1 < seg.index.length; i += 2) {
      const iid = seg.index[i] as number;
      if (iid > id) break;
      expect = iid;
      offset = seg.index[i + 1] as number;
    }
    return { seg, offset, expect };
  }
}
