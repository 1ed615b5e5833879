/**
 * The end-to-end simulation (./e2e-harness.ts): the real agent — file source, queue, sink runners,
 * file sinks — on the simulated disk, through seeded power losses, kill -9s, graceful stops and
 * rotations, checked against README's guarantees table. Environment (docs/testing.md):
 *
 * - `SLUICE_E2E_SEEDS=1-200`     a range of seeds (default: the fixed range below)
 * - `SLUICE_E2E_SEEDS=random:500` 500 seeds from a random base (printed, so a failure replays)
 * - `SLUICE_E2E_SEEDS=1234`      one seed, with its whole trace printed
 * - `SLUICE_E2E_CONFIG='{"outOfOrder":1}'` override part of every run's configuration (`E2eConfig`)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeE2eFailure, emptyE2eStats, runE2e, type E2eConfig, type E2eResult, type E2eStats } from './e2e-harness';
import { isSimCrash } from '../queue/sim-fs';

/** The range `npm test` runs: a few seconds of CPU. */
const FIXED: readonly [number, number] = [1, 24];

const parseSeeds = (v: string | undefined): { from: number; to: number; one: boolean } => {
  if (v === undefined || v === '') return { from: FIXED[0], to: FIXED[1], one: false };
  const random = /^random:(\d+)$/.exec(v);
  if (random) {
    const n = Number(random[1]);
    const from = 1_000_000 + Math.floor(Math.random() * 1_000_000_000);
    return { from, to: from + n - 1, one: false };
  }
  const range = /^(\d+)-(\d+)$/.exec(v);
  if (range) return { from: Number(range[1]), to: Number(range[2]), one: false };
  if (/^\d+$/.test(v)) return { from: Number(v), to: Number(v), one: true };
  throw new Error(`SLUICE_E2E_SEEDS must be a seed (1234), a range (1-200) or random:N, got ${JSON.stringify(v)}`);
};

const SEEDS = parseSeeds(process.env['SLUICE_E2E_SEEDS']);
const OVERRIDES = ((): Partial<E2eConfig> => {
  const v = process.env['SLUICE_E2E_CONFIG'];
  if (v === undefined || v === '') return {};
  const parsed: unknown = JSON.parse(v);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('SLUICE_E2E_CONFIG must be a JSON object');
  return parsed;
})();

/** Unhandled rejections are failures, except those of operations a simulated crash cut short. */
const unhandled: unknown[] = [];
process.on('unhandledRejection', (err: unknown) => {
  let e: unknown = err;
  for (let i = 0; i < 10 && e instanceof Error; i++, e = e.cause) if (isSimCrash(e)) return;
  unhandled.push(err);
});

const add = (total: E2eStats, s: E2eStats): void => {
  for (const k of Object.keys(total) as (keyof E2eStats)[]) total[k] += s[k];
};

test('an end-to-end seed replays exactly: the same trace, the same agent diagnostics, the same totals', async () => {
  const fingerprint = (r: E2eResult): string => JSON.stringify([r.trace, r.diagnostics, r.stats, r.failure]);
  const first = await runE2e(3, OVERRIDES);
  const again = await runE2e(3, OVERRIDES);
  assert.ok(first.trace.length > 10, 'the run did something');
  assert.equal(fingerprint(again), fingerprint(first));
});

if (SEEDS.one) {
  test(`end-to-end simulation seed ${SEEDS.from} replays and keeps the guarantees`, async () => {
    const r = await runE2e(SEEDS.from, OVERRIDES);
    console.log(describeE2eFailure(r, 100_000));
    assert.equal(unhandled.length, 0, `unhandled rejections: ${unhandled.map(String).join('; ')}`);
    if (r.failure !== null) assert.fail(describeE2eFailure(r));
  });
} else {
  test(`end-to-end simulation, seeds ${SEEDS.from}..${SEEDS.to}: the agent loses no line through power losses, kill -9 and rotation, and duplicates only what the guarantees allow`, async (t) => {
    const started = Date.now();
    const total = emptyE2eStats();
    const failed: E2eResult[] = [];
    for (let seed = SEEDS.from; seed <= SEEDS.to; seed++) {
      const before = unhandled.length;
      const r = await runE2e(seed, OVERRIDES);
      add(total, r.stats);
      if (r.failure !== null) failed.push(r);
      else if (unhandled.length > before) failed.push({ ...r, failure: `unhandled rejection: ${String(unhandled[before])}` });
      if (failed.length >= 3) break;
    }
    t.diagnostic(`end-to-end simulation: seeds ${SEEDS.from}..${SEEDS.to} in ${((Date.now() - started) / 1000).toFixed(1)} s; ${JSON.stringify(total)}`);
    if (failed.length > 0) assert.fail(failed.map((r) => describeE2eFailure(r, 40)).join('\n\n'));
    // The range must keep exercising what it is for (a change of the harness could quietly lose it).
    // `cuts`: file sinks cut their output back to their checkpoint on start, what makes them exactly
    // once (a harness whose sink wrapper dropped `resume` once tested a sink that never cut).
    // Duplicates are not asked for: with one group in flight there are none, and with more only some runs have them.
    if (SEEDS.to - SEEDS.from >= 15) {
      for (const k of ['powerLosses', 'kills', 'gracefulStops', 'rotations', 'crashesInOpen', 'cuts'] as const) assert.ok(total[k] > 0, `the sweep had no ${k}`);
    }
  });
}
