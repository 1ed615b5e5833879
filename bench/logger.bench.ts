/**
 * `npm run bench -- logger`: sluice's logger against pino 10 (async and sync destinations) and
 * winston, each case in its own child process, timed from spawn to exit (start-up and the final
 * flush included). Lines are counted in the output file afterwards; peak RSS is the child's
 * `process.resourceUsage().maxRSS` at the end.
 *
 * Before/after in one run: `SLUICE_BENCH_BASELINE=<built package entry, e.g. a checkout of main's
 * dist/src/index.js> npm run bench -- logger` adds a `sluice-baseline` row to every case, measured
 * right after the `sluice` row on the same machine state.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Peer = 'sluice' | 'sluice-baseline' | 'pino-async' | 'pino-sync' | 'winston';
type Shape = 'info' | 'child' | 'error';
const MSG = 'request handled ok upstream cache hit';

async function runCase(peer: Peer, shape: Shape, n: number, file: string): Promise<void> {
  const err = new Error('upstream refused the connection');
  let call: (i: number) => void;
  let finish: () => Promise<void> | void;
  if (peer === 'sluice' || peer === 'sluice-baseline') {
    const entry = peer === 'sluice' ? '../src/index' : (process.env['SLUICE_BENCH_BASELINE'] ?? '');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { createLogger } = require(entry) as typeof import('../src/index');
    const log = createLogger({ destination: file });
    call =
      shape === 'info'
        ? (i) => log.info({ seq: i, svc: 'api' }, MSG)
        : shape === 'child'
          ? (i) => log.child({ reqId: 'abc' }).info({ seq: i, svc: 'api' }, MSG)
          : () => log.error(err, 'failed');
    finish = () => log.flush();
  } else if (peer === 'pino-async' || peer === 'pino-sync') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pino = require('pino') as typeof import('pino');
    const dest =
      peer === 'pino-async' ? pino.destination({ dest: file, sync: false, minLength: 4096 }) : pino.destination({ dest: file, sync: true });
    if (peer === 'pino-async') await new Promise((r) => dest.once('ready', r));
    const log = pino.pino({}, dest);
    call =
      shape === 'info'
        ? (i) => log.info({ seq: i, svc: 'api' }, MSG)
        : shape === 'child'
          ? (i) => log.child({ reqId: 'abc' }).info({ seq: i, svc: 'api' }, MSG)
          : () => log.error(err, 'failed');
    finish = () => dest.flushSync();
  } else {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const winston = require('winston') as typeof import('winston');
    const transport = new winston.transports.File({ filename: file });
    const log = winston.createLogger({ level: 'info', format: winston.format.json(), transports: [transport] });
    call = (i) => log.info(MSG, { seq: i, svc: 'api' });
    finish = () =>
      new Promise<void>((r) => {
        transport.on('finish', () => r());
        log.end();
      });
  }
  for (let i = 0; i < n; i++) call(i);
  await finish();
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ rssMB: process.resourceUsage().maxRSS / 1024, cpuMs: (cpu.user + cpu.system) / 1000 }) + '\n');
}

function countLines(file: string): number {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return 0;
  }
  const buf = Buffer.allocUnsafe(1 << 20);
  let lines = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    let at = buf.indexOf(10, 0);
    while (at !== -1 && at < n) {
      lines++;
      at = buf.indexOf(10, at + 1);
    }
  }
  closeSync(fd);
  return lines;
}

interface Row {
  shape: Shape;
  peer: Peer;
  n: number;
  ms: number;
  cpuMs: number;
  lines: number;
  rssMB: number;
}

function measure(peer: Peer, shape: Shape, n: number, dir: string): Row {
  const file = join(dir, `${shape}-${peer}.log`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [__filename, '--case', peer, shape, String(n), file], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${peer}/${shape} failed (${r.status ?? r.signal}): ${r.stderr}`);
  const { rssMB, cpuMs } = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { rssMB: number; cpuMs: number };
  const lines = countLines(file);
  rmSync(file, { force: true });
  return { shape, peer, n, ms, cpuMs, lines, rssMB };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-logger-'));
  const plan: Array<[Shape, number, Peer[]]> = [
    ['info', 1_000_000, ['sluice', 'pino-async', 'pino-sync', 'winston']],
    ['child', 300_000, ['sluice', 'pino-async']],
    ['error', 100_000, ['sluice', 'pino-async']],
  ];
  const baseline = process.env['SLUICE_BENCH_BASELINE'];
  if (baseline !== undefined && baseline !== '') {
    for (const p of plan) p[2].splice(1, 0, 'sluice-baseline');
  }
  const rows: Row[] = [];
  try {
    for (const [shape, n, peers] of plan) for (const peer of peers) rows.push(measure(peer, shape, n, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const out = [
    '| case | logger | calls | time (ms) | CPU (ms) | lines written | peak RSS (MB) | time / pino-async | CPU / pino-async |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const ref = rows.find((x) => x.shape === r.shape && x.peer === 'pino-async');
    const ratio = ref ? (r.ms / ref.ms).toFixed(2) : '';
    const cpuRatio = ref ? (r.cpuMs / ref.cpuMs).toFixed(2) : '';
    const lines = r.lines === r.n ? `${r.lines}` : `**${r.lines}** (${r.n - r.lines} lost)`;
    out.push(`| ${r.shape} | ${r.peer} | ${r.n} | ${r.ms.toFixed(0)} | ${r.cpuMs.toFixed(0)} | ${lines} | ${r.rssMB.toFixed(1)} | ${ratio} | ${cpuRatio} |`);
  }
  const calls: Record<Shape, string> = {
    info: `log.info({ seq: i, svc: 'api' }, '${MSG}')`,
    child: `log.child({ reqId: 'abc' }).info({ seq: i, svc: 'api' }, '${MSG}')`,
    error: `log.error(err, 'failed')`,
  };
  out.push('', ...Object.entries(calls).map(([k, v]) => `- ${k}: \`${v}\``));
  out.push('- time: one child process per row, spawn to exit (start-up and final flush included); CPU: the child\'s user+system time, less sensitive to a busy machine');
  if (baseline !== undefined && baseline !== '') out.push(`- sluice-baseline: ${baseline}`);
  process.stdout.write(out.join('\n') + '\n');
}

if (process.argv[2] === '--case') {
  const [peer, shape, n, file] = process.argv.slice(3) as [Peer, Shape, string, string];
  runCase(peer, shape, Number(n), file).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main();
}
