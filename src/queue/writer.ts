/**
 * The writer: ids, group commit and segment rolling. Appends wait in `pending`, are written in call
 * order by one loop (one `writev` per segment touched, at most `MAX_COMMIT_BYTES` per commit), wait
 * in `unsynced` for the fdatasync that covers them (pipelined in `always` mode: the next batch is
 * written while the previous fdatasync runs), and are then published: their appends resolve and
 * the read cache gets them. When `maxBytes` is reached the writer waits (never drops), asking the
 * ledger to persist cursors and delete what every consumer has passed.
 *
 * The writer decides when to roll; the file work of the segment it appends to (creation with its
 * snapshot, the roll, the snapshot on open, fdatasync) is `ActiveSegment` (./active-segment.ts).
 * The writer implements `LogView` (./log-view.ts), the only thing readers see of it.
 */
import type { QueueEvent } from '../core/events';
import type { Clock, FileSystem, Timer } from '../core/ports';
import { asRecordId, type AppendOptions, type AppendResult, type FsyncPolicy, type QueueMetrics, type SourcePosition } from './types';
import { AppendAbortedError, QueueClosedError, QueueUsageError, RecordTooLargeError } from './errors';
import { FRAME_HEADER, encodePositions, writeFrameHeader } from './format';
import { ActiveSegment } from './active-segment';
import { RecordArena, type Chunk } from './arena';
import { DataSignal, type CommittedRecord, type LogView } from './log-view';
import { indexFrame, type Segment, type SegmentList } from './segment';
import { detachingOnSettle, Fifo, ioError, isNoSpace } from './util';

const MiB = 1024 * 1024;
/** Upper bound on one commit's write (the rest goes in the next commit). */
const MAX_COMMIT_BYTES = 32 * MiB;
/**
 * While the disk is full (ENOSPC, EDQUOT), how often the writer tries again when nothing woke it (a
 * segment deleted wakes it at once): space can be freed by anything on the machine.
 */
export const NO_SPACE_RETRY_MS = 500;

/** Why appends wait: `maxBytes` reached, or the disk itself is full. */
type Blocked = 'max-bytes' | 'disk-full';

/**
 * One append: waits in `pending`, then `unsynced`, then lives on as a cache entry. Its id is final
 * once a write took it; until then `dropAborted` may renumber it (an earlier append given up).
 */
interface Entry extends CommittedRecord {
  id: number;
  /** Its caller gave it up (`AppendOptions.signal`): dropped before any write takes it. */
  aborted: boolean;
  readonly meta: Buffer | null;
  readonly positions: readonly SourcePosition[] | null;
  seg: Segment | null;
  endOffset: number;
  resolve: ((r: AppendResult) => void) | null;
  reject: ((e: Error) => void) | null;
}

interface InflightSync {
  readonly entries: Entry[];
  settled: boolean;
  error: unknown;
}

/** What the writer asks of the ledger when it waits for space. */
export interface SpaceKeeper {
  /** Persist every consumer's cursor now (failures are reported by the ledger; this rejects with the first). */
  persistAll(): Promise<void>;
  /** Delete every segment all consumers have passed (by persisted cursors). */
  deleteEligible(): Promise<void>;
  /** Whether every consumer's persisted cursor is at or past `id`. */
  allPersistedUpTo(id: number): boolean;
}

export interface WriterOptions {
  readonly dir: string;
  readonly fs: FileSystem;
  readonly clock: Clock;
  readonly policy: FsyncPolicy;
  readonly segmentBytes: number;
  readonly maxBytes: number;
  readonly segments: SegmentList;
  readonly metrics: QueueMetrics;
  readonly emit: (e: QueueEvent) => void;
  /** Every record as its append resolves, in id order (the read cache). */
  readonly onCommit: (records: readonly CommittedRecord[]) => void;
}

export class Writer implements LogView {
  readonly segments: SegmentList;
  /** Next id to assign to an append. */
  nextId = 0;
  /** The id after the last record whose append resolved. */
  durableId = 0;
  /** Positions as written (recovered on open, then updated per write) and as durable. */
  readonly writtenPositions = new Map<string, Uint8Array>();
  private readonly durablePositions = new Map<string, Uint8Array>();
  space: SpaceKeeper | null = null;

  private readonly dir: string;
  private readonly policy: FsyncPolicy;
  private readonly maxBytes: number;
  private readonly m: QueueMetrics;
  private readonly active: ActiveSegment;
  private readonly pending = new Fifo<Entry>();
  private unsynced: Entry[] = [];
  /** The fdatasync in flight (`always`), with the appends it covers. */
  private inflight: InflightSync | null = null;
  private hdrArena = Buffer.allocUnsafe(FRAME_HEADER * 256);
  /** Reused memory for payloads appended as parts (./arena.ts). */
  readonly arena = new RecordArena();
  private writerWake: (() => void) | null = null;
  private writerTimer: Timer | null = null;
  private done: Promise<void> = Promise.resolve();
  private readonly readers = new DataSignal();
  private closing = false;
  private closed = false;
  private failed: Error | null = null;
  private fullSince = 0;
  /** The disk said ENOSPC/EDQUOT: appends wait and retry on a timer or when space is freed. */
  private noSpace: unknown = null;
  /** Appends given up since the last `dropAborted` (some may have been written already: they stand). */
  private aborts = 0;
  /** The size of the first append the last `dropAborted` found waiting: while full with none pending, the room that ends the episode. */
  private blockedFrameLen = 0;

  constructor(private readonly o: WriterOptions) {
    ({ dir: this.dir, policy: this.policy, maxBytes: this.maxBytes, segments: this.segments, metrics: this.m } = o);
    this.active = new ActiveSegment(o);
  }

  // ---- start / stop ----

  /**
   * After recovery (`nextId` and `writtenPositions` set, `segments` filled): a positions snapshot
   * on the last segment (or the one ending it, `tailSnapshotLen` bytes), fdatasync'ed, or the first
   * segment (`ActiveSegment.openTail`).
   */
  async openTail(tailSnapshotLen: number | null): Promise<void> {
    await this.active.openTail(this.nextId, this.writtenPositions, tailSnapshotLen);
    this.durableId = this.nextId;
    for (const [k, v] of this.writtenPositions) this.durablePositions.set(k, v);
  }

  /** Starts the writer loop. */
  start(): void {
    this.active.lastSyncAt = this.o.clock.now();
    this.done = this.loop();
  }

  /** Stops taking appends, finishes those in flight, then wakes readers (with nothing). */
  async close(): Promise<void> {
    this.closing = true;
    this.wake();
    await this.done;
    // The durable point for the next open: everything written is in front of this snapshot.
    const fail = (e: unknown): void => this.fail(ioError(`queue ${this.dir}: writing the closing snapshot failed`, e));
    if (this.failed === null) await this.active.closeTail(this.durableId, this.durablePositions).catch(fail);
  }

  /** Closing or failed: no more appends (the ledger's timer stops re-arming). */
  stopping(): boolean {
    return this.closing;
  }

  /** Marks the queue closed for readers (after the ledger's timer is stopped) and wakes them. */
  markClosed(): void {
    this.closed = true;
    this.readers.wakeAll();
  }

  /** Closes the active segment's handle. */
  closeActive(): Promise<void> {
    return this.active.close();
  }

  // ---- LogView ----

  failure(): Error | null {
    return this.failed;
  }

  stopped(): boolean {
    return this.closed || this.failed !== null;
  }

  waitForData(signal: AbortSignal | undefined): Promise<void> {
    return this.readers.wait(signal);
  }

  // ---- what the facade asks ----

  /** The last durable value of every position key. */
  positions(): ReadonlyMap<string, Uint8Array> {
    return new Map(this.durablePositions);
  }

  /** Milliseconds the current wait for space has lasted (0 when appends are not waiting), for `metrics()`. */
  fullForMs(now: number): number {
    return this.m.full ? now - this.fullSince : 0;
  }

  /** Wakes the writer (an ack while full, a segment deleted). */
  wake(): void {
    const w = this.writerWake;
    if (w !== null) {
      this.writerWake = null;
      w();
    }
  }

  // ---- append / group commit ----

  /**
   * A payload given as parts (a header and the lines, say) is copied once, before this returns,
   * into reused memory (./arena.ts) and written from there; a single buffer is taken as it is (the
   * caller must not change it until the append resolves).
   */
  append(payload: Uint8Array | readonly Uint8Array[], opts?: AppendOptions): Promise<AppendResult> {
    if (this.failed !== null) return Promise.reject(this.failed);
    if (this.closing) return Promise.reject(new QueueClosedError(`queue ${this.dir} is closed; append refused`));
    const events = opts?.events ?? 1;
    if (!Number.isSafeInteger(events) || events < 1 || events > 0xffff_ffff) {
      return Promise.reject(new QueueUsageError(`queue ${this.dir}: append events must be an integer >= 1 (got ${events})`));
    }
    const positions = opts?.positions !== undefined && opts.positions.length > 0 ? opts.positions : null;
    let meta: Buffer | null = null;
    if (positions !== null) {
      try {
        meta = encodePositions(positions);
      } catch (e) {
        return Promise.reject(new QueueUsageError(`queue ${this.dir}: ${e instanceof Error ? e.message : String(e)}`));
      }
    }
    let length = 0;
    if (isParts(payload)) for (const part of payload) length += part.length;
    else length = payload.length;
    const frameLen = FRAME_HEADER + length + (meta === null ? 0 : meta.length);
    if (frameLen > this.o.segmentBytes) {
      return Promise.reject(new RecordTooLargeError(this.dir, frameLen, this.o.segmentBytes, 'segmentBytes'));
    }
    if (frameLen + this.active.snapshotLen > this.maxBytes) {
      // Even an otherwise empty queue (one segment holding only its positions snapshot) could not take it.
      return Promise.reject(new RecordTooLargeError(this.dir, frameLen, this.maxBytes - this.active.snapshotLen, 'maxBytes'));
    }
    const signal = opts?.signal;
    if (signal?.aborted === true) return Promise.reject(new AppendAbortedError(this.dir));
    let buf: Buffer;
    let chunk: Chunk | null = null;
    if (isParts(payload)) {
      ({ buf, chunk } = this.arena.take(length));
      let at = 0;
      for (const part of payload) {
        buf.set(part, at);
        at += part.length;
      }
    } else {
      buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    }
    const id = this.nextId;
    this.nextId += events;
    return new Promise<AppendResult>((resolve, reject) => {
      const e: Entry = { id, events, aborted: false, payload: buf, chunk, meta, positions, frameLen, seg: null, endOffset: 0, resolve, reject };
      if (signal !== undefined) {
        const onAbort = (): void => {
          e.aborted = true;
          this.aborts++;
          this.wake(); // a writer waiting for space drops it now
        };
        signal.addEventListener('abort', onAbort, { once: true });
        ({ resolve: e.resolve, reject: e.reject } = detachingOnSettle(signal, onAbort, resolve, reject));
      }
      this.pending.push(e);
      this.wake();
    });
  }

  /**
   * Drops the pending appends whose callers gave them up (they reject with `AppendAbortedError`:
   * nothing of them was written) and renumbers the pending ones after them, so ids stay contiguous.
   * Only between writes: a pending append's id is seen by nothing until a write takes it. An append
   * given up after a write took it is not pending any more: it completes, and its caller sees that.
   */
  private dropAborted(): void {
    this.aborts = 0;
    const first = this.pending.peek();
    if (first === undefined) return;
    this.blockedFrameLen = first.frameLen;
    let next = first.id;
    const kept: Entry[] = [];
    for (let e = this.pending.shift(); e !== undefined; e = this.pending.shift()) {
      if (e.aborted) {
        // Never written, never cached: nobody else reads its slot.
        if (e.chunk !== null) this.arena.release(e.chunk);
        e.reject?.(new AppendAbortedError(this.dir));
        continue;
      }
      e.id = next;
      next += e.events;
      kept.push(e);
    }
    for (const e of kept) this.pending.push(e);
    this.nextId = next;
  }

  private waitWriter(ms: number | null): Promise<void> {
    return new Promise<void>((resolve) => {
      this.writerWake = resolve;
      if (ms !== null) {
        // Keeps the process alive: appends are waiting for the fsync this timer triggers.
        this.writerTimer = this.o.clock.setTimer(
          Math.max(0, ms),
          () => {
            this.writerTimer = null;
            this.wake();
          },
          { keepAlive: true },
        );
      }
    }).then(() => {
      if (this.writerTimer !== null) {
        this.writerTimer.cancel();
        this.writerTimer = null;
      }
    });
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        if (this.pending.length === 0 && this.unsynced.length === 0 && this.inflight === null) {
          if (this.closing) return;
          if (this.m.full) {
            // Full, but every waiting append was given up: the episode ends once that much room is free.
            if (this.noSpace !== null || (await this.freeSpace({ id: this.nextId, frameLen: this.blockedFrameLen }))) this.setFull(false);
            if (!this.m.full || this.pending.length > 0) continue; // (an append that came meanwhile found no one to wake)
          }
          await this.waitWriter(null);
          continue;
        }
        let blocked: Blocked | null = null;
        if (this.pending.length > 0) blocked = await this.writeBatch();
        if (blocked !== null && this.closing && this.unsynced.length === 0 && this.inflight === null) {
          // Closing while appends wait for space that no consumer will free now: refuse them.
          this.rejectPending(new QueueClosedError(`queue ${this.dir} closed while the append waited for space (maxBytes)`));
          continue;
        }
        if (this.policy.mode === 'always') {
          // Pipelined group commit: the batch written while the previous fdatasync was in flight
          // gets its own fdatasync as soon as that one returns (whose appends resolve then).
          if (this.unsynced.length > 0) {
            await this.finishSync();
            this.startSync();
          } else if (this.inflight !== null) {
            if (!this.inflight.settled) await this.waitWriter(null); // the sync returning, or a new append
            if (this.inflight?.settled === true) await this.finishSync();
          } else if (blocked !== null) {
            await this.waitForSpace(blocked);
          }
          continue;
        }
        if (this.unsynced.length > 0) {
          switch (this.policy.mode) {
            case 'never':
              this.publish(this.takeUnsynced());
              break;
            case 'interval': {
              const due = this.active.lastSyncAt + this.policy.intervalMs;
              const now = this.o.clock.now();
              if (now >= due || blocked !== null || this.closing) {
                await this.active.sync();
                this.publish(this.takeUnsynced());
              } else if (this.pending.length === 0) {
                await this.waitWriter(due - now);
              }
              break;
            }
          }
        } else if (blocked !== null) {
          await this.waitForSpace(blocked);
        }
      }
    } catch (e) {
      this.fail(ioError(`queue ${this.dir}: write failed`, e));
    }
  }

  private takeUnsynced(): Entry[] {
    const list = this.unsynced;
    this.unsynced = [];
    return list;
  }

  /** Starts an fdatasync of the active segment covering every written-but-unsynced append. */
  private startSync(): void {
    const s: InflightSync = { entries: this.takeUnsynced(), settled: false, error: null };
    this.inflight = s;
    // Not awaited here on purpose (the pipeline): the writer loop waits for `s.settled`, and an
    // error is kept in `s.error` and thrown by finishSync().
    void this.active.sync().then(
      () => {
        s.settled = true;
        this.wake();
      },
      (e: unknown) => {
        s.error = e ?? new Error('fdatasync failed');
        s.settled = true;
        this.wake();
      },
    );
  }

  /** Waits for the in-flight fdatasync (if any) and resolves the appends it covers. */
  private async finishSync(): Promise<void> {
    const s = this.inflight;
    if (s === null) return;
    while (!s.settled) await this.waitWriter(null);
    this.inflight = null;
    if (s.error !== null) {
      this.unsynced = [...s.entries, ...this.unsynced];
      // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what fdatasync threw
      throw s.error;
    }
    this.publish(s.entries);
  }

  /**
   * Appends cannot be written now: wait until the ledger frees space (it wakes the writer), or, when
   * the disk itself is full, at most `NO_SPACE_RETRY_MS` (anything on the machine may free space).
   */
  private async waitForSpace(why: Blocked): Promise<void> {
    this.setFull(true, why);
    switch (why) {
      case 'max-bytes':
        // (an abort while the writer was busy found no one to wake: drop it now rather than sleep)
        if (this.aborts === 0) await this.waitWriter(null);
        break;
      case 'disk-full': {
        const deleted = this.m.deletedSegments;
        await this.freeDisk();
        // Deleted a segment: try again at once; else wait for a deletion or the next re-check.
        if (this.m.deletedSegments === deleted) await this.waitWriter(NO_SPACE_RETRY_MS);
        break;
      }
    }
  }

  /**
   * The disk is full: persist cursors (in place, no new space) and delete what every consumer has
   * passed; when all of it was consumed but the active segment holds the space, roll so it can go
   * (which needs room for the new segment's snapshot: if there is none, the roll is undone).
   */
  private async freeDisk(): Promise<void> {
    const space = this.space;
    if (space === null) return;
    // A failure is reported by the ledger (an event, a counter); the writer frees what it can anyway.
    await space.persistAll().catch(() => undefined);
    await space.deleteEligible();
    const next = this.pending.peek();
    if (next === undefined || !this.active.seg.hasData || this.unsynced.length > 0 || this.inflight !== null) return;
    if (!space.allPersistedUpTo(this.active.seg.endId)) return;
    try {
      await this.roll(next.id);
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      return;
    }
    await space.deleteEligible();
  }

  /** Appends wait for space (an episode: `queue.full` when it starts, `queue.space` when it ends). */
  private setFull(full: boolean, why: Blocked = 'max-bytes'): void {
    if (full === this.m.full) return;
    const now = this.o.clock.now();
    this.m.full = full;
    if (full) {
      this.fullSince = now;
      const error = this.noSpace;
      this.o.emit(
        why === 'disk-full' && error !== null
          ? { type: 'queue.full', reason: 'disk-full', bytesOnDisk: this.m.bytesOnDisk, maxBytes: this.maxBytes, error }
          : { type: 'queue.full', reason: 'max-bytes', bytesOnDisk: this.m.bytesOnDisk, maxBytes: this.maxBytes },
      );
    } else {
      this.noSpace = null;
      this.m.fullMsTotal += now - this.fullSince;
      this.o.emit({ type: 'queue.space', waitedMs: now - this.fullSince });
    }
  }

  /**
   * Writes as many pending appends as fit (one writev per segment touched); null if some were
   * written, else why none could be. An append's bookkeeping (offsets, index, positions, bytes on
   * disk) is applied only once its write returned, so a write the disk refuses for lack of space is
   * cut back and its appends stay pending, in order, to be written again.
   */
  private async writeBatch(): Promise<Blocked | null> {
    if (this.aborts > 0) {
      this.dropAborted();
      if (this.pending.length === 0) return null; // all given up: `loop` sees whether the queue is still full
    }
    let wrote = false;
    const n = this.pending.length;
    if (this.hdrArena.length < (n + 1) * FRAME_HEADER) this.hdrArena = Buffer.allocUnsafe((n + 1) * FRAME_HEADER * 2);
    const arena = this.hdrArena;
    let bufs: Uint8Array[] = [];
    /** Appends in `bufs` (the first `k` of `pending`), where the next frame goes, the bytes on disk then. */
    let k = 0;
    let size = this.active.seg.size;
    let bytes = this.m.bytesOnDisk;
    let hasData = this.active.seg.hasData;
    let snap = 0;
    let batchBytes = 0;
    const restart = (): void => {
      // (Again) at the end of the active segment, nothing in `bufs`: after a roll.
      bufs = [];
      size = this.active.seg.size;
      bytes = this.m.bytesOnDisk;
      hasData = this.active.seg.hasData;
      snap = 0;
      // The snapshot an open could not append (the disk was full) goes in front of the first record.
      const first = this.pending.peek();
      const frame = first === undefined ? null : this.active.owedSnapshot(first.id, this.writtenPositions);
      if (frame === null) return;
      bufs.push(frame);
      snap = frame.length;
      size += snap;
      bytes += snap;
    };
    restart();
    for (let taken = 0; taken < n; ) {
      const e = this.pending.at(k);
      if (e === undefined) break;
      if (bytes + e.frameLen > this.maxBytes) {
        if (wrote || k > 0) break;
        if (await this.freeSpace(e)) {
          restart();
          continue;
        }
        if (this.segments.length === 1 && !this.active.seg.hasData) {
          // Nothing left to free: this record can never fit (positions snapshot grew since it was checked).
          this.pending.shift();
          e.reject?.(new RecordTooLargeError(this.dir, e.frameLen, this.maxBytes - this.active.seg.size, 'maxBytes'));
          continue;
        }
        return this.noSpace !== null ? 'disk-full' : 'max-bytes';
      }
      if (hasData && size + e.frameLen > this.o.segmentBytes) {
        if (k > 0 || snap > 0) {
          if (!(await this.flush(bufs, k, snap))) return wrote ? null : 'disk-full';
          wrote = true;
          k = 0;
        }
        try {
          await this.roll(e.id);
        } catch (err) {
          if (!isNoSpace(err)) throw err;
          this.noSpace = err; // the new segment could not be created: the old one stays active
          return wrote ? null : 'disk-full';
        }
        restart();
        continue;
      }
      const at = taken * FRAME_HEADER;
      taken++;
      k++;
      writeFrameHeader(arena, at, 'data', e.id, e.events, e.payload, e.meta);
      bufs.push(arena.subarray(at, at + FRAME_HEADER));
      if (e.payload.length > 0) bufs.push(e.payload);
      if (e.meta !== null) bufs.push(e.meta);
      size += e.frameLen;
      bytes += e.frameLen;
      hasData = true;
      batchBytes += e.frameLen;
      if (batchBytes >= MAX_COMMIT_BYTES) break;
    }
    if (k > 0 || snap > 0) {
      if (await this.flush(bufs, k, snap)) wrote = true;
      else if (!wrote) return 'disk-full';
    }
    if (wrote) this.setFull(false);
    return wrote ? null : 'max-bytes';
  }

  /**
   * One writev of the first `k` pending appends (after an owed snapshot of `snap` bytes), then
   * their bookkeeping; they move to `unsynced`. False if the disk is full: whatever part of the
   * write landed is cut off again, and the appends stay pending.
   */
  private async flush(bufs: readonly Uint8Array[], k: number, snap: number): Promise<boolean> {
    const seg = this.active.seg;
    const before = seg.size;
    try {
      await this.active.write(bufs);
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      this.noSpace = err;
      // Linux writes what fits, then says ENOSPC: cut that prefix off (and make the cut durable,
      // should an fdatasync in flight have caught the prefix), so the file holds whole frames only.
      await this.active.cutBack(before);
      return false;
    }
    if (snap > 0) {
      this.active.owedWritten(snap);
      seg.size += snap;
      this.m.bytesOnDisk += snap;
    }
    for (let i = 0; i < k; i++) {
      const e = this.pending.shift() as Entry;
      const start = seg.size;
      seg.size += e.frameLen;
      seg.hasData = true;
      seg.endId = e.id + e.events;
      indexFrame(seg, e.id, start);
      e.seg = seg;
      e.endOffset = seg.size;
      this.m.bytesOnDisk += e.frameLen;
      if (e.positions !== null) {
        for (const p of e.positions) {
          if (p.value === null) this.writtenPositions.delete(p.key);
          else this.writtenPositions.set(p.key, p.value);
        }
      }
      this.unsynced.push(e);
    }
    return true;
  }

  /**
   * The next append (`e`) does not fit in `maxBytes`: persist what consumers acknowledged (deletion
   * goes by persisted cursors) and delete what they passed. True if it fits now.
   */
  private async freeSpace(e: Pick<Entry, 'id' | 'frameLen'>): Promise<boolean> {
    const space = this.space;
    if (space === null) return false;
    // A failure is reported by the ledger (an event, a counter); the writer frees what it can anyway.
    await space.persistAll().catch(() => undefined);
    await space.deleteEligible();
    if (this.m.bytesOnDisk + e.frameLen <= this.maxBytes) return true;
    if (this.active.seg.hasData && this.unsynced.length === 0 && space.allPersistedUpTo(this.active.seg.endId)) {
      // Everything is consumed but the active segment holds the space: roll so it can go.
      try {
        await this.roll(e.id);
      } catch (err) {
        if (!isNoSpace(err)) throw err;
        this.noSpace = err; // no room for the new segment's head either: wait as for a full disk
        return false;
      }
      await space.deleteEligible();
      if (this.m.bytesOnDisk + e.frameLen <= this.maxBytes) return true;
    }
    return false;
  }

  /** Seals the active segment and starts one whose first id is `firstId`. */
  private async roll(firstId: number): Promise<void> {
    await this.finishSync(); // never close a handle under an fdatasync in flight
    await this.active.roll(firstId, this.writtenPositions);
  }

  /** Marks appends (in id order) durable, resolves them, and hands them to the readers. */
  private publish(list: readonly Entry[]): void {
    for (const e of list) {
      const seg = e.seg as Segment;
      if (e.endOffset > seg.durableSize) seg.durableSize = e.endOffset;
      this.durableId = e.id + e.events;
      if (e.positions !== null) {
        for (const p of e.positions) {
          if (p.value === null) this.durablePositions.delete(p.key);
          else this.durablePositions.set(p.key, p.value);
        }
      }
      this.m.appendedRecords++;
      this.m.appendedEvents += e.events;
      this.m.appendedBytes += e.payload.length;
      const resolve = e.resolve;
      e.resolve = null;
      e.reject = null;
      resolve?.({ id: asRecordId(e.id), nextId: asRecordId(e.id + e.events) });
    }
    this.o.onCommit(list);
    this.readers.wakeAll();
  }

  private rejectPending(err: Error): void {
    for (let e = this.pending.shift(); e !== undefined; e = this.pending.shift()) e.reject?.(err);
  }

  private fail(err: Error): void {
    const first = this.failed === null;
    if (first) this.failed = err;
    if (this.inflight !== null) {
      for (const e of this.inflight.entries) e.reject?.(err);
      this.inflight = null;
    }
    for (const e of this.unsynced) e.reject?.(err);
    this.unsynced = [];
    this.rejectPending(err);
    this.closing = true;
    this.readers.wakeAll();
    if (first) this.o.emit({ type: 'queue.failed', error: err });
  }
}

const isParts = (p: Uint8Array | readonly Uint8Array[]): p is readonly Uint8Array[] => Array.isArray(p);
