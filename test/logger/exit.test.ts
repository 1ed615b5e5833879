import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { PKG, range, readLines, runScript, seqs, tempDir } from './helpers';

/** A fixture: makes a logger on FILE that never flushes by timer, and logs N lines seq 0..N-1. */
function fixture(file: string, body: string, opts = '{}'): string {
  return `
const { createLogger } = require(PKG);
const FILE = ${JSON.stringify(file)};
const log = createLogger({ destination: FILE, flushIntervalMs: 60000, ...${opts} });
function burst(n, from = 0) { for (let i = from; i < from + n; i++) log.info({ seq: i, svc: 'api' }, 'line'); }
${body}
`;
}

test('process.exit() right after a burst keeps every line', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const r = await runScript(dir, 'exit.js', fixture(file, `burst(100000); process.exit(0);`));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(seqs(readLines(file)), range(100000));
});

test('process.exit(code) from a timer keeps every line and the exit code', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const r = await runScript(dir, 'exit-timer.js', fixture(file, `burst(5000); setTimeout(() => { burst(5000, 5000); process.exit(3); }, 5);`));
  assert.equal(r.code, 3, r.stderr);
  assert.deepEqual(seqs(readLines(file)), range(10000));
});

test('the natural end of the event loop and lines logged in beforeExit are all written', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const r = await runScript(
    dir,
    'natural.js',
    fixture(file, `burst(20000); let once = false; process.on('beforeExit', () => { if (!once) { once = true; burst(100, 20000); } });`),
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(seqs(readLines(file)), range(20100));
});

test('an uncaught exception still exits non-zero with every earlier line written and the error logged as fatal', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const r = await runScript(dir, 'throw.js', fixture(file, `burst(30000); setTimeout(() => { throw new Error('kaboom'); }, 1);`, '{ logUncaught: true }'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /kaboom/);
  const lines = readLines(file);
  assert.deepEqual(seqs(lines), range(30000));
  const last = lines[lines.length - 1]!;
  assert.equal(last['level'], 60);
  assert.equal(last['msg'], 'uncaught exception');
  assert.equal((last['err'] as { message: string }).message, 'kaboom');
});

test('an unhandled rejection exits non-zero with every earlier line written', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const r = await runScript(dir, 'reject.js', fixture(file, `burst(30000); Promise.reject(new Error('nope'));`, '{ logUncaught: true }'));
  assert.equal(r.code, 1);
  const lines = readLines(file);
  assert.deepEqual(seqs(lines), range(30000));
  assert.equal(lines[lines.length - 1]!['msg'], 'unhandled rejection');
});

test("lines logged in the application's own exit listener (registered after the logger) are written, after every earlier line", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  // the second listener logs more than one buffer's worth: every one of those lines is written too
  const body = `
burst(1000);
process.on('exit', (code) => log.info({ seq: 1000, code }, 'exiting'));
process.on('exit', () => burst(20000, 1001));
process.exitCode = 4;`;
  const r = await runScript(dir, 'exit-listener.js', fixture(file, body, '{ bufferBytes: 65536 }'));
  assert.equal(r.code, 4, r.stderr);
  const lines = readLines(file);
  assert.deepEqual(seqs(lines), range(21001));
  assert.equal(lines[1000]!['msg'], 'exiting');
  assert.equal(lines[1000]!['code'], 4);
});

test('process.exit() with an exit listener that logs keeps the listener\'s line and the exit code', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
burst(5000);
process.on('exit', (code) => log.warn({ seq: 5000, code }, 'exit code'));
setTimeout(() => process.exit(9), 1);`;
  const r = await runScript(dir, 'exit-listener-exit.js', fixture(file, body));
  assert.equal(r.code, 9, r.stderr);
  const lines = readLines(file);
  assert.deepEqual(seqs(lines), range(5001));
  assert.equal(lines[5000]!['code'], 9);
});

for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGXCPU'] as const) {
  test(`${signal} without an application handler flushes, then the process dies of ${signal} as it would have`, async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'out.log');
    const r = await runScript(dir, 'sig.js', fixture(file, `burst(50000); setInterval(() => {}, 1000); console.log('ready');`), {
      onStdout: (c, child) => {
        if (c.includes('ready')) child.kill(signal);
      },
    });
    assert.equal(r.signal, signal);
    assert.deepEqual(seqs(readLines(file)), range(50000));
  });
}

test('SIGTERM with an application handler leaves exiting to the application, and its shutdown lines are kept', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
burst(50000);
const keep = setInterval(() => {}, 1000);
process.on('SIGTERM', () => {
  log.warn('shutting down');
  setTimeout(() => { burst(10, 50000); clearInterval(keep); process.exitCode = 7; }, 20);
});
console.log('ready');`;
  const r = await runScript(dir, 'sig-app.js', fixture(file, body), {
    onStdout: (c, child) => {
      if (c.includes('ready')) child.kill('SIGTERM');
    },
  });
  assert.equal(r.signal, null);
  assert.equal(r.code, 7);
  const lines = readLines(file);
  assert.deepEqual(seqs(lines), range(50010));
  assert.equal(lines.filter((l) => l['msg'] === 'shutting down').length, 1);
});

for (const signal of ['SIGTERM', 'SIGHUP'] as const) {
  for (const order of ['before', 'after'] as const) {
    test(`${signal} with only a library that re-raises when it is the one listener (signal-exit's rule), registered ${order} the logger: the process dies of ${signal} with every line`, async (t) => {
      const dir = tempDir(t);
      const file = join(dir, 'out.log');
      const lib = `
process.on('${signal}', function reraiseWhenAlone() {
  if (process.listeners('${signal}').length !== 1) return; // someone else will end the process
  process.removeListener('${signal}', reraiseWhenAlone);
  process.kill(process.pid, '${signal}');
});`;
      const src = fixture(file, `${order === 'after' ? lib : ''}\nburst(50000); setInterval(() => {}, 1000); console.log('ready');`);
      const r = await runScript(dir, 'lib-signal.js', order === 'before' ? lib + src : src, {
        timeoutMs: 15_000, // without the fix the process stays up and this runs out
        onStdout: (c, child) => {
          if (c.includes('ready')) child.kill(signal);
        },
      });
      assert.equal(r.signal, signal);
      assert.deepEqual(seqs(readLines(file)), range(50000));
    });
  }
}

test('SIGHUP twice to an application that reloads on SIGHUP: each one flushes, the process keeps running', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
burst(20000);
let n = 0;
const keep = setInterval(() => {}, 1000);
process.on('SIGHUP', () => {
  n++;
  // what the file holds now, written by the logger's flush before this listener ran
  const lines = require('node:fs').readFileSync(FILE, 'utf8').split('\\n').length - 1;
  console.log('reload ' + n + ' ' + lines);
  if (n === 1) burst(20000, 20000);
  else clearInterval(keep);
});
console.log('ready');`;
  const seen: string[] = [];
  const r = await runScript(dir, 'hup-twice.js', fixture(file, body), {
    onStdout: (c, child) => {
      if (c.includes('ready')) child.kill('SIGHUP');
      for (const m of c.matchAll(/reload (\d+) (\d+)/g)) {
        seen.push(`${m[1]} ${m[2]}`);
        if (m[1] === '1') child.kill('SIGHUP');
      }
    },
  });
  assert.equal(r.signal, null);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(seen, ['1 20000', '2 40000']);
  assert.deepEqual(seqs(readLines(file)), range(40000));
});

test('SIGHUP with an application handler (a config reload) flushes and leaves the process running', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
burst(30000);
const keep = setInterval(() => {}, 1000);
process.on('SIGHUP', () => {
  log.info('reloading');
  setTimeout(() => { burst(10, 30000); clearInterval(keep); }, 20);
});
console.log('ready');`;
  const r = await runScript(dir, 'hup-app.js', fixture(file, body), {
    onStdout: (c, child) => {
      if (c.includes('ready')) child.kill('SIGHUP');
    },
  });
  assert.equal(r.signal, null);
  assert.equal(r.code, 0);
  const lines = readLines(file);
  assert.deepEqual(seqs(lines), range(30010));
  assert.equal(lines.filter((l) => l['msg'] === 'reloading').length, 1);
});

test('kill -9: every line whose flush() resolved is in the file', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
(async () => {
  for (let b = 0; ; b++) {
    burst(1000, b * 1000);
    await log.flush();
    process.stdout.write('acked ' + (b * 1000 + 999) + '\\n');
  }
})();`;
  let acked = -1;
  const r = await runScript(dir, 'kill9.js', fixture(file, body, "{ durability: 'fsync' }"), {
    onStdout: (c, child) => {
      for (const m of c.matchAll(/acked (\d+)/g)) acked = Math.max(acked, Number(m[1]));
      if (acked >= 20_000 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    },
  });
  assert.equal(r.signal, 'SIGKILL');
  const got = seqs(readLines(file));
  assert.ok(got.length >= acked + 1, `${got.length} lines on disk, ${acked + 1} acknowledged`);
  assert.deepEqual(got.slice(0, acked + 1), range(acked + 1));
});

test('several loggers and their children all flush on exit', async (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a.log');
  const b = join(dir, 'b.log');
  const body = `
const other = createLogger({ destination: ${JSON.stringify(b)}, flushIntervalMs: 60000 });
const kids = [log.child({ k: 1 }), log.child({ k: 2 }).child({ j: 3 }), other.child({ k: 4 })];
for (let i = 0; i < 30000; i++) kids[i % 3].info({ seq: i }, 'x');
process.exit(0);`;
  const r = await runScript(dir, 'many.js', fixture(a, body));
  assert.equal(r.code, 0, r.stderr);
  const got = [...seqs(readLines(a)), ...seqs(readLines(b))].sort((x, y) => x - y);
  assert.deepEqual(got, range(30000));
});

test('a worker thread that logs and exits (naturally or with process.exit) loses nothing', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
const { Worker, isMainThread, workerData } = require('node:worker_threads');
if (isMainThread) {
  const w1 = new Worker(__filename, { workerData: { from: 0, exit: false } });
  w1.on('exit', () => {
    const w2 = new Worker(__filename, { workerData: { from: 20000, exit: true } });
    w2.on('exit', (code) => { burst(10, 40000); process.exitCode = code; });
  });
} else {
  burst(20000, workerData.from);
  if (workerData.exit) process.exit(0);
}`;
  const r = await runScript(dir, 'worker.js', fixture(file, body));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    seqs(readLines(file)).sort((x, y) => x - y),
    range(40010),
  );
});

test('process.exit() in main while a worker logs keeps every line the worker logged before, all whole', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
const { Worker, isMainThread } = require('node:worker_threads');
if (isMainThread) {
  const w = new Worker(__filename);
  w.on('message', (m) => { if (m >= 20000) { burst(100, 1000000); process.exit(0); } });
} else {
  const { parentPort } = require('node:worker_threads');
  // no flush: the lines sit in the worker's buffer when main exits
  let b = 0;
  const more = () => { burst(1000, b * 1000); parentPort.postMessage(b * 1000 + 999); b++; setImmediate(more); };
  more();
}`;
  const r = await runScript(dir, 'worker-exit.js', fixture(file, body));
  assert.equal(r.code, 0, r.stderr);
  const got = seqs(readLines(file)); // readLines throws on a torn line
  const worker = got.filter((s) => s < 1000000).sort((x, y) => x - y);
  assert.ok(worker.length >= 20000, `${worker.length} worker lines`);
  assert.deepEqual(worker, range(worker.length));
  assert.deepEqual(got.filter((s) => s >= 1000000), range(100).map((i) => 1000000 + i));
});

test('SIGTERM to a process whose worker logs writes the worker lines too before dying of SIGTERM', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
const { Worker, isMainThread } = require('node:worker_threads');
if (isMainThread) {
  const w = new Worker(__filename);
  w.on('message', () => console.log('ready'));
} else {
  burst(30000);
  require('node:worker_threads').parentPort.postMessage('logged');
  setInterval(() => {}, 1000);
}`;
  const r = await runScript(dir, 'worker-sig.js', fixture(file, body), {
    onStdout: (c, child) => {
      if (c.includes('ready')) child.kill('SIGTERM');
    },
  });
  assert.equal(r.signal, 'SIGTERM');
  assert.deepEqual(seqs(readLines(file)), range(30000));
});

test('SIGUSR1 opens the inspector and the process goes on logging: nothing is lost, nothing dies', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
burst(20000);
const inspector = require('node:inspector');
const wait = setInterval(() => {
  if (inspector.url() === undefined) return;
  clearInterval(wait);
  burst(10, 20000);
  inspector.close();
}, 5);
console.log('ready');`;
  const r = await runScript(dir, 'usr1.js', fixture(file, body), {
    args: ['--inspect-port=0'], // a free port: other test runs may hold 9229
    onStdout: (c, child) => {
      if (c.includes('ready')) child.kill('SIGUSR1');
    },
  });
  assert.equal(r.signal, null);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Debugger listening/);
  assert.deepEqual(seqs(readLines(file)), range(20010));
});

test('worker.terminate(): the lines the worker flushed are in the file, and every line is whole', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'out.log');
  const body = `
const { Worker, isMainThread, parentPort } = require('node:worker_threads');
if (isMainThread) {
  const w = new Worker(__filename);
  w.on('message', () => w.terminate().then(() => burst(10, 1000000)));
} else {
  burst(10000);
  log.flushSync();
  burst(3000, 10000); // not flushed: what the buffer still holds when terminate() comes is lost
  parentPort.postMessage('logged');
  setInterval(() => {}, 1000);
}`;
  const r = await runScript(dir, 'terminate.js', fixture(file, body));
  assert.equal(r.code, 0, r.stderr);
  const got = seqs(readLines(file)); // throws on a torn line
  const worker = got.filter((x) => x < 1000000);
  assert.deepEqual(worker.slice(0, 10000), range(10000));
  assert.deepEqual(worker, range(worker.length));
  assert.deepEqual(got.filter((x) => x >= 1000000), range(10).map((i) => 1000000 + i));
});

test('a pipe nobody reads at exit: the exit flush gives up after its deadline, says how many lines it could not write, and the process ends', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'pipe');
  execFileSync('mkfifo', [path]);
  const rfd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const wfd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  t.after(() => fs.closeSync(rfd));
  const script = join(dir, 'stuck.js');
  // 150 KB: more than the pipe holds (64 KiB), less than the buffer, so only the exit flush writes
  fs.writeFileSync(
    script,
    `const log = require(${JSON.stringify(PKG)}).createLogger({ destination: 3, flushIntervalMs: 60000 });
for (let i = 0; i < 1000; i++) log.info({ seq: i }, 'x'.repeat(100));`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'pipe', wfd] });
  fs.closeSync(wfd);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  assert.equal(code, 0, stderr);
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /sluice logger: fd 3 accepted nothing for 10000 ms \(EAGAIN\); \d+ buffered lines are not written yet \[SLUICE_LOGGER_WRITE EAGAIN\]/);
});
