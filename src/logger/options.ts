/**
 * createLogger() options: the public type, the defaults, and validation with one-line messages
 * that name the option and the fix (no zod here: the logger is imported by applications at start-up
 * and must stay cheap to load).
 */
import { hostname as osHostname } from 'node:os';
import { LoggerOptionsError } from './errors';

export type LevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export type LevelSetting = LevelName | 'silent';

export const LEVEL_VALUES: Readonly<Record<LevelSetting, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};

export interface RotateOptions {
  /** Rotate before a write would make the file larger than this many bytes. */
  readonly maxBytes: number;
  /** Rotated files kept: `<file>.1` (newest) … `<file>.<keep>`. 0 keeps none. Default 5. */
  readonly keep?: number;
}

export interface ResolvedRotate {
  readonly maxBytes: number;
  readonly keep: number;
}

export interface LoggerOptions {
  /** Lowest level written (default `info`). */
  readonly level?: LevelSetting;
  /** `'stdout'` (default), `'stderr'`, a file path (opened for append, parent created), or an fd. */
  // eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- the names document the two special values
  readonly destination?: 'stdout' | 'stderr' | string | number;
  /** Bindings on every line. Default `{ pid, hostname }` as pino; `null` omits them. */
  readonly base?: Readonly<Record<string, unknown>> | null;
  /** pino's `name`: written as a `name` binding after the base bindings. */
  readonly name?: string;
  /** What to do when the buffer is full and the destination cannot take more right now. */
  readonly whenFull?: 'block' | 'drop';
  /** Buffer bound (UTF-16 code units, i.e. bytes for ASCII text). Default 256 KiB. */
  readonly bufferBytes?: number;
  /** Buffered lines are handed to the OS at least this often (default 50 ms). */
  readonly flushIntervalMs?: number;
  /** What `flush()` waits for: the OS has the lines (`os`, default) or the disk has them (`fsync`). */
  readonly durability?: 'os' | 'fsync';
  /** Size-based rotation (file destinations only). */
  readonly rotate?: RotateOptions;
  /** Log an uncaught exception / unhandled rejection as `fatal` before the process dies. */
  readonly logUncaught?: boolean;
  /** Called with write errors (the first of each failure episode) instead of the `'error'` event. */
  readonly onError?: (err: Error) => void;
}

export interface ResolvedOptions {
  readonly level: LevelSetting;
  readonly destination: { readonly kind: 'fd'; readonly fd: number } | { readonly kind: 'file'; readonly path: string };
  readonly base: Readonly<Record<string, unknown>> | null;
  readonly name: string | undefined;
  readonly whenFull: 'block' | 'drop';
  readonly bufferBytes: number;
  readonly flushIntervalMs: number;
  readonly durability: 'os' | 'fsync';
  readonly rotate: ResolvedRotate | undefined;
  readonly logUncaught: boolean;
  readonly onError: ((err: Error) => void) | undefined;
}

export const DEFAULT_BUFFER_BYTES = 256 * 1024;
export const MIN_BUFFER_BYTES = 1024;
export const MAX_BUFFER_BYTES = 64 * 1024 * 1024;
export const DEFAULT_FLUSH_INTERVAL_MS = 50;

const KNOWN = new Set([
  'level',
  'destination',
  'base',
  'name',
  'whenFull',
  'bufferBytes',
  'flushIntervalMs',
  'durability',
  'rotate',
  'logUncaught',
  'onError',
]);

function fail(what: string): never {
  throw new LoggerOptionsError(`createLogger(): ${what}`);
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return typeof v;
}

export function isLevelSetting(v: unknown): v is LevelSetting {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(LEVEL_VALUES, v);
}

export function checkLevel(v: unknown, where: string): LevelSetting {
  if (!isLevelSetting(v)) {
    throw new LoggerOptionsError(
      `${where}: unknown level ${show(v)}; use one of trace, debug, info, warn, error, fatal, silent`,
    );
  }
  return v;
}

function int(o: Record<string, unknown>, key: string, min: number, max: number, dflt: number): number {
  const v = o[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(`option \`${key}\` must be an integer from ${min} to ${max} (got ${show(v)})`);
  }
  return v;
}

export function resolveOptions(input: unknown): ResolvedOptions {
  if (input === undefined) input = {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    fail(`options must be an object (got ${show(input)})`);
  }
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) fail(`unknown option \`${k}\`; known options are ${[...KNOWN].join(', ')}`);
  }

  const level = o['level'] === undefined ? 'info' : checkLevel(o['level'], 'createLogger(): option `level`');

  let destination: ResolvedOptions['destination'];
  const d = o['destination'];
  if (d === undefined || d === 'stdout') destination = { kind: 'fd', fd: 1 };
  else if (d === 'stderr') destination = { kind: 'fd', fd: 2 };
  else if (typeof d === 'number') {
    if (!Number.isInteger(d) || d < 0) fail(`option \`destination\` as a file descriptor must be an integer >= 0 (got ${show(d)})`);
    destination = { kind: 'fd', fd: d };
  } else if (typeof d === 'string' && d.length > 0) destination = { kind: 'file', path: d };
  else fail(`option \`destination\` must be 'stdout', 'stderr', a file path or a file descriptor (got ${show(d)})`);

  const b = o['base'];
  if (b !== undefined && b !== null && (typeof b !== 'object' || Array.isArray(b))) {
    fail(`option \`base\` must be an object of bindings or null (got ${show(b)})`);
  }
  const base = b === undefined ? { pid: process.pid, hostname: hostname() } : (b as Record<string, unknown> | null);

  const name = o['name'];
  if (name !== undefined && typeof name !== 'string') fail(`option \`name\` must be a string (got ${show(name)})`);

  const whenFull = o['whenFull'] ?? 'block';
  if (whenFull !== 'block' && whenFull !== 'drop') fail(`option \`whenFull\` must be 'block' or 'drop' (got ${show(whenFull)})`);

  const durability = o['durability'] ?? 'os';
  if (durability !== 'os' && durability !== 'fsync') fail(`option \`durability\` must be 'os' or 'fsync' (got ${show(durability)})`);

  const bufferBytes = int(o, 'bufferBytes', MIN_BUFFER_BYTES, MAX_BUFFER_BYTES, DEFAULT_BUFFER_BYTES);
  const flushIntervalMs = int(o, 'flushIntervalMs', 1, 60_000, DEFAULT_FLUSH_INTERVAL_MS);

  let rotate: ResolvedRotate | undefined;
  const r = o['rotate'];
  if (r !== undefined) {
    if (typeof r !== 'object' || r === null) fail(`option \`rotate\` must be { maxBytes, keep } (got ${show(r)})`);
    if (destination.kind !== 'file') fail('option `rotate` needs a file path `destination`; remove `rotate` or log to a file');
    const ro = r as Record<string, unknown>;
    for (const k of Object.keys(ro)) {
      if (k !== 'maxBytes' && k !== 'keep') fail(`unknown option \`rotate.${k}\`; use maxBytes and keep`);
    }
    const maxBytes = ro['maxBytes'];
    const keep = ro['keep'] ?? 5;
    if (typeof maxBytes !== 'number' || !Number.isInteger(maxBytes) || maxBytes < 1024) {
      fail(`option \`rotate.maxBytes\` must be an integer >= 1024 (got ${show(maxBytes)})`);
    }
    if (typeof keep !== 'number' || !Number.isInteger(keep) || keep < 0 || keep > 1000) {
      fail(`option \`rotate.keep\` must be an integer from 0 to 1000 (got ${show(keep)})`);
    }
    rotate = { maxBytes, keep };
  }

  const logUncaught = o['logUncaught'] ?? false;
  if (typeof logUncaught !== 'boolean') fail(`option \`logUncaught\` must be true or false (got ${show(logUncaught)})`);

  const onError = o['onError'];
  if (onError !== undefined && typeof onError !== 'function') fail(`option \`onError\` must be a function (got ${show(onError)})`);

  return {
    level,
    destination,
    base,
    name: name,
    whenFull,
    bufferBytes,
    flushIntervalMs,
    durability,
    rotate,
    logUncaught,
    onError: onError as ((err: Error) => void) | undefined,
  };
}

let cachedHostname: string | undefined;
function hostname(): string {
  cachedHostname ??= osHostname();
  return cachedHostname;
}
