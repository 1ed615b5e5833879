/**
 * The dead-letter store on the simulated disk (test/queue/sim-fs.ts): a power loss at every step of
 * a `put` never leaves a torn entry, and an entry whose `put` resolved (the group was then acked)
 * survives it, payload and reason byte for byte.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadLetterStore } from '../../src/pipeline/dead-letter';
import type { Rejection } from '../../src/core/sink';
import { isSimCrash, SimFileSystem } from '../queue/sim-fs';

const DIR = '/data/dead_letter/out';
const rejection: Rejection = {
  payload: Buffer.from('{"event_id":7,"message":"bad"}\n{"event_id":8,"message":"worse"}\n'),
  contentType: 'application/x-ndjson',
  reason: 'HTTP 400 Bad Request',
  status: 400,
  response: '{"error":"field x"}',
  firstEventId: 7,
  lastEventId: 8,
  events: 2,
};

test('a power loss at any step of a dead-letter put leaves either nothing or the whole entry, and always the entry once put resolved', async () => {
  let steps = Infinity;
  for (let n = 1; n <= steps + 1; n++) {
    const seed = 7000 + n;
    const fs = new SimFileSystem({ seed });
    fs.crashAt(n);
    let resolved = false;
    try {
      await new DeadLetterStore(fs, DIR, 'out').put(rejection, 0);
      resolved = true;
      steps = Math.min(steps, fs.steps);
    } catch (err) {
      assert.ok(isSimCrash(err), `seed ${seed}: ${String(err)}`);
    }
    if (!fs.crashed) fs.crash();
    const after = new DeadLetterStore(fs.reboot(), DIR, 'out');
    const entries = await after.list();
    if (resolved) assert.equal(entries.length, 1, `seed ${seed}: an acked entry was lost`);
    assert.ok(entries.length <= 1, `seed ${seed}`);
    for (const e of entries) {
      const { meta, payload } = await after.read(e.name);
      assert.deepEqual(payload, rejection.payload, `seed ${seed}: torn payload`);
      assert.equal(meta.reason, rejection.reason);
      assert.equal(meta.response, rejection.response);
      assert.deepEqual([meta.first_event_id, meta.last_event_id, meta.events], [7, 8, 2]);
    }
  }
  assert.ok(steps < Infinity && steps > 3, `the put takes ${steps} steps`);
});

test('the store refuses an entry past max_bytes (the runner then waits) and takes it once space is freed', async () => {
  const fs = new SimFileSystem({ seed: 1 });
  const store = new DeadLetterStore(fs, DIR, 'out', 500);
  const name = await store.put(rejection, 0);
  await assert.rejects(store.put({ ...rejection, firstEventId: 9, lastEventId: 10 }, 0), (e: Error & { code?: string }) => e.code === 'SLUICE_DEAD_LETTER_FULL');
  await store.remove(name);
  await store.put({ ...rejection, firstEventId: 9, lastEventId: 10 }, 0);
  assert.deepEqual((await store.list()).map((e) => e.name), ['9-10.dl']);
});

test('an empty store takes one entry larger than max_bytes (waiting could never end)', async () => {
  const store = new DeadLetterStore(new SimFileSystem({ seed: 2 }), DIR, 'out', 10);
  await store.put(rejection, 0);
  await assert.rejects(store.put({ ...rejection, firstEventId: 9, lastEventId: 10 }, 0));
});
