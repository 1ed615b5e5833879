/**
 * Decoded events (`multiline`, `decoding`) are NDJSON, many times the bytes read when lines are
 * short: the file source cuts one read's events into batches that each fit a queue record
 * (`ctx.recordBytes`), each with the position after its last event. The harness refuses a batch
 * larger than a record, as the queue does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { batchBytes } from '../../src/core/source';
import { fileSourceSchema } from '../../src/sources/file/config';
import { decodePosition } from '../../src/sources/file/position';
import { FileSource } from '../../src/sources/file/source';
import { Harness, tempDir } from './harness';

const RECORD = 512 * 1024;

const source = (dir: string, extra: Record<string, unknown> = {}): FileSource =>
  new FileSource(fileSourceSchema.parse({ type: 'file', include: [join(dir, '*.log')], glob_interval_ms: 30, multiline: { mode: 'java' }, ...extra }));

const messages = (h: Harness): string[] =>
  h
    .text()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => (JSON.parse(l) as { message: string }).message);

test('one read whose events are many records long is emitted batch by batch, each within a record, with the position after its last event; a crash between them repeats nothing', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'app.log');
  const want = Array.from({ length: 60_000 }, (_, i) => `l ${i}`);
  writeFileSync(file, `${want.join('\n')}\n`); // ~530 KB read in one go; ~5 MB of events
  const h1 = new Harness(source(dir, { max_batches_in_flight: 2 }));
  h1.recordBytes = RECORD;
  h1.emitDelayMs = 5;
  h1.start();
  await h1.until('some batches', () => h1.durableBatches.length >= 3, 20_000);
  await h1.crash();
  assert.ok(h1.events() < want.length, 'the crash came before the end');
  const text = readFileSync(file);
  for (const b of h1.durableBatches) {
    assert.ok(batchBytes(b) <= RECORD, `a batch of ${batchBytes(b)} bytes`);
    // Its position is just after its last event: the next line of the file is the next batch's first.
    const own = (b.positions ?? []).at(-1);
    assert.ok(own !== undefined && own.value !== null);
    const at = decodePosition(own.key, own.value).offset;
    const last = (JSON.parse(b.lines.toString().trimEnd().split('\n').at(-1) ?? '{}') as { message: string }).message;
    assert.equal(text.toString('latin1', at - last.length - 1, at), `${last}\n`);
  }
  const h2 = new Harness(source(dir), 'app', h1.positions);
  h2.recordBytes = RECORD;
  h2.start();
  await h2.until('the rest', () => h1.events() + h2.events() === want.length, 20_000);
  await h2.stop();
  assert.deepEqual([...messages(h1), ...messages(h2)], want, 'every event once, in order');
  for (const b of h2.durableBatches) assert.ok(batchBytes(b) <= RECORD);
  const [key, value] = [...h2.positions][0] as [string, Uint8Array];
  assert.equal(decodePosition(key, value).offset, text.length);
});
