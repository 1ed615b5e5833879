import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, renameSync, truncateSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom, sleep, startAgent, tally, waitFor, withTempDir, writeConfig, type RunningAgent } from './helpers';

/**
 * A writer appends numbered lines while the log is rotated (alternately by rename and by
 * copytruncate) and the agent is killed with SIGKILL at random moments and restarted. At the end
 * every line must be in the sink; duplicates are allowed (bounded: what was delivered since the last
 * cursor persist before each kill) and reported. SLUICE_SEED=<n> replays a run.
 */
test('kill -9 at random moments during rename and copytruncate rotation loses no line', async (t) => {
  const seed = Number(process.env['SLUICE_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  const rand = seededRandom(seed);
  t.diagnostic(`seed=${seed} (rerun with SLUICE_SEED=${seed})`);
  await withTempDir(async (dir) => {
    const logs = join(dir, 'logs');
    await mkdir(logs);
    const log = join(logs, 'app.log');
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nqueue:\n  cursor_flush_interval: 100ms\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log*"]\n    glob_interval_ms: 50\n    rotate_wait_ms: 500\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out/all.log\n`,
    );
    const TOTAL = 30_000;
    const PER_TICK = 100;
    let written = 0;
    let rotations = 0;
    let kills = 0;
    let agent: RunningAgent = startAgent(cfg, { cwd: dir, extra: ['--log-level', 'warn'] });
    const stderr: string[] = [];

    const writer = (async () => {
      let nextRotation = 200 + rand() * 400;
      let elapsed = 0;
      appendFileSync(log, '');
      while (written < TOTAL) {
        let chunk = '';
        for (let i = 0; i < PER_TICK && written < TOTAL; i++, written++) chunk += `W${written} ${'w'.repeat(60)}\n`;
        appendFileSync(log, chunk);
        await sleep(10);
        elapsed += 10;
        if (elapsed >= nextRotation) {
          rotations++;
          const rotated = `${log}.${rotations}`;
          if (rotations % 2 === 1) renameSync(log, rotated);
          else {
            copyFileSync(log, rotated);
            truncateSync(log, 0);
          }
          appendFileSync(log, '');
          nextRotation = elapsed + 200 + rand() * 400;
        }
      }
    })();

    const killer = (async () => {
      while (written < TOTAL) {
        await sleep(250 + rand() * 700);
        if (written >= TOTAL) break;
        agent.child.kill('SIGKILL');
        await agent.exited;
        stderr.push(agent.stderr());
        kills++;
        agent = startAgent(cfg, { cwd: dir, extra: ['--log-level', 'warn'] });
      }
    })();

    await Promise.all([writer, killer]);
    const out = join(dir, 'out', 'all.log');
    let last = tally('', 'W', TOTAL);
    try {
      await waitFor(
        'every line in the sink',
        async () => {
          last = tally(await readFile(out, 'utf8').catch(() => ''), 'W', TOTAL);
          return last.missing.length === 0;
        },
        30_000,
        () => `seed=${seed}: ${last.missing.length} missing, e.g. ${last.missing.slice(0, 5).join(', ')}\n${agent.stderr()}`,
      );
    } finally {
      agent.child.kill('SIGTERM');
      const end = await agent.exited;
      stderr.push(agent.stderr());
      assert.equal(end.code, 0, `seed=${seed}\n${stderr.join('\n---\n')}`);
    }
    t.diagnostic(`seed=${seed}: ${TOTAL} lines, ${rotations} rotations, ${kills} kill -9, ${last.duplicates} duplicates`);
    assert.equal(last.foreign, 0, `seed=${seed}: lines that were never written appeared`);
    assert.deepEqual(last.missing, []);
    assert.ok(kills >= 2, `seed=${seed}: the agent was killed ${kills} times`);
  });
});
