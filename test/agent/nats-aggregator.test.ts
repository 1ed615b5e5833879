/**
 * Scale-out through the real CLI: two edge agents publish into a JetStream stream, an aggregator
 * agent consumes it (the nats source) and is killed -9 three times while lines flow.
 *
 * What is exact here, hop by hop: edge → stream by `Nats-Msg-Id`; stream → the aggregator's queue by
 * the stored sequences riding in its queue records. The aggregator writes to a file (what a user
 * runs) and copies into a second stream through a nats sink — that copy deduplicates the
 * aggregator's own replays by record id, so a line found twice in it can only have been appended
 * twice to the aggregator's queue: it measures the source hop alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readIfAny, sleep, startAgent, tally, waitFor, withTempDir, writeConfig, type RunningAgent } from './helpers';
import { addStream, client, fileToNats, natsMissing, readStream, startNats } from './nats-helpers';

const edgeConfig = (url: string, id: string, input: string): string =>
  fileToNats({ id, input, servers: [url], sink: ['encoding: json', 'max_message_bytes: 8KiB', 'max_backoff: 500ms'] });

const aggregatorConfig = (url: string, out: string): string => `
data_dir: ./data-aggregator
sources:
  from_bus:
    type: nats
    servers: [${JSON.stringify(url)}]
    stream: LOGS
    consumer: aggregator
    ack_wait: 2s
sinks:
  archive:
    type: file
    inputs: [from_bus]
    path: ${JSON.stringify(out)}
    encoding: text
  copy:
    type: nats
    inputs: [from_bus]
    servers: [${JSON.stringify(url)}]
    subject: out.all
    max_backoff: 500ms
`;

/** The `message` of each JSON line, one per line (the edges publish NDJSON events; the aggregator's text sinks write those messages as they are). */
const messages = (text: string): string =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => String((JSON.parse(l) as { message?: unknown }).message))
    .join('\n');

const lines = (from: number, count: number): string => {
  let s = '';
  for (let i = from; i < from + count; i++) s += `line-${i} ${'z'.repeat(60)}\n`;
  return s;
};

test('two edges → stream → aggregator killed -9 three times: every line exactly once into the aggregator\'s queue and its file', { skip: natsMissing, timeout: 150_000 }, async (t) => {
  await withTempDir(async (dir) => {
    const server = await startNats(dir);
    const nc = await client([server.url]);
    const edges: RunningAgent[] = [];
    let agg: RunningAgent | undefined;
    try {
      await addStream(nc, 'LOGS', ['logs.>']);
      await addStream(nc, 'OUT', ['out.>']);
      const inputs = [join(dir, 'in', 'edge0.log'), join(dir, 'in', 'edge1.log')];
      await mkdir(join(dir, 'in'));
      for (const f of inputs) await writeFile(f, '');
      for (const [i, f] of inputs.entries()) edges.push(startAgent(await writeConfig(dir, edgeConfig(server.url, `edge${i}`, f), `edge${i}.yaml`), { cwd: dir }));
      const out = join(dir, 'out', 'all.log');
      const aggConfig = await writeConfig(dir, aggregatorConfig(server.url, out), 'aggregator.yaml');
      const PER_EDGE = 5_000;
      const TOTAL = 2 * PER_EDGE;
      let written = 0;
      // The edges' files grow all along: 50 slices of 100 lines per edge.
      const feeding = (async (): Promise<void> => {
        for (let k = 0; k < 50; k++) {
          await appendFile(inputs[0] as string, lines(k * 100, 100));
          await appendFile(inputs[1] as string, lines(PER_EDGE + k * 100, 100));
          written += 200;
          await sleep(40);
        }
      })();
      const stderr: string[] = [];
      for (let kill = 0; kill < 3; kill++) {
        agg = startAgent(aggConfig, { cwd: dir });
        const before = (await readIfAny(out)).length;
        await waitFor('the aggregator writing', async () => (await readIfAny(out)).length > before + 2000, 40_000, agg.stderr);
        agg.child.kill('SIGKILL');
        await agg.exited;
        stderr.push(agg.stderr());
      }
      await feeding;
      assert.equal(written, TOTAL);
      agg = startAgent(aggConfig, { cwd: dir });
      const last = agg;
      // Running before anything is judged (the lines may all be there already; a SIGTERM during start-up would kill it).
      await waitFor('the last aggregator running', () => last.stderr().includes('INFO running:'), 30_000, last.stderr);
      await waitFor('every line in the aggregator\'s file', async () => tally(await readIfAny(out), 'line-', TOTAL).missing.length === 0, 60_000, agg.stderr);
      await waitFor('every line copied', async () => tally((await readStream(nc, 'OUT')).text, 'line-', TOTAL).missing.length === 0, 30_000, agg.stderr);
      agg.child.kill('SIGTERM');
      assert.equal((await agg.exited).code, 0, agg.stderr());
      stderr.push(agg.stderr());

      const copy = tally((await readStream(nc, 'OUT')).text, 'line-', TOTAL);
      assert.deepEqual(copy.missing, []);
      assert.equal(copy.duplicates, 0, 'no line appended twice to the aggregator\'s queue');
      const file = tally(await readIfAny(out), 'line-', TOTAL);
      assert.deepEqual(file.missing, [], 'no line lost in the file');
      // The file sink cuts its output back to the length saved with its cursor: exactly once there too.
      assert.equal(file.duplicates, 0, 'no line twice in the aggregator\'s file');
      assert.equal(file.foreign, 0);
      // The stream from the edges: exactly once too (Nats-Msg-Id).
      const stream = tally(messages((await readStream(nc, 'LOGS')).text), 'line-', TOTAL);
      assert.deepEqual(stream.missing, []);
      assert.equal(stream.duplicates, 0);
      t.diagnostic(`${TOTAL} lines; into the aggregator's queue: ${copy.duplicates} duplicates; in its file: ${file.duplicates}`);
      for (const e of edges) e.child.kill('SIGTERM');
      for (const e of edges) assert.equal((await e.exited).code, 0, e.stderr());
    } finally {
      for (const e of edges) e.child.kill('SIGKILL');
      agg?.child.kill('SIGKILL');
      await nc.close();
      await server.kill();
    }
  });
});
