/**
 * JSON text for log lines, built by string concatenation (no intermediate objects on the hot path).
 *
 * - `quote()`: a string as a JSON string literal. Fast path: one regex test, then `"` + s + `"`.
 *   Anything with quotes, backslashes, control characters or surrogates (paired or lone) goes to
 *   `JSON.stringify`, which since V8 7.2 emits lone surrogates as `\udXXX` escapes (well-formed
 *   JSON.stringify), so every line is valid UTF-8 JSON.
 * - `value()`: any value as JSON text the way pino writes it (non-finite numbers → null, BigInt →
 *   digits, circular references → "[Circular]", `toJSON` honoured, functions/undefined/symbols →
 *   `undefined` so the caller skips the key).
 * - `errJson()`: pino-std-serializers' `err` serializer: type, message and stack with the `cause`
 *   chain folded in, `aggregateErrors`, and the error's other enumerable properties.
 * - `format()`: quick-format-unescaped's printf (`%s %d %i %f %j %o %O %%`), as pino uses it.
 */

const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

export function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/** JSON text for `v`, or `undefined` when JSON has no representation for it (the key is skipped). */
export function value(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return quote(v);
    case 'number':
      return Number.isFinite(v) ? '' + v : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'object':
      if (v === null) return 'null';
      try {
        return JSON.stringify(v);
      } catch {
        return safe(v, []);
      }
    default:
      return undefined;
  }
}

/** The slow path for objects JSON.stringify refused (cycles, BigInt inside). */
function safe(v: unknown, stack: unknown[]): string | undefined {
  switch (typeof v) {
    case 'string':
      return quote(v);
    case 'number':
      return Number.isFinite(v) ? '' + v : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return v.toString();
    case 'object': {
      if (v === null) return 'null';
      if (stack.includes(v)) return '"[Circular]"';
      const withToJSON = v as { toJSON?: unknown };
      if (typeof withToJSON.toJSON === 'function') {
        let j: unknown;
        try {
          j = (withToJSON.toJSON as () => unknown).call(v);
        } catch {
          return undefined;
        }
        if (j !== v) return safe(j, stack);
      }
      stack.push(v);
      let out: string;
      if (Array.isArray(v)) {
        out = '[';
        for (let i = 0; i < v.length; i++) {
          out += (i === 0 ? '' : ',') + (safe(v[i], stack) ?? 'null');
        }
        out += ']';
      } else {
        out = '{';
        let first = true;
        const rec = v as Record<string, unknown>;
        for (const k of Object.keys(rec)) {
          const s = safe(rec[k], stack);
          if (s === undefined) continue;
          out += (first ? '' : ',') + quote(k) + ':' + s;
          first = false;
        }
        out += '}';
      }
      stack.pop();
      return out;
    }
    default:
      return undefined;
  }
}

export function isErrorLike(e: unknown): e is { message: string; stack?: unknown; cause?: unknown } {
  return typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string';
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

function stackWithCauses(e: unknown, seen: Set<unknown>): string {
  if (!isErrorLike(e)) return '';
  const stack = typeof e.stack === 'string' ? e.stack : '';
  if (seen.has(e)) return stack + '\ncauses have become circular...';
  const cause = causeOf(e);
  if (cause === undefined) return stack;
  seen.add(e);
  return stack + '\ncaused by: ' + stackWithCauses(cause, seen);
}

const RESERVED = new Set(['type', 'message', 'stack', 'aggregateErrors']);

/** pino's serialized error as a plain object (key order: type, message, stack, aggregateErrors, rest). */
export function serializeErr(e: unknown, seen: Set<unknown> = new Set()): unknown {
  if (!isErrorLike(e)) return e;
  seen.add(e);
  const ctor = (e as { constructor?: unknown }).constructor;
  const out: Record<string, unknown> = {
    type: typeof ctor === 'function' ? ctor.name : (e as { name?: unknown }).name,
    message: messageWithCauses(e, new Set(), false),
    stack: stackWithCauses(e, new Set()),
  };
  const errors = (e as { errors?: unknown }).errors;
  if (Array.isArray(errors)) out['aggregateErrors'] = errors.map((x) => serializeErr(x, seen));
  const rec = e as unknown as Record<string, unknown>;
  for (const k in rec) {
    if (RESERVED.has(k) || k in out) continue;
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
    const ctor = (e as { constructor?: unknown }).constructor;
    const type: unknown = typeof ctor === 'function' ? ctor.name : (e as { name?: unknown }).name;
    if (typeof type === 'string') {
      const stack = typeof e.stack === 'string' ? e.stack : '';
      return '{"type":' + quote(type) + ',"message":' + quote(e.message || '') + ',"stack":' + quote(stack) + '}';
    }
  }
  return value(serializeErr(e));
}

function hasEnumerable(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

function stringifyArg(o: unknown): string {
  try {
    const s = JSON.stringify(o);
    return s === undefined ? 'undefined' : s;
  } catch {
    return safe(o, []) ?? 'undefined';
  }
}

/** printf-style formatting exactly as pino (quick-format-unescaped) does it. */
export function format(f: unknown, args: ArrayLike<unknown>, from: number): unknown {
  const argLen = args.length - from;
  if (typeof f === 'object' && f !== null) {
    if (argLen <= 0) return f;
    const parts = [stringifyArg(f)];
    for (let i = from; i < args.length; i++) parts.push(stringifyArg(args[i]));
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
          else str += stringifyArg(arg);
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
