import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import fc from 'fast-check';
import pino from 'pino';
import { createLogger, LoggerOptionsError, LoggerDestinationError } from '../../src/index';
import { readLines, tempDir } from './helpers';

/** The API both loggers share, as the calls below use it. */
interface AnyLog {
  trace(...a: unknown[]): void;
  debug(...a: unknown[]): void;
  info(...a: unknown[]): void;
  warn(...a: unknown[]): void;
  error(...a: unknown[]): void;
  fatal(...a: unknown[]): void;
  child(b: Record<string, unknown>): AnyLog;
  level: string;
}
type Call = (log: AnyLog) => void;

/** Runs the same calls through pino 10 and through sluice, to files, and returns both outputs parsed. */
async function bothWays(dir: string, calls: Call[], level: 'trace' | 'info' = 'trace') {
  const pf = join(dir, 'pino.log');
  const sf = join(dir, 'sluice.log');
  const dest = pino.destination({ dest: pf, sync: true });
  const p = pino({ level }, dest);
  const s = createLogger({ level, destination: sf });
  for (const c of calls) {
    c(p);
    c(s);
  }
  dest.flushSync();
  await s.close();
  const strip = (l: Record<string, unknown>) => {
    delete l['time'];
    return l;
  };
  return { pino: readLines(pf).map(strip), sluice: readLines(sf).map(strip), sluiceRaw: readLines(sf) };
}

test('output matches pino 10 line for line for every call shape, level, child and error', async (t) => {
  const dir = tempDir(t);
  const inner = new TypeError('inner reason');
  const err = new Error('outer', { cause: inner });
  (err as Error & { code?: string }).code = 'E_OUTER';
  const agg = new AggregateError([new Error('a'), new RangeError('b')], 'many');
  const plain = new RangeError('plain "quoted" \u0001');
  class CustomError extends Error {}
  const custom = new CustomError('custom');
  const empty = new Error('');
  const circ: Record<string, unknown> = { name: 'c' };
  circ['self'] = circ;
  const calls: Call[] = [
    (l) => l.info('plain message'),
    (l) => l.info({ seq: 1, svc: 'api' }, 'with fields'),
    (l) => l.info({ n: 1.5, neg: -0, big: 10n, inf: Infinity, nan: NaN, no: undefined, t: true, f: null }, 'types'),
    (l) => l.info({ nested: { a: [1, 'two', { three: 3 }] }, d: new Date(0) }),
    (l) => l.warn({ q: 'quote " back \\ nl \n tab \t ctl \u0001 uni é 😀 lone \ud800' }, 'esc "msg" \u2028'),
    (l) => l.error(err, 'failed'),
    (l) => l.error(err),
    (l) => l.error({ err, extra: 1 }, 'in object'),
    (l) => l.error({ err }),
    (l) => l.fatal(agg, 'aggregate'),
    (l) => l.error(plain),
    (l) => l.warn({ err: custom }, 'custom class'),
    (l) => l.error(empty, 'empty message'),
    (l) => l.debug('printf %s|%d|%i|%f|%j|%o|%O|%%|%x', 'str', 42.9, 42.9, 1.25, { j: 1 }, [1], { O: 2 }),
    (l) => l.trace('fewer %s %s', 'one'),
    (l) => l.info({ a: 1 }, 'obj then printf %s %d', 'x', 7),
    (l) => l.info({ circ }, 'circular'),
    (l) => l.info(42),
    (l) => l.info(),
    (l) => l.info({ msg: 'msg in object' }),
    (l) => l.child({ reqId: 'abc', n: 1 }).info('child line'),
    (l) => l.child({ a: 1 }).child({ b: { c: 2 } }).warn({ f: 'x' }, 'grandchild'),
    (l) => {
      l.level = 'warn';
      l.info('suppressed');
      l.warn('kept after level change');
      l.level = 'trace';
    },
  ];
  const out = await bothWays(dir, calls);
  assert.equal(out.sluice.length, out.pino.length);
  assert.deepEqual(out.sluice, out.pino);
  for (const l of out.sluiceRaw) {
    assert.equal(typeof l['time'], 'number');
    assert.deepEqual(Object.keys(l).slice(0, 4), ['level', 'time', 'pid', 'hostname']);
  }
});

test('levels, isLevelEnabled, bindings and base follow pino', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'a.log');
  const log = createLogger({ destination: file, level: 'warn', base: { app: 'x' }, name: 'svc' });
  assert.equal(log.level, 'warn');
  assert.equal(log.isLevelEnabled('info'), false);
  assert.equal(log.isLevelEnabled('error'), true);
  assert.deepEqual(log.levels.values, { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 });
  assert.equal(log.levels.labels[30], 'info');
  const child = log.child({ reqId: 'r1' }, { level: 'debug' });
  assert.equal(child.level, 'debug');
  assert.deepEqual(child.bindings(), { name: 'svc', reqId: 'r1' });
  child.debug('from child');
  log.info('dropped by level');
  log.error('kept');
  assert.throws(() => (log.level = 'loud' as 'info'), LoggerOptionsError);
  const quiet = createLogger({ destination: file, base: null });
  quiet.info('no base');
  await log.close();
  await quiet.close();
  const lines = readLines(file);
  assert.deepEqual(
    lines.map((l) => [l['level'], l['msg'], l['app'], l['name'], l['reqId'], 'pid' in l]),
    [
      [20, 'from child', 'x', 'svc', 'r1', false],
      [50, 'kept', 'x', 'svc', undefined, false],
      [30, 'no base', undefined, undefined, undefined, false],
    ],
  );
});

/**
 * What a string reads back as, given how pino writes it: on Node < 25 a field's or message's
 * string (or a key) of at most 100 characters and no control character is written as it is, so
 * its lone surrogates reach the file as U+FFFD; any other string is escaped exactly.
 */
function asPinoWrites(s: string): string {
  if (Number(process.versions.node.split('.')[0]) >= 25 || s.length > 100 || /[\u0000-\u001f]/.test(s)) return s;
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

test('every string escapes to a line that JSON.parse reads back exactly, lone surrogates as pino writes them', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'fc.log');
  const log = createLogger({ destination: file, base: null, bufferBytes: 4096 });
  const samples: Array<{ key: string; val: string; msg: string }> = [];
  const str = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }));
  fc.assert(
    fc.property(str, str, str, (key, val, msg) => {
      samples.push({ key, val, msg });
      log.info({ [key]: val }, msg);
    }),
    { numRuns: 2000 },
  );
  await log.close();
  const lines = readLines(file);
  assert.equal(lines.length, samples.length);
  lines.forEach((l, i) => {
    const s = samples[i]!;
    assert.equal(l['msg'], asPinoWrites(s.msg));
    const key = asPinoWrites(s.key);
    if (key !== 'level' && key !== 'time' && key !== 'msg') assert.equal(l[key], asPinoWrites(s.val));
  });
});

test('options are validated with one clear line naming the option', (t) => {
  const dir = tempDir(t);
  const cases: Array<[unknown, RegExp]> = [
    [{ level: 'loud' }, /option `level`: unknown level "loud"/],
    [{ bufferBytes: 10 }, /option `bufferBytes` must be an integer from 1024/],
    [{ whenFull: 'wait' }, /option `whenFull` must be 'block' or 'drop'/],
    [{ durability: 'disk' }, /option `durability`/],
    [{ rotate: { maxBytes: 10_000, keep: 2 } }, /option `rotate` needs a file path/],
    [{ destination: join(dir, 'x.log'), rotate: { maxBytes: 1 } }, /rotate.maxBytes/],
    [{ flushIntervalMs: 0 }, /flushIntervalMs/],
    [{ colour: true }, /unknown option `colour`/],
    [{ destination: -1 }, /file descriptor/],
  ];
  for (const [opts, re] of cases) {
    assert.throws(
      () => createLogger(opts as never),
      (e: unknown) => e instanceof LoggerOptionsError && e.code === 'SLUICE_LOGGER_OPTIONS' && re.test(e.message) && !e.message.includes('\n'),
      String(re),
    );
  }
  writeFileSync(join(dir, 'plain-file'), '');
  assert.throws(
    () => createLogger({ destination: join(dir, 'plain-file', 'sub', 'x.log') }),
    (e: unknown) => e instanceof LoggerDestinationError && e.code === 'SLUICE_LOGGER_DESTINATION' && e.cause !== undefined,
  );
});

test('a destination descriptor that is not open, or is a directory, is refused when the logger is made', (t) => {
  const dir = tempDir(t);
  assert.throws(
    () => createLogger({ destination: 99999 }),
    (e: unknown) =>
      e instanceof LoggerDestinationError && e.code === 'SLUICE_LOGGER_DESTINATION' && /fd 99999 .*EBADF/.test(e.message) && !e.message.includes('\n'),
  );
  const dfd = openSync(dir, 'r');
  t.after(() => closeSync(dfd));
  assert.throws(
    () => createLogger({ destination: dfd }),
    (e: unknown) => e instanceof LoggerDestinationError && /is a directory/.test(e.message),
  );
});

test('flush() resolves with every earlier line in the file and metrics count them', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'f.log');
  const log = createLogger({ destination: file, flushIntervalMs: 60_000 });
  for (let i = 0; i < 1000; i++) log.info({ seq: i }, 'x');
  assert.equal(log.metrics().buffered, 1000);
  await log.flush();
  assert.equal(readLines(file).length, 1000);
  assert.deepEqual(log.metrics(), { written: 1000, dropped: 0, errors: 0, buffered: 0 });
  log.info('after');
  log.flushSync();
  assert.equal(readLines(file).length, 1001);
  await log.close();
});

test('the flush timer writes buffered lines without any explicit flush', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 't.log');
  const log = createLogger({ destination: file, flushIntervalMs: 5 });
  log.info('soon');
  for (let i = 0; i < 200 && readLines(file).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(readLines(file).length, 1);
  await log.close();
});

test('durability fsync: flush() resolves after the lines are written and synced', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 's.log');
  const log = createLogger({ destination: file, durability: 'fsync' });
  for (let i = 0; i < 100; i++) log.info({ seq: i }, 'durable');
  await Promise.all([log.flush(), log.flush(), log.flush()]);
  assert.equal(readLines(file).length, 100);
  await log.close();
});

test('size-based rotation keeps whole lines, at most maxBytes per file, and the newest files', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'r.log');
  const log = createLogger({ destination: file, base: null, bufferBytes: 8192, rotate: { maxBytes: 4096, keep: 3 } });
  const n = 2000;
  for (let i = 0; i < n; i++) log.info({ seq: i }, 'rotating line with some padding');
  await log.close();
  const { statSync, existsSync } = await import('node:fs');
  const files = [`${file}.3`, `${file}.2`, `${file}.1`, file];
  for (const f of files) {
    assert.ok(existsSync(f), f);
    assert.ok(statSync(f).size <= 4096, `${f} is ${statSync(f).size} bytes`);
  }
  assert.equal(existsSync(`${file}.4`), false);
  const seq = files.flatMap((f) => readLines(f).map((l) => l['seq'] as number));
  // the newest files hold a contiguous tail ending at the last line
  assert.equal(seq[seq.length - 1], n - 1);
  seq.forEach((s, i) => assert.equal(s, seq[0]! + i));
});

test('lines logged after close() are not buffered forever but counted as dropped', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'c.log');
  const log = createLogger({ destination: file });
  log.info('before');
  await log.close();
  log.info('after');
  log.child({ a: 1 }).warn('after too');
  assert.deepEqual(log.metrics(), { written: 1, dropped: 2, errors: 0, buffered: 0 });
  assert.equal(readLines(file).length, 1);
});

test('for random fields and messages the output is byte for byte what pino 10 writes', async (t) => {
  const dir = tempDir(t);
  const pf = join(dir, 'pino.log');
  const sf = join(dir, 'sluice.log');
  const dest = pino.destination({ dest: pf, sync: true });
  const p = pino({ level: 'trace' }, dest);
  const s = createLogger({ level: 'trace', destination: sf, bufferBytes: 4096 });
  const key = fc.oneof(fc.string(), fc.string({ unit: 'binary' }));
  const fields = fc.dictionary(key, fc.jsonValue(), { maxKeys: 6 });
  const msg = fc.option(fc.string({ unit: 'binary' }), { nil: undefined });
  fc.assert(
    fc.property(fields, msg, fc.constantFrom('trace', 'debug', 'info', 'warn', 'error', 'fatal'), (f, m, level) => {
      p[level](f, m);
      s[level](f, m);
    }),
    { numRuns: 1500 },
  );
  dest.flushSync();
  await s.close();
  const norm = (text: string) => text.replace(/^\{"level":(\d+),"time":\d+,/gm, '{"level":$1,"time":0,').split('\n');
  const a = norm(readFileSync(pf, 'utf8'));
  const b = norm(readFileSync(sf, 'utf8'));
  assert.equal(b.length, a.length);
  for (let i = 0; i < a.length; i++) assert.equal(b[i], a[i], `line ${i + 1}`);
});

test('pino-style flush(cb) reports through the callback and silent() writes nothing', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'cb.log');
  const log = createLogger({ destination: file });
  log.info('one');
  log.silent('never');
  const err = await new Promise<Error | undefined>((r) => void log.flush((e) => r(e)));
  assert.equal(err, undefined);
  assert.deepEqual(
    readLines(file).map((l) => l['msg']),
    ['one'],
  );
  await log.close();
});

test('rotation with durability fsync while flushes are in flight loses and breaks nothing', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'rf.log');
  const errors: Error[] = [];
  const log = createLogger({ destination: file, base: null, durability: 'fsync', bufferBytes: 4096, rotate: { maxBytes: 16384, keep: 100 }, onError: (e) => errors.push(e) });
  const flushes: Array<Promise<void>> = [];
  for (let i = 0; i < 5000; i++) {
    log.info({ seq: i }, 'rotating under fsync');
    if (i % 100 === 0) flushes.push(log.flush());
  }
  await Promise.all(flushes);
  await log.close();
  assert.deepEqual(errors, []);
  const { readdirSync } = await import('node:fs');
  const files = readdirSync(dir)
    .filter((f) => f.startsWith('rf.log'))
    .sort((a, b) => Number(b.split('.')[2] ?? 0) - Number(a.split('.')[2] ?? 0));
  const seq = files.flatMap((f) => readLines(join(dir, f)).map((l) => l['seq'] as number));
  assert.deepEqual(seq, Array.from({ length: 5000 }, (_, i) => i));
});

test('for random values of every kind, with cycles, the output is byte for byte what pino 10 writes', async (t) => {
  const dir = tempDir(t);
  const pf = join(dir, 'pino.log');
  const sf = join(dir, 'sluice.log');
  const dest = pino.destination({ dest: pf, sync: true });
  const p = pino({ level: 'trace' }, dest);
  const s = createLogger({ level: 'trace', destination: sf, bufferBytes: 4096 });
  const anything = fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withSparseArray: true,
    withTypedArray: true,
    withUnicodeString: true,
    maxDepth: 8,
  });
  // a cycle: the object, or one of its nested objects, refers back to the top
  const withCycle = fc.tuple(fc.dictionary(fc.string(), anything, { maxKeys: 5 }), fc.nat(), fc.string()).map(([o, pick, key]) => {
    const nested = Object.values(o).filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v));
    const holder = nested.length > 0 && pick % 2 === 0 ? nested[pick % nested.length]! : o;
    try {
      holder[key] = o;
    } catch {
      // a frozen or exotic object: no cycle this time
    }
    return o;
  });
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.oneof(anything, withCycle), { maxKeys: 4 }), fc.option(fc.string(), { nil: undefined }), (fields, msg) => {
      p.info(fields, msg);
      s.info(fields, msg);
    }),
    { numRuns: 1500 },
  );
  dest.flushSync();
  await s.close();
  const norm = (text: string) => text.replace(/^\{"level":(\d+),"time":\d+,/gm, '{"level":$1,"time":0,').split('\n');
  const a = norm(readFileSync(pf, 'latin1'));
  const b = norm(readFileSync(sf, 'latin1'));
  assert.equal(b.length, a.length);
  for (let i = 0; i < a.length; i++) assert.equal(b[i], a[i], `line ${i + 1}`);
});
