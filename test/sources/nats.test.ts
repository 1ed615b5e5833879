/** The nats source's pure parts: the stored-sequence position format and the config schema. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeSeqs, encodeSeqs, natsSourceSchema } from '../../src/sources/nats';

test('stored sequences survive encoding whatever their order, gaps and size', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 2 ** 40 }), { maxLength: 200 }), fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 300 }), (far, near) => {
      const seqs = new Set([...far, ...near]);
      const d = decodeSeqs('k', encodeSeqs('2026-11-30T03:00:00.123456789Z', seqs));
      assert.equal(d.stream, '2026-11-30T03:00:00.123456789Z');
      assert.deepEqual([...d.seqs].sort((a, b) => a - b), [...seqs].sort((a, b) => a - b));
    }),
  );
});

test('a run of consecutive sequences costs a few bytes, not one entry per message', () => {
  const run = Array.from({ length: 10_000 }, (_, i) => 1_000_000 + i);
  assert.ok(encodeSeqs('', run).length <= 8, `${encodeSeqs('', run).length} bytes`);
  assert.deepEqual(encodeSeqs('', []), Buffer.from([1, 0]));
});

test('a damaged position is refused with its key, never misread', () => {
  assert.throws(() => decodeSeqs('from_bus:LOGS:agg', Buffer.from([9])), /from_bus:LOGS:agg.*unknown format version 9/);
  assert.throws(() => decodeSeqs('k', Buffer.from([1, 0, 0x85])), /cut short/);
  assert.throws(() => decodeSeqs('k', Buffer.from([1, 9, 0x41])), /bad stream identity/);
});

test('the config needs stream and consumer names JetStream accepts; defaults are the documented ones', () => {
  const ok = natsSourceSchema.safeParse({ type: 'nats', stream: 'LOGS', consumer: 'aggregator' });
  assert.ok(ok.success);
  assert.equal(ok.data.decoding, 'auto');
  assert.equal(ok.data.ack_wait, 30_000);
  assert.deepEqual(ok.data.batch, { max_bytes: 4 * 1024 * 1024, timeout: 100 });
  assert.equal(natsSourceSchema.safeParse({ type: 'nats', stream: 'LOGS' }).success, false, 'consumer required');
  assert.equal(natsSourceSchema.safeParse({ type: 'nats', stream: 'LO.GS', consumer: 'a' }).success, false);
  assert.equal(natsSourceSchema.safeParse({ type: 'nats', stream: 'LOGS', consumer: 'a', subject: 'x' }).success, false, 'unknown key');
});
