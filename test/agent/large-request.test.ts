/**
 * A request larger than a queue segment, through the real CLI (`max_bytes: 16MiB` → 4 MiB
 * segments; `max_body_bytes` stays at its 10 MiB default): the agent keeps running, a body of many
 * events is stored as several records (each event once, a sluice sender's replay recognised event
 * by event), and a single event larger than a record is answered 413 with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cli, freePort, startAgent, waitFor, withTempDir, writeConfig, readIfAny, type RunningAgent } from './helpers';

const MiB = 1024 * 1024;

const stop = async (a: RunningAgent): Promise<number | null> => {
  a.child.kill('SIGTERM');
  return (await a.exited).code;
};

/** Events by their `message`, counted. */
const counts = (text: string): Map<string, number> => {
  const n = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = (JSON.parse(line) as { message: string }).message;
    n.set(m, (n.get(m) ?? 0) + 1);
  }
  return n;
};

/** `n` NDJSON events of ~1 KiB, `message` = `<tag> <i>`, with `event_id` = `idFrom + i` when given. */
const body = (tag: string, n: number, idFrom?: number): string => {
  const pad = 'p'.repeat(1000);
  let s = '';
  for (let i = 0; i < n; i++) s += `${JSON.stringify({ ...(idFrom === undefined ? {} : { event_id: idFrom + i }), message: `${tag} ${i}`, pad })}\n`;
  return s;
};

test('http: a 9 MiB body with 4 MiB queue segments is stored as several records, each event once (a sender\'s replay after a restart too); one 5 MiB event gets 413 with the reason; the agent never stops', async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nqueue:\n  max_bytes: 16MiB\nsources:\n  in:\n    type: http\n    address: 127.0.0.1:${port}\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [in]\n    path: ./out.log\n    encoding: json\n`,
    );
    const validated = cli(['validate', '--config', cfg], { cwd: dir });
    assert.equal(validated.code, 0, validated.stderr);
    assert.match(
      validated.stdout,
      /warning: .*sluice\.yaml:\d+:\d+: sources\.in\.max_body_bytes: max_body_bytes 10MiB is more than a queue segment holds \(queue\.segment_bytes 4MiB, derived from max_bytes\): a larger request is stored as several records, but each event must fit one record and a larger one is refused \(413\)/,
    );
    const post = async (text: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> => {
      const r = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: text, headers: { 'content-type': 'application/x-ndjson', ...headers } });
      return { status: r.status, text: await r.text() };
    };
    let agent = startAgent(cfg, { cwd: dir });
    const a0 = agent;
    await waitFor('the http source listening', () => /http source listening/.test(a0.stderr()), 20_000, a0.stderr);
    assert.match(a0.stderr(), /WARN .*sources\.in\.max_body_bytes: max_body_bytes 10MiB is more than a queue segment holds/);

    const plain = body('plain', 9000); // ~9 MiB: three records at least
    assert.ok(plain.length > 2 * 4 * MiB);
    const r1 = await post(plain);
    assert.equal(r1.status, 200, r1.text);
    assert.deepEqual(JSON.parse(r1.text), { events: 9000 });

    const sender = { 'sluice-sender': '3f2a0c1e-0000-4000-8000-000000000002:central' };
    const ided = body('ided', 9000, 1000);
    assert.equal((await post(ided, sender)).status, 200);

    const huge = `${JSON.stringify({ message: 'huge', pad: 'h'.repeat(5 * MiB) })}\n`;
    const r413 = await post(`{"message":"before huge"}\n${huge}`);
    assert.equal(r413.status, 413);
    assert.match((JSON.parse(r413.text) as { error: string }).error, /^event 2 of the request is \d+ bytes as stored, more than one queue record holds \(\d+ bytes, set by queue\.segment_bytes\): it cannot be stored; send it smaller$/);
    assert.equal(agent.child.exitCode, null, 'the agent still runs');
    assert.equal((await post('{"message":"after huge"}\n')).status, 200, 'and takes the next request');

    // The sender replays the same body after a restart: every id was taken, none is appended again.
    assert.equal(await stop(agent), 0, agent.stderr());
    agent = startAgent(cfg, { cwd: dir });
    const a1 = agent;
    await waitFor('the http source listening again', () => /http source listening/.test(a1.stderr()), 20_000, a1.stderr);
    assert.equal((await post(ided, sender)).status, 200);
    assert.equal(await stop(agent), 0, agent.stderr());
    assert.match(agent.stderr(), /INFO 9000 replayed event\(s\) recognised and not appended again source=in/);

    const out = counts(await readIfAny(join(dir, 'out.log')));
    for (let i = 0; i < 9000; i++) {
      assert.equal(out.get(`plain ${i}`), 1, `plain ${i}`);
      assert.equal(out.get(`ided ${i}`), 1, `ided ${i}`);
    }
    assert.equal(out.get('before huge'), undefined, 'a refused request stores nothing');
    assert.equal(out.get('huge'), undefined);
    assert.equal(out.get('after huge'), 1);
    assert.equal(out.size, 2 * 9000 + 1);
  });
});

test('file source with multiline: one read of short lines whose events outgrow a 4 MiB segment is delivered whole, batch by batch; the agent stops cleanly', async () => {
  await withTempDir(async (dir) => {
    const want = Array.from({ length: 120_000 }, (_, i) => `l ${i}`);
    await writeFile(join(dir, 'app.log'), `${want.join('\n')}\n`); // ~1 MiB read; ~10 MiB of events
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nqueue:\n  max_bytes: 16MiB\nsources:\n  app:\n    type: file\n    include: ["./app.log"]\n    multiline: { mode: java }\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n    encoding: json\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    const out = join(dir, 'out.log');
    await waitFor('every event in the sink', async () => (await readIfAny(out)).split('\n').length > want.length, 30_000, agent.stderr);
    assert.equal(await stop(agent), 0, agent.stderr());
    assert.doesNotMatch(agent.stderr(), /restarting|RECORD_TOO_LARGE/);
    const got = (await readIfAny(out))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => (JSON.parse(l) as { message: string }).message);
    assert.deepEqual(got, want);
  });
});
