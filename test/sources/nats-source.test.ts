/**
 * The nats source in-process (the harness plays the queue) against a real nats-server started
 * here: the stored-sequence set at work — a redelivery of a sequence already in the queue is
 * acknowledged and not taken again, both after a restart and while its batch is still on its way
 * into the queue past `ack_wait`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../../src/core/node-ports';
import { encodeSeqs, NatsSource, natsSourceSchema } from '../../src/sources/nats';
import { addStream, client, natsMissing, startNats } from '../agent/nats-helpers';
import { withTempDir, waitFor } from '../agent/helpers';
import { Harness } from './harness';

const source = (url: string, extra: Record<string, unknown> = {}): NatsSource =>
  new NatsSource(natsSourceSchema.parse({ type: 'nats', servers: [url], stream: 'LOGS', consumer: 'agg', ...extra }), { cwd: process.cwd(), agentId: 'test', clock: systemClock });

const consumerState = async (nc: Awaited<ReturnType<typeof client>>): Promise<{ floor: number; pending: number }> => {
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const info = await (await jetstreamManager(nc, { checkAPI: false })).consumers.info('LOGS', 'agg');
  return { floor: info.ack_floor.stream_seq, pending: info.num_ack_pending };
};

const streamCreated = async (nc: Awaited<ReturnType<typeof client>>): Promise<string> => {
  const { jetstreamManager } = await import('@nats-io/jetstream');
  return (await (await jetstreamManager(nc, { checkAPI: false })).streams.info('LOGS')).created;
};

const publish = async (nc: Awaited<ReturnType<typeof client>>, n: number): Promise<void> => {
  const { jetstream } = await import('@nats-io/jetstream');
  const js = jetstream(nc);
  for (let i = 1; i <= n; i++) await js.publish('logs.app', `m-${i}\n`);
};

test('sequences already stored in the queue are acknowledged when delivered again, never taken twice', { skip: natsMissing, timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const server = await startNats(dir);
    const nc = await client([server.url]);
    try {
      await addStream(nc, 'LOGS', ['logs.>']);
      await publish(nc, 10);
      // As if a run before a kill -9 had stored 1–5 and died before its acks reached the server.
      const h = new Harness(source(server.url), 'from_bus', new Map([['from_bus:LOGS:agg', encodeSeqs(await streamCreated(nc), [1, 2, 3, 4, 5])]])).start();
      await h.until('messages 6–10 stored', () => h.events() >= 5, 20_000);
      await waitFor('every message acknowledged', async () => (await consumerState(nc)).floor === 10, 20_000);
      await h.stop();
      assert.equal(h.text(), 'm-6\nm-7\nm-8\nm-9\nm-10\n');
      assert.equal((await consumerState(nc)).pending, 0);
      assert.ok(h.logs.some((l) => l.msg.includes('created durable consumer agg on stream LOGS')));
    } finally {
      await nc.close();
      await server.kill();
    }
  });
});

test('sequences stored for an earlier stream of the same name are forgotten, with a warning: the new stream is read from its start', { skip: natsMissing, timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const server = await startNats(dir);
    const nc = await client([server.url]);
    try {
      await addStream(nc, 'LOGS', ['logs.>']);
      await publish(nc, 10);
      const h = new Harness(source(server.url), 'from_bus', new Map([['from_bus:LOGS:agg', encodeSeqs('2020-01-01T00:00:00Z', [1, 2, 3, 4, 5])]])).start();
      await h.until('all ten messages', () => h.events() >= 10, 20_000);
      await h.stop();
      assert.equal(h.text(), Array.from({ length: 10 }, (_, i) => `m-${i + 1}\n`).join(''));
      assert.ok(h.warnings().some((w) => w.msg.includes('was created again since the last run')), JSON.stringify(h.logs));
    } finally {
      await nc.close();
      await server.kill();
    }
  });
});

test('a batch held past ack_wait: the redelivered messages are recognised as on their way and stored once', { skip: natsMissing, timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const server = await startNats(dir);
    const nc = await client([server.url]);
    try {
      await addStream(nc, 'LOGS', ['logs.>']);
      await publish(nc, 10);
      const h = new Harness(source(server.url, { ack_wait: '1s' }), 'from_bus');
      h.hold = true; // the queue is stuck: emits do not resolve
      h.start();
      // Long enough for the server to deliver everything again at least once.
      await new Promise((r) => setTimeout(r, 3000));
      h.release();
      await waitFor('every message acknowledged', async () => (await consumerState(nc)).floor === 10, 20_000);
      await h.stop();
      const lines = h.text().split('\n').filter((l) => l !== '');
      assert.deepEqual(lines.sort(), Array.from({ length: 10 }, (_, i) => `m-${i + 1}`).sort());
    } finally {
      await nc.close();
      await server.kill();
    }
  });
});

test('events stay structured: Sluice-Encoding json is NDJSON as sent, decoding ndjson wraps a line that is not an object, the rest are lines', { skip: natsMissing, timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const server = await startNats(dir);
    const nc = await client([server.url]);
    try {
      await addStream(nc, 'LOGS', ['logs.>']);
      const { jetstream } = await import('@nats-io/jetstream');
      const { headers } = await import('@nats-io/transport-node');
      const js = jetstream(nc);
      const h = headers();
      h.set('Sluice-Encoding', 'json');
      await js.publish('logs.app', '{"event_id":7,"message":"structured"}\n', { headers: h });
      await js.publish('logs.app', 'plain text without newline');
      const auto = new Harness(source(server.url), 'from_bus').start();
      await auto.until('both messages', () => auto.events() >= 2, 20_000);
      await auto.stop();
      assert.deepEqual(
        auto.durableBatches.map((b) => [b.format, b.lines.toString(), b.origin]),
        [
          ['events', '{"event_id":7,"message":"structured"}\n', 'logs.app'],
          ['lines', 'plain text without newline\n', 'logs.app'],
        ],
      );
      await js.publish('logs.app', '{"a":1}\nnot json\n');
      const strict = new Harness(source(server.url, { consumer: 'strict', decoding: 'ndjson' }), 'from_bus').start();
      await strict.until('all three messages', () => strict.events() >= 4, 20_000);
      await strict.stop();
      assert.ok(strict.durableBatches.every((b) => b.format === 'events'));
      assert.equal(strict.text(), '{"event_id":7,"message":"structured"}\n{"message":"plain text without newline"}\n{"a":1}\n{"message":"not json"}\n');
    } finally {
      await nc.close();
      await server.kill();
    }
  });
});

test('a fetch larger than a queue record is appended as several batches, cut between messages: each message stored once, the last position carries them all', { skip: natsMissing, timeout: 60_000 }, async () => {
  await withTempDir(async (dir) => {
    const server = await startNats(dir);
    const nc = await client([server.url]);
    try {
      await addStream(nc, 'LOGS', ['logs.>']);
      const { jetstream } = await import('@nats-io/jetstream');
      const js = jetstream(nc);
      const pad = 'p'.repeat(20 * 1024);
      for (let i = 1; i <= 40; i++) await js.publish('logs.app', `m-${i} ${pad}\n`);
      // 40 messages of 20 KiB arrive in one fetch (batch.max_bytes 4MiB); a record holds 100 KiB.
      const h = new Harness(source(server.url, { batch: { timeout: '500ms' } }), 'from_bus');
      h.recordBytes = 100 * 1024;
      h.start();
      await h.until('all forty messages', () => h.events() >= 40, 20_000);
      await waitFor('every message acknowledged', async () => (await consumerState(nc)).floor === 40, 20_000);
      await h.stop();
      assert.ok(h.durableBatches.length >= 8, `${h.durableBatches.length} batches`);
      assert.deepEqual(
        h.text().split('\n').slice(0, -1).map((l) => l.split(' ')[0]),
        Array.from({ length: 40 }, (_, i) => `m-${i + 1}`),
      );
      assert.equal(h.warnings().length, 0, JSON.stringify(h.logs));
    } finally {
      await nc.close();
      await server.kill();
    }
  });
});
