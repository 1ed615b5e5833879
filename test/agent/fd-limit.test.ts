import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, cli, sleep, waitFor, withTempDir, writeConfig } from './helpers';

/** Starts `sluice run` under `ulimit -n <fds>`, collecting its stderr. */
const startLimited = (dir: string, cfg: string, fds: number) => {
  const child = spawn('bash', ['-c', `ulimit -n ${fds} && exec "$0" "$@"`, process.execPath, CLI, 'run', '--config', cfg, '--log-level', 'warn'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const err: Buffer[] = [];
  child.stderr.on('data', (c: Buffer) => err.push(c));
  const stderr = (): string => Buffer.concat(err).toString('utf8');
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stderr, exited };
};

test('running out of file descriptors is reported as warnings, never an internal-error crash of the stats timer', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    for (let i = 0; i < 80; i++) await writeFile(join(dir, 'logs', `f${i}.log`), `file ${i}\n`);
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nshutdown_timeout: 1s\nsources:\n  app:\n    type: file\n    include: ["./logs/*.log"]\nsinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
    );
    // A descriptor limit below the number of files: the agent runs short of descriptors.
    const { child, stderr, exited } = startLimited(dir, cfg, 48);
    try {
      await waitFor('an EMFILE warning', () => stderr().includes('EMFILE'), 20_000, stderr);
      // The stats timer ticks every 5 s; it must survive the descriptor shortage.
      await sleep(5_500);
      assert.equal(child.exitCode, null, stderr());
      assert.doesNotMatch(stderr(), /internal error/);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    assert.doesNotMatch(stderr(), /internal error/);
  });
});

test('a queue.max_bytes larger than the free space of data_dir is warned about at start, and the agent still runs', async () => {
  await withTempDir(async (dir) => {
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nqueue:\n  max_bytes: 4000TiB\nsources:\n  in:\n    type: stdin\nsinks:\n  out:\n    type: stdout\n    inputs: [in]\n`,
    );
    const r = cli(['run', '--config', cfg], { cwd: dir, input: 'a\nb\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a\nb\n');
    assert.match(r.stderr, /WARN queue\.max_bytes \(4194304000\.0MiB\) is more than the disk of .*\/data can hold for the queue \(\d+\.\dMiB\): .*lower queue\.max_bytes/);
  });
});

test('with more files than descriptors, every line still arrives: a directory listing that fails (EMFILE) does not count the open files as gone', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const n = 300;
    for (let i = 0; i < n; i++) await writeFile(join(dir, 'logs', `f${i}.log`), `file ${i}\n`);
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nshutdown_timeout: 1s\nsources:\n  app:\n    type: file\n    include: ["./logs/*.log"]\n    glob_interval_ms: 200\n    close_idle_ms: 300\n    rotate_wait_ms: 600000\nsinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n    max_backoff: 500ms\n`,
    );
    const { child, stderr, exited } = startLimited(dir, cfg, 64);
    const lines = async (): Promise<number> => (await readFile(join(dir, 'out.log'), 'utf8').catch(() => '')).split('\n').length - 1;
    try {
      await waitFor(`all ${n} lines in the sink`, async () => (await lines()) >= n, 30_000, () => stderr().slice(-1500));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    const out = await readFile(join(dir, 'out.log'), 'utf8');
    const got = out.split('\n').filter((l) => l !== '');
    assert.equal(new Set(got).size, n);
    assert.equal(got.length, n, 'no duplicates');
  });
});
