/**
 * The `file` sink: appends to one file.
 *
 * - `write()` encodes the group, appends it in one `writev` (looping over partial writes), then
 *   `fdatasync`s once, and only then resolves: the pipeline acks to the queue after that, so an
 *   acknowledged record survives power loss. One fsync per delivered group, not per record.
 * - On failure the file is cut back to the size it had before the group (no half group stays to be
 *   duplicated by the retry; when that cut fails too, it is made before anything else is written
 *   into the file) and the handle is dropped, so the retry reopens (and recreates parent
 *   directories): a deleted directory, a path fixed by an operator, a full disk freed, all heal.
 * - `reopen()` (SIGHUP) makes the next write open the path again: logrotate's rename-then-HUP.
 * - Without SIGHUP too: before each group the sink compares its path with the open file (device +
 *   inode, one `stat` each); when the file was deleted or renamed away (`rm`, logrotate without
 *   `postrotate`) it reopens (creates) the path, so no line is written into a file nobody can reach.
 * - Created files and directories are made durable (an fsync of their parent directory) before the
 *   first group written into them is acknowledged: a power loss cannot take back acked lines by
 *   taking back the file's name.
 * - Exactly once across kill -9 and power loss: every delivered group returns a checkpoint, the
 *   output's identity (device + inode) and its length after the group (already fdatasynced). The
 *   pipeline stores it with the sink's cursor, written in place after every group, and hands it back
 *   on start (`resume`): bytes past the recorded length in that file were written for records after
 *   the cursor, which are delivered again, so they are cut off first. The recorded length belongs to
 *   one file: when the path names another file now (rotated while the agent was down, or between a
 *   write and its cursor), the recorded file is looked for in the same directory by its identity
 *   and cut there; a new file starts at its own length. A file opened while running (SIGHUP, the
 *   path moved or deleted) is announced by `prepare()` before the next group, so its identity and
 *   length are made durable with the cursor before anything is written into it. Writes (and
 *   `prepare`) are serialized in call order, so the output only grows (the queue keeps the
 *   checkpoint acked last). Exact with `request.concurrency: 1` (the default); with more, a group
 *   written while an earlier one waits for its retry can be repeated once, never lost. The output
 *   file is the sink's alone: bytes someone else appends after its last group may be cut with it.
 */
import { dirname, join } from 'node:path';
import * as z from 'zod';
import { sinkSchema } from '../../core/component';
import type { Envelope } from '../../core/envelope';
import { mkdirpDurable } from '../../core/durable-dirs';
import type { FileHandle, FileStat } from '../../core/ports';
import { DELIVERED, type Sink, type SinkContext, type WriteResult } from '../../core/sink';
import { encodeBatches } from '../encoding';

export const fileSinkSchema = sinkSchema('file', { path: z.string().min(1) });
export type FileSinkConfig = z.output<typeof fileSinkSchema>;

/**
 * The file sink. All file access goes through the `FileSystem` port (`ctx.fs`): `writev` appends
 * every buffer, continuing after short writes; `datasync` is fdatasync.
 */
export class FileSink implements Sink {
  private fh: FileHandle | undefined;
  private reopenWanted = false;
  /** Writes one after the other, in call order (record order). */
  private chain: Promise<unknown> = Promise.resolve();
  /** The handle `prepare()` found still at the path, and its stat (the next write need not look again). */
  private checked: { readonly fh: FileHandle; readonly stat: FileStat } | undefined;
  /**
   * A failed group whose undo could not cut its bytes away (the truncate failed too): the file and
   * the length it had before the group. Cut before anything else is written into that file.
   */
  private owedCut: { readonly stat: FileStat; readonly size: number } | undefined;
  /**
   * An open failed part way (a directory fsync, say): the entries it created may not be durable, and
   * the next open finds them existing, so it syncs the output's directory and every one above it.
   */
  private entriesOwed = false;

  constructor(
    private readonly config: FileSinkConfig,
    private readonly ctx: SinkContext,
  ) {}

  reopen(): void {
    this.reopenWanted = true;
  }

  /**
   * Delivered once written and fdatasynced, with the checkpoint (identity + length) after the group.
   * A failure rejects (the contract's `errored`); the signal is not used: a local write is not
   * interrupted half way (the undo needs it whole).
   */
  write(batches: readonly Envelope[]): Promise<WriteResult> {
    const run = this.chain.then(() => this.writeNow(batches));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * Before each group: makes sure the path still names the open file (reopening it after SIGHUP,
   * or when it was moved or deleted) and, when it opened another file, answers that file's
   * checkpoint, which the pipeline saves with the cursor before the group is written: the first
   * group into a new file is then cut from the new file after a crash, not repeated.
   */
  prepare(): Promise<Uint8Array | null> {
    const run = this.chain.then(async () => {
      const { fh, stat, opened } = await this.current();
      this.checked = { fh, stat };
      return opened ? encodeCheckpoint(stat, stat.size) : null;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async writeNow(batches: readonly Envelope[]): Promise<WriteResult> {
    const bufs = encodeBatches(this.config.encoding, batches);
    if (bufs.length === 0) return DELIVERED;
    // Checked by prepare() just before (nothing else writes to the file in between), or checked now.
    const checked = this.checked !== undefined && this.checked.fh === this.fh && !this.reopenWanted ? this.checked : undefined;
    this.checked = undefined;
    const { fh, stat } = checked ?? (await this.current());
    let bytes = 0;
    for (const b of bufs) bytes += b.length;
    try {
      await fh.writev(bufs);
      await fh.datasync();
    } catch (err) {
      await this.undo(fh, stat);
      throw err;
    }
    return { status: 'delivered', checkpoint: encodeCheckpoint(stat, stat.size + bytes) };
  }

  /**
   * Cuts the output back to the length recorded with the cursor delivery resumes from (see the
   * module header) and returns the output's checkpoint now (opening, or creating, the file).
   * Rejects (retried by the pipeline) when the file cannot be looked at, cut or created.
   */
  async resume(checkpoint: Uint8Array | null): Promise<Uint8Array> {
    if (checkpoint !== null) await this.cutBack(checkpoint);
    // The output as it is now (created if missing), made durable with the cursor before the first write.
    const { stat } = await this.current();
    return encodeCheckpoint(stat, stat.size);
  }

  private async cutBack(checkpoint: Uint8Array): Promise<void> {
    const at = decodeCheckpoint(checkpoint);
    const { path } = this.config;
    if (at === null) {
      this.ctx.log.warn(`sink ${this.ctx.id}: the checkpoint stored with its cursor is not one this version writes; ${path} is not checked against it`);
      return;
    }
    const { fs } = this.ctx;
    let target: string | null = null;
    let stat = await fs.stat(path);
    if (stat !== null && (at.ino < 0 || sameFile(stat, at))) target = path;
    else if (at.ino >= 0) {
      // Rotated away since: look for the recorded file in the same directory, by its identity.
      const dir = dirname(path);
      const names = await fs.readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        const p = join(dir, name);
        const st = await fs.stat(p).catch(() => null);
        if (st !== null && sameFile(st, at)) {
          target = p;
          stat = st;
          break;
        }
      }
    }
    if (target === null || stat === null) return; // the file is gone, or elsewhere: nothing of it can be repeated here
    if (stat.size < at.size) {
      this.ctx.log.warn(
        `sink ${this.ctx.id}: ${target} is shorter (${stat.size} bytes) than the sink had written and synced (${at.size} bytes): someone else truncated it; appending after what is there`,
      );
      return;
    }
    if (stat.size === at.size) return;
    const fh = await fs.open(target, 'update');
    try {
      await fh.truncate(at.size);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    this.ctx.log.info(
      `sink ${this.ctx.id}: cut ${stat.size - at.size} bytes off the end of ${target}: written for records after the last saved cursor (before a crash); they are delivered again now`,
    );
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.close();
  }

  /**
   * The open file and its stat, once the path is known to still name it, and with the bytes of a
   * failed group its undo could not cut now cut (else the next group would be written after them,
   * and they would stay in the output for good; a rejection is the write's or `prepare`'s to retry).
   */
  private async current(): Promise<{ fh: FileHandle; stat: FileStat; opened: boolean }> {
    const now = await this.located();
    const owed = this.owedCut;
    if (owed === undefined) return now;
    if (!sameFile(now.stat, owed.stat)) {
      // The path names another file now (rotated): nothing is written after those bytes any more.
      this.owedCut = undefined;
      return now;
    }
    if (now.stat.size > owed.size) {
      await now.fh.truncate(owed.size);
      this.ctx.log.info(`sink ${this.ctx.id}: cut ${now.stat.size - owed.size} bytes of a failed write off the end of ${this.config.path} before writing again`);
    }
    this.owedCut = undefined;
    return now.stat.size > owed.size ? { ...now, stat: await now.fh.stat() } : now;
  }

  /** The open file and its stat, once the path is known to still name it. */
  private async located(): Promise<{ fh: FileHandle; stat: FileStat; opened: boolean }> {
    if (this.fh && !this.reopenWanted) {
      const [held, onPath] = await Promise.all([this.fh.stat(), this.ctx.fs.stat(this.config.path)]);
      if (onPath !== null && sameFile(held, onPath)) return { fh: this.fh, stat: held, opened: false };
      this.ctx.log.warn(
        `sink ${this.ctx.id}: ${this.config.path} was ${onPath === null ? 'deleted or renamed away' : 'replaced by another file'} under the sink; ` +
          `writing to the path again (send SIGHUP after rotating to say so explicitly)`,
      );
      this.reopenWanted = true;
    }
    const fh = await this.open();
    return { fh, stat: await fh.stat(), opened: true };
  }

  private async open(): Promise<FileHandle> {
    this.reopenWanted = false;
    if (this.fh) {
      const old = this.fh;
      this.fh = undefined;
      await old.close().catch(() => undefined);
      this.ctx.log.info(`sink ${this.ctx.id}: reopening ${this.config.path}`);
    }
    const { fs } = this.ctx;
    const dir = dirname(this.config.path);
    const owed = this.entriesOwed;
    this.entriesOwed = true; // until every step below succeeded
    await mkdirpDurable(fs, dir);
    const existed = (await fs.stat(this.config.path)) !== null;
    const fh = await fs.open(this.config.path, 'append');
    try {
      // The new file's name is durable before any line in it is acked.
      if (!existed) await fs.syncDir(dir);
      if (owed) {
        const chain: string[] = [];
        for (let d = dir; ; d = dirname(d)) {
          chain.push(d);
          if (dirname(d) === d) break;
        }
        for (let i = chain.length - 1; i >= 0; i--) await fs.syncDir(chain[i] as string); // parents first
      }
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
    this.entriesOwed = false;
    this.fh = fh;
    return fh;
  }

  /**
   * Cuts a partial group away, and drops the handle so the retry reopens. When that fails too, the
   * cut is owed: the next `current()` makes it before anything is written into the file.
   */
  private async undo(fh: FileHandle, stat: FileStat): Promise<void> {
    try {
      const now = (await fh.stat()).size;
      if (now > stat.size) await fh.truncate(stat.size);
    } catch {
      // The retry reports the underlying problem if it persists.
      this.owedCut = { stat, size: stat.size };
    }
    if (this.fh === fh) this.fh = undefined;
    await fh.close().catch(() => undefined);
  }
}

/** Whether two stats name one file (true when the file system gives no identity to compare). */
const sameFile = (a: FileStat, b: FileStat): boolean => a.ino === undefined || b.ino === undefined || (a.ino === b.ino && a.dev === b.dev);

/**
 * The checkpoint: version (1), then the output's device, inode and length after the group as
 * float64 (exact for integers below 2^53); device and inode -1 when the file system has none.
 */
const CHECKPOINT_VERSION = 1;
const CHECKPOINT_BYTES = 25;

export function encodeCheckpoint(stat: FileStat, size: number): Buffer {
  const b = Buffer.allocUnsafe(CHECKPOINT_BYTES);
  b.writeUInt8(CHECKPOINT_VERSION, 0);
  b.writeDoubleLE(stat.dev ?? -1, 1);
  b.writeDoubleLE(stat.ino ?? -1, 9);
  b.writeDoubleLE(size, 17);
  return b;
}

export function decodeCheckpoint(b: Uint8Array): { dev: number; ino: number; size: number } | null {
  if (b.length !== CHECKPOINT_BYTES || b[0] !== CHECKPOINT_VERSION) return null;
  const v = Buffer.from(b.buffer, b.byteOffset, b.length);
  const dev = v.readDoubleLE(1);
  const ino = v.readDoubleLE(9);
  const size = v.readDoubleLE(17);
  if (!Number.isSafeInteger(size) || size < 0 || !Number.isInteger(dev) || !Number.isInteger(ino)) return null;
  return { dev, ino, size };
}

export const createFileSink = (config: FileSinkConfig, ctx: SinkContext): Sink => new FileSink(config, ctx);
