/**
 * The lock through the real CLI: a `lock` file left in data_dir whose pid now belongs to another,
 * unrelated live process (what a container restart does) must not keep the agent from starting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeFileSystem } from '../../src/core/node-ports';
import { cli, sleep, startAgent, waitFor, withTempDir, writeConfig } from '../agent/helpers';

test('a lock file naming a live pid that an unrelated process has now does not keep the agent from starting', { skip: nodeFileSystem.processStart?.(process.pid) == null ? 'no /proc here: a process start time cannot be read' : false }, async () => {
  await withTempDir(async (dir) => {
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = other.pid as number;
      const token = nodeFileSystem.processStart?.(pid) as string;
      // What the agent that had this pid before wrote: the same boot, another start time.
      await mkdir(join(dir, 'data', 'queue'), { recursive: true });
      await writeFile(join(dir, 'data', 'queue', 'lock'), `${pid} ${token.replace(/:\d+$/, ':1')}\n`);
      await mkdir(join(dir, 'logs'));
      await writeFile(join(dir, 'logs', 'app.log'), 'one\ntwo\n');
      const cfg = await writeConfig(
        dir,
        `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n` +
          `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
      );
      const agent = startAgent(cfg, { cwd: dir });
      try {
        await waitFor('the lines delivered', async () => (await readFile(join(dir, 'out.log'), 'utf8').catch(() => '')) === 'one\ntwo\n', 20_000, agent.stderr);
        assert.match(agent.stderr(), /stale lock/);
      } finally {
        agent.child.kill('SIGTERM');
      }
      assert.equal((await agent.exited).code, 0, agent.stderr());
    } finally {
      other.kill('SIGKILL');
    }
  });
});

const noStartTime = nodeFileSystem.processStartMs?.(process.pid) == null ? 'no /proc here: a process start time cannot be read' : false;

/** A data_dir with an old-format lock file (a pid, no start token) last written at `mtime` (s since the epoch). */
const legacyLock = async (dir: string, pid: number, mtime: number): Promise<string> => {
  const lock = join(dir, 'data', 'queue', 'lock');
  await mkdir(join(dir, 'data', 'queue'), { recursive: true });
  await writeFile(lock, `${pid}\n`);
  await utimes(lock, mtime, mtime);
  await mkdir(join(dir, 'logs'), { recursive: true });
  await writeFile(join(dir, 'logs', 'app.log'), 'one\ntwo\n');
  return writeConfig(dir, `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\nsinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`);
};

test('an old-format lock (pid only) naming a live process that started after the lock was written does not keep the agent from starting', { skip: noStartTime }, async () => {
  await withTempDir(async (dir) => {
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      // The lock was written a minute before this unrelated process got the pid.
      const cfg = await legacyLock(dir, other.pid as number, Date.now() / 1000 - 60);
      const agent = startAgent(cfg, { cwd: dir });
      try {
        await waitFor('the lines delivered', async () => (await readFile(join(dir, 'out.log'), 'utf8').catch(() => '')) === 'one\ntwo\n', 20_000, agent.stderr);
        assert.match(agent.stderr(), /took over a stale lock \(pid \d+\)/);
      } finally {
        agent.child.kill('SIGTERM');
      }
      assert.equal((await agent.exited).code, 0, agent.stderr());
    } finally {
      other.kill('SIGKILL');
    }
  });
});

test('an old-format lock naming a live process that started before the lock was written still refuses the start (exit 3)', { skip: noStartTime }, async () => {
  await withTempDir(async (dir) => {
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await sleep(1100); // started a clear second before the lock is written (the start time has 1 s precision)
      const cfg = await legacyLock(dir, other.pid as number, Date.now() / 1000);
      const r = cli(['run', '--config', cfg], { cwd: dir });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, new RegExp(`locked by another .*${other.pid as number}|${other.pid as number}.*lock`, 'i'));
    } finally {
      other.kill('SIGKILL');
    }
  });
});
