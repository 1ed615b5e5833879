/**
 * `encoding: text` of structured events: each event's text (its `message`), not its JSON line —
 * per kind of event, made by the real decoders (multiline, CRI, `decoding: json`, syslog, http,
 * OTLP) — and the byte-level fast path agreeing with `JSON.parse` on every line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEnvelope, encodeEnvelope, type Envelope } from '../../src/core/envelope';
import { asRecordId } from '../../src/core/records';
import { encodeBatches, encodeEventsText } from '../../src/sinks/encoding';
import { encodeParts, partsOf, splitParts } from '../../src/sinks/http/encode';
import { chunksOf, encodeRecord, firstEventIdOf } from '../../src/sinks/nats/chunks';
import { Assembler, newDecodeCounts, type DecodeConfig } from '../../src/sources/decode';
import { fileSourceSchema } from '../../src/sources/file/config';
import { decodeBody } from '../../src/sources/http/decode';
import { decodeJson as decodeOtlpJson } from '../../src/sources/otlp/decode';
import { parseSyslog } from '../../src/sources/syslog/parse';
import { GO, JAVA, PYTHON, interleave } from '../sources/decode-traces';

const config = (keys: Record<string, unknown>): DecodeConfig => fileSourceSchema.parse({ type: 'file', include: ['/x/*.log'], ...keys });

/** An `events` record holding these NDJSON lines. */
const eventsRecord = (lines: Buffer | string, recordId = 1): Envelope => {
  const buf = typeof lines === 'string' ? Buffer.from(lines) : lines;
  let n = 0;
  for (const b of buf) if (b === 10) n++;
  return decodeEnvelope(encodeEnvelope('events', 'app', '/x/app.log', Date.UTC(2026, 10, 30), buf), n, asRecordId(recordId));
};

/** What the file and stdout sinks write with `encoding: text`. */
const text = (b: Envelope): string => Buffer.concat(encodeBatches('text', [b])).toString('utf8');

/** The whole input through one assembler (as a file source reading it at once, then its end). */
const decodeAll = (cfg: DecodeConfig, input: string): Envelope => {
  const a = new Assembler(cfg, 1 << 20, newDecodeCounts());
  const bytes = Buffer.from(input);
  const first = a.decode(bytes, 0, false, '/x/app.log');
  const head = Buffer.from(first.lines);
  const rest = a.decode(Buffer.from(bytes.subarray(first.consumed)), bytes.length - first.consumed, 'all', '/x/app.log');
  return eventsRecord(Buffer.concat([head, rest.lines]));
};

test('text of multiline events: the java, python and go traces and the lines between them come out byte for byte as read', () => {
  for (const [mode, names] of [
    ['java', JAVA],
    ['python', PYTHON],
    ['go', GO],
  ] as const) {
    const { events, text: input } = interleave(names, 30);
    const rec = decodeAll(config({ multiline: { mode } }), input);
    assert.equal(rec.events, events.length, `${mode}: one event per trace`);
    assert.equal(text(rec), input, mode);
  }
});

test('text of events cut at max_lines: the cut event and its continuation together are the lines as read', () => {
  const { text: input } = interleave(JAVA, 6, 2);
  const rec = decodeAll(config({ multiline: { mode: 'java', max_lines: 3 } }), input);
  assert.ok(rec.lines.toString().includes('"cut":"max_lines"'));
  assert.equal(text(rec), input);
});

test('text of CRI events: the joined content without the timestamp, stream and tag prefix', () => {
  const input =
    '2026-11-30T03:00:00.000000001Z stdout P {"level":"info","msg":"a long \n' +
    '2026-11-30T03:00:00.000000002Z stderr F a warning\twith a tab\n' +
    '2026-11-30T03:00:00.000000004Z stdout F line"}\n' +
    'not a CRI line\n';
  const rec = decodeAll(config({ decoding: 'cri' }), input);
  assert.equal(text(rec), '{"level":"info","msg":"a long line"}\na warning\twith a tab\nnot a CRI line\n');
  // With parse_json the fields are the event's: no `message` of its own, so its JSON line (nothing left out).
  const parsed = decodeAll(config({ decoding: 'cri', parse_json: true }), input);
  assert.deepEqual(text(parsed).trimEnd().split('\n'), [
    '{"level":"info","msg":"a long line","stream":"stdout","timestamp":"2026-11-30T03:00:00.000000001Z","file":"/x/app.log"}',
    'a warning\twith a tab',
    'not a CRI line',
  ]);
});

test('text of CRI events grouped by multiline: the content lines joined by newlines', () => {
  const { text: lines } = interleave(JAVA, 4, 2);
  const cri = lines
    .split(/(?<=\n)/)
    .map((l, i) => `2026-11-30T03:00:00.${String(i).padStart(9, '0')}Z stderr F ${l}`)
    .join('');
  assert.equal(text(decodeAll(config({ decoding: 'cri', multiline: { mode: 'java' } }), cri)), lines);
});

test('text of decoding: json events: the message field when the object has one, else its JSON line; text that is not JSON as read', () => {
  const input = '{"level":"warn","msg":"disk at 91%","pct":91}\n{"message":"user \\"ann\\" logged in","level":"info"}\nnot json at all\n';
  const rec = decodeAll(config({ decoding: 'json' }), input);
  assert.deepEqual(text(rec).split('\n'), ['{"level":"warn","msg":"disk at 91%","pct":91,"file":"/x/app.log"}', 'user "ann" logged in', 'not json at all', '']);
});

test('text of syslog events: the message (the MSG part), and a frame that did not parse as it arrived', () => {
  const lines = ['<13>1 2026-11-30T00:20:42.202959+00:00 vm root - M1 [zoo@123 tiger="hungry"] hello, "world"', 'no pri at all']
    .map((l) => JSON.stringify({ ...(parseSyslog(l, Date.UTC(2026, 10, 30)) ?? { message: l }), source_ip: '127.0.0.1' }))
    .join('\n');
  assert.equal(text(eventsRecord(`${lines}\n`)), 'hello, "world"\nno pri at all\n');
});

test('text of http events: text bodies come back as sent, NDJSON objects give their message or else their JSON line', () => {
  const fromText = decodeBody('text', Buffer.from('first line\n\tindented "quoted" line\nlast\n'));
  assert.ok(fromText.ok);
  assert.equal(text(eventsRecord(fromText.lines)), 'first line\n\tindented "quoted" line\nlast\n');
  const nd = decodeBody('ndjson', Buffer.from('{"msg":"no message field","n":1}\n{"level":"info","message":"héllo ☃ \\u001b[31mred"}\n{"message":{"nested":true}}\n'));
  assert.ok(nd.ok);
  assert.equal(text(eventsRecord(nd.lines)), '{"msg":"no message field","n":1}\nhéllo ☃ \u001b[31mred\n{"message":{"nested":true}}\n');
});

test('text of OTLP events: a string body as sent; a body that is not a string gives the event as its JSON line', () => {
  const req = {
    resourceLogs: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        scopeLogs: [
          {
            logRecords: [
              { timeUnixNano: '1764472293835000000', body: { stringValue: 'order placed\nsecond line' }, severityText: 'INFO' },
              { timeUnixNano: '1764472293835000000', body: { kvlistValue: { values: [{ key: 'k', value: { intValue: '1' } }] } } },
            ],
          },
        ],
      },
    ],
  };
  const d = decodeOtlpJson(Buffer.from(JSON.stringify(req)));
  assert.ok(d.ok);
  const out = text(eventsRecord(d.lines)).split('\n');
  assert.deepEqual(out.slice(0, 2), ['order placed', 'second line']);
  assert.deepEqual((JSON.parse(out[2] as string) as Record<string, unknown>)['message'], { k: 1 });
  assert.equal(out.length, 4);
});

test('plain line batches are still written as the very bytes of the record (no copy)', () => {
  const env = decodeEnvelope(encodeEnvelope('lines', 'app', undefined, 1, Buffer.from('{"message":"x"}\nplain\n')), 2, asRecordId(1));
  const [out] = encodeBatches('text', [env]);
  assert.equal(out, env.lines);
});

test('the fast path agrees with JSON.parse on every event line: escapes, \\u escapes, non-ASCII, duplicate and nested message keys, other message types', () => {
  const piece = fc.constantFrom('a', ' ', '\t', '\n', '\r', '"', '\\', '/', 'é', '😀', '\u0001', '\u001b', '\b', '\f', 'message', '"message"', '\ud800');
  const str = fc.array(piece, { maxLength: 12 }).map((p) => p.join(''));
  const line = fc.oneof(
    fc.record({ message: str, file: str }).map((o) => JSON.stringify(o)),
    fc.record({ level: str, message: str }).map((o) => JSON.stringify(o)),
    fc.record({ message: str, nested: fc.record({ message: str }) }).map((o) => JSON.stringify(o)),
    fc.record({ message: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null)), other: str }).map((o) => JSON.stringify(o)),
    fc.record({ other: str }).map((o) => JSON.stringify(o)),
    str.map((s) => `{"message":${JSON.stringify(s)},"message":"the last one wins"}`),
    fc.constantFrom('{"message":"a\\/b\\u0041\\ud83d\\ude00"}', '{"message":"unterminated', '[1,2]', '{"message" : "spaced"}'),
  );
  fc.assert(
    fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), (lines) => {
      const want = lines
        .map((l) => {
          let v: unknown;
          try {
            v = JSON.parse(l);
          } catch {
            v = undefined;
          }
          const m = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)['message'] : undefined;
          return `${typeof m === 'string' ? m : l}\n`;
        })
        .join('');
      const ends: number[] = [];
      const got = encodeEventsText(Buffer.from(`${lines.join('\n')}\n`), ends);
      assert.equal(got.toString('utf8'), Buffer.from(want).toString('utf8'));
      assert.equal(ends.length, lines.length);
      assert.equal(ends.at(-1), got.length);
    }),
    { numRuns: 3000, seed: 20261130 },
  );
});

test('the http sink sends the events text with encoding: text, and a 413 half holds whole events', () => {
  const { text: input } = interleave(JAVA, 4, 2);
  const rec = decodeAll(config({ multiline: { mode: 'java' } }), input);
  assert.equal(Buffer.concat(encodeParts('text', partsOf([rec]))).toString(), input);
  const [left, right] = splitParts(partsOf([rec]));
  assert.equal(Buffer.concat([...encodeParts('text', left), ...encodeParts('text', right)]).toString(), input);
});

test('the nats sink publishes the events text, and a line too large names the event it belongs to', () => {
  const long = `\tat ${'x'.repeat(300)}(X.java:1)`;
  const events = ['first event', `Exception in thread "main" java.lang.Error: boom\n${long}\n\tat Y.y(Y.java:2)`, 'third'];
  const rec = eventsRecord(events.map((m) => `${JSON.stringify({ message: m })}\n`).join(''), 100);
  const bytes = encodeRecord('text', rec);
  assert.equal(bytes.toString(), events.map((m) => `${m}\n`).join(''));
  const chunks = chunksOf(rec, bytes, 200);
  const big = chunks.filter((c) => c.tooLarge);
  assert.equal(big.length, 1);
  assert.equal(big[0]?.payload.toString(), `${long}\n`);
  assert.equal(firstEventIdOf('text', bytes, big[0]), 101, 'the second event of record 100');
});
