/**
 * The stdin source: reads the agent's standard input (or any byte stream, for tests and
 * embedding) and emits batches of complete lines.
 *
 * Backpressure: the stream is read in paused mode (`read()` on `'readable'`); everything buffered
 * is taken at once (up to ~1 MiB per batch, after the partial line held) and the next read waits for `emit` to resolve, so a
 * slow queue stops the reading and the producer blocks on a full pipe.
 *
 * Acknowledgement holds within the process: a batch is consumed only when `emit` resolves. There
 * is no position and no resume after a restart: bytes the pipe had delivered to a process that
 * died are gone with it (a pipe cannot be rewound). On EOF or stop, the partial last line is
 * emitted with a `\n` added, and `run()` resolves.
 */
import type { Readable } from 'node:stream';
import type { BatchBound } from '../../core/component';
import type { Clock } from '../../core/ports';
import { formatSize } from '../../core/units';
import { systemClock } from '../../core/node-ports';
import type { Source, SourceContext, SourceStats } from '../../core/source';
import { SourceEmitError } from '../errors';
import { framedBound, frameLines } from '../lines';
import { Assembler, decodeStats, DecodeWarnings, decodes, heldBound, newDecodeCounts } from '../decode';
import type { DecodeCounts } from '../decode';
import type { StdinSourceConfig } from './config';

/** Bytes gathered into one batch at most (a little more when one read is larger). */
const BATCH_BYTES = 1024 * 1024;
/** What one `read()` past `BATCH_BYTES` can add: a stream's buffer (64 KiB for files, 16 KiB for pipes). */
const LAST_READ_BYTES = 64 * 1024;

/**
 * The largest batch this source can emit: ~1 MiB of input after what it holds (a partial line, or
 * the pending event), framed. Decoded events add their JSON per event on top (see the file source):
 * they are cut into batches of at most half a record instead.
 */
export function batchBound(c: StdinSourceConfig): BatchBound {
  const held = heldBound(c);
  return {
    bytes: framedBound(BATCH_BYTES + LAST_READ_BYTES + held.bytes, c.max_line_bytes) + 'stdin'.length,
    key: held.key,
    from: `${held.key} ${formatSize(held.bytes)} + ${formatSize(BATCH_BYTES)} read at once`,
    fix: `lower ${held.key}`,
  };
}

/** Reading the input stream failed (not EOF): what was read before is emitted, then `run()` rejects. */
export class StdinReadError extends Error {
  readonly code = 'SLUICE_SOURCE_STDIN_READ';
  constructor(options: { cause: unknown }) {
    super('reading standard input failed', options);
    this.name = 'StdinReadError';
  }
}

export interface StdinSourceOptions {
  /** The stream to read (default `process.stdin`). */
  readonly stream?: Readable;
  /** Times the split-line warnings (at most one every 10 s, on `now()`, monotonic; default `systemClock`). */
  readonly clock?: Clock;
}

export interface StdinSourceMetrics {
  lines: number;
  bytes: number;
  batches: number;
  splitLines: number;
  /** With `multiline` / `decoding`: what the decoder did; absent otherwise. */
  decode?: DecodeCounts;
}

export class StdinSource implements Source {
  private readonly m: StdinSourceMetrics = { lines: 0, bytes: 0, batches: 0, splitLines: 0 };
  private readonly decodeCounts: DecodeCounts | null;

  constructor(
    private readonly cfg: StdinSourceConfig,
    private readonly options: StdinSourceOptions = {},
  ) {
    this.decodeCounts = decodes(cfg) ? newDecodeCounts() : null;
  }

  /** With `multiline` or a `decoding`: its counters for `/metrics` (parse failures, multiline and cut events). */
  stats(): SourceStats {
    return this.decodeCounts === null ? {} : decodeStats(this.decodeCounts);
  }

  metrics(): Readonly<StdinSourceMetrics> {
    return this.decodeCounts ? { ...this.m, decode: { ...this.decodeCounts } } : { ...this.m };
  }

  async run(ctx: SourceContext): Promise<void> {
    const stream = this.options.stream ?? process.stdin;
    const maxLine = this.cfg.max_line_bytes;
    const clock = this.options.clock ?? systemClock;
    let ended = stream.readableEnded;
    let failed: unknown = undefined;
    let wake: (() => void) | null = null;
    const poke = (): void => {
      const w = wake;
      wake = null;
      w?.();
    };
    const onEnd = (): void => {
      ended = true;
      poke();
    };
    const onError = (e: unknown): void => {
      failed ??= e;
      poke();
    };
    stream.on('readable', poke);
    stream.on('end', onEnd);
    stream.on('error', onError);
    ctx.signal.addEventListener('abort', poke);
    let carry: Buffer | null = null;
    let lastWarn = -Infinity;
    const decoder = this.decodeCounts ? new Assembler(this.cfg, maxLine, this.decodeCounts) : null;
    const timeoutMs = this.cfg.multiline?.timeout ?? 0;
    const warnings = new DecodeWarnings();
    /** `final`: the input ended (everything, a partial line too); `pending`: quiet for the timeout (the pending event). */
    // Decoded events are NDJSON, many times the bytes read for short lines: at most half a queue
    // record per batch (the line that passes it adds one event), the rest in the next batch.
    const room = ctx.recordBytes;
    const cap = room === undefined ? Infinity : Math.max(64 * 1024, Math.floor(room / 2));
    const emit = async (input: Buffer, final: boolean, pending = false, carried = carry ? carry.length : 0): Promise<Buffer | null> => {
      const f = decoder === null ? frameLines(input, maxLine, final) : decoder.decode(input, carried, final ? 'all' : pending ? 'events' : false, 'stdin', cap);
      if (f.splits > 0) {
        this.m.splitLines += f.splits;
        const now = clock.now();
        if (now - lastWarn >= 10_000) {
          lastWarn = now;
          ctx.log.warn(`lines longer than max_line_bytes (${maxLine}) were split`, { source: ctx.id, splitLinesTotal: this.m.splitLines });
        }
      }
      const rest = f.consumed < input.length ? Buffer.from(input.subarray(f.consumed)) : null;
      if (this.decodeCounts !== null) warnings.check(this.decodeCounts, clock.now(), (msg, fields) => ctx.log.warn(msg, { source: ctx.id, ...fields }));
      if (f.events > 0) {
        this.m.lines += f.events;
        this.m.bytes += f.lines.length;
        this.m.batches++;
        try {
          await ctx.emit(decoder === null ? { lines: f.lines, events: f.events, origin: 'stdin' } : { lines: f.lines, events: f.events, origin: 'stdin', format: 'events' });
        } catch (e) {
          throw new SourceEmitError(ctx.id, { cause: e });
        }
      }
      // The decode stopped at the cap: the next batch from what it left, before any read.
      if ('more' in f && f.more && rest !== null) return emit(rest, final, pending, rest.length);
      return rest;
    };
    try {
      for (;;) {
        const chunks: Buffer[] = carry ? [carry] : [];
        // Only new bytes count toward a batch: a held partial line of BATCH_BYTES or more must not stop the reading.
        const held = carry ? carry.length : 0;
        let total = 0;
        const before = chunks.length;
        while (total < BATCH_BYTES && !ctx.signal.aborted) {
          const c: unknown = stream.read();
          if (c === null || c === undefined) break;
          const b = Buffer.isBuffer(c) ? c : Buffer.from(typeof c === 'string' ? c : JSON.stringify(c));
          chunks.push(b);
          total += b.length;
        }
        if (chunks.length === before) {
          if (ended || failed !== undefined || ctx.signal.aborted || stream.destroyed) break;
          if (decoder?.holding === true && carry !== null) {
            // A pending event: complete once the input has been quiet for `multiline.timeout`.
            const since = clock.now();
            const timer = clock.setTimer(timeoutMs, poke);
            await new Promise<void>((res) => {
              wake = res;
            });
            timer.cancel();
            if (stream.readableLength === 0 && !ended && clock.now() - since >= timeoutMs) carry = await emit(carry, false, true);
            continue;
          }
          await new Promise<void>((res) => {
            wake = res;
          });
          continue;
        }
        const input = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, held + total);
        carry = await emit(input, false);
      }
      if (carry) await emit(carry, true);
    } finally {
      stream.off('readable', poke);
      stream.off('end', onEnd);
      stream.off('error', onError);
      ctx.signal.removeEventListener('abort', poke);
      if (!ended) stream.pause();
    }
    if (failed !== undefined) throw new StdinReadError({ cause: failed });
  }
}
