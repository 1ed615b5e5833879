import { seededRandom } from '../../src/core/node-ports';

/** A small, seeded, repeatable PRNG for tests that print their seed. Returns [0, 1). */
export function mulberry32(seed: number): () => number {
  const r = seededRandom(seed);
  return () => r.next();
}
