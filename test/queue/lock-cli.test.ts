/**
 * The lock through the real CLI: a `lock` file left in data_dir whose pid now belongs to another,
 * unrelated live process (what a container restart does) must not keep the agent from starting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { nodeFileSystem } from '../../src/core/node-ports';
import { startAgent, waitFor, withTempDir, writeConfig } from '../agent/helpers';

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
