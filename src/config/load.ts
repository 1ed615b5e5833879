/**
 * Reading a config: YAML text → checked, resolved `AgentConfig`, or a `ConfigError` whose problems
 * each name the file, line:column and key, and say what would be valid. `sluice validate` and
 * `sluice run` both call `loadConfig`, so they always give the same verdict.
 *
 * Steps: parse the YAML (syntax errors carry their own positions); check the top level with zod;
 * check each source and sink with the schema of its `type`; check cross references (sink `inputs`
 * name existing sources; at least one source and one sink). Zod issue paths are mapped back to
 * YAML nodes (`parseDocument` + `LineCounter`), so a message points at the offending key.
 */
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import * as z from 'zod';
import type { FsyncPolicy } from '../queue/types';
import { FRAME_HEADER } from '../queue/format';
import type { BatchBound, ComponentContext, ComponentIo, Registry, SinkBaseConfig } from '../core/component';
import { ENVELOPE_HEADER_BYTES } from '../core/envelope';
import type { Sink } from '../core/sink';
import type { Source } from '../core/source';
import { ConfigError, ConfigReadError, type ConfigProblem } from './errors';
import {
  componentsSchema,
  DEFAULT_MAX_BYTES,
  DEFAULT_SEGMENT_BYTES,
  DEFAULT_FSYNC_INTERVAL_MS, DEFAULT_SHUTDOWN_TIMEOUT_MS, ID_HINT, ID_PATTERN, topLevelSchema } from './schema';

export interface ResolvedSource {
  readonly id: string;
  readonly type: string;
  readonly canAcknowledge: boolean;
  readonly create: (ctx: ComponentContext) => Source;
}

export interface ResolvedSink {
  readonly id: string;
  readonly type: string;
  readonly canAcknowledge: boolean;
  /** Sends event ids as idempotency keys (refused with `queue.fsync: never`). */
  readonly usesEventIds: boolean;
  /** The keys every sink has (`inputs`, `encoding`, `max_backoff`), from `sinkBaseSchema`. */
  readonly base: SinkBaseConfig;
  readonly create: (ctx: ComponentContext) => Sink;
}

export interface AgentConfig {
  /** Where this config came from (a path, or `<built-in default>`). */
  readonly file: string;
  /** Absolute. */
  readonly dataDir: string;
  readonly queue: {
    readonly fsync: FsyncPolicy;
    readonly maxBytes: number;
    readonly segmentBytes: number;
    readonly cursorFlushMs?: number;
  };
  readonly shutdownTimeoutMs: number;
  readonly api?: { readonly host: string; readonly port: number };
  readonly sources: readonly ResolvedSource[];
  readonly sinks: readonly ResolvedSink[];
  /** What works, but not for every input (a request-driven source's largest event that no segment holds): shown by `validate`, logged at start. */
  readonly warnings?: readonly ConfigProblem[];
}

type Path = readonly PropertyKey[];

/** `sinks.archive.inputs[0]` */
export const formatPath = (path: Path): string => {
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else s += s === '' ? String(seg) : `.${String(seg)}`;
  }
  return s;
};

interface Located {
  line: number;
  col: number;
}

/** The position of the node at `path` (the value if present, else its key, else the nearest parent). */
const locate = (doc: Document, lc: LineCounter, path: Path, preferKey = false): Located => {
  let node: unknown = doc.contents;
  let best: number | undefined = doc.contents?.range?.[0];
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as Node;
      const last = i === path.length - 1;
      if (keyNode.range) best = keyNode.range[0];
      const value = pair.value as Node | null;
      if (last && preferKey) break;
      if (value?.range) best = value.range[0];
      node = value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      if (item.range) best = item.range[0];
      node = item;
    } else break;
  }
  if (best === undefined) return { line: 0, col: 0 };
  const pos = lc.linePos(best);
  return { line: pos.line, col: pos.col };
};

/** The keys a strict object schema accepts at `path`, for "valid keys are …" hints. */
const keysAt = (schema: z.ZodType, path: Path): string[] | undefined => {
  let s: unknown = schema;
  const unwrap = (x: unknown): unknown => {
    for (;;) {
      if (x instanceof z.ZodOptional || x instanceof z.ZodDefault || x instanceof z.ZodNullable) x = x.unwrap();
      else if (x instanceof z.ZodPipe) x = x.in;
      else return x;
    }
  };
  for (const seg of path) {
    s = unwrap(s);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, unknown>)[String(seg)];
    else if (s instanceof z.ZodArray) s = s.element;
    else if (s instanceof z.ZodRecord) s = s.valueType;
    else return undefined;
  }
  s = unwrap(s);
  return s instanceof z.ZodObject ? Object.keys(s.shape) : undefined;
};

const describeValue = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
};

const valueAt = (root: unknown, path: Path): unknown => {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg as string];
  }
  return v;
};

const EXPECTED_NAMES: Readonly<Record<string, string>> = {
  record: 'a mapping',
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

class ProblemCollector {
  readonly problems: ConfigProblem[] = [];
  constructor(
    private readonly file: string,
    private readonly doc: Document,
    private readonly lc: LineCounter,
    private readonly raw: unknown,
    private readonly sourceTypes: readonly string[],
    private readonly sinkTypes: readonly string[],
  ) {}

  /** Warnings: the config works, but not for every input (shown by `validate` and at start). */
  readonly warnings: ConfigProblem[] = [];

  add(path: Path, message: string, preferKey = false): void {
    this.problems.push(this.at(path, message, preferKey));
  }

  warn(path: Path, message: string): void {
    this.warnings.push(this.at(path, message, true));
  }

  private at(path: Path, message: string, preferKey: boolean): ConfigProblem {
    const { line, col } = locate(this.doc, this.lc, path, preferKey);
    return { file: this.file, line, col, key: formatPath(path), message };
  }

  /** Turn zod issues (relative to `base`) into problems with friendly messages. */
  addIssues(issues: readonly z.core.$ZodIssue[], base: Path, schema: z.ZodType): void {
    for (const issue of issues) {
      const path = [...base, ...issue.path];
      switch (issue.code) {
        case 'unrecognized_keys': {
          const valid = keysAt(schema, issue.path);
          for (const key of issue.keys) {
            this.add([...path, key], `unknown key${valid ? ` (valid keys: ${valid.join(', ')})` : ''}`, true);
          }
          break;
        }
        case 'invalid_type': {
          const got = valueAt(this.raw, path);
          const expected = EXPECTED_NAMES[issue.expected] ?? issue.expected;
          const last = path[path.length - 1];
          const section = path.length === 3 && last === 'type' ? path[0] : undefined;
          const types = section === 'sources' ? this.sourceTypes : section === 'sinks' ? this.sinkTypes : undefined;
          if (got === undefined && types) this.add(path, `missing (valid types: ${types.join(', ')})`);
          else if (got === undefined) this.add(path, `missing (expected ${expected})`);
          else this.add(path, `expected ${expected}, got ${describeValue(got)}`);
          break;
        }
        case 'invalid_value': {
          const got = valueAt(this.raw, path);
          const valid = issue.values.map((v) => JSON.stringify(v)).join(', ');
          this.add(path, `${describeValue(got)} is not valid (valid: ${valid})`);
          break;
        }
        case 'invalid_union': {
          // our unions are "size or duration as number or string"; their custom messages are better
          const inner = issue.errors.flat().find((e) => e.code === 'custom');
          const got = valueAt(this.raw, path);
          this.add(path, inner ? inner.message : `${describeValue(got)} is not valid here`);
          break;
        }
        case 'too_small':
          if (issue.origin === 'array') this.add(path, `needs at least ${String(issue.minimum)} item(s)`);
          else if (issue.origin === 'string') this.add(path, `must not be empty`);
          else this.add(path, `must be at least ${String(issue.minimum)}`);
          break;
        default:
          this.add(path, issue.message);
      }
    }
  }
}

export const BUILTIN_FILE = '<built-in default>';

/**
 * Parse and check config text. `file` is used in messages only. Throws `ConfigError` listing every
 * problem found (the message is the first one).
 */
export const parseConfig = (text: string, file: string, registry: Registry, env: NodeJS.ProcessEnv = process.env): AgentConfig => {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const msg = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
        return { file, line: pos?.line ?? 0, col: pos?.col ?? 0, key: '', message: `YAML: ${msg}` };
      }),
    );
  }
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias expanding without bound (a "billion laughs" document) is refused, never expanded.
    let at: number | undefined;
    visit(doc, {
      Alias(_key, node) {
        at = node.range?.[0];
        return visit.BREAK;
      },
    });
    const pos = at === undefined ? { line: 0, col: 0 } : lc.linePos(at);
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigError([{ file, line: pos.line, col: pos.col, key: '', message: `YAML: aliases expand too far (${why}); write the values out instead` }]);
  }
  const raw = interpolate(js, env);
  const pc = new ProblemCollector(file, doc, lc, raw, [...registry.sources.keys()], [...registry.sinks.keys()]);
  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) {
    pc.add([], 'the config must be a mapping with data_dir, sources and sinks');
    throw new ConfigError(pc.problems);
  }
  const top = topLevelSchema.safeParse(raw);
  if (!top.success) pc.addIssues(top.error.issues, [], topLevelSchema);
  // Check sources and sinks even when the top level has problems, so every problem is listed at once.
  const rawSources = componentsSchema.safeParse((raw as Record<string, unknown>)['sources']);
  const rawSinks = componentsSchema.safeParse((raw as Record<string, unknown>)['sinks']);
  if (!rawSources.success || !rawSinks.success) throw new ConfigError(pc.problems);
  const t = { sources: rawSources.data, sinks: rawSinks.data };

  const sources: ResolvedSource[] = [];
  const sourceIo = new Map<string, ComponentIo>();
  const batches: { readonly id: string; readonly batch: BatchBound }[] = [];
  const events: { readonly id: string; readonly batch: BatchBound }[] = [];
  const exclusive = new Map<string, string>();
  const sourceIds = Object.keys(t.sources);
  if (sourceIds.length === 0) pc.add(['sources'], 'no source configured (add one, e.g. `pipe: { type: stdin }`)');
  for (const id of sourceIds) {
    const entry = t.sources[id];
    if (!ID_PATTERN.test(id)) pc.add(['sources', id], `invalid id (use ${ID_HINT})`, true);
    const kind = entry ? registry.sources.get(entry.type) : undefined;
    if (!entry || !kind) {
      pc.add(['sources', id, 'type'], `unknown source type ${JSON.stringify(entry?.type)} (valid: ${[...registry.sources.keys()].join(', ')})`);
      continue;
    }
    const r = kind.parse(entry);
    if (!r.ok) pc.addIssues(r.issues, ['sources', id], kind.schema);
    else {
      sources.push({ id, type: kind.type, canAcknowledge: kind.canAcknowledge, create: r.make });
      sourceIo.set(id, r.io);
      if (r.io.batch !== undefined) batches.push({ id, batch: r.io.batch });
      if (r.io.event !== undefined) events.push({ id, batch: r.io.event });
      const ex = r.io.exclusive;
      if (ex !== undefined) {
        const first = exclusive.get(ex);
        if (first === undefined) exclusive.set(ex, id);
        else pc.add(['sources', id, 'type'], `sources.${first} reads ${ex} already: two sources would split its lines between them (keep one, and list it in the inputs of every sink that needs it)`);
      }
    }
  }
  const written = new Map<string, string>();

  const sinks: ResolvedSink[] = [];
  const sinkIds = Object.keys(t.sinks);
  if (sinkIds.length === 0) pc.add(['sinks'], 'no sink configured (add one, e.g. `out: { type: stdout, inputs: [...] }`)');
  for (const id of sinkIds) {
    const entry = t.sinks[id];
    if (!ID_PATTERN.test(id)) pc.add(['sinks', id], `invalid id (use ${ID_HINT})`, true);
    const kind = entry ? registry.sinks.get(entry.type) : undefined;
    if (!entry || !kind) {
      pc.add(['sinks', id, 'type'], `unknown sink type ${JSON.stringify(entry?.type)} (valid: ${[...registry.sinks.keys()].join(', ')})`);
      continue;
    }
    const r = kind.parse(entry);
    if (!r.ok) {
      pc.addIssues(r.issues, ['sinks', id], kind.schema);
      continue;
    }
    r.config.inputs.forEach((input, i) => {
      if (!(input in t.sources)) {
        pc.add(['sinks', id, 'inputs', i], `unknown source ${JSON.stringify(input)} (valid: ${sourceIds.join(', ') || 'none configured'})`);
      }
    });
    const out = r.io.writes;
    if (out !== undefined) {
      const real = canonicalPath(out);
      const first = written.get(real);
      if (first !== undefined) {
        pc.add(['sinks', id, 'path'], `the same file as sinks.${first}.path (${real}): two sinks writing one file interleave and cut each other's lines (give each sink its own path)`);
      } else written.set(real, id);
      for (const input of r.config.inputs) {
        const reads = sourceIo.get(input)?.reads;
        if (reads && (reads(out) || reads(real))) {
          pc.add(['sinks', id, 'path'], `source ${input} (an input of this sink) reads ${out}: the sink would read its own output again and again (write outside its include patterns, or add the path to its exclude)`);
        }
      }
    }
    sinks.push({
      id,
      type: kind.type,
      canAcknowledge: kind.canAcknowledge,
      usesEventIds: kind.usesEventIds,
      base: r.config,
      create: r.make,
    });
  }

  if (!top.success) throw new ConfigError(pc.problems);
  const q = top.data.queue;
  let fsync: FsyncPolicy = { mode: 'always' };
  if (q?.fsync === 'interval') fsync = { mode: 'interval', intervalMs: q.fsync_interval_ms ?? DEFAULT_FSYNC_INTERVAL_MS };
  else if (q?.fsync === 'never') fsync = { mode: 'never' };
  // Under fsync: never a power loss can take back appended records, and their ids are then given
  // to new records: a destination deduplicating by event id would drop those new events as
  // duplicates. Refused rather than mixing an epoch into the ids (docs/sinks.md "Event ids").
  if (fsync.mode === 'never') {
    for (const s of sinks) {
      if (s.usesEventIds) {
        pc.add(['queue', 'fsync'], `sink ${s.id} (${s.type}) sends event ids as idempotency keys, which fsync: never can reuse after a power loss; use fsync: always or interval`);
      }
    }
  }
  if (q?.fsync_interval_ms !== undefined && q.fsync !== 'interval') {
    pc.add(['queue', 'fsync_interval_ms'], `only used with fsync: interval (fsync is ${q.fsync})`, true);
  }
  // Space is freed a whole segment at a time, so the bound must hold several segments: with one
  // segment as large as max_bytes the writer would wait for space that can never be freed.
  const MiB = 1024 * 1024;
  if (q?.max_bytes !== undefined && q.max_bytes < 16 * MiB) pc.add(['queue', 'max_bytes'], 'must be at least 16MiB');
  if (q?.segment_bytes !== undefined && q.segment_bytes < 2 * MiB) {
    pc.add(['queue', 'segment_bytes'], 'must be at least 2MiB (one record holds a whole source batch)');
  }
  const maxBytes = q?.max_bytes ?? DEFAULT_MAX_BYTES;
  const segmentBytes = q?.segment_bytes ?? Math.min(DEFAULT_SEGMENT_BYTES, Math.max(2 * MiB, Math.floor(maxBytes / 4)));
  const tooSmall = q?.max_bytes !== undefined && q.max_bytes < 16 * MiB; // already reported; derived limits would only add noise
  if (segmentBytes > maxBytes / 2 && !(tooSmall && q?.segment_bytes === undefined)) {
    pc.add(['queue', 'segment_bytes'], `must be at most half of max_bytes (${maxBytes} bytes): space is freed a whole segment at a time`);
  }
  // One batch is one queue record, and a record is never split across segments: a source whose
  // batch can outgrow a segment would stop at run time on the first large read. (Skipped while the
  // queue's own sizes are wrong: their problem is the one to fix first.)
  const queueOk = pc.problems.every((p) => !p.key.startsWith('queue.'));
  for (const { id, batch } of queueOk ? batches : []) {
    const need = batch.bytes + FRAME_HEADER + ENVELOPE_HEADER_BYTES + Buffer.byteLength(id);
    if (need <= segmentBytes) continue;
    const seg = q?.segment_bytes !== undefined ? `queue.segment_bytes ${mib(segmentBytes)}` : `queue.segment_bytes ${mib(segmentBytes)}, derived from max_bytes`;
    const atLeast = Math.ceil(need / MiB);
    const raise = 2 * atLeast * MiB > maxBytes ? ` and max_bytes to at least ${2 * atLeast}MiB` : '';
    pc.add(
      ['sources', id, ...batch.key.split('.')],
      `one batch of this source can reach ${mib(need)} (${batch.from}), more than a queue segment holds (${seg}); ${batch.fix}, or set queue.segment_bytes to at least ${atLeast}MiB${raise}`,
    );
  }

  // A request-driven source cuts a request into several records, but one event is one line of one
  // record: an event as large as the body limit would be answered 413. A warning, not a refusal: the
  // config is right for every request of events that fit (and lowering the limit would refuse more).
  for (const { id, batch } of queueOk ? events : []) {
    const need = batch.bytes + FRAME_HEADER + ENVELOPE_HEADER_BYTES + Buffer.byteLength(id);
    if (need <= segmentBytes) continue;
    const seg = q?.segment_bytes !== undefined ? `queue.segment_bytes ${mib(segmentBytes)}` : `queue.segment_bytes ${mib(segmentBytes)}, derived from max_bytes`;
    const atLeast = Math.ceil(need / MiB);
    const raise = 2 * atLeast * MiB > maxBytes ? ` and max_bytes to at least ${2 * atLeast}MiB` : '';
    pc.warn(
      ['sources', id, ...batch.key.split('.')],
      `${batch.from} is more than a queue segment holds (${seg}): a larger request is stored as several records, but each event must fit one record and a larger one is refused (413); ${batch.fix}, or set queue.segment_bytes to at least ${atLeast}MiB${raise}, if single events can be that large`,
    );
  }

  let api: { host: string; port: number } | undefined;
  const apiConf = top.data.api;
  if (apiConf) {
    const i = apiConf.address.lastIndexOf(':');
    const port = Number(apiConf.address.slice(i + 1));
    if (port > 65535) pc.add(['api', 'address'], `port ${port} is out of range (1-65535)`);
    api = { host: apiConf.address.slice(0, i), port };
  }

  if (pc.problems.length > 0) throw new ConfigError(pc.problems);
  return {
    file,
    dataDir: resolve(top.data.data_dir),
    queue: {
      fsync,
      maxBytes,
      segmentBytes,
      ...(q?.cursor_flush_interval !== undefined ? { cursorFlushMs: Math.max(1, q.cursor_flush_interval) } : {}),
    },
    shutdownTimeoutMs: top.data.shutdown_timeout ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    ...(api ? { api } : {}),
    sources,
    sinks,
    ...(pc.warnings.length > 0 ? { warnings: pc.warnings } : {}),
  };
};

/** `9.2MiB`: sizes in messages, rounded up. */
const mib = (n: number): string => {
  const m = n / (1024 * 1024);
  return Number.isInteger(m) ? `${m}MiB` : `${(Math.ceil(m * 10) / 10).toFixed(1)}MiB`;
};

/** The path with its symlinks resolved as far as it exists (two names of one file compare equal). */
const canonicalPath = (path: string): string => {
  try {
    return realpathSync(path);
  } catch {
    try {
      return join(realpathSync(dirname(path)), basename(path));
    } catch {
      return path;
    }
  }
};

/** Read and check a config file. */
export const loadConfigFile = async (path: string, registry: Registry, env: NodeJS.ProcessEnv = process.env): Promise<AgentConfig> => {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? err);
    throw new ConfigReadError(`${path}: cannot read the config (${why})`, { cause: err });
  }
  return parseConfig(text, path, registry, env);
};

/**
 * `${VAR}` in any string value is replaced by the environment variable's value; `${VAR:-default}`
 * falls back to `default` when VAR is unset or empty; `$${` is a literal `${`. An unset variable
 * without a default is left as written (and usually fails validation where it matters).
 */
const interpolate = (v: unknown, env: NodeJS.ProcessEnv): unknown => {
  if (typeof v === 'string') {
    if (!v.includes('${')) return v;
    return v.replace(/\$?\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (whole, name: string, dflt: string | undefined) => {
      if (whole.startsWith('$$')) return whole.slice(1);
      const val = env[name];
      if (val !== undefined && val !== '') return val;
      return dflt ?? whole;
    });
  }
  if (Array.isArray(v)) return v.map((x) => interpolate(x, env));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = interpolate(x, env);
    return out;
  }
  return v;
};
