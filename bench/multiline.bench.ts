/**
 * Multiline benchmark: the file source on a log where 20 % of the lines belong to Java stack traces
 * (one 10-line trace after every 40 ordinary lines of ~100 bytes), with `multiline: { mode: java }`
 * beside the same file without `multiline` (the plain line path), alone (emit resolves at once) and
 * feeding the real write-ahead queue with `fsync: always` (the durable pipeline up to the queue).
 * Lines/s counts input lines. Best of two runs for every case (a fresh queue for each).
 * Then the sink side: what a file sink encodes before its writev, for those events — `encoding:
 * text` (each event's lines back, out of its JSON) and `encoding: json`. Best of three. (`text` of
 * plain lines costs nothing to measure: the record's bytes are handed on as they are.)
 * Run: `npm run bench -- multiline` (MULTILINE_BENCH_LINES to change the size, default 1,000,000).
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSourceSchema } from '../src/sources/file/config';
import { FileSource } from '../src/sources/file/source';
import type { SourceBatch } from '../src/core/source';
import { openQueue } from '../src/queue/index';
import { drainSource, now } from './source-util';
import { decodeEnvelope, encodeEnvelope, type Envelope } from '../src/core/envelope';
import { asRecordId } from '../src/core/records';
import { encodeBatches } from '../src/sinks/encoding';
import type { Encoding } from '../src/core/sink';

const LINES = Number(process.env['MULTILINE_BENCH_LINES'] ?? 1_000_000);

const TRACE = [
  'java.lang.IllegalStateException: request 42 failed: upstream answered 503',
  '\tat com.example.api.Client.call(Client.java:118)',
  '\tat com.example.api.Client.get(Client.java:73)',
  '\tat com.example.orders.OrderService.load(OrderService.java:204)',
  '\tat com.example.orders.OrderController.show(OrderController.java:51)',
  '\tat jdk.internal.reflect.GeneratedMethodAccessor12.invoke(Unknown Source)',
  'Caused by: java.net.SocketTimeoutException: Read timed out',
  '\tat java.base/java.net.SocketInputStream.socketRead0(Native Method)',
  '\tat java.base/java.net.SocketInputStream.read(SocketInputStream.java:168)',
  '\t... 4 more',
];

interface Result {
  readonly name: string;
  readonly ms: number;
  readonly events: number;
  readonly batches: number;
}

async function run(name: string, src: FileSource, events: number, emitTo?: (b: SourceBatch) => Promise<void>): Promise<Result> {
  const { ms, batches } = await drainSource(name, src, events, emitTo);
  return { name, ms, events, batches };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-multiline-bench-'));
  try {
    mkdirSync(join(dir, 'logs'));
    const file = join(dir, 'logs', 'app.log');
    const parts: string[] = [];
    let lines = 0;
    let events = 0;
    for (let i = 0; lines < LINES; i++) {
      if (i % 41 === 40) {
        parts.push(`${TRACE.join('\n')}\n`);
        lines += TRACE.length;
      } else {
        parts.push(`2026-11-30T03:00:00.000Z INFO request ${String(i).padStart(9, '0')} served path=/api/v1/items status=200\n`);
        lines++;
      }
      events++;
    }
    const text = parts.join('');
    writeFileSync(file, text);
    const bytes = Buffer.byteLength(text);
    const plain = fileSourceSchema.parse({ type: 'file', include: [join(dir, 'logs', '*.log')] });
    const java = fileSourceSchema.parse({ type: 'file', include: [join(dir, 'logs', '*.log')], multiline: { mode: 'java', timeout: '1h' } });
    const best = async (f: () => Promise<Result>): Promise<Result> => {
      const a = await f();
      const b = await f();
      return a.ms <= b.ms ? a : b;
    };
    // With multiline the last event stays pending (no timeout in this run): one event fewer.
    const results: Result[] = [];
    results.push(await best(() => run('plain lines (emit resolves at once)', new FileSource(plain), lines)));
    results.push(await best(() => run('multiline java (emit resolves at once)', new FileSource(java), events - 1)));
    for (const [name, cfg, n] of [
      ['plain lines -> queue (fsync always)', plain, lines],
      ['multiline java -> queue (fsync always)', java, events - 1],
    ] as const) {
      let k = 0;
      results.push(
        await best(async () => {
          const qdir = join(dir, `queue-${results.length}-${k++}`);
          const q = await openQueue({ dir: qdir, consumers: [], fsync: { mode: 'always' }, maxBytes: 4096 * 1024 * 1024 });
          try {
            return await run(name, new FileSource(cfg), n, async (b) => {
              await q.append(b.lines, { events: b.events, ...(b.positions ? { positions: b.positions } : {}) });
            });
          } finally {
            await q.close();
            rmSync(qdir, { recursive: true, force: true });
          }
        }),
      );
    }
    process.stdout.write(`${lines.toLocaleString('en')} lines (${(bytes / 1048576).toFixed(0)} MiB), 20 % of them in ${Math.round(lines * 0.2 / TRACE.length).toLocaleString('en')} Java traces of ${TRACE.length} lines; ${events.toLocaleString('en')} events with multiline; page cache warm; 2 shared cores (figures are noisy)\n\n`);
    process.stdout.write('| case | input lines/s | MiB/s | events | batches | vs plain, same sink |\n| --- | ---: | ---: | ---: | ---: | ---: |\n');
    results.forEach((r, i) => {
      const ref = results[i - (i % 2)] as Result;
      const lps = (lines / r.ms) * 1000;
      process.stdout.write(
        `| ${r.name} | ${Math.round(lps).toLocaleString('en')} | ${((bytes / 1048576 / r.ms) * 1000).toFixed(0)} | ${r.events.toLocaleString('en')} | ${r.batches} | ${(ref.ms / r.ms).toFixed(2)}x |\n`,
      );
    });
    process.stdout.write('\ntarget: multiline java -> queue (fsync always) >= 1,000,000 input lines/s\n');
    await sinkEncodings(java, lines, events - 1, bytes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The records of one source run, as a sink reads them back from the queue. */
async function records(cfg: ReturnType<typeof fileSourceSchema.parse>, events: number): Promise<Envelope[]> {
  const out: Envelope[] = [];
  await drainSource('records', new FileSource(cfg), events, async (b) => {
    const payload = encodeEnvelope(b.format ?? 'lines', 'app', b.origin, Date.now(), b.lines);
    out.push(decodeEnvelope(payload, b.events, asRecordId(out.length + 1)));
    await Promise.resolve();
  });
  return out;
}

async function sinkEncodings(java: ReturnType<typeof fileSourceSchema.parse>, lines: number, events: number, bytes: number): Promise<void> {
  const javaRecs = await records(java, events);
  const time = (encoding: Encoding, recs: readonly Envelope[]): { ms: number; out: number } => {
    let best = Infinity;
    let out = 0;
    for (let k = 0; k < 3; k++) {
      const t0 = now();
      out = 0;
      for (let i = 0; i < recs.length; i += 64) for (const b of encodeBatches(encoding, recs.slice(i, i + 64))) out += b.length;
      best = Math.min(best, now() - t0);
    }
    return { ms: best, out };
  };
  process.stdout.write('\nsink encodings (what a file sink hands to writev; best of 3)\n\n| records | encoding | input lines/s | events/s | output MiB |\n| --- | --- | ---: | ---: | ---: |\n');
  for (const [name, recs, encoding, n] of [
    ['multiline java', javaRecs, 'text', events],
    ['multiline java', javaRecs, 'json', events],
  ] as const) {
    const r = time(encoding, recs);
    process.stdout.write(
      `| ${name} | ${encoding} | ${Math.round((lines / r.ms) * 1000).toLocaleString('en')} | ${Math.round((n / r.ms) * 1000).toLocaleString('en')} | ${(r.out / 1048576).toFixed(0)} |\n`,
    );
  }
  process.stdout.write(`(input: ${(bytes / 1048576).toFixed(0)} MiB; \`text\` of the events gives the input back, less the pending last event; \`text\` of plain lines hands the record's bytes on as they are)\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
