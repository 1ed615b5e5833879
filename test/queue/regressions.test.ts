/**
 * Seeds of the queue simulation (./sim-harness.ts) that once failed, replayed on every test run so
 * a fixed bug stays fixed. Each entry names the finding in ./FINDINGS.md. A seed whose fix has not
 * landed yet is marked `todo` (it runs and reports, but does not fail the suite).
 *
 * Replay one with its trace: `SLUICE_SIM_SEED=<seed> node scripts/test.js test/queue/property`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openQueue } from '../../src/queue';
import type { FileHandle, FileSystem } from '../../src/queue/ports';
import { describeFailure, runSimulation, shrink } from './sim-harness';

interface Regression {
  readonly seed: number;
  readonly finding: string;
  /** Present while the fix has not landed: why the seed still fails. */
  readonly todo?: string;
  readonly strictCursors?: boolean;
}

const TODO_F1 = 'F1 open: readFromDisk loops on a stop-before frame (see FINDINGS.md)';

const REGRESSIONS: readonly Regression[] = [
  { seed: 144, finding: 'F1: a read with maxBytes from disk spins forever when the next record does not fit', todo: TODO_F1 },
  { seed: 158, finding: 'F1', todo: TODO_F1 },
  { seed: 179, finding: 'F1', todo: TODO_F1 },
  { seed: 262, finding: 'F1', todo: TODO_F1 },
  {
    seed: 463,
    finding: 'F2: an EIO while reading a cursor file resets that consumer to the oldest record',
    strictCursors: true,
    todo: 'F2 open: an unreadable cursor file is treated as damaged (duplicates after a graceful stop)',
  },
];

for (const r of REGRESSIONS) {
  test(`simulation seed ${r.seed} passes (${r.finding})`, r.todo === undefined ? {} : { todo: r.todo }, async () => {
    const opts = r.strictCursors === true ? { strictCursors: true } : {};
    const result = await runSimulation(openQueue, r.seed, opts);
    if (result.failure !== null) assert.fail(describeFailure(await shrink(openQueue, result, opts)));
  });
}

/** A file system whose fdatasync returns at once without syncing anything: a disk that lies. */
function lyingDatasync(fs: FileSystem): FileSystem {
  const wrap = (h: FileHandle): FileHandle => ({
    writev: (b) => h.writev(b),
    read: (b, o, l, p) => h.read(b, o, l, p),
    datasync: () => Promise.resolve(),
    truncate: (n) => h.truncate(n),
    stat: () => h.stat(),
    close: () => h.close(),
  });
  return {
    open: async (p, m) => wrap(await fs.open(p, m)),
    readdir: (d) => fs.readdir(d),
    mkdirp: (d) => fs.mkdirp(d),
    rename: (a, b) => fs.rename(a, b),
    unlink: (p) => fs.unlink(p),
    stat: (p) => fs.stat(p),
    syncDir: (d) => fs.syncDir(d),
    processAlive: (pid) => fs.processAlive(pid),
    pid: fs.pid,
  };
}

test('the simulation notices when acknowledged appends are not durable (a disk whose fdatasync lies)', async () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 40 && failures.length === 0; seed++) {
    const r = await runSimulation(openQueue, seed, { wrapFs: lyingDatasync });
    if (r.failure !== null) failures.push(r.failure);
  }
  assert.ok(failures.length > 0, 'forty runs on a lying disk passed: the harness would miss lost acknowledged data');
  assert.match(failures[0] as string, /lost record|below the persisted cursor|positions\(\)/);
});
