/**
 * The nats sink through the real CLI against a real single-node nats-server started here: kill -9
 * of sluice and of the server while publishing, a missing stream, a line too large for a message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, startAgent, sleep, tally, waitFor, withTempDir, writeConfig, type RunningAgent } from './helpers';
import { addStream, client, fileToNats, natsMissing, readStream, startNats, streamMessages } from './nats-helpers';

const sinkConfig = (url: string, input: string, extra = ''): string =>
  fileToNats({ id: 'app', input, servers: [url], dataDir: './data', sink: ['max_message_bytes: 4KiB', 'max_backoff: 500ms', 'batch: { max_bytes: 64KiB }', 'request: { timeout: 5s, concurrency: 2 }'] }) + extra;

/** `count` numbered lines from `from`, ~100 bytes each. */
const lines = (from: number, count: number): string => {
  let s = '';
  for (let i = from; i < from + count; i++) s += `line-${i} ${'x'.repeat(90)}\n`;
  return s;
};

const killed = async (a: RunningAgent): Promise<void> => {
  a.child.kill('SIGKILL');
  await a.exited;
};

test('kill -9 of sluice five times and of nats-server once while publishing: every line exactly once in the stream', { skip: natsMissing, timeout: 120_000 }, async (t) => {
  await withTempDir(async (dir) => {
    const server = await startNats(dir);
    const nc = await client([server.url]);
    try {
      await addStream(nc, 'LOGS', ['logs.>']);
      const input = join(dir, 'app.log');
      await writeFile(input, '');
      const config = await writeConfig(dir, sinkConfig(server.url, input));
      const TOTAL = 12_000;
      const STEP = 2_000;
      let written = 0;
      const stderr: string[] = [];
      // Six rounds: each appends lines while an agent runs, then kills something mid-delivery.
      for (let round = 0; round < 6; round++) {
        const agent = startAgent(config, { cwd: dir });
        const before = await streamMessages(nc, 'LOGS');
        // Appended in slices while the agent runs, so the kill lands while lines are still arriving
        // and messages of one record are still unacknowledged.
        const appending = (async (): Promise<void> => {
          for (let k = 0; k < 8 && written < TOTAL; k++) {
            await appendFile(input, lines(written, STEP / 8));
            written += STEP / 8;
            await sleep(25);
          }
        })();
        await waitFor('messages published this round', async () => (await streamMessages(nc, 'LOGS')) > before + 3, 30_000, agent.stderr);
        await appending;
        if (round === 2) {
          // The server dies under the agent and comes back: the agent retries until acked.
          await server.kill();
          await sleep(300);
          await server.start();
          await sleep(200);
          await killed(agent);
        } else if (round < 5) {
          await killed(agent);
        } else {
          await waitFor(
            'every line in the stream',
            async () => (await streamMessages(nc, 'LOGS')) > 0 && tally((await readStream(nc, 'LOGS')).text, 'line-', TOTAL).missing.length === 0,
            60_000,
            agent.stderr,
          );
          agent.child.kill('SIGTERM');
          assert.equal((await agent.exited).code, 0, agent.stderr());
        }
        stderr.push(agent.stderr());
      }
      assert.equal(written, TOTAL);
      const { text, messages } = await readStream(nc, 'LOGS');
      const r = tally(text, 'line-', TOTAL);
      t.diagnostic(`${messages} messages, ${TOTAL} lines; duplicate acknowledgements reported: ${stderr.join('').includes('duplicate acknowledgement') ? 'yes' : 'no'}`);
      assert.deepEqual(r.missing, [], 'no line lost');
      assert.equal(r.duplicates, 0, 'no line twice');
      assert.equal(r.foreign, 0);
    } finally {
      await nc.close();
      await server.kill();
    }
  });
});

test('a missing stream is named in one line with how to create it, and delivery starts once it exists', { skip: natsMissing, timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const server = await startNats(dir);
    const nc = await client([server.url]);
    try {
      const input = join(dir, 'app.log');
      await writeFile(input, lines(0, 50));
      const agent = startAgent(await writeConfig(dir, sinkConfig(server.url, input)), { cwd: dir });
      await waitFor('the missing stream reported', () => agent.stderr().includes('no JetStream stream takes subject "logs.app"'), 20_000, agent.stderr);
      const line = agent.stderr().split('\n').find((l) => l.includes('no JetStream stream')) ?? '';
      assert.match(line, /ERROR sink bus: .*create one, e\.g\. nats stream add LOGS --subjects "logs\.>"/);
      assert.doesNotMatch(agent.stderr(), /\n\s+at /, 'no stack trace');
      await addStream(nc, 'LOGS', ['logs.>']);
      await waitFor('every line in the stream once it exists', async () => tally((await readStream(nc, 'LOGS')).text, 'line-', 50).missing.length === 0, 30_000, agent.stderr);
      agent.child.kill('SIGTERM');
      assert.equal((await agent.exited).code, 0, agent.stderr());
      assert.equal(tally((await readStream(nc, 'LOGS')).text, 'line-', 50).duplicates, 0);
    } finally {
      await nc.close();
      await server.kill();
    }
  });
});

test('a line longer than max_message_bytes is dead-lettered with its reason; the lines around it are published', { skip: natsMissing, timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const server = await startNats(dir);
    const nc = await client([server.url]);
    try {
      await addStream(nc, 'LOGS', ['logs.>']);
      const input = join(dir, 'app.log');
      await writeFile(input, `${lines(0, 20)}huge-${'y'.repeat(3000)}\n${lines(20, 20)}`);
      const agent = startAgent(await writeConfig(dir, sinkConfig(server.url, input).replace('max_message_bytes: 4KiB', 'max_message_bytes: 2KiB')), { cwd: dir });
      await waitFor('the other lines in the stream', async () => tally((await readStream(nc, 'LOGS')).text, 'line-', 40).missing.length === 0, 30_000, agent.stderr);
      await waitFor('the dead-letter entry', () => /dead-letter/i.test(agent.stderr()), 10_000, agent.stderr);
      agent.child.kill('SIGTERM');
      assert.equal((await agent.exited).code, 0, agent.stderr());
      const { text, messages } = await readStream(nc, 'LOGS');
      assert.equal(tally(text, 'line-', 40).foreign, 0, 'the huge line is not in the stream');
      assert.ok(messages >= 2, 'messages of at most 2KiB');
      const entries = await readdir(join(dir, 'data', 'dead_letter', 'bus'));
      assert.ok(entries.length >= 1, `dead-letter store: ${entries.join(', ')}`);
      assert.match(agent.stderr(), /above max_message_bytes \(2048\)/);
    } finally {
      await nc.close();
      await server.kill();
    }
  });
});

test('sluice validate states the guarantees of the nats routes, and a bad subject is one line naming the key', async () => {
  await withTempDir(async (dir) => {
    const config = await writeConfig(
      dir,
      `
data_dir: ./data
sources:
  from_bus: { type: nats, stream: LOGS, consumer: aggregator }
  app: { type: file, include: ["./in/*.log"] }
sinks:
  bus: { type: nats, inputs: [app], subject: "logs.{source}" }
  archive: { type: file, inputs: [from_bus], path: ./out.log }
`,
    );
    const r = cli(['validate', '--config', config], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /app \(file\) → bus \(nats\): no loss; exactly once into the stream within its duplicate_window/);
    assert.match(r.stdout, /from_bus \(nats\) → archive \(file\): exactly once from the stream into the queue/);
    const bad = await writeConfig(dir, `data_dir: ./data\nsources:\n  app: { type: stdin }\nsinks:\n  bus: { type: nats, inputs: [app], subject: "logs.*" }\n`, 'bad.yaml');
    const b = cli(['validate', '--config', bad], { cwd: dir });
    assert.equal(b.code, 2);
    assert.match(b.stderr, /sinks\.bus\.subject/);
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
  });
});
