/** What the source benches share: running one source until it has emitted a known number of events. */
import type { Source, SourceBatch } from '../src/core/source';

export const now = (): number => Number(process.hrtime.bigint()) / 1e6;
export const quiet = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Runs `src` until it has emitted `events` events (each batch handed to `emitTo` first, if given),
 * then stops it. Milliseconds from start to the last event, and the number of batches.
 */
export async function drainSource(name: string, src: Source, events: number, emitTo?: (b: SourceBatch) => Promise<void>): Promise<{ ms: number; batches: number }> {
  const ac = new AbortController();
  let got = 0;
  let batches = 0;
  let end = 0;
  let finish: () => void = () => undefined;
  const all = new Promise<void>((r) => (finish = r));
  const t0 = now();
  const running = src.run({
    id: 'bench',
    positions: new Map(),
    log: quiet,
    signal: ac.signal,
    emit: async (b) => {
      if (emitTo) await emitTo(b);
      got += b.events;
      batches++;
      if (got >= events) {
        end = now();
        finish();
      }
    },
  });
  await Promise.race([all, running]);
  ac.abort();
  await running;
  if (got !== events) throw new Error(`${name}: ${got} of ${events} events`);
  return { ms: end - t0, batches };
}
