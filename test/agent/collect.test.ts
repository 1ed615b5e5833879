import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, mkdirSync, renameSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { cli, seededRandom, sleep, startAgent, tally, waitFor, withTempDir, writeConfig, type RunningAgent } from './helpers';

/**
 * Issue 9 through the real CLI: the README's pattern (`*.log`, rotated names outside it), rotation
 * while the agent is stopped or killed, `start_at: end` across a restart, a writer pausing
 * mid-line, identical files, and configs that cannot work. SLUICE_SEED=<n> replays a run.
 */

const config = (extra = ''): string =>
  `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/*.log"]\n    glob_interval_ms: 50\n    rotate_wait_ms: 300\n${extra}` +
  `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out/all.log\n`;

const out = async (dir: string): Promise<string> => readFile(join(dir, 'out', 'all.log'), 'utf8').catch(() => '');

const stopAgent = async (a: RunningAgent, how: 'SIGTERM' | 'SIGKILL'): Promise<void> => {
  a.child.kill(how);
  const end = await a.exited;
  if (how === 'SIGTERM') assert.equal(end.code, 0, a.stderr());
};

const lines = (prefix: string, from: number, n: number): string => {
  let s = '';
  for (let i = from; i < from + n; i++) s += `${prefix}${i} ${'x'.repeat(40)}\n`;
  return s;
};

for (const how of ['SIGTERM', 'SIGKILL'] as const) {
  for (const rotation of ['rename', 'copytruncate'] as const) {
    test(`*.log, ${rotation} rotation while the agent is stopped (${how}): every line exactly once`, async (t) => {
      const seed = Number(process.env['SLUICE_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
      const rand = seededRandom(seed);
      t.diagnostic(`seed=${seed} (rerun with SLUICE_SEED=${seed})`);
      await withTempDir(async (dir) => {
        mkdirSync(join(dir, 'logs'));
        const log = join(dir, 'logs', 'app.log');
        const cfg = await writeConfig(dir, config());
        let written = 0;
        const write = (n: number): void => {
          appendFileSync(log, lines('W', written, n));
          written += n;
        };
        write(100);
        let rotations = 0;
        for (let round = 0; round < 3; round++) {
          const agent = startAgent(cfg, { cwd: dir, extra: ['--log-level', 'warn'] });
          // Some lines while it runs (a file the agent never saw cannot be followed: wait until it
          // has read this one), then stop it at a random moment while more are written.
          write(200 + Math.floor(rand() * 300));
          const seen = written;
          await waitFor('the agent reads the current file', async () => tally(await out(dir), 'W', seen).missing.length === 0, 20_000, () => agent.stderr());
          write(100);
          await sleep(rand() * 200);
          write(100);
          await stopAgent(agent, how);
          write(500 + Math.floor(rand() * 500)); // written while stopped, only in the file about to be rotated
          rotations++;
          const rotated = `${log}.${rotations}`;
          if (rotation === 'rename') renameSync(log, rotated);
          else {
            copyFileSync(log, rotated);
            truncateSync(log, 0);
          }
          write(10);
        }
        const agent = startAgent(cfg, { cwd: dir, extra: ['--log-level', 'warn'] });
        let last = tally('', 'W', written);
        try {
          await waitFor('every line in the sink', async () => {
            last = tally(await out(dir), 'W', written);
            return last.missing.length === 0;
          }, 20_000, () => `seed=${seed}: ${last.missing.length} of ${written} missing, e.g. ${last.missing.slice(0, 5).join(', ')}\n${agent.stderr()}`);
        } finally {
          await stopAgent(agent, 'SIGTERM');
        }
        t.diagnostic(`seed=${seed}: ${written} lines, ${rotations} rotations while stopped by ${how}, 0 missing, ${last.duplicates} duplicates`);
        assert.equal(last.foreign, 0);
        // A graceful stop repeats nothing; neither does kill -9 into the file sink (its output is cut
        // back to the length saved with the cursor on restart).
        assert.equal(last.duplicates, 0, `seed=${seed}: ${how} then a restart repeated lines`);
      });
    });
  }
}

test('start_at: end, stopped and restarted: the lines written while it was stopped are delivered', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, 'logs'));
    const log = join(dir, 'logs', 'app.log');
    writeFileSync(log, lines('OLD', 0, 100));
    const cfg = await writeConfig(dir, config('    start_at: end\n'));
    const a1 = startAgent(cfg, { cwd: dir });
    await waitFor('the file tailed', () => a1.stderr().includes('tailing file'));
    await stopAgent(a1, 'SIGTERM');
    appendFileSync(log, lines('W', 0, 50));
    const a2 = startAgent(cfg, { cwd: dir });
    await waitFor('the lines written while stopped', async () => tally(await out(dir), 'W', 50).missing.length === 0, 20_000, () => a2.stderr());
    await stopAgent(a2, 'SIGTERM');
    const got = await out(dir);
    assert.ok(!got.includes('OLD'), 'what the file held at the first start is skipped');
    assert.equal(tally(got, 'W', 50).duplicates, 0);
  });
});

test('a writer pausing 3 s in the middle of a line: the line is delivered whole', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, 'logs'));
    const log = join(dir, 'logs', 'app.log');
    writeFileSync(log, 'first\n');
    const cfg = await writeConfig(dir, config());
    const a = startAgent(cfg, { cwd: dir });
    await waitFor('the first line', async () => (await out(dir)) === 'first\n', 20_000, () => a.stderr());
    appendFileSync(log, 'a line written in two ');
    await sleep(3000);
    appendFileSync(log, 'parts\nlast\n');
    await waitFor('the last line', async () => (await out(dir)).endsWith('last\n'), 20_000, () => a.stderr());
    await stopAgent(a, 'SIGTERM');
    assert.equal(await out(dir), 'first\na line written in two parts\nlast\n');
  });
});

test('two files with identical contents are both delivered in full', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, 'logs'));
    const body = lines('R', 0, 20);
    writeFileSync(join(dir, 'logs', 'a.log'), body);
    writeFileSync(join(dir, 'logs', 'b.log'), body);
    const cfg = await writeConfig(dir, config());
    const a = startAgent(cfg, { cwd: dir });
    await waitFor('both replicas', async () => (await out(dir)).split('\n').length - 1 === 40, 20_000, () => a.stderr());
    await stopAgent(a, 'SIGTERM');
    const t = tally(await out(dir), 'R', 20);
    assert.deepEqual(t.missing, []);
    assert.equal(t.duplicates, 20, 'each line once per file');
  });
});

test('validate refuses configs that cannot work, with one line naming the place and the fix, exit 2', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, 'out'));
    symlinkSync(join(dir, 'out'), join(dir, 'link'));
    const cases: { name: string; yaml: string; want: RegExp }[] = [
      {
        name: 'two stdin sources',
        yaml: 'data_dir: ./data\nsources:\n  a:\n    type: stdin\n  b:\n    type: stdin\nsinks:\n  out:\n    type: stdout\n    inputs: [a, b]\n',
        want: /sluice\.yaml:6:\d+: sources\.b\.type: sources\.a reads standard input already: .*keep one/m,
      },
      {
        name: 'a sink writing into its own source',
        yaml: 'data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./out/*.log"]\nsinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out/all.log\n',
        want: /sluice\.yaml:10:\d+: sinks\.out\.path: source app \(an input of this sink\) reads .*all\.log: the sink would read its own output .*exclude/m,
      },
      {
        name: 'two file sinks on one path, through a symlink',
        yaml:
          'data_dir: ./data\nsources:\n  pipe:\n    type: stdin\nsinks:\n  a:\n    type: file\n    inputs: [pipe]\n    path: ./out/all.log\n' +
          '  b:\n    type: file\n    inputs: [pipe]\n    path: ./link/all.log\n',
        want: /sluice\.yaml:13:\d+: sinks\.b\.path: the same file as sinks\.a\.path .*give each sink its own path/m,
      },
    ];
    for (const c of cases) {
      const cfg = await writeConfig(dir, c.yaml);
      const r = cli(['validate', '--config', cfg], { cwd: dir });
      assert.equal(r.code, 2, `${c.name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, c.want, c.name);
    }
  });
});

test('app.log.1.gz under app.log*: no binary lines, one warning', async () => {
  await withTempDir(async (dir) => {
    mkdirSync(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs', 'app.log'), lines('W', 0, 10));
    writeFileSync(join(dir, 'logs', 'app.log.1.gz'), gzipSync(lines('OLD', 0, 1000)));
    const cfg = await writeConfig(dir, config().replace('./logs/*.log', './logs/app.log*'));
    const a = startAgent(cfg, { cwd: dir });
    await waitFor('app.log', async () => tally(await out(dir), 'W', 10).missing.length === 0, 20_000, () => a.stderr());
    await sleep(300);
    await stopAgent(a, 'SIGTERM');
    assert.equal(await out(dir), lines('W', 0, 10));
    assert.equal(a.stderr().split('\n').filter((l) => l.includes('gzip-compressed')).length, 1, a.stderr());
  });
});
