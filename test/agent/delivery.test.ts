import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, rename, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, startAgent, tally, waitFor, withTempDir, writeConfig } from './helpers';
import { cursorName, decodeCursor } from '../../src/queue/format';

const numbered = (from: number, to: number, prefix = 'L'): string => {
  let s = '';
  for (let i = from; i < to; i++) s += `${prefix}${i} ${'p'.repeat(40)}\n`;
  return s;
};

const sizeOf = async (path: string): Promise<number> => {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
};

test('SIGTERM in the middle of a backlog, then restarts: every line is delivered exactly once', async () => {
  await withTempDir(async (dir) => {
    const TOTAL = 300_000;
    await mkdir(join(dir, 'logs'));
    const input = numbered(0, TOTAL);
    await writeFile(join(dir, 'logs', 'app.log'), input);
    // A tiny shutdown_timeout so a stop really leaves part of the backlog in the queue, and small
    // reads (one fsync'd record per 4 KiB) so the backlog takes seconds on a fast machine too.
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nshutdown_timeout: 5ms\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n    read_buffer_bytes: 4KiB\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
    );
    const out = join(dir, 'out.log');
    let stops = 0;
    for (let round = 0; round < 3; round++) {
      const agent = startAgent(cfg, { cwd: dir });
      const before = await sizeOf(out);
      // (a signal before Node has even started the program would kill it: nothing can catch that)
      await waitFor('the agent to run', () => agent.stderr().includes('running:'), 20_000, agent.stderr);
      await waitFor('the sink to make progress', async () => (await sizeOf(out)) > before || before === input.length, 20_000, agent.stderr);
      if ((await sizeOf(out)) < input.length) stops++;
      agent.child.kill('SIGTERM');
      const end = await agent.exited;
      assert.equal(end.code, 0, `signal ${String(end.signal)}\n${agent.stderr()}`);
    }
    const last = startAgent(cfg, { cwd: dir });
    await waitFor('the agent to run', () => last.stderr().includes('running:'), 20_000, last.stderr);
    await waitFor('every line', async () => (await sizeOf(out)) >= input.length, 30_000, last.stderr);
    last.child.kill('SIGTERM');
    assert.equal((await last.exited).code, 0, last.stderr());
    const t = tally(await readFile(out, 'utf8'), 'L', TOTAL);
    assert.deepEqual(t.missing.slice(0, 10), [], 'no line is missing');
    assert.equal(t.duplicates, 0, 'no line is delivered twice');
    assert.equal(t.foreign, 0);
    assert.equal(await readFile(out, 'utf8'), input, 'in order');
    assert.ok(stops >= 1, 'at least one stop happened mid-backlog');
  });
});

test('a failing sink retries and reports while the other sink keeps flowing; once fixed, everything arrives', async () => {
  await withTempDir(async (dir) => {
    const TOTAL = 20_000;
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'logs', 'app.log'), numbered(0, TOTAL));
    // The bad sink's path is a directory: every open fails with EISDIR (a real failure, even for root).
    await mkdir(join(dir, 'bad.log'));
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n` +
        `sinks:\n  good:\n    type: file\n    inputs: [app]\n    path: ./good.log\n` +
        `  bad:\n    type: file\n    inputs: [app]\n    path: ./bad.log\n    encoding: json\n    max_backoff: 200ms\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    try {
      const good = join(dir, 'good.log');
      await waitFor('the good sink to get every line', async () => (await sizeOf(good)) >= TOTAL * 43, 20_000, agent.stderr);
      await waitFor('a failure report', () => /WARN sink bad: write failed, retrying in \d+ms \(EISDIR: /.test(agent.stderr()), 10_000, agent.stderr);
      // more input while the bad sink is down still reaches the good one
      await appendFile(join(dir, 'logs', 'app.log'), numbered(TOTAL, TOTAL + 100));
      await waitFor('the appended lines in the good sink', async () => (await sizeOf(good)) >= (TOTAL + 100) * 43, 20_000, agent.stderr);
      await rmdir(join(dir, 'bad.log'));
      await waitFor(
        'the fixed sink to catch up',
        async () => (await readFile(join(dir, 'bad.log'), 'utf8').catch(() => '')).split('\n').length === TOTAL + 101,
        20_000,
        agent.stderr,
      );
      assert.match(agent.stderr(), /INFO sink bad: write succeeded after \d+ failed attempt\(s\)/);
    } finally {
      agent.child.kill('SIGTERM');
    }
    assert.equal((await agent.exited).code, 0, agent.stderr());
    const lines = (await readFile(join(dir, 'bad.log'), 'utf8')).trimEnd().split('\n');
    const messages = lines.map((l) => (JSON.parse(l) as { message: string }).message);
    assert.equal(tally(messages.join('\n'), 'L', TOTAL + 100).duplicates, 0);
    assert.equal(tally(messages.join('\n'), 'L', TOTAL + 100).missing.length, 0);
    const goodT = tally(await readFile(join(dir, 'good.log'), 'utf8'), 'L', TOTAL + 100);
    assert.equal(goodT.missing.length + goodT.duplicates, 0);
  });
});

test('a stuck stdout reader does not hold up the file sink, and nothing is lost once it reads again', async () => {
  await withTempDir(async (dir) => {
    const TOTAL = 50_000; // ~2 MB: far more than a pipe buffer
    await mkdir(join(dir, 'logs'));
    const input = numbered(0, TOTAL);
    await writeFile(join(dir, 'logs', 'app.log'), input);
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n` +
        `sinks:\n  file:\n    type: file\n    inputs: [app]\n    path: ./out.log\n  console:\n    type: stdout\n    inputs: [app]\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    const stdout = agent.child.stdout;
    assert.ok(stdout);
    const chunks: Buffer[] = [];
    stdout.pause(); // nobody reads: the pipe fills and the stdout sink must wait
    await waitFor('the file sink to get everything', async () => (await sizeOf(join(dir, 'out.log'))) >= input.length, 20_000, agent.stderr);
    stdout.on('data', (c: Buffer) => chunks.push(c));
    stdout.resume();
    await waitFor('stdout to get everything', () => chunks.reduce((n, c) => n + c.length, 0) >= input.length, 20_000, agent.stderr);
    agent.child.kill('SIGTERM');
    assert.equal((await agent.exited).code, 0, agent.stderr());
    assert.equal(Buffer.concat(chunks).toString(), input);
    assert.equal(await readFile(join(dir, 'out.log'), 'utf8'), input);
  });
});

test('SIGHUP makes the file sink reopen its path after a rename (logrotate), losing and repeating nothing', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const src = join(dir, 'logs', 'app.log');
    await writeFile(src, numbered(0, 1000));
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    const out = join(dir, 'out.log');
    await waitFor('the first lines', async () => (await sizeOf(out)) >= 1000 * 43, 20_000, agent.stderr);
    await rename(out, `${out}.1`);
    agent.child.kill('SIGHUP');
    await waitFor('the reopen to be logged', () => agent.stderr().includes('SIGHUP'), 10_000, agent.stderr);
    await appendFile(src, numbered(1000, 2000));
    await waitFor('the new file to get the new lines', async () => (await sizeOf(out)) >= 1000 * 43, 20_000, agent.stderr);
    agent.child.kill('SIGTERM');
    assert.equal((await agent.exited).code, 0, agent.stderr());
    assert.equal(await readFile(`${out}.1`, 'utf8'), numbered(0, 1000));
    assert.equal(await readFile(out, 'utf8'), numbered(1000, 2000));
  });
});

test('the json encoding on stdout gives one object per line with source, file and timestamp', async () => {
  await withTempDir(async (dir) => {
    const cfg2 = await writeConfig(
      dir,
      `data_dir: ./data2\nsources:\n  pipe:\n    type: stdin\nsinks:\n  console:\n    type: stdout\n    inputs: [pipe]\n    encoding: json\n`,
      'stdin.yaml',
    );
    const r2 = cli(['run', '--config', cfg2, '--log-level', 'error'], { cwd: dir, input: 'hello "world"\n\u00e9\\\n' });
    assert.equal(r2.code, 0, r2.stderr);
    const objs = r2.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(objs.map((o) => o['message']), ['hello "world"', '\u00e9\\']);
    for (const o of objs) {
      assert.equal(o['source'], 'pipe');
      assert.equal(o['file'], 'stdin'); // the stdin source's origin
      assert.match(String(o['timestamp']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
  });
});

test('the api serves Prometheus metrics with per-source and per-sink counts, and /health', async () => {
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'logs', 'app.log'), numbered(0, 1234));
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\napi:\n  address: 127.0.0.1:${port}\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    try {
      await waitFor('all lines', async () => (await sizeOf(join(dir, 'out.log'))) >= 1234 * 43, 20_000, agent.stderr);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^sluice_source_events_total\{source="app"\} 1234$/m);
      assert.match(metrics, /^sluice_sink_events_total\{sink="out"\} 1234$/m);
      assert.match(metrics, /^sluice_queue_appended_events_total 1234$/m);
      assert.match(metrics, /^sluice_sink_failing\{sink="out"\} 0$/m);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(health.status, 200);
      const body = (await health.json()) as Record<string, unknown>;
      assert.deepEqual({ status: body['status'], failing_sinks: body['failing_sinks'] }, { status: 'ok', failing_sinks: [] });
      // background failures are visible here too (none in this run)
      assert.deepEqual({ queue_full: body['queue_full'], cursor_persist_failing: body['cursor_persist_failing'] }, { queue_full: false, cursor_persist_failing: {} });
      assert.equal((body['events'] as Record<string, number>)['agent.started'], 1);
    } finally {
      agent.child.kill('SIGTERM');
    }
    assert.equal((await agent.exited).code, 0, agent.stderr());
  });
});

test('a closed stdout (EPIPE) is reported, not a crash; the lines stay queued and the next run delivers them', async () => {
  await withTempDir(async (dir) => {
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nshutdown_timeout: 1s\nsources:\n  pipe:\n    type: stdin\nsinks:\n  console:\n    type: stdout\n    inputs: [pipe]\n    max_backoff: 100ms\n`,
    );
    const input = numbered(0, 5000);
    const first = startAgent(cfg, { cwd: dir, stdin: 'pipe' });
    first.child.stdout?.destroy(); // the reader goes away before anything is written
    first.child.stdin?.end(input);
    const end = await first.exited;
    assert.equal(end.code, 1, first.stderr());
    assert.match(first.stderr(), /WARN sink console: write failed, retrying in \d+ms \(.*EPIPE/);
    assert.match(first.stderr(), /ERROR sink\(s\) console made no progress for 1000ms; giving up; their records stay queued/);
    assert.doesNotMatch(first.stderr(), /internal error/);
    const second = cli(['run', '--config', cfg, '--log-level', 'warn'], { cwd: dir, input: '' });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, input);
  });
});

test('a second SIGTERM while a stuck sink drains stops at once, and the next run delivers the rest', async () => {
  await withTempDir(async (dir) => {
    const TOTAL = 50_000;
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'logs', 'app.log'), numbered(0, TOTAL));
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nshutdown_timeout: 60s\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n` +
        `sinks:\n  console:\n    type: stdout\n    inputs: [app]\n`,
    );
    const first = startAgent(cfg, { cwd: dir });
    const chunks: Buffer[] = [];
    first.child.stdout?.pause(); // a reader that does not read: the stdout sink is stuck
    await waitFor('the backlog to be queued', () => first.stderr().includes('running:'), 20_000, first.stderr);
    await new Promise((r) => setTimeout(r, 300));
    first.child.kill('SIGTERM');
    await waitFor('the drain to start', () => first.stderr().includes('SIGTERM: stopping intake'), 10_000, first.stderr);
    const t0 = Date.now();
    first.child.kill('SIGTERM');
    first.child.stdout?.on('data', (c: Buffer) => chunks.push(c));
    const end = await first.exited; // (reading resumes only so the pipe can be emptied after the exit)
    first.child.stdout?.resume();
    assert.equal(end.code, 1, first.stderr());
    assert.ok(Date.now() - t0 < 30_000, 'stopped long before shutdown_timeout');
    assert.match(first.stderr(), /SIGTERM again: stopping now/);
    const second = startAgent(cfg, { cwd: dir });
    second.child.stdout?.on('data', (c: Buffer) => chunks.push(c));
    await waitFor(
      'every line',
      () => tally(Buffer.concat(chunks).toString(), 'L', TOTAL).missing.length === 0,
      20_000,
      second.stderr,
    );
    second.child.kill('SIGTERM');
    assert.equal((await second.exited).code, 0, second.stderr());
    const t = tally(Buffer.concat(chunks).toString(), 'L', TOTAL);
    assert.equal(t.foreign, 0);
    assert.deepEqual(t.missing, []);
  });
});

test('a sink persists its cursor right after its first delivery, so kill -9 soon after start does not replay it', async () => {
  await withTempDir(async (dir) => {
    const TOTAL = 1000;
    await mkdir(join(dir, 'logs'));
    await writeFile(join(dir, 'logs', 'app.log'), numbered(0, TOTAL));
    // A cursor timer far in the future: only the persist after the first delivery can save the cursor.
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nqueue:\n  cursor_flush_interval: 10m\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
    );
    const out = join(dir, 'out.log');
    const cursorFile = join(dir, 'data', 'queue', cursorName('out'));
    const persisted = async (): Promise<number> => {
      try {
        return decodeCursor(await readFile(cursorFile)) ?? 0;
      } catch {
        return 0;
      }
    };
    const first = startAgent(cfg, { cwd: dir });
    try {
      await waitFor('every line delivered', async () => (await sizeOf(out)) >= numbered(0, TOTAL).length, 20_000, first.stderr);
      // One source batch, one record, one delivery: its persisted cursor is past all TOTAL events.
      await waitFor('the cursor persisted after the first delivery', async () => (await persisted()) >= TOTAL, 10_000, first.stderr);
    } finally {
      first.child.kill('SIGKILL');
      await first.exited;
    }
    await appendFile(join(dir, 'logs', 'app.log'), numbered(TOTAL, TOTAL + 1));
    const second = startAgent(cfg, { cwd: dir });
    try {
      await waitFor('the line written after the restart', async () => (await readFile(out, 'utf8')).includes(`L${TOTAL} `), 20_000, second.stderr);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const t = tally(await readFile(out, 'utf8'), 'L', TOTAL + 1);
    assert.deepEqual(t.missing, []);
    assert.equal(t.duplicates, 0, 'what was delivered and persisted before kill -9 was replayed');
  });
});
