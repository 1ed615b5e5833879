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
import type { FileHandle, FileSystem } from '../../src/core/ports';
import type { Queue, QueueOptions, QueueRecord } from '../../src/queue/types';
import { describeFailure, runSimulation, shrink, type RunConfig } from './sim-harness';
import { SimClock, SimFileSystem } from './sim-fs';
import { settled } from './helpers';

interface Regression {
  readonly seed: number;
  readonly finding: string;
  /** Present while the fix has not landed: why the seed still fails. */
  readonly todo?: string;
  /** Part of the run's configuration changed from what the seed gives (see `RunConfig`). */
  readonly overrides?: Partial<RunConfig>;
}

/**
 * Seeds are tied to the harness and to the queue's sequence of file system steps: a change to
 * either can make an old seed take another path. The scenario tests at the end of this file pin
 * each finding independently of that; the seeds keep the full random context that first found it.
 * (Seeds below fail with the current harness against the queue at 42b329f (F1–F5) and 08bc485 (F6);
 * the F-OOO seeds fail with the queue of their fix when its recovery rule is taken out.)
 */
const REGRESSIONS: readonly Regression[] = [
  { seed: 28, finding: 'F1: a read with maxBytes from disk spun forever when the next record did not fit' },
  { seed: 341, finding: 'F1' },
  { seed: 690, finding: 'F1' },
  { seed: 824, finding: 'F1' },
  { seed: 292, finding: 'F2: an EIO reading a cursor file reset that consumer to the oldest record' },
  { seed: 1639, finding: 'F2' },
  {
    seed: 1375,
    finding: 'F5: a full queue never woke its writer after consumers caught up',
    overrides: { segmentBytes: 4096, maxBytes: 8192, fsync: { mode: 'interval', intervalMs: 20 } },
  },
  { seed: 2650, finding: 'F3: close() swallowed a failed unlink of the lock; the same process could not reopen' },
  { seed: 819, finding: 'F4: close() resolved after a write failure without persisting cursors' },
  { seed: 1665, finding: 'F4' },
  { seed: 427, finding: 'F6: an ack during an in-flight read moved ackedUpTo past unacknowledged records' },
  { seed: 777, finding: 'F6' },
  { seed: 827, finding: 'F6' },
  {
    seed: 128,
    finding: 'F-OOO: out-of-order writeback left zeros from the old end of file to a sector boundary; skipped, not cut',
    overrides: { outOfOrder: 1, pageBytes: 512 },
  },
  { seed: 1600, finding: 'F-OOO (whole 4 KiB pages, the old end in the last sector of one)', overrides: { outOfOrder: 1 } },
  { seed: 37900, finding: 'harness: a crash scheduled earlier that fired after the last drive, before the final crash' },
  { seed: 4356, finding: 'harness: a read pending across a rewind whose records the queue had already handed out' },
  { seed: 6559, finding: 'harness: the same, the next read restarting at the low-water mark' },
  { seed: 318454, finding: 'harness: a read started before a cursor flush may return records below the new cursor' },
];

for (const r of REGRESSIONS) {
  test(`simulation seed ${r.seed} passes (${r.finding})`, r.todo === undefined ? {} : { todo: r.todo }, async () => {
    const opts = r.overrides === undefined ? {} : { overrides: r.overrides };
    const result = await runSimulation(openQueue, r.seed, opts);
    if (result.failure !== null) assert.fail(describeFailure(await shrink(openQueue, result, opts)));
  });
}

/** A file system whose fdatasync returns at once without syncing anything: a disk that lies. */
function lyingDatasync(fs: FileSystem): FileSystem {
  const wrap = (h: FileHandle): FileHandle => ({
    writev: (b) => h.writev(b),
    writeAt: (d, p) => h.writeAt(d, p),
    read: (b, o, l, p) => h.read(b, o, l, p),
    datasync: () => Promise.resolve(),
    truncate: (n) => h.truncate(n),
    stat: () => h.stat(),
    close: () => h.close(),
  });
  return forwarding(fs, { open: async (p, m) => wrap(await fs.open(p, m)) });
}

/** Another FileSystem object over the same one (as a metrics or tracing wrapper would be). */
function forwarding(fs: FileSystem, overrides: Partial<FileSystem> = {}): FileSystem {
  return {
    open: (p, m) => fs.open(p, m),
    readdir: (d) => fs.readdir(d),
    mkdirp: (d) => fs.mkdirp(d),
    rename: (a, b) => fs.rename(a, b),
    unlink: (p) => fs.unlink(p),
    stat: (p) => fs.stat(p),
    syncDir: (d) => fs.syncDir(d),
    processAlive: (pid) => fs.processAlive(pid),
    pid: fs.pid,
    ...overrides,
  };
}

/** A file system whose directory fsync does nothing: new files and renames stay volatile. */
const lyingSyncDir = (fs: FileSystem): FileSystem => forwarding(fs, { syncDir: () => Promise.resolve() });

test('the simulation notices when new segment and cursor files are not durable (a disk whose directory fsync lies)', async () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 40 && failures.length === 0; seed++) {
    const r = await runSimulation(openQueue, seed, { wrapFs: lyingSyncDir });
    if (r.failure !== null) failures.push(r.failure);
  }
  assert.ok(failures.length > 0, 'forty runs on a disk that never syncs directories passed: the harness would miss lost files');
  assert.match(failures[0] as string, /lost record|below the persisted cursor|positions\(\)/);
});

test('the simulation notices when acknowledged appends are not durable (a disk whose fdatasync lies)', async () => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 40 && failures.length === 0; seed++) {
    const r = await runSimulation(openQueue, seed, { wrapFs: lyingDatasync });
    if (r.failure !== null) failures.push(r.failure);
  }
  assert.ok(failures.length > 0, 'forty runs on a lying disk passed: the harness would miss lost acknowledged data');
  assert.match(failures[0] as string, /lost record|below the persisted cursor|positions\(\)/);
});

// ---- each finding as a small fixed scenario (independent of how the seeds above evolve) ----------

/** A queue on a fresh simulated disk; `fault` may be set at any time to fail matching steps. */
function world(
  seed: number,
  timedSteps?: number,
): {
  fs: SimFileSystem;
  clock: SimClock;
  setFault(rule: ((syscall: string, path: string) => string | null) | null): void;
  open(extra?: Partial<QueueOptions>): Promise<Queue>;
  run<T>(p: Promise<T>): Promise<T>;
} {
  let rule: ((syscall: string, path: string) => string | null) | null = null;
  const clock = new SimClock();
  const fs = new SimFileSystem({
    seed,
    clock,
    faults: { rule: (syscall, path) => rule?.(syscall, path) ?? null },
    ...(timedSteps === undefined ? {} : { timedSteps }),
  });
  fs.mkdirDurable('/q');
  const run = <T>(p: Promise<T>): Promise<T> => settled(clock, p, 'the queue', 30_000);
  return {
    fs,
    clock,
    setFault: (r) => {
      rule = r;
    },
    open: (extra = {}) => run(openQueue({ dir: '/q', consumers: ['c'], segmentBytes: 4096, ...extra, fs, clock })),
    run,
  };
}

/** One read that gives up after 100 virtual ms with nothing to return. */
async function readOnce(w: ReturnType<typeof world>, q: Queue, opts: { maxRecords?: number; maxBytes?: number } = {}): Promise<QueueRecord[]> {
  const ac = new AbortController();
  const t = w.clock.setTimer(100, () => ac.abort());
  const got = await w.run(q.consumer('c').read({ ...opts, signal: ac.signal }));
  t.cancel();
  return got;
}

const sized = (n: number, fill: string): Buffer => Buffer.alloc(n, fill);

test('F1: a read from disk with maxBytes returns the records that fit when the next one does not', async () => {
  const w = world(1);
  let q = await w.open();
  for (const fill of ['a', 'b', 'c']) await w.run(q.append(sized(100, fill)));
  await w.run(q.close());
  q = await w.open(); // the records now come from disk, not from the cache
  const first = await readOnce(w, q, { maxBytes: 150 });
  assert.deepEqual(first.map((r) => r.payload.toString()[0]), ['a']);
  const rest = await readOnce(w, q, { maxBytes: 1000 });
  assert.deepEqual(rest.map((r) => r.payload.toString()[0]), ['b', 'c']);
  await w.run(q.close());
});

test('F2: an I/O error reading a cursor file fails the open instead of re-delivering everything', async () => {
  const w = world(2);
  let q = await w.open();
  for (const fill of ['a', 'b', 'c']) await w.run(q.append(sized(10, fill)));
  const got = await readOnce(w, q, { maxRecords: 2 });
  for (const r of got) q.consumer('c').ack(r.id);
  await w.run(q.close());
  w.setFault((syscall, path) => (syscall === 'read' && path.endsWith('cursor.c') ? 'EIO' : null));
  const refused = await w.open().then(
    (opened) => {
      q = opened;
      return null;
    },
    (err: { code?: string }) => err,
  );
  if (refused === null) {
    // It opened anyway: then it must still start after what was acknowledged.
    const again = await readOnce(w, q);
    await w.run(q.close());
    assert.deepEqual(again.map((r) => r.payload.toString()[0]), ['c'], 'acknowledged records delivered again after a graceful stop');
    return;
  }
  assert.equal(refused.code, 'SLUICE_QUEUE_IO');
  w.setFault(null);
  q = await w.open();
  assert.deepEqual((await readOnce(w, q)).map((r) => r.payload.toString()[0]), ['c']);
  await w.run(q.close());
});

test('F3: a close that could not remove its lock file says so, or the same process can open the queue again', async () => {
  const w = world(3);
  let q = await w.open();
  await w.run(q.append(sized(10, 'a')));
  w.setFault((syscall, path) => (syscall === 'unlink' && path.endsWith('/lock') ? 'EIO' : null));
  const closeError = await w.run(q.close()).then(
    () => null,
    (err: unknown) => err,
  );
  w.setFault(null);
  if (closeError !== null) return; // reported: the caller knows the stop was not clean
  q = await w.open(); // rejects with SLUICE_QUEUE_LOCKED naming this very process if the lock stayed
  await w.run(q.close());
});

test('F4: close after a write failure either rejects or still persists what consumers acknowledged', async () => {
  const w = world(4);
  let q = await w.open({ cursorFlushMs: 60_000 });
  for (const fill of ['a', 'b']) await w.run(q.append(sized(10, fill)));
  for (const r of await readOnce(w, q)) q.consumer('c').ack(r.id);
  w.setFault((syscall, path) => (syscall === 'writev' && path.includes('seg-') ? 'EIO' : null));
  await assert.rejects(w.run(q.append(sized(10, 'x'))), (err: { code?: string }) => err.code === 'SLUICE_QUEUE_IO');
  w.setFault(null);
  const closeError = await w.run(q.close()).then(
    () => null,
    (err: unknown) => err,
  );
  if (closeError !== null) return; // reported
  q = await w.open();
  const again = await readOnce(w, q);
  await w.run(q.close());
  assert.deepEqual(again.map((r) => r.payload.toString()[0]), [], 'a clean close() must have persisted the acknowledged cursor');
});

test('F5: an append waiting for space resumes once everything in the active segment is acknowledged', async () => {
  // Nothing can be deleted until the acknowledgements are persisted, and something must wake the
  // writer when they arrive. (The scenario once used one segment as large as maxBytes, where only a
  // roll frees space, and failed at 42b329f; openQueue now refuses segmentBytes > maxBytes / 2, so it
  // runs at segmentBytes 4096, maxBytes 8192, where it passes at 42b329f too. The seed 1375 entry
  // above still reproduces F5 there.)
  const w = world(5);
  const q = await w.open({ segmentBytes: 4096, maxBytes: 8192, cursorFlushMs: 60_000 });
  const c = q.consumer('c');
  let resolved = 0;
  const appends = ['a', 'b', 'c'].map((fill) =>
    q.append(sized(3000, fill)).then(() => {
      resolved++;
    }),
  );
  const seen: string[] = [];
  for (let round = 0; round < 10 && resolved < appends.length; round++) {
    for (const r of await readOnce(w, q)) {
      seen.push(r.payload.toString()[0] as string);
      c.ack(r.id);
    }
    await w.run(c.flushCursor());
  }
  assert.equal(resolved, appends.length, `only ${resolved} of ${appends.length} appends resolved although every record was acknowledged`);
  await w.run(Promise.all(appends));
  for (const r of await readOnce(w, q)) seen.push(r.payload.toString()[0] as string);
  assert.equal(seen.join(''), 'abc');
  await w.run(q.close());
});

test('F6: acknowledging while a read is in flight never moves ackedUpTo past the records that read returns', async () => {
  // Sweep the moment of the acks over the in-flight read's microtask turns: the bug lives in a window.
  const problems: string[] = [];
  for (let k = 0; k < 40; k++) {
    const w = world(6, 0); // every step resolves on microtasks: the sweep below is exact
    let q = await w.open({ cursorFlushMs: 60_000 });
    for (const fill of 'abcde') await w.run(q.append(sized(100, fill)));
    await w.run(q.close());
    q = await w.open(); // records come from disk: the read takes several steps
    const c = q.consumer('c');
    const first = await w.run(c.read({ maxRecords: 2 }));
    const second = c.read({ maxRecords: 10 });
    for (let i = 0; i < k; i++) await Promise.resolve();
    for (const r of first) c.ack(r.id);
    const upTo = c.ackedUpTo;
    const got = await w.run(second);
    if (upTo <= (first[1]?.id ?? 0) + 1) continue;
    // The sink acknowledged only a and b, yet the cursor moved on. Persist it, lose power, restart:
    await w.run(c.flushCursor());
    w.fs.crash();
    const fs2 = w.fs.reboot({ clock: new SimClock() });
    const clock2 = fs2.clock as SimClock;
    const reopened = await clock2.runUntil(openQueue({ dir: '/q', consumers: ['c'], segmentBytes: 4096, fs: fs2, clock: clock2 }));
    assert.equal(reopened.status, 'resolved');
    const q2 = (reopened as { value: Queue }).value;
    const ac = new AbortController();
    clock2.setTimer(100, () => ac.abort());
    const after = await clock2.runUntil(q2.consumer('c').read({ signal: ac.signal }));
    const redelivered = after.status === 'resolved' ? after.value.map((r) => r.payload.toString()[0]).join('') : after.status;
    problems.push(
      `acks after ${k} microtasks: ackedUpTo ${upTo} while the in-flight read returned ids ${got.map((r) => r.id).join(',')}; after a flush and a power loss the consumer gets "${redelivered}" (c, d, e never acknowledged)`,
    );
  }
  assert.deepEqual(problems, []);
});

test(
  'F7: a second open in the same process is refused even through another FileSystem object for the same disk',
  async () => {
    const w = world(7);
    const q = await w.open();
    await w.run(q.append(sized(10, 'a')));
    // The same disk and the same process (same pid), seen through a wrapper (metrics, tracing…).
    const second = await w
      .run(openQueue({ dir: '/q', consumers: ['c'], segmentBytes: 4096, fs: forwarding(w.fs), clock: w.clock }))
      .then(
        async (opened) => {
          await w.run(opened.close());
          return null;
        },
        (err: { code?: string }) => err,
      );
    await w.run(q.close());
    assert.ok(second !== null, 'two queues were open on one directory in one process');
    assert.equal(second.code, 'SLUICE_QUEUE_LOCKED');
  },
);

test('an open queue on one simulated machine does not refuse the same directory and pid on another machine', async () => {
  // The in-process registry (F7) must not be keyed by path and pid alone: every simulated disk
  // counts pids from the same number and the tests all use /q.
  const a = world(71);
  const b = world(72);
  assert.equal(a.fs.pid, b.fs.pid);
  const qa = await a.open();
  const qb = await b.open();
  await a.run(qa.append(sized(10, 'a')));
  await b.run(qb.append(sized(10, 'b')));
  await a.run(qa.close());
  await b.run(qb.close());
});

test('a directory held by another live process is refused; once that process is killed its lock is taken over', async () => {
  const w = world(8);
  const q = await w.open();
  await w.run(q.append(sized(10, 'a')));
  const other = w.fs.spawn({ clock: w.clock }); // a second process on the same machine
  const refused = await w.run(openQueue({ dir: '/q', consumers: ['c'], segmentBytes: 4096, fs: other, clock: w.clock })).then(
    () => null,
    (err: { code?: string }) => err,
  );
  assert.equal(refused?.code, 'SLUICE_QUEUE_LOCKED');
  // The holder is killed: its lock file stays behind, naming a pid that is no longer alive.
  w.fs.crash({ kind: 'process' });
  const clock = new SimClock();
  const third = w.fs.reboot({ clock });
  const opened = await clock.runUntil(openQueue({ dir: '/q', consumers: ['c'], segmentBytes: 4096, fs: third, clock }));
  assert.equal(opened.status, 'resolved');
  const q3 = (opened as { value: Queue }).value;
  const ac = new AbortController();
  clock.setTimer(100, () => ac.abort());
  const got = await clock.runUntil(q3.consumer('c').read({ signal: ac.signal }));
  assert.deepEqual(got.status === 'resolved' ? got.value.map((r) => r.payload.toString()[0]) : got.status, ['a']);
  await clock.runUntil(q3.close());
});
