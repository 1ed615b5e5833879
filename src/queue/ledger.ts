/**
 * The ledger: what consumers have acknowledged becomes durable (cursor files), and what every
 * consumer has passed is deleted (segment files).
 *
 * - A cursor is saved after every delivered group (`save`: a pwrite in place, no fsync, into the
 *   slot that does not hold the newest durable copy: a process crash cannot lose it, a power loss
 *   leaves the durable copy), and persisted (made durable) on a timer (`cursorFlushMs`), on
 *   `flushCursor()`, while appends wait for space, and on close. With the id goes the sink's
 *   checkpoint, if any (`AckState`). A cursor file (version 2, `./format.ts`) has two slots, each in its own
 *   sector, with a sequence number and a checksum: a persist overwrites the older slot in place
 *   (pwrite + fdatasync), so it never needs new space (a full disk cannot stop the deletions that
 *   would free it) and a torn write falls back to the other copy. Only creating the file (a new
 *   consumer, or a missing or damaged file) writes a temp file, fdatasyncs it and renames it over.
 *   A version 1 file (one copy, 24 bytes) is migrated in place: the first persist writes slot 1,
 *   which leaves the version 1 bytes at offset 0 as the fallback.
 * - Deletion goes by persisted cursors, not in-memory acks: after a crash every record at or after
 *   each consumer's cursor file is still there (an acked but unpersisted record is redelivered).
 *   A segment goes only when it is not the last, every persisted cursor is at or past its end id,
 *   and the next segment's snapshot is durable. Unlinks are made durable (directory fsync) in order.
 * - Nobody awaits the timer or a deletion, so their failures are reported as events, once per
 *   episode (`queue.cursor-persist-failed` … `queue.cursor-persisted` per consumer;
 *   `queue.segment-delete-failed` per segment), and counted in metrics.
 */
import type { QueueEvent } from '../core/events';
import type { Clock, FileHandle, FileSystem, Timer } from '../core/ports';
import { join, basename } from 'node:path';
import type { FsyncPolicy, QueueMetrics } from './types';
import { CURSOR_SLOT, cursorName, cursorSlotOffset, cursorTempName, encodeCursorFile, fillCursorSlot } from './format';
import { closeReadHandle, type Segment, type SegmentList } from './segment';
import { ioError, isCode } from './util';

/** What a consumer has acknowledged: the low-water mark and the sink checkpoint that goes with it. */
export interface AckState {
  /** Every record below it is acknowledged. */
  readonly acked: number;
  /** The sink's checkpoint after the last record below `acked` (null: none given). */
  readonly checkpoint: Uint8Array | null;
}

/** One consumer's cursor as the ledger keeps it. */
export class Cursor {
  /** The id known durable in the cursor file (what a restart resumes from at least, power loss included). */
  persisted: number;
  /** Whether a valid cursor file exists (read on open or written since). */
  hasFile: boolean;
  /** Sequence number of the file's newest copy, synced or not (0: a version 1 file, to migrate); null without a file. */
  seq: number | null;
  /**
   * Sequence number of the newest copy known durable (fdatasynced); null while unknown (on open: a
   * process crash may have left an unsynced copy, which the first persist syncs). Writes without an
   * fsync never go into its slot, so a power loss always leaves it.
   */
  durableSeq: number | null = null;
  /** The id and checkpoint in the newest copy written (`seq`). */
  writtenId: number;
  writtenCheckpoint: Uint8Array | null;
  /** The cursor file, open for writes in place (while they succeed). */
  fh: FileHandle | null = null;
  /** In a failure episode: the last attempt to persist failed. */
  failing = false;
  /** Persists of this cursor run one after the other. */
  chain: Promise<void> = Promise.resolve();
  /** The slot image, reused by every write (writes are serialized by `chain`). */
  readonly slot = Buffer.alloc(CURSOR_SLOT);

  constructor(
    readonly name: string,
    start: number,
    seq: number | null,
    checkpoint: Uint8Array | null,
    /** The consumer's acknowledgements (what would be persisted now). */
    readonly acks: AckState,
  ) {
    this.persisted = start;
    this.hasFile = seq !== null;
    this.seq = seq;
    this.writtenId = start;
    this.writtenCheckpoint = checkpoint;
  }

  /** The newest copy does not hold what is acknowledged now. */
  get behind(): boolean {
    return this.acks.acked !== this.writtenId || this.acks.checkpoint !== this.writtenCheckpoint;
  }

  get dirty(): boolean {
    return this.behind || this.seq === null || this.seq === 0 || this.durableSeq !== this.seq;
  }
}

export interface LedgerOptions {
  readonly dir: string;
  readonly fs: FileSystem;
  readonly clock: Clock;
  readonly policy: FsyncPolicy;
  readonly cursorFlushMs: number;
  readonly segments: SegmentList;
  readonly metrics: QueueMetrics;
  readonly emit: (e: QueueEvent) => void;
  /** A segment was deleted: appends waiting for space may fit now. */
  readonly wakeWriter: () => void;
  /** The queue is closing or failed: the timer stops re-arming. */
  readonly stopping: () => boolean;
}

export class Ledger {
  private readonly cursors: Cursor[] = [];
  private deleting = false;
  /** The deletion pass in flight (or the last one). */
  private deletion: Promise<void> = Promise.resolve();
  private deleteAgain = false;
  /** Deletions whose directory fsync failed: synced again on the next pass. */
  private dirSyncOwed = false;
  /** Segments (paths) in a delete-failure episode, and whether the directory sync is. */
  private readonly deleteFailing = new Set<string>();
  private timer: Timer | null = null;

  constructor(private readonly o: LedgerOptions) {}

  add(name: string, start: number, file: { readonly seq: number; readonly checkpoint: Uint8Array | null } | null, acks: AckState): Cursor {
    const c = new Cursor(name, start, file?.seq ?? null, file?.checkpoint ?? null, acks);
    this.cursors.push(c);
    return c;
  }

  // ---- cursors ----

  /** Persists `c` (after any persist of it in flight). */
  flush(c: Cursor): Promise<void> {
    const run = c.chain.then(() => this.persist(c));
    // The chain only orders persists; the caller gets `run` with its outcome.
    c.chain = run.catch(() => undefined);
    return run;
  }

  /** Persists every cursor that moved; rejects with the first failure after trying them all. */
  async persistAll(): Promise<void> {
    let first: unknown = null;
    for (const c of this.cursors) {
      if (!c.dirty) continue;
      try {
        await this.flush(c);
      } catch (e) {
        first ??= e;
      }
    }
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrows what the file system threw
    if (first !== null) throw first;
  }

  /**
   * Writes what `c`'s consumer acknowledged into its file in place, without an fsync (after the
   * writes before it): a process crash cannot lose it, a power loss can (the timer's persist syncs).
   * It goes into the slot that does not hold the newest durable copy, so a power loss leaves that one.
   * A cursor without a file yet (or one to migrate, or not yet synced since open) is persisted in full.
   */
  save(c: Cursor): Promise<void> {
    const run = c.chain.then(() => (c.seq === null || c.seq === 0 || c.durableSeq === null ? this.persist(c) : this.saveNow(c)));
    c.chain = run.catch(() => undefined);
    return run;
  }

  private async saveNow(c: Cursor): Promise<void> {
    if (!c.behind) return;
    try {
      if (await this.writeSlot(c)) return;
    } catch (e) {
      throw this.failed(c, e);
    }
    await this.persist(c); // the file is gone (deleted by hand): create it again
  }

  private async persist(c: Cursor): Promise<void> {
    if (!c.dirty) return;
    try {
      if (c.seq === null || !(await this.syncSlot(c))) await this.create(c);
    } catch (e) {
      throw this.failed(c, e);
    }
    if (c.writtenId > c.persisted) c.persisted = c.writtenId;
    c.hasFile = true;
    if (c.failing) {
      c.failing = false;
      this.o.emit({ type: 'queue.cursor-persisted', consumer: c.name });
    }
    // Not awaited: the caller waits for its cursor, not for deletions (which never reject; their
    // failures are reported as events).
    void this.deleteEligible();
  }

  /** One failed attempt: counted, reported once per episode; returns the error to throw. */
  private failed(c: Cursor, e: unknown): Error {
    const err = ioError(`queue ${this.o.dir}: cannot persist the cursor of consumer ${c.name}`, e);
    this.o.metrics.cursorPersistFailures++;
    if (!c.failing) {
      c.failing = true;
      this.o.emit({ type: 'queue.cursor-persist-failed', consumer: c.name, error: err });
    }
    return err;
  }

  /** Opens `c`'s file for writes in place; false if it is gone (deleted by hand). */
  private async openCursor(c: Cursor): Promise<boolean> {
    try {
      c.fh ??= await this.o.fs.open(join(this.o.dir, cursorName(c.name)), 'update');
      return true;
    } catch (e) {
      if (isCode(e, 'ENOENT')) return false;
      throw e;
    }
  }

  /**
   * Writes what is acknowledged into the slot that does not hold the newest durable copy, in place
   * (no fsync). False if the file is gone.
   */
  private async writeSlot(c: Cursor): Promise<boolean> {
    if (!(await this.openCursor(c))) return false;
    const fh = c.fh as FileHandle;
    const { acked, checkpoint } = c.acks;
    let seq = (c.seq ?? 0) + 1;
    if (c.durableSeq !== null && seq % 2 === c.durableSeq % 2) seq++;
    try {
      await fh.writeAt(fillCursorSlot(c.slot, acked, seq, checkpoint), cursorSlotOffset(seq));
    } catch (e) {
      // The slot may be torn: the next attempt writes the same slot again (the durable one stands).
      await this.closeCursor(c);
      throw e;
    }
    c.seq = seq;
    c.writtenId = acked;
    c.writtenCheckpoint = checkpoint;
    return true;
  }

  /**
   * Makes what is acknowledged durable in `c`'s file: syncs what a crash may have left unsynced
   * (on open), writes the newest state in place if it is not written yet, and fdatasyncs. False if
   * the file is gone (deleted by hand): then it is created again.
   */
  private async syncSlot(c: Cursor): Promise<boolean> {
    if (!(await this.openCursor(c))) return false;
    try {
      if (c.durableSeq === null) {
        // Whatever the file holds now (a copy written without fsync before a crash) becomes durable
        // before any write in place may go into the other slot.
        await (c.fh as FileHandle).datasync();
        c.durableSeq = c.seq;
      }
      if (c.behind || c.seq === 0) {
        if (!(await this.writeSlot(c))) return false;
      }
      if (c.durableSeq !== c.seq) {
        await (c.fh as FileHandle).datasync();
        c.durableSeq = c.seq;
      }
    } catch (e) {
      // After a failed fdatasync the kernel may have dropped the pages: write the copy again next time.
      c.writtenId = Number.NaN;
      await this.closeCursor(c);
      throw e;
    }
    return true;
  }

  /** Creates `c`'s file (version 2, first copy in slot 1): temp file, fdatasync, rename, directory fsync. */
  private async create(c: Cursor): Promise<void> {
    const { fs, dir } = this.o;
    const { acked, checkpoint } = c.acks;
    const tmp = join(dir, cursorTempName(c.name));
    const dst = join(dir, cursorName(c.name));
    await this.closeCursor(c);
    try {
      const fh = await fs.open(tmp, 'truncate');
      try {
        await fh.writev([encodeCursorFile(acked, 1, checkpoint)]);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      // A full disk: do not leave a partial temp file holding blocks (recovery would remove it too).
      await fs.unlink(tmp).catch(() => undefined);
      throw e;
    }
    await fs.rename(tmp, dst);
    await fs.syncDir(dir);
    c.seq = 1;
    c.durableSeq = 1;
    c.writtenId = acked;
    c.writtenCheckpoint = checkpoint;
  }

  private async closeCursor(c: Cursor): Promise<void> {
    const fh = c.fh;
    c.fh = null;
    // A handle that fails to close is gone either way; the next persist opens the file again.
    if (fh !== null) await fh.close().catch(() => undefined);
  }

  /** Closes the cursor files held open for writes in place (after the last persist). */
  async closeFiles(): Promise<void> {
    for (const c of this.cursors) await this.closeCursor(c);
  }

  /** Starts the background persist timer. */
  startTimer(): void {
    if (this.o.stopping()) return;
    this.timer = this.o.clock.setTimer(this.o.cursorFlushMs, () => {
      this.timer = null;
      // Nobody awaits the timer: a failure is reported by persist() (event + counter) and the
      // timer re-arms to try again.
      void this.persistAll()
        .catch(() => undefined)
        .then(() => this.startTimer());
    });
  }

  stopTimer(): void {
    if (this.timer !== null) {
      this.timer.cancel();
      this.timer = null;
    }
  }

  // ---- deletion ----

  allPersistedUpTo(id: number): boolean {
    for (const c of this.cursors) if (c.persisted < id) return false;
    return true;
  }

  /** Deletes every segment all consumers have passed. Never rejects: failures become events. */
  deleteEligible(): Promise<void> {
    if (this.deleting) {
      this.deleteAgain = true;
      return this.deletion;
    }
    this.deleting = true;
    this.deletion = this.deleteNow();
    return this.deletion;
  }

  /** Resolves once no deletion runs (close waits for it: a reopen must not race its unlinks). */
  async deletionsSettled(): Promise<void> {
    while (this.deleting) await this.deletion;
  }

  private async deleteNow(): Promise<void> {
    const { fs, dir, segments, metrics: m } = this.o;
    let last: Segment | null = null;
    try {
      do {
        this.deleteAgain = false;
        while (segments.length > 1) {
          const s = segments.first as Segment;
          const next = segments.at(1) as Segment;
          if (!s.sealed || !next.snapshotDurable || !this.allPersistedUpTo(s.endId)) break;
          try {
            await fs.unlink(s.path);
          } catch (e) {
            // Keep the segment (and its bytes counted); the next cursor persist or the full writer retries.
            if (!isCode(e, 'ENOENT')) {
              this.deleteFailed(s.path, e);
              return;
            }
          }
          this.deleteFailing.delete(s.path);
          segments.shift();
          s.deleted = true;
          await closeReadHandle(s);
          m.bytesOnDisk -= s.size;
          m.deletedSegments++;
          m.deletedBytes += s.size;
          last = s;
          this.dirSyncOwed = true;
          this.o.wakeWriter();
        }
      } while (this.deleteAgain);
    } finally {
      this.deleting = false;
      // Make the unlinks durable in order, so a crash cannot bring back an old segment after a
      // newer one is gone (harmless for data, but it would show up as a gap in the ids).
      if (this.dirSyncOwed && this.o.policy.mode !== 'never') {
        try {
          await fs.syncDir(dir);
          this.dirSyncOwed = false;
          this.deleteFailing.delete(dir);
        } catch (e) {
          this.deleteFailed(dir, e, last);
        }
      }
    }
  }

  /** One failed attempt: counted; reported once per episode (per segment, or for the directory sync). */
  private deleteFailed(key: string, error: unknown, last: Segment | null = null): void {
    this.o.metrics.segmentDeleteFailures++;
    if (this.deleteFailing.has(key)) return;
    this.deleteFailing.add(key);
    const segment = key === this.o.dir ? `${last === null ? 'deleted segments' : basename(last.path)} (directory sync)` : basename(key);
    this.o.emit({ type: 'queue.segment-delete-failed', segment, error: ioError(`queue ${this.o.dir}: cannot delete ${segment}`, error) });
  }
}
