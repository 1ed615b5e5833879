/**
 * The network sources through the real CLI, with real clients: util-linux `logger` for syslog
 * (TCP octet counting, TCP newline framing, RFC 3164, UDP), rsyslog forwarding (when installed),
 * and `curl` for HTTP (gzip, 401, 413);
 * and kill -9 for HTTP: every event a client got a 200 for is in the sink after a restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { request, Agent } from 'node:http';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { startAgent, waitFor, withTempDir, writeConfig, type RunningAgent, freePort, ndjsonObjects as events, readIfAny } from './helpers';

const LOGGER = '/usr/bin/logger';
const CURL = '/usr/bin/curl';
const RSYSLOGD = '/usr/sbin/rsyslogd';




const listening = async (agent: RunningAgent, n: number): Promise<void> =>
  waitFor('the sources to listen', () => agent.stderr().split('listening on').length > n, 20_000, agent.stderr);

/** POSTs `count` NDJSON objects `{"id":"<id>.<i>"}` to the http source on `port`; resolves to the status (0: no answer). */
const postIds = (port: number, httpAgent: Agent, id: number, count: number): Promise<number> =>
  new Promise((resolve) => {
    const body = Array.from({ length: count }, (_, i) => JSON.stringify({ id: `${id}.${i}` })).join('\n');
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent: httpAgent, headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });

const stop = async (agent: RunningAgent): Promise<void> => {
  agent.child.kill('SIGTERM');
  const r = await agent.exited;
  assert.equal(r.code, 0, agent.stderr());
};

test('syslog: real logger over TCP (octet counting, newline framing, RFC 3164) and UDP reaches the sink as structured events', { skip: !existsSync(LOGGER) && 'no util-linux logger' }, async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  sys:\n    type: syslog\n    address: 127.0.0.1:${port}\n  udp:\n    type: syslog\n    mode: udp\n    address: ${port}\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [sys, udp]\n    path: ./out.log\n    encoding: json\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    await listening(agent, 2);
    assert.match(agent.stderr(), /sink out reads source sys \(syslog\), which cannot acknowledge/);
    const lines = Array.from({ length: 2000 }, (_, i) => `bulk ${i} ${'b'.repeat(40)}`);
    await writeFile(join(dir, 'bulk.txt'), `${lines.join('\n')}\n`);
    const run = (args: string[]): void => {
      const r = spawnSync(LOGGER, ['-n', '127.0.0.1', '-P', String(port), ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    };
    run(['-T', '--octet-count', '--rfc5424', '--msgid', 'M1', '--sd-id', 'zoo@123', '--sd-param', 'tiger="hungry"', '-t', 'app1', 'octet counted']);
    run(['-T', '--rfc5424', '-p', 'local3.err', '-t', 'app2', 'newline framed']);
    run(['-T', '--rfc3164', '-t', 'app3', 'bsd style']);
    run(['-d', '--rfc5424', '-t', 'app4', 'over udp']);
    run(['-T', '--octet-count', '--rfc5424', '-t', 'bulk', '-f', join(dir, 'bulk.txt')]);
    const out = join(dir, 'out.log');
    await waitFor('every message in the sink', async () => events(await readIfAny(out)).length === 2004, 20_000, agent.stderr);
    const ev = events(await readFile(out, 'utf8'));
    const by = (app: string): Record<string, unknown> | undefined => ev.find((e) => e['appname'] === app);
    assert.deepEqual(by('app1')?.['zoo@123'], { tiger: 'hungry' });
    assert.equal(by('app1')?.['msgid'], 'M1');
    assert.equal(by('app1')?.['message'], 'octet counted');
    assert.equal(by('app1')?.['source'], 'sys');
    assert.equal(by('app1')?.['source_ip'], '127.0.0.1');
    assert.equal(by('app2')?.['facility'], 'local3');
    assert.equal(by('app2')?.['severity'], 'err');
    assert.equal(by('app2')?.['message'], 'newline framed');
    assert.equal(by('app3')?.['message'], 'bsd style');
    assert.equal(by('app3')?.['version'], undefined);
    assert.equal(by('app4')?.['source'], 'udp');
    assert.deepEqual(
      ev.filter((e) => e['appname'] === 'bulk').map((e) => e['message']),
      lines,
    );
    await stop(agent);
  });
});

test('http: real curl gets 200 for a gzip body once durable, 401 without the token, 413 above max_body_bytes', { skip: !existsSync(CURL) && 'no curl' }, async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  ingest:\n    type: http\n    address: 127.0.0.1:${port}\n    path: /ingest\n    max_body_bytes: 64KiB\n    auth: { bearer_token: "\${TEST_INGEST_TOKEN}" }\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [ingest]\n    path: ./out.log\n`,
    );
    // The token comes from the environment, as the docs show (the agent inherits this process's).
    process.env['TEST_INGEST_TOKEN'] = 's3cret';
    const a = startAgent(cfg, { cwd: dir });
    await listening(a, 1);
    const url = `http://127.0.0.1:${port}/ingest`;
    const curl = (...args: string[]): { status: string; body: string } => {
      const r = spawnSync(CURL, ['-s', '-o', '-', '-w', '\n%{http_code}', ...args, url], { encoding: 'utf8', cwd: dir });
      const at = r.stdout.lastIndexOf('\n');
      return { body: r.stdout.slice(0, at), status: r.stdout.slice(at + 1) };
    };
    await writeFile(join(dir, 'body.gz'), gzipSync(Array.from({ length: 100 }, (_, i) => JSON.stringify({ n: i, msg: 'via curl' })).join('\n')));
    const ok = curl('-H', 'Authorization: Bearer s3cret', '-H', 'Content-Type: application/x-ndjson', '-H', 'Content-Encoding: gzip', '--data-binary', '@body.gz');
    assert.equal(ok.status, '200', ok.body);
    assert.deepEqual(JSON.parse(ok.body), { events: 100 });
    const noAuth = curl('-H', 'Content-Type: application/x-ndjson', '--data-binary', '{"x":1}');
    assert.equal(noAuth.status, '401');
    await writeFile(join(dir, 'big.json'), `${JSON.stringify({ big: 'x'.repeat(100_000) })}\n`);
    const big = curl('-H', 'Authorization: Bearer s3cret', '-H', 'Content-Type: application/x-ndjson', '--data-binary', '@big.json');
    assert.equal(big.status, '413');
    const bigExpect = curl('-H', 'Authorization: Bearer s3cret', '-H', 'Content-Type: application/x-ndjson', '-H', 'Expect: 100-continue', '-H', 'Transfer-Encoding: chunked', '--data-binary', '@big.json');
    assert.equal(bigExpect.status, '413');
    const out = join(dir, 'out.log');
    await waitFor('the 100 events in the sink', async () => events(await readIfAny(out)).length === 100, 20_000, a.stderr);
    assert.deepEqual(
      events(await readFile(out, 'utf8')).map((e) => e['n']),
      Array.from({ length: 100 }, (_, i) => i),
    );
    await stop(a);
  });
});

test('http: after kill -9 and a restart, every event a client got a 200 for is in the sink', async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nqueue:\n  fsync: always\nsources:\n  ingest:\n    type: http\n    address: 127.0.0.1:${port}\n` + `sinks:\n  out:\n    type: file\n    inputs: [ingest]\n    path: ./out.log\n`,
    );
    let agent = startAgent(cfg, { cwd: dir });
    await listening(agent, 1);
    const httpAgent = new Agent({ keepAlive: true, maxSockets: 8 });
    const acked = new Set<string>();
    let next = 0;
    let running = true;
    const postOne = (id: number): Promise<number> => postIds(port, httpAgent, id, 50);
    const client = async (): Promise<void> => {
      while (running) {
        const id = next++;
        if ((await postOne(id)) === 200) for (let i = 0; i < 50; i++) acked.add(`${id}.${i}`);
      }
    };
    const clients = Array.from({ length: 8 }, () => client());
    await waitFor('some acknowledged requests', () => acked.size >= 5000, 30_000, agent.stderr);
    agent.child.kill('SIGKILL');
    await agent.exited;
    running = false;
    await Promise.all(clients);
    httpAgent.destroy();
    assert.ok(acked.size > 0);
    agent = startAgent(cfg, { cwd: dir });
    await listening(agent, 1);
    const out = join(dir, 'out.log');
    const missing = (text: string): number => {
      const have = new Set(events(text).map((e) => String(e['id'])));
      let n = 0;
      for (const id of acked) if (!have.has(id)) n++;
      return n;
    };
    await waitFor('every acknowledged event in the sink', async () => missing(await readIfAny(out)) === 0, 30_000, () => `${missing('')} missing`);
    await stop(agent);
  });
});

test('TLS: syslog over TLS and HTTPS with certificate files named relative to the working directory', { skip: (!existsSync('/usr/bin/openssl') || !existsSync(CURL)) && 'no openssl or curl' }, async () => {
  await withTempDir(async (dir) => {
    const gen = spawnSync(
      '/usr/bin/openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      { cwd: dir, encoding: 'utf8' },
    );
    assert.equal(gen.status, 0, gen.stderr);
    const [sp, hp] = [await freePort(), await freePort()];
    const tls = '{ cert_file: ./cert.pem, key_file: ./key.pem }';
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  sys:\n    type: syslog\n    address: ${sp}\n    tls: ${tls}\n  web:\n    type: http\n    address: ${hp}\n    tls: ${tls}\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [sys, web]\n    path: ./out.log\n    encoding: json\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    await listening(agent, 2);
    assert.match(agent.stderr(), /listening on tls/);
    assert.match(agent.stderr(), /listening on https/);
    const ca = await readFile(join(dir, 'cert.pem'));
    const sock = tlsConnect({ host: '127.0.0.1', port: sp, ca });
    await new Promise((r, j) => {
      sock.once('secureConnect', r);
      sock.once('error', j);
    });
    const m = '<13>1 - h tlsapp - - - over tls';
    await new Promise<void>((r) => sock.end(`${Buffer.byteLength(m)} ${m}`, r));
    const c = spawnSync(CURL, ['-s', '-w', '%{http_code}', '--cacert', 'cert.pem', '-H', 'Content-Type: application/x-ndjson', '--data-binary', '{"via":"https"}', `https://127.0.0.1:${hp}/`], { cwd: dir, encoding: 'utf8' });
    assert.match(c.stdout, /200$/, c.stderr);
    const out = join(dir, 'out.log');
    await waitFor('both events', async () => events(await readIfAny(out)).length === 2, 20_000, agent.stderr);
    const ev = events(await readFile(out, 'utf8'));
    assert.ok(ev.some((e) => e['appname'] === 'tlsapp' && e['message'] === 'over tls'));
    assert.ok(ev.some((e) => e['via'] === 'https'));
    await stop(agent);
  });
});

test('http: when the queue is full (a sink that cannot write) clients get 503 + Retry-After, not a request held open', async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    await writeFile(join(dir, 'notadir'), '');
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nqueue:\n  max_bytes: 16MiB\nsources:\n  ingest:\n    type: http\n    address: ${port}\n` + `sinks:\n  out:\n    type: file\n    inputs: [ingest]\n    path: ./notadir/out.log\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    await listening(agent, 1);
    const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(200) })).join('\n'));
    const statuses: number[] = [];
    const one = (): Promise<{ status: number; retryAfter: string | undefined }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent: false, headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
          res.resume();
          const ra = res.headers['retry-after'];
          res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: typeof ra === 'string' ? ra : undefined }));
        });
        req.on('error', reject);
        req.end(body);
      });
    let last = { status: 0, retryAfter: undefined as string | undefined };
    for (let i = 0; i < 40 && last.status !== 503; i++) {
      last = await one();
      statuses.push(last.status);
    }
    assert.equal(last.status, 503, `statuses: ${statuses.join(',')}`);
    assert.equal(last.retryAfter, '1');
    const again = await one();
    assert.equal(again.status, 503);
    agent.child.kill('SIGKILL');
    await agent.exited;
  });
});

test('syslog: rsyslog forwarding with octet counting (it counts the trailing LF) gives the same messages as logger', { skip: (!existsSync(RSYSLOGD) || !existsSync(LOGGER)) && 'no rsyslogd or logger' }, async () => {
  await withTempDir(async (dir) => {
    const [rsPort, port] = [await freePort(), await freePort()];
    await mkdir(join(dir, 'rs'));
    // rsyslog in the foreground with its own config and work directory (never the system daemon).
    await writeFile(
      join(dir, 'rs.conf'),
      `global(workDirectory="${join(dir, 'rs')}")\nmodule(load="imtcp")\ninput(type="imtcp" address="127.0.0.1" port="${rsPort}")\n` +
        `action(type="omfwd" target="127.0.0.1" port="${port}" protocol="tcp" TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")\n`,
    );
    const cfg = await writeConfig(dir, `data_dir: ./data\nsources:\n  sys:\n    type: syslog\n    address: ${port}\n    framing: octet_counting\nsinks:\n  out:\n    type: file\n    inputs: [sys]\n    path: ./out.log\n    encoding: json\n`);
    const agent = startAgent(cfg, { cwd: dir });
    await listening(agent, 1);
    const rs = spawn(RSYSLOGD, ['-n', '-f', join(dir, 'rs.conf'), '-i', join(dir, 'rs.pid')], { stdio: 'ignore' });
    try {
      const lines = Array.from({ length: 500 }, (_, i) => `relayed ${i}`);
      await writeFile(join(dir, 'lines.txt'), `${lines.join('\n')}\n`);
      // rsyslog may take a moment to listen: retry the first send.
      await waitFor('rsyslog to take a message', () => spawnSync(LOGGER, ['-n', '127.0.0.1', '-P', String(rsPort), '-T', '--rfc5424', '-t', 'rs', 'first']).status === 0, 10_000);
      const r = spawnSync(LOGGER, ['-n', '127.0.0.1', '-P', String(rsPort), '-T', '--rfc5424', '-t', 'rs', '-f', join(dir, 'lines.txt')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const out = join(dir, 'out.log');
      await waitFor('the relayed messages', async () => events(await readIfAny(out)).filter((e) => String(e['message']).startsWith('relayed')).length === 500, 20_000, agent.stderr);
      const ev = events(await readFile(out, 'utf8'));
      assert.deepEqual(
        ev.filter((e) => String(e['message']).startsWith('relayed')).map((e) => e['message']),
        lines,
      );
      assert.ok(ev.every((e) => e['appname'] === 'rs' && e['source_ip'] === '127.0.0.1'));
      assert.equal(agent.stderr().includes('badCounts'), false);
    } finally {
      rs.kill('SIGTERM');
      await new Promise((r) => (rs.exitCode !== null ? r(undefined) : rs.once('exit', r)));
    }
    await stop(agent);
  });
});

test('http: SIGTERM while clients post: the agent exits 0, every event answered 200 is in the sink exactly once, nothing else is', async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    const cfg = await writeConfig(dir, `data_dir: ./data\nsources:\n  ingest:\n    type: http\n    address: ${port}\nsinks:\n  out:\n    type: file\n    inputs: [ingest]\n    path: ./out.log\n`);
    const agent = startAgent(cfg, { cwd: dir });
    await listening(agent, 1);
    const httpAgent = new Agent({ keepAlive: true, maxSockets: 8 });
    const acked = new Set<string>();
    const statuses = new Map<number, number>();
    let next = 0;
    let running = true;
    const postOne = (id: number): Promise<number> => postIds(port, httpAgent, id, 20);
    const client = async (): Promise<void> => {
      while (running) {
        const id = next++;
        const status = await postOne(id);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 200) for (let i = 0; i < 20; i++) acked.add(`${id}.${i}`);
        else if (status === 0) await new Promise((r) => setTimeout(r, 5)); // refused: the agent is gone
      }
    };
    const clients = Array.from({ length: 8 }, () => client());
    await waitFor('some acknowledged requests', () => acked.size >= 4000, 30_000, agent.stderr);
    agent.child.kill('SIGTERM');
    const r = await agent.exited;
    running = false;
    await Promise.all(clients);
    httpAgent.destroy();
    assert.equal(r.code, 0, agent.stderr());
    const ids = events(await readFile(join(dir, 'out.log'), 'utf8')).map((e) => String(e['id']));
    const have = new Set(ids);
    assert.equal(ids.length, have.size, 'no duplicates after a graceful stop');
    for (const id of acked) assert.ok(have.has(id), `acknowledged ${id} is in the sink`);
    // A request whose append started is answered before the agent closes its connection: no stored event goes unacknowledged.
    assert.equal(have.size, acked.size, `only acknowledged events are stored (statuses: ${JSON.stringify([...statuses])})`);
  });
});
