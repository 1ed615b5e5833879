/**
 * Multiline, JSON and CRI decoding through the real CLI (`sluice run`): real Java, Python and Go
 * traces (test/fixtures/traces/) as one event each, byte-exact; kill -9 while a trace is being
 * written (the position never passes the start of the pending event, so it arrives once and whole);
 * a writer pausing longer than `timeout`; CRI pieces; JSON lines; `max_lines`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ndjsonObjects, readIfAny, seededRandom, sleep, startAgent, waitFor, withTempDir, writeConfig, type RunningAgent } from './helpers';
import { GO, JAVA, PYTHON, interleave, plain, trace } from '../sources/decode-traces';

const fileSource = (id: string, path: string, extra: string): string =>
  `  ${id}:\n    type: file\n    include: ["${path}"]\n    glob_interval_ms: 50\n${extra
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => `    ${l}\n`)
    .join('')}`;

const jsonSink = (inputs: string[], path = './out/events.json'): string =>
  `sinks:\n  out:\n    type: file\n    inputs: [${inputs.join(', ')}]\n    path: ${path}\n    encoding: json\n`;

/** Events in the sink file (NDJSON), once there are at least `n`. */
const eventsWhen = async (path: string, n: number, agent: RunningAgent, timeoutMs = 30_000): Promise<Record<string, unknown>[]> => {
  let got: Record<string, unknown>[] = [];
  await waitFor(
    `${n} events in ${path}`,
    async () => {
      got = ndjsonObjects(await readIfAny(path));
      return got.length >= n;
    },
    timeoutMs,
    () => `have ${got.length}\n${agent.stderr()}`,
  );
  return got;
};

const stop = async (agent: RunningAgent): Promise<void> => {
  agent.child.kill('SIGTERM');
  const end = await agent.exited;
  assert.equal(end.code, 0, agent.stderr());
};

test('java, python and go traces from the real runtimes, interleaved with ordinary lines, arrive one event per trace, byte-exact', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const java = interleave(JAVA, 20);
    const py = interleave(PYTHON, 24);
    const go = interleave(GO, 24);
    writeFileSync(join(dir, 'logs', 'java.log'), java.text);
    writeFileSync(join(dir, 'logs', 'py.log'), py.text);
    writeFileSync(join(dir, 'logs', 'go.log'), go.text);
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n` +
        fileSource('java', './logs/java.log', 'multiline:\n  mode: java\n  timeout: 200ms') +
        fileSource('py', './logs/py.log', 'multiline:\n  mode: python\n  timeout: 200ms') +
        fileSource('go', './logs/go.log', 'multiline:\n  mode: go\n  timeout: 200ms') +
        jsonSink(['java', 'py', 'go']),
    );
    const agent = startAgent(cfg, { cwd: dir });
    const total = java.events.length + py.events.length + go.events.length;
    const got = await eventsWhen(join(dir, 'out', 'events.json'), total, agent);
    await sleep(300); // nothing more arrives
    await stop(agent);
    const all = ndjsonObjects(await readIfAny(join(dir, 'out', 'events.json')));
    assert.equal(all.length, got.length);
    for (const [id, want] of [
      ['java', java.events],
      ['py', py.events],
      ['go', go.events],
    ] as const) {
      const mine = all.filter((e) => e['source'] === id);
      assert.deepEqual(
        mine.map((e) => e['message']),
        want,
        `source ${id}`,
      );
      for (const e of mine) assert.equal(e['file'], join(dir, 'logs', `${id}.log`));
    }
  });
});

test('java traces tailed into a file sink with encoding: text come out byte for byte as the application wrote them, one trace per event', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const log = join(dir, 'logs', 'app.log');
    writeFileSync(log, '');
    const input = ['2026-11-30T03:00:01Z INFO starting\n', `${trace('java-uncaught.txt')}\n`, '2026-11-30T03:00:02Z INFO restarted\n', `${trace('java-printstacktrace.txt')}\n`, '2026-11-30T03:00:03Z INFO done\n'];
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n` +
        fileSource('app', './logs/app.log', 'multiline:\n  mode: java\n  timeout: 200ms') +
        `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out/app.txt\n    encoding: text\n` +
        `  events:\n    type: file\n    inputs: [app]\n    path: ./out/events.json\n    encoding: json\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    // Tailed: written while the agent runs, a trace's lines in two writes.
    for (const part of input) {
      const cut = part.indexOf('\tat ');
      if (cut > 0) {
        appendFileSync(log, part.slice(0, cut));
        await sleep(20);
        appendFileSync(log, part.slice(cut));
      } else appendFileSync(log, part);
      await sleep(50);
    }
    const want = input.join('');
    const out = join(dir, 'out', 'app.txt');
    await waitFor('the text output', async () => (await readIfAny(out)).length >= want.length, 20_000, () => agent.stderr());
    await eventsWhen(join(dir, 'out', 'events.json'), input.length, agent);
    await sleep(300); // nothing more arrives
    await stop(agent);
    assert.ok(readFileSync(out).equals(Buffer.from(want)), `${readFileSync(out, 'utf8')}\n---\n${want}`);
    const events = ndjsonObjects(await readIfAny(join(dir, 'out', 'events.json')));
    assert.deepEqual(
      events.map((e) => e['message']),
      input.map((p) => p.slice(0, -1)),
      'one event per trace',
    );
  });
});

/** A real HTTP receiver: events by their event id (a replay after kill -9 has the same id). */
const receiver = async (): Promise<{ server: Server; port: number; byId: Map<number, string> }> => {
  const byId = new Map<number, string>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      for (const e of ndjsonObjects(Buffer.concat(chunks).toString('utf8'))) byId.set(e['event_id'] as number, e['message'] as string);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, byId };
};

/** The same text as CRI lines: every line longer than 20 bytes written as a `P` piece and an `F` piece. */
const asCri = (text: string): string =>
  text
    .split(/(?<=\n)/)
    .map((l, i) => {
      const ts = `2026-11-30T03:00:00.${String(i).padStart(9, '0')}Z`;
      return l.length > 20 ? `${ts} stderr P ${l.slice(0, 12)}\n${ts} stderr F ${l.slice(12)}` : `${ts} stderr F ${l}`;
    })
    .join('');

for (const [seed, cri] of [
  [1, false],
  [2, false],
  [3, false],
  [4, false],
  [5, true],
  [7, true],
] as const) {
  test(`kill -9 while traces are being written${cri ? ' as CRI P/F pieces' : ''} (seed ${seed}): every event arrives exactly once (by event id) and whole`, async (t) => {
    const rand = seededRandom(seed * 7919);
    const rx = await receiver();
    t.after(() => rx.server.close());
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'logs'));
      const log = join(dir, 'logs', 'app.log');
      const { events, text: lines } = interleave([...JAVA, ...PYTHON], 60, 2);
      const text = cri ? asCri(lines) : lines;
      const cfg = await writeConfig(
        dir,
        `data_dir: ./data\nqueue:\n  cursor_flush_interval: 50ms\nsources:\n` +
          fileSource('app', './logs/app.log', `multiline:\n  mode: ${seed % 2 === 0 ? 'python' : 'java'}\n  timeout: 4s${cri ? '\ndecoding: cri' : ''}`) +
          `sinks:\n  rx:\n    type: http\n    inputs: [app]\n    uri: http://127.0.0.1:${rx.port}/\n    encoding: json\n    max_backoff: 200ms\n`,
      );
      // Python's mode groups Python traces; Java lines then are ordinary lines (and the other way round).
      const expected = seed % 2 === 0 ? pythonView(events) : javaView(events);
      let agent = startAgent(cfg, { cwd: dir, extra: ['--log-level', 'warn'] });
      const bytes = Buffer.from(text);
      writeFileSync(log, '');
      let at = 0;
      let kills = 0;
      const stderr: string[] = [];
      while (at < bytes.length) {
        // A piece ending anywhere (mid line, mid trace), then maybe a kill while the rest is unwritten.
        const n = Math.min(bytes.length - at, 1 + Math.floor(rand() * 600));
        appendFileSync(log, bytes.subarray(at, at + n));
        at += n;
        await sleep(5 + rand() * 40);
        if (rand() < 0.15) {
          // Time for the agent to read the piece (a trace it ends in stays pending), then the kill.
          await sleep(150 + rand() * 300);
          agent.child.kill('SIGKILL');
          await agent.exited;
          stderr.push(agent.stderr());
          kills++;
          agent = startAgent(cfg, { cwd: dir, extra: ['--log-level', 'warn'] });
        }
      }
      await waitFor('every event at the receiver', () => rx.byId.size >= expected.length, 40_000, () => `${rx.byId.size} of ${expected.length}\n${agent.stderr()}`);
      await sleep(300);
      await stop(agent);
      const got = [...rx.byId.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
      t.diagnostic(`seed ${seed}: ${expected.length} events, ${kills} kill -9`);
      assert.deepEqual(got, expected, `seed ${seed}\n${stderr.join('\n---\n')}`);
    });
  });
}

/** The events the java mode makes of a file of Java traces, Python traces and ordinary lines. */
function javaView(events: readonly string[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (PYTHON.some((p) => trace(p) === e)) {
      // Python frames are indented: java mode joins them to the line before them.
      for (const l of e.split('\n')) {
        if (l !== '' && (l.startsWith(' ') || l.startsWith('\t')) && out.length > 0) out[out.length - 1] += `\n${l}`;
        else out.push(l);
      }
    } else out.push(e);
  }
  return out;
}

/** The events the python mode makes of the same file: Java traces are one event per line. */
function pythonView(events: readonly string[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    if (JAVA.some((j) => trace(j) === e)) out.push(...e.split('\n'));
    else out.push(e);
  }
  return out;
}

test('a writer pausing longer than timeout mid-trace: the first part is emitted at the timeout, the rest is an event flagged continuation', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const log = join(dir, 'logs', 'app.log');
    const lines = trace('java-uncaught.txt').split('\n');
    const cfg = await writeConfig(dir, `data_dir: ./data\nsources:\n` + fileSource('app', './logs/app.log', 'multiline:\n  mode: java\n  timeout: 500ms') + jsonSink(['app']));
    writeFileSync(log, `${plain(1)}\n${lines.slice(0, 5).join('\n')}\n`);
    const agent = startAgent(cfg, { cwd: dir });
    const out = join(dir, 'out', 'events.json');
    const first = await eventsWhen(out, 2, agent);
    assert.deepEqual(
      first.map((e) => e['message']),
      [plain(1), lines.slice(0, 5).join('\n')],
    );
    appendFileSync(log, `${lines.slice(5).join('\n')}\n${plain(2)}\n`);
    const all = await eventsWhen(out, 4, agent);
    await stop(agent);
    assert.deepEqual(
      all.map((e) => [e['message'], e['continuation']]),
      [
        [plain(1), undefined],
        [lines.slice(0, 5).join('\n'), undefined],
        [lines.slice(5).join('\n'), true],
        [plain(2), undefined],
      ],
    );
    assert.match(agent.stderr(), /timeoutFlushesTotal=1|"timeoutFlushesTotal":1/);
  });
});

test('cri files: P pieces are joined up to their F piece, with the stream and the runtime timestamp; parse_json makes fields of the message', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'pods'));
    const long = 'x'.repeat(40_000);
    const cri =
      `2026-11-30T03:00:00.000000001Z stdout P {"level":"info","msg":"${long.slice(0, 16384)}\n` +
      `2026-11-30T03:00:00.000000002Z stderr F a warning in between\n` +
      `2026-11-30T03:00:00.000000003Z stdout P ${long.slice(16384, 32768)}\n` +
      `2026-11-30T03:00:00.000000004Z stdout F ${long.slice(32768)}"}\n` +
      `2026-11-30T03:00:01.000000000Z stdout F plain text, not JSON\n`;
    writeFileSync(join(dir, 'pods', 'app.log'), cri);
    const cfg = await writeConfig(dir, `data_dir: ./data\nsources:\n` + fileSource('pod', './pods/*.log', 'decoding: cri\nparse_json: true') + jsonSink(['pod']));
    const agent = startAgent(cfg, { cwd: dir });
    const got = await eventsWhen(join(dir, 'out', 'events.json'), 3, agent);
    await stop(agent);
    assert.deepEqual(
      got.map(({ level, msg, message, stream, timestamp }) => ({ level, msg, message, stream, timestamp })),
      [
        { level: 'info', msg: long, message: undefined, stream: 'stdout', timestamp: '2026-11-30T03:00:00.000000001Z' },
        { level: undefined, msg: undefined, message: 'a warning in between', stream: 'stderr', timestamp: '2026-11-30T03:00:00.000000002Z' },
        { level: undefined, msg: undefined, message: 'plain text, not JSON', stream: 'stdout', timestamp: '2026-11-30T03:00:01.000000000Z' },
      ],
    );
    assert.match(agent.stderr(), /invalidJsonTotal/);
  });
});

test('json lines become fields; a line that is not JSON is kept as message and counted; max_lines cuts, flags and counts', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    writeFileSync(join(dir, 'logs', 'app.log'), '{"level":"warn","msg":"disk at 91%","pct":91}\nnot json at all\n{"level":"info","nested":{"a":[1,2]}}\n');
    const frames = Array.from({ length: 7 }, (_, i) => `\tat a.B.f${i}(B.java:${i})`);
    writeFileSync(join(dir, 'logs', 'trace.log'), `java.lang.Error: deep\n${frames.join('\n')}\n${plain(3)}\n`);
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n` +
        fileSource('app', './logs/app.log', 'decoding: json') +
        fileSource('tr', './logs/trace.log', 'multiline:\n  mode: java\n  max_lines: 5\n  timeout: 200ms') +
        jsonSink(['app', 'tr']),
    );
    const agent = startAgent(cfg, { cwd: dir });
    const got = await eventsWhen(join(dir, 'out', 'events.json'), 6, agent);
    await stop(agent);
    const app = got.filter((e) => e['source'] === 'app').map(({ timestamp: _t, ...rest }) => rest);
    const file = join(dir, 'logs', 'app.log');
    assert.deepEqual(app, [
      { level: 'warn', msg: 'disk at 91%', pct: 91, file, source: 'app' },
      { message: 'not json at all', file, source: 'app' },
      { level: 'info', nested: { a: [1, 2] }, file, source: 'app' },
    ]);
    const tr = got.filter((e) => e['source'] === 'tr');
    assert.deepEqual(
      tr.map((e) => [e['message'], e['cut'], e['continuation']]),
      [
        [['java.lang.Error: deep', ...frames.slice(0, 4)].join('\n'), 'max_lines', undefined],
        [frames.slice(4).join('\n'), undefined, true],
        [plain(3), undefined, undefined],
      ],
    );
    assert.match(agent.stderr(), /invalidJsonTotal/);
    assert.match(agent.stderr(), /cutMaxLinesTotal/);
  });
});

test('stdin with multiline: a trace piped in pieces is one event; a pause longer than timeout emits the pending event without waiting for the end', async () => {
  await withTempDir(async (dir) => {
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  in:\n    type: stdin\n    multiline:\n      mode: python\n      timeout: 300ms\n` + jsonSink(['in']),
    );
    const agent = startAgent(cfg, { cwd: dir, stdin: 'pipe' });
    const tb = trace('python-during.txt');
    const text = `${plain(1)}\n${tb}\n`;
    const stdin = agent.child.stdin;
    assert.ok(stdin);
    for (let i = 0; i < text.length; i += 97) {
      stdin.write(text.slice(i, i + 97));
      await sleep(5);
    }
    const out = join(dir, 'out', 'events.json');
    // The traceback is the last thing written: only the timeout can complete it while stdin stays open.
    const got = await eventsWhen(out, 2, agent);
    assert.deepEqual(
      got.map((e) => [e['message'], e['file']]),
      [
        [plain(1), 'stdin'],
        [tb, 'stdin'],
      ],
    );
    stdin.end(`${plain(2)}\n`);
    const end = await agent.exited;
    assert.equal(end.code, 0, agent.stderr());
    assert.deepEqual(
      ndjsonObjects(await readIfAny(out)).map((e) => e['message']),
      [plain(1), tb, plain(2)],
    );
  });
});
