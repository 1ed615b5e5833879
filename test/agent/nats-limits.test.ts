/**
 * What the nats sink does with the stream's and the server's limits, through the real CLI against
 * one real nats-server started here with a small `max_payload` (4096 bytes): messages cut to fit it,
 * a line that cannot fit dead-lettered, and one WARN for a `duplicate_window` shorter than a replay
 * can reach.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { startAgent, sleep, tally, waitFor, writeConfig } from './helpers';
import { addStream, client, fileToNats, natsMissing, readStream, startNats, type NatsServer } from './nats-helpers';

let dir = '';
let server: NatsServer | undefined;
let nc: NatsConnection | undefined;

before(async () => {
  if (natsMissing !== undefined) return;
  dir = await mkdtemp(join(tmpdir(), 'sluice-nats-limits-'));
  server = await startNats(dir, [], ['max_payload: 4096']);
  nc = await client([server.url]);
  await addStream(nc, 'LOGS', ['logs.>']);
  // The JetStream default window (2 minutes): created without one.
  const { jetstreamManager } = await import('@nats-io/jetstream');
  await (await jetstreamManager(nc, { checkAPI: false })).streams.add({ name: 'SHORT', subjects: ['short.>'] });
});

after(async () => {
  await nc?.close();
  await server?.kill();
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

const config = (source: string, input: string, subject: string, maxMessage: string, maxBackoff = '300ms'): string =>
  fileToNats({ id: source, input, servers: [server?.url ?? ''], sink: [`subject: ${subject}`, `max_message_bytes: ${maxMessage}`, `max_backoff: ${maxBackoff}`, 'batch: { max_bytes: 64KiB }'] });

const lines = (prefix: string, from: number, count: number): string => {
  let s = '';
  for (let i = from; i < from + count; i++) s += `${prefix}${i} ${'x'.repeat(90)}\n`;
  return s;
};

test('max_message_bytes above the server max_payload: messages are cut to fit, a line that cannot fit is dead-lettered with the reason, one WARN says so', { skip: natsMissing, timeout: 30_000 }, async () => {
  const input = join(dir, 'big.log');
  await writeFile(input, `${lines('big-', 0, 100)}huge-${'y'.repeat(3500)}\n${lines('big-', 100, 100)}`);
  const agent = startAgent(await writeConfig(dir, config('big', input, 'logs.{source}', '8KiB'), 'big.yaml'), { cwd: dir });
  const stream = async (): Promise<{ text: string; messages: number }> => readStream(nc as NatsConnection, 'LOGS');
  await waitFor('every other line in the stream', async () => tally((await stream()).text, 'big-', 200).missing.length === 0, 15_000, agent.stderr);
  await waitFor('the dead-letter entry', () => /dead-letter/i.test(agent.stderr()), 10_000, agent.stderr);
  await sleep(300);
  agent.child.kill('SIGTERM');
  assert.equal((await agent.exited).code, 0, agent.stderr());
  const { text, messages } = await stream();
  assert.equal(tally(text, 'big-', 200).duplicates, 0);
  assert.doesNotMatch(text, /huge-/, 'the line above the limit is not in the stream');
  assert.ok(messages >= 7, `about 20 KB in messages of at most 3072 bytes: ${messages}`);
  // An id names the bytes: the record's first 3072 bytes at most.
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const first = await (await jetstreamManager(nc as NatsConnection, { checkAPI: false })).streams.getMessage('LOGS', { seq: 1 });
  const id = /:bus:0:0\+(\d+):text$/.exec(first?.header.get('Nats-Msg-Id') ?? '');
  assert.ok(id !== null && Number(id[1]) <= 3072 && Number(id[1]) > 2000, first?.header.get('Nats-Msg-Id'));
  const warns = agent.stderr().split('\n').filter((l) => l.includes("does not fit the server's max_payload"));
  assert.equal(warns.length, 1, agent.stderr());
  assert.match(warns[0] ?? '', /WARN sink bus: max_message_bytes \(8192\) does not fit the server's max_payload \(4096\): messages are cut to 3072 bytes/);
  const entries = await readdir(join(dir, 'data-big', 'dead_letter', 'bus'));
  assert.equal(entries.length, 1, entries.join(', '));
  const entry = await readFile(join(dir, 'data-big', 'dead_letter', 'bus', entries[0] as string), 'utf8');
  assert.match(entry, /above the server's max_payload less room for headers \(3072; max_message_bytes is 8192\)/);
  const errors = agent.stderr().split('\n').filter((l) => l.includes('ERROR'));
  assert.equal(errors.length, 1, 'only the dead-letter line: the sink never stalled on the limit');
  assert.match(errors[0] ?? '', /refused for good/);
});

test("a stream whose duplicate_window is shorter than a replay can reach is named in one WARN with the fix; a long enough one is not", { skip: natsMissing, timeout: 30_000 }, async () => {
  const input = join(dir, 'dw.log');
  await writeFile(input, lines('dw-', 0, 50));
  const agent = startAgent(await writeConfig(dir, config('dw', input, 'short.{source}', '2KiB', '30s'), 'dw.yaml'), { cwd: dir });
  await waitFor('every line in the stream', async () => tally((await readStream(nc as NatsConnection, 'SHORT')).text, 'dw-', 50).missing.length === 0, 15_000, agent.stderr);
  await waitFor('the warning', () => agent.stderr().includes('duplicate_window'), 5_000, agent.stderr);
  await writeFile(input, lines('dw-', 50, 50), { flag: 'a' });
  await waitFor('the later lines in the stream', async () => tally((await readStream(nc as NatsConnection, 'SHORT')).text, 'dw-', 100).missing.length === 0, 15_000, agent.stderr);
  agent.child.kill('SIGTERM');
  assert.equal((await agent.exited).code, 0, agent.stderr());
  const warns = agent.stderr().split('\n').filter((l) => l.includes('duplicate_window'));
  assert.equal(warns.length, 1, agent.stderr());
  assert.match(
    warns[0] ?? '',
    /WARN sink bus: stream "SHORT" drops a replayed message only within its duplicate_window of 2m, shorter than the 2m1s a replay can reach here \(max_backoff 30s \+ request\.timeout 30s \+ cursor_flush_interval 1s \+ 1m for a restart\): groups replayed later are stored twice; raise it: nats stream edit SHORT --dupe-window 24h/,
  );

  // LOGS keeps ids for an hour: more than 2m1s, no warning.
  const input2 = join(dir, 'dw2.log');
  await writeFile(input2, lines('dw2-', 0, 20));
  const quiet = startAgent(await writeConfig(dir, config('dw2', input2, 'logs.{source}', '2KiB'), 'dw2.yaml'), { cwd: dir });
  await waitFor('every line in the stream', async () => tally((await readStream(nc as NatsConnection, 'LOGS')).text, 'dw2-', 20).missing.length === 0, 15_000, quiet.stderr);
  await sleep(300);
  quiet.child.kill('SIGTERM');
  assert.equal((await quiet.exited).code, 0, quiet.stderr());
  assert.doesNotMatch(quiet.stderr(), /duplicate_window/, quiet.stderr());
});

test('a group partly stored under one max_message_bytes and replayed under another loses no line (an id names the bytes, not a chunk number)', { skip: natsMissing, timeout: 30_000 }, async () => {
  const { DiscardPolicy, jetstreamManager } = await import('@nats-io/jetstream');
  const jsm = await jetstreamManager(nc as NatsConnection, { checkAPI: false });
  // Takes two messages, refuses the rest: the first run's group is stored in part and retried.
  await jsm.streams.add({ name: 'CUT', subjects: ['cut.>'], max_msgs: 2, discard: DiscardPolicy.New, duplicate_window: 3_600_000_000_000 });
  const input = join(dir, 'cut.log');
  await writeFile(input, lines('cut-', 0, 40)); // one record of ~4 KB
  const yaml = (max: string): string => config('cut', input, 'cut.{source}', max).replace('data_dir:', 'shutdown_timeout: 500ms\ndata_dir:');
  const first = startAgent(await writeConfig(dir, yaml('1KiB'), 'cut.yaml'), { cwd: dir });
  await waitFor('two messages stored, the rest refused', async () => (await jsm.streams.info('CUT')).state.messages === 2 && /write failed/.test(first.stderr()), 10_000, first.stderr);
  first.child.kill('SIGTERM');
  assert.equal((await first.exited).code, 0, first.stderr());
  await jsm.streams.update('CUT', { max_msgs: -1 });
  // Restarted with larger messages: its chunks cover other byte ranges of the same record.
  const second = startAgent(await writeConfig(dir, yaml('2KiB'), 'cut.yaml'), { cwd: dir });
  await waitFor('every line in the stream', async () => tally((await readStream(nc as NatsConnection, 'CUT')).text, 'cut-', 40).missing.length === 0, 10_000, second.stderr).catch(() => undefined);
  second.child.kill('SIGTERM');
  assert.equal((await second.exited).code, 0, second.stderr());
  const { missing } = tally((await readStream(nc as NatsConnection, 'CUT')).text, 'cut-', 40);
  assert.deepEqual(missing, [], second.stderr());
});
