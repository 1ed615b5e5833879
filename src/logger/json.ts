/**
 * JSON text for log lines, built by string concatenation (no intermediate objects on the hot path),
 * byte for byte as pino 10 writes it. Each function names the pino code it follows; the call
 * shapes are compared with the real pino in test/logger/compat.test.ts.
 *
 * - `quote()`: a field's or message's string, or a key, as pino's `asString` writes it. On Node < 25
 *   that is: longer than 100 characters, or any control character → `JSON.stringify` (lone
 *   surrogates become `\udXXX` escapes); otherwise `"` + s + `"` with `"` and `\` escaped, lone
 *   surrogates left as they are — so they reach the file as U+FFFD when the line is encoded, as
 *   pino's do. On Node ≥ 25 pino uses `JSON.stringify` for every string, and so does quote().
 *   Either way every line is valid UTF-8 JSON.
 * - `jsonQuote()`: `JSON.stringify` of a string (one regex test first): what pino writes for strings
 *   inside objects, in child bindings and in serialized errors.
 * - `stringify()`: pino's `stringify(obj, stringifySafe)`: `JSON.stringify`, and when that throws
 *   (a cycle, a BigInt, a throwing `toJSON`), safe-stable-stringify as pino configures it: keys
 *   sorted, circular references → "[Circular]", BigInt → digits, objects deeper than 5 levels →
 *   "[Object]"/"[Array]", more than 100 keys or items cut with a note — including that library's
 *   quirks (an array of 101 items loses its last item without a note). If that throws too, the
 *   placeholder pino writes.
 * - `errJson()`: pino-std-serializers' `err` serializer: type, message and stack with the `cause`
 *   chain folded in, `aggregateErrors`, and the error's other enumerable properties.
 * - `format()`: quick-format-unescaped's printf (`%s %d %i %f %j %o %O %%`), as pino uses it.
 */

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** What JSON.stringify escapes in a string: control characters, `"`, `\`, surrogates (paired too: the fast path must not see them). */
const JSON_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;
/** What pino's asString escapes in a string of at most 100 characters. */
const SHORT_ESCAPE = /[\u0000-\u001f"\\]/;
const CONTROL = /[\u0000-\u001f]/;
const QUOTE_OR_BACKSLASH = /["\\]/g;

/** `JSON.stringify(s)`, with a fast path for the strings that need no escaping. */
export function jsonQuote(s: string): string {
  return JSON_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/** pino's `_asString` (lib/tools.js), used by pino on Node < 25. */
function asString(s: string): string {
  if (s.length > 100) return jsonQuote(s);
  if (!SHORT_ESCAPE.test(s)) return '"' + s + '"';
  if (CONTROL.test(s)) return JSON.stringify(s);
  return '"' + s.replace(QUOTE_OR_BACKSLASH, '\\$&') + '"';
}

/** A field's or message's string, or a key, as pino writes it on this Node version. */
export const quote: (s: string) => string = NODE_MAJOR >= 25 ? jsonQuote : asString;

/** JSON text for `v` as pino's stringify() writes it, or `undefined` when JSON has none (the key is skipped). */
export function value(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return jsonQuote(v);
    case 'number':
      return Number.isFinite(v) ? '' + v : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'object':
      return v === null ? 'null' : stringify(v);
    default:
      return undefined;
  }
}

const UNSERIALIZABLE = '"[unable to serialize, circular reference is too complex to analyze]"';

/** pino's `stringify(obj, stringifySafe)` (lib/tools.js). */
export function stringify(v: unknown): string | undefined {
  try {
    return JSON.stringify(v);
  } catch {
    try {
      return safe('', v, []);
    } catch {
      return UNSERIALIZABLE;
    }
  }
}

/** pino's `depthLimit` and `edgeLimit` defaults, given to safe-stable-stringify. */
const MAX_DEPTH = 5;
const MAX_BREADTH = 100;

// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call(value) below
const typedArrayTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype) as object, Symbol.toStringTag)?.get;

function isTypedArrayWithEntries(v: object): v is ArrayLike<number | bigint> {
  return typedArrayTag?.call(v) !== undefined && (v as { length: number }).length !== 0;
}

function itemCount(n: number): string {
  return n === 1 ? '1 item' : `${n} items`;
}

/**
 * safe-stable-stringify 2.5's `stringifySimple` as pino configures it (deterministic, bigint,
 * circularValue "[Circular]", maximumDepth 5, maximumBreadth 100). May throw (a throwing getter
 * or toJSON); stringify() catches that as pino does.
 */
function safe(key: string, v: unknown, stack: object[]): string | undefined {
  switch (typeof v) {
    case 'string':
      return jsonQuote(v);
    case 'object': {
      if (v === null) return 'null';
      let o: object = v;
      const toJSON = (o as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        const j: unknown = (toJSON as (k: string) => unknown).call(o, key);
        if (typeof j !== 'object') return safe(key, j, stack);
        if (j === null) return 'null';
        o = j;
      }
      if (stack.includes(o)) return '"[Circular]"';
      const hasLength = (o as { length?: unknown }).length !== undefined;
      if (hasLength && Array.isArray(o)) {
        const a = o as unknown[];
        if (a.length === 0) return '[]';
        if (MAX_DEPTH < stack.length + 1) return '"[Array]"';
        stack.push(a);
        const n = Math.min(a.length, MAX_BREADTH);
        let res = '';
        let i = 0;
        for (; i < n - 1; i++) res += (safe(String(i), a[i], stack) ?? 'null') + ',';
        res += safe(String(i), a[i], stack) ?? 'null';
        if (a.length - 1 > MAX_BREADTH) res += `,"... ${itemCount(a.length - MAX_BREADTH - 1)} not stringified"`;
        stack.pop();
        return '[' + res + ']';
      }
      let keys = Object.keys(o);
      const keyLength = keys.length;
      if (keyLength === 0) return '{}';
      if (MAX_DEPTH < stack.length + 1) return '"[Object]"';
      let res = '';
      let sep = '';
      let count = Math.min(keyLength, MAX_BREADTH);
      if (hasLength && isTypedArrayWithEntries(o)) {
        const n = Math.min(o.length, MAX_BREADTH);
        res += `"0":${o[0]}`;
        for (let i = 1; i < n; i++) res += `,"${i}":${o[i]}`;
        keys = keys.slice(o.length);
        count -= o.length;
        sep = ',';
      }
      // the library's insertion sort compares with `>`: UTF-16 code unit order, as Array#sort()
      keys.sort();
      stack.push(o);
      const rec = o as Record<string, unknown>;
      for (let i = 0; i < count; i++) {
        const k = keys[i]!;
        const t = safe(k, rec[k], stack);
        if (t !== undefined) {
          res += sep + jsonQuote(k) + ':' + t;
          sep = ',';
        }
      }
      if (keyLength > MAX_BREADTH) res += `${sep}"...":"${itemCount(keyLength - MAX_BREADTH)} not stringified"`;
      stack.pop();
      return '{' + res + '}';
    }
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return String(v);
    default:
      return undefined;
  }
}

interface HttpLike {
  method?: unknown;
  headers?: unknown;
  socket?: unknown;
  setHeader?: unknown;
}

/**
 * pino's first-argument check: an object that looks like an http request (`method`, `headers` and
 * `socket` all truthy) is logged as `{ req }`, one with a `setHeader` function as `{ res }`,
 * through pino-std-serializers' req and res serializers. Anything else is returned unchanged.
 */
export function mapHttp(o: object): object {
  const h = o as HttpLike;
  if (h.method && h.headers && h.socket) return { req: serializeReq(o as Record<string, unknown>) };
  if (typeof h.setHeader === 'function') return { res: serializeRes(o as Record<string, unknown>) };
  return o;
}

/** pino-std-serializers' reqSerializer (key order: id, method, url, query, params, headers, remoteAddress, remotePort). */
function serializeReq(req: Record<string, unknown>): Record<string, unknown> {
  const info = req['info'] as Record<string, unknown> | undefined;
  const connection = (info || req['socket']) as Record<string, unknown> | undefined;
  const id = req['id'];
  const out: Record<string, unknown> = {};
  out['id'] = typeof id === 'function' ? (id as () => unknown).call(req) : id || (info ? info['id'] : undefined);
  out['method'] = req['method'];
  if (req['originalUrl']) out['url'] = req['originalUrl'];
  else {
    const path = req['path'];
    const url = req['url'] as { path?: unknown } | undefined;
    out['url'] = typeof path === 'string' ? path : url ? url.path || url : undefined;
  }
  if (req['query']) out['query'] = req['query'];
  if (req['params']) out['params'] = req['params'];
  out['headers'] = req['headers'];
  out['remoteAddress'] = connection && connection['remoteAddress'];
  out['remotePort'] = connection && connection['remotePort'];
  return out;
}

/** pino-std-serializers' resSerializer. */
function serializeRes(res: Record<string, unknown>): Record<string, unknown> {
  const getHeaders = res['getHeaders'];
  return {
    statusCode: res['headersSent'] ? res['statusCode'] : null,
    headers: getHeaders ? (getHeaders as () => unknown).call(res) : res['_headers'],
  };
}

/** pino-std-serializers' isErrorLike. */
export function isErrorLike(e: unknown): e is { message: string; stack?: unknown; cause?: unknown } {
  return (typeof e === 'object' || typeof e === 'function') && e !== null && typeof (e as { message?: unknown }).message === 'string';
}

function causeOf(e: unknown): unknown {
  const c = (e as { cause?: unknown }).cause;
  if (typeof c === 'function') {
    try {
      const r: unknown = (c as (this: unknown) => unknown).call(e);
      return isErrorLike(r) ? r : undefined;
    } catch {
      return undefined;
    }
  }
  return isErrorLike(c) ? c : undefined;
}

function messageWithCauses(e: unknown, seen: Set<unknown>, skip: boolean): string {
  if (!isErrorLike(e)) return '';
  const message = skip ? '' : e.message || '';
  if (seen.has(e)) return message + ': ...';
  const cause = causeOf(e);
  if (cause === undefined) return message;
  seen.add(e);
  const vErrorStyle = typeof e.cause === 'function';
  return message + (vErrorStyle ? '' : ': ') + messageWithCauses(cause, seen, vErrorStyle);
}

/** Returns the stack as it is when there is no cause (pino writes a non-string stack unchanged). */
function stackWithCauses(e: unknown, seen: Set<unknown>): unknown {
  if (!isErrorLike(e)) return '';
  const stack: unknown = e.stack || '';
  if (seen.has(e)) return String(stack) + '\ncauses have become circular...';
  const cause = causeOf(e);
  if (cause === undefined) return stack;
  seen.add(e);
  return String(stack) + '\ncaused by: ' + String(stackWithCauses(cause, seen));
}

/** pino-std-serializers' `type`: the constructor's name if it is a plain function, else `name`. */
function typeOf(e: object): unknown {
  const ctor = (e as { constructor?: unknown }).constructor;
  return Object.prototype.toString.call(ctor) === '[object Function]' ? (ctor as { name: unknown }).name : (e as { name?: unknown }).name;
}

/**
 * pino's serialized error as a plain object (key order: type, message, stack, aggregateErrors,
 * rest). A property is copied when the serialized object has nothing under that key yet, as
 * pino-std-serializers checks it (`_err[key] === undefined`): so `constructor` or `toString` are
 * never copied, and `raw` never is (pino's object has a `raw` accessor).
 */
export function serializeErr(e: unknown, seen: Set<unknown> = new Set()): unknown {
  if (!isErrorLike(e)) return e;
  seen.add(e);
  const out: Record<string, unknown> = {
    type: typeOf(e),
    message: messageWithCauses(e, new Set(), false),
    stack: stackWithCauses(e, new Set()),
  };
  const errors = (e as { errors?: unknown }).errors;
  if (Array.isArray(errors)) out['aggregateErrors'] = errors.map((x) => serializeErr(x, seen));
  const rec = e as unknown as Record<string, unknown>;
  for (const k in rec) {
    if (k === 'raw' || out[k] !== undefined) continue;
    const v = rec[k];
    if (isErrorLike(v)) {
      if (k !== 'cause' && !seen.has(v)) out[k] = serializeErr(v, seen);
    } else {
      out[k] = v;
    }
  }
  seen.delete(e);
  return out;
}

export function errJson(e: unknown): string | undefined {
  if (isErrorLike(e) && causeOf(e) === undefined && !Array.isArray((e as { errors?: unknown }).errors) && !hasEnumerable(e)) {
    // the common case, written directly: no cause chain, no aggregate, no extra properties
    const type = typeOf(e);
    const stack: unknown = e.stack || '';
    if (typeof type === 'string' && typeof stack === 'string') {
      return '{"type":' + jsonQuote(type) + ',"message":' + jsonQuote(e.message || '') + ',"stack":' + jsonQuote(stack) + '}';
    }
  }
  return value(serializeErr(e));
}

function hasEnumerable(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** printf-style formatting exactly as pino (quick-format-unescaped) does it. */
export function format(f: unknown, args: ArrayLike<unknown>, from: number): unknown {
  const argLen = args.length - from;
  if (typeof f === 'object' && f !== null) {
    if (argLen <= 0) return f;
    // quick-format-unescaped reads the extra arguments from the second one to one past the last
    // here (an off-by-one in that library); pino writes exactly that, so do we
    const parts: string[] = [stringify(f) ?? ''];
    for (let i = 1; i <= argLen; i++) parts.push(stringify(args[from + i]) ?? '');
    return parts.join(' ');
  }
  if (typeof f !== 'string' || argLen <= 0) return f;
  let str = '';
  let a = 0;
  let lastPos = -1;
  const flen = f.length;
  for (let i = 0; i < flen; ) {
    if (f.charCodeAt(i) === 37 && i + 1 < flen) {
      lastPos = lastPos > -1 ? lastPos : 0;
      const arg = args[from + a];
      switch (f.charCodeAt(i + 1)) {
        case 100: // d
        case 102: // f
          if (a >= argLen || arg == null) break;
          if (lastPos < i) str += f.slice(lastPos, i);
          str += Number(arg);
          lastPos = i + 2;
          i++;
          break;
        case 105: // i
          if (a >= argLen || arg == null) break;
          if (lastPos < i) str += f.slice(lastPos, i);
          str += Math.floor(Number(arg));
          lastPos = i + 2;
          i++;
          break;
        case 79: // O
        case 111: // o
        case 106: // j
          if (a >= argLen || arg === undefined) break;
          if (lastPos < i) str += f.slice(lastPos, i);
          if (typeof arg === 'string') str += "'" + arg + "'";
          else if (typeof arg === 'function') str += (arg as { name?: string }).name || '<anonymous>';
          else str += String(stringify(arg));
          lastPos = i + 2;
          i++;
          break;
        case 115: // s
          if (a >= argLen) break;
          if (lastPos < i) str += f.slice(lastPos, i);
          str += String(arg);
          lastPos = i + 2;
          i++;
          break;
        case 37: // %
          if (lastPos < i) str += f.slice(lastPos, i);
          str += '%';
          lastPos = i + 2;
          i++;
          a--;
          break;
      }
      ++a;
    }
    ++i;
  }
  if (lastPos === -1) return f;
  if (lastPos < flen) str += f.slice(lastPos);
  return str;
}
