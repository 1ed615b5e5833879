/**
 * The contract between the pipeline and a sink. The pipeline reads a group of records from the
 * sink's queue consumer, hands the batches this sink subscribes to (`inputs`) to `write`, and
 * acknowledges the group to the queue only when `write` resolves. So `write` must resolve only once
 * every byte is where the sink promises it to be (the file sink: written and fdatasynced), and must
 * reject otherwise; the pipeline then retries the same group with backoff, forever.
 *
 * Every batch carries the id of the queue record it came from (`Envelope.recordId`). Ids are never
 * reused, so event `i` of a batch has the deterministic id `recordId + i`: a sink may use it as an
 * idempotency key (exactly-once into a destination that deduplicates).
 */
import type { ComponentContext, SinkBaseConfig } from './component';
import type { Envelope } from './envelope';

export type Encoding = SinkBaseConfig['encoding'];

/** What a sink's factory gets: its id, diagnostics and the ports. */
export type SinkContext = ComponentContext;

export interface Sink {
  /**
   * Deliver these batches (in order). Resolves when they are written; rejects if any is not, in
   * which case the sink leaves its destination as it was before the call where it can (the file sink
   * truncates a partial write away), so a retry does not duplicate.
   */
  write(batches: readonly Envelope[]): Promise<void>;
  /** Reopen the destination before the next write (SIGHUP: the file was rotated away). */
  reopen(): void;
  /** Release the destination. Called once, after the last write settled. */
  close(): Promise<void>;
}
