/**
 * The read side: one `Reader` (a position in the log) per consumer, and the read cache they share.
 *
 * Records reach a reader in one of two ways: from the cache, which the writer fills as appends
 * resolve (`commit`), or from the segment files, scanned below each segment's `durableSize`. The
 * read side knows the writer only through `LogView` (./log-view.ts).
 *
 * The cache serves records no consumer has been given yet: an entry every consumer has read past
 * goes at once (its payload lives on only in the hands of the consumers still holding it; a rewind
 * reads it back from the segment). What is left, the backlog of unread records, is bounded by
 * `cacheBytes` (oldest out first; the newest stays even when it alone is larger, unless the cache
 * is off): a consumer further behind reads the segment files.
 *
 * A record whose payload lives in the queue's reused memory (./arena.ts) gives that memory back
 * once the cache has dropped it and every consumer acknowledged it (`release`) — at once when it
 * is dropped unread, before the cache handed it to anyone (a consumer further behind than the cache
 * reads it back from the segment, into other memory). Records dropped and still waiting for acks
 * are bounded (`RETIRED_MAX_BYTES`): beyond it the oldest are forgotten
 * without a release (their memory is left to the garbage collector, never reused).
 */
import type { FileHandle, FileSystem } from '../core/ports';
import { asRecordId, type QueueMetrics, type QueueRecord } from './types';
import { FRAME_HEADER, scanFrames, type ReadChunk, type ScanEnd } from './format';
import type { CommittedRecord, LogView } from './log-view';
import type { Chunk, RecordArena } from './arena';
import { closeReadHandle, readHandle, type ReadPos, type Segment } from './segment';
import { Fifo, ioError } from './util';

const MiB = 1024 * 1024;
/** Buffers that disk reads read into, tracked for reuse (beyond this, the oldest is left to the GC). */
const READ_BUFFERS_KEPT = 4;
/** Payload bytes of records dropped from the cache and waiting for every consumer's ack, at most. */
const RETIRED_MAX_BYTES = 16 * MiB;
/** Bytes read per syscall when reading from disk (at least). */
export const READ_CHUNK = 1 * MiB;

/** A buffer disk reads read into; `busy` while a scan reads into it or parses it. */
interface ReadBuffer {
  readonly buf: Buffer;
  /** The arena chunk it is (given back once no one can read from it), or null: memory of its own. */
  readonly chunk: Chunk | null;
  until: number;
  busy: boolean;
}

/** One consumer's position in the log. */
export class Reader {
  /** Next id to hand out (everything below was given). */
  given: number;
  pos: ReadPos;
  /** The tail of the last chunk read from disk, when a read stopped inside it. */
  chunk: { readonly seg: Segment; readonly data: ReadChunk } | null = null;

  constructor(start: number, pos: ReadPos) {
    this.given = start;
    this.pos = pos;
  }
}

export class ReadSide {
  private readonly cache = new Fifo<CommittedRecord>();
  private cacheBytes = 0;
  private readonly readers = new Set<Reader>();
  /** Dropped from the cache, in id order, their reused memory not yet released. */
  private readonly retired = new Fifo<CommittedRecord>();
  private retiredBytes = 0;
  /** Every record the cache handed to a consumer lies below this id (it only grows, rewinds included). */
  private cacheGivenEnd = Number.NEGATIVE_INFINITY;
  /**
   * Buffers disk reads read into, each with the id after the last record handed out of it: one is
   * read into again, or given back to the arena when it is a chunk of it, once every consumer
   * acknowledged past that id and no reader continues in it.
   */
  private readonly readBuffers: ReadBuffer[] = [];

  constructor(
    private readonly view: LogView,
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly cacheLimit: number,
    private readonly m: QueueMetrics,
    private readonly arena: RecordArena | null = null,
    /** Every record below this id was acknowledged by every consumer. */
    private readonly ackFloor: () => number = () => Number.NEGATIVE_INFINITY,
  ) {}

  /**
   * Gives back the reused memory of dropped records every consumer has acknowledged, and the
   * arena chunks disk reads no one can read from any more (after an ack moved).
   */
  release(): void {
    if (this.arena === null) return;
    const floor = this.ackFloor();
    for (let e = this.retired.peek(); e !== undefined && e.id + e.events <= floor; e = this.retired.peek()) {
      this.retired.shift();
      this.retiredBytes -= e.payload.length;
      if (e.chunk !== null) this.arena.release(e.chunk);
    }
    for (let i = 0; i < this.readBuffers.length; i++) {
      const b = this.readBuffers[i] as ReadBuffer;
      if (b.chunk === null || !this.reusable(b, floor)) continue;
      this.readBuffers.splice(i--, 1);
      this.arena.release(b.chunk);
    }
  }

  /** Whether no one can still read from `b`: not being read into, every record handed out of it acked, no reader continuing in it. */
  private reusable(b: ReadBuffer, floor: number): boolean {
    return !b.busy && b.until <= floor && !this.carried(b.buf);
  }

  /**
   * Memory for one disk read of `size` bytes (busy until `idle`): a buffer no one can still read
   * from, or a new one.
   */
  private readBuffer(size: number): ReadBuffer {
    const floor = this.ackFloor();
    for (let i = 0; i < this.readBuffers.length; i++) {
      const b = this.readBuffers[i] as ReadBuffer;
      if (b.buf.length < size || !this.reusable(b, floor)) continue;
      this.readBuffers.splice(i, 1);
      b.until = Number.NEGATIVE_INFINITY;
      b.busy = true;
      this.readBuffers.push(b);
      return b;
    }
    const chunk = this.arena !== null && size <= this.arena.chunkBytes ? this.arena.takeChunk() : null;
    const buf = chunk?.buf ?? Buffer.allocUnsafeSlow(Math.ceil(size / MiB) * MiB);
    const b: ReadBuffer = { buf, chunk, until: Number.NEGATIVE_INFINITY, busy: true };
    this.readBuffers.push(b);
    if (this.readBuffers.length > READ_BUFFERS_KEPT) this.readBuffers.shift(); // forgotten: never reused
    return b;
  }

  /** Whether a reader will continue reading frames out of `buf` (its chunk carried to the next read). */
  private carried(buf: Buffer): boolean {
    for (const r of this.readers) if (r.chunk !== null && r.chunk.data.buf.buffer === buf.buffer) return true;
    return false;
  }

  /** A record read from disk was handed out of `payload`'s buffer: that buffer waits for its ack. */
  private handedOut(payload: Buffer, until: number): void {
    for (const b of this.readBuffers) {
      if (b.buf.buffer === payload.buffer) {
        if (until > b.until) b.until = until;
        return;
      }
    }
  }

  /** A record left the cache: its reused memory goes back now, or once every consumer acked it. */
  private retire(e: CommittedRecord): void {
    if (e.chunk === null || this.arena === null) return;
    // Never handed out of the cache, so no consumer holds its memory: a source far ahead of a slow
    // sink cycles through a few chunks instead of leaving the cache's whole overflow to the GC.
    if (e.id >= this.cacheGivenEnd || (this.retired.length === 0 && e.id + e.events <= this.ackFloor())) {
      this.arena.release(e.chunk);
      return;
    }
    this.retired.push(e);
    this.retiredBytes += e.payload.length;
    while (this.retiredBytes > RETIRED_MAX_BYTES) {
      // A slow consumer: forget the oldest (never released, so never reused: garbage collected).
      const old = this.retired.shift();
      if (old === undefined) break;
      this.retiredBytes -= old.payload.length;
    }
  }

  /** A reader starting at `start`. */
  add(start: number): Reader {
    const r = new Reader(start, this.view.segments.locate(start));
    this.readers.add(r);
    return r;
  }

  /** Records whose appends resolved, in id order (from the writer). */
  commit(records: readonly CommittedRecord[]): void {
    for (const e of records) {
      this.cache.push(e);
      this.cacheBytes += e.frameLen;
    }
    this.trimCache();
  }

  /** Moves `r` to the first record with id >= `id` (a rewind). */
  seek(r: Reader, id: number): void {
    r.given = id;
    this.setPos(r, this.view.segments.locate(id));
  }

  /** Closes every segment's read handle (on close). */
  async closeHandles(): Promise<void> {
    for (const s of this.view.segments) await closeReadHandle(s);
  }

  /** The next records for `r` from the cache, or null if the cache does not start at or below `r.given`. */
  fromCache(r: Reader, maxRecords: number, maxBytes: number): QueueRecord[] | null {
    const first = this.cache.peek();
    if (first === undefined || first.id > r.given) return null;
    // Binary search the first entry with id >= given.
    let lo = 0;
    let hi = this.cache.length - 1;
    let start = this.cache.length;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.cache.at(mid) as CommittedRecord).id >= r.given) {
        start = mid;
        hi = mid - 1;
      } else lo = mid + 1;
    }
    const out: QueueRecord[] = [];
    let bytes = 0;
    for (let i = start; i < this.cache.length && out.length < maxRecords; i++) {
      const e = this.cache.at(i) as CommittedRecord;
      if (out.length > 0 && bytes + e.payload.length > maxBytes) break;
      out.push({ id: asRecordId(e.id), events: e.events, payload: e.payload });
      bytes += e.payload.length;
      r.given = e.id + e.events;
      this.setPos(r, { seg: e.seg, offset: e.endOffset, expect: r.given });
    }
    if (r.given > this.cacheGivenEnd) this.cacheGivenEnd = r.given;
    this.trimCache();
    return out;
  }

  /** The next records for `r` from the segment files (may be empty: nothing readable below the durable end). */
  async fromDisk(r: Reader, maxRecords: number, maxBytes: number): Promise<QueueRecord[]> {
    const segments = this.view.segments;
    const out: QueueRecord[] = [];
    let bytes = 0;
    for (;;) {
      let seg = r.pos.seg;
      if (seg === null) {
        r.pos = segments.locate(r.given);
        seg = r.pos.seg;
        if (seg === null) return out;
      }
      if (seg.deleted) {
        const next = segments.after(seg);
        if (next === null) return out;
        this.setPos(r, { seg: next, offset: 0, expect: next.firstId });
        continue;
      }
      const limit = seg.durableSize;
      if (r.pos.offset >= limit) {
        if (seg.sealed && seg.durableSize >= seg.size) {
          const next = segments.after(seg);
          if (next === null) return out;
          this.setPos(r, { seg: next, offset: 0, expect: next.firstId });
          continue;
        }
        return out;
      }
      if (out.length >= maxRecords || (out.length > 0 && bytes >= maxBytes)) return out;
      let fh: FileHandle;
      try {
        fh = await readHandle(this.fs, seg);
      } catch (e) {
        if (seg.deleted) continue;
        throw ioError(`queue ${this.dir}: cannot open ${seg.path} for reading`, e);
      }
      // One read fills at most an arena chunk, so reads borrow the pool's chunks (a larger frame
      // still gets memory of its own).
      const chunk = Math.min(Math.max(READ_CHUNK, maxBytes - bytes + FRAME_HEADER), this.arena?.chunkBytes ?? 16 * READ_CHUNK);
      const thisSeg = seg;
      let stopped = false;
      const carry = r.chunk !== null && r.chunk.seg === seg ? r.chunk.data : null;
      const used: ReadBuffer[] = [];
      const scan = scanFrames(fh, r.pos.offset, limit, r.pos.expect, chunk, (ev) => {
        switch (ev.type) {
          case 'bad':
            if (!thisSeg.knownBad.has(ev.from)) {
              thisSeg.knownBad.add(ev.from);
              this.m.corruptRecordsSkipped++;
            }
            return 'continue';
          case 'frame': {
            const f = ev.frame;
            if (f.kind !== 'data' || f.id < r.given) return 'continue';
            if (out.length > 0 && bytes + f.payload.length > maxBytes) {
              stopped = true;
              return 'stop-before';
            }
            out.push({ id: asRecordId(f.id), events: f.events, payload: f.payload });
            this.handedOut(f.payload, f.id + f.events);
            bytes += f.payload.length;
            r.given = f.id + f.events;
            if (out.length < maxRecords && bytes < maxBytes) return 'continue';
            stopped = true;
            return 'stop';
          }
        }
      }, carry, (size) => {
        const b = this.readBuffer(size);
        used.push(b);
        return b.buf.subarray(0, size);
      });
      let end: ScanEnd;
      try {
        end = await scan;
      } catch (e) {
        // Deleted under us (every consumer, this one included, had passed it): go on with the next.
        if (seg.deleted) continue;
        throw ioError(`queue ${this.dir}: cannot read ${seg.path}`, e);
      } finally {
        // The scan is over: what it handed out waits for acks (`until`), what it carries for the
        // next read is protected by `carried`.
        for (const b of used) b.busy = false;
      }
      r.pos = { seg, offset: end.end, expect: end.nextId };
      // Keep the chunk only if the next read can start inside it.
      r.chunk = stopped && end.end < end.chunk.start + end.chunk.buf.length ? { seg, data: end.chunk } : null;
      if (stopped) return out;
    }
  }

  /** Drops what every reader has been given, then the oldest unread beyond `cacheBytes`. */
  private trimCache(): void {
    let minGiven = Number.POSITIVE_INFINITY;
    for (const r of this.readers) if (r.given < minGiven) minGiven = r.given;
    const keep = this.cacheLimit > 0 ? 1 : 0;
    for (let e = this.cache.peek(); e !== undefined; e = this.cache.peek()) {
      const read = e.id + e.events <= minGiven;
      if (!read && (this.cacheBytes <= this.cacheLimit || this.cache.length <= keep)) break;
      this.cache.shift();
      this.cacheBytes -= e.frameLen;
      this.retire(e);
    }
  }

  /**
   * Moves a reader's disk position; a segment no reader is positioned in any more gets its read
   * handle closed (reopened on demand), so open files stay about one per consumer.
   */
  private setPos(r: Reader, pos: ReadPos): void {
    const old = r.pos.seg;
    r.pos = pos;
    if (old === null || old === pos.seg || old.readFh === null) return;
    for (const other of this.readers) if (other.pos.seg === old) return;
    // Deliberately not awaited: closing a read handle holds up no reader, and its failure is moot.
    void closeReadHandle(old);
  }
}
