import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeEnvelope, encodeEnvelope, EnvelopeError, type Envelope } from '../../src/core/envelope';
import { encodeBatches } from '../../src/sinks/encoding';
import { FileSink, fileSinkSchema } from '../../src/sinks/file';
import { StreamSink } from '../../src/sinks/stdout';
import { createDiagnostics } from '../../src/core/diagnostics';
import { asRecordId } from '../../src/core/records';
import { componentContext } from '../util/context';

const log = createDiagnostics({ level: 'silent' });

/** `origin: null` = a source without origin (stdin). */
const batch = (lines: string | Buffer, sourceId = 'app', origin: string | null = '/var/log/a.log'): Envelope => {
  const buf = typeof lines === 'string' ? Buffer.from(lines) : lines;
  let events = 0;
  for (const b of buf) if (b === 10) events++;
  return decodeEnvelope(encodeEnvelope('lines', sourceId, origin ?? undefined, Date.UTC(2026, 10, 26, 15), buf), events, asRecordId(1));
};

const withDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-sinks-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

test('an envelope round-trips its source id, origin, time and lines, and the lines are a view', () => {
  const payload = encodeEnvelope('lines', 'app', '/var/log/ü.log', 1234.5, Buffer.from('a\nb\n'));
  const e = decodeEnvelope(payload, 2, asRecordId(1));
  assert.equal(e.kind, 'lines');
  assert.equal(e.sourceId, 'app');
  assert.equal(e.origin, '/var/log/ü.log');
  assert.equal(e.ingestMs, 1234.5);
  assert.equal(e.lines.toString(), 'a\nb\n');
  assert.equal(e.lines.buffer, payload.buffer);
  const noOrigin = decodeEnvelope(encodeEnvelope('lines', 'pipe', undefined, 1, Buffer.from('x\n')), 1, asRecordId(1));
  assert.equal(noOrigin.origin, undefined);
});

test('an envelope of an unknown version or a truncated header is refused, not misread', () => {
  const payload = encodeEnvelope('lines', 'app', undefined, 1, Buffer.from('a\n'));
  payload[0] = 9;
  assert.throws(() => decodeEnvelope(payload, 1, asRecordId(1)), EnvelopeError);
  assert.throws(() => decodeEnvelope(Buffer.from([1, 0, 0]), 1, asRecordId(1)), EnvelopeError);
  const lying = encodeEnvelope('lines', 'app', undefined, 1, Buffer.alloc(0));
  lying.writeUInt32LE(1000, 4);
  assert.throws(() => decodeEnvelope(lying, 1, asRecordId(1)), EnvelopeError);
});

test('text encoding writes the line bytes exactly as read, without copying them', () => {
  const b = batch('one\r\ntwo\n\xff\n');
  const out = encodeBatches('text', [b]);
  assert.equal(out.length, 1);
  assert.equal(out[0], b.lines);
});

test('json encoding writes one valid object per line with message, source, file and timestamp', () => {
  const raw = Buffer.concat([Buffer.from('plain\n"quoted" \\ back\ttab\u0001\r\n'), Buffer.from([0xff, 0xfe, 0x41, 0x0a]), Buffer.from('ü€😀\n')]);
  const out = Buffer.concat(encodeBatches('json', [batch(raw)])).toString('utf8');
  const lines = out.split('\n');
  assert.equal(lines.pop(), '');
  const objs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(
    objs.map((o) => o['message']),
    ['plain', '"quoted" \\ back\ttab\u0001', '\ufffd\ufffdA', 'ü€😀'],
  );
  for (const o of objs) {
    assert.deepEqual(Object.keys(o), ['message', 'source', 'file', 'timestamp']);
    assert.equal(o['source'], 'app');
    assert.equal(o['file'], '/var/log/a.log');
    assert.equal(o['timestamp'], '2026-11-26T15:00:00.000Z');
  }
});

test('json encoding leaves out file when the source has no origin', () => {
  const out = Buffer.concat(encodeBatches('json', [batch('x\n', 'pipe', null)])).toString();
  assert.deepEqual(JSON.parse(out), { message: 'x', source: 'pipe', timestamp: '2026-11-26T15:00:00.000Z' });
});

test('the file sink creates parent directories and appends every batch in order', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'a', 'b', 'out.log');
    const sink = new FileSink(fileSinkSchema.parse({ type: 'file', inputs: ['app'], path }), componentContext('f', log));
    await sink.write([batch('1\n2\n'), batch('3\n')]);
    await sink.write([batch('4\n')]);
    await sink.close();
    assert.equal(await readFile(path, 'utf8'), '1\n2\n3\n4\n');
  });
});

test('the file sink reopens its path after reopen(), so a renamed file is not written any more', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const sink = new FileSink(fileSinkSchema.parse({ type: 'file', inputs: ['app'], path }), componentContext('f', log));
    await sink.write([batch('before\n')]);
    await rename(path, `${path}.1`);
    sink.reopen();
    await sink.write([batch('after\n')]);
    await sink.close();
    assert.equal(await readFile(`${path}.1`, 'utf8'), 'before\n');
    assert.equal(await readFile(path, 'utf8'), 'after\n');
  });
});

test('without SIGHUP, the file sink notices its file was renamed away or deleted and writes to the path again', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    const warnings: string[] = [];
    const log = createDiagnostics({ level: 'warn', write: (l) => warnings.push(l) });
    const sink = new FileSink(fileSinkSchema.parse({ type: 'file', inputs: ['app'], path }), componentContext('f', log));
    await sink.write([batch('1\n')]);
    await rename(path, `${path}.1`); // logrotate without postrotate
    await sink.write([batch('2\n')]);
    await rm(path); // an operator's rm
    await sink.write([batch('3\n')]);
    await rename(path, `${path}.2`);
    await writeFile(path, 'other\n'); // someone else's file now has the name
    await sink.write([batch('4\n')]);
    await sink.close();
    assert.equal(await readFile(`${path}.1`, 'utf8'), '1\n');
    assert.equal(await readFile(`${path}.2`, 'utf8'), '3\n');
    assert.equal(await readFile(path, 'utf8'), 'other\n4\n');
    assert.equal(warnings.length, 3);
    assert.match(warnings[0] ?? '', /out\.log was deleted or renamed away under the sink; writing to the path again/);
    assert.match(warnings[1] ?? '', /out\.log was deleted or renamed away under the sink/);
    assert.match(warnings[2] ?? '', /out\.log was replaced by another file under the sink/);
  });
});

test('a failing file sink write rejects, and succeeds once the path is fixed', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'out.log');
    await mkdir(path); // a directory where the file should be: EISDIR
    const sink = new FileSink(fileSinkSchema.parse({ type: 'file', inputs: ['app'], path, encoding: 'json' }), componentContext('f', log));
    await assert.rejects(sink.write([batch('x\n')]), (err: NodeJS.ErrnoException) => err.code === 'EISDIR');
    await rmdir(path);
    await sink.write([batch('x\n')]);
    await sink.close();
    assert.equal((JSON.parse(await readFile(path, 'utf8')) as { message: string }).message, 'x');
  });
});

test('the stream sink waits for drain on a slow pipe and delivers every byte', async () => {
  // A reader that pauses: `sleep` then `cat`, so the pipe fills and write() returns false.
  const child = spawn('sh', ['-c', 'sleep 0.3; cat'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise((r) => child.on('close', r));
  const sink = new StreamSink({ encoding: 'text' }, child.stdin);
  const line = `${'x'.repeat(99)}\n`;
  const big = batch(line.repeat(20_000)); // 2 MB, far more than a pipe holds
  await sink.write([big, big]);
  child.stdin.end();
  await closed;
  const got = Buffer.concat(chunks);
  assert.equal(got.length, 2 * big.lines.length);
  assert.ok(got.equals(Buffer.concat([big.lines, big.lines])));
});

test('the stream sink rejects on a closed pipe (EPIPE) instead of crashing, and keeps rejecting', async () => {
  const child = spawn('true', [], { stdio: ['pipe', 'ignore', 'ignore'] });
  await new Promise((r) => child.on('exit', r));
  const sink = new StreamSink({ encoding: 'text' }, child.stdin);
  const big = batch(`${'y'.repeat(99)}\n`.repeat(2000));
  await assert.rejects(sink.write([big]), (err: Error & { code?: string }) => err.code === 'SLUICE_SINK_STDOUT_CLOSED' && /EPIPE|destroyed|closed/i.test(err.message));
  await assert.rejects(sink.write([big]));
});

test('structured events: text writes each event\'s message; json adds source and timestamp only where absent', () => {
  const lines = Buffer.from('{"message":"a","hostname":"h1"}\n{"message":"b","source":"mine","timestamp":"2020-01-01T00:00:00.000Z"}\n');
  const env = decodeEnvelope(encodeEnvelope('events', 'sys', undefined, Date.UTC(2026, 10, 26, 15), lines), 2, asRecordId(7));
  assert.equal(env.kind, 'events');
  assert.equal(env.recordId, 7);
  assert.equal(Buffer.concat(encodeBatches('text', [env])).toString(), 'a\nb\n');
  const objs = Buffer.concat(encodeBatches('json', [env])).toString().trimEnd().split('\n').map((l) => JSON.parse(l) as unknown);
  assert.deepEqual(objs, [
    { message: 'a', hostname: 'h1', source: 'sys', timestamp: '2026-11-26T15:00:00.000Z' },
    { message: 'b', source: 'mine', timestamp: '2020-01-01T00:00:00.000Z' },
  ]);
});
