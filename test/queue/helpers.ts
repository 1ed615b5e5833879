import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Consumer, QueueRecord } from '../../src/queue/types';
import type { SimClock } from './sim-fs';

/** A fresh directory under the OS temp dir; removed by the returned cleanup. */
export function tempDir(prefix = 'sluice-queue-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reads until `n` records arrived (bounded: fails after `maxReads` empty reads or a 5 s abort). */
export async function readN(c: Consumer, n: number): Promise<QueueRecord[]> {
  const out: QueueRecord[] = [];
  const signal = AbortSignal.timeout(5000);
  while (out.length < n) {
    const got = await c.read({ signal });
    if (got.length === 0) throw new Error(`read returned nothing after ${out.length} of ${n} records`);
    out.push(...got);
  }
  return out;
}

/** Reads whatever is durable now, without waiting for more. */
export async function readAvailable(c: Consumer): Promise<QueueRecord[]> {
  const out: QueueRecord[] = [];
  for (;;) {
    const ac = new AbortController();
    const t = setTimeout(() => ac.abort(), 50);
    const got = await c.read({ signal: ac.signal });
    clearTimeout(t);
    if (got.length === 0) return out;
    out.push(...got);
  }
}

export const text = (r: QueueRecord): string => r.payload.toString('utf8');

/**
 * Drives the simulated clock until `p` settles: resolves to its value, rejects with its error, or
 * with "`what` did not finish" when it neither resolves nor rejects within `maxMs` of virtual time.
 */
export async function settled<T>(clock: SimClock, p: Promise<T>, what: string, maxMs = 60_000): Promise<T> {
  const out = await clock.runUntil(p, { maxMs });
  if (out.status === 'resolved') return out.value;
  if (out.status === 'rejected') throw out.error;
  throw new Error(`${what} did not finish (${out.status})`);
}
