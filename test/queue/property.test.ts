/**
 * Seeded simulation runs of the real queue on the simulated disk (see ./sim-harness.ts for what a
 * run does and checks). Environment:
 *
 * - `SLUICE_SIM_RUNS=n`  how many seeds to run (default 2000)
 * - `SLUICE_SIM_BASE=n`  the first seed of the sweep (default 1): explore new seeds with it
 * - `SLUICE_SIM_SEED=n`  replay one seed only, with the file system trace, and print its log
 * - `SLUICE_SIM_CONFIG='{"pipelined":true,"faults":{"eio":0.01}}'`  override part of every run's
 *   configuration (see `RunConfig` in ./sim-harness.ts) to push on one corner
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openQueue } from '../../src/queue';
import { describeFailure, emptyStats, runSimulation, shrink, type RunConfig, type RunOptions, type RunResult, type RunStats } from './sim-harness';
import { isSimCrash } from './sim-fs';

const envInt = (name: string): number | undefined => {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
};

const RUNS = envInt('SLUICE_SIM_RUNS') ?? 2000;
const BASE = envInt('SLUICE_SIM_BASE') ?? 1;
const ONE = envInt('SLUICE_SIM_SEED');
const OVERRIDES = ((): Partial<RunConfig> | undefined => {
  const v = process.env['SLUICE_SIM_CONFIG'];
  if (v === undefined || v === '') return undefined;
  const parsed: unknown = JSON.parse(v);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('SLUICE_SIM_CONFIG must be a JSON object');
  return parsed;
})();
const OPTS: RunOptions = OVERRIDES === undefined ? {} : { overrides: OVERRIDES };

/** Unhandled rejections are failures, except those of operations cut short by a simulated crash. */
const unhandled: unknown[] = [];
process.on('unhandledRejection', (err: unknown) => {
  let e: unknown = err;
  for (let i = 0; i < 10 && e instanceof Error; i++, e = e.cause) if (isSimCrash(e)) return;
  unhandled.push(err);
});

if (ONE !== undefined) {
  test(`simulation seed ${ONE} replays and keeps every promise`, async () => {
    const r = await runSimulation(openQueue, ONE, { ...OPTS, fsTrace: true });
    console.log(describeFailure(r, 100_000));
    console.log(`stats: ${JSON.stringify(r.stats)}`);
    if (r.failure !== null) assert.fail(describeFailure(await shrink(openQueue, r, OPTS)));
  });
} else {
  test(`${RUNS} seeded simulation runs (crashes, restarts, faults) never lose, change, reorder or invent a record`, async () => {
    const started = Date.now();
    const total: RunStats = emptyStats();
    const failed: RunResult[] = [];
    for (let seed = BASE; seed < BASE + RUNS; seed++) {
      const before = unhandled.length;
      const r = await runSimulation(openQueue, seed, OPTS);
      if (unhandled.length > before && r.failure === null) {
        const err = unhandled[before];
        failed.push({ ...r, failure: `unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
      } else if (r.failure !== null) failed.push(r);
      for (const k of Object.keys(total) as (keyof RunStats)[]) total[k] += r.stats[k];
      if (failed.length >= 5) break;
    }
    console.log(
      `simulation: ${RUNS} runs from base seed ${BASE}${OVERRIDES ? ` with ${JSON.stringify(OVERRIDES)}` : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s; ${JSON.stringify(total)}`,
    );
    if (failed.length > 0) {
      const first = failed[0] as RunResult;
      const small = first.failure?.startsWith('unhandled rejection') === true ? first : await shrink(openQueue, first, OPTS);
      assert.fail(
        [
          `${failed.length} failing seed(s): ${failed.map((f) => f.seed).join(', ')}`,
          describeFailure(small),
          ...failed.slice(1).map((f) => `seed ${f.seed}: ${f.failure}`),
        ].join('\n'),
      );
    }
  });
}
