/**
 * Retries by reason and dead letters, as `/metrics` and `/api/status` show them: a real agent whose
 * http sink meets a port nobody listens on, then a real receiver that holds a request past
 * `request.timeout`, answers 503, 503, 429, then 400 (the group is dead-lettered), then 200; and a
 * file sink whose path is a directory. `sluice_sink_retries_total{sink,reason}` and
 * `retries_by_reason` count each attempt under its reason and add up to `retries`
 * (`sluice_sink_errors_total`); the refused event is counted in `dead_lettered_events` and
 * `sluice_sink_dead_lettered_events_total`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RETRY_REASONS, retryReasonOf } from '../../src/core/sink';
import { freePort, startAgent, waitFor, withTempDir, writeConfig } from '../agent/helpers';
import { reachable } from './fixture';

interface SinkStatusBody {
  failing: boolean;
  retries: number;
  retries_by_reason: Record<string, number>;
  dead_lettered_events: number;
}

const metric = (text: string, sink: string, reason: string): number | undefined => {
  const m = new RegExp(`^sluice_sink_retries_total\\{sink="${sink}",reason="${reason}"\\} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

test('sluice_sink_retries_total and retries_by_reason count refused connections, timeouts, 503s, a 429 and a directory in the way, each under its reason', async () => {
  await withTempDir(async (dir) => {
    const [apiPort, rxPort] = [await freePort(), await freePort()];
    await mkdir(join(dir, 'logs'));
    await mkdir(join(dir, 'in-the-way'));
    await writeFile(join(dir, 'logs', 'app.log'), 'first line\n');
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nshutdown_timeout: 1s\napi:\n  address: 127.0.0.1:${apiPort}\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n` +
        `sinks:\n  remote:\n    type: http\n    inputs: [app]\n    uri: http://127.0.0.1:${rxPort}/ingest\n    max_backoff: 200ms\n    request: { timeout: 300ms }\n` +
        `  broken:\n    type: file\n    inputs: [app]\n    path: ./in-the-way\n    max_backoff: 200ms\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    const url = `http://127.0.0.1:${apiPort}`;
    let server: Server | undefined;
    try {
      await waitFor('the api', () => reachable(url), 20_000, agent.stderr);
      const status = async (): Promise<Record<string, SinkStatusBody>> =>
        ((await (await fetch(`${url}/api/status`)).json()) as { sinks: Record<string, SinkStatusBody> }).sinks;
      // Nobody listens on the receiver's port yet: refused connections.
      await waitFor('a refused connection counted', async () => ((await status()).remote?.retries_by_reason.network ?? 0) >= 1, 20_000, agent.stderr);

      // The receiver: first holds one request past request.timeout, then 503, 503, 429, 400, then 200.
      const answers = ['hold', 503, 503, 429, 400] as const;
      let n = 0;
      server = createServer((req, res) => {
        req.resume();
        const a = answers[n++] ?? 200;
        if (a === 'hold') return; // no answer: the sink's request.timeout cuts it
        res.writeHead(a, a === 429 ? { 'retry-after': '0' } : {});
        res.end(a === 200 ? '' : 'busy');
      });
      await new Promise<void>((r) => server?.listen(rxPort, '127.0.0.1', r));
      await appendFile(join(dir, 'logs', 'app.log'), 'second line\n');
      await waitFor('the receiver answered 200', () => n > answers.length, 30_000, agent.stderr);
      await waitFor('the remote sink recovered', async () => (await status()).remote?.failing === false, 20_000, agent.stderr);

      const s = await status();
      const remote = s.remote as SinkStatusBody;
      assert.deepEqual(Object.keys(remote.retries_by_reason).sort(), [...RETRY_REASONS].sort());
      assert.ok((remote.retries_by_reason.network ?? 0) >= 1, JSON.stringify(remote));
      assert.equal(remote.retries_by_reason.timeout, 1, JSON.stringify(remote));
      assert.equal(remote.retries_by_reason.http_5xx, 2, JSON.stringify(remote));
      assert.equal(remote.retries_by_reason.http_429, 1, JSON.stringify(remote));
      assert.equal(remote.retries_by_reason.http_4xx, 0);
      assert.equal(remote.retries, Object.values(remote.retries_by_reason).reduce((a, b) => a + b, 0), 'the reasons add up to retries');
      const broken = s.broken as SinkStatusBody;
      assert.ok((broken.retries_by_reason.io ?? 0) >= 1, `EISDIR is an io failure: ${JSON.stringify(broken)}`);
      assert.equal(broken.retries_by_reason.network, 0);
      assert.equal(broken.dead_lettered_events, 0);
      // The 400 refused the group being retried: the one event of 'first line', kept in the dead-letter store.
      assert.equal(remote.dead_lettered_events, 1, JSON.stringify(remote));

      const text = await (await fetch(`${url}/metrics`)).text();
      assert.equal(metric(text, 'remote', 'http_5xx'), 2, text);
      assert.equal(metric(text, 'remote', 'http_429'), 1);
      assert.equal(metric(text, 'remote', 'timeout'), 1);
      assert.ok((metric(text, 'remote', 'network') ?? 0) >= 1);
      assert.ok((metric(text, 'broken', 'io') ?? 0) >= 1);
      assert.equal(metric(text, 'broken', 'disk_full'), 0, 'every reason is a series from the start');
      const one = (name: string): number | undefined => {
        const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
        return m ? Number(m[1]) : undefined;
      };
      assert.equal(one('sluice_sink_errors_total{sink="remote"}'), remote.retries);
      assert.equal(one('sluice_sink_dead_lettered_events_total{sink="remote"}'), 1);
      assert.equal(one('sluice_sink_dead_letter_blocked{sink="remote"}'), 0);
      assert.equal(one('sluice_sink_failing{sink="remote"}'), 0);
      assert.equal(one('sluice_sink_failing{sink="broken"}'), 1);
      assert.equal(one('sluice_queue_max_bytes'), 1024 ** 3);
      assert.equal(one('sluice_queue_full'), 0);
      assert.equal(one('sluice_agent_events_total{type="sink.dead-lettered"}'), 1);
    } finally {
      agent.child.kill('SIGTERM');
      await agent.exited;
      server?.closeAllConnections();
      await new Promise((r) => (server ? server.close(r) : r(undefined)));
    }
  });
});

test('a reason the sink gives wins; otherwise it is read from the error code or name (timeout or abort, full disk, network, other I/O)', () => {
  const err = (code: string): Error => Object.assign(new Error(code), { code });
  assert.equal(retryReasonOf({ error: err('ECONNRESET'), reason: 'nats' }), 'nats');
  assert.equal(retryReasonOf({ error: err('SLUICE_SINK_TIMEOUT') }), 'timeout');
  assert.equal(retryReasonOf({ error: new DOMException('aborted', 'AbortError') }), 'timeout');
  assert.equal(retryReasonOf({ error: Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ABORT_ERR' }) }), 'timeout');
  assert.equal(retryReasonOf({ error: err('ENOSPC') }), 'disk_full');
  assert.equal(retryReasonOf({ error: err('EDQUOT') }), 'disk_full');
  assert.equal(retryReasonOf({ error: err('ECONNREFUSED') }), 'network');
  assert.equal(retryReasonOf({ error: err('EISDIR') }), 'io');
  assert.equal(retryReasonOf({ error: err('EIO') }), 'io');
  assert.equal(retryReasonOf({ error: new Error('no code') }), 'other');
  assert.equal(retryReasonOf({ error: 'a string' }), 'other');
});
