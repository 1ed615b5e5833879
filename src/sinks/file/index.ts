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
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { Envelope } from '../../core/envelope';
import { durationSchema } from '../../core/units';
import { encodeBatches } from '../encoding';
import type { Sink, SinkContext } from '../../core/sink';

export const fileSinkSchema = z.strictObject({
  type: z.literal('file'),
  /** Ids of the sources this sink writes. */
  inputs: z.array(z.string()).min(1),
  path: z.string().min(1),
  encoding: z.enum(['text', 'json']).default('text'),
  /** Cap of the retry backoff after failed writes (default 30s). */
  max_backoff: durationSchema.optional(),
});
export type FileSinkConfig = z.output<typeof fileSinkSchema>;

/** Most buffers one writev takes (IOV_MAX on Linux is 1024). */
const MAX_IOV = 1024;

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
      await writeAll(fh, bufs);
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
    await mkdir(dirname(this.config.path), { recursive: true });
    this.fh = await open(this.config.path, 'a');
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

/** Writes every byte of `bufs` at the end of the file, continuing after partial writes. */
export const writeAll = async (fh: FileHandle, bufs: readonly Buffer[]): Promise<void> => {
  let i = 0;
  let skip = 0; // bytes of bufs[i] already written
  while (i < bufs.length) {
    const chunk: Buffer[] = [];
    let want = 0;
    for (let j = i; j < bufs.length && chunk.length < MAX_IOV; j++) {
      const b = j === i && skip > 0 ? (bufs[j] as Buffer).subarray(skip) : (bufs[j] as Buffer);
      chunk.push(b);
      want += b.length;
    }
    const { bytesWritten } = await fh.writev(chunk);
    if (bytesWritten === 0 && want > 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    let left = bytesWritten;
    while (left > 0 && i < bufs.length) {
      const rest = (bufs[i] as Buffer).length - skip;
      if (left >= rest) {
        left -= rest;
        i++;
        skip = 0;
      } else {
        skip += left;
        left = 0;
      }
    }
  }
};

export const createFileSink = (config: FileSinkConfig, ctx: SinkContext): Sink => new FileSink(config, ctx);
