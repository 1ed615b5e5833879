/**
 * A full data_dir disk through the real CLI: the queue lives on a small tmpfs (mounted by the test,
 * so it needs root; skipped with the reason otherwise), `max_bytes` is larger than the tmpfs, and
 * the sink is down at first, so the disk fills before max_bytes is reached. The agent must not stop:
 * sources wait, and once the sink works again every line arrives, once, in order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { CLI, startAgent, tally, waitFor, withTempDir, writeConfig } from '../agent/helpers';

const numbered = (from: number, to: number): string => {
  let s = '';
  for (let i = from; i < to; i++) s += `L${i} ${'p'.repeat(40)}\n`;
  return s;
};

const sizeOf = async (path: string): Promise<number> => {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
};

/** Mounts a tmpfs of `size` at `dir`; the reason it cannot, or null. */
function mountTmpfs(dir: string, size: string): string | null {
  if (process.getuid?.() !== 0) return 'not root: cannot mount a tmpfs';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.error !== undefined) return `mount failed: ${r.error.message}`;
  if (r.status !== 0) return `mount failed: ${r.stderr.trim() || `exit ${String(r.status)}`}`;
  return null;
}

test('a data_dir on an 8 MiB tmpfs with max_bytes of 64 MiB: while the disk is full the agent waits instead of stopping, and every line arrives once the sink catches up', async (t) => {
  await withTempDir(async (dir) => {
    const data = join(dir, 'data');
    await mkdir(data);
    const why = mountTmpfs(data, '8m');
    if (why !== null) {
      t.skip(why);
      return;
    }
    try {
      const TOTAL = 400_000; // ~18 MB of lines: more than twice the tmpfs
      await mkdir(join(dir, 'logs'));
      const input = numbered(0, TOTAL);
      await writeFile(join(dir, 'logs', 'app.log'), input);
      // The sink's path is a directory at first: every write fails (EISDIR), nothing is acknowledged.
      await mkdir(join(dir, 'out.log'));
      const cfg = await writeConfig(
        dir,
        `data_dir: ./data\nqueue:\n  max_bytes: 64MiB\n  segment_bytes: 2MiB\n` +
          `sources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n    read_buffer_bytes: 512KiB\n` +
          `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n    max_backoff: 200ms\n`,
      );
      const agent = startAgent(cfg, { cwd: dir });
      try {
        await waitFor('the queue disk to fill', () => agent.stderr().includes('the disk of the queue is full'), 60_000, agent.stderr);
        // Still running, a while later: the full disk is backpressure, not a stop.
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(agent.child.exitCode, null, agent.stderr());
        await rmdir(join(dir, 'out.log'));
        // On a timeout: how far the output got, and the queue as `sluice queue inspect` sees it.
        const where = (): string => {
          let out = 0;
          try {
            out = statSync(join(dir, 'out.log')).size;
          } catch {
            // none yet
          }
          const inspect = spawnSync(process.execPath, [CLI, 'queue', 'inspect', '--config', cfg], { cwd: dir, encoding: 'utf8' });
          return `${agent.stderr()}\nout.log ${out} of ${input.length} bytes\n${inspect.stdout}${inspect.stderr}`;
        };
        await waitFor('every line delivered', async () => (await sizeOf(join(dir, 'out.log'))) >= input.length, 120_000, where);
        assert.match(agent.stderr(), /space again after \d+ms/);
      } finally {
        agent.child.kill('SIGTERM');
      }
      const end = await agent.exited;
      assert.equal(end.code, 0, agent.stderr());
      const out = await readFile(join(dir, 'out.log'), 'utf8');
      const tl = tally(out, 'L', TOTAL);
      assert.deepEqual(tl.missing.slice(0, 10), [], 'no line is missing');
      assert.equal(tl.duplicates, 0, 'no line is delivered twice');
      assert.equal(out, input, 'in order');
    } finally {
      const u = spawnSync('umount', [data], { encoding: 'utf8' });
      if (u.status !== 0) spawnSync('umount', ['-l', data]);
    }
  });
});
