/**
 * The http source's per-sender deduplication (`src/sources/http/dedup.ts`) in one process, per
 * event, beside what every http request already pays: decoding its NDJSON (the reference, measured
 * in the same run). No server and no queue (the append resolves at once): the CPU cost alone.
 *
 *   npm run bench -- dedup
 */
import { decodeNdjson } from '../src/sources/http/decode';
import { Dedup } from '../src/sources/http/dedup';

const EVENTS = 1000; // events per request, as a sluice edge sends them (one id run per request)
const REQUESTS = 2000;

const bodies: Buffer[] = [];
for (let r = 0; r < 50; r++) {
  let s = '';
  for (let k = 0; k < EVENTS; k++) s += `{"event_id":${r * EVENTS + k},"message":"GET /api/v1/orders/${k} 200 12ms user=4711","source":"app","timestamp":"2026-11-30T00:00:00.000Z"}\n`;
  bodies.push(Buffer.from(s));
}

const measure = async (fn: (i: number) => void | Promise<unknown>): Promise<number> => {
  for (let i = 0; i < 200; i++) await fn(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < REQUESTS; i++) await fn(i);
  return Number(process.hrtime.bigint() - t) / (REQUESTS * EVENTS);
};

async function main(): Promise<void> {
  const rows: [string, number][] = [];
  rows.push(['reference: decodeNdjson, as every request pays it', await measure((i) => void decodeNdjson(bodies[i % 50] as Buffer))]);
  rows.push(['decodeNdjson collecting each event_id', await measure((i) => void decodeNdjson(bodies[i % 50] as Buffer, []))]);
  const ids = new Array<number>(EVENTS);
  const d = new Dedup('in');
  let next = 0;
  const append = (): Promise<void> => Promise.resolve();
  rows.push([
    'Dedup.take: new ids, with Sluice-Acked-Below',
    await measure(async () => {
      for (let k = 0; k < EVENTS; k++) ids[k] = next + k;
      next += EVENTS;
      await d.take({ sender: '0f6e2c4a:central', ackedBelow: next - EVENTS, ids }, append);
    }),
  ]);
  // A replay in the window above the low-water mark (no Sluice-Acked-Below): looked up event by event.
  const r = new Dedup('in');
  for (let k = 0; k < EVENTS; k++) ids[k] = k;
  await r.take({ sender: '0f6e2c4a:central', ackedBelow: undefined, ids }, append);
  rows.push(['Dedup.take: a replay of ids taken (all duplicates)', await measure(() => r.take({ sender: '0f6e2c4a:central', ackedBelow: undefined, ids }, append))]);
  process.stdout.write(`Node ${process.version}; ${EVENTS} events per request, ${REQUESTS} requests per row.\n\n| case | ns per event |\n| --- | ---: |\n`);
  for (const [name, ns] of rows) process.stdout.write(`| ${name} | ${ns.toFixed(0)} |\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
