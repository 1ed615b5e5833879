/**
 * Acknowledgements of one consumer: records handed out are remembered in id order, acks may come
 * in any order, and they fold into a contiguous low-water mark (`acked`: every record below it is
 * acknowledged). Only the low-water mark is ever persisted (by the ledger), so a crash redelivers
 * whatever was acknowledged out of order above it: duplicates, never loss.
 */
import type { QueueRecord } from './types';
import { QueueUsageError } from './errors';
import { Fifo } from './util';

interface Outstanding {
  readonly id: number;
  readonly nextId: number;
  acked: boolean;
  /** The sink's checkpoint after this record (given with its ack), or null. */
  checkpoint: Uint8Array | null;
  /** When the ack came (a counter): among checkpoints folded, the newest one wins. */
  ackSeq: number;
}

export class AckTracker {
  /** The low-water mark: every record below it is acknowledged. */
  acked: number;
  /**
   * The newest checkpoint (in ack order) given with an ack below the low-water mark: a sink's state
   * after the records below it (the file sink's output length). Newest in time, not in id order: a
   * group retried after a failure is written after groups above it, so the state after it is the
   * later one (the file sink's output only grows).
   */
  checkpoint: Uint8Array | null;
  private checkpointSeq = -1;
  private acks = 0;
  /** The id after the last record ever handed out (an ack at or above it is a usage error). */
  private handedMax: number;
  /** Records handed out and not yet folded into `acked`, in id order. */
  private readonly outstanding = new Fifo<Outstanding>();

  constructor(
    private readonly consumer: string,
    start: number,
    checkpoint: Uint8Array | null = null,
  ) {
    this.acked = start;
    this.checkpoint = checkpoint;
    this.handedMax = start;
  }

  /** A read returned `records`; the reader's next id is now `given`. */
  handOut(records: readonly QueueRecord[], given: number): void {
    for (const r of records) this.outstanding.push({ id: r.id, nextId: r.id + r.events, acked: false, checkpoint: null, ackSeq: -1 });
    if (given > this.handedMax) this.handedMax = given;
  }

  /**
   * The reader skipped to `given` past ids with nothing readable (lost to damage, or a cursor inside
   * a gap). With nothing outstanding the low-water mark follows. True if it moved.
   */
  skipTo(given: number): boolean {
    if (given > this.handedMax) this.handedMax = given;
    if (this.outstanding.length === 0 && this.acked < given) {
      this.acked = given;
      return true;
    }
    return false;
  }

  /**
   * Acknowledges the record `id` (with the sink's `checkpoint` after it, if any). Returns its event
   * count if this ack is new (null when it was acked before, or forgotten by a rewind), and whether
   * the low-water mark moved.
   */
  ack(id: number, checkpoint: Uint8Array | null = null): { readonly events: number; readonly moved: boolean } | null {
    if (id < this.acked) return null;
    if (id >= this.handedMax) {
      throw new QueueUsageError(`consumer ${this.consumer}: ack(${id}) for a record that was never read (read up to ${this.handedMax})`);
    }
    // Binary search: outstanding is in id order.
    let lo = 0;
    let hi = this.outstanding.length - 1;
    let o: Outstanding | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const x = this.outstanding.at(mid) as Outstanding;
      if (x.id === id) {
        o = x;
        break;
      }
      if (x.id < id) lo = mid + 1;
      else hi = mid - 1;
    }
    if (o === undefined || o.acked) return null; // acked twice, or rewound: the record will be read again
    o.acked = true;
    o.checkpoint = checkpoint;
    o.ackSeq = this.acks++;
    let moved = false;
    for (let h = this.outstanding.peek(); h !== undefined && h.acked; h = this.outstanding.peek()) {
      this.acked = h.nextId;
      if (h.checkpoint !== null && h.ackSeq > this.checkpointSeq) {
        this.checkpoint = h.checkpoint;
        this.checkpointSeq = h.ackSeq;
      }
      this.outstanding.shift();
      moved = true;
    }
    return { events: o.nextId - o.id, moved };
  }

  /** Replaces the checkpoint at the low-water mark (newer than any given with an ack so far). */
  setCheckpoint(checkpoint: Uint8Array): void {
    this.checkpoint = checkpoint;
    this.checkpointSeq = this.acks++;
  }

  /** Forgets every record handed out and not acknowledged (a rewind). */
  clear(): void {
    this.outstanding.clear();
  }
}
