/**
 * Memory for record payloads, reused instead of allocated per append. An append given its payload
 * as parts (`Queue.append([header, lines])`) has them copied, once, into a slot of a chunk;
 * the writer writes the frame from there, the read cache serves consumers from there, and the slot
 * is released when every consumer has acknowledged the record (`ReadSide.release`). A chunk whose
 * slots are all released is reused (a few are kept free), so a steady stream of batches cycles
 * through a few chunks instead of leaving a trail of buffers for the garbage collector (which V8
 * frees late, and which glibc keeps in RSS: docs/agent.md, "Performance").
 *
 * Safety rule: a slot is released only when no one can still read it — the writer is done with it
 * (its append resolved), the read cache has dropped it, and every consumer's acknowledged low-water
 * mark is past it. A slot whose release cannot be proven (too many dropped records waiting for a
 * slow consumer, a failed append) is never released: its chunk is then simply left to the garbage
 * collector, never reused. Payloads larger than half a chunk get memory of their own.
 *
 * The read side borrows whole chunks from the same pool for reading segment files back
 * (`takeChunk`): a consumer further behind than the read cache then reads into the chunks the
 * cache gave back, instead of into memory of its own beside them.
 */
const MiB = 1024 * 1024;
/**
 * Four of the file source's default batches (512 KiB of lines, plus a partial line carried over and
 * the envelope) fit in one chunk: with exactly 2 MiB only three would, and a quarter of every chunk
 * would go unused.
 */
export const ARENA_CHUNK_BYTES = 2 * MiB + 128 * 1024;
/**
 * Chunks with every slot released, kept for reuse. Fewer made the pool churn in the pipeline
 * benchmark (a chunk dropped for the GC, then a new one allocated a moment later: both in RSS).
 */
const KEEP_FREE = 4;

export class Chunk {
  used = 0;
  /** Slots handed out and not released. */
  refs = 0;
  constructor(readonly buf: Buffer) {}
}

export class RecordArena {
  private current: Chunk | null = null;
  private readonly free: Chunk[] = [];
  /** Chunks allocated so far (a steady stream should need only a few). */
  chunksAllocated = 0;

  constructor(readonly chunkBytes = ARENA_CHUNK_BYTES) {}

  /** `n` bytes for one payload, and the chunk to release them to (null: not pooled, nothing to release). */
  take(n: number): { readonly buf: Buffer; readonly chunk: Chunk | null } {
    if (n > this.chunkBytes / 2) return { buf: Buffer.allocUnsafeSlow(n), chunk: null };
    let c = this.current;
    if (c === null || c.buf.length - c.used < n) {
      if (c !== null && c.refs === 0) c.used = 0;
      else {
        c = this.free.pop() ?? this.newChunk();
        this.current = c;
      }
    }
    const at = c.used;
    c.used = Math.min(c.buf.length, (at + n + 7) & ~7);
    c.refs++;
    return { buf: c.buf.subarray(at, at + n), chunk: c };
  }

  /** A whole chunk (a free one, or a new one), taken until `release`d once. */
  takeChunk(): Chunk {
    const c = this.free.pop() ?? this.newChunk();
    c.used = c.buf.length;
    c.refs = 1;
    return c;
  }

  private newChunk(): Chunk {
    this.chunksAllocated++;
    return new Chunk(Buffer.allocUnsafeSlow(this.chunkBytes));
  }

  /** A slot of `c` will never be read again. */
  release(c: Chunk): void {
    c.refs--;
    if (c.refs > 0 || c === this.current) return;
    c.used = 0;
    if (this.free.length < KEEP_FREE) this.free.push(c);
  }
}
