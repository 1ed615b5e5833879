/**
 * `sluice top`: a terminal view of a running agent, in the spirit of `vector top` and `htop`. It
 * reads `GET /api/status` once a second and draws sources and sinks with their rates, each sink's
 * backlog, the age of its oldest unacknowledged event, failing sinks with their last error, and the
 * recent warnings. `q` (or Ctrl-C) quits. Fits 80 columns; colour only on a TTY without `NO_COLOR`.
 * Not a TTY (a pipe, a file): each frame is printed in plain text, one after the other; `--once`
 * prints one frame and exits (0 when the agent answered, 1 when it did not).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { StatusJson } from '../api/status';
import { loadConfigFile } from '../config/load';
import { count, duration } from '../pipeline/report';
import { DEFAULT_CONFIG_FILE } from './defaults';
import { agentRegistry } from './registry';

export const HELP_TOP = `Usage: sluice top [--api URL | --config FILE] [--once]

Shows a running agent in the terminal: sources and sinks with their rates, each sink's backlog
(events not yet acknowledged) and the age of its oldest unacknowledged event, failing sinks with
their last error and retries, the queue's size, and recent warnings. Refreshes every second;
press q to quit. Reads the agent's GET /api/status (the config needs api: { address }).

Options:
      --api URL       the agent's api, e.g. http://127.0.0.1:9598
  -c, --config FILE   take the address from this config's api.address
                      (default: ./sluice.yaml if it has one, else http://127.0.0.1:9598)
      --once          print one frame and exit (0 if the agent answered, 1 if not)
  -h, --help          show this help

No colour when stdout is not a terminal or NO_COLOR is set.
`;

export class TopUsageError extends Error {
  readonly code = 'SLUICE_USAGE';
}

export interface TopOptions {
  readonly width: number;
  readonly height: number;
  readonly color: boolean;
  readonly url: string;
  /** Wall-clock ms of this frame. */
  readonly now: number;
  /** One frame only (`--once`): no "retrying", no key help. */
  readonly once?: boolean;
}

const DEFAULT_URL = 'http://127.0.0.1:9598';

/** The api URL from the flags: `--api`, else the config's `api.address`. */
const resolveUrl = async (v: { api?: string; config?: string }, cwd: string): Promise<string> => {
  if (v.api !== undefined && v.config !== undefined) throw new TopUsageError('sluice top: give --api or --config, not both (see sluice top --help)');
  if (v.api !== undefined) {
    const raw = /^https?:\/\//.test(v.api) ? v.api : `http://${v.api}`;
    try {
      return new URL(raw).toString().replace(/\/$/, '');
    } catch {
      throw new TopUsageError(`sluice top: --api ${JSON.stringify(v.api)} is not a URL (e.g. http://127.0.0.1:9598)`);
    }
  }
  const file = v.config ?? (existsSync(join(cwd, DEFAULT_CONFIG_FILE)) ? join(cwd, DEFAULT_CONFIG_FILE) : undefined);
  if (file === undefined) return DEFAULT_URL;
  const config = await loadConfigFile(file, agentRegistry);
  if (config.api === undefined) {
    if (v.config === undefined) return DEFAULT_URL;
    throw new TopUsageError(`sluice top: ${file} has no api.address; add api: { address: "127.0.0.1:9598" } and restart the agent, or pass --api URL`);
  }
  const host = config.api.host === '0.0.0.0' ? '127.0.0.1' : config.api.host === '::' ? '[::1]' : config.api.host;
  return `http://${host}:${config.api.port}`;
};

const SGR = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', yellow: '\x1b[33m', green: '\x1b[32m', inverse: '\x1b[7m' } as const;

/** Cuts `s` to `n` columns (an ellipsis marks the cut) and pads it to exactly `n` when `pad`. */
const fit = (s: string, n: number, pad = true): string => {
  const chars = [...s];
  if (chars.length > n) return `${chars.slice(0, Math.max(0, n - 1)).join('')}…`;
  return pad ? s + ' '.repeat(n - chars.length) : s;
};
const right = (s: string, n: number): string => (s.length >= n ? s.slice(0, n) : ' '.repeat(n - s.length) + s);

const bytes = (n: number): string => {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(n) : n.toFixed(1)}${u[i]}`;
};

const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 19);

/** One frame as lines of at most `o.width` visible columns (colour codes aside). */
export const renderTop = (s: StatusJson | undefined, error: string | undefined, o: TopOptions): string[] => {
  const w = Math.max(40, o.width);
  const paint = (code: string, text: string): string => (o.color ? `${code}${text}${SGR.reset}` : text);
  const lines: string[] = [];
  const header = s
    ? `sluice ${s.version}  ${s.status}  up ${duration(s.uptime_seconds)}  queue ${bytes(s.queue.bytes_on_disk)} of ${bytes(s.queue.max_bytes)}${s.queue.full ? ' FULL' : ''}`
    : 'sluice top';
  const time = clock(o.now);
  lines.push(paint(SGR.bold, fit(header, w - time.length - 1)) + ' ' + time);
  if (error !== undefined) lines.push(paint(SGR.red, fit(`cannot reach ${o.url}: ${error}${o.once ? '' : '; retrying every second'}`, w, false)));
  if (s) {
    lines.push('');
    // name 18, type 8, then numbers: 18+1+8+1+10+1+11+1+10 = 61 columns.
    lines.push(paint(SGR.bold, fit(`${fit('SOURCE', 18)} ${fit('TYPE', 8)} ${right('EVENTS/S', 10)} ${right('BYTES/S', 11)} ${right('EVENTS', 10)}`, w, false)));
    for (const [id, c] of Object.entries(s.sources)) {
      lines.push(fit(`${fit(id, 18)} ${fit(c.type, 8)} ${right(count(c.events_per_second), 10)} ${right(`${bytes(c.bytes_per_second)}/s`, 11)} ${right(count(c.events), 10)}`, w, false));
    }
    lines.push('');
    // name 18, type 8, events/s 9, backlog 9, oldest 8, state: the rest (80 columns: 23).
    const stateWidth = Math.max(8, w - (18 + 1 + 8 + 1 + 9 + 1 + 9 + 1 + 8 + 2));
    lines.push(paint(SGR.bold, fit(`${fit('SINK', 18)} ${fit('TYPE', 8)} ${right('EVENTS/S', 9)} ${right('BACKLOG', 9)} ${right('OLDEST', 8)}  STATE`, w, false)));
    for (const [id, c] of Object.entries(s.sinks)) {
      const behind = c.behind ? (c.behind.eta_seconds === null ? 'behind' : 'catching up') : undefined;
      const state = c.failing ? `FAILING ${c.retries} retries` : (behind ?? 'ok');
      const age = c.oldest_unacked_age_seconds === null ? '-' : duration(c.oldest_unacked_age_seconds);
      const left = `${fit(id, 18)} ${fit(c.type, 8)} ${right(count(c.events_per_second), 9)} ${right(count(c.backlog_events), 9)} ${right(age, 8)}  `;
      const code = c.failing ? SGR.red : c.behind ? SGR.yellow : SGR.green;
      lines.push(left + paint(code, fit(state, stateWidth, false)));
      if (c.failing && c.last_error !== null) lines.push(paint(SGR.red, fit(`  ! ${c.last_error}`, w, false)));
      if (c.behind) {
        const eta = c.behind.eta_seconds === null ? 'not shrinking' : `about ${duration(c.behind.eta_seconds)} left`;
        lines.push(paint(SGR.yellow, fit(`  > ${behind ?? 'behind'}: ${count(c.backlog_events)} events left, ${count(c.behind.events_per_second)}/s, ${eta}`, w, false)));
      }
    }
    const footerRows = 2;
    const room = o.height - lines.length - footerRows - 2;
    if (room > 0) {
      lines.push('');
      lines.push(paint(SGR.bold, 'RECENT WARNINGS'));
      const recent = s.warnings.slice(-(room - 1 > 0 ? room - 1 : 1));
      if (recent.length === 0) lines.push(paint(SGR.dim, 'none'));
      for (const warning of recent) {
        const level = warning.level === 'error' ? 'ERROR' : 'WARN';
        const text = fit(`${clock(Date.parse(warning.time))} ${level} ${warning.message}`, w, false);
        lines.push(warning.level === 'error' ? paint(SGR.red, text) : text);
      }
    }
  }
  lines.push('');
  lines.push(paint(SGR.dim, fit(o.once ? o.url : `q quit · refreshes every second · ${o.url}`, w, false)));
  // A terminal narrower than the columns above: cut what is too long (its colour goes with it).
  return lines.map((l) => {
    const plain = stripSgr(l);
    return [...plain].length > w ? fit(plain, w, false) : l;
  });
};

 
const stripSgr = (s: string): string => s.replace(/\x1b\[\d+m/g, '');

const fetchStatus = async (url: string): Promise<StatusJson> => {
  const res = await fetch(`${url}/api/status`, { signal: AbortSignal.timeout(900) });
  if (!res.ok) throw new Error(`HTTP ${res.status}${res.status === 404 ? ' (an agent older than the status api?)' : ''}`);
  return (await res.json()) as StatusJson;
};

/** fetch() says "fetch failed"; the reason (ECONNREFUSED, a timeout, …) is in its cause. */
const reason = (err: unknown): string => {
  const cause = (err as { cause?: unknown }).cause;
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return code;
  if (cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
};

/** Runs `sluice top`; resolves to the exit code. */
export const runTop = async (args: string[], io: { readonly out: (t: string) => void; readonly cwd: string }): Promise<number> => {
  let v: { api?: string; config?: string; once?: boolean; help?: boolean };
  try {
    v = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { api: { type: 'string' }, config: { type: 'string', short: 'c' }, once: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    throw new TopUsageError(`sluice top: ${err instanceof Error ? err.message : String(err)} (see sluice top --help)`);
  }
  if (v.help) {
    io.out(HELP_TOP);
    return 0;
  }
  const url = await resolveUrl(v, io.cwd);
  const tty = process.stdout.isTTY;
  const noColor = process.env['NO_COLOR'] !== undefined && process.env['NO_COLOR'] !== '';
  const options = (): TopOptions => ({
    width: tty ? process.stdout.columns || 80 : 80,
    height: tty ? process.stdout.rows || 24 : 24,
    color: tty && !noColor,
    url,
    now: Date.now(),
    once: v.once === true,
  });
  const frame = async (): Promise<{ lines: string[]; ok: boolean }> => {
    try {
      return { lines: renderTop(await fetchStatus(url), undefined, options()), ok: true };
    } catch (err) {
      return { lines: renderTop(undefined, reason(err), options()), ok: false };
    }
  };

  if (v.once) {
    const f = await frame();
    io.out(`${f.lines.join('\n')}\n`);
    return f.ok ? 0 : 1;
  }

  return new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const stdin = process.stdin;
    const onKey = (data: Buffer): void => {
      const k = data.toString('utf8');
      if (k === 'q' || k === 'Q' || k === '\x03' || k === '\x1b') stop();
    };
    const onSignal = (): void => stop();
    function stop(): void {
      if (stopped) return;
      stopped = true;
      if (timer) clearTimeout(timer);
      if (stdin.isTTY) {
        stdin.setRawMode(false);
        stdin.off('data', onKey);
        stdin.pause();
      }
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (tty) io.out('\x1b[?25h\x1b[?1049l');
      resolve(0);
    }
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      stdin.on('data', onKey);
      stdin.resume();
    }
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (tty) io.out('\x1b[?1049h\x1b[?25l');
    const tick = async (): Promise<void> => {
      const f = await frame();
      if (stopped) return;
      if (tty) io.out(`\x1b[H${f.lines.map((l) => `${l}\x1b[K`).join('\r\n')}\x1b[J`);
      else io.out(`${f.lines.join('\n')}\n\n`);
      timer = setTimeout(() => void tick(), 1000); // `void`: tick catches everything itself (frame() never rejects)
    };
    void tick(); // the first frame at once; tick never rejects (frame() turns errors into a frame)
  });
};
