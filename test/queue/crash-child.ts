/**
 * Child process for crash.test.ts: appends in a loop from several concurrent producers and reads +
 * acknowledges as consumer `c`, printing every resolved append and every persisted cursor on stdout
 * (one line each, written synchronously) until it is killed with SIGKILL.
 *
 * Usage: node crash-child.js <dir> <round> <seed> <fsync: always|interval|never>
 * Lines:  `ready` · `A <id> <round> <producer> <n>` · `C <ackedUpTo>`
 */
import { writeSync } from 'node:fs';
import { openQueue } from '../../src/queue/index';
import type { FsyncPolicy } from '../../src/queue/types';
import { crashPayload, mulberry32 } from './crash-payload';

async function main(): Promise<void> {
  const [dir, roundArg, seedArg, mode] = process.argv.slice(2);
  if (dir === undefined || roundArg === undefined || seedArg === undefined || mode === undefined) {
    throw new Error('usage: crash-child <dir> <round> <seed> <always|interval|never>');
  }
  const round = Number(roundArg);
  const rnd = mulberry32(Number(seedArg));
  const fsync: FsyncPolicy =
    mode === 'interval' ? { mode: 'interval', intervalMs: 3 } : mode === 'never' ? { mode: 'never' } : { mode: 'always' };
  const q = await openQueue({ dir, consumers: ['c'], fsync, segmentBytes: 64 * 1024, maxBytes: 256 << 20, cursorFlushMs: 15 });
  writeSync(1, 'ready\n');

  const producer = async (p: number): Promise<void> => {
    for (let n = 0; ; n++) {
      const payload = crashPayload(round, p, n);
      const r = await q.append(payload, {
        events: (n % 3) + 1,
        positions: [{ key: `p${p}`, value: Buffer.from(`${round}:${n}`) }],
      });
      writeSync(1, `A ${r.id} ${round} ${p} ${n}\n`);
    }
  };
  const consumer = async (): Promise<void> => {
    const c = q.consumer('c');
    for (let i = 0; ; i++) {
      const recs = await c.read({ maxRecords: 50 });
      // Acknowledge most records, some out of order, some not at all until a rewind.
      const order = recs.slice().sort(() => rnd() - 0.5);
      for (const r of order) if (rnd() < 0.9) c.ack(r.id);
      if (i % 7 === 6) c.rewind();
      if (i % 5 === 0) {
        await c.flushCursor();
        writeSync(1, `C ${c.ackedUpTo}\n`);
      }
    }
  };
  const conc = 2 + Math.floor(rnd() * 10);
  await Promise.all([consumer(), ...Array.from({ length: conc }, (_, p) => producer(p))]);
}

main().catch((e: unknown) => {
  process.stderr.write(`crash-child failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
