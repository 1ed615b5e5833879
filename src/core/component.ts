/**
 * The component model: a source type or a sink type is one definition — its `type` name as written
 * in the config, its zod schema (strict: unknown keys are errors; it declares the `type` key
 * itself), a factory, and whether it can acknowledge. Each kind keeps one registry beside it
 * (`src/sources/index.ts`, `src/sinks/index.ts`); the config loader and the agent know components
 * only through these definitions.
 *
 * `canAcknowledge`:
 *   - a source that can acknowledge advances its input (a file offset, an HTTP 200, a TCP read)
 *     only after the queue made the batch durable, and so resumes exactly after a restart. One that
 *     cannot (stdin: a pipe cannot be re-read) loses what it held when the process died; a sink fed
 *     by such a source gets a start-up warning naming both.
 *   - a sink that can acknowledge resolves `write` only once its destination has the data.
 *
 * Shared sink keys (`inputs`, `encoding`, `max_backoff`, `batch`, `request`, `dead_letter`) come
 * from one base schema, `sinkBaseSchema`; a sink type extends it with its own keys. The runner
 * (`src/pipeline/sink-runner.ts`) applies the shared ones, so no sink implements retries, batching
 * or concurrency itself.
 *
 * `usesEventIds`: the sink sends event ids (record id + line index) to its destination as
 * idempotency keys. Ids can be reused after a power loss under `queue.fsync: never`, so the config
 * refuses such a sink with that policy.
 */
import * as z from 'zod';
import type { Diagnostics } from './diagnostics';
import type { Clock, FileSystem, Random, ReadFileSystem } from './ports';
import type { Sink } from './sink';
import type { Source } from './source';
import { durationSchema, sizeSchema } from './units';

/** What a factory gets besides its config: who it is, where to report, and the ports. */
export interface ComponentContext {
  /** The component's id from the config (`sources.<id>` / `sinks.<id>`). */
  readonly id: string;
  readonly log: Diagnostics;
  readonly clock: Clock;
  readonly random: Random;
  /** Writing files durably (sinks, the queue). */
  readonly fs: FileSystem;
  /** Finding, looking at and reading files (the file source). */
  readonly readFs: ReadFileSystem;
  /** The directory relative paths in the config resolve against. */
  readonly cwd: string;
  /** This agent's id: created once, kept in `<data_dir>/agent_id` (part of idempotency keys). */
  readonly agentId: string;
  /**
   * The agent's `data_dir`, where a component may keep a small state file of its own under
   * `sources/` or `sinks/` (the file source: what `start_at: end` skipped). Absent in unit tests.
   */
  readonly dataDir?: string;
  /**
   * Sinks only: how far back a replay of this sink can reach — the runner's retry backoff cap and
   * write timeout, and how often the queue persists the sink's cursor. Absent in unit tests.
   */
  readonly replay?: ReplayBounds;
}

/** What bounds the age of a message a sink may send again (all in ms). */
export interface ReplayBounds {
  /** `max_backoff`: the longest wait between two attempts at a group. */
  readonly maxBackoffMs: number;
  /** `request.timeout`: the longest one attempt runs. */
  readonly timeoutMs: number;
  /** `queue.cursor_flush_interval`: delivered groups not yet covered by a persisted cursor are replayed after a crash. */
  readonly cursorFlushMs: number;
}

/**
 * What a component takes from or puts into the world outside the agent, as far as the config
 * checks need it to refuse setups that cannot work (two sources on standard input, a sink writing
 * a file its own source reads, two sinks writing one file). Paths are absolute.
 */
export interface ComponentIo {
  /** A resource only one source may use (`standard input`). */
  readonly exclusive?: string;
  /** Whether the source would read the file at this absolute path (a file source's patterns). */
  readonly reads?: (path: string) => boolean;
  /** The file a sink writes. */
  readonly writes?: string;
  /** The largest batch the source can append as one queue record (a record is never split). */
  readonly batch?: BatchBound;
  /**
   * A source that cuts its input into several records at event boundaries (http, otlp): its largest
   * single event, which must fit one record alone (the loader warns when it may not).
   */
  readonly event?: BatchBound;
}

/**
 * How large one batch of a source can get, for the check that it fits a queue segment: `bytes`
 * counts the lines (newlines the source inserts included), the origin and the positions riding
 * along; the queue's framing, the envelope header and the source id come on top (the config loader
 * adds them). `key` is the source's key the problem points at, `from` says what the bound is made
 * of and `fix` what to lower, in the user's words.
 */
export interface BatchBound {
  readonly bytes: number;
  readonly key: string;
  readonly from: string;
  readonly fix: string;
}

export interface SourceDefinition<C> {
  readonly type: string;
  /** Validates the whole `sources.<id>` entry, `type` included. */
  readonly schema: z.ZodType<C>;
  readonly canAcknowledge: boolean;
  readonly create: (config: C, ctx: ComponentContext) => Source;
  /** What it reads (for the config checks); relative paths resolve against the working directory. */
  readonly io?: (config: C) => ComponentIo;
}

const sinkBaseShape = {
  /** Ids of the sources this sink delivers. */
  inputs: z.array(z.string()).min(1),
  /** `text`: the line as read; `json`: one JSON object per event. */
  encoding: z.enum(['text', 'json']).default('text'),
  /** Cap of the retry backoff after failed writes (default 30s). */
  max_backoff: durationSchema.optional(),
  /**
   * How much one write carries at most, and how long the runner lingers for more when the queue has
   * less (default: 4MiB, 100000 events, 0: no linger). A single queue record is never split.
   */
  batch: z
    .strictObject({ max_bytes: sizeSchema.optional(), max_events: z.int().min(1).optional(), timeout: durationSchema.optional() })
    .optional(),
  /** One write's time limit (default 30s) and how many writes are in flight at once (default 1). */
  request: z.strictObject({ timeout: durationSchema.optional(), concurrency: z.int().min(1).max(64).optional() }).optional(),
  /** Bound of the sink's dead-letter store (default 1GiB); at the bound the sink waits (backpressure). */
  dead_letter: z.strictObject({ max_bytes: sizeSchema.optional() }).optional(),
};
export const sinkBaseSchema = z.strictObject(sinkBaseShape);
export type SinkBaseConfig = z.output<typeof sinkBaseSchema>;

/**
 * A sink type's schema: `type`, `inputs`, the type's own keys, then the shared tuning keys (the
 * order "valid keys: …" messages list them in). Strict.
 */
export const sinkSchema = <T extends string, S extends z.ZodRawShape>(type: T, own: S) =>
  z.strictObject({
    type: z.literal(type),
    inputs: sinkBaseShape.inputs,
    ...own,
    encoding: sinkBaseShape.encoding,
    max_backoff: sinkBaseShape.max_backoff,
    batch: sinkBaseShape.batch,
    request: sinkBaseShape.request,
    dead_letter: sinkBaseShape.dead_letter,
  });

export interface SinkDefinition<C extends SinkBaseConfig> {
  readonly type: string;
  /** Validates the whole `sinks.<id>` entry, `type` included; extends `sinkBaseSchema`. */
  readonly schema: z.ZodType<C>;
  readonly canAcknowledge: boolean;
  /** Sends event ids as idempotency keys (refused with `queue.fsync: never`). Default false. */
  readonly usesEventIds?: boolean;
  readonly create: (config: C, ctx: ComponentContext) => Sink;
  /** What it writes (for the config checks); relative paths resolve against the working directory. */
  readonly io?: (config: C) => ComponentIo;
}

/** A component definition with its config type erased: what a registry holds. */
export interface ComponentKind<T, Base> {
  readonly type: string;
  readonly canAcknowledge: boolean;
  readonly usesEventIds: boolean;
  /** The zod schema (for error messages: which keys are valid). */
  readonly schema: z.ZodType;
  /** Validate one entry as written in the YAML (with its `type` key). */
  parse(raw: unknown): ParseOutcome<T, Base>;
}

export type ParseOutcome<T, Base> =
  | { readonly ok: true; readonly config: Base; readonly make: (ctx: ComponentContext) => T; readonly io: ComponentIo }
  | { readonly ok: false; readonly issues: readonly z.core.$ZodIssue[] };

export type SourceKind = ComponentKind<Source, unknown>;
export type SinkKind = ComponentKind<Sink, SinkBaseConfig>;

const kind = <C extends Base, T, Base>(d: {
  readonly type: string;
  readonly schema: z.ZodType<C>;
  readonly canAcknowledge: boolean;
  readonly usesEventIds?: boolean;
  readonly create: (config: C, ctx: ComponentContext) => T;
  readonly io?: (config: C) => ComponentIo;
}): ComponentKind<T, Base> => ({
  type: d.type,
  canAcknowledge: d.canAcknowledge,
  usesEventIds: d.usesEventIds ?? false,
  schema: d.schema,
  parse(raw: unknown): ParseOutcome<T, Base> {
    const r = d.schema.safeParse(raw);
    if (!r.success) return { ok: false, issues: r.error.issues };
    const config = r.data;
    return { ok: true, config, make: (ctx) => d.create(config, ctx), io: d.io?.(config) ?? {} };
  },
});

export const defineSource = <C>(d: SourceDefinition<C>): SourceKind => kind<C, Source, unknown>(d);
export const defineSink = <C extends SinkBaseConfig>(d: SinkDefinition<C>): SinkKind => kind<C, Sink, SinkBaseConfig>(d);

/** Every component type the agent's config accepts, by `type`. */
export interface Registry {
  readonly sources: ReadonlyMap<string, SourceKind>;
  readonly sinks: ReadonlyMap<string, SinkKind>;
}

/** One registry from its definitions (a duplicate `type` is a programming error). */
export const registryOf = <K extends { readonly type: string }>(defs: readonly K[]): ReadonlyMap<string, K> => {
  const m = new Map<string, K>();
  for (const d of defs) {
    if (m.has(d.type)) throw new Error(`component type ${JSON.stringify(d.type)} registered twice`);
    m.set(d.type, d);
  }
  return m;
};
