/**
 * `sluice top`: the frame it draws (80 columns, colour only when asked), the plain `--once` frame
 * through a pipe, and the real thing in tmux (a terminal of 100×30): it shows every component and
 * the failing sink, and `q` quits.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { CLI, cli, waitFor, withTempDir } from '../agent/helpers';
import { reachable, startOpsAgent } from '../api/fixture';
import type { StatusJson } from '../../src/api/status';
import { renderTop } from '../../src/cli/top';

const history = { events_per_second: [], bytes_per_second: [] };
const status: StatusJson = {
  version: '9.9.9',
  status: 'running',
  uptime_seconds: 3725,
  history_interval_seconds: 1,
  sources: { 'a-source-with-a-very-long-name-indeed': { type: 'file', events: 1_234_567, bytes: 99e6, events_per_second: 12_345, bytes_per_second: 1.5e6, history } },
  sinks: {
    archive: {
      type: 'file',
      events: 1_234_567,
      bytes: 99e6,
      events_per_second: 12_345,
      bytes_per_second: 1.5e6,
      backlog_events: 0,
      oldest_unacked_age_seconds: 0,
      failing: false,
      last_error: null,
      retries: 0,
      retries_by_reason: { network: 0, timeout: 0, http_429: 0, http_5xx: 0, http_4xx: 0, disk_full: 0, io: 0, nats: 0, other: 0 },
      dead_lettered_events: 0,
      invalid_records: 0,
      behind: null,
      history: { ...history, backlog_events: [] },
    },
    remote: {
      type: 'file',
      events: 10,
      bytes: 100,
      events_per_second: 0,
      bytes_per_second: 0,
      backlog_events: 2_500_000,
      oldest_unacked_age_seconds: 312,
      failing: true,
      last_error: `EACCES: permission denied, open '/srv/archive/${'x'.repeat(100)}.log'`,
      retries: 17,
      retries_by_reason: { network: 0, timeout: 0, http_429: 0, http_5xx: 0, http_4xx: 0, disk_full: 0, io: 17, nats: 0, other: 0 },
      dead_lettered_events: 0,
      invalid_records: 0,
      behind: { since_seconds: 300, events_per_second: 0, eta_seconds: null },
      history: { ...history, backlog_events: [] },
    },
  },
  queue: { bytes_on_disk: 300 * 1048576, max_bytes: 1024 ** 3, full: false, append_wait_seconds: 0 },
  warnings: [{ time: '2026-11-30T00:00:00.000Z', level: 'warn', message: `sink remote: write failed ${'y'.repeat(120)}` }],
};

const ESC = '\x1b';

test('a frame fits 80 columns, names every component, and shows the failing sink with its error and retries', () => {
  const lines = renderTop(status, undefined, { width: 80, height: 30, color: false, url: 'http://127.0.0.1:9598', now: Date.parse('2026-11-30T01:02:03Z') });
  const text = lines.join('\n');
  for (const l of lines) assert.ok([...l].length <= 80, `longer than 80 columns: ${JSON.stringify(l)}`);
  assert.ok(!text.includes(ESC), 'no escape codes without colour');
  assert.match(text, /^sluice 9\.9\.9 {2}running {2}up 1h02m {2}queue 300\.0MiB of 1\.0GiB +01:02:03$/m);
  assert.match(text, /^a-source-with-a-v… +file +12\.3k +1\.4MiB\/s +1\.23M$/m);
  assert.match(text, /^archive +file +12\.3k +0 +0s {2}ok$/m);
  assert.match(text, /^remote +file +0 +2\.50M +5m12s {2}FAILING 17 retries$/m);
  assert.match(text, /^ {2}! EACCES: permission denied, open '\/srv\/archive\/x+…$/m);
  assert.match(text, /^ {2}> behind: 2\.50M events left, 0\/s, not shrinking$/m);
  assert.match(text, /^RECENT WARNINGS$/m);
  assert.match(text, /^00:00:00 WARN sink remote: write failed y+…$/m);
  assert.match(lines[lines.length - 1] ?? '', /^q quit/);
});

test('a terminal narrower than 80 columns gets every line cut to its width', () => {
  for (const color of [false, true]) {
    const lines = renderTop(status, undefined, { width: 50, height: 30, color, url: 'http://127.0.0.1:9598', now: 0 });
     
    for (const l of lines) assert.ok([...l.replace(/\x1b\[\d+m/g, '')].length <= 50, `longer than 50 columns: ${JSON.stringify(l)}`);
  }
});

test('with colour the failing sink is red and the rest of the frame is unchanged', () => {
  const o = { width: 80, height: 30, url: 'http://127.0.0.1:9598', now: 0 };
  const plain = renderTop(status, undefined, { ...o, color: false });
  const coloured = renderTop(status, undefined, { ...o, color: true });
  assert.match(coloured.join('\n'), new RegExp(`${ESC}\\[31mFAILING 17 retries${ESC}\\[0m`));
   
  assert.deepEqual(coloured.map((l) => l.replace(/\x1b\[\d+m/g, '')), plain);
});

test('an agent that cannot be reached is said so, with the reason', () => {
  const lines = renderTop(undefined, 'ECONNREFUSED', { width: 80, height: 30, color: false, url: 'http://127.0.0.1:9', now: 0 });
  assert.match(lines.join('\n'), /^cannot reach http:\/\/127\.0\.0\.1:9: ECONNREFUSED; retrying every second$/m);
});

test('sluice top --help explains it, and sluice --help lists it', async () => {
  await withTempDir(async (dir) => {
    const help = cli(['top', '--help'], { cwd: dir });
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: sluice top \[--api URL \| --config FILE\]/);
    assert.match(help.stdout, /press q to quit/);
    assert.match(cli(['--help'], { cwd: dir }).stdout, /^ {2}sluice top \[--api URL \| --config FILE\] +watch a running agent/m);
    const bad = cli(['top', '--api', 'http://x', '--config', 'y.yaml'], { cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /give --api or --config, not both/);
    const down = cli(['top', '--once', '--api', 'http://127.0.0.1:9'], { cwd: dir });
    assert.equal(down.code, 1);
    assert.match(down.stdout, /^cannot reach http:\/\/127\.0\.0\.1:9: /m);
  });
});

test('through a pipe, top --once prints one plain frame of the running agent; --config finds the api address', async () => {
  await withTempDir(async (dir) => {
    const ops = await startOpsAgent(dir, 100);
    try {
      await waitFor('the api', () => reachable(ops.url), 20_000, ops.agent.stderr);
      await waitFor('broken failing', async () => (await ops.status()).sinks['broken']?.failing === true, 20_000, ops.agent.stderr);
      const r = cli(['top', '--once', '--config', 'sluice.yaml'], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stdout.includes(ESC), 'no escape codes through a pipe');
      for (const l of r.stdout.split('\n')) assert.ok([...l].length <= 80, `longer than 80 columns: ${JSON.stringify(l)}`);
      assert.match(r.stdout, /^app +file /m);
      assert.match(r.stdout, /^archive +file /m);
      assert.match(r.stdout, /^broken +file +\S+ +100 +\S+ {2}FAILING \d+ retries$/m);
      assert.match(r.stdout, /^ {2}! EISDIR/m);
    } finally {
      ops.agent.child.kill('SIGTERM');
    }
    assert.equal((await ops.agent.exited).code, 0, ops.agent.stderr());
  });
});

const tmuxMissing = spawnSync('tmux', ['-V']).status === 0 ? false : 'tmux is absent (apt-get install tmux; CI installs it with .ci/install-deps)';

test('in a terminal (tmux, 100×30) top draws every component and the failing sink in red, refreshes, and q quits; NO_COLOR drops the colour', { skip: tmuxMissing }, async () => {
  await withTempDir(async (dir) => {
    const ops = await startOpsAgent(dir, 100);
    const session = `sluice-top-${process.pid}`;
    const tmux = (...args: string[]): { code: number | null; out: string } => {
      const r = spawnSync('tmux', args, { encoding: 'utf8' });
      return { code: r.status, out: r.stdout };
    };
    const screen = (): string => tmux('capture-pane', '-p', '-t', session).out;
    try {
      await waitFor('the api', () => reachable(ops.url), 20_000, ops.agent.stderr);
      const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} top --api ${ops.url}`;
      assert.equal(tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', cmd).code, 0);
      await waitFor('top shows the failing sink', () => /^broken +file .*FAILING \d+ retries/m.test(screen()), 20_000, screen);
      const first = screen();
      assert.match(first, /^app +file /m);
      assert.match(first, /^archive +file +\S+ +0 +0s {2}ok/m);
      assert.match(first, /^ {2}! EISDIR/m);
      assert.match(first, /q quit · refreshes every second/);
      // It refreshes: new lines reach the screen without a key press.
      await ops.append(400);
      await waitFor('top shows the new backlog', () => /^broken +file +\S+ +500 /m.test(screen()), 20_000, screen);
      // On a terminal the failing state is red (capture-pane -e keeps the attributes).
      assert.match(tmux('capture-pane', '-p', '-e', '-t', session).out, new RegExp(`${ESC}\\[31mFAILING \\d+ retries`));
      tmux('send-keys', '-t', session, 'q');
      await waitFor('top quit on q (the session ends with it)', () => tmux('has-session', '-t', session).code !== 0, 10_000, screen);

      // NO_COLOR: the same screen without colour.
      assert.equal(tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `env NO_COLOR=1 ${cmd}`).code, 0);
      await waitFor('top (NO_COLOR) shows the failing sink', () => /^broken +file .*FAILING \d+ retries/m.test(screen()), 20_000, screen);
      assert.doesNotMatch(tmux('capture-pane', '-p', '-e', '-t', session).out, new RegExp(`${ESC}\\[3\\dm`));
      tmux('send-keys', '-t', session, 'q');
      await waitFor('top (NO_COLOR) quit on q', () => tmux('has-session', '-t', session).code !== 0, 10_000, screen);
    } finally {
      tmux('kill-session', '-t', session);
      ops.agent.child.kill('SIGTERM');
    }
    assert.equal((await ops.agent.exited).code, 0, ops.agent.stderr());
  });
});
