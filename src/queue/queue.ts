/**
 * The write-ahead queue: an append-only log of segment files with group commit, per-consumer
 * cursors, bounded size and crash recovery. All I/O goes through `FileSystem`, all time through
 * `Clock` (./ports.ts), so the same code runs on the real disk and on the simulated one.
 *
 * ## Directory
 *
 * | name                          | what                                                            |
 * | ----------------------------- | --------------------------------------------------------------- |
 * | `lock`                        | pid of the process holding the queue, created exclusively       |
 * | `seg-<first id, 20 digits>.log` | a segment: frames back to back; the name is its first record id |
 * | `cursor.<consumer>`           | a consumer's persisted cursor (consumer name URI-encoded)       |
 * | `tmp.cursor.<consumer>`       | a cursor being written; renamed over `cursor.<consumer>`        |
 *
 * ## Frame (all integers little-endian)
 *
 * | offset | size | field                                                                   |
 * | -----: | ---: | ----------------------------------------------------------------------- |
 * |      0 |    4 | magic `F1 53 4C 51` (`\xF1SLQ`), the resync anchor                       |
 * |      4 |    4 | CRC32 (zlib) of bytes 8 .. end of frame (header tail, payload, meta)     |
 * |      8 |    4 | frame length in bytes, header included                                  |
 * |     12 |    1 | kind: 1 = data (a batch), 2 = positions snapshot                         |
 * |     13 |    1 | format version (1)                                                      |
 * |     14 |    2 | reserved (0)                                                            |
 * |     16 |    8 | record id (u64, < 2^53): id of the first event; a snapshot: the next id |
 * |     24 |    4 | events in the batch (>= 1 for data, 0 for a snapshot)                   |
 * |     28 |    4 | meta length: size of the positions block at the end of the frame (0: none) |
 * |     32 |    n | payload (frame length - 32 - meta length bytes)                          |
 * |  32+n |    m | positions block: u32 count, then per entry u16 key length, key (UTF-8), |
 * |        |      | u32 value length (0xFFFFFFFF = null: forget the key), value             |
 *
 * Cursor file (24 bytes): magic `F1 53 4C 43`, CRC32 of bytes 8..24, u64 id (every record below it
 * is acknowledged), u32 version (1), u32 reserved.
 *
 * ## Invariants
 *
 * 1. Record ids strictly increase through the log: a record's id is the previous record's
 *    `id + events`; ids are assigned when `append` is called, so log order is call order. After a
 *    restart the next id is the end of the last valid record (or the highest cursor, if larger).
 *    So no id a reader was ever given is given again (a torn tail's ids are: no reader saw them;
 *    `never` mode after a power loss is the exception, see docs/queue.md).
 * 2. A record never spans two segments; a segment rolls before the record that would take it past
 *    `segmentBytes` (unless it is the segment's first data record: then only the snapshot in front
 *    of it can push the file past `segmentBytes`). An append whose frame alone is larger than
 *    `segmentBytes` is refused with `SLUICE_QUEUE_RECORD_TOO_LARGE`.
 * 3. Every segment created by a roll starts with a snapshot frame holding every durable position
 *    (the old segment is fdatasync'ed first, then the new file is written, fdatasync'ed and its
 *    directory synced before any record in it is acknowledged). On open a snapshot is appended to
 *    the last segment. So the positions survive the deletion of every older segment.
 * 4. An append resolves only when its frame is durable under the policy (`always`: after the
 *    fdatasync covering it; `interval`: same, fdatasyncs at most every `intervalMs`; `never`: after
 *    the write returned). Readers see a record only after its append resolved.
 * 5. A segment is deleted only when it is not the last one, every consumer's persisted cursor is at
 *    or past its end id, and the next segment's snapshot is durable. (Persisted, not merely acked:
 *    after a crash every record at or after each cursor file's id is still on disk.) While appends
 *    wait for space the writer persists cursors at once instead of waiting for the timer.
 * 6. Appends are written in call order; when `maxBytes` would be exceeded the writer waits (it never
 *    drops). Bytes on disk may exceed `maxBytes` by at most one positions snapshot.
 *
 * ## Recovery decision table (what `openQueue` does with each kind of damage; never fatal)
 *
 * | found on open                                             | action                                                   | reported as |
 * | --------------------------------------------------------- | -------------------------------------------------------- | ----------- |
 * | `lock` with another live process's pid, or the directory open in this process | refuse to open              | `QueueLockedError` (`SLUICE_QUEUE_LOCKED`) |
 * | `lock` with a dead pid, our own pid (left by a close that could not remove it), or empty/unreadable | take it over | note |
 * | last segment ends in a partial frame, garbage or zeros     | truncate at the start of the damage, fdatasync           | `truncatedBytes`, note |
 * | a frame with bad CRC/framing followed by valid frames      | skip it; resync at the next magic that starts a valid frame; events lost = next id - expected id | `corruptRecords`, `lostEvents`, note |
 * | damage at the end of a segment that is not the last       | leave it (readers skip it); lost = next segment's first id - expected id | `corruptRecords`, `lostEvents`, note |
 * | ids missing between two segments (a segment file gone)    | carry on with the next segment                           | `lostEvents`, note |
 * | empty (0-byte) segment                                     | keep it (the last one is appended to; an older one is deleted once passed) | note |
 * | frame id below the expected id (stale bytes)              | treated as damage (as above)                             | as above |
 * | `tmp.*` file                                               | delete it (an unfinished cursor write; the old cursor stands) | `unknownFiles`, note |
 * | any other unknown file or directory                       | leave it alone                                           | `unknownFiles`, note |
 * | cursor file of a configured consumer missing              | start at the oldest retained record (duplicates, never loss) | `cursorsReset` (only if the queue held segments), note |
 * | cursor file damaged (size, magic, CRC)                    | start at the oldest retained record                      | `cursorsReset`, note |
 * | cursor file unreadable (EIO, EACCES: an I/O error, not damage) | refuse to open; retrying may succeed                   | `QueueIoError` (`SLUICE_QUEUE_IO`) |
 * | cursor beyond the end of the log (log tail lost)          | new ids start at the cursor (ids are never reused)       | note |
 * | cursor file of a consumer not configured                  | leave it alone                                           | note |
 * | no segment at all                                         | create the first one                                     | — |
 *
 * `lostEvents` counts only ids at or above the lowest cursor of the configured consumers: events
 * below every cursor were delivered already, so their absence (an old segment file that came back
 * or went missing) is not a loss.
 */
import { join, resolve } from 'node:path';
import type { Clock, FileHandle, FileSystem, FsError, Timer } from '../core/ports';
import {
  asRecordId,
  type AppendOptions,
  type AppendResult,
  type Consumer,
  type FsyncPolicy,
  type Queue,
  type QueueMetrics,
  type QueueOptions,
  type QueueRecord,
  type RecordId,
  type RecoveryReport,
  type SourcePosition,
} from './types';
import { QueueClosedError, QueueIoError, QueueLockedError, QueueUsageError, RecordTooLargeError } from './errors';
import {
  CURSOR_PREFIX,
  FRAME_HEADER,
  FRAME_MAX,
  LOCK_FILE,
  TEMP_PREFIX,
  applyPositions,
  cursorName,
  cursorTempName,
  decodeCursor,
  encodeCursor,
  encodeFrame,
  encodePositions,
  parseSegmentName,
  scanFrames,
  type ReadChunk,
  type ScanEnd,
  segmentName,
  snapshotPositions,
  writeFrameHeader,
} from './format';


const MiB = 1024 * 1024;
const DEFAULT_SEGMENT_BYTES = 64 * MiB;
const DEFAULT_MAX_BYTES = 1024 * MiB;
const DEFAULT_CURSOR_FLUSH_MS = 1000;
/** Bytes read per syscall when scanning or reading from disk. */
const READ_CHUNK = 1 * MiB;
/** A sparse (id, offset) index entry every this many bytes of a segment, for rewinds and cursors. */
const INDEX_EVERY = 1 * MiB;
/** Upper bound on one commit's write (the rest goes in the next commit). */
const MAX_COMMIT_BYTES = 32 * MiB;
/**
 * Default bound on committed records kept in memory that some consumer has not read yet (capped at
 * a quarter of `maxBytes`; see `trimCache`). A consumer further behind reads the segment files back
 * (from the page cache, as a rule). Measured in the agent's pipeline benchmark: 4 MiB made the sink
 * fall back to disk reads often (each a fresh chunk buffer), 8–32 MiB did not; records already read
 * by every consumer are not kept at all (see docs/queue.md, "Memory").
 */
const DEFAULT_CACHE_BYTES = 8 * MiB;
const DEFAULT_READ_RECORDS = 1024;
const DEFAULT_READ_BYTES = 4 * MiB;

// ---- small helpers --------------------------------------------------------------------------

/** A FIFO over an array with a moving head: O(1) push/shift, indexable, no per-op allocation. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(x: T): void {
    this.items.push(x);
  }
  peek(): T | undefined {
    return this.items[this.head];
  }
  at(i: number): T | undefined {
    return this.items[this.head + i];
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

/** Directories whose lock this process holds through an open queue, per file system. */
const held = new WeakMap<FileSystem, Set<string>>();
function heldLocks(fs: FileSystem): Set<string> {
  let set = held.get(fs);
  if (set === undefined) {
    set = new Set();
    held.set(fs, set);
  }
  return set;
}

const isCode = (e: unknown, code: string): boolean =>
  typeof e === 'object' && e !== null && (e as Partial<FsError>).code === code;

const ioError = (what: string, cause: unknown): QueueIoError => {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new QueueIoError(`${what}: ${detail}`, { cause });
};

// ---- state ----------------------------------------------------------------------------------

interface Segment {
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

/** One append: waits in `pending`, then `unsynced`, then lives on as a cache entry. */
interface Entry {
  readonly id: number;
  readonly events: number;
  readonly payload: Buffer;
  readonly meta: Buffer | null;
  readonly positions: readonly SourcePosition[] | null;
  readonly frameLen: number;
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

interface Outstanding {
  readonly id: number;
  readonly nextId: number;
  acked: boolean;
}

interface ReadPos {
  seg: Segment | null;
  offset: number;
  expect: number;
}

// ---- consumer -------------------------------------------------------------------------------

class QueueConsumer implements Consumer {
  /** Next id to hand out (everything below was given). */
  given: number;
  acked: number;
  persisted: number;
  /** Whether a valid cursor file exists (read on open or written since). */
  hasFile: boolean;
  private handedMax: number;
  /** Records handed out and not yet folded into `acked`, in id order. */
  private readonly outstanding = new Fifo<Outstanding>();
  /** Bumped by rewind(): a read that was in flight across it is discarded and redone. */
  private epoch = 0;
  pos: ReadPos;
  /** The tail of the last chunk read from disk, when a read stopped inside it. */
  chunk: { readonly seg: Segment; readonly data: ReadChunk } | null = null;
  private readChain: Promise<unknown> = Promise.resolve();
  private flushChain: Promise<void> = Promise.resolve();

  constructor(
    private readonly q: WriteAheadQueue,
    readonly name: string,
    start: number,
    hasFile: boolean,
  ) {
    this.hasFile = hasFile;
    this.given = start;
    this.acked = start;
    this.persisted = start;
    this.handedMax = start;
    this.pos = q.locate(start);
  }

  get ackedUpTo(): RecordId {
    return asRecordId(this.acked);
  }

  read(opts?: { maxRecords?: number; maxBytes?: number; signal?: AbortSignal }): Promise<QueueRecord[]> {
    const run = this.readChain.then(() => this.readNow(opts));
    this.readChain = run.catch(() => undefined);
    return run;
  }

  private async readNow(opts?: { maxRecords?: number; maxBytes?: number; signal?: AbortSignal }): Promise<QueueRecord[]> {
    const maxRecords = Math.max(1, opts?.maxRecords ?? DEFAULT_READ_RECORDS);
    const maxBytes = Math.max(1, opts?.maxBytes ?? DEFAULT_READ_BYTES);
    const signal = opts?.signal;
    for (;;) {
      // A failed queue rejects every read with the failure: resolving [] (as after close) would let a
      // consumer that reads again at once spin without end (a sink loop starving the event loop).
      const failure = this.q.failed();
      if (failure !== null) throw failure;
      if (this.q.isClosed() || signal?.aborted === true) return [];
      if (this.given < this.q.durableId) {
        const epoch = this.epoch;
        const out = this.q.readFromCache(this, maxRecords, maxBytes) ?? (await this.q.readFromDisk(this, maxRecords, maxBytes));
        if (epoch !== this.epoch) {
          // rewind() ran while this read was on disk: forget what it found and start over.
          this.given = this.acked;
          this.q.setPos(this, this.q.locate(this.acked));
          continue;
        }
        if (out.length > 0) {
          for (const r of out) this.outstanding.push({ id: r.id, nextId: r.id + r.events, acked: false });
          if (this.given > this.handedMax) this.handedMax = this.given;
          return out;
        }
        // Nothing readable below the durable end (ids lost to damage, or a cursor inside a gap).
        this.given = this.q.durableId;
        if (this.given > this.handedMax) this.handedMax = this.given;
        if (this.outstanding.length === 0 && this.acked < this.given) {
          this.acked = this.given;
          this.q.onAcked();
        }
        continue;
      }
      await this.q.waitForData(signal);
    }
  }

  ack(id: RecordId): void {
    const n = id as number;
    if (n < this.acked) return;
    if (n >= this.handedMax) {
      throw new QueueUsageError(`consumer ${this.name}: ack(${n}) for a record that was never read (read up to ${this.handedMax})`);
    }
    // Binary search: outstanding is in id order.
    let lo = 0;
    let hi = this.outstanding.length - 1;
    let o: Outstanding | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const x = this.outstanding.at(mid) as Outstanding;
      if (x.id === n) {
        o = x;
        break;
      }
      if (x.id < n) lo = mid + 1;
      else hi = mid - 1;
    }
    if (o === undefined || o.acked) return; // acked twice, or rewound: the record will be read again
    o.acked = true;
    this.q.countAck(o.nextId - o.id);
    let moved = false;
    for (let h = this.outstanding.peek(); h !== undefined && h.acked; h = this.outstanding.peek()) {
      this.acked = h.nextId;
      this.outstanding.shift();
      moved = true;
    }
    if (moved) this.q.onAcked();
  }

  rewind(): void {
    this.epoch++;
    this.outstanding.clear();
    this.given = this.acked;
    this.q.setPos(this, this.q.locate(this.acked));
  }

  flushCursor(): Promise<void> {
    const run = this.flushChain.then(() => this.q.persistCursor(this));
    this.flushChain = run.catch(() => undefined);
    return run;
  }
}

// ---- the queue ------------------------------------------------------------------------------

class WriteAheadQueue implements Queue {
  recovery!: RecoveryReport;
  private readonly dir: string;
  private readonly fs: FileSystem;
  private readonly clock: Clock;
  private readonly policy: FsyncPolicy;
  private readonly segmentBytes: number;
  private readonly maxBytes: number;
  private readonly cursorFlushMs: number;
  private readonly cacheLimit: number;

  segments: Segment[] = [];
  private active!: Segment;
  private activeFh!: FileHandle;
  private readonly consumers = new Map<string, QueueConsumer>();

  /** Next id to assign to an append. */
  private nextId = 0;
  /** The id after the last record whose append resolved. */
  durableId = 0;
  private readonly writtenPositions = new Map<string, Uint8Array>();
  private readonly durablePositions = new Map<string, Uint8Array>();

  private readonly pending = new Fifo<Entry>();
  private unsynced: Entry[] = [];
  /** The fdatasync in flight (`always`), with the appends it covers. */
  private inflight: InflightSync | null = null;
  private readonly cache = new Fifo<Entry>();
  private cacheBytes = 0;

  private hdrArena = Buffer.allocUnsafe(FRAME_HEADER * 256);
  /** Size of the last positions snapshot written (for the "can never fit" check). */
  private snapshotLen = FRAME_HEADER;
  private lastSyncAt = 0;
  private writerWake: (() => void) | null = null;
  private writerTimer: Timer | null = null;
  private writerDone: Promise<void> = Promise.resolve();
  private readers = new Set<() => void>();
  private closing = false;
  private closed = false;
  private failure: Error | null = null;
  private deleting = false;
  private deleteAgain = false;
  private cursorTimer: Timer | null = null;
  private fullSince = 0;

  private readonly m: Omit<QueueMetrics, 'headId'> = {
    appendedRecords: 0,
    appendedEvents: 0,
    appendedBytes: 0,
    ackedRecords: 0,
    ackedEvents: 0,
    deletedSegments: 0,
    deletedBytes: 0,
    fsyncs: 0,
    fsyncSecondsTotal: 0,
    corruptRecordsSkipped: 0,
    bytesOnDisk: 0,
    full: false,
    fullMsTotal: 0,
  };

  constructor(opts: QueueOptions, fs: FileSystem, clock: Clock) {
    this.dir = opts.dir;
    this.fs = fs;
    this.clock = clock;
    this.policy = opts.fsync ?? { mode: 'always' };
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.cursorFlushMs = opts.cursorFlushMs ?? DEFAULT_CURSOR_FLUSH_MS;
    this.cacheLimit = opts.cacheBytes ?? Math.min(DEFAULT_CACHE_BYTES, Math.floor(this.maxBytes / 4));
    const bad = (what: string): never => {
      throw new QueueUsageError(`queue ${opts.dir}: ${what}`);
    };
    if (!Number.isSafeInteger(this.segmentBytes) || this.segmentBytes < 4096) bad('segmentBytes must be an integer >= 4096');
    if (this.segmentBytes > FRAME_MAX) bad(`segmentBytes must be <= ${FRAME_MAX}`);
    if (!Number.isSafeInteger(this.maxBytes)) bad('maxBytes must be an integer');
    // Space is freed a whole segment at a time (a segment goes once every consumer has passed its
    // end, and the active one only after a roll), so the bound must hold at least two segments:
    // with one segment as large as maxBytes the writer can wait for space nothing will free.
    if (this.segmentBytes > this.maxBytes / 2) {
      bad(`segmentBytes (${this.segmentBytes}) must be at most half of maxBytes (${this.maxBytes}): space is freed a whole segment at a time, so a larger segment can leave appends waiting for ever; lower segmentBytes or raise maxBytes`);
    }
    if (!Number.isSafeInteger(this.cacheLimit) || this.cacheLimit < 0) bad('cacheBytes must be an integer >= 0');
    if (!(this.cursorFlushMs > 0)) bad('cursorFlushMs must be > 0');
    switch (this.policy.mode) {
      case 'always':
      case 'never':
        break;
      case 'interval':
        if (!(this.policy.intervalMs > 0)) bad('fsync.intervalMs must be > 0');
        break;
    }
    const seen = new Set<string>();
    for (const c of opts.consumers) {
      if (c.length === 0) bad('consumer names must not be empty');
      if (seen.has(c)) bad(`consumer ${c} is listed twice`);
      seen.add(c);
    }
  }

  // ---- open / recovery ----

  async open(consumerNames: readonly string[]): Promise<void> {
    const fs = this.fs;
    const dir = this.dir;
    try {
      await fs.mkdirp(dir);
    } catch (e) {
      throw ioError(`queue ${dir}: cannot create the directory`, e);
    }
    await this.acquireLock();
    try {
      await this.recover(consumerNames);
    } catch (e) {
      await this.releaseLock().catch(() => undefined);
      throw e instanceof QueueIoError ? e : ioError(`queue ${dir}: recovery failed`, e);
    }
    this.lastSyncAt = this.clock.now();
    this.writerDone = this.writerLoop();
    this.armCursorTimer();
    await this.deleteEligible();
  }

  private async acquireLock(): Promise<void> {
    const path = join(this.dir, LOCK_FILE);
    // Reserve the directory in this process first (atomic: no await in between), so two opens in
    // one process cannot both take the file over; a lock file with our own pid is then stale.
    const mine = heldLocks(this.fs);
    const key = resolve(this.dir);
    if (mine.has(key)) throw new QueueLockedError(this.dir, this.fs.pid);
    mine.add(key);
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const fh = await this.fs.open(path, 'exclusive');
          try {
            await fh.writev([Buffer.from(`${this.fs.pid}\n`)]);
            await fh.datasync();
          } finally {
            await fh.close();
          }
          await this.fs.syncDir(this.dir);
          return;
        } catch (e) {
          if (!isCode(e, 'EEXIST')) throw ioError(`queue ${this.dir}: cannot create ${path}`, e);
          const pid = await this.readLockPid(path);
          // Our own pid: left by a close of ours that could not remove it (we hold the reservation).
          if (pid !== null && pid !== this.fs.pid && this.fs.processAlive(pid)) throw new QueueLockedError(this.dir, pid);
          if (attempt >= 2) throw new QueueLockedError(this.dir, pid ?? -1);
          try {
            await this.fs.unlink(path);
          } catch (u) {
            if (!isCode(u, 'ENOENT')) throw ioError(`queue ${this.dir}: cannot remove stale ${path}`, u);
          }
          this.lockNote = `took over a stale lock (pid ${pid ?? 'unreadable'})`;
        }
      }
    } catch (e) {
      mine.delete(key);
      throw e;
    }
  }
  private lockNote: string | null = null;

  private async readLockPid(path: string): Promise<number | null> {
    try {
      const fh = await this.fs.open(path, 'read');
      try {
        const b = Buffer.alloc(32);
        const n = await fh.read(b, 0, 32, 0);
        const pid = Number.parseInt(b.toString('utf8', 0, n).trim(), 10);
        return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
      } finally {
        await fh.close();
      }
    } catch {
      return null;
    }
  }

  /** Removes the lock file; rejects (QueueIoError) if it is still there afterwards. */
  private async releaseLock(): Promise<void> {
    heldLocks(this.fs).delete(resolve(this.dir));
    try {
      await this.fs.unlink(join(this.dir, LOCK_FILE));
    } catch (e) {
      if (!isCode(e, 'ENOENT')) throw ioError(`queue ${this.dir}: cannot remove the lock file`, e);
    }
  }

  private async recover(consumerNames: readonly string[]): Promise<void> {
    const fs = this.fs;
    const dir = this.dir;
    const notes: string[] = [];
    if (this.lockNote !== null) notes.push(this.lockNote);
    const unknownFiles: string[] = [];
    const cursorsReset: string[] = [];
    let truncatedBytes = 0;
    let corruptRecords = 0;
    let lostEvents = 0;
    let records = 0;

    const names = await fs.readdir(dir);
    const segIds: number[] = [];
    const cursorFiles = new Set<string>();
    let removedTemp = false;
    for (const name of names) {
      if (name === LOCK_FILE) continue;
      const sid = parseSegmentName(name);
      if (sid !== null) {
        segIds.push(sid);
      } else if (name.startsWith(CURSOR_PREFIX)) {
        cursorFiles.add(name);
      } else if (name.startsWith(TEMP_PREFIX)) {
        unknownFiles.push(name);
        try {
          await fs.unlink(join(dir, name));
          removedTemp = true;
          notes.push(`removed leftover temporary file ${name} (an unfinished cursor write)`);
        } catch (e) {
          notes.push(`could not remove temporary file ${name}: ${e instanceof Error ? e.message : String(e)}`);
        }
      } else {
        unknownFiles.push(name);
        notes.push(`unknown file ${name} left alone`);
      }
    }
    if (removedTemp) await fs.syncDir(dir);
    segIds.sort((a, b) => a - b);

    // Cursors first: events lost below every consumer's cursor were delivered already; not counted.
    const oldest = segIds[0] ?? 0;
    const starts = new Map<string, number>();
    const valid = new Set<string>();
    for (const name of consumerNames) {
      const file = cursorName(name);
      cursorFiles.delete(file);
      let id: number | null = null;
      let why = 'missing';
      try {
        const fh = await fs.open(join(dir, file), 'read');
        try {
          const b = Buffer.alloc(64);
          const n = await fh.read(b, 0, 64, 0);
          id = decodeCursor(b.subarray(0, n));
          why = 'damaged';
        } finally {
          await fh.close();
        }
      } catch (e) {
        // Missing: start at the oldest record. Any other error (EIO…) says nothing about the cursor's
        // content: refuse to open rather than silently re-deliver everything (the caller may retry).
        if (!isCode(e, 'ENOENT')) throw ioError(`queue ${dir}: cannot read the cursor file ${file} of consumer ${name}`, e);
      }
      if (id === null) {
        if (segIds.length > 0 || why !== 'missing') {
          cursorsReset.push(name);
          notes.push(`consumer ${name}: cursor file ${why}; starting at the oldest retained record ${oldest}`);
        }
        id = oldest;
      } else {
        valid.add(name);
      }
      starts.set(name, id);
    }
    let floor = Number.POSITIVE_INFINITY;
    for (const id of starts.values()) floor = Math.min(floor, id);
    const lose = (from: number, to: number): void => {
      lostEvents += Math.max(0, to - Math.max(from, floor));
    };

    // Scan every segment in order: count records, find damage, rebuild positions.
    let expected: number | null = null;
    for (let i = 0; i < segIds.length; i++) {
      const firstId = segIds[i] as number;
      const last = i === segIds.length - 1;
      const seg = this.newSegment(firstId);
      seg.sealed = !last;
      seg.snapshotDurable = true;
      if (expected !== null && firstId > expected) {
        lose(expected, firstId);
        notes.push(`ids ${expected}..${firstId - 1} are missing before ${segmentName(firstId)} (damaged segment tail or missing segment file)`);
      }
      if (expected === null || firstId > expected) expected = firstId;
      const fh = await fs.open(seg.path, 'read');
      let size: number;
      let scanEnd;
      try {
        size = (await fh.stat()).size;
        let exp = expected;
        scanEnd = await scanFrames(fh, 0, size, firstId, 4 * READ_CHUNK, (ev) => {
          switch (ev.type) {
            case 'bad':
              corruptRecords++;
              seg.knownBad.add(ev.from);
              notes.push(`${segmentName(firstId)}: skipped ${ev.to - ev.from} damaged bytes at offset ${ev.from}`);
              return 'continue';
            case 'frame': {
              const f = ev.frame;
              if (f.id > exp) {
                lose(exp, f.id);
                if (seg.knownBad.size === 0) notes.push(`${segmentName(firstId)}: ids ${exp}..${f.id - 1} are missing`);
              }
              switch (f.kind) {
                case 'snapshot':
                  this.writtenPositions.clear();
                  if (f.meta !== null && !applyPositions(f.meta, this.writtenPositions)) {
                    notes.push(`${segmentName(firstId)}: unreadable positions snapshot at offset ${f.offset}`);
                  }
                  break;
                case 'data':
                  records++;
                  seg.hasData = true;
                  seg.endId = f.id + f.events;
                  if (f.meta !== null && !applyPositions(f.meta, this.writtenPositions)) {
                    notes.push(`${segmentName(firstId)}: unreadable positions at offset ${f.offset}`);
                  }
                  if (seg.index.length === 0 || f.offset - seg.lastIndexedOffset >= INDEX_EVERY) {
                    seg.index.push(f.id, f.offset);
                    seg.lastIndexedOffset = f.offset;
                  }
                  break;
              }
              exp = f.id + f.events;
              return 'continue';
            }
          }
        });
        expected = Math.max(exp, scanEnd.nextId);
      } finally {
        await fh.close();
      }
      if (size === 0) notes.push(`${segmentName(firstId)} is empty`);
      if (scanEnd.badTailFrom !== null) {
        const from = scanEnd.badTailFrom;
        if (last) {
          const wfh = await fs.open(seg.path, 'append');
          try {
            await wfh.truncate(from);
            await wfh.datasync();
          } finally {
            await wfh.close();
          }
          truncatedBytes += size - from;
          notes.push(`${segmentName(firstId)}: truncated ${size - from} bytes of torn or damaged tail at offset ${from}`);
          size = from;
        } else {
          corruptRecords++;
          seg.knownBad.add(from);
          notes.push(`${segmentName(firstId)}: ${size - from} damaged bytes at the end (offset ${from}) skipped`);
        }
      }
      seg.size = size;
      seg.durableSize = size;
      this.segments.push(seg);
      this.m.bytesOnDisk += size;
    }
    this.nextId = expected ?? 0;

    for (const [name, id] of starts) {
      if (id > this.nextId) {
        notes.push(
          `consumer ${name}: cursor ${id} is beyond the end of the log ${this.nextId} (the log tail was lost); new ids start at ${id}`,
        );
        this.nextId = id;
      }
    }
    for (const f of cursorFiles) notes.push(`cursor file ${f} belongs to no configured consumer; left alone`);

    // The active segment: append a positions snapshot to the last one, or create the first.
    const lastSeg = this.segments[this.segments.length - 1];
    if (lastSeg === undefined || lastSeg.firstId > this.nextId) {
      await this.createSegment(this.nextId);
    } else {
      this.active = lastSeg;
      this.activeFh = await fs.open(lastSeg.path, 'append');
      const snap = encodeFrame('snapshot', this.nextId, 0, Buffer.alloc(0), snapshotPositions(this.writtenPositions));
      await this.activeFh.writev([snap]);
      this.snapshotLen = snap.length;
      await this.timedSync(this.activeFh);
      lastSeg.size += snap.length;
      lastSeg.durableSize = lastSeg.size;
      this.m.bytesOnDisk += snap.length;
    }
    this.durableId = this.nextId;
    for (const [k, v] of this.writtenPositions) this.durablePositions.set(k, v);

    for (const [name, start] of starts) this.consumers.set(name, new QueueConsumer(this, name, start, valid.has(name)));

    this.m.corruptRecordsSkipped = corruptRecords;
    this.recovery = {
      segments: this.segments.length,
      records,
      truncatedBytes,
      corruptRecords,
      lostEvents,
      unknownFiles,
      cursorsReset,
      notes,
    };
  }

  private newSegment(firstId: number): Segment {
    return {
      firstId,
      path: join(this.dir, segmentName(firstId)),
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

  /** Creates a segment starting at `firstId` with a positions snapshot, makes it durable, makes it active. */
  private async createSegment(firstId: number): Promise<void> {
    const seg = this.newSegment(firstId);
    const fh = await this.fs.open(seg.path, 'exclusive');
    const snap = encodeFrame('snapshot', firstId, 0, Buffer.alloc(0), snapshotPositions(this.writtenPositions));
    await fh.writev([snap]);
    this.snapshotLen = snap.length;
    seg.size = snap.length;
    this.m.bytesOnDisk += snap.length;
    switch (this.policy.mode) {
      case 'always':
      case 'interval':
        await this.timedSync(fh);
        await this.fs.syncDir(this.dir);
        break;
      case 'never':
        break;
    }
    seg.durableSize = seg.size;
    seg.snapshotDurable = true;
    this.segments.push(seg);
    this.active = seg;
    this.activeFh = fh;
  }

  private async timedSync(fh: FileHandle): Promise<void> {
    const t0 = this.clock.now();
    await fh.datasync();
    const t1 = this.clock.now();
    this.lastSyncAt = t1;
    this.m.fsyncs++;
    this.m.fsyncSecondsTotal += (t1 - t0) / 1000;
  }

  // ---- append / group commit ----

  append(payload: Uint8Array, opts?: AppendOptions): Promise<AppendResult> {
    if (this.failure !== null) return Promise.reject(this.failure);
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
    const frameLen = FRAME_HEADER + payload.length + (meta === null ? 0 : meta.length);
    if (frameLen > this.segmentBytes) {
      return Promise.reject(new RecordTooLargeError(this.dir, frameLen, this.segmentBytes, 'segmentBytes'));
    }
    if (frameLen + this.snapshotLen > this.maxBytes) {
      // Even an otherwise empty queue (one segment holding only its positions snapshot) could not take it.
      return Promise.reject(new RecordTooLargeError(this.dir, frameLen, this.maxBytes - this.snapshotLen, 'maxBytes'));
    }
    const buf = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const id = this.nextId;
    this.nextId += events;
    return new Promise<AppendResult>((resolve, reject) => {
      this.pending.push({ id, events, payload: buf, meta, positions, frameLen, seg: null, endOffset: 0, resolve, reject });
      this.wakeWriter();
    });
  }

  private wakeWriter(): void {
    const w = this.writerWake;
    if (w !== null) {
      this.writerWake = null;
      w();
    }
  }

  private waitWriter(ms: number | null): Promise<void> {
    return new Promise<void>((resolve) => {
      this.writerWake = resolve;
      if (ms !== null) {
        // Keeps the process alive: appends are waiting for the fsync this timer triggers.
        this.writerTimer = this.clock.setTimer(
          Math.max(0, ms),
          () => {
            this.writerTimer = null;
            this.wakeWriter();
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

  private async writerLoop(): Promise<void> {
    try {
      for (;;) {
        if (this.pending.length === 0 && this.unsynced.length === 0 && this.inflight === null) {
          if (this.closing) return;
          await this.waitWriter(null);
          continue;
        }
        let blocked = false;
        if (this.pending.length > 0) blocked = !(await this.writeBatch());
        if (blocked && this.closing && this.unsynced.length === 0 && this.inflight === null) {
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
          } else if (blocked) {
            this.setFull(true);
            await this.waitWriter(null);
          }
          continue;
        }
        if (this.unsynced.length > 0) {
          switch (this.policy.mode) {
            case 'never':
              this.publish(this.takeUnsynced());
              break;
            case 'interval': {
              const due = this.lastSyncAt + this.policy.intervalMs;
              const now = this.clock.now();
              if (now >= due || blocked || this.closing) {
                await this.timedSync(this.activeFh);
                this.publish(this.takeUnsynced());
              } else if (this.pending.length === 0) {
                await this.waitWriter(due - now);
              }
              break;
            }
          }
        } else if (blocked) {
          this.setFull(true);
          await this.waitWriter(null);
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
    this.timedSync(this.activeFh).then(
      () => {
        s.settled = true;
        this.wakeWriter();
      },
      (e: unknown) => {
        s.error = e ?? new Error('fdatasync failed');
        s.settled = true;
        this.wakeWriter();
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
      throw s.error;
    }
    this.publish(s.entries);
  }

  private setFull(full: boolean): void {
    if (full === this.m.full) return;
    const now = this.clock.now();
    if (full) this.fullSince = now;
    else this.m.fullMsTotal += now - this.fullSince;
    this.m.full = full;
  }

  /** Writes as many pending appends as fit (one writev per segment touched). False if none fit. */
  private async writeBatch(): Promise<boolean> {
    let wrote = false;
    const n = this.pending.length;
    if (this.hdrArena.length < n * FRAME_HEADER) this.hdrArena = Buffer.allocUnsafe(n * FRAME_HEADER * 2);
    const arena = this.hdrArena;
    let bufs: Uint8Array[] = [];
    let batchBytes = 0;
    for (let taken = 0; taken < n; ) {
      const e = this.pending.peek();
      if (e === undefined) break;
      if (this.m.bytesOnDisk + e.frameLen > this.maxBytes) {
        if (wrote || bufs.length > 0) break;
        // Full: persist what consumers acknowledged (deletion goes by persisted cursors), free space.
        await this.flushAllCursors().catch(() => undefined);
        await this.deleteEligible();
        if (this.m.bytesOnDisk + e.frameLen <= this.maxBytes) continue;
        if (this.active.hasData && this.unsynced.length === 0 && this.allPersistedUpTo(this.active.endId)) {
          // Everything is consumed but the active segment holds the space: roll so it can go.
          await this.roll(e.id);
          await this.deleteEligible();
          if (this.m.bytesOnDisk + e.frameLen <= this.maxBytes) continue;
        }
        if (this.segments.length === 1 && !this.active.hasData) {
          // Nothing left to free: this record can never fit (positions snapshot grew since it was checked).
          this.pending.shift();
          e.reject?.(new RecordTooLargeError(this.dir, e.frameLen, this.maxBytes - this.active.size, 'maxBytes'));
          continue;
        }
        return false;
      }
      if (this.active.hasData && this.active.size + e.frameLen > this.segmentBytes) {
        if (bufs.length > 0) {
          await this.activeFh.writev(bufs);
          bufs = [];
        }
        await this.roll(e.id);
        continue;
      }
      this.pending.shift();
      taken++;
      const at = taken * FRAME_HEADER - FRAME_HEADER;
      writeFrameHeader(arena, at, 'data', e.id, e.events, e.payload, e.meta);
      bufs.push(arena.subarray(at, at + FRAME_HEADER));
      if (e.payload.length > 0) bufs.push(e.payload);
      if (e.meta !== null) bufs.push(e.meta);
      const seg = this.active;
      const start = seg.size;
      seg.size += e.frameLen;
      seg.hasData = true;
      seg.endId = e.id + e.events;
      if (seg.index.length === 0 || start - seg.lastIndexedOffset >= INDEX_EVERY) {
        seg.index.push(e.id, start);
        seg.lastIndexedOffset = start;
      }
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
      wrote = true;
      batchBytes += e.frameLen;
      if (batchBytes >= MAX_COMMIT_BYTES) break;
    }
    if (bufs.length > 0) await this.activeFh.writev(bufs);
    if (wrote) this.setFull(false);
    return wrote;
  }

  /** Seals the active segment (durable first, unless `never`) and starts one whose first id is `firstId`. */
  private async roll(firstId: number): Promise<void> {
    await this.finishSync(); // never close a handle under an fdatasync in flight
    const old = this.active;
    const oldFh = this.activeFh;
    switch (this.policy.mode) {
      case 'always':
      case 'interval':
        await this.timedSync(oldFh);
        break;
      case 'never':
        break;
    }
    await this.createSegment(firstId);
    old.sealed = true;
    await oldFh.close();
  }

  /** Marks appends (in id order) durable, resolves them, and wakes readers. */
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
      this.cache.push(e);
      this.cacheBytes += e.frameLen;
      resolve?.({ id: asRecordId(e.id), nextId: asRecordId(e.id + e.events) });
    }
    this.trimCache();
    const readers = this.readers;
    if (readers.size > 0) {
      this.readers = new Set();
      for (const r of readers) r();
    }
  }

  private rejectPending(err: Error): void {
    for (let e = this.pending.shift(); e !== undefined; e = this.pending.shift()) e.reject?.(err);
  }

  private fail(err: Error): void {
    if (this.failure === null) this.failure = err;
    if (this.inflight !== null) {
      for (const e of this.inflight.entries) e.reject?.(err);
      this.inflight = null;
    }
    for (const e of this.unsynced) e.reject?.(err);
    this.unsynced = [];
    this.rejectPending(err);
    this.closing = true;
    const readers = this.readers;
    this.readers = new Set();
    for (const r of readers) r();
  }

  // ---- reading ----

  isClosed(): boolean {
    return this.closed || this.failure !== null;
  }

  /** The I/O failure that stopped the queue, if any. */
  failed(): Error | null {
    return this.failure;
  }

  waitForData(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let onAbort: (() => void) | null = null;
      const done = (): void => {
        this.readers.delete(done);
        if (onAbort !== null) signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal !== undefined) {
        onAbort = done;
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.readers.add(done);
    });
  }

  /** The read position of the first record with id >= `id`. */
  locate(id: number): ReadPos {
    const segs = this.segments;
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

  readFromCache(c: QueueConsumer, maxRecords: number, maxBytes: number): QueueRecord[] | null {
    const first = this.cache.peek();
    if (first === undefined || first.id > c.given) return null;
    // Binary search the first entry with id >= given.
    let lo = 0;
    let hi = this.cache.length - 1;
    let start = this.cache.length;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.cache.at(mid) as Entry).id >= c.given) {
        start = mid;
        hi = mid - 1;
      } else lo = mid + 1;
    }
    const out: QueueRecord[] = [];
    let bytes = 0;
    for (let i = start; i < this.cache.length && out.length < maxRecords; i++) {
      const e = this.cache.at(i) as Entry;
      if (out.length > 0 && bytes + e.payload.length > maxBytes) break;
      out.push({ id: asRecordId(e.id), events: e.events, payload: e.payload });
      bytes += e.payload.length;
      c.given = e.id + e.events;
      this.setPos(c, { seg: e.seg, offset: e.endOffset, expect: c.given });
    }
    this.trimCache();
    return out;
  }

  /**
   * The cache serves records no consumer has been given yet: an entry every consumer has read past
   * goes at once (its payload lives on only in the hands of the consumers still holding it; a
   * rewind reads it back from the segment). What is left, the backlog of unread records, is bounded
   * by `cacheBytes` (oldest out first; the newest stays even when it alone is larger, unless the
   * cache is off) — a consumer further behind reads the segment files.
   */
  private trimCache(): void {
    let minGiven = Number.POSITIVE_INFINITY;
    for (const c of this.consumers.values()) if (c.given < minGiven) minGiven = c.given;
    const keep = this.cacheLimit > 0 ? 1 : 0;
    for (let e = this.cache.peek(); e !== undefined; e = this.cache.peek()) {
      const read = e.id + e.events <= minGiven;
      if (!read && (this.cacheBytes <= this.cacheLimit || this.cache.length <= keep)) break;
      this.cache.shift();
      this.cacheBytes -= e.frameLen;
    }
  }

  /**
   * Moves a consumer's disk position; a segment no consumer is positioned in any more gets its read
   * handle closed (reopened on demand), so open files stay about one per consumer.
   */
  setPos(c: QueueConsumer, pos: ReadPos): void {
    const old = c.pos.seg;
    c.pos = pos;
    if (old === null || old === pos.seg || old.readFh === null) return;
    for (const other of this.consumers.values()) if (other.pos.seg === old) return;
    const rfh = old.readFh;
    old.readFh = null;
    void rfh.then((h) => h.close()).catch(() => undefined);
  }

  private segmentAfter(seg: Segment): Segment | null {
    for (const s of this.segments) if (s.firstId > seg.firstId) return s;
    return null;
  }

  async readFromDisk(c: QueueConsumer, maxRecords: number, maxBytes: number): Promise<QueueRecord[]> {
    const out: QueueRecord[] = [];
    let bytes = 0;
    for (;;) {
      let seg = c.pos.seg;
      if (seg === null) {
        c.pos = this.locate(c.given);
        seg = c.pos.seg;
        if (seg === null) return out;
      }
      if (seg.deleted) {
        const next = this.segmentAfter(seg);
        if (next === null) return out;
        this.setPos(c, { seg: next, offset: 0, expect: next.firstId });
        continue;
      }
      const limit = seg.durableSize;
      if (c.pos.offset >= limit) {
        if (seg.sealed && seg.durableSize >= seg.size) {
          const next = this.segmentAfter(seg);
          if (next === null) return out;
          this.setPos(c, { seg: next, offset: 0, expect: next.firstId });
          continue;
        }
        return out;
      }
      if (out.length >= maxRecords || (out.length > 0 && bytes >= maxBytes)) return out;
      let fh: FileHandle;
      try {
        fh = await this.readHandle(seg);
      } catch (e) {
        if (seg.deleted) continue;
        throw ioError(`queue ${this.dir}: cannot open ${seg.path} for reading`, e);
      }
      const chunk = Math.min(Math.max(READ_CHUNK, maxBytes - bytes + FRAME_HEADER), 16 * READ_CHUNK);
      const thisSeg = seg;
      let stopped = false;
      const carry = c.chunk !== null && c.chunk.seg === seg ? c.chunk.data : null;
      const scan = scanFrames(fh, c.pos.offset, limit, c.pos.expect, chunk, (ev) => {
        switch (ev.type) {
          case 'bad':
            if (!thisSeg.knownBad.has(ev.from)) {
              thisSeg.knownBad.add(ev.from);
              this.m.corruptRecordsSkipped++;
            }
            return 'continue';
          case 'frame': {
            const f = ev.frame;
            if (f.kind !== 'data' || f.id < c.given) return 'continue';
            if (out.length > 0 && bytes + f.payload.length > maxBytes) {
              stopped = true;
              return 'stop-before';
            }
            out.push({ id: asRecordId(f.id), events: f.events, payload: f.payload });
            bytes += f.payload.length;
            c.given = f.id + f.events;
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
      c.pos = { seg, offset: end.end, expect: end.nextId };
      // Keep the chunk only if the next read can start inside it.
      c.chunk = stopped && end.end < end.chunk.start + end.chunk.buf.length ? { seg, data: end.chunk } : null;
      if (stopped) return out;
    }
  }

  private readHandle(seg: Segment): Promise<FileHandle> {
    if (seg.readFh === null) {
      seg.readFh = this.fs.open(seg.path, 'read');
      seg.readFh.catch(() => {
        seg.readFh = null;
      });
    }
    return seg.readFh;
  }

  // ---- acks, deletion, cursors ----

  /**
   * Deletion goes by persisted cursors, not in-memory acks: after a crash every record at or after
   * each consumer's cursor file is still there (an acked but unpersisted record is redelivered).
   */
  private allPersistedUpTo(id: number): boolean {
    for (const c of this.consumers.values()) if (c.persisted < id) return false;
    return true;
  }

  countAck(events: number): void {
    this.m.ackedRecords++;
    this.m.ackedEvents += events;
  }

  onAcked(): void {
    // Appends waiting for space: let the writer persist cursors and delete now, not on the timer.
    if (this.m.full) this.wakeWriter();
  }

  private async deleteEligible(): Promise<void> {
    if (this.deleting) {
      this.deleteAgain = true;
      return;
    }
    this.deleting = true;
    let deleted = 0;
    try {
      do {
        this.deleteAgain = false;
        while (this.segments.length > 1) {
          const s = this.segments[0] as Segment;
          const next = this.segments[1] as Segment;
          if (!s.sealed || !next.snapshotDurable || !this.allPersistedUpTo(s.endId)) break;
          try {
            await this.fs.unlink(s.path);
          } catch (e) {
            // Keep the segment (and its bytes counted); the next ack, flush or full writer retries.
            if (!isCode(e, 'ENOENT')) return;
          }
          this.segments.shift();
          s.deleted = true;
          const rfh = s.readFh;
          s.readFh = null;
          if (rfh !== null) await rfh.then((h) => h.close()).catch(() => undefined);
          this.m.bytesOnDisk -= s.size;
          this.m.deletedSegments++;
          this.m.deletedBytes += s.size;
          deleted++;
          this.wakeWriter();
        }
      } while (this.deleteAgain);
    } finally {
      this.deleting = false;
      // Make the unlinks durable in order, so a crash cannot bring back an old segment after a
      // newer one is gone (harmless for data, but it would show up as a gap in the ids).
      if (deleted > 0 && this.policy.mode !== 'never') await this.fs.syncDir(this.dir).catch(() => undefined);
    }
  }

  async persistCursor(c: QueueConsumer): Promise<void> {
    const id = c.acked;
    if (id === c.persisted && c.hasFile) return;
    const tmp = join(this.dir, cursorTempName(c.name));
    const dst = join(this.dir, cursorName(c.name));
    try {
      const fh = await this.fs.open(tmp, 'truncate');
      try {
        await fh.writev([encodeCursor(id)]);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await this.fs.rename(tmp, dst);
      await this.fs.syncDir(this.dir);
    } catch (e) {
      throw ioError(`queue ${this.dir}: cannot persist the cursor of consumer ${c.name}`, e);
    }
    if (id > c.persisted) c.persisted = id;
    c.hasFile = true;
    void this.deleteEligible().catch(() => undefined);
  }

  private armCursorTimer(): void {
    if (this.closing) return;
    this.cursorTimer = this.clock.setTimer(this.cursorFlushMs, () => {
      this.cursorTimer = null;
      void this.flushAllCursors()
        .catch(() => undefined)
        .then(() => this.armCursorTimer());
    });
  }

  private async flushAllCursors(): Promise<void> {
    let first: unknown = null;
    for (const c of this.consumers.values()) {
      if (c.acked === c.persisted && c.hasFile) continue;
      try {
        await c.flushCursor();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== null) throw first;
  }

  // ---- public surface ----

  positions(): ReadonlyMap<string, Uint8Array> {
    return new Map(this.durablePositions);
  }

  consumer(name: string): Consumer {
    const c = this.consumers.get(name);
    if (c === undefined) {
      throw new QueueUsageError(
        `queue ${this.dir}: no consumer named ${name}; configured: ${[...this.consumers.keys()].join(', ') || '(none)'}`,
      );
    }
    return c;
  }

  metrics(): Readonly<QueueMetrics> {
    const snap: QueueMetrics = { ...this.m, headId: this.durableId };
    if (snap.full) snap.fullMsTotal += this.clock.now() - this.fullSince;
    return snap;
  }

  private closeRun: Promise<void> | null = null;

  close(): Promise<void> {
    this.closeRun ??= this.closeNow();
    return this.closeRun;
  }

  private async closeNow(): Promise<void> {
    this.closing = true;
    this.wakeWriter();
    await this.writerDone;
    if (this.cursorTimer !== null) {
      this.cursorTimer.cancel();
      this.cursorTimer = null;
    }
    this.closed = true;
    const readers = this.readers;
    this.readers = new Set();
    for (const r of readers) r();
    let first: unknown = null;
    // Even after a write failure: cursor files are separate, and what sinks acknowledged must stick.
    try {
      await this.flushAllCursors();
    } catch (e) {
      first = e;
    }
    try {
      await this.activeFh.close();
    } catch (e) {
      first ??= e;
    }
    for (const s of this.segments) {
      const r = s.readFh;
      s.readFh = null;
      if (r !== null) await r.then((h) => h.close()).catch(() => undefined);
    }
    try {
      await this.releaseLock();
    } catch (e) {
      first ??= e;
    }
    // A queue that failed closes as far as it can, then says the stop was not clean.
    first ??= this.failure;
    if (first !== null) throw first instanceof QueueIoError ? first : ioError(`queue ${this.dir}: close failed`, first);
  }
}

/** Opens (creating, recovering) the queue in `opts.dir`. See the module header for what recovery does. */
export async function openQueueWith(opts: QueueOptions, fs: FileSystem, clock: Clock): Promise<Queue> {
  const q = new WriteAheadQueue(opts, fs, clock);
  await q.open(opts.consumers);
  return q;
}
