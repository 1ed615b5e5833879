/**
 * The Logger: pino's API and output, sluice's write path.
 *
 * A line is built by concatenating precomputed pieces:
 *   head + fields + ',"msg":' + quote(msg) + '}\n'
 * where head = `{"level":30,"time":` + Date.now() + chindings, reused while the millisecond and the
 * logger stay the same; `chindings` is `,"pid":…,"hostname":…` plus the base, `name` and child
 * bindings, serialized once when the logger or child is made. Quoted keys and the last message are
 * cached. Fields are written
 * key by key with typeof switches (strings get a regex-checked fast path); only nested objects go
 * through JSON.stringify. Key order is pino's: level, time, pid, hostname, bindings, fields, msg.
 * pino's quirks are kept where they change bytes (json.ts lists them; compat.test.ts compares a
 * corpus of call shapes with pino 10): an http request/response as the object becomes
 * `{ req }`/`{ res }`, bindings go through JSON.stringify and skip pino's reserved keys, and a
 * null first argument is pino's `"msg":null` or no object.
 */
import { EventEmitter } from 'node:events';
import { writeSync } from 'node:fs';
import { LoggerOptionsError, type LoggerWriteError } from './errors';
import { onUncaught, offUncaught, register, unregister } from './exit';
import { errJson, format, isErrorLike, mapHttp, quote, value } from './json';
import { LEVEL_VALUES, checkLevel, type LevelName, type LevelSetting, type ResolvedOptions } from './options';
import { Writer, type LoggerMetrics } from './writer';

/** pino's call shapes. */
export interface LogFn {
  (msg: string, ...args: unknown[]): void;
  (obj: object, msg?: string, ...args: unknown[]): void;
  (obj: unknown, msg?: string, ...args: unknown[]): void;
}

export interface Levels {
  readonly values: Readonly<Record<LevelName, number>>;
  readonly labels: Readonly<Record<number, LevelName>>;
}

export type Bindings = Readonly<Record<string, unknown>>;

export interface ChildOptions {
  readonly level?: LevelSetting;
}

const LEVELS: Levels = Object.freeze({
  values: Object.freeze({ trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }),
  labels: Object.freeze({ 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' } as Record<number, LevelName>),
});

/** Quoted keys: keys repeat on every line, so escape each once (bounded, cleared when full). */
const keyCache = new Map<string, string>();
function quoteKey(k: string): string {
  let q = keyCache.get(k);
  if (q === undefined) {
    if (keyCache.size >= 4096) keyCache.clear();
    q = quote(k);
    keyCache.set(k, q);
  }
  return q;
}

/** The last message quoted: a loop or a hot call site logs the same literal again and again. */
let lastMsg = '';
let lastMsgJson = ',"msg":""';
function msgJson(m: string): string {
  if (m !== lastMsg) {
    lastMsg = m;
    lastMsgJson = ',"msg":' + quote(m);
  }
  return lastMsgJson;
}

function fieldsOf(obj: object): string {
  let out = '';
  const rec = obj as Record<string, unknown>;
  for (const key in rec) {
    if (!Object.prototype.hasOwnProperty.call(rec, key)) continue;
    const v = rec[key];
    let s: string | undefined;
    switch (typeof v) {
      case 'string':
        s = quote(v);
        break;
      case 'number':
        s = Number.isFinite(v) ? '' + v : 'null';
        break;
      case 'undefined':
      case 'function':
      case 'symbol':
        continue;
      default:
        s = key === 'err' && isErrorLike(v) ? errJson(v) : value(v);
        if (s === undefined) continue;
    }
    out += ',' + quoteKey(key) + ':' + s;
  }
  return out;
}

function msgOf(msg: unknown): string {
  switch (typeof msg) {
    case 'string':
      return msgJson(msg);
    case 'undefined':
    case 'function':
    case 'symbol':
      return '';
    default: {
      const s = value(msg);
      return s === undefined ? '' : ',"msg":' + s;
    }
  }
}

/** pino's reserved binding keys: asChindings leaves them out of the line. */
function reservedBinding(key: string): boolean {
  return key.length >= 5 && (key === 'level' || key === 'serializers' || key === 'formatters' || key === 'customLevels');
}

/**
 * Bindings as pino's asChindings writes them: keys as fields' keys, values through pino's
 * stringify (JSON.stringify: a string's lone surrogates are escaped here, unlike in a field), an
 * `err` through the err serializer, reserved keys left out.
 */
function bindingsString(b: Bindings | null | undefined): string {
  if (!b) return '';
  let out = '';
  const rec = b as Record<string, unknown>;
  for (const key in rec) {
    const v = rec[key];
    if (v === undefined || reservedBinding(key) || !Object.prototype.hasOwnProperty.call(rec, key)) continue;
    const s = key === 'err' && isErrorLike(v) ? errJson(v) : value(v);
    if (s === undefined) continue;
    out += ',' + quoteKey(key) + ':' + s;
  }
  return out;
}

function makeMethod(num: number): LogFn {
  const prefix = '{"level":' + num + ',"time":';
  // `{"level":N,"time":T,"pid":…,"hostname":…,<bindings>` for the last (millisecond, logger):
  // thousands of lines share one millisecond in a burst
  let lastT = -1;
  let lastChind = '';
  let lastHead = '';
  return function log(this: Logger, a?: unknown, b?: unknown): void {
    if (this._lv > num) return;
    const argc = arguments.length;
    let line: string;
    if (typeof a === 'string' && argc < 2) {
      // the common string-only call
      line = head(this._chind) + msgJson(a) + '}\n';
    } else if (argc > 2 || (argc === 2 && typeof a !== 'object')) {
      // eslint-disable-next-line prefer-rest-params -- the hot path: no rest array per call
      line = this._line(prefix, arguments);
    } else if (typeof a === 'object' && a !== null && !(a instanceof Error) && typeof b === 'string') {
      // the common (obj, msg) call; an http request or response becomes { req } / { res } as in pino
      line = head(this._chind) + fieldsOf(mapHttp(a)) + msgJson(b) + '}\n';
    } else {
      // eslint-disable-next-line prefer-rest-params -- the hot path: no rest array per call
      line = this._line(prefix, arguments);
    }
    this._w.write(line);
  };

  function head(chind: string): string {
    const t = Date.now();
    if (t !== lastT || chind !== lastChind) {
      lastT = t;
      lastChind = chind;
      lastHead = prefix + t + chind;
    }
    return lastHead;
  }
}

export class Logger extends EventEmitter {
  declare trace: LogFn;
  declare debug: LogFn;
  declare info: LogFn;
  declare warn: LogFn;
  declare error: LogFn;
  declare fatal: LogFn;

  /** @internal */ _w: Writer;
  /** @internal */ _lv: number;
  /** @internal */ _chind: string;
  private _level: LevelSetting;
  private _own: Bindings;
  private _parent: Logger | null = null;
  private readonly _onError: ((err: Error) => void) | undefined;
  private _uncaught: ((err: unknown, origin: string) => void) | undefined;
  private _stderrReported = false;

  /** @internal use createLogger() */
  constructor(writer: Writer, level: LevelSetting, chind: string, own: Bindings, onError?: (err: Error) => void) {
    super();
    this._w = writer;
    this._level = level;
    this._lv = LEVEL_VALUES[level];
    this._chind = chind;
    this._own = own;
    this._onError = onError;
  }

  get levels(): Levels {
    return LEVELS;
  }

  get level(): LevelSetting {
    return this._level;
  }

  set level(l: LevelSetting) {
    const v = checkLevel(l, 'logger.level');
    this._level = v;
    this._lv = LEVEL_VALUES[v];
  }

  isLevelEnabled(l: LevelSetting): boolean {
    return LEVEL_VALUES[checkLevel(l, 'isLevelEnabled()')] >= this._lv && l !== 'silent';
  }

  /**
   * A logger whose lines carry `bindings` after the parent's; shares the parent's destination,
   * metrics and 'error' listeners. Made with Object.create(parent), as pino does: a child costs one
   * small object and one serialization of its bindings.
   */
  child(bindings: Bindings, options?: ChildOptions): Logger {
    if (typeof bindings !== 'object' || bindings === null) {
      throw new LoggerOptionsError('logger.child(): bindings must be an object, e.g. child({ reqId })');
    }
    const c = Object.create(this) as Logger;
    c._chind = this._chind + bindingsString(bindings);
    c._own = bindings;
    c._parent = this;
    if (options?.level !== undefined) c.level = options.level;
    return c;
  }

  /** The bindings added by child() calls (and `name`), as pino's bindings(). */
  bindings(): Bindings {
    const chain: Bindings[] = [];
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- walking the parent chain from here
    for (let l: Logger | null = this; l !== null; l = l._parent) chain.push(l._own);
    return Object.assign({}, ...chain.reverse()) as Bindings;
  }

  /**
   * Resolves when every line logged before the call is with the OS (or on disk, `durability:
   * 'fsync'`). pino's callback form `flush(cb)` works too.
   */
  flush(cb?: (err?: Error) => void): Promise<void> {
    const p = this._w.flush();
    if (cb === undefined) return p;
    // callback style: the error goes to the callback, never to an unhandled rejection
    return p.then(
      () => cb(),
      (e: Error) => cb(e),
    );
  }

  /** pino's no-op method for the `silent` level. */
  silent(..._args: unknown[]): void {
    // nothing is ever logged at `silent`
  }

  flushSync(): void {
    this._w.flushSync();
  }

  /** Flushes, closes the destination (if the logger opened it) and stops the exit hooks for it. */
  async close(): Promise<void> {
    await this._w.close();
    unregister(this._w);
    if (this._uncaught) offUncaught(this._uncaught);
  }

  metrics(): LoggerMetrics {
    return this._w.metrics();
  }

  /** @internal slow path: any call shape, printf arguments. */
  _line(prefix: string, args: IArguments): string {
    const a: unknown = args[0];
    if (typeof a === 'object') {
      // pino: null alone is the message ("msg":null); null with more arguments is no object
      if (a === null && args.length === 1) return this._lineOf(prefix, undefined, null);
      return this._lineOf(prefix, a === null ? null : mapHttp(a), format(args[1], args, 2));
    }
    // pino: log.info(undefined, msg, ...) takes the next argument as the message
    if (a === undefined && args.length > 1) return this._lineOf(prefix, undefined, format(args[1], args, 2));
    return this._lineOf(prefix, undefined, format(a, args, 1));
  }

  /** @internal */
  _lineOf(prefix: string, obj: unknown, msg: unknown): string {
    let fields = '';
    if (obj instanceof Error) {
      const e = errJson(obj);
      if (e !== undefined) fields = ',"err":' + e;
      if (msg === undefined) msg = obj.message;
    } else if (typeof obj === 'object' && obj !== null) {
      fields = fieldsOf(obj);
      // pino takes `err.message` whatever `err` is, when it is truthy
      const rec = obj as { msg?: unknown; err?: unknown };
      if (msg === undefined && rec.msg === undefined && rec.err) msg = (rec.err as { message?: unknown }).message;
    }
    return prefix + Date.now() + this._chind + fields + msgOf(msg) + '}\n';
  }

  /** @internal */
  _reportError(err: LoggerWriteError): void {
    if (this._onError) {
      try {
        this._onError(err);
      } catch {
        // a failing error handler must not crash the application either
      }
      return;
    }
    if (this.listenerCount('error') > 0) {
      this.emit('error', err);
      return;
    }
    if (!this._stderrReported) {
      this._stderrReported = true;
      try {
        // fs.writeSync, not process.stderr.write: a broken stderr must not become an 'error' event
        writeSync(2, err.message + ' [' + err.code + (err.syscallCode ? ' ' + err.syscallCode : '') + ']\n');
      } catch {
        // stderr itself is gone; the counter still has it
      }
    }
  }

  /** @internal */
  _enableUncaught(): void {
    const fn = (err: unknown, origin: string): void => {
      this.fatal(err, origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception');
    };
    this._uncaught = fn;
    onUncaught(fn);
  }
}

for (const name of ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const) {
  Object.defineProperty(Logger.prototype, name, {
    value: makeMethod(LEVEL_VALUES[name]),
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

/** Builds the root logger for resolved options. */
export function buildLogger(opts: ResolvedOptions): Logger {
  const writer = new Writer(opts);
  // pino: `name` joins the base bindings (in place of a `name` the base has); with `base: null`
  // neither is written
  const chind = opts.base === null ? '' : bindingsString(opts.name === undefined ? opts.base : { ...opts.base, name: opts.name });
  const bind: Record<string, unknown> = {};
  if (opts.name !== undefined) bind['name'] = opts.name;
  const logger = new Logger(writer, opts.level, chind, bind, opts.onError);
  const base = bindingsString(opts.base);
  writer.notice = (n) => '{"level":40,"time":' + Date.now() + base + ',"dropped":' + n + ',"msg":"sluice logger dropped ' + n + ' lines"}\n';
  writer.report = (err) => logger._reportError(err);
  register(writer);
  if (opts.logUncaught) logger._enableUncaught();
  return logger;
}
