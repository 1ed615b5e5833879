/** Helpers for end-to-end tests that spawn the real CLI (`node dist/src/cli/main.js`). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'node:test';

export const CLI = join(__dirname, '..', '..', 'src', 'cli', 'main.js');

export const withTempDir = async (fn: (dir: string) => Promise<void>): Promise<void> => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-agent-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI to completion. */
export const cli = (args: readonly string[], opts: { cwd: string; input?: string | Buffer; timeoutMs?: number }): CliResult => {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 20_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

export interface RunningAgent {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly stdout: () => Buffer;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Agents still running are killed, never left behind: after each test (a failed assertion, a test
 * that timed out; the tests of a file run one at a time, so every agent still running was started
 * by the test that just ended), and when the test file's process ends, by a signal too (the
 * runner's per-file timeout ends it with SIGTERM, which skips the 'exit' handlers).
 */
const running = new Set<ChildProcess>();
const killRunning = (): void => {
  for (const c of running) c.kill('SIGKILL');
};
afterEach(async () => {
  if (running.size === 0) return;
  const closed = [...running].map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('close', () => r()))));
  killRunning();
  await Promise.all(closed);
});
process.on('exit', killRunning);
for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killRunning();
    process.kill(process.pid, signal); // then end of it as before (the listener is gone)
  });
}

/** Starts `sluice run --config <config>` in the background. */
export const startAgent = (
  config: string,
  opts: { cwd: string; stdin?: 'pipe' | 'ignore'; stdout?: 'pipe' | 'ignore'; extra?: readonly string[] },
): RunningAgent => {
  const child = spawn(process.execPath, [CLI, 'run', '--config', config, ...(opts.extra ?? [])], {
    cwd: opts.cwd,
    stdio: [opts.stdin ?? 'ignore', opts.stdout ?? 'pipe', 'pipe'],
  });
  const err: Buffer[] = [];
  const out: Buffer[] = [];
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  running.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, exited, stderr: () => Buffer.concat(err).toString('utf8'), stdout: () => Buffer.concat(out) };
};

/** Polls `cond` every 20 ms until it holds; throws (with `what` and `detail()`) after `timeoutMs`. */
export const waitFor = async (
  what: string,
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
  detail: () => string = () => '',
): Promise<void> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail() ? `\n${detail()}` : ''}`);
    await sleep(20);
  }
};

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const writeConfig = async (dir: string, yaml: string, name = 'sluice.yaml'): Promise<string> => {
  const path = join(dir, name);
  await writeFile(path, yaml);
  return path;
};

export { mulberry32 as seededRandom } from '../util/random';

/** Counts each numbered line `<prefix><n>` in `text`: returns missing numbers and the duplicate count. */
export const tally = (text: string, prefix: string, total: number): { missing: number[]; duplicates: number; foreign: number } => {
  const seen = new Uint32Array(total);
  let foreign = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = line.startsWith(prefix) ? Number(line.slice(prefix.length).split(' ')[0]) : NaN;
    if (!Number.isInteger(m) || m < 0 || m >= total) foreign++;
    else seen[m] = (seen[m] ?? 0) + 1;
  }
  const missing: number[] = [];
  let duplicates = 0;
  seen.forEach((n, i) => {
    if (n === 0) missing.push(i);
    else duplicates += n - 1;
  });
  return { missing, duplicates, foreign };
};

/** A port nobody listens on right now (listen on 0, read it, close). */
export const freePort = async (): Promise<number> => {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  await new Promise((r) => srv.close(r));
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
};

/** The file's text, or '' while it does not exist yet. */
export const readIfAny = async (path: string): Promise<string> => (existsSync(path) ? readFile(path, 'utf8') : '');

/**
 * One object per non-empty whole line of NDJSON text: only up to the last newline, so a file read
 * while a sink is writing it never yields its partial last line as a parse failure.
 */
export const ndjsonObjects = (text: string): Record<string, unknown>[] =>
  text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
