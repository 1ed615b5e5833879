/**
 * The segment the writer appends to: its file handle, its creation (with the positions snapshot at
 * its head, made durable before any record in it is acknowledged), the roll to the next one, the
 * snapshots appended on open and on a graceful close, and the timed fdatasync every commit goes
 * through (counted in metrics).
 */
import type { Clock, FileHandle, FileSystem } from '../core/ports';
import type { FsyncPolicy, QueueMetrics } from './types';
import { FRAME_HEADER, encodeFrame, snapshotPositions } from './format';
import { newSegment, type Segment, type SegmentList } from './segment';
import { isNoSpace } from './util';

export interface ActiveSegmentOptions {
  readonly dir: string;
  readonly fs: FileSystem;
  readonly clock: Clock;
  readonly policy: FsyncPolicy;
  readonly segments: SegmentList;
  readonly metrics: QueueMetrics;
}

export class ActiveSegment {
  seg!: Segment;
  private fh!: FileHandle;
  /** Size of the last positions snapshot written (for the "can never fit" check). */
  snapshotLen = FRAME_HEADER;
  /** When the last fdatasync returned (for `interval`). */
  lastSyncAt = 0;
  /** The open could not append its snapshot (disk full): it goes in front of the first record. */
  private owed = false;
  /** Nothing was written after the last positions snapshot of the active segment (no need for another). */
  private endsWithSnapshot = false;

  constructor(private readonly o: ActiveSegmentOptions) {}

  /**
   * On open: append a positions snapshot to the last segment and fdatasync it (whatever the policy:
   * everything before it is now durable, see the recovery table's "tail"), or create the first
   * segment (also when the ids must start past the last segment's first id). When the segment
   * already ends with a snapshot of these positions and this next id (`tailSnapshotLen` bytes: a
   * graceful close wrote it), that one is made durable and stands for the open's.
   */
  async openTail(nextId: number, positions: ReadonlyMap<string, Uint8Array>, tailSnapshotLen: number | null): Promise<void> {
    const last = this.o.segments.last;
    if (last === undefined || last.firstId > nextId) {
      await this.create(nextId, positions);
      return;
    }
    this.seg = last;
    this.fh = await this.o.fs.open(last.path, 'append');
    // The tail first: after a process crash it may hold frames still only in the page cache, and a
    // snapshot on disk must never stand after bytes that were not (out-of-order writeback).
    await this.sync();
    if (tailSnapshotLen !== null) {
      this.snapshotLen = tailSnapshotLen;
      last.durableSize = last.size;
      this.endsWithSnapshot = true;
      return;
    }
    const snap = encodeFrame('snapshot', nextId, 0, Buffer.alloc(0), snapshotPositions(positions));
    try {
      await this.fh.writev([snap]);
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      // A full disk must not stop the start: the tail is made durable without the snapshot (so the
      // torn-tail rule's "durable before it" holds for the snapshot written later, in front of the
      // first record), and whatever part of it landed is cut off.
      await this.fh.truncate(last.size);
      await this.sync();
      this.owed = true;
      return;
    }
    this.snapshotLen = snap.length;
    await this.sync();
    last.size += snap.length;
    last.durableSize = last.size;
    this.o.metrics.bytesOnDisk += snap.length;
    this.endsWithSnapshot = true;
  }

  /**
   * On a graceful close: a positions snapshot at the end of the active segment, written only once
   * every byte before it is durable (in `never` mode an fdatasync first), and fdatasync'ed itself,
   * whatever the policy. The next open then knows the whole segment was durable: damage in it is
   * corruption (skipped, counted), never a torn tail (the recovery table's "tail" ends here). On a
   * full disk it is left out (whatever part of it landed is cut off).
   */
  async closeTail(nextId: number, positions: ReadonlyMap<string, Uint8Array>): Promise<void> {
    if (this.endsWithSnapshot) return;
    if (this.o.policy.mode === 'never') await this.sync();
    const seg = this.seg;
    const snap = encodeFrame('snapshot', nextId, 0, Buffer.alloc(0), snapshotPositions(positions));
    try {
      await this.fh.writev([snap]);
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      await this.cutBack(seg.size);
      return;
    }
    await this.sync();
    seg.size += snap.length;
    seg.durableSize = seg.size;
    this.o.metrics.bytesOnDisk += snap.length;
    this.owed = false;
    this.endsWithSnapshot = true;
  }

  /** The snapshot frame the open owes (id: the next record's), or null when none is owed. */
  owedSnapshot(nextId: number, positions: ReadonlyMap<string, Uint8Array>): Buffer | null {
    return this.owed ? encodeFrame('snapshot', nextId, 0, Buffer.alloc(0), snapshotPositions(positions)) : null;
  }

  /** The owed snapshot (`len` bytes) was written in front of the first record. */
  owedWritten(len: number): void {
    this.owed = false;
    this.snapshotLen = len;
  }

  /** After a write refused for lack of space: cut the file back to `size` and make the cut durable. */
  async cutBack(size: number): Promise<void> {
    await this.fh.truncate(size);
    await this.timedSync(this.fh);
  }

  /** One writev at the end of the active segment. */
  write(buffers: readonly Uint8Array[]): Promise<void> {
    this.endsWithSnapshot = false;
    return this.fh.writev(buffers);
  }

  /** fdatasync of the active segment, timed and counted. */
  async sync(): Promise<void> {
    await this.timedSync(this.fh);
  }

  /** Seals the active segment (durable first, unless `never`) and starts one whose first id is `firstId`. */
  async roll(firstId: number, positions: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const old = this.seg;
    const oldFh = this.fh;
    switch (this.o.policy.mode) {
      case 'always':
      case 'interval':
        await this.timedSync(oldFh);
        break;
      case 'never':
        break;
    }
    await this.create(firstId, positions);
    old.sealed = true;
    await oldFh.close();
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  /** Creates a segment starting at `firstId` with a positions snapshot, makes it durable, makes it active. */
  private async create(firstId: number, positions: ReadonlyMap<string, Uint8Array>): Promise<void> {
    const { fs, dir, metrics } = this.o;
    const seg = newSegment(dir, firstId);
    const fh = await fs.open(seg.path, 'exclusive');
    const snap = encodeFrame('snapshot', firstId, 0, Buffer.alloc(0), snapshotPositions(positions));
    try {
      await fh.writev([snap]);
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      // No room for the new segment's head: undo its creation; the caller keeps the old one active.
      await fh.close();
      await fs.unlink(seg.path);
      throw err;
    }
    this.snapshotLen = snap.length;
    seg.size = snap.length;
    metrics.bytesOnDisk += snap.length;
    switch (this.o.policy.mode) {
      case 'always':
      case 'interval':
        await this.timedSync(fh);
        await fs.syncDir(dir);
        break;
      case 'never':
        break;
    }
    seg.durableSize = seg.size;
    seg.snapshotDurable = true;
    this.o.segments.push(seg);
    this.seg = seg;
    this.fh = fh;
    this.owed = false;
    this.endsWithSnapshot = true;
  }

  private async timedSync(fh: FileHandle): Promise<void> {
    const { clock, metrics } = this.o;
    const t0 = clock.now();
    await fh.datasync();
    const t1 = clock.now();
    this.lastSyncAt = t1;
    metrics.fsyncs++;
    metrics.fsyncSecondsTotal += (t1 - t0) / 1000;
  }
}
