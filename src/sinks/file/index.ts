/**
 * The `file` sink: appends to one file.
 *
 * - `write()` encodes the group, appends it in one `writev` (looping over partial writes), then
 *   `fdatasync`s once, and only then resolves: the pipeline acks to the queue after that, so an
 *   acknowledged record survives power loss. One fsync per delivered group, not per record.
 * - On failure the file is cut back to the size it had before the group (no half group stays to be
 *   duplicated by the retry) and the handle is dropped, so the retry reopens (and recreates parent
 *   directories): a deleted directory, a path fixed by an operator, a full disk freed, all heal.
 * - `reopen()` (SIGHUP) makes the next write open the path again: logrotate's rename-then-HUP.
 * - Without SIGHUP too: before each group the sink compares its path with the open file (device +
 *   inode, one `stat` each); when the file was deleted or renamed away (`rm`, logrotate without
 *   `postrotate`) it reopens (creates) the path, so no line is written into a file nobody can reach.
 * - Created files and directories are made durable (an fsync of their parent directory) before the
 *   first group written into them is acknowledged: a power loss cannot take back acked lines by
 *   taking back the file's name.
 */
import { dirname } from 'node:path';
import { z } from 'zod';
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

  constructor(
    private readonly config: FileSinkConfig,
    private readonly ctx: SinkContext,
  ) {}

  reopen(): void {
    this.reopenWanted = true;
  }

  /**
   * Delivered once written and fdatasynced. A failure rejects (the contract's `errored`); the
   * signal is not used: a local write is not interrupted half way (the undo needs it whole).
   */
  async write(batches: readonly Envelope[]): Promise<WriteResult> {
    const bufs = encodeBatches(this.config.encoding, batches);
    if (bufs.length === 0) return DELIVERED;
    const { fh, size: before } = await this.current();
    try {
      await fh.writev(bufs);
      await fh.datasync();
    } catch (err) {
      await this.undo(fh, before);
      throw err;
    }
    return DELIVERED;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.close();
  }

  /** The open file and its size, once the path is known to still name it. */
  private async current(): Promise<{ fh: FileHandle; size: number }> {
    if (this.fh && !this.reopenWanted) {
      const [held, onPath] = await Promise.all([this.fh.stat(), this.ctx.fs.stat(this.config.path)]);
      if (onPath !== null && sameFile(held, onPath)) return { fh: this.fh, size: held.size };
      this.ctx.log.warn(
        `sink ${this.ctx.id}: ${this.config.path} was ${onPath === null ? 'deleted or renamed away' : 'replaced by another file'} under the sink; ` +
          `writing to the path again (send SIGHUP after rotating to say so explicitly)`,
      );
      this.reopenWanted = true;
    }
    const fh = await this.open();
    return { fh, size: (await fh.stat()).size };
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
    await mkdirpDurable(fs, dir);
    const existed = (await fs.stat(this.config.path)) !== null;
    this.fh = await fs.open(this.config.path, 'append');
    if (!existed) await fs.syncDir(dir); // the new file's name is durable before any line in it is acked
    return this.fh;
  }

  /** Best effort: cut a partial group away, and drop the handle so the retry reopens. */
  private async undo(fh: FileHandle, size: number): Promise<void> {
    try {
      const now = (await fh.stat()).size;
      if (now > size) await fh.truncate(size);
    } catch {
      // the retry will report the underlying problem
    }
    if (this.fh === fh) this.fh = undefined;
    await fh.close().catch(() => undefined);
  }
}

/** Whether two stats name one file (true when the file system gives no identity to compare). */
const sameFile = (a: FileStat, b: FileStat): boolean => a.ino === undefined || b.ino === undefined || (a.ino === b.ino && a.dev === b.dev);

export const createFileSink = (config: FileSinkConfig, ctx: SinkContext): Sink => new FileSink(config, ctx);
