/**
 * Real-disk crash test: a child process appends and consumes in a loop and is killed with SIGKILL at
 * a random moment, several rounds over the same directory. After each kill the queue is reopened and
 * every append the child saw resolve must be there, in id order, byte for byte; nothing unknown may
 * appear; the consumer's cursor is at least the last one the child saw persisted; the recovered
 * positions are at least as new as the last acknowledged append of each producer.
 * Seed: printed; set SLUICE_CRASH_SEED to replay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { openQueue } from '../../src/queue/index';
import { mulberry32, parseCrashPayload } from './crash-payload';
import { readAvailable, tempDir } from './helpers';

interface Seen {
  round: number;
  p: number;
  n: number;
}

/**
 * Runs one child and SIGKILLs it `killAfterMs` after it is ready (or, `early`, after it was spawned:
 * possibly in the middle of its recovery); returns its stdout lines.
 */
function runChild(dir: string, round: number, seed: number, mode: string, killAfterMs: number, early: boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, 'crash-child.js'), dir, String(round), String(seed), mode], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | null = null;
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    if (early) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      if (timer === null && out.includes('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (timer !== null) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code ?? signal}: ${err}`));
      else resolve(out.split('\n').filter((l) => l.length > 0));
    });
  });
}

test('appends acknowledged before a SIGKILL are all read back intact after reopening', async () => {
  const seed = Number(process.env['SLUICE_CRASH_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`crash test seed: ${seed} (replay with SLUICE_CRASH_SEED=${seed})`);
  const rnd = mulberry32(seed);
  const { dir, cleanup } = tempDir('sluice-crash-');
  const acked = new Map<number, Seen>();
  let lastCursor = 0;
  const lastN = new Map<number, { round: number; n: number }>();
  try {
    const rounds = 8;
    for (let round = 0; round < rounds; round++) {
      const mode = (['always', 'always', 'interval', 'never'] as const)[Math.floor(rnd() * 4)]!;
      const early = rnd() < 0.25;
      const killAfter = early ? 30 + Math.floor(rnd() * 150) : 20 + Math.floor(rnd() * 300);
      const lines = await runChild(dir, round, Math.floor(rnd() * 2 ** 31), mode, killAfter, early);
      let count = 0;
      for (const l of lines) {
        const f = l.split(' ');
        if (f[0] === 'A') {
          const s = { round: Number(f[2]), p: Number(f[3]), n: Number(f[4]) };
          acked.set(Number(f[1]), s);
          lastN.set(s.p, { round: s.round, n: Math.max(s.n, lastN.get(s.p)?.round === s.round ? lastN.get(s.p)!.n : -1) });
          count++;
        } else if (f[0] === 'C') {
          lastCursor = Math.max(lastCursor, Number(f[1]));
        }
      }
      const ctx = `round ${round} (seed ${seed}, fsync ${mode}, killed ${killAfter} ms after ${early ? 'spawn' : 'ready'}, ${count} appends acknowledged)`;

      const q = await openQueue({ dir, consumers: ['c', 'audit'], segmentBytes: 64 * 1024, maxBytes: 256 << 20 });
      try {
        assert.equal(q.recovery.corruptRecords, 0, `${ctx}: ${q.recovery.notes.join('; ')}`);
        assert.equal(q.recovery.lostEvents, 0, `${ctx}: ${q.recovery.notes.join('; ')}`);
        const cursor = q.consumer('c').ackedUpTo as number;
        assert.ok(cursor >= lastCursor, `${ctx}: cursor ${cursor} went back from the persisted ${lastCursor}`);
        const recs = await readAvailable(q.consumer('audit'));
        const byId = new Map<number, Seen>();
        let prev = -1;
        for (const r of recs) {
          assert.ok(r.id > prev, `${ctx}: ids out of order: ${r.id} after ${prev}`);
          prev = r.id;
          const s = parseCrashPayload(r.payload);
          assert.ok(s !== null, `${ctx}: record ${r.id} holds unknown content`);
          byId.set(r.id, s);
        }
        for (const [id, s] of acked) {
          const got = byId.get(id);
          if (got === undefined) {
            assert.ok(id < cursor, `${ctx}: acknowledged append ${id} (${JSON.stringify(s)}) is missing`);
            continue;
          }
          assert.deepEqual(got, s, `${ctx}: record ${id} holds another append's content`);
        }
        const positions = q.positions();
        for (const [p, last] of lastN) {
          if (last.round !== round) continue;
          const v = positions.get(`p${p}`);
          assert.ok(v !== undefined, `${ctx}: position of producer ${p} lost`);
          const [r, n] = Buffer.from(v).toString().split(':').map(Number) as [number, number];
          assert.ok(r > last.round || (r === last.round && n >= last.n), `${ctx}: position p${p} ${r}:${n} older than ${last.round}:${last.n}`);
        }
      } finally {
        await q.close();
      }
    }
    assert.ok(acked.size > 50, `only ${acked.size} appends were acknowledged in all rounds`);
  } finally {
    cleanup();
  }
});
