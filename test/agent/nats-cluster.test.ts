/**
 * The nats sink against a real 3-node JetStream cluster on loopback with an R3 stream: one node
 * killed (writes go on), then two (no quorum: the sink retries and loses nothing), then both back
 * (no duplicate added).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep, startAgent, tally, waitFor, withTempDir, writeConfig, type RunningAgent } from './helpers';
import { addStream, client, fileToNats, killAll, natsMissing, readStream, startCluster } from './nats-helpers';

const lines = (from: number, count: number): string => {
  let s = '';
  for (let i = from; i < from + count; i++) s += `line-${i} ${'c'.repeat(50)}\n`;
  return s;
};

test('an R3 stream on a 3-node cluster: one node down writes go on, two down the sink retries, loses nothing and adds no duplicate after recovery', { skip: natsMissing, timeout: 150_000 }, async (t) => {
  await withTempDir(async (dir) => {
    const nodes = await startCluster(dir);
    const urls = nodes.map((n) => n.url);
    const nc = await client(urls);
    let agent: RunningAgent | undefined;
    try {
      await addStream(nc, 'LOGS', ['logs.>'], 3);
      const input = join(dir, 'app.log');
      await writeFile(input, '');
      const config = await writeConfig(
        dir,
        fileToNats({ id: 'app', input, servers: urls, dataDir: './data', sink: ['max_message_bytes: 4KiB', 'max_backoff: 1s', 'request: { timeout: 5s }'] }),
      );
      agent = startAgent(config, { cwd: dir });
      const a = agent;
      // Reading needs a consumer on the stream, which a cluster losing a node may refuse for a moment: retried by waitFor.
      const has = async (n: number): Promise<boolean> => {
        try {
          return tally((await readStream(nc, 'LOGS')).text, 'line-', n).missing.length === 0;
        } catch {
          return false;
        }
      };

      await appendFile(input, lines(0, 1000));
      await waitFor('the first lines in the stream', () => has(1000), 40_000, a.stderr);

      // One node down: a majority of the replicas remains; writes go on.
      await (nodes[2] as (typeof nodes)[number]).kill();
      await appendFile(input, lines(1000, 1000));
      await waitFor('writes going on with one node down', () => has(2000), 40_000, a.stderr);

      // Two down: no quorum. The sink retries; the lines wait in the agent's queue.
      await (nodes[1] as (typeof nodes)[number]).kill();
      await appendFile(input, lines(2000, 1000));
      await waitFor('the sink failing without quorum', () => a.stderr().includes('sink bus: write failed'), 40_000, a.stderr);
      await sleep(1000);
      t.diagnostic(`the failure reported: ${(a.stderr().match(/sink bus: write failed[^\n]*/) ?? [''])[0].slice(0, 200)}`);

      // Both back: the backlog is delivered, and what was in flight when quorum was lost is not added twice.
      await Promise.all([(nodes[1] as (typeof nodes)[number]).start(), (nodes[2] as (typeof nodes)[number]).start()]);
      await appendFile(input, lines(3000, 1000));
      await waitFor('every line after recovery', () => has(4000), 90_000, a.stderr);
      agent.child.kill('SIGTERM');
      assert.equal((await agent.exited).code, 0, agent.stderr());
      assert.match(agent.stderr(), /sink bus: write succeeded after \d+ failed attempt/);
      const r = tally((await readStream(nc, 'LOGS')).text, 'line-', 4000);
      assert.deepEqual(r.missing, []);
      assert.equal(r.duplicates, 0);
      assert.equal(r.foreign, 0);
    } finally {
      agent?.child.kill('SIGKILL');
      await nc.close().catch(() => undefined);
      await killAll(nodes);
    }
  });
});
