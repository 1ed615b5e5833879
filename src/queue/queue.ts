/**
 * The facade: `openQueueWith` checks the options, takes the lock, runs recovery, wires the parts
 * together and serves the `Queue` interface. The design (format, invariants, modules, the reader /
 * writer contract) is in ./README.md; the recovery decision table in ./recovery-table.ts.
 *
 *   lock.ts      one writer per directory (lock file + process-wide registry)
 *   recovery.ts  classifies what is on disk (recovery-scan.ts: one segment); recovery-table.ts decides
 *   segment.ts   segment state, the segment list, sparse index, read handles
 *   writer.ts    ids, group commit, waiting for space; implements LogView (log-view.ts)
 *   active-segment.ts  the segment appended to: create, roll, snapshot on open, fdatasync
 *   reader.ts    per-consumer read positions and the read cache
 *   arena.ts     reused memory for payloads appended as parts, released when every consumer acked
 *   acks.ts      out-of-order acks folded into a low-water mark
 *   ledger.ts    cursor files and segment deletion
 *   consumer.ts  a Consumer: reader + acks + cursor
 */
import { mkdirpDurable } from '../core/durable-dirs';
import type { Clock, FileSystem } from '../core/ports';
import type { AppendOptions, AppendResult, Consumer, FsyncPolicy, Queue, QueueEvent, QueueMetrics, QueueOptions, RecoveryReport } from './types';
import { QueueIoError, QueueUsageError } from './errors';
import { FRAME_MAX } from './format';
import { AckTracker } from './acks';
import { QueueConsumer } from './consumer';
import { Ledger } from './ledger';
import { DirectoryLock } from './lock';
import { ReadSide } from './reader';
import { recover } from './recovery';
import { SegmentList } from './segment';
import { EventReporter, ioError } from './util';
import { Writer } from './writer';

const MiB = 1024 * 1024;
const DEFAULT_SEGMENT_BYTES = 64 * MiB;
const DEFAULT_MAX_BYTES = 1024 * MiB;
export const DEFAULT_CURSOR_FLUSH_MS = 1000;
/**
 * Default bound on committed records kept in memory that some consumer has not read yet (capped at
 * a quarter of `maxBytes`; see `ReadSide`). A consumer further behind reads the segment files back
 * (from the page cache, as a rule). Measured in the agent's pipeline benchmark: 4 MiB made the sink
 * fall back to disk reads often (each a fresh chunk buffer), 8–32 MiB did not; records already read
 * by every consumer are not kept at all (see docs/queue.md, "Memory").
 */
const DEFAULT_CACHE_BYTES = 4 * MiB;

interface Settings {
  readonly policy: FsyncPolicy;
  readonly segmentBytes: number;
  readonly maxBytes: number;
  readonly cursorFlushMs: number;
  readonly cacheLimit: number;
}

/** The options with their defaults, or a `QueueUsageError`. */
function settings(opts: QueueOptions): Settings {
  const policy = opts.fsync ?? { mode: 'always' };
  const segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const cursorFlushMs = opts.cursorFlushMs ?? DEFAULT_CURSOR_FLUSH_MS;
  const cacheLimit = opts.cacheBytes ?? Math.min(DEFAULT_CACHE_BYTES, Math.floor(maxBytes / 4));
  const bad = (what: string): never => {
    throw new QueueUsageError(`queue ${opts.dir}: ${what}`);
  };
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 4096) bad('segmentBytes must be an integer >= 4096');
  if (segmentBytes > FRAME_MAX) bad(`segmentBytes must be <= ${FRAME_MAX}`);
  if (!Number.isSafeInteger(maxBytes)) bad('maxBytes must be an integer');
  // Space is freed a whole segment at a time (a segment goes once every consumer has passed its
  // end, and the active one only after a roll), so the bound must hold at least two segments:
  // with one segment as large as maxBytes the writer can wait for space nothing will free.
  if (segmentBytes > maxBytes / 2) {
    bad(`segmentBytes (${segmentBytes}) must be at most half of maxBytes (${maxBytes}): space is freed a whole segment at a time, so a larger segment can leave appends waiting for ever; lower segmentBytes or raise maxBytes`);
  }
  if (!Number.isSafeInteger(cacheLimit) || cacheLimit < 0) bad('cacheBytes must be an integer >= 0');
  if (!(cursorFlushMs > 0)) bad('cursorFlushMs must be > 0');
  switch (policy.mode) {
    case 'always':
    case 'never':
      break;
    case 'interval':
      if (!(policy.intervalMs > 0)) bad('fsync.intervalMs must be > 0');
      break;
  }
  const seen = new Set<string>();
  for (const c of opts.consumers) {
    if (c.length === 0) bad('consumer names must not be empty');
    if (seen.has(c)) bad(`consumer ${c} is listed twice`);
    seen.add(c);
  }
  return { policy, segmentBytes, maxBytes, cursorFlushMs, cacheLimit };
}

class WriteAheadQueue implements Queue {
  recovery!: RecoveryReport;
  private readonly m: QueueMetrics = {
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
    cursorPersistFailures: 0,
    segmentDeleteFailures: 0,
    headId: 0, // read from the writer in metrics()
    memoryChunksAllocated: 0, // read from the arena in metrics()
  };
  private readonly segments = new SegmentList();
  private readonly writer: Writer;
  private readonly side: ReadSide;
  private readonly ledger: Ledger;
  private readonly consumers = new Map<string, QueueConsumer>();
  private lock: DirectoryLock | null = null;
  private closeRun: Promise<void> | null = null;
  private readonly neverSync: boolean;
  private readonly emit: (e: QueueEvent) => void;

  constructor(
    private readonly dir: string,
    private readonly fs: FileSystem,
    private readonly clock: Clock,
    s: Settings,
    onEvent: QueueOptions['onEvent'],
  ) {
    this.neverSync = s.policy.mode === 'never';
    const events = new EventReporter(onEvent);
    const emit = events.emit.bind(events);
    this.emit = emit;
    this.writer = new Writer({
      dir,
      fs,
      clock,
      policy: s.policy,
      segmentBytes: s.segmentBytes,
      maxBytes: s.maxBytes,
      segments: this.segments,
      metrics: this.m,
      emit,
      onCommit: (records) => this.side.commit(records),
    });
    this.side = new ReadSide(this.writer, fs, dir, s.cacheLimit, this.m, this.writer.arena, () => this.ackFloor());
    this.ledger = new Ledger({
      dir,
      fs,
      clock,
      policy: s.policy,
      cursorFlushMs: s.cursorFlushMs,
      segments: this.segments,
      metrics: this.m,
      emit,
      wakeWriter: () => this.writer.wake(),
      stopping: () => this.writer.stopping(),
    });
    this.writer.space = this.ledger;
  }

  async open(consumerNames: readonly string[]): Promise<void> {
    const { fs, dir } = this;
    try {
      // Durable before anything in it is acknowledged: a first start then a power loss keeps it.
      await mkdirpDurable(fs, dir);
    } catch (e) {
      throw ioError(`queue ${dir}: cannot create the directory`, e);
    }
    const lock = await DirectoryLock.acquire(fs, dir);
    this.lock = lock;
    let report: Omit<RecoveryReport, 'segments'>;
    try {
      const r = await recover({
        fs,
        dir,
        consumers: consumerNames,
        lockNote: lock.note,
        segments: this.segments,
        positions: this.writer.writtenPositions,
        metrics: this.m,
      });
      this.writer.nextId = r.nextId;
      await this.writer.openTail(r.tailSnapshotLen);
      report = r.report;
      const hooks = {
        counted: (events: number): void => {
          this.m.ackedRecords++;
          this.m.ackedEvents += events;
        },
        // Appends waiting for space: let the writer persist cursors and delete now, not on the timer.
        advanced: (): void => {
          this.side.release();
          if (this.m.full) this.writer.wake();
        },
        skipped: (consumer: string, fromId: number, toId: number): void => this.emit({ type: 'queue.records-skipped', consumer, fromId, toId }),
      };
      for (const [name, start] of r.starts) {
        const file = r.withFile.get(name) ?? null;
        const acks = new AckTracker(name, start, file?.checkpoint ?? null);
        const cursor = this.ledger.add(name, start, file, acks);
        const reader = this.side.add(start);
        this.consumers.set(name, new QueueConsumer(name, this.writer, this.side, reader, acks, this.ledger, cursor, hooks, this.neverSync));
      }
    } catch (e) {
      // The open fails with the recovery error; a lock file left behind is taken over next time.
      await lock.release().catch(() => undefined);
      throw e instanceof QueueIoError ? e : ioError(`queue ${dir}: recovery failed`, e);
    }
    this.recovery = { segments: this.segments.length, ...report };
    this.writer.start();
    this.ledger.startTimer();
    // A consumer without a cursor file (new, or its file lost) gets one now, while the disk may have
    // room: later persists overwrite it in place and never need space. A failure is reported (an
    // event) and retried on the timer.
    await this.ledger.persistAll().catch(() => undefined);
    await this.ledger.deleteEligible();
  }

  append(payload: Uint8Array | readonly Uint8Array[], opts?: AppendOptions): Promise<AppendResult> {
    return this.writer.append(payload, opts);
  }

  /** The lowest acknowledged low-water mark of all consumers: every record below it was acked by all. */
  private ackFloor(): number {
    let floor = Number.POSITIVE_INFINITY;
    for (const c of this.consumers.values()) floor = Math.min(floor, c.ackedUpTo);
    return this.consumers.size === 0 ? Number.NEGATIVE_INFINITY : floor;
  }

  positions(): ReadonlyMap<string, Uint8Array> {
    return this.writer.positions();
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
    const snap: QueueMetrics = { ...this.m, headId: this.writer.durableId, memoryChunksAllocated: this.writer.arena.chunksAllocated };
    snap.fullMsTotal += this.writer.fullForMs(this.clock.now());
    return snap;
  }

  close(): Promise<void> {
    this.closeRun ??= this.closeNow();
    return this.closeRun;
  }

  private async closeNow(): Promise<void> {
    await this.writer.close();
    this.ledger.stopTimer();
    this.writer.markClosed();
    let first: unknown = null;
    // Even after a write failure: cursor files are separate, and what sinks acknowledged must stick.
    try {
      await this.ledger.persistAll();
    } catch (e) {
      first = e;
    }
    // A deletion the last persist started must end before the lock goes: a reopen lists the
    // segments, and must not find one that this queue is about to unlink.
    await this.ledger.deletionsSettled();
    await this.ledger.closeFiles();
    try {
      await this.writer.closeActive();
    } catch (e) {
      first ??= e;
    }
    await this.side.closeHandles();
    try {
      await this.lock?.release();
    } catch (e) {
      first ??= e;
    }
    // A queue that failed closes as far as it can, then says the stop was not clean.
    first ??= this.writer.failure();
    if (first !== null) throw first instanceof QueueIoError ? first : ioError(`queue ${this.dir}: close failed`, first);
  }
}

/** Opens (creating, recovering) the queue in `opts.dir`. See ./README.md for what recovery does. */
export async function openQueueWith(opts: QueueOptions, fs: FileSystem, clock: Clock): Promise<Queue> {
  const q = new WriteAheadQueue(opts.dir, fs, clock, settings(opts), opts.onEvent);
  await q.open(opts.consumers);
  return q;
}
