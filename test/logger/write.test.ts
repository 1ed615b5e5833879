import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createLogger, LoggerWriteError } from '../../src/index';
import { PKG, range, readLines, runScript, seqs, tempDir } from './helpers';

const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;

/** A FIFO with both ends open non-blocking: a pipe we can fill and drain at will. */
function fifo(dir: string): { path: string; rfd: number; wfd: number } {
  const path = join(dir, 'pipe');
  execFileSync('mkfifo', [path]);
  const rfd = fs.openSync(path, O_RDONLY | O_NONBLOCK);
  const wfd = fs.openSync(path, O_WRONLY | O_NONBLOCK);
  return { path, rfd, wfd };
}

/** Reads whatever the pipe holds right now. */
function readAvailable(fd: number): string {
  const buf = Buffer.alloc(1 << 16);
  let out = '';
  for (;;) {
    try {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return out;
      out += buf.toString('utf8', 0, n);
    } catch (e) {
      if ((e as { code?: string }).code === 'EAGAIN') return out;
      throw e;
    }
  }
}

function parse(text: string): Array<Record<string, unknown>> {
  assert.ok(text.endsWith('\n'), 'output ends with a whole line');
  return text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Peak RSS of this Node binary doing the same loop's object work without logging: the baseline the
 * memory bounds are measured against (Node 24's own footprint is ~10 MB above Node 20's, so an
 * absolute bound would test the runtime, not the logger). Measured once per file.
 */
let baseline: Promise<number> | undefined;
const baselineRssMB = (dir: string): Promise<number> =>
  (baseline ??= runScript(
    dir,
    'baseline.js',
    `
const { createLogger } = require(PKG);
const log = createLogger({ destination: ${JSON.stringify(join(dir, 'baseline.log'))} });
let n = 0;
for (let i = 0; i < 1000000; i++) n += JSON.stringify({ seq: i, svc: 'api' }).length;
log.flushSync();
console.log(JSON.stringify({ rssMB: process.resourceUsage().maxRSS / 1024, n }));`,
    { timeoutMs: 60_000 },
  ).then((r) => (JSON.parse(r.stdout) as { rssMB: number }).rssMB));

/** A million lines are ~130 MB of output: a logger that kept them could not stay under this growth. */
const MAX_GROWTH_MB = 48;

test('a synchronous loop of a million calls with whenFull block writes every line in bounded memory', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const src = `
const { createLogger } = require(PKG);
const log = createLogger({ destination: ${JSON.stringify(file)} });
for (let i = 0; i < 1000000; i++) log.info({ seq: i, svc: 'api' }, 'request handled ok upstream cache hit');
log.flushSync();
console.log(JSON.stringify({ rssMB: process.resourceUsage().maxRSS / 1024, m: log.metrics() }));`;
  const r = await runScript(dir, 'million.js', src, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { rssMB: number; m: { written: number; dropped: number } };
  assert.equal(out.m.written, 1_000_000);
  assert.equal(out.m.dropped, 0);
  const base = await baselineRssMB(dir);
  assert.ok(out.rssMB - base < MAX_GROWTH_MB, `peak RSS ${out.rssMB} MB, ${base} MB without logging`);
  assert.deepEqual(seqs(readLines(file)), range(1_000_000));
});

test('whenFull drop on a full pipe discards and counts, then writes the count as its own line when space returns', async (t) => {
  const dir = tempDir(t);
  const p = fifo(dir);
  t.after(() => {
    fs.closeSync(p.rfd);
    fs.closeSync(p.wfd);
  });
  const log = createLogger({ destination: p.wfd, whenFull: 'drop', bufferBytes: 4096, base: null });
  const n = 20_000;
  for (let i = 0; i < n; i++) log.info({ seq: i }, 'a line that will not all fit into the pipe');
  const dropped = log.metrics().dropped;
  assert.ok(dropped > 0, 'some lines were dropped');
  let text = readAvailable(p.rfd);
  for (let i = 0; i < 100 && log.metrics().buffered > 0; i++) {
    await log.flush().catch(() => undefined);
    text += readAvailable(p.rfd);
  }
  text += readAvailable(p.rfd);
  const lines = parse(text);
  const kept = seqs(lines);
  const notices = lines.filter((l) => l['msg'] === `sluice logger dropped ${dropped} lines`);
  assert.equal(notices.length, 1);
  assert.equal(notices[0]!['dropped'], dropped);
  assert.equal(notices[0]!['level'], 40);
  assert.equal(kept.length + dropped, n);
  // what was kept is in order: a prefix, then nothing out of sequence
  for (let i = 1; i < kept.length; i++) assert.ok(kept[i]! > kept[i - 1]!);
  assert.deepEqual(log.metrics(), { written: kept.length + 1, dropped, errors: 0, buffered: 0 });
});

test('whenFull drop in a tight loop on a pipe nobody reads stays within its memory bound', async (t) => {
  const dir = tempDir(t);
  const p = fifo(dir);
  t.after(() => fs.closeSync(p.rfd));
  const file = join(dir, 'drop.js');
  fs.writeFileSync(
    file,
    `const { createLogger } = require(${JSON.stringify(PKG)});
const log = createLogger({ destination: 3, whenFull: 'drop' });
for (let i = 0; i < 1000000; i++) log.info({ seq: i, svc: 'api' }, 'request handled ok upstream cache hit');
const m = log.metrics();
console.log(JSON.stringify({ rssMB: process.resourceUsage().maxRSS / 1024, m }));
process.exit(0);`,
  );
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'inherit', p.wfd] });
  fs.closeSync(p.wfd);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => (out += c));
  const code = await new Promise((r) => child.on('close', r));
  assert.equal(code, 0);
  const res = JSON.parse(out) as { rssMB: number; m: { written: number; dropped: number; buffered: number } };
  assert.ok(res.m.dropped > 900_000, `dropped ${res.m.dropped}`);
  assert.equal(res.m.written + res.m.dropped + res.m.buffered, 1_000_000);
  const base = await baselineRssMB(dir);
  assert.ok(res.rssMB - base < MAX_GROWTH_MB, `peak RSS ${res.rssMB} MB, ${base} MB without logging`);
});

test('whenFull block on a slow non-blocking pipe retries EAGAIN and delivers every line in order', async (t) => {
  const dir = tempDir(t);
  const p = fifo(dir);
  const file = join(dir, 'block.js');
  const n = 100_000;
  fs.writeFileSync(
    file,
    `const { createLogger } = require(${JSON.stringify(PKG)});
const log = createLogger({ destination: 3, bufferBytes: 16384 });
for (let i = 0; i < ${n}; i++) log.info({ seq: i }, 'through a slow pipe');`,
  );
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'inherit', 'inherit', p.wfd] });
  fs.closeSync(p.wfd);
  let exited = false;
  const done = new Promise<number | null>((r) =>
    child.on('close', (c) => {
      exited = true;
      r(c);
    }),
  );
  let text = '';
  const buf = Buffer.alloc(8192);
  // a slow reader: small reads with pauses, until the writer is gone and the pipe is empty
  for (;;) {
    let n2 = -1;
    try {
      n2 = fs.readSync(p.rfd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as { code?: string }).code !== 'EAGAIN') throw e;
    }
    if (n2 > 0) text += buf.toString('utf8', 0, n2);
    else if (n2 === 0 && exited) break;
    await new Promise((r) => setTimeout(r, n2 > 0 ? 0 : 2));
  }
  fs.closeSync(p.rfd);
  assert.equal(await done, 0);
  assert.deepEqual(seqs(parse(text)), range(n));
});

test('a reader that went away (EPIPE) is reported as an error event and a rejected flush, never a crash', async (t) => {
  const dir = tempDir(t);
  const p = fifo(dir);
  fs.closeSync(p.rfd);
  t.after(() => fs.closeSync(p.wfd));
  const log = createLogger({ destination: p.wfd });
  const errors: Error[] = [];
  log.on('error', (e: Error) => errors.push(e));
  log.info('into the void');
  await assert.rejects(log.flush(), (e: unknown) => e instanceof LoggerWriteError && e.syscallCode === 'EPIPE' && e.code === 'SLUICE_LOGGER_WRITE');
  for (let i = 0; i < 1000; i++) log.info({ i }, 'more');
  log.flushSync();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof LoggerWriteError);
  const m = log.metrics();
  assert.ok(m.errors >= 1);
  assert.equal(m.written, 0);
  assert.equal(m.dropped + m.buffered, 1001);
});

test('a full disk (ENOSPC) prints one line to stderr when nobody listens, and the application carries on', async (t) => {
  const dir = tempDir(t);
  const src = `
const { createLogger } = require(PKG);
const log = createLogger({ destination: '/dev/full', bufferBytes: 1024 });
for (let i = 0; i < 10000; i++) log.info({ i }, 'no space');
log.flushSync();
setTimeout(() => { console.log(JSON.stringify(log.metrics())); }, 30);`;
  const r = await runScript(dir, 'full.js', src);
  assert.equal(r.code, 0, r.stderr);
  const errLines = r.stderr.trim().split('\n');
  assert.equal(errLines.length, 1, r.stderr);
  assert.match(errLines[0]!, /sluice logger: writing to \/dev\/full failed \(ENOSPC\).*SLUICE_LOGGER_WRITE ENOSPC/);
  const m = JSON.parse(r.stdout) as { errors: number; dropped: number; written: number };
  assert.ok(m.errors >= 1);
  assert.equal(m.written, 0);
  assert.ok(m.dropped > 0);
});

test('four processes appending 50k lines each to one file never interleave mid-line', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'shared.log');
  const src = `
const { createLogger } = require(PKG);
const log = createLogger({ destination: ${JSON.stringify(file)} }).child({ proc: Number(process.argv[2]) });
for (let i = 0; i < 50000; i++) log.info({ seq: i, pad: 'x'.repeat(i % 97) }, 'shared file line');`;
  fs.writeFileSync(join(dir, 'writer.js'), src.replace('PKG', JSON.stringify(PKG)));
  const codes = await Promise.all(
    [0, 1, 2, 3].map(
      (k) =>
        new Promise<number | null>((r) => {
          const c = spawn(process.execPath, [join(dir, 'writer.js'), String(k)], { stdio: 'inherit' });
          c.on('close', r);
        }),
    ),
  );
  assert.deepEqual(codes, [0, 0, 0, 0]);
  const lines = readLines(file); // throws on any torn or interleaved line
  assert.equal(lines.length, 200_000);
  for (const k of [0, 1, 2, 3]) {
    assert.deepEqual(seqs(lines.filter((l) => l['proc'] === k)), range(50_000));
  }
});

test('stdout made non-blocking by console.log still gets every line through a slowly read pipe', async (t) => {
  const dir = tempDir(t);
  const n = 100_000;
  const src = `
console.log('{"first":true}'); // Node makes a piped stdout O_NONBLOCK once it is used
const { createLogger } = require(PKG);
const log = createLogger({ bufferBytes: 8192 });
for (let i = 0; i < ${n}; i++) log.info({ seq: i }, 'to stdout');`;
  let paused = false;
  const r = await runScript(dir, 'stdout.js', src, {
    onStdout: (_c, child) => {
      // stall the reader once, long enough for the pipe to fill and the writer to see EAGAIN
      if (!paused && child.stdout) {
        paused = true;
        child.stdout.pause();
        setTimeout(() => child.stdout?.resume(), 200);
      }
    },
  });
  assert.equal(r.code, 0, r.stderr);
  const lines = parse(r.stdout);
  assert.equal(lines[0]!['first'], true);
  assert.deepEqual(seqs(lines), range(n));
});

test('onError receives write errors instead of the event or stderr', async (t) => {
  const dir = tempDir(t);
  const src = `
const { createLogger } = require(PKG);
const seen = [];
const log = createLogger({ destination: '/dev/full', onError: (e) => seen.push(e.code + ' ' + e.syscallCode) });
log.info('x');
log.flush().catch((e) => { console.log(JSON.stringify({ seen, rejected: e.code, errors: log.metrics().errors })); });`;
  const r = await runScript(dir, 'onerror.js', src);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const out = JSON.parse(r.stdout) as { seen: string[]; rejected: string; errors: number };
  assert.deepEqual(out.seen.slice(0, 1), ['SLUICE_LOGGER_WRITE ENOSPC']);
  assert.equal(out.rejected, 'SLUICE_LOGGER_WRITE');
  assert.ok(out.errors >= 1);
});

test('stdout closed by its reader (as in `app | head -1`) does not crash the application', async (t) => {
  const dir = tempDir(t);
  const src = `
const { createLogger } = require(PKG);
const log = createLogger({ bufferBytes: 4096 });
log.info('first');
log.flushSync();
setTimeout(() => {
  for (let i = 0; i < 50000; i++) log.info({ seq: i }, 'nobody reads this');
  log.flushSync();
  require('node:fs').writeSync(2, 'still alive ' + JSON.stringify(log.metrics()) + '\\n');
}, 300);`;
  const r = await runScript(dir, 'epipe.js', src, {
    onStdout: (_c, child) => child.stdout?.destroy(),
  });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /SLUICE_LOGGER_WRITE EPIPE/);
  assert.match(r.stderr, /still alive/);
  assert.equal(r.stderr.match(/sluice logger:/g)?.length, 1, r.stderr);
});

test('whenFull block loses nothing when a server-like app logs in bursts that yield to the event loop and a slow reader keeps its stdout pipe full', async (t) => {
  const dir = tempDir(t);
  const n = 200_000;
  // console.log makes the piped stdout non-blocking; the flush timer then meets EAGAIN between
  // bursts, and the next burst must wait for the reader, not drop
  const src = `
console.log('{"first":true}');
const { createLogger } = require(PKG);
const log = createLogger({ bufferBytes: 16384, flushIntervalMs: 1 });
let i = 0;
(function burst() {
  for (const end = Math.min(i + 500, ${n}); i < end; i++) log.info({ seq: i }, 'a bursty line through a slowly read pipe');
  if (i < ${n}) setTimeout(burst, 0);
  else require('node:fs').writeSync(2, JSON.stringify(log.metrics()) + '\\n');
})();`;
  const r = await runScript(dir, 'bursty.js', src, {
    timeoutMs: 120_000,
    // a slow reader: after every chunk it reads, it stops reading for a moment
    onStdout: (_c, child) => {
      child.stdout?.pause();
      setTimeout(() => child.stdout?.resume(), 3);
    },
  });
  assert.equal(r.code, 0, r.stderr);
  const m = JSON.parse(r.stderr) as { dropped: number; written: number };
  assert.equal(m.dropped, 0, `${m.dropped} of ${n} lines dropped`);
  const lines = parse(r.stdout);
  assert.equal(lines[0]!['first'], true);
  const got = seqs(lines);
  assert.equal(got.length, n);
  assert.deepEqual(got, range(n));
});

test('a file size limit hit mid-line, then the file truncated to free space: the file starts with a whole line and nothing accepted is lost silently', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'torn.log');
  // RLIMIT_FSIZE stands in for a full disk: the write that crosses 16 KiB is cut short mid-line,
  // the next one fails (EFBIG; Node ignores SIGXFSZ), and truncating the file makes room again
  const src = `
const fs = require('node:fs');
const { createLogger } = require(PKG);
const FILE = ${JSON.stringify(file)};
const errors = [];
const log = createLogger({ destination: FILE, base: null, bufferBytes: 4096, flushIntervalMs: 60000, onError: (e) => errors.push(e.syscallCode) });
for (let i = 0; i < 1000; i++) log.info({ seq: i }, 'a line that will not all fit under the file size limit');
log.flushSync();
const torn = !fs.readFileSync(FILE, 'utf8').endsWith('\\n');
fs.truncateSync(FILE, 0); // the operator frees space
log.flush().then(() => {
  for (let i = 1000; i < 1100; i++) log.info({ seq: i }, 'after the truncation');
  log.flushSync();
  console.log(JSON.stringify({ torn, errors, m: log.metrics() }));
});`;
  const script = join(dir, 'torn.js');
  fs.writeFileSync(script, src.replace('PKG', JSON.stringify(PKG)));
  const r = spawnSync('bash', ['-c', 'ulimit -S -f 16 && exec "$0" "$1"', process.execPath, script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { torn: boolean; errors: string[]; m: { written: number; dropped: number; errors: number; buffered: number } };
  assert.equal(out.torn, true, 'the limit was hit in the middle of a line');
  assert.deepEqual(out.errors, ['EFBIG']);
  const lines = readLines(file); // throws if any line is not JSON
  const got = seqs(lines);
  // the file starts with the line that was cut, whole, then the ones kept in the buffer
  const first = got[0]!;
  assert.ok(first > 0);
  const kept = got.filter((s) => s < 1000);
  assert.deepEqual(kept, range(kept.length).map((i) => first + i));
  assert.deepEqual(got.slice(kept.length), range(100).map((i) => 1000 + i));
  // every line is either in the file, was written before the truncation, or is counted as dropped
  const notice = lines.find((l) => typeof l['dropped'] === 'number');
  assert.equal(notice?.['dropped'], out.m.dropped);
  assert.equal(first + kept.length + out.m.dropped, 1000);
});
