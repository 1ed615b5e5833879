import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { acceptsContentType, decodeBody, decodeJson, decodeNdjson, decodeText } from '../../src/sources/http/decode';
import { httpSourceSchema, type HttpSourceConfigInput } from '../../src/sources/http/config';
import { HttpSource } from '../../src/sources/http/source';
import type { SourceBatch, SourceContext } from '../../src/core/source';
import { systemClock, nodeFileSystem } from '../../src/core/node-ports';

const lines = (b: Buffer): string[] => b.toString('utf8').split('\n').slice(0, -1);

test('ndjson keeps each object line as sent, skips blank lines and CRLF endings, and names the first bad line', () => {
  const ok = decodeNdjson(Buffer.from('{"a":1}\r\n\n  {"b": [1,2]}  \n{"c":"x\\ny"}'));
  assert.ok(ok.ok);
  assert.deepEqual(lines(ok.lines), ['{"a":1}', '{"b": [1,2]}', '{"c":"x\\ny"}']);
  assert.equal(ok.events, 3);
  assert.deepEqual(decodeNdjson(Buffer.from('{"a":1}\n[1]\n')), { ok: false, reason: 'line 2: not a JSON object' });
  const bad = decodeNdjson(Buffer.from('{"a":1}\n{"a":\n'));
  assert.ok(!bad.ok && bad.reason.startsWith('line 2: '), JSON.stringify(bad));
  assert.deepEqual(decodeNdjson(Buffer.from('\n\n')), { ok: true, lines: Buffer.alloc(0), events: 0 });
});

test('json takes one object or an array of objects, and refuses anything else with the reason', () => {
  const one = decodeJson(Buffer.from('\uFEFF{"a":1}'));
  assert.ok(one.ok);
  assert.deepEqual(lines(one.lines), ['{"a":1}']);
  const arr = decodeJson(Buffer.from('[{"a":1},{"b":{"c":2}}]'));
  assert.ok(arr.ok);
  assert.equal(arr.events, 2);
  assert.deepEqual(decodeJson(Buffer.from('[{"a":1},2]')), { ok: false, reason: 'element 1 of the array is not a JSON object' });
  assert.deepEqual(decodeJson(Buffer.from('"x"')), { ok: false, reason: 'body is neither a JSON object nor an array of objects' });
  assert.ok(!decodeJson(Buffer.from('{')).ok);
});

test('text makes one message event per non-blank line', () => {
  const t = decodeText(Buffer.from('first\r\n\nsecond "quoted"\n'));
  assert.ok(t.ok);
  assert.deepEqual(lines(t.lines).map((l) => JSON.parse(l) as unknown), [{ message: 'first' }, { message: 'second "quoted"' }]);
});

test('content types: each decoding takes its own, a missing one is accepted, form posts are not', () => {
  assert.ok(acceptsContentType('ndjson', 'application/x-ndjson; charset=utf-8'));
  assert.ok(acceptsContentType('ndjson', undefined));
  assert.ok(acceptsContentType('json', 'application/vnd.api+json'));
  assert.ok(acceptsContentType('text', 'text/x-log'));
  assert.ok(!acceptsContentType('ndjson', 'application/x-www-form-urlencoded'));
  assert.ok(!acceptsContentType('text', 'application/json'));
});

test('property: no body crashes a decoder; what is accepted is NDJSON of objects, one per event', () => {
  const body = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
    fc.array(fc.oneof(fc.json(), fc.string()), { maxLength: 8 }).map((xs) => Buffer.from(xs.join('\n'))),
  );
  fc.assert(
    fc.property(body, fc.constantFrom('ndjson' as const, 'json' as const, 'text' as const), (b, decoding) => {
      const d = decodeBody(decoding, b);
      if (!d.ok) {
        assert.ok(d.reason.length > 0);
        return;
      }
      const ls = lines(d.lines);
      assert.equal(ls.length, d.events);
      for (const l of ls) {
        const v: unknown = JSON.parse(l);
        assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), l);
      }
    }),
    { numRuns: 1000 },
  );
});

test('property: good NDJSON lines are all kept in order; one bad line refuses the body and names its line', () => {
  const obj = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean()), { maxKeys: 4 });
  fc.assert(
    fc.property(fc.array(obj, { minLength: 1, maxLength: 20 }), fc.option(fc.nat(), { nil: undefined }), (objs, badAt) => {
      const ls = objs.map((o) => JSON.stringify(o));
      if (badAt !== undefined) ls.splice(badAt % (ls.length + 1), 0, '{"broken":');
      const d = decodeNdjson(Buffer.from(ls.join('\n')));
      if (badAt === undefined) {
        assert.ok(d.ok);
        assert.deepEqual(lines(d.lines), ls);
      } else {
        assert.ok(!d.ok);
        assert.match(d.reason, new RegExp(`^line ${(badAt % (objs.length + 1)) + 1}: `));
      }
    }),
    { numRuns: 300 },
  );
});

/** A running HttpSource on a free port with a controllable emit. */
class Served {
  readonly batches: SourceBatch[] = [];
  readonly ac = new AbortController();
  full = false;
  hold = false;
  private readonly held: (() => void)[] = [];
  port = 0;
  done: Promise<void> = Promise.resolve();
  readonly source: HttpSource;

  constructor(cfg: Partial<HttpSourceConfigInput> = {}) {
    this.source = new HttpSource(httpSourceSchema.parse({ type: 'http', address: '127.0.0.1:0', path: '/ingest', ...cfg }), { clock: systemClock, fs: nodeFileSystem, cwd: process.cwd() });
  }

  async start(): Promise<this> {
    let announce: (port: number) => void = () => undefined;
    const listening = new Promise<number>((r) => (announce = r));
    const ctx: SourceContext = {
      id: 'web',
      positions: new Map(),
      signal: this.ac.signal,
      full: () => this.full,
      log: {
        debug() {},
        info(_m, f) {
          const v = f?.['address'];
          const a = typeof v === 'string' ? v : '';
          announce(Number(a.slice(a.lastIndexOf(':') + 1)));
        },
        warn() {},
        error() {},
      },
      emit: async (b, opts) => {
        const copy = { ...b, lines: Buffer.from(b.lines) };
        await new Promise((r) => setImmediate(r));
        if (this.hold) {
          // Like the queue: a held append given up rejects, unwritten; else it waits for release().
          const signal = opts?.signal;
          await new Promise<void>((resolve, reject) => {
            const giveUp = (): void => reject(Object.assign(new Error('given up'), { code: 'SLUICE_QUEUE_APPEND_ABORTED' }));
            if (signal?.aborted === true) return giveUp();
            signal?.addEventListener('abort', giveUp, { once: true });
            this.held.push(() => {
              signal?.removeEventListener('abort', giveUp);
              resolve();
            });
          });
        }
        this.batches.push(copy);
      },
    };
    this.done = this.source.run(ctx);
    this.port = await listening;
    return this;
  }

  /** Resolves once `n` emits are held (the requests reached their append). */
  async heldEmits(n = 1): Promise<void> {
    while (this.held.length < n) await new Promise((r) => setTimeout(r, 5));
  }

  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r();
  }

  text(): string {
    return Buffer.concat(this.batches.map((b) => b.lines)).toString();
  }
}

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

const post = (port: number, body: Buffer | string, headers: Record<string, string> = {}, opts: { path?: string; method?: string; agent?: Agent; chunks?: readonly number[] } = {}): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: opts.path ?? '/ingest', method: opts.method ?? 'POST', headers, agent: opts.agent ?? false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    const b = Buffer.from(body);
    let prev = 0;
    for (const c of opts.chunks ?? []) {
      req.write(b.subarray(prev, c));
      prev = c;
    }
    req.end(b.subarray(prev));
  });

test('a request is answered 200 only after its emit resolved, with one batch per request', async () => {
  const s = await new Served().start();
  s.hold = true;
  let answered = false;
  const p = post(s.port, '{"a":1}\n{"a":2}\n').then((r) => {
    answered = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(answered, false, 'no answer while the batch is not durable');
  s.release();
  const r = await p;
  assert.equal(r.status, 200);
  assert.deepEqual(JSON.parse(r.body), { events: 2 });
  assert.equal(s.batches.length, 1);
  assert.equal(s.batches[0]?.format, 'events');
  assert.equal(s.batches[0]?.events, 2);
  s.ac.abort();
  await s.done;
});

test('refusals: 404, 405, 401 (missing and wrong token), 415, 413 by Content-Length, while streaming and after gunzip, 400 with the reason', async () => {
  const s = await new Served({ auth: { bearer_token: 'tok' }, max_body_bytes: '16KiB' }).start();
  const auth = { authorization: 'Bearer tok', 'content-type': 'application/x-ndjson' };
  assert.equal((await post(s.port, '{}', auth, { path: '/other' })).status, 404);
  const m = await post(s.port, '', auth, { method: 'PUT' });
  assert.equal(m.status, 405);
  assert.equal(m.headers['allow'], 'POST');
  assert.equal((await post(s.port, '{}', { 'content-type': 'application/x-ndjson' })).status, 401);
  const wrong = await post(s.port, '{}', { ...auth, authorization: 'Bearer tok2' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers['www-authenticate'], 'Bearer');
  assert.equal((await post(s.port, '{}', { ...auth, 'content-type': 'application/x-www-form-urlencoded' })).status, 415);
  assert.equal((await post(s.port, '{}', { ...auth, 'content-encoding': 'br' })).status, 415);
  assert.equal((await post(s.port, 'x'.repeat(20_000), auth)).status, 413);
  assert.equal((await post(s.port, 'x'.repeat(20_000), { ...auth, 'transfer-encoding': 'chunked' }, { chunks: [1000, 9000, 17_000] })).status, 413);
  const bomb = gzipSync(Buffer.alloc(10 * 1024 * 1024, 0x20));
  assert.ok(bomb.length < 16 * 1024);
  assert.equal((await post(s.port, bomb, { ...auth, 'content-encoding': 'gzip' })).status, 413);
  assert.equal((await post(s.port, 'not gzip', { ...auth, 'content-encoding': 'gzip' })).status, 400);
  const bad = await post(s.port, '{"a":1}\n{nope}\n', auth);
  assert.equal(bad.status, 400);
  assert.match((JSON.parse(bad.body) as { error: string }).error, /^line 2: /);
  const gz = await post(s.port, gzipSync('{"z":1}\n'), { ...auth, 'content-encoding': 'gzip' });
  assert.equal(gz.status, 200);
  assert.equal(s.text(), '{"z":1}\n');
  const m2 = s.source.metrics().responses;
  assert.deepEqual(m2, { 200: 1, 400: 2, 401: 2, 404: 1, 405: 1, 413: 3, 415: 2 });
  s.ac.abort();
  await s.done;
});

test('Expect: 100-continue gets its refusal before the body is sent', async () => {
  const s = await new Served({ auth: { bearer_token: 'tok' } }).start();
  const status = await new Promise<number>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: s.port, path: '/ingest', method: 'POST', headers: { expect: '100-continue', 'content-length': '10' }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('continue', () => reject(new Error('got 100 Continue without a token')));
    req.on('error', reject);
    req.flushHeaders();
  });
  assert.equal(status, 401);
  s.ac.abort();
  await s.done;
});

test('a full queue is answered 503 with Retry-After at once, without reading into the queue', async () => {
  const s = await new Served().start();
  s.full = true;
  const r = await post(s.port, '{"a":1}\n');
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  assert.equal(s.batches.length, 0);
  s.full = false;
  assert.equal((await post(s.port, '{"a":1}\n')).status, 200);
  s.ac.abort();
  await s.done;
});

test('on stop: a request whose emit started is answered 200 once it resolves (Connection: close), one still sending its body gets 503, a new one on that connection is not taken', async () => {
  const s = await new Served().start();
  const raw = async (): Promise<{ sock: Socket; wire: () => string; closed: Promise<void> }> => {
    const sock = connect(s.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const got: Buffer[] = [];
    sock.on('data', (c: Buffer) => got.push(c));
    sock.on('error', () => undefined); // a reset after the close is fine here
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    return { sock, wire: () => Buffer.concat(got).toString(), closed };
  };
  const req = (body: string): string => `POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  s.hold = true;
  const a = await raw();
  a.sock.write(req('{"held":1}\n'));
  const b = await raw();
  b.sock.write(`POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n{"slow":`);
  await new Promise((r) => setTimeout(r, 100));
  s.ac.abort();
  let stopped = false;
  void s.done.then(() => (stopped = true)); // observed below
  a.sock.write(req('{"late":1}\n'));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(stopped, false, 'run() waits for the request in flight');
  await b.closed;
  assert.match(b.wire(), /^HTTP\/1\.1 503 [\s\S]*connection: close/i);
  s.release();
  await s.done;
  await a.closed;
  assert.match(a.wire(), /^HTTP\/1\.1 200 [\s\S]*connection: close/i);
  // The request sent after the stop on that connection is not taken (it gets a 503, or the close).
  assert.doesNotMatch(a.wire(), /HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 200 /);
  assert.equal(s.text(), '{"held":1}\n');
  await assert.rejects(post(s.port, '{}'), /ECONNREFUSED/);
});

test('property: a body cut into any chunks decodes the same (chunked transfer)', async () => {
  const s = await new Served().start();
  await fc.assert(
    fc.asyncProperty(fc.array(fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 30 }), { maxKeys: 3 }), { minLength: 1, maxLength: 30 }), fc.array(fc.nat(2000), { maxLength: 10 }), async (objs, cuts) => {
      const body = objs.map((o) => JSON.stringify(o)).join('\n');
      const before = s.batches.length;
      const len = Buffer.byteLength(body);
      const r = await post(s.port, body, { 'transfer-encoding': 'chunked' }, { chunks: [...new Set(cuts.map((c) => Math.min(c, len)))].sort((a, b) => a - b) });
      assert.equal(r.status, 200);
      assert.equal(s.batches.length, before + 1);
      assert.equal(s.batches[before]?.lines.toString(), `${body}\n`);
    }),
    { numRuns: 40 },
  );
  s.ac.abort();
  await s.done;
});

test('a queue that fills while a request waits for its append (when_full: reject): 503 + Retry-After, and the append is given up so the retry is no duplicate', async () => {
  const s = await new Served().start();
  s.hold = true;
  const p = post(s.port, '{"a":1}\n');
  await s.heldEmits();
  s.full = true;
  const r = await p;
  assert.equal(r.status, 503);
  assert.equal(r.headers['retry-after'], '1');
  const m = s.source.metrics();
  assert.equal(m.refusedFull, 1);
  assert.equal(m.appendsGivenUp, 1);
  // Later requests are refused at once, before their body is taken.
  const again = await post(s.port, '{"b":1}\n');
  assert.equal(again.status, 503);
  assert.equal(s.source.metrics().refusedFull, 2);
  s.full = false;
  s.release();
  const ok = await post(s.port, '{"c":1}\n');
  assert.equal(ok.status, 200);
  s.ac.abort();
  await s.done;
  assert.equal(s.text(), '{"c":1}\n', 'nothing of the refused requests was stored');
  assert.deepEqual(s.source.metrics().responses, { 200: 1, 503: 2 });
});

test('when_full: block holds the request while the queue is full and answers 200 once its append is durable', async () => {
  const s = await new Served({ when_full: 'block' }).start();
  s.full = true;
  s.hold = true;
  let answered = false;
  const p = post(s.port, '{"a":1}\n').then((r) => {
    answered = true;
    return r;
  });
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(answered, false, 'held, not refused, while full');
  s.full = false;
  s.release();
  assert.equal((await p).status, 200);
  assert.equal(s.text(), '{"a":1}\n');
  assert.equal(s.source.metrics().refusedFull, 0);
  s.ac.abort();
  await s.done;
});

test('when_full: block: a client that goes away while its append waits has the append given up, so its retry stores the events once', async () => {
  const s = await new Served({ when_full: 'block' }).start();
  s.full = true;
  s.hold = true;
  const sock = connect(s.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const body = '{"gone":1}\n';
  sock.write(`POST /ingest HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await s.heldEmits();
  sock.destroy();
  for (let i = 0; i < 50 && s.source.metrics().appendsGivenUp === 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(s.source.metrics().appendsGivenUp, 1);
  s.release();
  s.ac.abort();
  await s.done;
  assert.equal(s.text(), '');
});

test('a stop while an append waits for space gives it up and answers 503 + Connection: close at once', async () => {
  const s = await new Served({ when_full: 'block' }).start();
  s.full = true;
  s.hold = true;
  const p = post(s.port, '{"a":1}\n');
  await s.heldEmits();
  s.ac.abort();
  const r = await p;
  assert.equal(r.status, 503);
  assert.equal(r.headers['connection'], 'close');
  await s.done;
  assert.equal(s.text(), '');
});

test('max_connections: connections beyond it are closed as they arrive and counted; the open ones are served', async () => {
  const s = await new Served({ max_connections: 2 }).start();
  const socks: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    const c = connect(s.port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    socks.push(c);
  }
  for (let i = 0; i < 50 && s.source.metrics().openConnections < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(s.source.metrics().openConnections, 2);
  const extra = connect(s.port, '127.0.0.1');
  extra.on('error', () => undefined);
  await new Promise<void>((r) => extra.once('close', () => r()));
  assert.equal(s.source.metrics().refusedConnections, 1);
  for (const c of socks) c.destroy();
  for (let i = 0; i < 50 && s.source.metrics().openConnections > 0; i++) await new Promise((r) => setTimeout(r, 10));
  const ok = await post(s.port, '{"a":1}\n');
  assert.equal(ok.status, 200);
  assert.equal(s.source.stats().refusedConnections, 1);
  assert.deepEqual(s.source.stats().responses, { 200: 1 });
  s.ac.abort();
  await s.done;
});
