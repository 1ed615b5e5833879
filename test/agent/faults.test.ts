import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, waitFor, withTempDir, writeConfig } from './helpers';

const numbered = (from: number, to: number): string => {
  let s = '';
  for (let i = from; i < to; i++) s += `L${i}\n`;
  return s;
};

const sizeOf = async (path: string): Promise<number> => {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
};

test('a stderr whose reader went away (EPIPE) never stops the agent: lines keep flowing and SIGTERM still drains and exits 0', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'logs', 'app.log'), numbered(0, 1000));
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/*.log"]\n    glob_interval_ms: 50\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
    );
    const agent = startAgent(cfg, { cwd: dir, extra: ['--log-level', 'debug'] });
    const out = join(dir, 'out.log');
    await waitFor('the first lines', async () => (await sizeOf(out)) >= numbered(0, 1000).length, 20_000, agent.stderr);
    agent.child.stderr?.destroy(); // the reader goes away; every later diagnostic line meets EPIPE
    // a new file makes the agent say so (debug and info lines) into the broken pipe
    await writeFile(join(dir, 'logs', 'b.log'), numbered(1000, 1500));
    await appendFile(join(dir, 'logs', 'app.log'), numbered(1500, 2000));
    const want = numbered(0, 2000).length;
    await waitFor('every line, after stderr broke', async () => (await sizeOf(out)) >= want, 20_000, () => 'stderr is gone');
    agent.child.kill('SIGTERM'); // the stop notice goes to the broken stderr too
    const end = await agent.exited;
    assert.equal(end.code, 0);
    const got = (await readFile(out, 'utf8')).trimEnd().split('\n').sort();
    assert.deepEqual(got, numbered(0, 2000).trimEnd().split('\n').sort());
    // the lock was released and cursors persisted: a second run starts and has nothing to deliver
    const again = startAgent(cfg, { cwd: dir });
    await waitFor('the second run', () => again.stderr().includes('running:'), 20_000, again.stderr);
    again.child.kill('SIGTERM');
    assert.equal((await again.exited).code, 0, again.stderr());
    assert.equal(await sizeOf(out), want);
  });
});
