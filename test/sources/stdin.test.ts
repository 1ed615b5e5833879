import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { batchBytes } from '../../src/core/source';
import { stdinSourceSchema } from '../../src/sources/stdin/config';
import { StdinSource } from '../../src/sources/stdin/source';
import { Harness, numbered } from './harness';

function source(stream: Readable, maxLine?: number): StdinSource {
  return new StdinSource(stdinSourceSchema.parse({ type: 'stdin', ...(maxLine ? { max_line_bytes: maxLine } : {}) }), { stream });
}

test('stdin lines arriving in odd chunks are batched whole and the final partial line is flushed at EOF', async () => {
  const input = new PassThrough();
  const h = new Harness(source(input)).start();
  const text = numbered('s', 0, 5000) + 'last without newline';
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += 777) input.write(bytes.subarray(i, i + 777));
  input.end();
  await h.until('EOF', () => h.text().endsWith('newline\n'));
  await h.stop();
  assert.equal(h.text(), `${text}\n`);
  assert.equal(h.events(), 5001);
  assert.ok(h.durableBatches.length < 5001 / 10, `lines are batched (${h.durableBatches.length} batches)`);
  for (const b of h.durableBatches) assert.equal(b.positions, undefined);
});

test('stdin run() resolves by itself at EOF', async () => {
  const src = source(Readable.from([Buffer.from('a\nb\n'), Buffer.from('c')]));
  const got: string[] = [];
  await src.run({
    id: 'in',
    positions: new Map(),
    signal: new AbortController().signal,
    log: { debug() {}, info() {}, warn() {}, error() {} },
    emit: async (b) => {
      got.push(b.lines.toString());
    },
  });
  assert.equal(got.join(''), 'a\nb\nc\n');
});

test('stdin waits for each emit before reading more: a slow queue holds the producer back', async () => {
  const input = new PassThrough({ highWaterMark: 64 * 1024 });
  const h = new Harness(source(input));
  h.hold = true;
  h.start();
  const chunk = Buffer.from(numbered('p', 0, 1000));
  let accepted = 0;
  while (input.write(chunk)) {
    accepted++;
    if (accepted > 10_000) break;
    await new Promise((r) => setImmediate(r));
  }
  assert.ok(accepted < 100, `the stream reports back-pressure (${accepted} chunks accepted)`);
  h.release();
  input.end();
  await h.until('everything', () => h.events() === (accepted + 1) * 1000);
  await h.stop();
});

test('stdin splits over-long lines, counts and reports them', async () => {
  const input = new PassThrough();
  const src = source(input, 16);
  const h = new Harness(src).start();
  input.end(`${'a'.repeat(40)}\nok\n`);
  await h.until('all', () => h.events() === 4);
  await h.stop();
  assert.equal(h.text(), `${'a'.repeat(16)}\n${'a'.repeat(16)}\n${'a'.repeat(8)}\nok\n`);
  assert.equal(src.metrics().splitLines, 2);
  assert.equal(h.warnings().length, 1);
});

test('stdin holding a partial line of 1MiB or more keeps reading and completes it', async () => {
  const input = new PassThrough();
  const h = new Harness(source(input, 4 * 1024 * 1024)).start();
  const long = 'y'.repeat(1024 * 1024 + 10);
  input.write(long);
  await new Promise((r) => setTimeout(r, 50));
  input.write('z\nnext\n');
  await h.until('the long line and the next', () => h.events() === 2);
  await h.stop();
  assert.equal(h.text(), `${long}z\nnext\n`);
});

test('stdin stops on abort, emitting what it has read, with the partial line completed', async () => {
  const input = new PassThrough();
  const h = new Harness(source(input)).start();
  input.write('one\ntw');
  await h.until('one', () => h.events() === 1);
  await h.stop();
  assert.equal(h.text(), 'one\ntw\n');
});

test('stdin of a real child process: bytes piped in come out unchanged', async () => {
  // The child reads its own stdin with the stdin source and writes each batch to stdout.
  const script = `
    const { StdinSource } = require(${JSON.stringify(join(__dirname, '../../src/sources/stdin/source.js'))});
    const src = new StdinSource({ type: 'stdin', max_line_bytes: 1048576 });
    src.run({ id: 'in', positions: new Map(), signal: new AbortController().signal,
      log: { debug() {}, info() {}, warn() {}, error() {} },
      emit: (b) => new Promise((r) => process.stdout.write(b.lines, () => r())) });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const out: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  const input = Buffer.concat([Buffer.from(numbered('c', 0, 20_000)), Buffer.from([0xff, 0xc3, 0x0d, 0x0a]), Buffer.from('tail')]);
  child.stdin.end(input);
  const code = await new Promise((r) => child.on('exit', r));
  assert.equal(code, 0);
  assert.deepEqual(Buffer.concat(out), Buffer.concat([input, Buffer.from('\n')]));
});

test('stdin with multiline: events of one read that outgrow a queue record are emitted batch by batch, each within a record, all of them in order', async () => {
  const input = new PassThrough();
  const src = new StdinSource(stdinSourceSchema.parse({ type: 'stdin', multiline: { mode: 'java' } }), { stream: input });
  const h = new Harness(src);
  h.recordBytes = 256 * 1024;
  h.start();
  const want = Array.from({ length: 100_000 }, (_, i) => `l ${i}`);
  input.end(`${want.join('\n')}\n`); // ~690 KB at once; ~4 MB of events
  await h.until('every event', () => h.events() === want.length, 20_000);
  await h.stop();
  assert.ok(h.durableBatches.length > 10, `${h.durableBatches.length} batches`);
  for (const b of h.durableBatches) assert.ok(batchBytes(b) <= 256 * 1024, `a batch of ${batchBytes(b)} bytes`);
  const got = h
    .text()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { message: string }).message);
  assert.deepEqual(got, want);
});
