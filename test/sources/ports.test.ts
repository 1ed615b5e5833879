import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Clock, ReadFileSystem } from '../../src/core/ports';
import { nodeReadFileSystem, systemClock } from '../../src/core/node-ports';
import { fileSourceSchema } from '../../src/sources/file/config';
import type { FileSourceConfigInput } from '../../src/sources/file/config';
import { FileSource } from '../../src/sources/file/source';
import { stdinSourceSchema } from '../../src/sources/stdin/config';
import { StdinSource } from '../../src/sources/stdin/source';
import { Harness, numbered, tempDir } from './harness';
import { ManualClock } from './manual-clock';

type Opts = Omit<FileSourceConfigInput, 'type' | 'include'>;

function source(dir: string, opts: Opts, clock: Clock, fs?: ReadFileSystem): FileSource {
  const config = fileSourceSchema.parse({ type: 'file', include: [join(dir, '*.log')], glob_interval_ms: 30, ...opts });
  return new FileSource(config, fs ? { clock, fs } : { clock });
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('the file source times its deadlines on the injected clock: an idle flush due in an hour happens when that clock says an hour passed', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'app.log'), 'first\npartial');
  const clock = new ManualClock();
  const h = new Harness(source(dir, { idle_flush_ms: 3_600_000, close_idle_ms: 0 }, clock)).start();
  await h.until('the first line', () => h.events() === 1);
  await h.until('the source waits on the clock', () => clock.pending > 0);
  clock.advance(3_600_000 - 1000);
  await pause(200);
  await h.until('the source waits on the clock again', () => clock.pending > 0);
  assert.equal(h.events(), 1, 'not flushed a second before it is due');
  clock.advance(1000);
  await h.until('the partial line, flushed', () => h.events() === 2, 2000);
  await h.stop();
  assert.equal(h.text(), 'first\npartial\n');
});

test('a wall clock stepping back an hour does not stall tailing: polls follow the monotonic clock', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'app.log');
  writeFileSync(file, numbered('a', 0, 10));
  let step = 0;
  const clock: Clock = {
    now: () => performance.now(),
    wall: () => Date.now() + step,
    setTimer: (ms, fn, opts) => systemClock.setTimer(ms, fn, opts),
  };
  const h = new Harness(source(dir, { idle_flush_ms: 0 }, clock)).start();
  await h.until('the first lines', () => h.events() === 10);
  step = -3_600_000;
  appendFileSync(file, numbered('a', 10, 10));
  await h.until('lines written after the step', () => h.events() === 20, 2000);
  await h.stop();
});

test('the file source reads through the injected file system: a read error there is reported once, the file let go, and other files keep flowing', async (t) => {
  const dir = tempDir(t);
  const bad = join(dir, 'bad.log');
  writeFileSync(bad, numbered('bad', 0, 10));
  writeFileSync(join(dir, 'ok.log'), numbered('ok', 0, 10));
  const failing: ReadFileSystem = {
    stat: (path) => nodeReadFileSystem.stat(path),
    readdirTyped: (d) => nodeReadFileSystem.readdirTyped(d),
    async openRead(path) {
      const fh = await nodeReadFileSystem.openRead(path);
      if (path !== bad) return fh;
      let reads = 0;
      return {
        stat: () => fh.stat(),
        close: () => fh.close(),
        // The fingerprint and the tail check read the head; the first read of lines fails.
        read: (buffer, offset, length, position) =>
          ++reads > 1 && length > 1024 ? Promise.reject(Object.assign(new Error('i/o error'), { code: 'EIO' })) : fh.read(buffer, offset, length, position),
      };
    },
  };
  const h = new Harness(source(dir, { idle_flush_ms: 0 }, systemClock, failing)).start();
  await h.until('the good file', () => h.events() === 10);
  await h.until('the bad file let go', () => h.logs.some((l) => l.msg === 'file let go' && l.fields?.['path'] === bad));
  await h.stop();
  assert.equal(h.text(), numbered('ok', 0, 10));
  const about = h.warnings().filter((w) => w.fields?.['path'] === bad);
  assert.equal(about.length, 1);
  assert.equal(about[0]?.fields?.['code'], 'EIO');
});

test('stdin times its split-line warnings on the injected clock', async () => {
  const input = new PassThrough();
  const clock = new ManualClock();
  const src = new StdinSource(stdinSourceSchema.parse({ type: 'stdin', max_line_bytes: 16 }), { stream: input, clock });
  const h = new Harness(src).start();
  input.write(`${'a'.repeat(20)}\n`);
  await h.until('the first line', () => h.events() === 2);
  input.write(`${'b'.repeat(20)}\n`);
  await h.until('the second line', () => h.events() === 4);
  assert.equal(h.warnings().length, 1, 'one warning in 10 s');
  clock.advance(10_000);
  input.end(`${'c'.repeat(20)}\n`);
  await h.until('the third line', () => h.events() === 6);
  await h.stop();
  assert.equal(h.warnings().length, 2, 'another once 10 s passed on the clock');
});
