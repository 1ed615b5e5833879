/**
 * Source benchmark: how fast the file source turns a file of ~100-byte lines into batches, alone
 * (emit resolves at once) and feeding the real write-ahead queue with fsync always; the stdin
 * source over a file stream; and, as references in the same run, Node's usual way to read lines
 * (`readline` over `fs.createReadStream`) and a raw loop of 1 MiB reads + `indexOf(10)` counting
 * (the floor: what reading and finding newlines costs without any batching or bookkeeping).
 * The file is fresh in os.tmpdir() and in the page cache (it was just written).
 * Best of two runs for every case but the queue one. Run: `npm run bench -- source` (SOURCE_BENCH_LINES to change the size, default 1,000,000).
 */
import { mkdtempSync, writeFileSync, rmSync, openSync, readSync, closeSync, createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSourceSchema } from '../src/sources/file/config';
import { FileSource } from '../src/sources/file/source';
import { stdinSourceSchema } from '../src/sources/stdin/config';
import { StdinSource } from '../src/sources/stdin/source';
import type { Source, SourceBatch } from '../src/core/source';
import { openQueue } from '../src/queue/index';
import { drainSource, now } from './source-util';

const LINES = Number(process.env['SOURCE_BENCH_LINES'] ?? 1_000_000);

interface Result {
  name: string;
  lines: number;
  ms: number;
  batches?: number;
}

async function runSource(name: string, src: Source, total: number, emitTo?: (b: SourceBatch) => Promise<void>): Promise<Result> {
  const { ms, batches } = await drainSource(name, src, total, emitTo);
  return { name, lines: total, ms, batches };
}

async function readlineRef(file: string): Promise<Result> {
  const t0 = now();
  let lines = 0;
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const _ of rl) lines++;
  return { name: 'reference: readline over createReadStream', lines, ms: now() - t0 };
}

function rawRef(file: string): Result {
  const t0 = now();
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1024 * 1024);
  let lines = 0;
  let pos = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    pos += n;
    const view = buf.subarray(0, n);
    for (let i = view.indexOf(10); i !== -1; i = view.indexOf(10, i + 1)) lines++;
  }
  closeSync(fd);
  return { name: 'reference: raw 1 MiB reads + indexOf count', lines, ms: now() - t0 };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-source-bench-'));
  try {
    const logs = join(dir, 'logs');
    const file = join(logs, 'app.log');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(logs);
    const line = (i: number): string => `2026-11-26T14:00:00.000Z INFO request ${String(i).padStart(9, '0')} served path=/api/v1/items status=200\n`.padStart(100, ' ');
    const parts: string[] = [];
    for (let i = 0; i < LINES; i++) parts.push(line(i));
    writeFileSync(file, parts.join(''));
    const bytes = Buffer.byteLength(parts.join(''));
    const fileCfg = fileSourceSchema.parse({ type: 'file', include: [join(logs, '*.log')] });
    const results: Result[] = [];
    // Best of two runs each (the first one also warms the JIT and the page cache).
    const best = async (f: () => Result | Promise<Result>): Promise<Result> => {
      const a = await f();
      const b = await f();
      return a.ms <= b.ms ? a : b;
    };
    results.push(await best(() => rawRef(file)));
    results.push(await best(() => readlineRef(file)));
    results.push(await best(() => runSource('file source (emit resolves at once)', new FileSource(fileCfg), LINES)));
    // The same lines spread over 20 files read at once (round-robin, one read per file per round).
    const many = join(dir, 'many');
    mkdirSync(many);
    const per = Math.floor(LINES / 20);
    for (let f = 0; f < 20; f++) writeFileSync(join(many, `f${f}.log`), parts.slice(f * per, (f + 1) * per).join(''));
    const manyCfg = fileSourceSchema.parse({ type: 'file', include: [join(many, '*.log')] });
    results.push(await best(() => runSource('file source, 20 files (emit resolves at once)', new FileSource(manyCfg), per * 20)));
    const q = await openQueue({ dir: join(dir, 'queue'), consumers: [], fsync: { mode: 'always' }, maxBytes: 4096 * 1024 * 1024 });
    results.push(
      await runSource('file source -> queue (fsync always)', new FileSource(fileCfg), LINES, async (b) => {
        await q.append(b.lines, { events: b.events, ...(b.positions ? { positions: b.positions } : {}) });
      }),
    );
    await q.close();
    results.push(
      await best(() =>
        runSource('stdin source over a file stream (1 MiB chunks)', new StdinSource(stdinSourceSchema.parse({ type: 'stdin' }), { stream: createReadStream(file, { highWaterMark: 1024 * 1024 }) }), LINES),
      ),
    );
    const ref = results[1] as Result;
    process.stdout.write(`${LINES.toLocaleString('en')} lines of 100 bytes (${(bytes / 1048576).toFixed(0)} MiB), page cache warm\n\n`);
    process.stdout.write('| case | lines/s | MiB/s | batches | vs readline |\n| --- | ---: | ---: | ---: | ---: |\n');
    for (const r of results) {
      const lps = (r.lines / r.ms) * 1000;
      const mibs = (bytes / 1048576 / r.ms) * 1000;
      const refLps = (ref.lines / ref.ms) * 1000;
      process.stdout.write(`| ${r.name} | ${Math.round(lps).toLocaleString('en')} | ${mibs.toFixed(0)} | ${r.batches ?? '-'} | ${(lps / refLps).toFixed(2)}x |\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
