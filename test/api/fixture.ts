/**
 * A running agent for the operations tests: a file source `app`, a file sink `archive` that works
 * and a file sink `broken` whose path is a directory (it fails and retries until the directory is
 * removed), and the api on a free port. `append()` adds numbered lines to the source file.
 */
import { appendFile, mkdir, rmdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startAgent, writeConfig, type RunningAgent } from '../agent/helpers';

export const freePort = (): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });

export interface OpsAgent {
  readonly agent: RunningAgent;
  readonly url: string;
  readonly dir: string;
  /** Appends `n` more numbered lines to the source file. */
  append(n: number): Promise<void>;
  /** Removes the directory in the way of the `broken` sink: it recovers on its next retry. */
  fix(): Promise<void>;
  status(): Promise<StatusBody>;
}

export interface StatusBody {
  version: string;
  uptime_seconds: number;
  sources: Record<string, { type: string; events: number; events_per_second: number }>;
  sinks: Record<
    string,
    {
      type: string;
      events: number;
      backlog_events: number;
      oldest_unacked_age_seconds: number | null;
      failing: boolean;
      last_error: string | null;
      retries: number;
      dead_lettered_events: number;
      behind: { eta_seconds: number | null } | null;
    }
  >;
  queue: { bytes_on_disk: number; max_bytes: number; full: boolean };
  warnings: { time: string; level: string; message: string }[];
}

export const startOpsAgent = async (dir: string, initialLines: number): Promise<OpsAgent> => {
  const port = await freePort();
  await mkdir(join(dir, 'logs'));
  await mkdir(join(dir, 'in-the-way'));
  let next = 0;
  const lines = (n: number): string => {
    let s = '';
    for (let i = 0; i < n; i++) s += `line ${next++} of the operations test\n`;
    return s;
  };
  await writeFile(join(dir, 'logs', 'app.log'), lines(initialLines));
  const cfg = await writeConfig(
    dir,
    `data_dir: ./data\nshutdown_timeout: 2s\napi:\n  address: 127.0.0.1:${port}\n` +
      `sources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n` +
      `sinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ./out.log\n` +
      `  broken:\n    type: file\n    inputs: [app]\n    path: ./in-the-way\n    max_backoff: 500ms\n`,
  );
  const agent = startAgent(cfg, { cwd: dir });
  const url = `http://127.0.0.1:${port}`;
  return {
    agent,
    url,
    dir,
    append: (n) => appendFile(join(dir, 'logs', 'app.log'), lines(n)),
    fix: () => rmdir(join(dir, 'in-the-way')),
    status: async () => (await (await fetch(`${url}/api/status`)).json()) as StatusBody,
  };
};

/** The status once the agent answers (it starts listening before the sinks run). */
export const reachable = async (url: string): Promise<boolean> => {
  try {
    return (await fetch(`${url}/api/status`)).ok;
  } catch {
    return false;
  }
};
