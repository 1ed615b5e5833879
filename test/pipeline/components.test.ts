/**
 * The component model end to end, in process: a source type and a sink type defined here (as a new
 * component would be), registered, parsed from YAML, run by the real agent on the real queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as z from 'zod';
import { parseConfig } from '../../src/config/load';
import { defineSink, defineSource, registryOf, sinkSchema, type Registry } from '../../src/core/component';
import { createDiagnostics } from '../../src/core/diagnostics';
import type { Envelope } from '../../src/core/envelope';
import type { AgentEvent } from '../../src/core/events';
import { DELIVERED, type Sink } from '../../src/core/sink';
import { batchBytes, type SourceBatch } from '../../src/core/source';
import { sinkKinds } from '../../src/sinks';
import { Agent } from '../../src/pipeline/agent';

/** A source that emits `batches` batches of `lines` numbered lines, then ends. */
const genSource = (canAcknowledge: boolean) =>
  defineSource({
    type: 'gen',
    schema: z.strictObject({ type: z.literal('gen'), batches: z.int().min(1), lines: z.int().min(1), structured: z.boolean().default(false) }),
    canAcknowledge,
    create: (config) => ({
      async run(ctx) {
        let n = 0;
        for (let b = 0; b < config.batches; b++) {
          let text = '';
          for (let i = 0; i < config.lines; i++) text += config.structured ? `${JSON.stringify({ message: `line ${n}`, n: n++ })}\n` : `line ${n++}\n`;
          await ctx.emit({ lines: Buffer.from(text), events: config.lines, ...(config.structured ? { format: 'events' as const } : {}) });
        }
      },
    }),
  });

/** A sink that keeps what it was given; fails its first `fail` writes. */
const captured: Envelope[][] = [];
const captureSink = defineSink({
  type: 'capture',
  schema: sinkSchema('capture', { fail: z.int().min(0).default(0) }),
  canAcknowledge: true,
  create: (config): Sink => {
    let failures = 0;
    return {
      write(batches) {
        if (failures < config.fail) {
          failures++;
          return Promise.reject(Object.assign(new Error('destination down'), { code: 'ECONNREFUSED' }));
        }
        captured.push(batches.map((b) => ({ ...b, lines: Buffer.from(b.lines) })));
        return Promise.resolve(DELIVERED);
      },
      reopen() {},
      close: () => Promise.resolve(),
    };
  },
});

/** A source that throws on its first `fail` runs (after emitting one batch), then emits its lines and ends. */
let flakyRuns = 0;
const flakySource = defineSource({
  type: 'flaky',
  schema: z.strictObject({ type: z.literal('flaky'), fail: z.int().min(0) }),
  canAcknowledge: true,
  create: (config) => ({
    async run(ctx) {
      const run = flakyRuns++;
      if (run < config.fail) {
        await ctx.emit({ lines: Buffer.from(`attempt ${run}\n`), events: 1 });
        throw new TypeError(`bug on run ${run}`);
      }
      await ctx.emit({ lines: Buffer.from('finally\n'), events: 1 });
    },
  }),
});

/**
 * A source that, on its first run, emits a batch of exactly `ctx.recordBytes` (lines, origin and
 * positions), then one byte more, and lets that refusal end the run as a careless source would;
 * its second run emits `after` and ends. What each emit did is kept.
 */
const oversized: { runs: number; outcomes: string[] } = { runs: 0, outcomes: [] };
const oversizeSource = defineSource({
  type: 'oversize',
  schema: z.strictObject({ type: z.literal('oversize') }),
  canAcknowledge: true,
  create: () => ({
    async run(ctx) {
      if (oversized.runs++ > 0) return ctx.emit({ lines: Buffer.from('after\n'), events: 1 });
      const room = ctx.recordBytes;
      assert.ok(room !== undefined && room > 0, 'the agent tells a source how large a batch may be');
      const positions = [{ key: `${ctx.id}:pos`, value: Buffer.from('12345678') }];
      const batch = (bytes: number): SourceBatch => {
        const lines = Buffer.alloc(bytes - batchBytes({ lines: Buffer.alloc(0), events: 1, origin: 'o', positions }), 'x');
        lines[lines.length - 1] = 10;
        return { lines, events: 1, origin: 'o', positions };
      };
      await ctx.emit(batch(room)).then(() => oversized.outcomes.push('fits'));
      await ctx.emit(batch(room + 1)).catch((e: unknown) => {
        oversized.outcomes.push((e as { code?: string }).code ?? 'no code');
        throw e;
      });
    },
  }),
});

const registry = (canAcknowledge: boolean): Registry => ({
  sources: registryOf([genSource(canAcknowledge), flakySource, oversizeSource]),
  sinks: registryOf([...sinkKinds.values(), captureSink]),
});

const runAgent = async (yaml: string, reg: Registry): Promise<{ code: number; events: AgentEvent[]; dir: string }> => {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-components-'));
  const config = parseConfig(yaml.replaceAll('$DIR', dir), 'test.yaml', reg, {});
  // Jitter 0: retries come at once, so the test does not wait on backoff.
  const agent = await Agent.open({ config, log: createDiagnostics({ level: 'silent' }), ports: { random: { next: () => 0 } }, cwd: dir });
  const events: AgentEvent[] = [];
  agent.events.subscribe((e) => events.push(e));
  const code = await agent.run();
  return { code, events, dir };
};

test('a sink gets each batch with its queue record id, so event ids (record id + index) are deterministic', async () => {
  captured.length = 0;
  const { code, dir } = await runAgent(
    `data_dir: $DIR/data\nsources:\n  gen:\n    type: gen\n    batches: 5\n    lines: 3\nsinks:\n  cap:\n    type: capture\n    inputs: [gen]\n`,
    registry(true),
  );
  try {
    assert.equal(code, 0);
    const batches = captured.flat();
    assert.equal(batches.length, 5);
    // ids advance by the events of each record: 0, 3, 6, …
    assert.deepEqual(
      batches.map((b) => b.recordId),
      batches.map((_, i) => i * 3),
    );
    // event id recordId + i names line i of the batch
    const lines = batches.flatMap((b) => b.lines.toString().trimEnd().split('\n').map((l, i) => `${b.recordId + i}=${l}`));
    assert.deepEqual(lines, Array.from({ length: 15 }, (_, i) => `${i}=line ${i}`));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failing sink reports one sink.failing per episode start and sink.recovered when a write succeeds again', async () => {
  captured.length = 0;
  const { code, events, dir } = await runAgent(
    `data_dir: $DIR/data\nsources:\n  gen:\n    type: gen\n    batches: 1\n    lines: 2\nsinks:\n  cap:\n    type: capture\n    inputs: [gen]\n    fail: 3\n`,
    registry(true),
  );
  try {
    assert.equal(code, 0);
    const sinkEvents = events.filter((e) => e.type.startsWith('sink.'));
    assert.deepEqual(
      sinkEvents.map((e) => e.type),
      ['sink.failing', 'sink.recovered'],
    );
    const failing = sinkEvents[0];
    assert.ok(failing?.type === 'sink.failing');
    assert.equal(failing.attempt, 1);
    assert.equal(failing.retryInMs, 0);
    assert.equal((failing.error as { code?: string }).code, 'ECONNREFUSED');
    assert.deepEqual(sinkEvents[1], { type: 'sink.recovered', sink: 'cap', failedAttempts: 3 });
    assert.equal(captured.flat().length, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a sink fed by a source that cannot acknowledge gets one start-up warning naming both', async () => {
  const yaml =
    `data_dir: $DIR/data\nsources:\n  gen:\n    type: gen\n    batches: 2\n    lines: 2\n` +
    `sinks:\n  out:\n    type: file\n    inputs: [gen]\n    path: $DIR/out.log\n  cap:\n    type: capture\n    inputs: [gen]\n`;
  const unacked = await runAgent(yaml, registry(false));
  try {
    assert.equal(unacked.code, 0);
    const warnings = unacked.events.filter((e) => e.type === 'agent.unacknowledged-input');
    assert.deepEqual(warnings, [
      { type: 'agent.unacknowledged-input', sink: 'out', source: 'gen', sourceType: 'gen' },
      { type: 'agent.unacknowledged-input', sink: 'cap', source: 'gen', sourceType: 'gen' },
    ]);
    assert.equal(await readFile(join(unacked.dir, 'out.log'), 'utf8'), 'line 0\nline 1\nline 2\nline 3\n');
  } finally {
    await rm(unacked.dir, { recursive: true, force: true });
  }
  const acked = await runAgent(yaml, registry(true));
  try {
    assert.equal(acked.events.filter((e) => e.type === 'agent.unacknowledged-input').length, 0);
    assert.ok(acked.events.some((e) => e.type === 'agent.stopped' && e.drained));
  } finally {
    await rm(acked.dir, { recursive: true, force: true });
  }
});

test('structured events from a source reach a json file sink as objects, with source and timestamp added', async () => {
  const { code, dir } = await runAgent(
    `data_dir: $DIR/data\nsources:\n  gen:\n    type: gen\n    batches: 2\n    lines: 2\n    structured: true\n` +
      `sinks:\n  out:\n    type: file\n    inputs: [gen]\n    path: $DIR/out.ndjson\n    encoding: json\n`,
    registry(true),
  );
  try {
    assert.equal(code, 0);
    const objs = (await readFile(join(dir, 'out.ndjson'), 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(objs.map((o) => [o['message'], o['n'], o['source']]), [0, 1, 2, 3].map((n) => [`line ${n}`, n, 'gen']));
    for (const o of objs) assert.match(String(o['timestamp']), /^\d{4}-\d\d-\d\dT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a source that throws is restarted with backoff and reported, while the other sources keep flowing', async () => {
  flakyRuns = 0;
  const { code, events, dir } = await runAgent(
    `data_dir: $DIR/data\nsources:\n  flaky:\n    type: flaky\n    fail: 2\n  gen:\n    type: gen\n    batches: 3\n    lines: 1\n` +
      `sinks:\n  out:\n    type: file\n    inputs: [flaky, gen]\n    path: $DIR/out.log\n`,
    registry(true),
  );
  try {
    assert.equal(code, 0);
    const restarts = events.filter((e) => e.type === 'source.restarting');
    assert.deepEqual(
      restarts.map((e) => (e.type === 'source.restarting' ? [e.source, e.attempt, (e.error as Error).message] : [])),
      [
        ['flaky', 1, 'bug on run 0'],
        ['flaky', 2, 'bug on run 1'],
      ],
    );
    assert.equal(events.filter((e) => e.type === 'source.failed').length, 0);
    const lines = (await readFile(join(dir, 'out.log'), 'utf8')).trimEnd().split('\n').sort();
    assert.deepEqual(lines, ['attempt 0', 'attempt 1', 'finally', 'line 0', 'line 1', 'line 2']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a batch larger than a queue record is refused to its source alone (SLUICE_QUEUE_RECORD_TOO_LARGE): never taken for a queue failure, the agent restarts that source and goes on', async () => {
  Object.assign(oversized, { runs: 0, outcomes: [] });
  const { code, events, dir } = await runAgent(
    `data_dir: $DIR/data\nqueue:\n  max_bytes: 16MiB\nsources:\n  big:\n    type: oversize\n  gen:\n    type: gen\n    batches: 2\n    lines: 1\n` +
      `sinks:\n  out:\n    type: file\n    inputs: [big, gen]\n    path: $DIR/out.log\n`,
    registry(true),
  );
  try {
    assert.deepEqual(oversized.outcomes, ['fits', 'SLUICE_QUEUE_RECORD_TOO_LARGE'], 'recordBytes is the exact bound');
    assert.equal(code, 0);
    const restarts = events.filter((e) => e.type === 'source.restarting');
    assert.deepEqual(
      restarts.map((e) => (e.type === 'source.restarting' ? [e.source, (e.error as { code?: string }).code] : [])),
      [['big', 'SLUICE_QUEUE_RECORD_TOO_LARGE']],
    );
    assert.deepEqual(
      events.filter((e) => e.type === 'source.failed' || e.type === 'queue.failed' || e.type === 'agent.stopping').map((e) => e.type),
      [],
    );
    const lines = (await readFile(join(dir, 'out.log'), 'utf8')).trimEnd().split('\n');
    assert.deepEqual(lines.filter((l) => !l.startsWith('xxx')).sort(), ['after', 'line 0', 'line 1']);
    assert.equal(lines.length, 4, 'the batch that fits is stored; the one a byte larger is not');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
