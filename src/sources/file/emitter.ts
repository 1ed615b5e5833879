/**
 * The emitter: hands batches to the queue (`ctx.emit`) without waiting for their durability, up to
 * `max_batches_in_flight` at a time, with the positions that ride in the same queue record (the
 * batch's own file position, a replaced key's `null`, and the keys the position book forgot). The
 * first rejected batch stops the source (`failure`); the batches still in flight are waited for
 * (`drain`), never abandoned.
 */
import type { SourcePosition } from '../../queue/types';
import type { BatchBound } from '../../core/component';
import type { SourceContext } from '../../core/source';
import { formatSize } from '../../core/units';
import { heldBound } from '../decode/config';
import { framedBound, frameLines } from '../lines';
import { MAX_FORGETS_PER_BATCH, positionOf } from './book';
import type { PositionBook } from './book';
import type { FileSourceConfig } from './config';
import type { Identities } from './identity';
import { extendTail, POSITION_HEADER_BYTES } from './position';
import type { Lines, Tailer } from './tailer';

/** A path as the source records it (origin, position) at most: Linux's PATH_MAX. */
const MAX_PATH_BYTES = 4096;
/** A position key at most: `<source id (<= 64)>:<fingerprint (16 hex)>@<dev:ino>`. */
const MAX_KEY_BYTES = 128;
/** The positions one batch carries at most, encoded: its own, a replaced key's `null`, the forgotten keys. */
const MAX_POSITIONS_BYTES = 4 + (MAX_FORGETS_PER_BATCH + 2) * (2 + MAX_KEY_BYTES + 4) + POSITION_HEADER_BYTES + MAX_PATH_BYTES;

/**
 * The largest batch this source can emit: one read after what the tailer holds (a partial line, or
 * the pending event), framed, with its origin and positions. Decoded events (`multiline`,
 * `decoding`) are NDJSON and add their JSON per event on top, which no key bounds: the tailer cuts
 * them into batches of at most `decodedCap` instead.
 */
export function batchBound(c: FileSourceConfig): BatchBound {
  const held = heldBound(c);
  return {
    bytes: framedBound(c.read_buffer_bytes + held.bytes, c.max_line_bytes) + MAX_PATH_BYTES + MAX_POSITIONS_BYTES,
    key: 'read_buffer_bytes',
    from: `read_buffer_bytes ${formatSize(c.read_buffer_bytes)} + ${held.key} ${formatSize(held.bytes)} + positions`,
    fix: `lower read_buffer_bytes or ${held.key}`,
  };
}

/**
 * Decoded output (NDJSON, many times the bytes read for short lines) one batch carries at most: half
 * of what a record holds besides the origin and positions, so the line that passes it — adding one
 * event and the lines held behind it — still fits. Undefined `recordBytes` (no queue): no bound.
 */
export const decodedCap = (recordBytes: number | undefined): number =>
  recordBytes === undefined ? Infinity : Math.max(64 * 1024, Math.floor((recordBytes - MAX_PATH_BYTES - MAX_POSITIONS_BYTES) / 2));

/** What the emitter counts (part of `FileSourceMetrics`). */
export interface EmitCounts {
  lines: number;
  bytes: number;
  batches: number;
  flushedPartialLines: number;
}

export class Emitter {
  private readonly inflight = new Set<Promise<void>>();
  private failed: { readonly error: unknown } | null = null;

  constructor(
    private readonly ctx: SourceContext,
    private readonly maxInFlight: number,
    private readonly book: PositionBook,
    private readonly ids: Identities,
    private readonly counts: EmitCounts,
    /** With a decoder: a truncated file's orphaned carry as events (a fresh assembler, to its end). */
    private readonly orphanFramer: ((carry: Buffer, origin: string) => { lines: Buffer; events: number; format: 'events' }) | null = null,
  ) {}

  /**
   * Emits lines read from `t` with its position (just after them); a pending key upgrade rides
   * along (the old key `null`, the new one set: one durable write).
   */
  async fromTailer(t: Tailer, got: Lines): Promise<void> {
    if (!t.identity) return;
    const positions: SourcePosition[] = [];
    const up = t.upgrade;
    if (up) {
      t.upgrade = null;
      if (!this.ids.taken(up.key)) {
        // (else another file took that key meanwhile: keep the short key, the next scan retries)
        positions.push({ key: t.identity.key, value: null });
        this.ids.assign(t, up);
      }
    }
    const id = t.identity;
    t.emitted(got.endOffset, got.tail);
    await this.send(got.lines, got.events, t.path, positions, positionOf(id.key, id.fpLen, got.endOffset, got.tail, t.path), got.format);
  }

  /**
   * Emits the partial lines truncated files left behind (`Remembered.carry`) once no copy took
   * their positions over within `rotateWaitMs`: each a line of its own, with a `\n` added.
   */
  async orphans(now: number, rotateWaitMs: number, maxLine: number): Promise<void> {
    for (const k of this.book.list()) {
      if (!k.carry || now - k.since < rotateWaitMs || this.book.get(k.key) !== k) continue;
      const f = this.orphanFramer ? this.orphanFramer(k.carry, k.path) : { ...frameLines(k.carry, maxLine, true), format: undefined };
      const offset = k.offset + k.carry.length;
      const tail = extendTail(k.tail, k.carry);
      const { carry: _emitted, ...rest } = k;
      this.book.remember({ ...rest, offset, tail });
      this.counts.flushedPartialLines++;
      if (f.events > 0) await this.send(f.lines, f.events, k.path, [], positionOf(k.key, k.fpLen, offset, tail, k.path), f.format);
    }
  }

  /** The first rejection of `ctx.emit`, once there was one. */
  get failure(): { readonly error: unknown } | null {
    return this.failed;
  }

  /**
   * Hands `lines` (a view into the source's reused read buffer is fine: `emit` copies it before it
   * returns) to the queue with `positions` and the forgotten keys; resolves once fewer than
   * `max_batches_in_flight` batches are in flight.
   */
  private async send(lines: Buffer, events: number, origin: string, positions: SourcePosition[], own: SourcePosition, format?: 'events'): Promise<void> {
    this.book.takeForgets(positions);
    positions.push(own);
    this.counts.lines += events;
    this.counts.bytes += lines.length;
    this.counts.batches++;
    let sent: Promise<void>;
    try {
      sent = this.ctx.emit(format === undefined ? { lines, events, origin, positions } : { lines, events, origin, positions, format });
    } catch (e) {
      sent = Promise.reject(e instanceof Error ? e : new Error(String(e))); // an emit that throws instead of rejecting
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
