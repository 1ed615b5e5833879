/**
 * A queue that fails (a write or fsync error on its segment) stops the agent in order: sources
 * stopped, sinks drained as far as the queue can be read and closed, cursors persisted, the stopped
 * event emitted, exit 1 with the reason on one line. The real file source, queue and file sink run
 * on the simulated disk, which injects the EIO.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load';
import { createDiagnostics } from '../../src/core/diagnostics';
import type { AgentEvent } from '../../src/core/events';
import { Agent } from '../../src/pipeline/agent';
import { agentRegistry } from '../../src/cli/registry';
import { SimClock, SimFileSystem } from '../queue/sim-fs';

const CONFIG = `data_dir: /data
shutdown_timeout: 5s
sources:
  app:
    type: file
    include: ["/logs/app.log"]
    glob_interval_ms: 50
    read_buffer_bytes: 4KiB
sinks:
  out:
    type: file
    inputs: [app]
    path: /out/app.log
`;

const open = async (clock: SimClock, fs: SimFileSystem, out: string[]): Promise<Agent> => {
  const config = parseConfig(CONFIG, 'test.yaml', agentRegistry, {});
  const log = createDiagnostics({ level: 'info', write: (l) => void out.push(l), now: () => 0 });
  const opened = await clock.runUntil(Agent.open({ config, log, ports: { clock, random: { next: () => 0 }, fs, readFs: fs.readView() }, cwd: '/' }), { settleRealIo: true });
  assert.equal(opened.status, 'resolved');
  return (opened as { value: Agent }).value;
};

const lines = (from: number, n: number): string => Array.from({ length: n }, (_, i) => `line ${from + i}\n`).join('');

test('a queue I/O failure stops the agent in order: sources stopped, sinks closed, agent.stopped emitted, exit 1 with one line saying why', async () => {
  let failSegments = false;
  const clock = new SimClock();
  const fs = new SimFileSystem({
    seed: 7,
    clock,
    faults: { rule: (syscall, path) => (failSegments && path.includes('/queue/seg-') && (syscall === 'writev' || syscall === 'fdatasync') ? 'EIO' : null) },
  });
  for (const d of ['/data', '/logs', '/out']) fs.mkdirDurable(d);
  fs.putDurable('/logs/app.log', Buffer.from(lines(0, 100)));
  const config = parseConfig(CONFIG, 'test.yaml', agentRegistry, {});
  const out: string[] = [];
  const log = createDiagnostics({ level: 'info', write: (l) => void out.push(l), now: () => 0 });
  const opened = await clock.runUntil(Agent.open({ config, log, ports: { clock, random: { next: () => 0 }, fs, readFs: fs.readView() }, cwd: '/' }), { settleRealIo: true });
  assert.equal(opened.status, 'resolved');
  const agent = (opened as { value: Agent }).value;
  const events: AgentEvent[] = [];
  agent.events.subscribe((e) => events.push(e));
  const sinkText = (): string => fs.peekDurable('/out/app.log')?.toString() ?? '';

  const ran = clock.runUntil(agent.run(), { maxMs: 120_000, settleRealIo: true });
  // Once the first lines are delivered, the queue's next segment write fails.
  const arm = (): void => {
    if (sinkText().includes('line 99\n')) {
      failSegments = true;
      fs.appendDurable('/logs/app.log', Buffer.from(lines(100, 100)));
    } else clock.setTimer(10, arm);
  };
  clock.setTimer(10, arm);
  const outcome = await ran;

  assert.equal(outcome.status, 'resolved', `run() resolves (got ${outcome.status}: ${String((outcome as { error?: unknown }).error)})`);
  assert.equal((outcome as { value: number }).value, 1);
  const types = events.map((e) => e.type);
  for (const t of ['queue.failed', 'agent.stopping', 'agent.stopped'] as const) assert.ok(types.includes(t), `${t} in ${types.join(', ')}`);
  assert.equal(types.at(-1), 'agent.stopped');
  assert.equal(sinkText(), lines(0, 100), 'what was delivered before the failure stays delivered');
  // Why, once: the queue's failure is an error line; the stop is reported, nothing else is an error.
  const errors = out.filter((l) => l.includes(' ERROR '));
  assert.equal(errors.length, 1, errors.join(''));
  assert.match(errors[0] ?? '', /ERROR queue: failed: SLUICE_QUEUE_IO: .*EIO/);
  assert.ok(out.some((l) => l.includes('INFO the queue failed: stopping intake')), out.join(''));
  assert.ok(out.at(-1)?.includes(' INFO stopped'), out.join(''));

  // The cursor and the file position were kept: a restart delivers the rest, once.
  failSegments = false;
  const again = await clock.runUntil(Agent.open({ config, log, ports: { clock, random: { next: () => 0 }, fs, readFs: fs.readView() }, cwd: '/' }), { settleRealIo: true });
  assert.equal(again.status, 'resolved');
  const agent2 = (again as { value: Agent }).value;
  const stopWhenDone = (): void => {
    if (sinkText().includes('line 199\n')) agent2.requestStop('test');
    else clock.setTimer(10, stopWhenDone);
  };
  clock.setTimer(10, stopWhenDone);
  const second = await clock.runUntil(agent2.run(), { maxMs: 120_000, settleRealIo: true });
  assert.equal(second.status, 'resolved');
  assert.equal((second as { value: number }).value, 0);
  assert.equal(sinkText(), lines(0, 200));
});

test('a queue whose close fails (its lock file cannot be removed): the agent still closes its sinks, emits agent.stopped and exits 1 with one line saying why', async () => {
  let failClose = false;
  const clock = new SimClock();
  const fs = new SimFileSystem({ seed: 3, clock, faults: { rule: (syscall, path) => (failClose && syscall === 'unlink' && path === '/data/queue/lock' ? 'EIO' : null) } });
  for (const d of ['/data', '/logs', '/out']) fs.mkdirDurable(d);
  fs.putDurable('/logs/app.log', Buffer.from(lines(0, 50)));
  const out: string[] = [];
  const agent = await open(clock, fs, out);
  const events: AgentEvent[] = [];
  agent.events.subscribe((e) => events.push(e));
  const stopWhenDelivered = (): void => {
    if ((fs.peekDurable('/out/app.log')?.toString() ?? '').includes('line 49\n')) {
      failClose = true;
      agent.requestStop('SIGTERM');
    } else clock.setTimer(10, stopWhenDelivered);
  };
  clock.setTimer(10, stopWhenDelivered);
  const outcome = await clock.runUntil(agent.run(), { maxMs: 120_000, settleRealIo: true });
  assert.equal(outcome.status, 'resolved', `run() resolves (got ${outcome.status}: ${String((outcome as { error?: unknown }).error)})`);
  assert.equal((outcome as { value: number }).value, 1);
  const types = events.map((e) => e.type);
  assert.ok(types.includes('agent.queue-close-failed'), types.join(', '));
  assert.equal(types.at(-1), 'agent.stopped');
  const errors = out.filter((l) => l.includes(' ERROR '));
  assert.equal(errors.length, 1, errors.join(''));
  assert.match(errors[0] ?? '', /ERROR queue: close failed: .*EIO/);
});
