/**
 * A consumer (`Consumer` in ./types.ts): one reader position (./reader.ts), one ack tracker
 * (./acks.ts) and one cursor in the ledger (./ledger.ts), glued together. It sees the writer only
 * through `LogView`.
 */
import { asRecordId, type Consumer, type QueueRecord, type RecordId } from './types';
import type { AckTracker } from './acks';
import type { Cursor, Ledger } from './ledger';
import type { LogView } from './log-view';
import type { Reader, ReadSide } from './reader';

const DEFAULT_READ_RECORDS = 1024;
const DEFAULT_READ_BYTES = 4 * 1024 * 1024;

/** What the queue wants to hear about acknowledgements. */
export interface AckHooks {
  /** A record of `events` events was acknowledged (for the first time). */
  counted(events: number): void;
  /** The low-water mark moved (appends waiting for space may get it once it is persisted). */
  advanced(): void;
  /** Ids [fromId, toId) could not be read back from the segment files and were passed over. */
  skipped(consumer: string, fromId: number, toId: number): void;
}

export class QueueConsumer implements Consumer {
  /** Bumped by rewind(): a read that was in flight across it is discarded and redone. */
  private epoch = 0;
  private readChain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    private readonly view: LogView,
    private readonly side: ReadSide,
    private readonly reader: Reader,
    private readonly acks: AckTracker,
    private readonly ledger: Ledger,
    private readonly cursor: Cursor,
    private readonly hooks: AckHooks,
    /** `fsync: never`: no checkpoint is handed out (see `Consumer.checkpoint`). */
    private readonly noCheckpoints: boolean,
  ) {}

  get ackedUpTo(): RecordId {
    return asRecordId(this.acks.acked);
  }

  get checkpoint(): Uint8Array | null {
    return this.noCheckpoints ? null : this.acks.checkpoint;
  }

  read(opts?: { maxRecords?: number; maxBytes?: number; signal?: AbortSignal }): Promise<QueueRecord[]> {
    const run = this.readChain.then(() => this.readNow(opts));
    // The chain only serializes reads; the caller gets `run` with its outcome.
    this.readChain = run.catch(() => undefined);
    return run;
  }

  private async readNow(opts?: { maxRecords?: number; maxBytes?: number; signal?: AbortSignal }): Promise<QueueRecord[]> {
    const maxRecords = Math.max(1, opts?.maxRecords ?? DEFAULT_READ_RECORDS);
    const maxBytes = Math.max(1, opts?.maxBytes ?? DEFAULT_READ_BYTES);
    const signal = opts?.signal;
    const r = this.reader;
    for (;;) {
      // A failed queue rejects every read with the failure: resolving [] (as after close) would let a
      // consumer that reads again at once spin without end (a sink loop starving the event loop).
      const failure = this.view.failure();
      if (failure !== null) throw failure;
      if (this.view.stopped() || signal?.aborted === true) return [];
      if (r.given < this.view.durableId) {
        const epoch = this.epoch;
        const out = this.side.fromCache(r, maxRecords, maxBytes) ?? (await this.side.fromDisk(r, maxRecords, maxBytes));
        if (epoch !== this.epoch) {
          // rewind() ran while this read was on disk: forget what it found and start over.
          this.side.seek(r, this.acks.acked);
          continue;
        }
        if (out.length > 0) {
          this.acks.handOut(out, r.given);
          return out;
        }
        // Nothing readable below the durable end (ids lost to damage, or a cursor inside a gap):
        // passed over, and said (a loss is never silent).
        this.hooks.skipped(this.name, r.given, this.view.durableId);
        r.given = this.view.durableId;
        if (this.acks.skipTo(r.given)) this.hooks.advanced();
        continue;
      }
      await this.view.waitForData(signal);
    }
  }

  ack(id: RecordId, checkpoint?: Uint8Array): void {
    const done = this.acks.ack(id, checkpoint ?? null);
    if (done === null) return;
    this.hooks.counted(done.events);
    if (done.moved) this.hooks.advanced();
  }

  rewind(): void {
    this.epoch++;
    this.acks.clear();
    this.side.seek(this.reader, this.acks.acked);
  }

  flushCursor(): Promise<void> {
    return this.ledger.flush(this.cursor);
  }

  setCheckpoint(checkpoint: Uint8Array): void {
    this.acks.setCheckpoint(checkpoint);
  }

  saveCursor(): Promise<void> {
    return this.ledger.save(this.cursor);
  }
}
