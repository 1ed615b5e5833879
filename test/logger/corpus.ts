/**
 * Call shapes that sluice and pino 10 must write byte for byte alike (apart from `time`), and the
 * few where pino's output is not JSON at all. compat.test.ts runs them in a child process through
 * the built package and pino, each shape into both files, and compares the bytes shape by shape.
 *
 * Every value is built once here, so both loggers see the same objects (and the same stacks).
 */
import { existsSync, statSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

/** The API both loggers share, as the shapes use it. */
export interface AnyLog {
  trace(...a: unknown[]): void;
  debug(...a: unknown[]): void;
  info(...a: unknown[]): void;
  warn(...a: unknown[]): void;
  error(...a: unknown[]): void;
  fatal(...a: unknown[]): void;
  child(b: Record<string, unknown>): AnyLog;
  level: string;
}

export interface Shape {
  readonly name: string;
  readonly call: (log: AnyLog) => void;
}

const s = (name: string, call: (log: AnyLog) => void): Shape => ({ name, call });

// errors
const inner = new TypeError('inner reason');
const withCause = new Error('outer', { cause: inner });
(withCause as Error & { code?: string }).code = 'E_OUTER';
const deepCause = new Error('top', { cause: new Error('middle', { cause: new RangeError('bottom') }) });
const causeString = new Error('cause is a string', { cause: 'not an error' });
const circularCause = new Error('loops');
(circularCause as Error & { cause?: unknown }).cause = new Error('back', { cause: circularCause });
const vError = new Error('verror style');
const vCause = new Error('from a function');
(vError as unknown as { cause: () => Error }).cause = () => vCause;
const agg = new AggregateError([new Error('a'), new RangeError('b')], 'many');
const nestedAgg = new AggregateError([agg, new Error('c', { cause: inner })], 'nested');
const notArrayErrors = Object.assign(new Error('errors is not an array'), { errors: 'nope' });
const plain = new RangeError('plain "quoted" \u0001');
class CustomError extends Error {}
const custom = new CustomError('custom');
class NamedError extends Error {
  override name = 'SomethingElse';
}
const named = new NamedError('named');
const empty = new Error('');
const noStack = new Error('no stack');
delete (noStack as { stack?: string }).stack;
const extra = Object.assign(new Error('extra props'), { status: 503, retry: true, meta: { host: 'a' } });
const errProp = Object.assign(new Error('has an error property'), { other: new Error('the other') });
const selfProp = new Error('refers to itself');
(selfProp as Error & { self?: unknown }).self = selfProp;
const circErrMeta: Record<string, unknown> = { z: 1, a: 2 };
circErrMeta['me'] = circErrMeta;
const errCircularProp = Object.assign(new Error('circular property'), { meta: circErrMeta, code: 'E_CIRC' });
const errBigIntProp = Object.assign(new Error('bigint property'), { count: 12n });
const errRawProp = Object.assign(new Error('raw and type properties'), { raw: 'r', type: 't' });

// circular and BigInt values
const circ: Record<string, unknown> = { name: 'c' };
circ['self'] = circ;
const circMany: Record<string, unknown> = { zeta: 1, alpha: 'two', mid: { y: 1, b: 2 }, Upper: true, _u: null, '10': 'ten', '2': 'two' };
circMany['loop'] = circMany;
const circArr: unknown[] = [1, 'two'];
circArr.push(circArr);
const shared = { k: 1 };
const circDeep: Record<string, unknown> = { a: { b: { c: { d: { e: { f: { g: 1 } } } } } }, arr: [[[[[[1]]]]]], empty: {}, emptyArr: [] };
circDeep['loop'] = circDeep;
const circTypes: Record<string, unknown> = {
  date: new Date(0),
  badDate: new Date(NaN),
  buf: Buffer.from('hi'),
  u8: new Uint8Array([1, 2, 3]),
  f64: new Float64Array([1.5, -0]),
  map: new Map([['a', 1]]),
  set: new Set([1]),
  re: /x/g,
  nan: NaN,
  inf: -Infinity,
  undef: undefined,
  fn: () => 1,
  sym: Symbol('s'),
  arrHoles: [undefined, () => 1, Symbol('t')],
  nested: { shared, again: shared },
};
circTypes['loop'] = circTypes;
const wideObj: Record<string, unknown> = {};
for (let i = 0; i < 120; i++) wideObj[`k${String(i).padStart(3, '0')}`] = i;
wideObj['loop'] = wideObj;
const longArr = (n: number): unknown[] => {
  const a: unknown[] = Array.from({ length: n }, (_, i) => i);
  a.push(a);
  return a;
};
const bigBuf: Record<string, unknown> = { b: Buffer.alloc(150, 1) };
bigBuf['loop'] = bigBuf;
const toJSONObj = { toJSON: () => ({ z: 1, a: 10n }) };
const throwingToJSON = { toJSON: () => { throw new Error('no'); } };
const throwingGetter = Object.defineProperty({ ok: 1 }, 'bad', { enumerable: true, get: () => { throw new Error('getter'); } });
const circChild: Record<string, unknown> = { svc: 'api' };
circChild['loop'] = circChild;
let deep: Record<string, unknown> = { bottom: 1 };
for (let i = 0; i < 40; i++) deep = { d: deep };
let deepBig: Record<string, unknown> = { bottom: 1n };
for (let i = 0; i < 40; i++) deepBig = { d: deepBig, z: i };

// objects of other kinds
const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { np: 1, msg2: 'x' });
const inherited = Object.assign(Object.create({ inh: 1 }) as Record<string, unknown>, { own: 2 });
class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  get sum(): number {
    return this.x + this.y;
  }
}

// http objects: pino maps a request or response given as the object through its serializers
const req = new IncomingMessage(new Socket());
req.method = 'GET';
req.url = '/path?q=1';
req.headers = { host: 'example.org', 'user-agent': 'test' };
const res = new ServerResponse(req);
res.setHeader('content-type', 'text/plain');
const reqLike = { method: 'POST', headers: { a: '1' }, socket: { remoteAddress: '10.0.0.1', remotePort: 5000 }, originalUrl: '/orig', id: () => 'id-1', query: { q: 1 }, params: { p: 2 } };
const reqLikeInfo = { method: 'PUT', headers: {}, socket: {}, info: { id: 'hapi', remoteAddress: '::1', remotePort: 1 }, url: { path: '/from-url-object' } };
const resLike = { setHeader: () => undefined, headersSent: true, statusCode: 201, _headers: { x: 'y' } };

// strings
const big = 'x'.repeat(1 << 20);
const bigQuoted = 'a "quoted" \\ line\n'.repeat(50_000);
const lone100 = 'a'.repeat(99) + '\ud800';
const lone101 = 'a'.repeat(100) + '\ud800';
const bigLone = '\udc00' + 'y'.repeat(300_000) + '\ud83d';

export const SHAPES: readonly Shape[] = [
  // levels
  s('trace', (l) => l.trace('at trace')),
  s('debug', (l) => l.debug('at debug')),
  s('info', (l) => l.info('at info')),
  s('warn', (l) => l.warn('at warn')),
  s('error', (l) => l.error('at error')),
  s('fatal', (l) => l.fatal('at fatal')),
  s('level change suppresses and restores', (l) => {
    l.level = 'warn';
    l.info('suppressed');
    l.warn('kept after level change');
    l.level = 'trace';
  }),
  // messages of every type
  s('no arguments', (l) => l.info()),
  s('undefined', (l) => l.info(undefined)),
  s('null', (l) => l.info(null)),
  s('number', (l) => l.info(42)),
  s('non-finite number', (l) => l.info(NaN)),
  s('boolean', (l) => l.info(true)),
  s('bigint', (l) => l.info(10n)),
  s('function', (l) => l.info(() => 1)),
  s('empty string', (l) => l.info('')),
  s('undefined then a message', (l) => l.info(undefined, 'after undefined')),
  s('null then a message', (l) => l.info(null, 'after null')),
  s('null then printf', (l) => l.info(null, 'after null %s', 'arg')),
  s('extra arguments without placeholders', (l) => l.info('a', 'b', { c: 1 })),
  // printf
  s('every placeholder', (l) => l.debug('printf %s|%d|%i|%f|%j|%o|%O|%%|%x', 'str', 42.9, 42.9, 1.25, { j: 1 }, [1], { O: 2 })),
  s('fewer arguments than placeholders', (l) => l.info('fewer %s %s', 'one')),
  s('%d of a word', (l) => l.info('%d', 'abc')),
  s('%i of a unit', (l) => l.info('%i', '42.9px')),
  s('%d of a bigint', (l) => l.info('%d and %i', 10n, 7n)),
  s('%s of an object, an array, null and undefined', (l) => l.info('%s %s %s %s', { a: 1 }, [1, 2], null, undefined)),
  s('%j of a circular object', (l) => l.info('%j', circMany)),
  s('%j of a bigint inside', (l) => l.info('%j', { b: 2n, a: 1 })),
  s('%o of a string', (l) => l.info('%o', 'quoted')),
  s('%O of a function', (l) => l.info('%O and %j', function named() {}, () => 1)),
  s('%j of undefined and null', (l) => l.info('%j %j', undefined, null)),
  s('%% alone, with arguments', (l) => l.info('100%% sure', 1)),
  s('a trailing %', (l) => l.info('100%', 1)),
  s('%d of null', (l) => l.info('%d %s', null, 'x')),
  // object and message
  s('fields and a message', (l) => l.info({ seq: 1, svc: 'api' }, 'with fields')),
  s('fields only', (l) => l.info({ seq: 1 })),
  s('fields then printf', (l) => l.info({ a: 1 }, 'obj then printf %s %d', 'x', 7)),
  s('fields, a number as the message', (l) => l.info({ a: 1 }, 42)),
  s('fields, an object as the message', (l) => l.info({ a: 1 }, { b: 2 })),
  s('fields, an object message and more', (l) => l.info({ a: 1 }, { b: 2 }, 'x', 3)),
  s('fields, an undefined message and more', (l) => l.info({ a: 1 }, undefined, 'x')),
  s('msg in the object', (l) => l.info({ msg: 'msg in object' })),
  s('msg in the object and a message', (l) => l.info({ msg: 'in obj' }, 'explicit')),
  s('level and time in the object', (l) => l.info({ level: 99, time: 1 }, 'clash')),
  s('an array as the object', (l) => l.info([1, 2, 3], 'array')),
  s('a null-prototype object', (l) => l.info(nullProto, 'null proto')),
  s('inherited properties', (l) => l.info(inherited, 'inherited')),
  s('a class instance', (l) => l.info(new Point(1, 2), 'point')),
  // field value types
  s('numbers', (l) => l.info({ n: 1.5, neg: -0, inf: Infinity, nan: NaN, e: 1e21, tiny: -1e-7, unsafe: 2 ** 53 + 2, sum: 0.1 + 0.2 })),
  s('undefined, function, symbol values and a symbol key', (l) => l.info({ u: undefined, f: () => 1, s: Symbol('s'), [Symbol('k')]: 1, t: true, n: null }, 'skips')),
  s('a bigint field', (l) => l.info({ big: 10n, neg: -5n }, 'bigint')),
  s('a nested bigint', (l) => l.info({ nested: { big: 10n, a: 1, z: [1n, 2] }, after: 'x' }, 'nested bigint')),
  s('bigints in an array', (l) => l.info({ arr: [1n, { m: 2n, a: 0 }] })),
  s('a date, an invalid date', (l) => l.info({ d: new Date(0), bad: new Date(NaN) })),
  s('a buffer', (l) => l.info({ buf: Buffer.from('hello') })),
  s('a typed array', (l) => l.info({ u8: new Uint8Array([1, 2]), f: new Float32Array([0.5]) })),
  s('map, set, regexp', (l) => l.info({ m: new Map([['a', 1]]), s: new Set([1]), r: /x/ })),
  s('nested undefined and functions', (l) => l.info({ o: { u: undefined, f: () => 1 }, a: [undefined, () => 1, Symbol('x')] })),
  s('toJSON', (l) => l.info({ t: { toJSON: () => 'custom' }, o: { toJSON: () => ({ b: 1, a: 2 }) } })),
  s('toJSON that yields a bigint', (l) => l.info({ t: toJSONObj })),
  s('toJSON that throws', (l) => l.info({ t: throwingToJSON, ok: 1 }, 'throws')),
  s('a getter that throws', (l) => l.info({ g: throwingGetter }, 'getter')),
  s('deep nesting', (l) => l.info({ deep }, 'deep')),
  s('deep nesting with a bigint at the bottom', (l) => l.info({ deepBig }, 'deep bigint')),
  // circular
  s('a circular field', (l) => l.info({ circ }, 'circular')),
  s('circular with unsorted keys', (l) => l.info({ c: circMany }, 'circular keys')),
  s('a circular array', (l) => l.info({ a: circArr })),
  s('circular and deep', (l) => l.info({ c: circDeep })),
  s('circular with every kind of value', (l) => l.info({ c: circTypes })),
  s('circular with more than 100 keys', (l) => l.info({ c: wideObj })),
  s('circular arrays of 100, 101, 102 items', (l) => l.info({ a: longArr(99), b: longArr(100), c: longArr(101) })),
  s('circular with a buffer of 150 bytes', (l) => l.info({ c: bigBuf })),
  s('a circular object as the message object', (l) => l.info(circMany, 'top level circular')),
  s('a circular object printed with %o', (l) => l.info('%o', circ)),
  s('a circular object as the message', (l) => l.info({ a: 1 }, circ)),
  s('objects then a circular one as the message', (l) => l.info({ a: 1 }, { b: 1 }, circ)),
  // errors
  s('an error and a message', (l) => l.error(withCause, 'failed')),
  s('an error alone', (l) => l.error(withCause)),
  s('an error and printf', (l) => l.error(plain, 'failed %s', 'twice')),
  s('err in the object with more fields', (l) => l.error({ err: withCause, extra: 1 }, 'in object')),
  s('err in the object, no message', (l) => l.error({ err: withCause })),
  s('err that is a string', (l) => l.error({ err: 'just a string' })),
  s('err that is an object with a numeric message', (l) => l.error({ err: { message: 5 } })),
  s('an error under another key', (l) => l.error({ e: plain }, 'other key')),
  s('AggregateError', (l) => l.fatal(agg, 'aggregate')),
  s('nested AggregateError with causes', (l) => l.fatal(nestedAgg)),
  s('errors that is not an array', (l) => l.error(notArrayErrors)),
  s('an error with control characters', (l) => l.error(plain)),
  s('a subclass', (l) => l.warn({ err: custom }, 'custom class')),
  s('a subclass with another name', (l) => l.warn(named)),
  s('an empty message', (l) => l.error(empty, 'empty message')),
  s('an empty message and no message', (l) => l.error(empty)),
  s('no stack', (l) => l.error(noStack)),
  s('a three-level cause chain', (l) => l.error(deepCause)),
  s('a cause that is a string', (l) => l.error(causeString)),
  s('a circular cause chain', (l) => l.error(circularCause)),
  s('a VError-style cause function', (l) => l.error(vError)),
  s('extra properties', (l) => l.error(extra)),
  s('an error property', (l) => l.error(errProp)),
  s('a property that is the error itself', (l) => l.error(selfProp)),
  s('a circular property', (l) => l.error(errCircularProp, 'circular prop')),
  s('a bigint property', (l) => l.error(errBigIntProp)),
  s('raw and type properties', (l) => l.error(errRawProp)),
  s('a message then an error', (l) => l.error('message first', plain)),
  // http request and response objects
  s('an http.IncomingMessage as the object', (l) => l.info(req, 'request')),
  s('an http.ServerResponse as the object', (l) => l.info(res, 'response')),
  s('a request-like object (originalUrl, id function, query, params)', (l) => l.info(reqLike, 'req-like')),
  s('a request-like object (info, url object)', (l) => l.info(reqLikeInfo)),
  s('a response-like object', (l) => l.info(resLike, 'res-like %s', 'printf')),
  s('an http request with printf', (l) => l.warn(req, 'request %d', 1)),
  // children
  s('a child', (l) => l.child({ reqId: 'abc', n: 1 }).info('child line')),
  s('a grandchild with nested bindings', (l) => l.child({ a: 1 }).child({ b: { c: 2 } }).warn({ f: 'x' }, 'grandchild')),
  s('child bindings of every type', (l) =>
    l.child({ u: undefined, f: () => 1, s: Symbol('s'), big: 7n, inf: Infinity, d: new Date(0), nul: null, str: 'q"uote' }).info('types')),
  s('child bindings with reserved keys', (l) => l.child({ level: 'x', serializers: 1, formatters: 2, customLevels: 3, ok: 1 }).info('reserved')),
  s('a circular child binding', (l) => l.child({ c: circChild }).info('circular binding')),
  s('a child binding and a field with the same key', (l) => l.child({ k: 'binding' }).info({ k: 'field' }, 'same key')),
  s('a child binding with a lone surrogate', (l) => l.child({ ls: 'x\ud800' }).info('lone in binding')),
  s('a child binding with an error', (l) => l.child({ err: plain }).info('error binding')),
  // unicode
  s('emoji and non-BMP', (l) => l.info({ e: '😀 𝄞 é ñ 中文' }, '😀 message')),
  s('a lone high surrogate in a message', (l) => l.info('lone \ud800 high')),
  s('a lone low surrogate in a message', (l) => l.info('lone \udc00 low')),
  s('a reversed pair', (l) => l.info('\ude00\ud83d reversed')),
  s('a lone surrogate in a field', (l) => l.info({ v: 'field \udbff' })),
  s('a lone surrogate in a key', (l) => l.info({ ['key\ud800']: 1 })),
  s('a lone surrogate nested', (l) => l.info({ o: { v: '\ud800' } })),
  s('a lone surrogate with a control character', (l) => l.info('\ud800 and \u0001')),
  s('a lone surrogate with a quote', (l) => l.info('\ud800 and "quote" and \\')),
  s('a lone surrogate at 100 and 101 characters', (l) => l.info({ a: lone100, b: lone101 }, lone100)),
  s('a 101-character message with a lone surrogate', (l) => l.info(lone101)),
  s('a lone surrogate through %s', (l) => l.info('%s!', '\udfff')),
  s('line and paragraph separators, NUL, DEL, BOM', (l) => l.info({ v: '\u2028\u2029\u0000\u007f\ufeff' }, 'sep \u2028 \u0000')),
  s('escapes in keys', (l) => l.info({ 'k"ey': 1, 'back\\slash': 2, 'nl\n': 3, 'ké': 4, '😀': 5 })),
  s('quotes and backslashes', (l) => l.warn({ q: 'quote " back \\ nl \n tab \t ctl \u0001 uni é 😀' }, 'esc "msg" \u2028')),
  // huge strings
  s('a 1 MiB message', (l) => l.info(big)),
  s('a huge field of quotes and newlines', (l) => l.info({ v: bigQuoted }, 'huge field')),
  s('a huge string with lone surrogates at both ends', (l) => l.info({ v: bigLone }, bigLone)),
];

/**
 * Shapes for which pino 10 writes a line that is not JSON (`"msg":undefined`). sluice writes valid
 * JSON instead: the message is left out, as for a function. The README says so.
 */
export const NOT_JSON_IN_PINO: readonly Shape[] = [
  s('a symbol as the message', (l) => l.info(Symbol('sym'))),
  s('fields and a symbol as the message', (l) => l.info({ a: 1 }, Symbol('sym'))),
];

export interface Ranges {
  readonly name: string;
  /** [start, end) of the shape's output in the pino file and in the sluice file. */
  readonly pino: readonly [number, number];
  readonly sluice: readonly [number, number];
  /** What the log call threw, if it did (a logger must not). */
  readonly pinoThrew: string | undefined;
  readonly sluiceThrew: string | undefined;
}

/** Runs `shapes` through both loggers, flushing after each, and returns where each one's lines are. */
export function runShapes(
  shapes: readonly Shape[],
  p: AnyLog,
  pinoFlush: () => void,
  pinoFile: string,
  sl: AnyLog,
  sluiceFlush: () => void,
  sluiceFile: string,
): Ranges[] {
  const size = (f: string): number => (existsSync(f) ? statSync(f).size : 0);
  const out: Ranges[] = [];
  let ps = size(pinoFile);
  let ss = size(sluiceFile);
  const attempt = (fn: () => void): string | undefined => {
    try {
      fn();
      return undefined;
    } catch (e) {
      return String(e);
    }
  };
  for (const shape of shapes) {
    const pinoThrew = attempt(() => shape.call(p));
    pinoFlush();
    const sluiceThrew = attempt(() => shape.call(sl));
    sluiceFlush();
    const pe = size(pinoFile);
    const se = size(sluiceFile);
    out.push({ name: shape.name, pino: [ps, pe], sluice: [ss, se], pinoThrew, sluiceThrew });
    ps = pe;
    ss = se;
  }
  return out;
}
