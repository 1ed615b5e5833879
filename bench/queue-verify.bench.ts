/**
 * `sluice queue verify|inspect` throughput: `inspectQueue()` (what both commands run) over a queue
 * of 64 KiB agent records, against two references measured in the same run over the same files:
 * a plain sequential read in 4 MiB chunks (the floor: what the disk or page cache gives), and that
 * read plus zlib's crc32 over every byte (what the cheapest possible checker would cost).
 *
 * The queue is written once (fsync never) into a fresh directory under os.tmpdir(); each case runs
 * three times, the table shows the best (warm page cache: this measures the CPU cost of the scan,
 * not the disk). Size: QUEUE_VERIFY_MB (default 256). Run: `npm run bench -- queue-verify`.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { encodeEnvelope } from '../src/core/envelope';
import { nodeFileSystem } from '../src/core/node-ports';
import { openQueue } from '../src/queue/index';
import { inspectQueue } from '../src/queue/inspect';

const MiB = 1024 * 1024;
const TOTAL = Number(process.env['QUEUE_VERIFY_MB'] ?? 256) * MiB;
const RECORD = 64 * 1024;
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

const build = async (dir: string): Promise<void> => {
  const q = await openQueue({ dir, consumers: ['a', 'b'], fsync: { mode: 'never' }, segmentBytes: 64 * MiB, maxBytes: TOTAL * 4 });
  const line = `${'x'.repeat(120)}\n`;
  const lines = Buffer.from(line.repeat(Math.floor(RECORD / line.length)));
  const events = Math.floor(RECORD / line.length);
  for (let written = 0; written < TOTAL; written += lines.length) {
    await q.append(encodeEnvelope('lines', 'app', '/var/log/app.log', Date.now(), lines), { events });
  }
  await q.close();
};

const plainRead = async (dir: string, withCrc: boolean): Promise<number> => {
  const buf = Buffer.allocUnsafe(4 * MiB);
  let bytes = 0;
  let c = 0;
  for (const name of readdirSync(dir).filter((n) => n.startsWith('seg-'))) {
    const fh = await open(join(dir, name), 'r');
    try {
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) break;
        if (withCrc) c = crc32(buf.subarray(0, bytesRead), c);
        bytes += bytesRead;
      }
    } finally {
      await fh.close();
    }
  }
  return bytes + (c & 0); // keep the crc live
};

const best = async (fn: () => Promise<number>): Promise<{ bytes: number; ms: number }> => {
  let out = { bytes: 0, ms: Infinity };
  for (let i = 0; i < 3; i++) {
    const t0 = now();
    const bytes = await fn();
    const ms = now() - t0;
    if (ms < out.ms) out = { bytes, ms };
  }
  return out;
};

const main = async (): Promise<void> => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-verify-'));
  try {
    await build(dir);
    const read = await best(() => plainRead(dir, false));
    const readCrc = await best(() => plainRead(dir, true));
    let frames = 0;
    const scan = await best(async () => {
      const r = await inspectQueue(nodeFileSystem, dir, { consumers: ['a', 'b'], recordTime: (p) => p.readDoubleLE(8) });
      if (r.findings.some((f) => f.severity === 'damage')) throw new Error('the benchmark queue is damaged');
      frames = r.frames;
      return r.totalBytes;
    });
    const rate = (x: { bytes: number; ms: number }): string => `${((x.bytes / MiB) / (x.ms / 1000)).toFixed(0)} MiB/s`;
    const rows: [string, { bytes: number; ms: number }][] = [
      ['plain read, 4 MiB chunks (reference)', read],
      ['plain read + crc32 of every byte (reference)', readCrc],
      [`inspectQueue: ${frames} frames checked (verify/inspect)`, scan],
    ];
    process.stdout.write(`queue of ${(TOTAL / MiB).toFixed(0)} MiB, ${RECORD / 1024} KiB records; best of 3, warm page cache\n\n`);
    process.stdout.write('| case | MiB | ms | rate | speed vs read + crc32 |\n| --- | ---: | ---: | ---: | ---: |\n');
    for (const [name, r] of rows) {
      process.stdout.write(`| ${name} | ${(r.bytes / MiB).toFixed(0)} | ${r.ms.toFixed(0)} | ${rate(r)} | ${(readCrc.ms / r.ms).toFixed(2)}× |\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

void main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
