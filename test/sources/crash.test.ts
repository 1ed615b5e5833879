import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { openQueue } from '../../src/queue/index';
import { numbered, tempDir } from './harness';

function startChild(logs: string, queueDir: string): { child: ChildProcess; durable: () => number } {
  const child = spawn(process.execPath, [join(__dirname, 'crash-child.js'), logs, queueDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let count = 0;
  let rest = '';
  child.stdout?.on('data', (d: Buffer) => {
    const s = rest + d.toString();
    const parts = s.split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) count += Number(p);
  });
  return { child, durable: () => count };
}

async function queuedLines(queueDir: string): Promise<string[]> {
  const q = await openQueue({ dir: queueDir, consumers: ['check'], fsync: { mode: 'always' } });
  const out: string[] = [];
  const c = q.consumer('check');
  for (;;) {
    // (AbortSignal.timeout's timer does not keep the event loop alive: use a plain timer.)
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 200);
    const recs = await c.read({ maxRecords: 1000, signal: ac.signal });
    clearTimeout(timer);
    if (recs.length === 0) break;
    for (const r of recs) for (const l of r.payload.toString('latin1').split('\n')) if (l) out.push(l);
  }
  await q.close();
  return out;
}

async function until(what: string, pred: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('kill -9 of a process tailing rotating files into the real queue loses and repeats no line', async (t) => {
  const dir = tempDir(t);
  const logs = join(dir, 'logs');
  const queueDir = join(dir, 'queue');
  mkdirSync(logs);
  const file = join(logs, 'app.log');
  let written = 0;
  const write = (n: number): void => {
    appendFileSync(file, numbered('line', written, n, 60));
    written += n;
  };
  let durableBefore = 0;
  for (let round = 0; round < 4; round++) {
    const { child, durable } = startChild(logs, queueDir);
    write(3000);
    await until('some batches durable', () => durable() > 0);
    write(3000);
    renameSync(file, join(logs, `app.log.${round}`)); // rotation that still matches the pattern
    write(6000);
    await new Promise((r) => setTimeout(r, round * 5));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    durableBefore = (await queuedLines(queueDir)).length;
    t.diagnostic(`round ${round}: ${durableBefore} of ${written} lines durable at the kill`);
  }
  // A last run, stopped gracefully once everything is in.
  write(500);
  const { child, durable } = startChild(logs, queueDir);
  await until('everything durable', () => durableBefore + durable() >= written, 30_000);
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 0);
  const got = await queuedLines(queueDir);
  const seen = new Set<string>();
  for (const l of got) {
    assert.ok(!seen.has(l), `line read twice: ${l}`);
    seen.add(l);
  }
  assert.equal(got.length, written);
  assert.deepEqual([...seen].sort(), numbered('line', 0, written, 60).split('\n').filter(Boolean).sort());
});
