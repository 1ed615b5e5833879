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
 */
import type { FileHandle, FileSystem } from '../core/ports';
import { asRecordId, type QueueMetrics, type QueueRecord } from './types';
import { FRAME_HEADER, scanFrames, type ReadChunk, type ScanEnd } from './format';
import type { CommittedRecord, LogView } from './log-view';
import { closeReadHandle, readHandle, type ReadPos, type Segment } from './segment';
import { Fifo, ioError } from './util';

const MiB = 1024 * 1024;
/** Bytes read per syscall when reading from disk (at least). */
export const READ_CHUNK = 1 * MiB;

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

  constructor(
    private readonly view: LogView,
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly cacheLimit: number,
    private readonly m: QueueMetrics,
  ) {}

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
      const chunk = Math.min(Math.max(READ_CHUNK, maxBytes - bytes + FRAME_HEADER), 16 * READ_CHUNK);
      const thisSeg = seg;
      let stopped = false;
      const carry = r.chunk !== null && r.chunk.seg === seg ? r.chunk.data : null;
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
            bytes += f.payload.length;
            r.given = f.id + f.events;
            if (out.length < maxRecords && bytes < maxBytes) return 'continue';
            stopped = true;
            return 'stop';
          }
        }
      }, carry);
      let end: ScanEnd;
      try {
        end = await scan;
      } catch (e) {
        // Deleted under us (every consumer, this one included, had passed it): go on with the next.
        if (seg.deleted) continue;
        throw ioError(`queue ${this.dir}: cannot read ${seg.path}`, e);
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
