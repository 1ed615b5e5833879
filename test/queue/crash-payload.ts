/** Payloads whose content is derivable from (round, producer, n), so a reader can check every byte. */

export { mulberry32 } from '../util/random';

const fillerLen = (round: number, p: number, n: number): number => ((n * 7919 + p * 104729 + round * 13) % 5000) + 1;

export function crashPayload(round: number, p: number, n: number): Buffer {
  const head = `${round}:${p}:${n}:`;
  const len = fillerLen(round, p, n);
  const b = Buffer.allocUnsafe(head.length + len);
  b.write(head, 0, 'latin1');
  for (let i = 0; i < len; i++) b[head.length + i] = 97 + ((p * 31 + n * 17 + i) % 26);
  return b;
}

/** The (round, producer, n) a payload was made from, or null if any byte is not what it should be. */
export function parseCrashPayload(b: Buffer): { round: number; p: number; n: number } | null {
  const m = /^(\d+):(\d+):(\d+):/.exec(b.toString('latin1', 0, Math.min(b.length, 40)));
  if (m === null) return null;
  const round = Number(m[1]);
  const p = Number(m[2]);
  const n = Number(m[3]);
  return crashPayload(round, p, n).equals(b) ? { round, p, n } : null;
}
