/**
 * The http sink through the real CLI against a real HTTP receiver (a node:http server in this
 * process): outages, 503 + Retry-After, kill -9, 413 splits, 400 dead-letters and replay.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { appendFile, mkdir, readdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { CLI, cli, startAgent, waitFor, withTempDir, writeConfig, type RunningAgent } from './helpers';

interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

interface Seen {
  readonly key: string;
  readonly status: number;
  readonly events: { readonly event_id: number; readonly message: string }[];
}

/** A real HTTP receiver; `answer` decides each response from the events in the body. */
class Receiver {
  readonly seen: Seen[] = [];
  /** Accepted events by event id (a duplicate delivery overwrites its own entry). */
  readonly accepted = new Map<number, string>();
  acceptedRequests = 0;
  /** Event ids delivered again with another message (ids must be deterministic: never). */
  conflicts = 0;
  answer: (events: Seen['events'], body: Buffer) => Answer = () => ({ status: 200 });
  private server: Server | undefined;
  port = 0;

  async listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening: connections are refused until `listen` again. */
  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    const events = body
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { event_id: number; message: string });
    const a = this.answer(events, body);
    this.seen.push({ key: String(req.headers['idempotency-key']), status: a.status, events });
    if (a.status >= 200 && a.status < 300) {
      this.acceptedRequests++;
      for (const e of events) {
        const before = this.accepted.get(e.event_id);
        if (before !== undefined && before !== e.message) this.conflicts++;
        this.accepted.set(e.event_id, e.message);
      }
    }
    res.writeHead(a.status, a.headers);
    res.end(a.body ?? '');
  }
}

const config = (port: number, extra = ''): string =>
  `data_dir: ./data\nqueue:\n  cursor_flush_interval: 100ms\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n    glob_interval_ms: 50\n` +
  `sinks:\n  central:\n    type: http\n    inputs: [app]\n    uri: http://127.0.0.1:${port}/ingest\n    encoding: json\n    max_backoff: 500ms\n` +
  `    batch: { max_events: 500, timeout: 50ms }\n    request: { timeout: 5s, concurrency: 2 }\n${extra}`;

const lines = (from: number, to: number, pad = ''): string => {
  let s = '';
  for (let i = from; i < to; i++) s += `line ${i}${pad}\n`;
  return s;
};

/** The CLI without blocking this process (the receiver lives here: `cli()` would stall it). */
const cliAsync = (args: readonly string[], cwd: string, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (input !== undefined) child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

const stop = async (a: RunningAgent): Promise<number | null> => {
  a.child.kill('SIGTERM');
  return (await a.exited).code;
};

test('http sink: connections refused, then 503 with Retry-After, then 200, with kill -9 of sluice twice: every line arrives, replays keep their ids, keys name the event ids', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const rx = new Receiver();
    await rx.listen();
    await rx.close(); // the port is known; nothing listens: connections are refused
    const cfg = await writeConfig(dir, config(rx.port, '    compression: gzip\n'));
    await appendFile(join(dir, 'logs', 'app.log'), lines(0, 2000));
    let agent = startAgent(cfg, { cwd: dir });
    await waitFor('a refused connection reported', () => /sink central: write failed/.test(agent.stderr()), 20_000, agent.stderr);
    agent.child.kill('SIGKILL');
    await agent.exited;

    let unavailable = 0;
    rx.answer = () => (unavailable++ < 3 ? { status: 503, headers: { 'retry-after': '1' }, body: 'busy' } : { status: 200 });
    await rx.listen();
    agent = startAgent(cfg, { cwd: dir });
    await appendFile(join(dir, 'logs', 'app.log'), lines(2000, 4000));
    await waitFor('some lines accepted', () => rx.accepted.size > 0, 30_000, () => `${rx.accepted.size} accepted\n${agent.stderr()}`);
    assert.ok(rx.seen.some((s) => s.status === 503), 'the receiver answered 503 first');
    agent.child.kill('SIGKILL'); // while delivering: what was sent and not acked is sent again, with the same ids
    await agent.exited;
    await appendFile(join(dir, 'logs', 'app.log'), lines(4000, 5000));
    agent = startAgent(cfg, { cwd: dir });
    await waitFor('every line accepted', () => rx.accepted.size >= 5000, 30_000, () => `${rx.accepted.size} accepted\n${agent.stderr()}`);
    assert.equal(await stop(agent), 0, agent.stderr());

    const messages = new Set(rx.accepted.values());
    for (let i = 0; i < 5000; i++) assert.ok(messages.has(`line ${i}`), `line ${i} missing`);
    assert.equal(rx.accepted.size, 5000, 'one event id per line');
    assert.equal(rx.conflicts, 0, 'a replayed event id always carries the same line');
    for (const s of rx.seen) {
      const m = /^[A-Za-z0-9-]+:central:(\d+)-(\d+)$/.exec(s.key);
      assert.ok(m, `idempotency key ${s.key}`);
      assert.equal(Number(m[1]), s.events[0]?.event_id);
      assert.equal(Number(m[2]), s.events[s.events.length - 1]?.event_id);
    }
    await rx.close();
  });
});

test('http sink: 413 splits the group until it fits; a single event still too large is dead-lettered, the rest delivered', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const rx = new Receiver();
    rx.answer = (_events, body) => (body.length > 4000 ? { status: 413, body: 'too large' } : { status: 200 });
    await rx.listen();
    const cfg = await writeConfig(dir, config(rx.port));
    const huge = `line 300 ${'x'.repeat(6000)}\n`;
    await appendFile(join(dir, 'logs', 'app.log'), lines(0, 300) + huge + lines(301, 600));
    const agent = startAgent(cfg, { cwd: dir });
    await waitFor('every other line accepted', () => rx.accepted.size >= 599, 30_000, () => `${rx.accepted.size}\n${agent.stderr()}`);
    await waitFor('the huge line dead-lettered', () => /refused for good \(HTTP 413/.test(agent.stderr()), 20_000, agent.stderr);
    assert.equal(await stop(agent), 0, agent.stderr());
    assert.ok(rx.seen.some((s) => s.status === 413));
    const messages = new Set(rx.accepted.values());
    for (let i = 0; i < 600; i++) if (i !== 300) assert.ok(messages.has(`line ${i}`), `line ${i} missing`);
    const listed = cli(['dead-letter', 'list', '--config', cfg], { cwd: dir });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /ids (\d+)-\1 {2}1 event\(s\).*HTTP 413/);
    assert.match(listed.stdout, /^1 entry$/m);
    await rx.close();
  });
});

test('http sink: a 400 is dead-lettered with the response, later data is still delivered, and dead-letter replay resends it', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const rx = new Receiver();
    rx.answer = (events) => (events.some((e) => e.message.includes('poison')) ? { status: 400, body: '{"error":"field x is invalid"}' } : { status: 200 });
    await rx.listen();
    const cfg = await writeConfig(dir, config(rx.port));
    await appendFile(join(dir, 'logs', 'app.log'), 'poison 1\npoison 2\n');
    const agent = startAgent(cfg, { cwd: dir });
    await waitFor('the poison dead-lettered', () => /refused for good \(HTTP 400/.test(agent.stderr()), 20_000, agent.stderr);
    await appendFile(join(dir, 'logs', 'app.log'), lines(0, 100));
    await waitFor('later lines accepted', () => rx.accepted.size >= 100, 20_000, () => `${rx.accepted.size}\n${agent.stderr()}`);
    assert.equal(await stop(agent), 0, agent.stderr());

    const entries = await readdir(join(dir, 'data', 'dead_letter', 'central'));
    assert.equal(entries.filter((n) => n.endsWith('.dl')).length, 1, entries.join(', '));
    const listed = cli(['dead-letter', 'list', '--config', cfg], { cwd: dir });
    assert.match(listed.stdout, /2 event\(s\).*HTTP 400 Bad Request {2}response: .*field x is invalid/);

    rx.answer = () => ({ status: 200 });
    const replayed = await cliAsync(['dead-letter', 'replay', '--config', cfg], dir);
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.match(replayed.stdout, /replayed 1, kept 0/);
    const messages = new Set(rx.accepted.values());
    assert.ok(messages.has('poison 1') && messages.has('poison 2'));
    assert.match(cli(['dead-letter', 'list', '--config', cfg], { cwd: dir }).stdout, /^0 entries$/m);
    await rx.close();
  });
});

test('stdin ending while the runner lingers for more: the agent delivers before it exits, and 401 is retried and reported as an error', async () => {
  await withTempDir(async (dir) => {
    const rx = new Receiver();
    let unauthorized = 0;
    rx.answer = () => (unauthorized++ < 1 ? { status: 401, body: 'token expired' } : { status: 200 });
    await rx.listen();
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  in:\n    type: stdin\nsinks:\n  central:\n    type: http\n    inputs: [in]\n    uri: http://127.0.0.1:${rx.port}/\n` +
        `    encoding: json\n    max_backoff: 200ms\n    batch: { timeout: 300ms }\n`,
    );
    const r = await cliAsync(['run', '--config', cfg], dir, 'a\nb\n');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([...rx.accepted.values()].sort(), ['a', 'b']);
    assert.match(r.stderr, /ERROR sink central: write failed.*HTTP 401 Unauthorized: token expired.*needs an operator/);
    await rx.close();
  });
});

test('config: a sink that sends event ids is refused with queue.fsync: never', async () => {
  await withTempDir(async (dir) => {
    const cfg = await writeConfig(dir, config(9, '').replace('queue:\n', 'queue:\n  fsync: never\n'));
    const r = cli(['validate', '--config', cfg], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /queue\.fsync: sink central \(http\) sends event ids/);
  });
});
