/**
 * The `stdout` sink: writes to the process's standard output.
 *
 * - Backpressure: when the stream's buffer is full (`write()` returns false, a slow reader on the
 *   pipe) the sink waits for `'drain'` before writing more, so memory stays bounded and the queue
 *   holds the backlog.
 * - `write()` resolves when the stream has handed the last byte to the OS (the write callback),
 *   never earlier: the pipeline acks only what was written.
 * - A closed pipe (EPIPE) does not crash the agent: the stream's error is kept, every later write
 *   rejects with it, the pipeline reports and retries with backoff, and the data stays in the queue.
 *   (A pipe whose reader went away does not come back, so those retries only end with the agent.)
 */
import type * as z from 'zod';
import type { Envelope } from '../../core/envelope';
import { sinkSchema } from '../../core/component';
import { encodeBatches } from '../encoding';
import { DELIVERED, type Sink, type SinkContext, type WriteResult } from '../../core/sink';

export const stdoutSinkSchema = sinkSchema('stdout', {});
export type StdoutSinkConfig = z.output<typeof stdoutSinkSchema>;

export class StdoutSinkError extends Error {
  readonly code = 'SLUICE_SINK_STDOUT_CLOSED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StdoutSinkError';
  }
}

export class StreamSink implements Sink {
  private broken: Error | undefined;

  constructor(
    private readonly config: { readonly encoding: 'text' | 'json' },
    private readonly stream: NodeJS.WritableStream & { writableNeedDrain?: boolean; destroyed?: boolean },
  ) {
    // Without a listener an EPIPE would be an uncaught exception.
    stream.on('error', (err: Error) => {
      this.broken ??= err;
    });
  }

  reopen(): void {
    // Nothing to reopen: a standard stream is inherited, not opened.
  }

  /** Delivered once the OS has the last byte; a broken stream rejects (the contract's `errored`). */
  write(batches: readonly Envelope[]): Promise<WriteResult> {
    const bufs = encodeBatches(this.config.encoding, batches);
    if (bufs.length === 0) return Promise.resolve(DELIVERED);
    if (this.broken) return Promise.reject(this.failure(this.broken));
    const stream = this.stream;
    return new Promise<WriteResult>((resolve, reject) => {
      let i = 0;
      let settled = false;
      const finish = (err?: Error | null): void => {
        if (settled) return;
        settled = true;
        stream.removeListener('drain', pump);
        stream.removeListener('error', onError);
        stream.removeListener('close', onClose);
        if (err) reject(this.failure(err));
        else resolve(DELIVERED);
      };
      const onError = (err: Error): void => finish(err);
      const onClose = (): void => finish(this.broken ?? new Error('stream closed'));
      const pump = (): void => {
        while (i < bufs.length) {
          const last = i === bufs.length - 1;
          const buf = bufs[i++] as Buffer;
          const ok = last ? stream.write(buf, (err) => finish(err)) : stream.write(buf);
          if (!ok && !last) {
            stream.once('drain', pump);
            return;
          }
        }
      };
      stream.on('error', onError);
      stream.once('close', onClose);
      pump();
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private failure(err: Error): StdoutSinkError {
    const code = (err as { code?: unknown }).code;
    return new StdoutSinkError(`${typeof code === 'string' ? `${code}: ` : ''}${err.message}`, { cause: err });
  }
}

export const createStdoutSink = (config: StdoutSinkConfig, _ctx: SinkContext): Sink =>
  new StreamSink(config, process.stdout);
