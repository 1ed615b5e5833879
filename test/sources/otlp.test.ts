import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeJson, decodeProtobuf, encodingOf, rfc3339 } from '../../src/sources/otlp/decode';
import { ExportLogsServiceRequest, ExportLogsServiceResponse, RpcStatus } from '../../src/sources/otlp/schema';
import { PROTO_FILES } from '../../src/sources/otlp/proto/embedded';
import { otlpSourceSchema } from '../../src/sources/otlp/config';
import { OtlpSource } from '../../src/sources/otlp/source';
import { batchBytes, type SourceBatch, type SourceContext } from '../../src/core/source';
import { nodeFileSystem, systemClock } from '../../src/core/node-ports';

/** The checkout's src/, found from this compiled file (dist/test/sources/otlp.test.js). */
const SRC = resolve(__dirname, '..', '..', '..', 'src');

const events = (b: Buffer): Record<string, unknown>[] =>
  b
    .toString('utf8')
    .split('\n')
    .slice(0, -1)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const TRACE = '5b8efff798038103d269b633813fc60c';
const SPAN = 'eee19b7ec3c1b174';

/** One request as OTLP/JSON writes it (the shape of opentelemetry-proto's examples/logs.json). */
const jsonRequest = (records: unknown[]): Record<string, unknown> => ({
  resourceLogs: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'my.service' } }] },
      scopeLogs: [
        {
          scope: { name: 'my.library', version: '1.0.0', attributes: [{ key: 'my.scope.attribute', value: { stringValue: 'some scope attribute' } }] },
          logRecords: records,
        },
      ],
    },
  ],
});

const fullRecord = {
  timeUnixNano: '1544712660300000001',
  observedTimeUnixNano: '1544712660300000002',
  severityNumber: 10,
  severityText: 'Information',
  traceId: TRACE,
  spanId: SPAN,
  flags: 1,
  eventName: 'my.event',
  body: { stringValue: 'Example log record' },
  attributes: [
    { key: 'string.attribute', value: { stringValue: 'some string' } },
    { key: 'boolean.attribute', value: { boolValue: true } },
    { key: 'int.attribute', value: { intValue: '10' } },
    { key: 'big.attribute', value: { intValue: '9007199254740993' } },
    { key: 'double.attribute', value: { doubleValue: 637.704 } },
    { key: 'array.attribute', value: { arrayValue: { values: [{ stringValue: 'many' }, { intValue: 2 }] } } },
    { key: 'map.attribute', value: { kvlistValue: { values: [{ key: 'some.map.key', value: { stringValue: 'some value' } }] } } },
    { key: 'bytes.attribute', value: { bytesValue: 'AQID' } },
  ],
};

const expectedEvent = {
  message: 'Example log record',
  timestamp: '2018-12-13T14:51:00.300000001Z',
  observed_timestamp: '2018-12-13T14:51:00.300000002Z',
  severity_text: 'Information',
  severity_number: 10,
  attributes: {
    'string.attribute': 'some string',
    'boolean.attribute': true,
    'int.attribute': 10,
    'big.attribute': '9007199254740993',
    'double.attribute': 637.704,
    'array.attribute': ['many', 2],
    'map.attribute': { 'some.map.key': 'some value' },
    'bytes.attribute': 'AQID',
  },
  resources: { 'service.name': 'my.service' },
  scope: { name: 'my.library', version: '1.0.0', attributes: { 'my.scope.attribute': 'some scope attribute' } },
  trace_id: TRACE,
  span_id: SPAN,
  flags: 1,
  event_name: 'my.event',
};

/** The same request in protobuf, encoded by protobufjs from the proto3 JSON form (ids as bytes there). */
const protobufOf = (req: Record<string, unknown>): Uint8Array => {
  const fix = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(fix);
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = (k === 'traceId' || k === 'spanId') && typeof x === 'string' ? Buffer.from(x, 'hex') : k === 'bytesValue' && typeof x === 'string' ? Buffer.from(x, 'base64') : fix(x);
    return o;
  };
  return ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(fix(req) as Record<string, unknown>)).finish();
};

test('the embedded .proto text is the vendored files, byte for byte (regenerate: node scripts/embed-otlp-proto.js)', () => {
  assert.equal(PROTO_FILES.length, 4);
  for (const f of PROTO_FILES) {
    assert.equal(f.text, readFileSync(join(SRC, 'sources', 'otlp', 'proto', f.path), 'utf8'), f.path);
    assert.match(f.text, /Licensed under the Apache License, Version 2\.0/);
  }
});

test('an OTLP/JSON request becomes one event per log record with Vector-style field names', () => {
  const d = decodeJson(Buffer.from(JSON.stringify(jsonRequest([fullRecord]))));
  assert.ok(d.ok, JSON.stringify(d));
  assert.equal(d.rejected, 0);
  assert.deepEqual(events(d.lines), [expectedEvent]);
});

test('the same request in protobuf gives the same event', () => {
  const d = decodeProtobuf(protobufOf(jsonRequest([fullRecord])));
  assert.ok(d.ok, JSON.stringify(d));
  assert.deepEqual(events(d.lines), [expectedEvent]);
});

test('snake_case JSON names and enum names are accepted; unset fields are left out; timestamp falls back to the observed time', () => {
  const d = decodeJson(
    Buffer.from(JSON.stringify({ resource_logs: [{ scope_logs: [{ log_records: [{ observed_time_unix_nano: 1000000000, severity_number: 'SEVERITY_NUMBER_WARN', body: { int_value: 7 } }, {}] }] }] })),
  );
  assert.ok(d.ok, JSON.stringify(d));
  assert.deepEqual(events(d.lines), [
    { message: 7, timestamp: '1970-01-01T00:00:01.000000000Z', observed_timestamp: '1970-01-01T00:00:01.000000000Z', severity_number: 13, attributes: {}, resources: {} },
    { attributes: {}, resources: {} },
  ]);
});

test('a record that cannot be stored faithfully is refused alone and counted; the others are kept in order', () => {
  const records = [
    { body: { stringValue: 'first' } },
    { body: { stringValue: 'short trace' }, traceId: 'abcd' },
    { body: { stringValue: 'third' } },
    { body: { stringValue: 'bad time' }, timeUnixNano: 'yesterday' },
  ];
  for (const [name, d] of [
    ['json', decodeJson(Buffer.from(JSON.stringify(jsonRequest(records))))],
    ['protobuf', decodeProtobuf(protobufOf(jsonRequest([records[0], { body: { stringValue: 'short trace' }, traceId: Buffer.from('abcd', 'hex') }, records[2]])))],
  ] as const) {
    assert.ok(d.ok, name);
    assert.deepEqual(
      events(d.lines).map((e) => e['message']),
      ['first', 'third'],
      name,
    );
    assert.equal(d.rejected, name === 'json' ? 2 : 1, name);
    assert.match(d.firstProblem ?? '', /^resourceLogs\[0\]\.scopeLogs\[0\]\.logRecords\[1\]: traceId is /, name);
  }
});

test('an attribute named __proto__ is an ordinary key, and a timestamp past 2^64 is refused rather than formatted', () => {
  const d = decodeJson(
    Buffer.from(
      JSON.stringify(
        jsonRequest([
          { body: { stringValue: 'a' }, attributes: [{ key: '__proto__', value: { stringValue: 'x' } }] },
          { body: { stringValue: 'b' }, timeUnixNano: 1e300 },
        ]),
      ),
    ),
  );
  assert.ok(d.ok);
  assert.equal(d.rejected, 1);
  assert.match(d.lines.toString(), /"attributes":\{"__proto__":"x"\}/);
});

/** Protobuf bytes of a request whose one record's body is an array nested `depth` levels deep (built inside out on the wire). */
const deeplyNested = (depth: number): Buffer => {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    for (; n > 127; n >>>= 7) out.push((n & 127) | 128);
    out.push(n);
    return out;
  };
  const wrap = (tag: number, inner: Buffer): Buffer => Buffer.concat([Buffer.from([tag, ...varint(inner.length)]), inner]);
  let v: Buffer = Buffer.from([0x0a, 1, 0x78]); // AnyValue { string_value: "x" }
  for (let i = 0; i < depth; i++) v = wrap(0x2a, wrap(0x0a, v)); // AnyValue { array_value: ArrayValue { values: [v] } }
  return wrap(0x0a, wrap(0x12, wrap(0x12, wrap(0x2a, v)))); // request.resource_logs.scope_logs.log_records.body
};

test('values nested deeper than 32 levels refuse their record; far deeper protobuf is refused whole, without overflowing the stack', () => {
  const some = decodeProtobuf(deeplyNested(40));
  assert.ok(some.ok && some.rejected === 1 && some.events === 0);
  assert.match(some.firstProblem ?? '', /nested deeper than 32 levels/);
  const deep = decodeProtobuf(deeplyNested(2_000));
  assert.ok(!deep.ok);
  const json = decodeJson(Buffer.from(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":${'{"arrayValue":{"values":['.repeat(10_000)}${']}}'.repeat(10_000)}}]}]}]}`));
  assert.ok(json.ok && json.rejected === 1);
});

test('a body that is not a request is refused whole with the reason', () => {
  const bad = (d: ReturnType<typeof decodeJson>): string => (d.ok ? 'accepted' : d.reason);
  assert.match(bad(decodeJson(Buffer.from('{"resourceLogs": 3}'))), /resourceLogs is not an array/);
  assert.match(bad(decodeJson(Buffer.from('[1]'))), /not an ExportLogsServiceRequest object/);
  assert.match(bad(decodeJson(Buffer.from('{'))), /not JSON/);
  assert.match(bad(decodeProtobuf(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]))), /not a protobuf ExportLogsServiceRequest/);
  const empty = decodeProtobuf(new Uint8Array(0));
  assert.ok(empty.ok && empty.events === 0);
});

test('content types: protobuf and JSON (with parameters) are OTLP, anything else is not', () => {
  assert.equal(encodingOf('application/x-protobuf'), 'protobuf');
  assert.equal(encodingOf('application/json; charset=utf-8'), 'json');
  assert.equal(encodingOf('text/plain'), undefined);
  assert.equal(encodingOf(undefined), undefined);
});

test('timestamps are RFC 3339 with nanoseconds, up to the largest fixed64', () => {
  assert.equal(rfc3339('1'), '1970-01-01T00:00:00.000000001Z');
  assert.equal(rfc3339('1544712660300000001'), '2018-12-13T14:51:00.300000001Z');
  assert.equal(rfc3339((2n ** 64n - 1n).toString()), '2554-07-21T23:34:33.709551615Z');
});

test('property: no bytes crash either decoder; what is accepted is NDJSON of objects, one per event', () => {
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 400 }),
    // protobuf-shaped: a valid request with a few bytes changed
    fc.tuple(fc.array(fc.string({ maxLength: 12 }), { maxLength: 6 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 })).map(([bodies, flips]) => {
      const b = Buffer.from(protobufOf(jsonRequest(bodies.map((s) => ({ body: { stringValue: s }, traceId: TRACE })))));
      for (const [at, v] of flips) if (b.length > 0) b[at % b.length] = v;
      return new Uint8Array(b);
    }),
    fc.json().map((s) => new Uint8Array(Buffer.from(s))),
  );
  fc.assert(
    fc.property(bytes, (b) => {
      for (const d of [decodeProtobuf(b), decodeJson(Buffer.from(b))]) {
        if (!d.ok) {
          assert.ok(d.reason.length > 0);
          continue;
        }
        const evs = events(d.lines);
        assert.equal(evs.length, d.events);
        for (const e of evs) assert.ok(e !== null && typeof e === 'object' && !Array.isArray(e));
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: every record of a well-formed request arrives, in order, in both encodings', () => {
  const value = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.string({ maxLength: 10 }).map((s) => ({ stringValue: s })),
      fc.boolean().map((b) => ({ boolValue: b })),
      fc.integer().map((i) => ({ intValue: String(i) })),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => ({ doubleValue: d })),
      fc.array(tie('v'), { maxLength: 3 }).map((vs) => ({ arrayValue: { values: vs } })),
    ),
  })).v;
  const record = fc.record({ body: value, attributes: fc.array(fc.record({ key: fc.string({ maxLength: 6 }), value }), { maxLength: 3 }), timeUnixNano: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String) });
  fc.assert(
    fc.property(fc.array(record, { maxLength: 8 }), (records) => {
      const req = jsonRequest(records);
      const j = decodeJson(Buffer.from(JSON.stringify(req)));
      const p = decodeProtobuf(protobufOf(req));
      assert.ok(j.ok && p.ok);
      assert.equal(j.events, records.length);
      assert.equal(j.rejected, 0);
      // -0 becomes 0 in JSON; otherwise both encodings give the same events
      assert.deepEqual(events(p.lines), events(j.lines));
      assert.deepEqual(
        events(j.lines).map((e) => e['timestamp'] ?? null),
        records.map((r) => (r.timeUnixNano === '0' ? null : rfc3339(r.timeUnixNano))),
      );
    }),
    { numRuns: 300 },
  );
});

/** A running OtlpSource on a free port whose emit stores batches at once. */
const serve = async (recordBytes?: number): Promise<{ port: number; batches: SourceBatch[]; warnings: string[]; stop: () => Promise<void>; source: OtlpSource }> => {
  const ac = new AbortController();
  const batches: SourceBatch[] = [];
  const warnings: string[] = [];
  const source = new OtlpSource(otlpSourceSchema.parse({ type: 'otlp', address: '127.0.0.1:0' }), { clock: systemClock, fs: nodeFileSystem, cwd: process.cwd() });
  let announce: (port: number) => void = () => undefined;
  const listening = new Promise<number>((r) => (announce = r));
  const ctx: SourceContext = {
    id: 'otel',
    positions: new Map(),
    signal: ac.signal,
    log: {
      debug() {},
      info(_m, f) {
        const v = f?.['address'];
        const a = typeof v === 'string' ? v : '';
        announce(Number(a.slice(a.lastIndexOf(':') + 1)));
      },
      warn(m, f) {
        warnings.push(`${m} ${JSON.stringify(f)}`);
      },
      error() {},
    },
    emit: async (b) => {
      // As the queue: a batch larger than a record is refused.
      if (recordBytes !== undefined && batchBytes(b) > recordBytes) throw Object.assign(new Error('too large'), { code: 'SLUICE_QUEUE_RECORD_TOO_LARGE' });
      batches.push({ ...b, lines: Buffer.from(b.lines) });
    },
    ...(recordBytes === undefined ? {} : { recordBytes }),
  };
  const done = source.run(ctx);
  const port = await listening;
  return {
    port,
    batches,
    warnings,
    source,
    stop: async () => {
      ac.abort();
      await done;
    },
  };
};

const post = (port: number, path: string, headers: Record<string, string>, body: Uint8Array | string): Promise<{ status: number; type: string; body: Buffer }> =>
  new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode ?? 0, type: String(r.headers['content-type']), body: Buffer.concat(chunks) }));
    });
    req.on('error', rej);
    req.end(body);
  });

test('the source answers in the request encoding: an ExportLogsServiceResponse with partialSuccess, a google.rpc.Status on refusal', async () => {
  const s = await serve();
  try {
    const req = jsonRequest([{ body: { stringValue: 'kept' } }, { body: { stringValue: 'refused' }, spanId: 'zz' }]);
    const pb = await post(s.port, '/v1/logs', { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, gzipSync(protobufOf({ resourceLogs: [] })));
    assert.equal(pb.status, 200);
    assert.equal(pb.type, 'application/x-protobuf');
    assert.deepEqual(ExportLogsServiceResponse.toObject(ExportLogsServiceResponse.decode(pb.body)), {});
    const js = await post(s.port, '/v1/logs', { 'content-type': 'application/json' }, JSON.stringify(req));
    assert.equal(js.status, 200);
    assert.equal(js.type, 'application/json');
    const answer = JSON.parse(js.body.toString()) as { partialSuccess: { rejectedLogRecords: string; errorMessage: string } };
    assert.equal(answer.partialSuccess.rejectedLogRecords, '1');
    assert.match(answer.partialSuccess.errorMessage, /spanId is not 16 hex digits/);
    const bad = await post(s.port, '/v1/logs', { 'content-type': 'application/x-protobuf' }, Buffer.from([0x0a, 0x05, 1]));
    assert.equal(bad.status, 400);
    const status = RpcStatus.toObject(RpcStatus.decode(bad.body)) as { code: number; message: string };
    assert.equal(status.code, 3);
    assert.match(status.message, /not a protobuf ExportLogsServiceRequest/);
    const text = await post(s.port, '/v1/logs', { 'content-type': 'text/plain' }, 'hello');
    assert.equal(text.status, 415);
    assert.equal((await post(s.port, '/v1/traces', { 'content-type': 'application/json' }, '{}')).status, 404);
    assert.deepEqual(
      s.batches.map((b) => [b.format, b.events, events(b.lines).map((e) => e['message'])]),
      [['events', 1, ['kept']]],
    );
    assert.equal(s.source.metrics().rejectedRecords, 1);
    assert.equal(s.warnings.length, 1);
    assert.match(s.warnings[0] ?? '', /otlp log records refused: 1 since the last report.*"rejectedRecordsTotal":1.*spanId is not 16 hex digits/);
  } finally {
    await s.stop();
  }
});

test('an export larger than a queue record is stored as several batches, every record once and in order; one record larger than a queue record alone gets 413', async () => {
  const s = await serve(64 * 1024);
  try {
    const records = Array.from({ length: 2000 }, (_, i) => ({ body: { stringValue: `record ${i} ${'r'.repeat(100)}` } }));
    const r = await post(s.port, '/v1/logs', { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, gzipSync(protobufOf(jsonRequest(records))));
    assert.equal(r.status, 200);
    assert.ok(s.batches.length > 3, `${s.batches.length} batches`);
    for (const b of s.batches) assert.ok(batchBytes(b) <= 64 * 1024);
    const got = s.batches.flatMap((b) => b.lines.toString().trimEnd().split('\n').map((l) => (JSON.parse(l) as { message: string }).message));
    assert.deepEqual(got, records.map((x) => x.body.stringValue));
    const big = await post(s.port, '/v1/logs', { 'content-type': 'application/json' }, JSON.stringify(jsonRequest([{ body: { stringValue: 'small' } }, { body: { stringValue: 'b'.repeat(70 * 1024) } }])));
    assert.equal(big.status, 413);
    assert.match(big.body.toString(), /event 2 of the request is \d+ bytes as stored, more than one queue record holds/);
    assert.equal(
      s.batches.reduce((n, b) => n + b.events, 0),
      2000,
      'nothing of the refused export was stored',
    );
  } finally {
    await s.stop();
  }
});
