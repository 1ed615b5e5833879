/**
 * sluice → sluice over HTTP through the real CLI: an edge agent (file source → http sink,
 * concurrency 4, groups cut by 413 halves) posts to a central agent (http source → file sink, and an http sink to a receiver
 * in this process), and both are killed with SIGKILL at random moments and restarted.
 *
 * What the hop promises is exactly once into the central's queue: every line gets exactly one
 * central event id. The central's own http sink tells us those ids (a replay of it repeats an id,
 * which is the central sink's at-least-once, not the hop's). The central's file sink must hold every
 * line; after a kill -9 of the central it may repeat what it wrote since its last cursor persist
 * (its own, documented bound), which the test reports. SLUICE_SEED=<n> replays one run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { cli, freePort, seededRandom, sleep, startAgent, waitFor, withTempDir, writeConfig, type RunningAgent } from './helpers';

/** The central's downstream: records which central event ids carried each line. */
class Downstream {
  readonly idsByLine = new Map<string, Set<number>>();
  private server: Server | undefined;
  port = 0;

  async listen(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
          if (line === '') continue;
          const e = JSON.parse(line) as { event_id: number; message: string };
          let ids = this.idsByLine.get(e.message);
          if (ids === undefined) this.idsByLine.set(e.message, (ids = new Set()));
          ids.add(e.event_id);
        }
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

const centralConfig = (dir: string, port: number, downstream: number): string =>
  `data_dir: ${join(dir, 'central-data')}\n` +
  // A small body limit: the edge's groups (40 events, ~5 KB) get 413 and are cut in halves, which a
  // replay after a kill -9 cuts elsewhere (other groups).
  `sources:\n  from_edges:\n    type: http\n    address: 127.0.0.1:${port}\n    max_body_bytes: 2KiB\n` +
  `sinks:\n` +
  `  out:\n    type: file\n    inputs: [from_edges]\n    path: ${join(dir, 'out.log')}\n    encoding: json\n` +
  `  check:\n    type: http\n    inputs: [from_edges]\n    uri: http://127.0.0.1:${downstream}/\n    encoding: json\n    max_backoff: 300ms\n`;

// A long cursor flush interval: after a kill -9 the edge replays everything it delivered in that
// run after its first group, so the central must recognise many replays.
const edgeConfig = (dir: string, port: number): string =>
  `data_dir: ${join(dir, 'edge-data')}\nqueue:\n  cursor_flush_interval: 1h\n` +
  `sources:\n  app:\n    type: file\n    include: ["${join(dir, 'logs', 'app.log')}"]\n    glob_interval_ms: 50\n` +
  `sinks:\n  central:\n    type: http\n    inputs: [app]\n    uri: http://127.0.0.1:${port}/\n    encoding: json\n    max_backoff: 300ms\n` +
  `    batch: { max_events: 40, timeout: 10ms }\n    request: { timeout: 3s, concurrency: 4 }\n`;

const stop = async (a: RunningAgent): Promise<number | null> => {
  a.child.kill('SIGTERM');
  return (await a.exited).code;
};

const kill = async (a: RunningAgent): Promise<void> => {
  a.child.kill('SIGKILL');
  await a.exited;
};

const messages = (text: string): Map<string, number> => {
  const n = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = (JSON.parse(line) as { message: string }).message;
    n.set(m, (n.get(m) ?? 0) + 1);
  }
  return n;
};

const edgeRun = async (seed: number, diag: (s: string) => void): Promise<void> => {
  const rand = seededRandom(seed); // the kills
  const writerRand = seededRandom(seed ^ 0x5bd1e995); // the writer's pace, apart: kills repeat with the seed
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const log = join(dir, 'logs', 'app.log');
    await appendFile(log, '');
    const down = new Downstream();
    await down.listen();
    const port = await freePort();
    const cCfg = await writeConfig(dir, centralConfig(dir, port, down.port), 'central.yaml');
    const eCfg = await writeConfig(dir, edgeConfig(dir, port), 'edge.yaml');
    const TOTAL = 4000;
    let central = startAgent(cCfg, { cwd: dir });
    let edge = startAgent(eCfg, { cwd: dir });
    const stderr: string[] = [];
    let written = 0;
    const LAST = 500; // written after the kills, before the final kill -9 of the edge
    const writer = (async () => {
      while (written < TOTAL - LAST) {
        let chunk = '';
        for (let i = 0; i < 50 && written < TOTAL - LAST; i++) chunk += `line ${written++}\n`;
        await appendFile(log, chunk);
        await sleep(10 + writerRand() * 20);
      }
    })();
    try {
      // Kills: the edge, the central, or both at once, at random moments while lines flow.
      const kills = { edge: 0, central: 0 };
      for (let k = 0; k < 6; k++) {
        await sleep(300 + rand() * 700);
        const which = k < 2 ? (k === 0 ? 'edge' : 'central') : rand() < 0.2 ? 'both' : rand() < 0.5 ? 'edge' : 'central';
        if (which !== 'central') {
          await kill(edge);
          stderr.push(edge.stderr());
          kills.edge++;
        }
        if (which !== 'edge') {
          await kill(central);
          stderr.push(central.stderr());
          kills.central++;
        }
        await sleep(rand() * 300);
        if (which !== 'central') edge = startAgent(eCfg, { cwd: dir });
        if (which !== 'edge') central = startAgent(cCfg, { cwd: dir });
      }
      await writer;
      const all = (): string => `${stderr.join('\n')}\nedge:\n${edge.stderr()}\ncentral:\n${central.stderr()}`;
      // Everything so far delivered first: the edge's run has had its first delivery (which persists
      // its cursor) or has nothing left to deliver, so the lines below are delivered after it.
      await waitFor('the lines so far at the central', () => down.idsByLine.size >= TOTAL - LAST, 90_000, () => `${down.idsByLine.size}/${TOTAL - LAST}\n${all().slice(-4000)}`);
      const e0 = edge;
      await waitFor('the edge tailing its file', () => /INFO tailing file/.test(e0.stderr()), 20_000, e0.stderr);
      // The edge's cursor as it is now, put back before its last start below: as if a power loss had
      // taken its cursor back (what fsync: interval allows), the edge then sends the lines below again.
      const cursorFile = join(dir, 'edge-data', 'queue', 'cursor.central');
      const cursorThen = await readFile(cursorFile);
      // In small appends, so they become several queue records (groups) at the edge.
      while (written < TOTAL) {
        let chunk = '';
        for (let i = 0; i < 25; i++) chunk += `line ${written++}\n`;
        await appendFile(log, chunk);
        await sleep(60);
      }
      await waitFor('every line at the central', () => down.idsByLine.size >= TOTAL, 90_000, () => `${down.idsByLine.size}/${TOTAL}\n${all().slice(-4000)}`);
      // One more kill -9 of the edge after everything was delivered, and its cursor taken back to
      // before the last lines: it sends them all again; the central must recognise every one.
      await kill(edge);
      const beforeFinal = edge.stderr();
      stderr.push(beforeFinal);
      kills.edge++;
      await writeFile(cursorFile, cursorThen);
      edge = startAgent(eCfg, { cwd: dir });
      const e = edge;
      await waitFor('the edge running again', () => /INFO running:/.test(e.stderr()), 20_000, e.stderr);
      assert.equal(await stop(edge), 0, edge.stderr()); // a graceful stop drains: the replay is done
      assert.equal(await stop(central), 0, central.stderr());
      const centralLast = central.stderr();
      diag(`seed=${seed}: kills edge ${kills.edge}, central ${kills.central}`);

      const twice: string[] = [];
      for (let i = 0; i < TOTAL; i++) {
        const ids = down.idsByLine.get(`line ${i}`);
        assert.ok(ids !== undefined, `seed ${seed}: line ${i} never reached the central`);
        if (ids.size !== 1) twice.push(`line ${i}: central ids ${[...ids].join(', ')}`);
      }
      assert.deepEqual(twice, [], `seed ${seed}: lines appended more than once to the central's queue`);
      assert.equal(down.idsByLine.size, TOTAL, 'no line that was never written');

      const m = /INFO .*?(\d+) replayed event\(s\) recognised and not appended again/.exec(centralLast);
      assert.ok(m, `the central reports the replays it recognised\n${centralLast}\nedge before:\n${beforeFinal}\nedge:\n${edge.stderr()}`);
      assert.ok(Number(m[1]) >= LAST, `the central recognised ${m[1]} replayed events, fewer than the ${LAST} the edge sent again`);

      const inFile = messages(await readFile(join(dir, 'out.log'), 'utf8'));
      let repeated = 0;
      for (let i = 0; i < TOTAL; i++) {
        const n = inFile.get(`line ${i}`) ?? 0;
        assert.ok(n >= 1, `seed ${seed}: line ${i} missing from the central's file`);
        repeated += n - 1;
      }
      diag(`seed=${seed}: central recognised ${m[1]} replayed events in its last run; its file sink repeated ${repeated} line(s) after its own kill -9s`);
      // The central's file sink cuts its output back to the length saved with its cursor: exactly
      // once end to end, from the edge's file to the central's.
      assert.equal(repeated, 0, `seed ${seed}: lines written twice into the central's file`);
    } finally {
      edge.child.kill('SIGKILL');
      central.child.kill('SIGKILL');
      await Promise.all([edge.exited, central.exited]);
      await writer.catch(() => undefined);
      await down.close();
    }
  });
};

test('edge → central over HTTP with kill -9 of both ends at random moments: every line exactly once in the queue and the file of the central (3 seeds)', async (t) => {
  const fixed = process.env['SLUICE_SEED'];
  const seeds = fixed !== undefined ? [Number(fixed)] : [1, 2, 3].map(() => Math.floor(Math.random() * 2 ** 31));
  for (const seed of seeds) {
    t.diagnostic(`seed=${seed} (rerun with SLUICE_SEED=${seed})`);
    await edgeRun(seed, (s) => t.diagnostic(s));
  }
});

test('central http source: a sender\'s replayed body, cut differently and after a restart, is answered 200 and not appended again, a body without Sluice-Sender is appended each time, a malformed header is refused with its name', async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  in:\n    type: http\n    address: 127.0.0.1:${port}\nsinks:\n  out:\n    type: file\n    inputs: [in]\n    path: ./out.log\n    encoding: json\n`,
    );
    let central = startAgent(cfg, { cwd: dir });
    const post = async (body: string, headers: Record<string, string>): Promise<{ status: number; text: string }> => {
      const r = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson', ...headers } });
      return { status: r.status, text: await r.text() };
    };
    const c0 = central;
    await waitFor('the central listening', () => /http source listening/.test(c0.stderr()), 20_000, c0.stderr);
    const sender = { 'sluice-sender': '3f2a0c1e-0000-4000-8000-000000000001:central' };
    const body = (from: number, to: number): string => {
      let s = '';
      for (let i = from; i <= to; i++) s += `${JSON.stringify({ event_id: 100 + i, message: `line ${i}` })}\n`;
      return s;
    };
    assert.equal((await post(body(0, 9), sender)).status, 200);
    assert.equal((await post(body(5, 14), sender)).status, 200, 'a replay overlapping the first body, cut elsewhere');
    // A restart: what it took is remembered with the data (kill -9 of either end: the test above;
    // a graceful stop here, so the file sink's own kill -9 replay cannot blur the count).
    assert.equal(await stop(central), 0, central.stderr());
    central = startAgent(cfg, { cwd: dir });
    const c1 = central;
    await waitFor('the central listening again', () => /http source listening/.test(c1.stderr()), 20_000, c1.stderr);
    assert.equal((await post(body(0, 19), { ...sender, 'sluice-acked-below': '100' })).status, 200);
    assert.equal((await post('{"message":"plain"}\n', {})).status, 200);
    assert.equal((await post('{"message":"plain"}\n', {})).status, 200);
    const bad = await post(body(0, 0), { 'sluice-sender': 'has space' });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /header Sluice-Sender: expected <agent id>:<sink id>/);
    assert.equal(await stop(central), 0, central.stderr());
    assert.match(central.stderr(), /INFO 15 replayed event\(s\) recognised and not appended again source=in senders=1/);
    const out = messages(await readFile(join(dir, 'out.log'), 'utf8'));
    for (let i = 0; i < 20; i++) assert.equal(out.get(`line ${i}`), 1, `line ${i}`);
    assert.equal(out.get('plain'), 2, 'a client that sends no ids is appended as sent, each time');
  });
});

test('validate states the edge → central guarantee: exactly once with encoding json, not deduplicable with text; the central names what it takes once', async () => {
  await withTempDir(async (dir) => {
    const edge = (encoding: string): string =>
      `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./app.log"]\nsinks:\n  central:\n    type: http\n    inputs: [app]\n    uri: http://127.0.0.1:9/\n    encoding: ${encoding}\n`;
    const json = cli(['validate', '--config', await writeConfig(dir, edge('json'), 'json.yaml')], { cwd: dir });
    assert.equal(json.code, 0, json.stderr);
    assert.match(json.stdout, /app \(file\) → central \(http\): no loss; .*exactly once into a sluice http source/);
    const text = cli(['validate', '--config', await writeConfig(dir, edge('text'), 'text.yaml')], { cwd: dir });
    assert.match(text.stdout, /a sluice http source cannot deduplicate it \(text bodies carry no event ids: use encoding: json\)/);
    const central = cli(
      ['validate', '--config', await writeConfig(dir, 'data_dir: ./c\nsources:\n  in:\n    type: http\n    address: 127.0.0.1:9\nsinks:\n  out:\n    type: file\n    inputs: [in]\n    path: ./o.log\n', 'c.yaml')],
      { cwd: dir },
    );
    assert.match(central.stdout, /in \(http\) → out \(file\): .*into this agent: exactly once from a sluice http sink with encoding: json/);
  });
});
