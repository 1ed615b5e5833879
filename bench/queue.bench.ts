/**
 * Write-ahead queue benchmark: append throughput for 256 B / 4 KiB / 64 KiB records with 1 and 16
 * concurrent producers under each fsync policy, read-back throughput, and as the reference in the
 * same run a raw loop of sequential `writev` + `fdatasync` of the same bytes (FileHandle API).
 *
 * Raw reference batch size: the raw loop writes `producers` records per write + fdatasync, i.e. the
 * batch a perfect group commit would form when every producer has one append in flight (1 record
 * per fsync for 1 producer, 16 for 16). That is the best the queue can do for that load, so the
 * ratio says what the queue's framing, promises and bookkeeping cost on top of the disk.
 *
 * Each case runs until a byte cap or a time cap (QUEUE_BENCH_MS, default 1500 ms), whichever comes
 * first; rates are per wall second. The raw reference runs right before each queue case.
 * Directory: a fresh one under os.tmpdir() (same disk as /work on the build machine; `df` to check).
 * Run: `npm run bench -- queue`.
 */
import { mkdtempSync, openSync, closeSync, readSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openQueue } from '../src/queue/index';
import type { FsyncPolicy } from '../src/queue/types';

const MiB = 1024 * 1024;
const TIME_CAP_MS = Number(process.env['QUEUE_BENCH_MS'] ?? 1500);
const sizes = [256, 4096, 65536] as const;
const producersList = [1, 16] as const;
const policies: readonly FsyncPolicy[] = [{ mode: 'always' }, { mode: 'interval', intervalMs: 10 }, { mode: 'never' }];
const byteCap = (size: number): number => (size >= 65536 ? 256 * MiB : size >= 4096 ? 64 * MiB : 16 * MiB);

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const policyName = (p: FsyncPolicy): string => (p.mode === 'interval' ? `interval ${p.intervalMs}ms` : p.mode);
const fmt = (n: number, d = 1): string => (n >= 100 ? n.toFixed(0) : n.toFixed(d));

interface Result {
  records: number;
  bytes: number;
  ms: number;
  fsyncs: number;
}

function freshDir(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-bench-'));
}

async function appendCase(size: number, producers: number, fsync: FsyncPolicy): Promise<Result> {
  const dir = freshDir();
  try {
    const q = await openQueue({ dir, consumers: [], fsync, maxBytes: 2048 * MiB });
    const payload = Buffer.alloc(size, 0x61);
    const cap = byteCap(size);
    let bytes = 0;
    let records = 0;
    const t0 = now();
    const deadline = t0 + TIME_CAP_MS;
    const f0 = q.metrics().fsyncs;
    const loop = async (): Promise<void> => {
      while (bytes < cap && now() < deadline) {
        bytes += size;
        records++;
        await q.append(payload);
      }
    };
    await Promise.all(Array.from({ length: producers }, loop));
    const ms = now() - t0;
    const fsyncs = q.metrics().fsyncs - f0;
    await q.close();
    return { records, bytes, ms, fsyncs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function rawCase(size: number, batch: number): Promise<Result> {
  const dir = freshDir();
  try {
    // The same async API the queue uses (FileHandle.writev + datasync through libuv's thread pool);
    // on this machine the synchronous fdatasyncSync loop measured several times slower, which
    // would flatter the queue.
    const fh = await open(join(dir, 'raw.log'), 'a');
    const bufs = Array.from({ length: batch }, () => Buffer.alloc(size, 0x61));
    const cap = byteCap(size);
    let bytes = 0;
    let records = 0;
    let fsyncs = 0;
    const t0 = now();
    const deadline = t0 + TIME_CAP_MS;
    while (bytes < cap && now() < deadline) {
      await fh.writev(bufs);
      await fh.datasync();
      fsyncs++;
      bytes += size * batch;
      records += batch;
    }
    const ms = now() - t0;
    await fh.close();
    return { records, bytes, ms, fsyncs };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fills a queue, reopens it, and reads everything back from disk as one consumer; raw: read the files. */
async function readCase(size: number): Promise<{ queue: Result; raw: Result }> {
  const dir = freshDir();
  try {
    const total = Math.min(byteCap(size), 64 * MiB);
    let q = await openQueue({ dir, consumers: ['r'], fsync: { mode: 'never' }, maxBytes: 2048 * MiB });
    const payload = Buffer.alloc(size, 0x62);
    let left = Math.floor(total / size);
    const n = left;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (left-- > 0) await q.append(payload);
      }),
    );
    await q.close();
    q = await openQueue({ dir, consumers: ['r'], maxBytes: 2048 * MiB });
    const c = q.consumer('r');
    let records = 0;
    let bytes = 0;
    const t0 = now();
    while (records < n) {
      const recs = await c.read({ maxRecords: 4096, maxBytes: 8 * MiB });
      for (const r of recs) bytes += r.payload.length;
      records += recs.length;
    }
    const ms = now() - t0;
    await q.close();
    // Raw: read the same segment files sequentially in 1 MiB chunks.
    const buf = Buffer.allocUnsafe(MiB);
    let rawBytes = 0;
    const r0 = now();
    for (const name of readdirSync(dir).filter((f) => f.startsWith('seg-'))) {
      const fd = openSync(join(dir, name), 'r');
      for (let got = readSync(fd, buf, 0, MiB, null); got > 0; got = readSync(fd, buf, 0, MiB, null)) rawBytes += got;
      closeSync(fd);
    }
    const rawMs = now() - r0;
    return { queue: { records, bytes, ms, fsyncs: 0 }, raw: { records: 0, bytes: rawBytes, ms: rawMs, fsyncs: 0 } };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mbps = (r: Result): number => r.bytes / MiB / (r.ms / 1000);
const rps = (r: Result): number => r.records / (r.ms / 1000);

async function main(): Promise<void> {
  const started = now();
  process.stdout.write(`temp dir: ${tmpdir()}; time cap per case ${TIME_CAP_MS} ms\n\n`);
  const raw = new Map<string, Result>();

  process.stdout.write('### append\n\n');
  process.stdout.write('| record | producers | fsync | records/s | MiB/s | appends per fsync | raw write+fdatasync MiB/s (batch = producers) | ratio to raw |\n');
  process.stdout.write('| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n');
  const results = new Map<string, Result>();
  for (const fsync of policies) {
    for (const size of sizes) {
      for (const p of producersList) {
        // The reference runs right before its case, so both see the same disk weather.
        const ref = await rawCase(size, p);
        const r = await appendCase(size, p, fsync);
        results.set(`${policyName(fsync)}/${size}/${p}`, r);
        raw.set(`${policyName(fsync)}/${size}/${p}`, ref);
        process.stdout.write(
          `| ${size} B | ${p} | ${policyName(fsync)} | ${fmt(rps(r))} | ${fmt(mbps(r))} | ${r.fsyncs > 0 ? fmt(r.records / r.fsyncs) : '—'} | ${fmt(mbps(ref))} | ${fmt(mbps(r) / mbps(ref), 2)} |\n`,
        );
      }
    }
  }

  process.stdout.write('\n### read back (one consumer, from disk after reopen; raw = sequential 1 MiB reads of the same files)\n\n');
  process.stdout.write('| record | records/s | MiB/s | raw read MiB/s | ratio to raw |\n| ---: | ---: | ---: | ---: | ---: |\n');
  for (const size of sizes) {
    const { queue, raw: rr } = await readCase(size);
    process.stdout.write(`| ${size} B | ${fmt(rps(queue))} | ${fmt(mbps(queue))} | ${fmt(mbps(rr))} | ${fmt(mbps(queue) / mbps(rr), 2)} |\n`);
  }

  const big = results.get('always/65536/16')!;
  const small16 = results.get('always/256/16')!;
  const small1 = results.get('always/256/1')!;
  process.stdout.write('\n### targets\n\n| what | value | target |\n| --- | ---: | ---: |\n');
  process.stdout.write(`| always, 16 producers, 64 KiB: ratio to raw write+fdatasync | ${fmt(mbps(big) / mbps(raw.get('always/65536/16')!), 2)} | >= 0.8 |\n`);
  process.stdout.write(`| always, 256 B: 16 producers / 1 producer throughput | ${fmt(rps(small16) / rps(small1), 2)} | > 1 |\n`);
  process.stdout.write(`\ntotal ${fmt((now() - started) / 1000)} s\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
