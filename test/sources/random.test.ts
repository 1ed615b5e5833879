/**
 * Seeded random runs of the file source against real files: appends (with partial lines completed
 * later), rename rotations, copytruncate rotations, deletions of fully read rotated files, crashes
 * (batches in flight abandoned) and graceful restarts. At the end every line written must be durable
 * exactly once. The pattern covers the rotated names, so no rotation can hide a file from a scan.
 * The seed is printed; SOURCES_SEED=<n> replays one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, readdirSync, renameSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileSourceSchema } from '../../src/sources/file/config';
import { FileSource } from '../../src/sources/file/source';
import { decodePosition } from '../../src/sources/file/position';
import { Harness, tempDir } from './harness';
import { mulberry32 } from '../util/random';


const seeds = process.env['SOURCES_SEED'] ? [Number(process.env['SOURCES_SEED'])] : [1, 2, 3, Date.now() % 100_000];

for (const seed of seeds) {
  test(`random appends, rotations, crashes and restarts lose and repeat no line (seed ${seed}${seed % 2 === 0 ? ', identical headers' : ''})`, async (t) => {
    const rand = mulberry32(seed);
    const int = (n: number): number => Math.floor(rand() * n);
    const dir = tempDir(t);
    const file = join(dir, 'app.log');
    const make = (): FileSource =>
      new FileSource(
        fileSourceSchema.parse({
          type: 'file',
          include: [join(dir, 'app.log*')],
          glob_interval_ms: 20,
          rotate_wait_ms: 100,
          idle_flush_ms: 0,
          read_buffer_bytes: 4096 * (1 + int(8)),
          max_batches_in_flight: 1 + int(4),
        }),
      );
    const expected: string[] = [];
    let n = 0;
    let partial = ''; // the unfinished line at the end of app.log
    let rotated = 0;
    let exists = false; // app.log exists (it is created by the first append after a rename)
    // Even seeds: every file starts with the same long header, as many applications' files do.
    const header = seed % 2 === 0 ? `# the same banner on top of every file ${'='.repeat(300)}` : '';
    let fresh = true; // app.log is new or empty: the next append starts with the header
    const fullyRead: string[] = [];
    const done: Harness[] = [];
    let h = new Harness(make()).start();
    h.emitDelayMs = int(3);
    const durable = (): number => done.reduce((s, x) => s + x.events(), 0) + h.events();
    const log: string[] = [];
    try {
      for (let step = 0; step < 40; step++) {
        const op = rand();
        if (op < 0.45) {
          // Append whole lines, maybe finishing the partial one, maybe leaving a new partial one.
          let s = '';
          if (fresh && header) {
            s += `${header}\n`;
            expected.push(header);
          }
          fresh = false;
          if (partial) {
            s += `${'-'.repeat(int(20))}\n`;
            expected.push(partial + s.slice(0, -1));
            partial = '';
          }
          const k = 1 + int(300);
          for (let i = 0; i < k; i++) {
            const line = `L${String(n++).padStart(7, '0')} ${'x'.repeat(int(120))}`;
            s += `${line}\n`;
            expected.push(line);
          }
          if (rand() < 0.3) {
            partial = `P${String(n++).padStart(7, '0')}`;
            s += partial;
          }
          appendFileSync(file, s);
          exists = true;
          log.push(`append ${k}${partial ? ' +partial' : ''}`);
        } else if (op < 0.6 && !partial && exists) {
          const to = `${file}.${++rotated}`;
          renameSync(file, to);
          exists = false;
          fresh = true;
          fullyRead.push(to);
          log.push(`rename -> ${to}`);
        } else if (op < 0.7 && !partial && exists) {
          const to = `${file}.${++rotated}`;
          copyFileSync(file, to);
          truncateSync(file, 0);
          fresh = true;
          fullyRead.push(to);
          log.push(`copytruncate -> ${to}`);
        } else if (op < 0.78) {
          log.push('crash');
          await h.crash();
          if (process.env['SOURCES_DEBUG']) {
            for (const [k, v] of h.positions) {
              const p = decodePosition(k, v);
              log.push(`[${k.slice(4, 8)} ${p.path.slice(-9)}@${p.offset}/${p.fpLen}]`);
            }
          }
          done.push(h);
          h = new Harness(make(), 'app', h.positions).start();
        } else if (op < 0.84) {
          log.push('restart');
          await h.stop();
          done.push(h);
          h = new Harness(make(), 'app', h.positions).start();
        } else if (op < 0.9 && fullyRead.length > 0) {
          // Delete the oldest rotated file once everything written so far is durable.
          const target = expected.length;
          await h.until('everything so far', () => durable() >= target);
          const f = fullyRead.shift() as string;
          unlinkSync(f);
          log.push(`delete ${f}`);
        } else {
          await new Promise((r) => setTimeout(r, int(60)));
        }
      }
      if (partial) {
        appendFileSync(file, '\n');
        expected.push(partial);
      }
      await h.until('every line', () => durable() >= expected.length, 20_000);
      await new Promise((r) => setTimeout(r, 150)); // room for a duplicate to show
      await h.stop();
      done.push(h);
      const got = done.flatMap((x) => x.text().split('\n').filter((l) => l.length > 0));
      const seen = new Set<string>();
      const dup = got.find((l) => l !== header && (seen.has(l) ? true : (seen.add(l), false)));
      if (dup !== undefined) {
        // Where each copy came from: run, batch, origin, positions.
        done.forEach((x, run) =>
          x.durableBatches.forEach((b, i) => {
            if (!b.lines.includes(dup)) return;
            const pos = (b.positions ?? []).map((p) => (p.value ? `${p.key}@${decodePosition(p.key, p.value).offset}` : `${p.key}=null`));
            t.diagnostic(`run ${run} batch ${i} origin ${b.origin ?? '?'} positions ${pos.join(' ')} first ${b.lines.toString('latin1', 0, 9)}`);
          }),
        );
      }
      assert.equal(dup, undefined, 'no line twice');
      assert.deepEqual([...got].sort(), [...expected].sort());
    } catch (e) {
      t.diagnostic(`seed ${seed}; steps: ${log.join(', ')}`);
      for (const l of h.logs.slice(-60)) t.diagnostic(`${l.level} ${l.msg} ${JSON.stringify(l.fields)}`);
      for (const [k, v] of h.positions) {
        const p = decodePosition(k, v);
        t.diagnostic(`position ${k} ${p.path} @${p.offset} L=${p.fpLen}`);
      }
      for (const f of readdirSync(dir)) t.diagnostic(`file ${f} ${statSync(join(dir, f)).size} bytes`);
      await h.stop().catch(() => undefined);
      throw e;
    }
  });
}
