/**
 * The contract between the writer and the readers, and nothing else: readers never reach into the
 * writer's state. The writer (`./writer.ts`) implements `LogView`; the read side (`./reader.ts`)
 * gets every record the moment its append resolves as a `CommittedRecord` (for the read cache) and
 * otherwise reads the segment files below each segment's `durableSize`.
 *
 * Rules the writer keeps for readers:
 * - `durableId` only grows, and every record below it is readable (from a segment in `segments`,
 *   below that segment's `durableSize`, or lost to damage that recovery or a reader counts);
 * - `segments` (shared with the ledger, which removes passed segments from the front) is in id
 *   order; a segment's bytes below `durableSize` never change;
 * - `waitForData` resolves when `durableId` moved, when the queue stopped (closed or failed), or
 *   when the signal aborts; a caller checks `failure()` and `stopped()` after it.
 */
import type { Chunk } from './arena';
import type { Segment, SegmentList } from './segment';

/** A record whose append resolved, as the writer hands it to the read cache. */
export interface CommittedRecord {
  readonly id: number;
  readonly events: number;
  readonly payload: Buffer;
  /** Frame size on disk (header + payload + positions). */
  readonly frameLen: number;
  /** The segment it was written to, and the offset right after its frame. */
  readonly seg: Segment | null;
  readonly endOffset: number;
  /** Where `payload` lives when the queue copied it into reused memory (released once every consumer acked it). */
  readonly chunk: Chunk | null;
}

/** What readers may know about the log (implemented by the writer). */
export interface LogView {
  /** The id after the last record whose append resolved: readers stop below it. */
  readonly durableId: number;
  /** The live segments, in id order. */
  readonly segments: SegmentList;
  /** The I/O failure that stopped the queue, or null. */
  failure(): Error | null;
  /** Closed or failed: reads end. */
  stopped(): boolean;
  /** Resolves when more is durable, the queue stops, or `signal` aborts. */
  waitForData(signal: AbortSignal | undefined): Promise<void>;
}

/** Readers waiting for data: the writer wakes them all when something happens (`LogView.waitForData`). */
export class DataSignal {
  private waiting = new Set<() => void>();

  wait(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let onAbort: (() => void) | null = null;
      const done = (): void => {
        this.waiting.delete(done);
        if (onAbort !== null) signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal !== undefined) {
        onAbort = done;
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.waiting.add(done);
    });
  }

  wakeAll(): void {
    const waiting = this.waiting;
    if (waiting.size > 0) {
      this.waiting = new Set();
      for (const w of waiting) w();
    }
  }
}
