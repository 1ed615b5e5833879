/**
 * OTLP/HTTP logs request bodies → structured events (NDJSON, one JSON object per log record), and
 * the answers OTLP expects, in the request's own encoding.
 *
 * Both encodings become the same plain object first: protobuf through protobufjs (`decode`, then
 * `toObject` with 64-bit integers as decimal strings, bytes as bytes), JSON through `JSON.parse`
 * (OTLP/JSON: lowerCamelCase names — snake_case accepted too, as the protobuf JSON mapping asks —,
 * 64-bit integers as strings or numbers, trace and span ids as hex, enums as numbers or names). One
 * mapper then turns each log record into an event with Vector's field names:
 *
 *   message             the body (a string, or the number, boolean, array, object it holds)
 *   timestamp           time_unix_nano as RFC 3339 with nanoseconds; observed_time_unix_nano when
 *                       that is 0; absent when both are (a JSON sink then adds the ingest time)
 *   observed_timestamp  observed_time_unix_nano, when set
 *   severity_text, severity_number, flags, event_name, dropped_attributes_count   when set
 *   attributes          the record's attributes as an object ({} when none)
 *   resources           the resource's attributes as an object ({} when none)
 *   scope               { name, version, attributes } of the instrumentation scope, when set
 *   trace_id, span_id   lowercase hex, when set (all zeros counts as unset)
 *
 * Attribute values: strings, booleans and doubles as JSON has them (NaN and ±Infinity as strings);
 * 64-bit integers as numbers when exact in a double, else as decimal strings; bytes as base64;
 * arrays and key-value lists as arrays and objects, at most 32 levels deep.
 *
 * What is refused: a body that is not a well-formed request (not protobuf of this message, not JSON,
 * a container that is not what it should be) is refused whole (400 with the reason). A log record that
 * cannot be stored faithfully — a trace id that is not 16 bytes (32 hex digits), a span id that is not
 * 8, a timestamp that is not a count of nanoseconds, a field of the wrong type, values nested too
 * deep — is refused alone: the others are stored and the answer's `partialSuccess` says how many were
 * refused and why the first one was. Nothing here throws, whatever the bytes (fast-check tests).
 */
import { ExportLogsServiceRequest, ExportLogsServiceResponse, RpcStatus, SEVERITY_NUMBERS } from './schema';

export type OtlpEncoding = 'protobuf' | 'json';

export const MEDIA_TYPE: Readonly<Record<OtlpEncoding, string>> = { protobuf: 'application/x-protobuf', json: 'application/json' };

/** The encoding a Content-Type names, or undefined when it names neither. */
export const encodingOf = (header: string | undefined): OtlpEncoding | undefined => {
  const type = (header ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  return undefined;
};

export type OtlpDecoded =
  | { readonly ok: true; readonly lines: Buffer; readonly events: number; readonly rejected: number; readonly firstProblem: string | undefined }
  | { readonly ok: false; readonly reason: string };

type Obj = Record<string, unknown>;

/** A value that cannot be stored faithfully: the record holding it is refused with this reason. */
class Unusable {
  constructor(readonly reason: string) {}
}

const MAX_DEPTH = 32;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);

/** A field by its lowerCamelCase name, or its proto (snake_case) name. */
const field = (o: Obj, camel: string, snake: string): unknown => {
  const v = o[camel];
  return v === undefined || v === null ? (o[snake] ?? undefined) : v;
};

const problem = (e: unknown): string => (e instanceof Error ? e.message : String(e));

const int64 = (v: unknown, name: string): number | string | Unusable => {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d{1,20}$/.test(v)) {
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : v.replace(/^(-?)0+(?=\d)/, '$1');
  }
  return new Unusable(`${name} is not an integer`);
};

const anyValue = (v: unknown, depth: number): unknown => {
  if (v === undefined || v === null) return null;
  if (depth > MAX_DEPTH) return new Unusable(`a value is nested deeper than ${MAX_DEPTH} levels`);
  if (!isObj(v)) return new Unusable('a value is not an AnyValue object');
  const s = field(v, 'stringValue', 'string_value');
  if (s !== undefined) return typeof s === 'string' ? s : new Unusable('stringValue is not a string');
  const b = field(v, 'boolValue', 'bool_value');
  if (b !== undefined) return typeof b === 'boolean' ? b : new Unusable('boolValue is not a boolean');
  const i = field(v, 'intValue', 'int_value');
  if (i !== undefined) return int64(i, 'intValue');
  const d = field(v, 'doubleValue', 'double_value');
  if (d !== undefined) {
    if (typeof d === 'number') return Number.isFinite(d) ? d : String(d);
    if (d === 'NaN' || d === 'Infinity' || d === '-Infinity') return d;
    if (typeof d === 'string' && d.trim() !== '' && Number.isFinite(Number(d))) return Number(d);
    return new Unusable('doubleValue is not a number');
  }
  const a = field(v, 'arrayValue', 'array_value');
  if (a !== undefined) {
    if (!isObj(a)) return new Unusable('arrayValue is not an object');
    const values = a['values'] ?? [];
    if (!Array.isArray(values)) return new Unusable('arrayValue.values is not an array');
    const out: unknown[] = [];
    for (const x of values) {
      const y = anyValue(x, depth + 1);
      if (y instanceof Unusable) return y;
      out.push(y);
    }
    return out;
  }
  const kv = field(v, 'kvlistValue', 'kvlist_value');
  if (kv !== undefined) {
    if (!isObj(kv)) return new Unusable('kvlistValue is not an object');
    return keyValues(kv['values'], depth + 1, 'kvlistValue.values');
  }
  const bytes = field(v, 'bytesValue', 'bytes_value');
  if (bytes !== undefined) {
    if (bytes instanceof Uint8Array) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
    return typeof bytes === 'string' ? bytes : new Unusable('bytesValue is not base64 text');
  }
  return null; // an empty AnyValue
};

/**
 * A repeated KeyValue → an object (a later duplicate key wins). Built with `Object.fromEntries`, so a
 * key such as `__proto__` is an ordinary own property, never the object's prototype.
 */
const keyValues = (list: unknown, depth: number, name: string): Obj | Unusable => {
  if (list === undefined || list === null) return {};
  if (!Array.isArray(list)) return new Unusable(`${name} is not an array`);
  const entries: [string, unknown][] = [];
  for (const kv of list) {
    if (!isObj(kv)) return new Unusable(`an element of ${name} is not a KeyValue object`);
    const key = kv['key'] ?? '';
    if (typeof key !== 'string') return new Unusable(`a key in ${name} is not a string`);
    const value = anyValue(kv['value'], depth);
    if (value instanceof Unusable) return value;
    entries.push([key, value]);
  }
  return Object.fromEntries(entries);
};

/** Nanoseconds since the epoch (fixed64) as decimal digits without leading zeros; '' when unset or 0. */
const nanos = (v: unknown, name: string): string | Unusable => {
  if (v === undefined || v === null) return '';
  let digits: string | undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 64) digits = BigInt(v).toString();
  else if (typeof v === 'string' && /^\d{1,20}$/.test(v) && (v.length < 20 || BigInt(v) < 2n ** 64n)) digits = v.replace(/^0+(?=\d)/, '');
  if (digits === undefined) return new Unusable(`${name} is not a count of nanoseconds`);
  return digits === '0' ? '' : digits;
};

/** The last second formatted: records of one export mostly share it, and toISOString is the cost. */
let lastSecond = '';
let lastIso = '';

/** Nanoseconds since the epoch (decimal digits) → RFC 3339 in UTC with nine fractional digits. */
export const rfc3339 = (digits: string): string => {
  const d = digits.padStart(10, '0');
  const sec = d.slice(0, -9);
  if (sec !== lastSecond) {
    lastIso = new Date(Number(sec) * 1000).toISOString().slice(0, -5);
    lastSecond = sec;
  }
  return `${lastIso}.${d.slice(-9)}Z`;
};

/** A trace or span id: bytes (protobuf) or hex text (JSON) → lowercase hex; undefined when unset or all zeros. */
const id = (v: unknown, bytes: number, name: string): string | undefined | Unusable => {
  if (v === undefined || v === null || v === '') return undefined;
  let hex: string;
  if (v instanceof Uint8Array) {
    if (v.length === 0) return undefined;
    if (v.length !== bytes) return new Unusable(`${name} is ${v.length} bytes, not ${bytes}`);
    hex = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  } else if (typeof v === 'string' && v.length === bytes * 2 && /^[0-9a-fA-F]+$/.test(v)) {
    hex = v.toLowerCase();
  } else {
    return new Unusable(`${name} is not ${bytes * 2} hex digits`);
  }
  return /^0+$/.test(hex) ? undefined : hex;
};

const uint = (v: unknown, name: string): number | Unusable => {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  return new Unusable(`${name} is not an unsigned 32-bit integer`);
};

const severityNumber = (v: unknown): number | Unusable => {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && Object.hasOwn(SEVERITY_NUMBERS, v)) return SEVERITY_NUMBERS[v] ?? 0;
  return new Unusable('severityNumber is neither a SeverityNumber nor its name');
};

const optionalString = (v: unknown, name: string): string | Unusable => {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : new Unusable(`${name} is not a string`);
};

/** What the records of one scope share, serialised once: `,"resources":{…}` and `,"scope":{…}` (or ''). */
interface Around {
  readonly tail: string;
}

/** One LogRecord → its event as one JSON line (without LF), or why it cannot be stored. */
const logRecord = (lr: unknown, around: Around): string | Unusable => {
  if (!isObj(lr)) return new Unusable('the log record is not an object');
  const time = nanos(field(lr, 'timeUnixNano', 'time_unix_nano'), 'timeUnixNano');
  if (time instanceof Unusable) return time;
  const observed = nanos(field(lr, 'observedTimeUnixNano', 'observed_time_unix_nano'), 'observedTimeUnixNano');
  if (observed instanceof Unusable) return observed;
  const sevNum = severityNumber(field(lr, 'severityNumber', 'severity_number'));
  if (sevNum instanceof Unusable) return sevNum;
  const sevText = optionalString(field(lr, 'severityText', 'severity_text'), 'severityText');
  if (sevText instanceof Unusable) return sevText;
  const rawBody = lr['body'];
  const body = rawBody === undefined || rawBody === null ? undefined : anyValue(rawBody, 0);
  if (body instanceof Unusable) return body;
  const attributes = keyValues(lr['attributes'], 0, 'attributes');
  if (attributes instanceof Unusable) return attributes;
  const dropped = uint(field(lr, 'droppedAttributesCount', 'dropped_attributes_count'), 'droppedAttributesCount');
  if (dropped instanceof Unusable) return dropped;
  const flags = uint(lr['flags'], 'flags');
  if (flags instanceof Unusable) return flags;
  const traceId = id(field(lr, 'traceId', 'trace_id'), 16, 'traceId');
  if (traceId instanceof Unusable) return traceId;
  const spanId = id(field(lr, 'spanId', 'span_id'), 8, 'spanId');
  if (spanId instanceof Unusable) return spanId;
  const eventName = optionalString(field(lr, 'eventName', 'event_name'), 'eventName');
  if (eventName instanceof Unusable) return eventName;

  const ev: Obj = {};
  if (body !== undefined) ev['message'] = body;
  const ts = time !== '' ? time : observed;
  if (ts !== '') ev['timestamp'] = rfc3339(ts);
  if (observed !== '') ev['observed_timestamp'] = rfc3339(observed);
  if (sevText !== '') ev['severity_text'] = sevText;
  if (sevNum !== 0) ev['severity_number'] = sevNum;
  ev['attributes'] = attributes;
  if (traceId !== undefined) ev['trace_id'] = traceId;
  if (spanId !== undefined) ev['span_id'] = spanId;
  if (flags !== 0) ev['flags'] = flags;
  if (dropped !== 0) ev['dropped_attributes_count'] = dropped;
  if (eventName !== '') ev['event_name'] = eventName;
  // `ev` is never empty (attributes is always there): its closing brace makes room for the shared tail
  return `${JSON.stringify(ev).slice(0, -1)}${around.tail}}`;
};

/** `undefined` → [], an array → itself, anything else → the problem. */
const list = (v: unknown, name: string): unknown[] | string => (v === undefined || v === null ? [] : Array.isArray(v) ? v : `${name} is not an array`);

const scopeOf = (v: unknown, where: string): Obj | undefined | string => {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) return `${where}.scope is not an object`;
  const name = optionalString(v['name'], 'name');
  const version = optionalString(v['version'], 'version');
  const attributes = keyValues(v['attributes'], 0, 'attributes');
  for (const x of [name, version, attributes]) if (x instanceof Unusable) return `${where}.scope: ${x.reason}`;
  const out: Obj = {};
  if (typeof name === 'string' && name !== '') out['name'] = name;
  if (typeof version === 'string' && version !== '') out['version'] = version;
  if (isObj(attributes) && Object.keys(attributes).length > 0) out['attributes'] = attributes;
  return Object.keys(out).length === 0 ? undefined : out;
};

/** A plain ExportLogsServiceRequest (from either encoding) → events. */
export const requestToEvents = (req: unknown): OtlpDecoded => {
  if (!isObj(req)) return { ok: false, reason: 'the body is not an ExportLogsServiceRequest object' };
  const rls = list(field(req, 'resourceLogs', 'resource_logs'), 'resourceLogs');
  if (typeof rls === 'string') return { ok: false, reason: rls };
  const out: string[] = [];
  let rejected = 0;
  let firstProblem: string | undefined;
  for (let r = 0; r < rls.length; r++) {
    const rl = rls[r];
    const rWhere = `resourceLogs[${r}]`;
    if (!isObj(rl)) return { ok: false, reason: `${rWhere} is not an object` };
    const resource = rl['resource'];
    if (resource !== undefined && resource !== null && !isObj(resource)) return { ok: false, reason: `${rWhere}.resource is not an object` };
    const resources = keyValues(isObj(resource) ? resource['attributes'] : undefined, 0, 'attributes');
    if (resources instanceof Unusable) return { ok: false, reason: `${rWhere}.resource: ${resources.reason}` };
    const sls = list(field(rl, 'scopeLogs', 'scope_logs'), `${rWhere}.scopeLogs`);
    if (typeof sls === 'string') return { ok: false, reason: sls };
    for (let s = 0; s < sls.length; s++) {
      const sl = sls[s];
      const sWhere = `${rWhere}.scopeLogs[${s}]`;
      if (!isObj(sl)) return { ok: false, reason: `${sWhere} is not an object` };
      const scope = scopeOf(sl['scope'], sWhere);
      if (typeof scope === 'string') return { ok: false, reason: scope };
      const lrs = list(field(sl, 'logRecords', 'log_records'), `${sWhere}.logRecords`);
      if (typeof lrs === 'string') return { ok: false, reason: lrs };
      const around: Around = { tail: `,"resources":${JSON.stringify(resources)}${scope === undefined ? '' : `,"scope":${JSON.stringify(scope)}`}` };
      for (let l = 0; l < lrs.length; l++) {
        const ev = logRecord(lrs[l], around);
        if (ev instanceof Unusable) {
          rejected++;
          firstProblem ??= `${sWhere}.logRecords[${l}]: ${ev.reason}`;
        } else out.push(ev);
      }
    }
  }
  const lines = out.length === 0 ? Buffer.alloc(0) : Buffer.from(`${out.join('\n')}\n`, 'utf8');
  return { ok: true, lines, events: out.length, rejected, firstProblem };
};

export const decodeProtobuf = (body: Uint8Array): OtlpDecoded => {
  let plain: unknown;
  try {
    // 64-bit integers as decimal strings (exact), enums as numbers, bytes stay bytes, unset fields absent.
    plain = ExportLogsServiceRequest.toObject(ExportLogsServiceRequest.decode(body), { longs: String, enums: Number, defaults: false });
  } catch (e) {
    return { ok: false, reason: `the body is not a protobuf ExportLogsServiceRequest: ${problem(e)}` };
  }
  return requestToEvents(plain);
};

export const decodeJson = (body: Buffer): OtlpDecoded => {
  let text = body.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let plain: unknown;
  try {
    plain = JSON.parse(text);
  } catch (e) {
    return { ok: false, reason: `the body is not JSON: ${problem(e)}` };
  }
  return requestToEvents(plain);
};

export const decodeRequest = (encoding: OtlpEncoding, body: Buffer): OtlpDecoded => (encoding === 'protobuf' ? decodeProtobuf(body) : decodeJson(body));

/** The 200's body: an ExportLogsServiceResponse, with `partialSuccess` when records were refused. */
export const exportResponse = (encoding: OtlpEncoding, rejected: number, firstProblem: string | undefined): string | Uint8Array => {
  const partial = rejected === 0 ? undefined : { rejectedLogRecords: rejected, errorMessage: `${rejected} log record(s) refused; the first: ${firstProblem ?? 'unknown'}` };
  if (encoding === 'protobuf') return ExportLogsServiceResponse.encode(ExportLogsServiceResponse.fromObject(partial === undefined ? {} : { partialSuccess: partial })).finish();
  // proto3 JSON writes 64-bit integers as strings
  return JSON.stringify(partial === undefined ? {} : { partialSuccess: { ...partial, rejectedLogRecords: String(rejected) } });
};

/** gRPC status codes for the HTTP statuses sluice answers with (OTLP puts a google.rpc.Status in a refusal). */
const GRPC_CODE: Readonly<Record<number, number>> = { 400: 3, 401: 16, 404: 5, 405: 12, 413: 8, 415: 3, 500: 13, 503: 14 };

/** A refusal's body: a google.rpc.Status with the reason. */
export const statusBody = (encoding: OtlpEncoding, httpStatus: number, message: string): string | Uint8Array => {
  const status = { code: GRPC_CODE[httpStatus] ?? 2, message };
  return encoding === 'protobuf' ? RpcStatus.encode(RpcStatus.fromObject(status)).finish() : JSON.stringify(status);
};
