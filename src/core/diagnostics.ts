/**
 * The agent's own diagnostics: one line per event on stderr, never on stdout (stdout may carry
 * data), leveled and filtered by `--log-level`:
 *
 *   2026-11-26T15:00:00.000Z WARN sink archive: write failed, retrying in 400ms (EACCES: …) attempt=3
 *
 * Fields follow the message as ` key=value` (strings with spaces or quotes JSON-quoted). A line is
 * written with one `write` call, so lines from different components never interleave.
 */

/** The agent's own diagnostics: one line per event on stderr, leveled, never mixed into data. */
export interface Diagnostics {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export const isLogLevel = (s: string): s is LogLevel => (LOG_LEVELS as readonly string[]).includes(s);

const formatValue = (v: unknown): string => {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v; // a cycle or a BigInt inside: name the kind rather than print [object Object]
  }
};

export interface DiagnosticsOptions {
  readonly level: LogLevel;
  /** Where lines go (default: process.stderr). */
  readonly write?: (line: string) => void;
  /** Wall clock for the timestamp (default Date.now). */
  readonly now?: () => number;
}

export const createDiagnostics = (opts: DiagnosticsOptions): Diagnostics => {
  const min = RANK[opts.level];
  const write = opts.write ?? ((line: string) => void process.stderr.write(line));
  const now = opts.now ?? Date.now;
  const emit = (level: Exclude<LogLevel, 'silent'>, label: string, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[level] < min) return;
    let line = `${new Date(now()).toISOString()} ${label} ${msg}`;
    if (fields) for (const [k, v] of Object.entries(fields)) line += ` ${k}=${formatValue(v)}`;
    write(`${line}\n`);
  };
  return {
    debug: (m, f) => emit('debug', 'DEBUG', m, f),
    info: (m, f) => emit('info', 'INFO', m, f),
    warn: (m, f) => emit('warn', 'WARN', m, f),
    error: (m, f) => emit('error', 'ERROR', m, f),
  };
};

/** `EACCES: permission denied, open '/x'` from any thrown value, one line. */
const oneError = (err: Error): string => {
  const code = (err as { code?: unknown }).code;
  const msg = err.message.split('\n')[0] ?? err.message;
  return typeof code === 'string' && !msg.startsWith(code) ? `${code}: ${msg}` : msg;
};

/** The code and first message line of `err`, followed by those of its causes that the text does not already say. */
export const errorText = (err: unknown): string => {
  if (!(err instanceof Error)) return String(err);
  let text = oneError(err);
  const seen = new Set<unknown>([err]);
  for (let c: unknown = err.cause; c instanceof Error && !seen.has(c) && seen.size < 5; c = c.cause) {
    seen.add(c);
    const msg = c.message.split('\n')[0] ?? c.message;
    if (!text.includes(msg)) text += `: ${oneError(c)}`;
  }
  return text;
};
