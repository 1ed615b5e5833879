/**
 * The emitter: hands batches to the queue (`ctx.emit`) without waiting for their durability, up to
 * `max_batches_in_flight` at a time, with the positions that ride in the same queue record (the
 * batch's own file position, a replaced key's `null`, and the keys the position book forgot). The
 * first rejected batch stops the source (`failure`); the batches still in flight are waited for
 * (`drain`), never abandoned.
 */
import type { SourcePosition } from '../../queue/types';
import type { SourceContext } from '../../core/source';
import type { PositionBook } from './book';

/** What the emitter counts (part of `FileSourceMetrics`). */
export interface EmitCounts {
  lines: number;
  bytes: number;
  batches: number;
}

export class Emitter {
  private readonly inflight = new Set<Promise<void>>();
  private failed: { readonly error: unknown } | null = null;

  constructor(
    private readonly ctx: SourceContext,
    private readonly maxInFlight: number,
    private readonly book: PositionBook,
    private readonly counts: EmitCounts,
  ) {}

  /** The first rejection of `ctx.emit`, once there was one. */
  get failure(): { readonly error: unknown } | null {
    return this.failed;
  }

  /**
   * Hands `lines` (a view into the source's reused read buffer is fine: `emit` copies it before it
   * returns) to the queue with `positions` and the forgotten keys; resolves once fewer than
   * `max_batches_in_flight` batches are in flight.
   */
  async send(lines: Buffer, events: number, origin: string, positions: SourcePosition[], own: SourcePosition): Promise<void> {
    this.book.takeForgets(positions);
    positions.push(own);
    this.counts.lines += events;
    this.counts.bytes += lines.length;
    this.counts.batches++;
    let sent: Promise<void>;
    try {
      sent = this.ctx.emit({ lines, events, origin, positions });
    } catch (e) {
      sent = Promise.reject(e); // an emit that throws instead of rejecting
    }
    const p = sent.then(
      () => undefined,
      (e: unknown) => {
        this.failed ??= { error: e };
      },
    );
    this.inflight.add(p);
    // Fire and forget on purpose: `p` never rejects (the rejection is kept in `failed` above), and
    // `drain()` and the bound below wait on `p` itself; this only takes it out of the set.
    void p.finally(() => this.inflight.delete(p));
    while (this.inflight.size >= this.maxInFlight) await Promise.race(this.inflight);
  }

  /** Waits for every batch in flight (resolved or not). */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }
}
