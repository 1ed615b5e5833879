import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, renameSync, truncateSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom, sleep, startAgent, tally, waitFor, withTempDir, writeConfig, type RunningAgent } from './helpers';

/**
 * kill -9 through the real CLI. A writer appends numbered lines at ~10k lines/s and rotates the log
 * every ROTATE_EVERY lines (the "every 40k lines", scaled down to keep CI time sane), while
 * the agent is killed with SIGKILL three times at random moments and restarted at once. At the end:
 *
 * - the file sink holds every line exactly once: no line missing, none twice (its cursor and the
 *   output length after each group are saved in place after every group; on start the output is
 *   cut back to the saved length and delivery resumes at the saved cursor);
 * - the stdout sink (which cannot cut what it wrote) holds every line, and repeats at most one
 *   group per kill: `batch.max_events` (1,000) plus the record that may pass it (a 4 KiB read of the
 *   source, under 100 lines here).
 *
 * Fixed seeds in CI; SLUICE_SEED=<n> runs one seed (a failure prints its seed).
 */
const TOTAL = 40_000;
const ROTATE_EVERY = 10_000;
const KILLS = 3;
const GROUP_BOUND = 1_000 + 100;

const config = (withStdout: boolean): string =>
  `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log*"]\n    glob_interval_ms: 50\n    rotate_wait_ms: 500\n    read_buffer_bytes: 4KiB\n` +
  `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out/all.log\n` +
  (withStdout ? `  console:\n    type: stdout\n    inputs: [app]\n    batch:\n      max_events: 1000\n` : '');

const seeds = (defaults: readonly number[]): readonly number[] => (process.env['SLUICE_SEED'] !== undefined ? [Number(process.env['SLUICE_SEED'])] : defaults);

const run = async (seed: number, rotation: 'rename' | 'copytruncate', withStdout: boolean): Promise<{ file: ReturnType<typeof tally>; stdout: ReturnType<typeof tally> | null; kills: number; rotations: number }> => {
  const rand = seededRandom(seed);
  let result: Awaited<ReturnType<typeof run>> | undefined;
  await withTempDir(async (dir) => {
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const log = join(logs, 'app.log');
    await writeFile(log, '');
    const cfg = await writeConfig(dir, config(withStdout));
    const stdout: Buffer[] = [];
    const start = (): RunningAgent => {
      const a = startAgent(cfg, { cwd: dir, extra: ['--log-level', 'warn'] });
      a.child.stdout?.on('data', (c: Buffer) => stdout.push(c));
      return a;
    };
    let agent = start();
    const stderr: string[] = [];
    let written = 0;
    let rotations = 0;
    let kills = 0;

    const writer = (async () => {
      while (written < TOTAL) {
        let chunk = '';
        for (let i = 0; i < 100 && written < TOTAL; i++, written++) chunk += `W${written} ${'w'.repeat(60)}\n`;
        appendFileSync(log, chunk);
        if (written % ROTATE_EVERY === 0 && written < TOTAL) {
          rotations++;
          const rotated = `${log}.${rotations}`;
          if (rotation === 'rename') renameSync(log, rotated);
          else {
            copyFileSync(log, rotated);
            truncateSync(log, 0);
          }
          appendFileSync(log, '');
        }
        await sleep(10);
      }
    })();

    // Three kills at random moments while the writer runs (about 4 s), at least 300 ms apart.
    const at = [0, 1, 2].map((i) => 300 + i * 1100 + rand() * 800);
    const killer = (async () => {
      let t = 0;
      for (const when of at) {
        await sleep(when - t);
        t = when;
        agent.child.kill('SIGKILL');
        await agent.exited;
        stderr.push(agent.stderr());
        kills++;
        agent = start();
      }
    })();

    await Promise.all([writer, killer]);
    const outPath = join(dir, 'out', 'all.log');
    let file = tally('', 'W', TOTAL);
    let console: ReturnType<typeof tally> | null = null;
    try {
      await waitFor(
        'every line in the sinks',
        async () => {
          file = tally(await readFile(outPath, 'utf8').catch(() => ''), 'W', TOTAL);
          if (withStdout) console = tally(Buffer.concat(stdout).toString('utf8'), 'W', TOTAL);
          return file.missing.length === 0 && (console === null || console.missing.length === 0);
        },
        60_000,
        () => `seed=${seed}: ${file.missing.length} missing in the file, e.g. ${file.missing.slice(0, 5).join(', ')}\n${agent.stderr()}`,
      );
    } finally {
      agent.child.kill('SIGTERM');
      const end = await agent.exited;
      stderr.push(agent.stderr());
      assert.equal(end.code, 0, `seed=${seed}\n${stderr.join('\n---\n')}`);
    }
    // What a graceful stop wrote last is in too (nothing more may come after the exit).
    file = tally(await readFile(outPath, 'utf8'), 'W', TOTAL);
    if (withStdout) console = tally(Buffer.concat(stdout).toString('utf8'), 'W', TOTAL);
    result = { file, stdout: console, kills, rotations };
  });
  return result as NonNullable<typeof result>;
};

for (const seed of seeds([1, 2, 3])) {
  test(`kill -9 ×${KILLS} during rename rotation (seed ${seed}): the file sink has every line exactly once, stdout repeats at most one group per kill`, async (t) => {
    const r = await run(seed, 'rename', true);
    t.diagnostic(`seed=${seed}: ${TOTAL} lines, ${r.rotations} rotations, ${r.kills} kill -9; file: ${r.file.duplicates} duplicates; stdout: ${r.stdout?.duplicates} duplicates (bound ${r.kills * GROUP_BOUND})`);
    assert.equal(r.kills, KILLS);
    assert.deepEqual(r.file.missing, [], `seed=${seed}`);
    assert.equal(r.file.foreign, 0, `seed=${seed}: lines that were never written appeared`);
    assert.equal(r.file.duplicates, 0, `seed=${seed}: the file sink repeated lines`);
    assert.ok(r.stdout !== null);
    assert.deepEqual(r.stdout.missing, [], `seed=${seed}`);
    assert.equal(r.stdout.foreign, 0, `seed=${seed}`);
    assert.ok(r.stdout.duplicates <= r.kills * GROUP_BOUND, `seed=${seed}: stdout repeated ${r.stdout.duplicates} lines, more than one group per kill`);
  });
}

for (const seed of seeds([4, 5])) {
  test(`kill -9 ×${KILLS} during copytruncate rotation (seed ${seed}): the file sink has every line exactly once`, async (t) => {
    const r = await run(seed, 'copytruncate', false);
    t.diagnostic(`seed=${seed}: ${TOTAL} lines, ${r.rotations} rotations, ${r.kills} kill -9; file: ${r.file.duplicates} duplicates`);
    assert.equal(r.kills, KILLS);
    assert.deepEqual(r.file.missing, [], `seed=${seed}`);
    assert.equal(r.file.foreign, 0, `seed=${seed}`);
    assert.equal(r.file.duplicates, 0, `seed=${seed}: the file sink repeated lines`);
  });
}

const numbered = (from: number, to: number): string => {
  let s = '';
  for (let i = from; i < to; i++) s += `L${i} ${'p'.repeat(40)}\n`;
  return s;
};

test('kill -9 between a group written and its cursor saved: the restart cuts the output back and writes the group once', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const log = join(dir, 'logs', 'app.log');
    await writeFile(log, numbered(0, 1000));
    const cfg = await writeConfig(dir, `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\nsinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`);
    const out = join(dir, 'out.log');
    const first = startAgent(cfg, { cwd: dir });
    await waitFor('the first lines delivered', async () => tally(await readFile(out, 'utf8').catch(() => ''), 'L', 1000).missing.length === 0, 20_000, first.stderr);
    first.child.kill('SIGKILL');
    await first.exited;
    // What a kill in that window leaves: the next group (here: the lines about to come, and a torn
    // line) written into the output after the last saved cursor.
    appendFileSync(out, `${numbered(1000, 1500)}L15`);
    appendFileSync(log, numbered(1000, 2000));
    const second = startAgent(cfg, { cwd: dir });
    try {
      await waitFor('every line', async () => tally(await readFile(out, 'utf8'), 'L', 2000).missing.length === 0, 20_000, second.stderr);
    } finally {
      second.child.kill('SIGTERM');
      assert.equal((await second.exited).code, 0, second.stderr());
    }
    assert.equal(await readFile(out, 'utf8'), numbered(0, 2000), 'every line once, in order, nothing torn');
    assert.match(second.stderr(), /sink out: cut \d+ bytes off the end of .*out\.log: written for records after the last saved cursor/);
  });
});

test('a double SIGTERM while a stuck stdout drains a backlog: after the restart stdout repeats at most one group, the file sink nothing', async (t) => {
  await withTempDir(async (dir) => {
    const N = 50_000;
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'logs', 'app.log'), numbered(0, N));
    // Small stdout groups bound what one group can repeat: 1,000 events plus one record (a 4 KiB
    // read of the source: under 100 lines).
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nshutdown_timeout: 60s\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n    read_buffer_bytes: 4KiB\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n  console:\n    type: stdout\n    inputs: [app]\n    batch:\n      max_events: 1000\n`,
    );
    const out = join(dir, 'out.log');
    const stdout: Buffer[] = [];
    const first = startAgent(cfg, { cwd: dir });
    first.child.stdout?.pause(); // a reader that does not read: the stdout sink is stuck with a backlog
    await waitFor('the file sink to have every line', async () => tally(await readFile(out, 'utf8').catch(() => ''), 'L', N).missing.length === 0, 20_000, first.stderr);
    first.child.kill('SIGTERM');
    await waitFor('the drain to start', () => first.stderr().includes('SIGTERM: stopping intake'), 10_000, first.stderr);
    first.child.kill('SIGTERM');
    first.child.stdout?.on('data', (c: Buffer) => stdout.push(c));
    const end = await first.exited; // (reading resumes only so the pipe can be emptied after the exit)
    first.child.stdout?.resume();
    assert.match(first.stderr(), /SIGTERM again: stopping now/);
    assert.equal(end.code, 1, first.stderr());
    const second = startAgent(cfg, { cwd: dir });
    second.child.stdout?.on('data', (c: Buffer) => stdout.push(c));
    try {
      await waitFor('every line on stdout', () => tally(Buffer.concat(stdout).toString('utf8'), 'L', N).missing.length === 0, 30_000, second.stderr);
    } finally {
      second.child.kill('SIGTERM');
      assert.equal((await second.exited).code, 0, second.stderr());
    }
    const file = tally(await readFile(out, 'utf8'), 'L', N);
    const console = tally(Buffer.concat(stdout).toString('utf8'), 'L', N);
    t.diagnostic(`${N} lines; stdout: ${console.duplicates} duplicates (bound ${GROUP_BOUND}); file: ${file.duplicates}`);
    assert.deepEqual(file.missing, []);
    assert.equal(file.duplicates, 0, 'the file sink repeats nothing');
    assert.equal(console.foreign, 0);
    assert.ok(console.duplicates <= GROUP_BOUND, `stdout repeated ${console.duplicates} lines: more than one group`);
  });
});
