/** The http sink's pure parts: Retry-After, and how a group is cut after a 413. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEnvelope, decodeEnvelope } from '../../src/core/envelope';
import type { RecordId } from '../../src/core/records';
import { parseRetryAfter } from '../../src/sinks';
import { encodeParts, idRange, partsOf, splitParts } from '../../src/sinks/http/encode';

const batch = (id: number, text: string) => {
  const events = text.split('\n').length - 1;
  return decodeEnvelope(encodeEnvelope('lines', 'app', 'a.log', 0, Buffer.from(text)), events, id as RecordId);
};

test('Retry-After is read as delay-seconds or as an HTTP date; anything else is ignored', () => {
  const now = Date.parse('Sun, 30 Nov 2026 01:00:00 GMT');
  assert.equal(parseRetryAfter('120', now), 120_000);
  assert.equal(parseRetryAfter('Sun, 30 Nov 2026 01:00:30 GMT', now), 30_000);
  assert.equal(parseRetryAfter('Sun, 30 Nov 2026 00:59:00 GMT', now), 0);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter(undefined, now), undefined);
});

test('a 413 split cuts the group in halves by events, inside a batch at a line boundary, keeping event ids', () => {
  const parts = partsOf([batch(10, 'a\nb\nc\n'), batch(20, 'd\n')]);
  const [left, right] = splitParts(parts);
  assert.deepEqual(idRange(left), { first: 10, last: 11 });
  assert.deepEqual(idRange(right), { first: 12, last: 20 });
  assert.equal(Buffer.concat(encodeParts('text', left)).toString(), 'a\nb\n');
  assert.equal(Buffer.concat(encodeParts('text', right)).toString(), 'c\nd\n');
  const json = Buffer.concat(encodeParts('json', right)).toString().trim().split('\n').map((l) => JSON.parse(l) as { event_id: number; message: string });
  assert.deepEqual(json.map((o) => [o.event_id, o.message]), [[12, 'c'], [20, 'd']]);
  const [one, two] = splitParts(splitParts(left)[0]);
  assert.deepEqual([one.length, two.length], [1, 0]);
});
