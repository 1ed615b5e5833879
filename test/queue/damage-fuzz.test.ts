/**
 * Random damage on the real disk: many rounds of writing records, damaging the segment files at
 * random (flipped bytes, zeroed ranges, truncation, junk appended, a segment file removed), and
 * reopening. Opening must never fail, every record read back must be one that was written (exact
 * bytes, ids increasing), and every record whose bytes were not touched must be read back — but
 * for one case: a truncation of the last segment (or the removal of the segment after it) takes
 * away its closing snapshot, and the segment then looks like the tail of a crashed queue, where
 * zeros from a frame start to a sector boundary are a torn write's mark (docs/queue.md, the
 * torn-tail rule): records after a cut recovery reports in such a file are not required.
 * Seed: printed; set SLUICE_DAMAGE_SEED to replay, SLUICE_DAMAGE_ROUNDS (default 25) to explore more.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openQueue } from '../../src/queue/index';
import { mulberry32 } from './crash-payload';
import { readAvailable, tempDir } from './helpers';

interface Written {
  id: number;
  events: number;
  payload: Buffer;
  file: string;
  start: number;
  end: number;
}

const payloadOf = (round: number, i: number): Buffer =>
  Buffer.from(`${round}/${i}|`.padEnd(20 + ((i * 131 + round * 7) % 700), String.fromCharCode(65 + (i % 26))));

/** Maps each record to its file and byte range by walking the frames (the files are undamaged here). */
function locate(dir: string, byId: Map<number, Written>): void {
  for (const name of readdirSync(dir).filter((n) => n.startsWith('seg-'))) {
    const b = readFileSync(join(dir, name));
    for (let at = 0; at + 32 <= b.length; ) {
      const len = b.readUInt32LE(at + 8);
      const w = byId.get(b.readUInt32LE(at + 16));
      if (b[at + 12] === 1 && w !== undefined) Object.assign(w, { file: name, start: at, end: at + len });
      at += len;
    }
  }
}

test('random damage to segment files never blocks opening, never invents a record, and loses only damaged records', async () => {
  const seed = Number(process.env['SLUICE_DAMAGE_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
  console.log(`damage fuzz seed: ${seed} (replay with SLUICE_DAMAGE_SEED=${seed})`);
  const rnd = mulberry32(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const rounds = Number(process.env['SLUICE_DAMAGE_ROUNDS'] ?? 25);
  for (let round = 0; round < rounds; round++) {
    const { dir, cleanup } = tempDir('sluice-damage-');
    try {
      const segmentBytes = 4096 * (1 + int(4));
      let q = await openQueue({ dir, consumers: [], fsync: { mode: 'never' }, segmentBytes, maxBytes: 64 << 20 });
      const n = 20 + int(150);
      const written = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const payload = payloadOf(round, i);
          const events = 1 + (i % 4);
          const r = await q.append(payload, { events });
          return { id: r.id, events, payload, file: '', start: 0, end: 0 };
        }),
      );
      await q.close();
      const byId = new Map(written.map((w) => [w.id, w]));
      locate(dir, byId);

      // Damage: a list of [file, from, to) ranges (to = Infinity: to the end, or the whole file).
      const damaged: [string, number, number][] = [];
      const segs = readdirSync(dir).filter((f) => f.startsWith('seg-')).sort();
      const what: string[] = [];
      for (let d = 1 + int(3); d > 0; d--) {
        const file = segs[int(segs.length)]!;
        const path = join(dir, file);
        let size: number;
        try {
          size = statSync(path).size;
        } catch {
          continue; // removed by an earlier damage
        }
        if (size === 0) continue;
        const kind = int(5);
        if (kind === 0) {
          const at = int(size);
          const b = readFileSync(path);
          b[at] = b[at]! ^ (1 + int(255));
          writeFileSync(path, b);
          damaged.push([file, at, at + 1]);
          what.push(`flip ${file}@${at}`);
        } else if (kind === 1) {
          const at = int(size);
          const len = 1 + int(300);
          const b = readFileSync(path);
          b.fill(0, at, Math.min(size, at + len));
          writeFileSync(path, b);
          damaged.push([file, at, at + len]);
          what.push(`zero ${file}@${at}+${len}`);
        } else if (kind === 2) {
          const at = int(size);
          truncateSync(path, at);
          damaged.push([file, at, Number.POSITIVE_INFINITY]);
          what.push(`truncate ${file}@${at}`);
        } else if (kind === 3) {
          appendFileSync(path, Buffer.from(Array.from({ length: 1 + int(200) }, () => int(256))));
          what.push(`junk after ${file}`);
        } else {
          unlinkSync(path);
          damaged.push([file, 0, Number.POSITIVE_INFINITY]);
          what.push(`remove ${file}`);
        }
      }
      const ctx = `round ${round} (seed ${seed}): ${what.join(', ')}`;

      // The last segment left, when the damage took its closing snapshot away (truncated, or the
      // segment after it removed), and where recovery cut it then.
      const lastLeft = readdirSync(dir)
        .filter((f) => f.startsWith('seg-'))
        .sort()
        .at(-1);
      const truncated = damaged.some(([f, , to]) => f === lastLeft && to === Number.POSITIVE_INFINITY);
      const unsealed = lastLeft !== undefined && (lastLeft !== segs.at(-1) || truncated) ? lastLeft : null;

      q = await openQueue({ dir, consumers: ['audit'], segmentBytes, maxBytes: 64 << 20 });
      const cutNote = new RegExp(`^${unsealed ?? '-'}: truncated \\d+ bytes of torn or damaged tail at offset (\\d+)$`);
      const cut = q.recovery.notes.map((n) => cutNote.exec(n)).find((m) => m !== null);
      const cutAt = unsealed === null || cut === undefined || cut === null ? Number.POSITIVE_INFINITY : Number(cut[1]);
      const recs = await readAvailable(q.consumer('audit'));
      let prev = -1;
      const seen = new Set<number>();
      for (const r of recs) {
        assert.ok(r.id > prev, `${ctx}: id ${r.id} after ${prev}`);
        prev = r.id;
        const w = byId.get(r.id);
        assert.ok(w !== undefined, `${ctx}: record ${r.id} was never written`);
        assert.ok(r.payload.equals(w.payload) && r.events === w.events, `${ctx}: record ${r.id} content differs`);
        seen.add(r.id);
      }
      for (const w of written) {
        const cutAway = w.file === unsealed && w.start >= cutAt;
        const touched = cutAway || damaged.some(([f, from, to]) => f === w.file && from < w.end && to > w.start);
        if (!touched) assert.ok(seen.has(w.id), `${ctx}: undamaged record ${w.id} (${w.file}@${w.start}) not read back`);
      }
      // Appending still works after any damage, with an id above everything read.
      const after = await q.append(Buffer.from('after'));
      assert.ok(after.id > prev);
      await q.close();
    } finally {
      cleanup();
    }
  }
});
