import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { linkedAbort } from '../../src/core/abort';

test('a linked abort follows a parent with its reason, aborts alone without touching the parents, and unlinks', () => {
  const stop = new AbortController();
  const other = new AbortController();
  const a = linkedAbort(other.signal, stop.signal);
  assert.equal(getEventListeners(stop.signal, 'abort').length, 1);
  stop.abort(new Error('hard stop'));
  assert.equal(a.signal.aborted, true);
  assert.equal((a.signal.reason as Error).message, 'hard stop');
  assert.equal(getEventListeners(other.signal, 'abort').length, 0, 'aborted: unlinked from every parent');

  const parent = new AbortController();
  const b = linkedAbort(parent.signal);
  b.abort('timeout');
  assert.equal(b.signal.reason, 'timeout');
  assert.equal(parent.signal.aborted, false, 'the parent is untouched');
  assert.equal(getEventListeners(parent.signal, 'abort').length, 0);

  const c = linkedAbort(parent.signal);
  c.dispose();
  assert.equal(getEventListeners(parent.signal, 'abort').length, 0);
  parent.abort();
  assert.equal(c.signal.aborted, false, 'after dispose it no longer follows');

  const d = linkedAbort(parent.signal);
  assert.equal(d.signal.aborted, true, 'a parent aborted already: aborted at once');
});

test('linking to a long-lived parent many times leaves nothing behind on it once each is disposed', () => {
  const stop = new AbortController();
  for (let i = 0; i < 10_000; i++) linkedAbort(stop.signal).dispose();
  assert.equal(getEventListeners(stop.signal, 'abort').length, 0);
  // What AbortSignal.any keeps on the parent (Node's internal set of dependent signals): nothing.
  const dependants = Object.getOwnPropertySymbols(stop.signal).find((s) => s.description === 'kDependantSignals');
  if (dependants !== undefined) assert.ok(((stop.signal as unknown as Record<symbol, Set<unknown> | undefined>)[dependants]?.size ?? 0) === 0);
});
