import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileSourceSchema } from '../../src/sources/file/config';
import type { FileSourceConfigInput } from '../../src/sources/file/config';
import { FileSource } from '../../src/sources/file/source';
import { nodeWatchDir, type WatchDir } from '../../src/sources/file/watch';
import { Harness, numbered, tempDir } from './harness';
import { ManualClock } from './manual-clock';

// These tests run the source on a clock that only the test moves: no poll and no scan can come
// due by itself, so whatever is read after the first round was read because of a change
// notification (real inotify through fs.watch).

type Opts = Omit<FileSourceConfigInput, 'type' | 'include'>;

function source(dir: string, clock: ManualClock, watch: WatchDir | null, opts: Opts = {}): FileSource {
  const config = fileSourceSchema.parse({ type: 'file', include: [join(dir, '*.log')], glob_interval_ms: 60_000, idle_flush_ms: 0, ...opts });
  return new FileSource(config, { clock, watch });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a line appended to a tailed file is read on its change notification, with no poll due', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('a', 0, 5));
  const clock = new ManualClock();
  const h = new Harness(source(dir, clock, nodeWatchDir)).start();
  await h.until('the first lines', () => h.events() === 5);
  await h.until('the source sleeps on the clock', () => clock.pending > 0);
  for (let i = 0; i < 20; i++) {
    appendFileSync(file, numbered('a', 5 + i, 1));
    await h.until(`line ${5 + i}, without the clock moving`, () => h.events() === 6 + i, 5000);
  }
  await h.stop();
  assert.equal(h.text(), numbered('a', 0, 25));
});

test('without change notification the same append waits for the poll the clock brings (the fallback)', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('a', 0, 5));
  const clock = new ManualClock();
  const h = new Harness(source(dir, clock, null)).start();
  await h.until('the first lines', () => h.events() === 5);
  await h.until('the source sleeps on the clock', () => clock.pending > 0);
  appendFileSync(file, numbered('a', 5, 1));
  await pause(300);
  assert.equal(h.events(), 5, 'nothing reads it before a poll is due');
  clock.advance(300);
  await h.until('the line, at the poll', () => h.events() === 6, 5000);
  await h.stop();
});

test('a file created in a watched directory is found by a scan its notification asks for, long before glob_interval_ms', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.log'), numbered('a', 0, 3));
  const clock = new ManualClock();
  const h = new Harness(source(dir, clock, nodeWatchDir)).start();
  await h.until('the first file', () => h.events() === 3);
  await h.until('the source sleeps on the clock', () => clock.pending > 0);
  writeFileSync(join(dir, 'b.log'), numbered('b', 0, 4));
  // The notified scan is held to one per 50 ms of the source's clock: let that much pass.
  for (let i = 0; i < 50 && h.events() < 7; i++) {
    clock.advance(10);
    await pause(20);
  }
  await h.until('the new file', () => h.events() === 7, 5000);
  await h.stop();
  assert.ok(h.text().includes(numbered('b', 0, 4)));
});

test('rename rotations faster than glob_interval_ms, seen through notifications, lose and repeat no line', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('a', 0, 100));
  const h = new Harness(
    new FileSource(fileSourceSchema.parse({ type: 'file', include: [join(dir, 'app.log')], glob_interval_ms: 10_000, rotate_wait_ms: 200, idle_flush_ms: 0 }), { watch: nodeWatchDir }),
  ).start();
  await h.until('the first lines', () => h.events() === 100);
  let n = 100;
  for (let r = 0; r < 5; r++) {
    appendFileSync(file, numbered('a', n, 50));
    n += 50;
    renameSync(file, `${file}.${r}`);
    appendFileSync(`${file}.${r}`, numbered('a', n, 10)); // still written to through its old handle
    n += 10;
    writeFileSync(file, numbered('a', n, 20));
    n += 20;
    // Each new app.log is found by the scan its creation asks for, not by the 10 s scan.
    await h.until(`app.log number ${r + 1}`, () => h.events() >= n, 10_000);
  }
  await h.until('every line', () => h.events() === n, 10_000);
  await h.stop();
  const got = h.text().split('\n').filter((l) => l.length > 0).sort();
  const want = numbered('a', 0, n).split('\n').filter((l) => l.length > 0).sort();
  assert.deepEqual(got, want);
});
