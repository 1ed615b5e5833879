/**
 * Worker-thread buffers the main thread can rescue.
 *
 * When the main thread calls process.exit() (or a signal ends the process), Node stops worker
 * threads without running their `exit` handlers, so whatever a worker's logger had buffered would
 * be lost. A logger in a worker therefore keeps its buffer in a SharedArrayBuffer with a small
 * control block, and announces both on a BroadcastChannel. The main thread (if it loaded sluice)
 * collects them, and its exit / signal flush writes each buffer out under the shared lock:
 *
 *   ctl[CTL_LOCK]   0 free, 1 held (worker: around every append and write; main: during rescue)
 *   ctl[CTL_OFF]    bytes of whole lines in the buffer, published by the worker on unlock
 *   ctl[CTL_CLOSED] 1 once the worker's logger closed or the worker ended: nothing to rescue
 *   ctl[CTL_FD]     the descriptor the worker writes to (descriptors are per process)
 *
 * The main thread only ever empties a buffer (sets CTL_OFF to 0); the worker notices on its next
 * lock and counts those lines as written. A line larger than the whole buffer, written on its own,
 * is not in the shared buffer and cannot be rescued.
 */
import { writeSync } from 'node:fs';
import { BroadcastChannel, isMainThread } from 'node:worker_threads';

export const CTL_LOCK = 0;
export const CTL_OFF = 1;
export const CTL_CLOSED = 2;
export const CTL_FD = 3;

const CHANNEL = 'sluice:logger:worker-buffers';

interface WorkerBuffer {
  readonly ctl: Int32Array;
  readonly buf: Buffer;
}

let buffers: WorkerBuffer[] = [];
let channel: BroadcastChannel | null = null;
let onFirst: (() => void) | null = null;

function channelOf(): BroadcastChannel {
  if (channel === null) {
    channel = new BroadcastChannel(CHANNEL);
    channel.unref();
  }
  return channel;
}

/** Main thread: start collecting worker buffers; `first` runs when the first one arrives. */
export function collectWorkerBuffers(first: () => void): void {
  if (!isMainThread || onFirst !== null) return;
  onFirst = first;
  channelOf().onmessage = (ev: unknown) => {
    const data = (ev as { data?: { ctl?: unknown; buf?: unknown } }).data;
    if (!(data?.ctl instanceof SharedArrayBuffer) || !(data.buf instanceof SharedArrayBuffer)) return;
    buffers = buffers.filter((b) => Atomics.load(b.ctl, CTL_CLOSED) === 0);
    buffers.push({ ctl: new Int32Array(data.ctl), buf: Buffer.from(data.buf) });
    onFirst?.();
  };
}

/** Worker thread: make a logger's buffer known to the main thread. */
export function announceWorkerBuffer(ctl: Int32Array, buf: Buffer): void {
  channelOf().postMessage({ ctl: ctl.buffer, buf: buf.buffer });
}

/** Main thread, at exit or on a signal: writes out what every live worker logger has buffered. */
export function rescueWorkerBuffers(): void {
  for (const b of buffers) {
    const c = b.ctl;
    if (Atomics.load(c, CTL_CLOSED) !== 0) continue;
    const until = Date.now() + 250;
    let locked: boolean;
    while (!(locked = Atomics.compareExchange(c, CTL_LOCK, 0, 1) === 0) && Date.now() < until) Atomics.wait(c, CTL_LOCK, 1, 5);
    if (!locked) continue; // the worker is stuck in a write of its own; do not wait for ever
    try {
      const off = Atomics.load(c, CTL_OFF);
      if (Atomics.load(c, CTL_CLOSED) === 0 && off > 0) {
        const fd = Atomics.load(c, CTL_FD);
        let done = 0;
        while (done < off) done += writeSync(fd, b.buf, done, off - done);
        Atomics.store(c, CTL_OFF, 0);
      }
    } catch {
      // the process is ending; the worker's logger reports its own destination errors
    } finally {
      Atomics.store(c, CTL_LOCK, 0);
      Atomics.notify(c, CTL_LOCK);
    }
  }
}
