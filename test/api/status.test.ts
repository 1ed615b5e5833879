/**
 * The operator's HTTP surface end to end (the real CLI): `/api/status` as docs/operations.md
 * documents it, the new Prometheus metrics, the status page's HTML, and the `sink.behind` progress
 * lines on stderr while a sink works off a large backlog.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor, withTempDir } from '../agent/helpers';
import { reachable, startOpsAgent } from './fixture';

test('/api/status names every source and sink, shows the failing sink with its error, retries and backlog, and / serves the page', async () => {
  await withTempDir(async (dir) => {
    const ops = await startOpsAgent(dir, 500);
    try {
      await waitFor('the api', () => reachable(ops.url), 20_000, ops.agent.stderr);
      await waitFor('archive has every line and broken has failed', async () => {
        const s = await ops.status();
        return s.sinks['archive']?.events === 500 && s.sinks['broken']?.failing === true;
      }, 20_000, ops.agent.stderr);
      const s = await ops.status();
      assert.equal(typeof s.version, 'string');
      assert.ok(s.uptime_seconds >= 0);
      assert.deepEqual(Object.keys(s.sources), ['app']);
      assert.deepEqual(Object.keys(s.sinks), ['archive', 'broken']);
      assert.deepEqual([s.sources['app']?.type, s.sources['app']?.events], ['file', 500]);
      const archive = s.sinks['archive'];
      assert.deepEqual(
        { failing: archive?.failing, backlog: archive?.backlog_events, age: archive?.oldest_unacked_age_seconds, error: archive?.last_error },
        { failing: false, backlog: 0, age: 0, error: null },
      );
      const broken = s.sinks['broken'];
      assert.equal(broken?.backlog_events, 500);
      assert.ok((broken?.retries ?? 0) >= 1);
      assert.match(broken?.last_error ?? '', /EISDIR/);
      assert.equal(broken?.dead_lettered_events, 0);
      assert.ok(broken?.oldest_unacked_age_seconds === null || broken.oldest_unacked_age_seconds >= 0);
      assert.equal(s.queue.max_bytes, 1024 ** 3);
      assert.equal(s.queue.full, false);
      assert.ok(s.warnings.some((w) => w.level === 'warn' && /^sink broken: write failed/.test(w.message)), JSON.stringify(s.warnings));

      const metrics = await (await fetch(`${ops.url}/metrics`)).text();
      assert.match(metrics, /^sluice_sink_backlog_events\{sink="broken"\} 500$/m);
      assert.match(metrics, /^sluice_sink_backlog_events\{sink="archive"\} 0$/m);
      assert.match(metrics, /^sluice_sink_oldest_unacked_age_seconds\{sink="archive"\} 0$/m);
      assert.match(metrics, /^sluice_sink_delivery_latency_seconds_bucket\{sink="archive",le="\+Inf"\} [1-9]\d*$/m);
      assert.match(metrics, /^sluice_sink_delivery_latency_seconds_count\{sink="broken"\} 0$/m);
      assert.match(metrics, /^# TYPE sluice_sink_delivery_latency_seconds histogram$/m);
      assert.match(metrics, /^sluice_queue_append_wait_seconds_total 0$/m);
      assert.match(metrics, /^sluice_build_info\{version="[^"]+",node="[^"]+"\} 1$/m);
      assert.match(metrics, /^sluice_uptime_seconds \d/m);
      assert.match(metrics, /^sluice_agent_events_total\{type="sink.failing"\} [1-9]/m);
      assert.match(metrics, /^sluice_source_events_total\{source="app"\} 500$/m); // the old names stay

      const page = await fetch(`${ops.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      const html = await page.text();
      assert.match(html, /<title>sluice status<\/title>/);
      assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=/); // nothing loaded from elsewhere
    } finally {
      ops.agent.child.kill('SIGTERM');
    }
    assert.equal((await ops.agent.exited).code, 0, ops.agent.stderr());
  });
});

test('a sink far behind reports its backlog, rate and time left every few seconds, and says when it has caught up', async () => {
  await withTempDir(async (dir) => {
    const ops = await startOpsAgent(dir, 150_000);
    try {
      await waitFor('a sink.behind line for broken', () => /INFO sink broken: 150k events behind/.test(ops.agent.stderr()), 30_000, ops.agent.stderr);
      assert.match(ops.agent.stderr(), /INFO sink broken: 150k events behind( \(oldest \d+s old\))?, not delivering, not shrinking/);
      const s = await ops.status();
      assert.notEqual(s.sinks['broken']?.behind, null);
      await ops.fix();
      await waitFor('broken caught up', () => /INFO sink broken: caught up/.test(ops.agent.stderr()), 60_000, ops.agent.stderr);
      await waitFor('every line in broken', async () => (await ops.status()).sinks['broken']?.events === 150_000, 30_000, ops.agent.stderr);
      const out = await readFile(join(dir, 'in-the-way'), 'utf8');
      assert.equal(out.split('\n').length - 1, 150_000);
      assert.equal((await ops.status()).sinks['broken']?.behind, null);
      assert.doesNotMatch(ops.agent.stderr(), /INFO sink archive: .* events behind/);
    } finally {
      ops.agent.child.kill('SIGTERM');
    }
    assert.equal((await ops.agent.exited).code, 0, ops.agent.stderr());
  });
});
