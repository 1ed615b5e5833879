import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Clock } from '../../src/core/ports';
import { nodeFileSystem } from '../../src/core/node-ports';
import { fileSourceSchema } from '../../src/sources/file/config';
import type { FileSourceConfigInput } from '../../src/sources/file/config';
import { FileSource } from '../../src/sources/file/source';
import type { FileSourceOptions } from '../../src/sources/file/source';
import { Harness, numbered, tempDir } from './harness';
import { ManualClock } from './manual-clock';

/** Issue 9: every line of every file, whole. The file source in-process; test/agent/collect.test.ts runs the CLI. */

type Opts = Omit<FileSourceConfigInput, 'type' | 'include'> & { include?: string[] };

function source(dir: string, opts: Opts = {}, options: FileSourceOptions = {}): FileSource {
  return new FileSource(fileSourceSchema.parse({ type: 'file', include: [join(dir, '*.log')], glob_interval_ms: 30, rotate_wait_ms: 150, ...opts }), options);
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

for (const stop of ['stop', 'crash'] as const) {
  test(`a file renamed away from the patterns while the source was down (${stop}) is read to its end after the restart`, async (t) => {
    const dir = tempDir(t);
    const log = join(dir, 'app.log');
    writeFileSync(log, numbered('a', 0, 100));
    const h1 = new Harness(source(dir)).start();
    await h1.until('the first lines', () => h1.events() === 100);
    if (stop === 'stop') await h1.stop();
    else await h1.crash();
    appendFileSync(log, numbered('a', 100, 1000));
    renameSync(log, join(dir, 'app.log.1')); // `*.log` no longer matches it
    writeFileSync(log, numbered('b', 0, 10));
    const h2 = new Harness(source(dir), 'app', h1.positions).start();
    await h2.until('the rest of the renamed file and the new one', () => h2.events() >= 1010);
    await pause(100);
    await h2.stop();
    const got = (h1.text() + h2.text()).split('\n').filter((l) => l !== '');
    const want = (numbered('a', 0, 1100) + numbered('b', 0, 10)).split('\n').filter((l) => l !== '');
    assert.deepEqual([...got].sort(), [...want].sort(), 'every line once');
    assert.ok(h2.logs.some((l) => l.level === 'info' && l.msg.startsWith('file renamed away')), 'the take-over is reported at info level');
  });
}

test('a renamed file followed once is not read again at the next restart', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'app.log');
  writeFileSync(log, numbered('a', 0, 10));
  const h1 = new Harness(source(dir)).start();
  await h1.until('a', () => h1.events() === 10);
  await h1.stop();
  appendFileSync(log, numbered('a', 10, 10));
  renameSync(log, join(dir, 'app.log.1'));
  const h2 = new Harness(source(dir), 'app', h1.positions).start();
  await h2.until('the rest', () => h2.events() === 10);
  await pause(400); // read to its end and let go (rotate_wait_ms 150)
  await h2.stop();
  const h3 = new Harness(source(dir), 'app', h2.positions).start();
  await pause(300);
  await h3.stop();
  assert.equal(h3.events(), 0);
});

test('copytruncate while the source was down, the copy outside the patterns: the lines not yet read are read from the copy', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'app.log');
  writeFileSync(log, numbered('a', 0, 100));
  const h1 = new Harness(source(dir)).start();
  await h1.until('a', () => h1.events() === 100);
  await h1.crash();
  appendFileSync(log, numbered('a', 100, 500));
  copyFileSync(log, join(dir, 'app.log.1'));
  truncateSync(log, 0);
  appendFileSync(log, numbered('b', 0, 5));
  const h2 = new Harness(source(dir), 'app', h1.positions).start();
  await h2.until('the rest from the copy, and the new lines', () => h2.events() >= 505);
  await pause(100);
  await h2.stop();
  assert.equal(h1.text() + h2.text().split('\n').filter((l) => l.startsWith('a ')).map((l) => `${l}\n`).join(''), numbered('a', 0, 600));
  assert.equal(h2.events(), 505);
});

test('copytruncate while running, the copy outside the patterns: lines written since the last read are read from the copy', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'app.log');
  writeFileSync(log, numbered('a', 0, 10));
  // A slow scan: the lines appended just before the copy are not read from app.log before it is truncated.
  const h = new Harness(source(dir, { glob_interval_ms: 200 })).start();
  await h.until('a', () => h.events() === 10);
  appendFileSync(log, numbered('a', 10, 300));
  copyFileSync(log, join(dir, 'app.log.1'));
  truncateSync(log, 0);
  appendFileSync(log, numbered('b', 0, 3));
  await h.until('all', () => h.events() >= 313);
  await pause(300);
  await h.stop();
  assert.equal(h.events(), 313);
  assert.equal(h.text().split('\n').filter((l) => l.startsWith('a ')).length, 310);
});

test('start_at end: lines appended while the agent was stopped are read after the restart, even if the file got no line before', async (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  const log = join(dir, 'app.log');
  writeFileSync(log, numbered('old', 0, 50));
  const state = { state: { fs: nodeFileSystem, dataDir: data } };
  const h1 = new Harness(source(dir, { start_at: 'end' }, state)).start();
  await pause(200);
  await h1.stop();
  assert.equal(h1.events(), 0, 'what the file held at the first start is skipped');
  appendFileSync(log, numbered('down', 0, 20));
  writeFileSync(join(dir, 'new.log'), numbered('new', 0, 5)); // appeared while stopped: read from its beginning
  const h2 = new Harness(source(dir, { start_at: 'end' }, state), 'app', h1.positions).start();
  await h2.until('the lines written while stopped', () => h2.events() === 25);
  await pause(100);
  await h2.stop();
  assert.equal(h2.events(), 25);
  assert.ok(!h2.text().includes('old '), 'nothing from before the first start');
});

test('a writer pausing mid-line for longer than a second does not split the line (no idle flush by default)', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'app.log');
  writeFileSync(log, 'first\nsecond li');
  const clock: Clock & ManualClock = new ManualClock();
  const h = new Harness(source(dir, { close_idle_ms: 0 }, { clock })).start();
  await h.until('the first line', () => h.events() === 1);
  for (let i = 0; i < 30; i++) {
    await h.until('the source waits on the clock', () => clock.pending > 0);
    clock.advance(100); // 3 s in all
    await pause(5);
  }
  assert.equal(h.events(), 1, 'the partial line waits for its newline');
  appendFileSync(log, 'ne, whole\n');
  await h.until('the source waits on the clock', () => clock.pending > 0);
  clock.advance(1000);
  await h.until('the completed line', () => h.events() === 2);
  await h.stop();
  assert.equal(h.text(), 'first\nsecond line, whole\n');
});

test('a partial last line is emitted once its file is finished: renamed away and drained', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'app.log');
  writeFileSync(log, 'first\nlast without newline');
  const h = new Harness(source(dir)).start();
  await h.until('first', () => h.events() === 1);
  renameSync(log, join(dir, 'app.old'));
  await h.until('the partial line, flushed when the file is let go', () => h.events() === 2);
  await h.stop();
  assert.equal(h.text(), 'first\nlast without newline\n');
});

test('two files with identical contents (replicas) are both read, and each resumes its own position after a restart', async (t) => {
  const dir = tempDir(t);
  const body = numbered('same', 0, 20);
  writeFileSync(join(dir, 'a.log'), body);
  writeFileSync(join(dir, 'b.log'), body);
  const h1 = new Harness(source(dir)).start();
  await h1.until('both files', () => h1.events() === 40);
  await pause(100);
  await h1.stop();
  assert.equal(h1.events(), 40);
  appendFileSync(join(dir, 'a.log'), numbered('more', 0, 3));
  appendFileSync(join(dir, 'b.log'), numbered('more', 0, 3));
  const h2 = new Harness(source(dir), 'app', h1.positions).start();
  await h2.until('the appended lines', () => h2.events() === 6);
  await pause(300);
  await h2.stop();
  assert.equal(h2.events(), 6);
});

test('a copy of an idle-closed file that is still there is read as a file of its own', async (t) => {
  const dir = tempDir(t);
  const body = numbered('same', 0, 20);
  writeFileSync(join(dir, 'a.log'), body);
  const h = new Harness(source(dir, { close_idle_ms: 100 })).start();
  await h.until('a', () => h.events() === 20);
  await h.until('a closed because idle', () => h.logs.some((l) => l.msg === 'file let go'));
  copyFileSync(join(dir, 'a.log'), join(dir, 'b.log'));
  await h.until('the copy, in full', () => h.events() === 40);
  await pause(300);
  await h.stop();
  assert.equal(h.events(), 40);
});

test('a compressed rotated file matching the patterns (app.log.1.gz under app.log*) is skipped and reported once, never read as lines', async (t) => {
  const dir = tempDir(t);
  const log = join(dir, 'app.log');
  writeFileSync(log, numbered('a', 0, 10));
  writeFileSync(join(dir, 'app.log.1.gz'), gzipSync(numbered('old', 0, 100)));
  const h = new Harness(source(dir, { include: [join(dir, 'app.log*')] })).start();
  await h.until('app.log', () => h.events() === 10);
  await pause(300); // several scans
  await h.stop();
  assert.equal(h.text(), numbered('a', 0, 10));
  const warned = h.warnings().filter((w) => w.msg.includes('gzip-compressed'));
  assert.equal(warned.length, 1, JSON.stringify(h.warnings()));
});
