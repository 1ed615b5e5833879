/** The nats sink's pure parts: cutting records into messages, subjects, and its config schema. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asRecordId } from '../../src/core/records';
import type { Envelope } from '../../src/core/envelope';
import { chunksOf, encodeRecord, formatDuration, natsSinkSchema, replayReachMs, subjectFor } from '../../src/sinks/nats';

const batch = (text: string, recordId = 100): Envelope => ({
  recordId: asRecordId(recordId),
  kind: 'lines',
  sourceId: 'app',
  origin: '/var/log/app.log',
  ingestMs: Date.UTC(2026, 10, 30),
  lines: Buffer.from(text),
  events: text.split('\n').length - 1,
});

test('a record is cut into messages of at most max bytes, only at line ends, and the pieces are the record again', () => {
  const text = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(i % 17)}\n`).join('');
  const b = batch(text);
  const chunks = chunksOf(b, b.lines, 64);
  assert.ok(chunks.length > 1);
  for (const [i, c] of chunks.entries()) {
    assert.equal(c.index, i);
    assert.ok(c.payload.length <= 64, `chunk ${i} of ${c.payload.length} bytes`);
    assert.equal(c.payload[c.payload.length - 1], 0x0a, 'ends at a line end');
    assert.equal(c.tooLarge, false);
  }
  assert.equal(Buffer.concat(chunks.map((c) => c.payload)).toString(), text);
});

test('the same record is cut the same way every time (message ids stay the same across replays)', () => {
  const b = batch('a\nbb\nccc\ndddd\n');
  const one = chunksOf(b, b.lines, 6).map((c) => `${c.index}:${c.payload.toString()}`);
  const two = chunksOf(b, b.lines, 6).map((c) => `${c.index}:${c.payload.toString()}`);
  assert.deepEqual(one, two);
  assert.deepEqual(one, ['0:a\nbb\n', '1:ccc\n', '2:dddd\n']);
});

test('a line longer than the limit becomes a chunk of its own marked too large, and cutting goes on after it', () => {
  const b = batch(`short\n${'L'.repeat(40)}\nafter\n`);
  const chunks = chunksOf(b, b.lines, 16);
  assert.deepEqual(
    chunks.map((c) => [c.payload.toString().slice(0, 6), c.tooLarge]),
    [
      ['short\n', false],
      ['LLLLLL', true],
      ['after\n', false],
    ],
  );
});

test('encoding json publishes NDJSON with the event ids of the record', () => {
  const b = batch('one\ntwo\n', 7);
  const lines = encodeRecord('json', b).toString().trim().split('\n').map((l) => JSON.parse(l) as { event_id: number; message: string });
  assert.deepEqual(
    lines.map((l) => [l.event_id, l.message]),
    [
      [7, 'one'],
      [8, 'two'],
    ],
  );
  assert.equal(encodeRecord('text', b), b.lines, 'text is the record bytes themselves (no copy)');
});

test('{source} in the subject is the source id, with characters a subject cannot hold replaced', () => {
  assert.equal(subjectFor('logs.{source}', 'app'), 'logs.app');
  assert.equal(subjectFor('logs.{source}.raw', 'web server.1'), 'logs.web_server_1.raw');
  assert.equal(subjectFor('logs.all', 'app'), 'logs.all');
});

test('the config takes servers, a subject and a size; refuses wildcards, unknown templates and unknown keys', () => {
  const ok = natsSinkSchema.safeParse({ type: 'nats', inputs: ['app'], subject: 'logs.{source}' });
  assert.ok(ok.success);
  assert.deepEqual(ok.data.servers, ['nats://127.0.0.1:4222']);
  assert.equal(ok.data.max_message_bytes, 512 * 1024);
  for (const subject of ['logs.*', 'logs.>', 'logs..x', 'logs.{host}', 'a b']) {
    assert.equal(natsSinkSchema.safeParse({ type: 'nats', inputs: ['app'], subject }).success, false, subject);
  }
  assert.equal(natsSinkSchema.safeParse({ type: 'nats', inputs: ['app'], subject: 'x', max_message_bytes: '2MiB', auth: { token: 't' }, tls: { ca_file: 'ca.pem' } }).success, true);
  assert.equal(natsSinkSchema.safeParse({ type: 'nats', inputs: ['app'], subject: 'x', stream: 'LOGS' }).success, false);
  assert.equal(natsSinkSchema.safeParse({ type: 'nats', inputs: ['app'], subject: 'x', servers: ['http://a b'] }).success, false);
});

test('a replay reaches back max_backoff + request.timeout + cursor_flush_interval + a minute for a restart; durations print as the nats CLI takes them', () => {
  assert.equal(replayReachMs({ maxBackoffMs: 30_000, timeoutMs: 30_000, cursorFlushMs: 1000 }), 121_000);
  assert.equal(formatDuration(121_000), '2m1s');
  assert.equal(formatDuration(120_000), '2m');
  assert.equal(formatDuration(24 * 3_600_000), '24h');
  assert.equal(formatDuration(3_661_000), '1h1m1s');
  assert.equal(formatDuration(300), '300ms');
  assert.equal(formatDuration(0), '0ms');
});
