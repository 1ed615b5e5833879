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
 */
import { dirname } from 'node:path';
import { z } from 'zod';
import { sinkSchema } from '../../core/component';
import type { Envelope } from '../../core/envelope';
import type { FileHandle } from '../../core/ports';
import type { Sink, SinkContext } from '../../core/sink';
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

  async write(batches: readonly Envelope[]): Promise<void> {
    const bufs = encodeBatches(this.config.encoding, batches);
    if (bufs.length === 0) return;
    const fh = await this.handle();
    const before = (await fh.stat()).size;
    try {
      await fh.writev(bufs);
      await fh.datasync();
    } catch (err) {
      await this.undo(fh, before);
      throw err;
    }
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    if (fh) await fh.close();
  }

  private async handle(): Promise<FileHandle> {
    if (this.fh && !this.reopenWanted) return this.fh;
    this.reopenWanted = false;
    if (this.fh) {
      const old = this.fh;
      this.fh = undefined;
      await old.close().catch(() => undefined);
      this.ctx.log.info(`sink ${this.ctx.id}: reopening ${this.config.path}`);
    }
    await this.ctx.fs.mkdirp(dirname(this.config.path));
    this.fh = await this.ctx.fs.open(this.config.path, 'append');
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

export const createFileSink = (config: FileSinkConfig, ctx: SinkContext): Sink => new FileSink(config, ctx);
