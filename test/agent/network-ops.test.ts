/**
 * Operating the network sources through the real CLI: TLS certificates reloaded on SIGHUP (syslog,
 * http, otlp; a bad file keeps the old certificate), the sources' counters on /metrics and
 * /api/status, and a full queue under `when_full: reject` that never stores a request it answered
 * 503 (the given-up append), so a client's retry is no duplicate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { startAgent, waitFor, withTempDir, writeConfig, type RunningAgent, freePort, ndjsonObjects as events, readIfAny } from './helpers';

const OPENSSL = '/usr/bin/openssl';

const count = (text: string, what: string): number => text.split(what).length - 1;

const stop = async (agent: RunningAgent): Promise<void> => {
  agent.child.kill('SIGTERM');
  const r = await agent.exited;
  assert.equal(r.code, 0, agent.stderr());
};

/** A self-signed certificate for 127.0.0.1 (EC: quick to make) as `<name>-cert.pem` and `<name>-key.pem`. */
const makeCert = (dir: string, name: string): void => {
  const r = spawnSync(
    OPENSSL,
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}-cert.pem`, '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1'],
    { cwd: dir, encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
};

/** The SHA-256 fingerprint of the certificate a TLS server on `port` presents to a new connection. */
const servedCert = (port: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const sock = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    sock.once('secureConnect', () => {
      const fp = sock.getPeerCertificate().fingerprint256;
      sock.destroy();
      resolve(fp);
    });
    sock.once('error', reject);
  });

const fingerprint = async (dir: string, name: string): Promise<string> => {
  const r = spawnSync(OPENSSL, ['x509', '-in', `${name}-cert.pem`, '-noout', '-fingerprint', '-sha256'], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('=')[1] ?? '';
};

const post = (port: number, body: string | Buffer, headers: Record<string, string> = {}): Promise<number> =>
  new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', method: 'POST', agent: false, headers: { 'content-type': 'application/x-ndjson', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('error', () => resolve(0));
    req.end(body);
  });

test('SIGHUP reloads the TLS files of syslog, http and otlp: new connections get the new certificate; a bad file keeps the old one with one line on stderr', { skip: !existsSync(OPENSSL) && 'no openssl' }, async () => {
  await withTempDir(async (dir) => {
    makeCert(dir, 'a');
    makeCert(dir, 'b');
    await copyFile(join(dir, 'a-cert.pem'), join(dir, 'cert.pem'));
    await copyFile(join(dir, 'a-key.pem'), join(dir, 'key.pem'));
    const [sp, hp, op, api] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const tls = '{ cert_file: ./cert.pem, key_file: ./key.pem }';
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\napi:\n  address: 127.0.0.1:${api}\nsources:\n  sys:\n    type: syslog\n    address: ${sp}\n    tls: ${tls}\n  web:\n    type: http\n    address: ${hp}\n    tls: ${tls}\n` +
        `  otel:\n    type: otlp\n    address: ${op}\n    tls: ${tls}\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [sys, web, otel]\n    path: ./out.log\n    encoding: json\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    await waitFor('the sources to listen', () => count(agent.stderr(), 'listening on') >= 3, 20_000, agent.stderr);
    const [fa, fb] = [await fingerprint(dir, 'a'), await fingerprint(dir, 'b')];
    for (const port of [sp, hp, op]) assert.equal(await servedCert(port), fa);
    // An open connection keeps its session; new ones get the new pair.
    const open = tlsConnect({ host: '127.0.0.1', port: sp, rejectUnauthorized: false });
    await new Promise((r) => open.once('secureConnect', r));
    await copyFile(join(dir, 'b-cert.pem'), join(dir, 'cert.pem'));
    await copyFile(join(dir, 'b-key.pem'), join(dir, 'key.pem'));
    agent.child.kill('SIGHUP');
    await waitFor('three reloads', () => count(agent.stderr(), 'reloaded its TLS files') === 3, 20_000, agent.stderr);
    for (const port of [sp, hp, op]) assert.equal(await servedCert(port), fb, `port ${port}`);
    assert.equal(open.getPeerCertificate().fingerprint256, fa);
    open.destroy();
    // A key that does not fit the certificate: each source keeps serving b, and says so once.
    await copyFile(join(dir, 'a-key.pem'), join(dir, 'key.pem'));
    agent.child.kill('SIGHUP');
    await waitFor('three refusals', () => count(agent.stderr(), 'kept its previous TLS certificate') === 3, 20_000, agent.stderr);
    for (const port of [sp, hp, op]) assert.equal(await servedCert(port), fb, `port ${port}`);
    const refusal = agent.stderr().split('\n').find((l) => l.includes('kept its previous TLS certificate')) ?? '';
    assert.doesNotMatch(agent.stderr(), /\n\s+at /, 'no stack trace');
    assert.match(refusal, /fix them and send SIGHUP again/);
    const metrics = await (await fetch(`http://127.0.0.1:${api}/metrics`)).text();
    for (const id of ['sys', 'web', 'otel']) assert.match(metrics, new RegExp(`sluice_source_tls_reload_failures_total\\{source="${id}"\\} 1\\b`));
    // A file that is gone: the same.
    await rm(join(dir, 'cert.pem'));
    agent.child.kill('SIGHUP');
    await waitFor('three more refusals', () => count(agent.stderr(), 'kept its previous TLS certificate') === 6, 20_000, agent.stderr);
    assert.equal(await servedCert(hp), fb);
    await stop(agent);
  });
});

test('/metrics and /api/status show each network source’s requests by status code, connections, parse failures and refusals', async () => {
  await withTempDir(async (dir) => {
    const [hp, up, api] = [await freePort(), await freePort(), await freePort()];
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\napi:\n  address: 127.0.0.1:${api}\nsources:\n  web:\n    type: http\n    address: ${hp}\n    max_body_bytes: 1KiB\n    max_connections: 3\n` +
        `  dgram:\n    type: syslog\n    mode: udp\n    address: ${up}\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [web, dgram]\n    path: ./out.log\n    encoding: json\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    await waitFor('the sources to listen', () => count(agent.stderr(), 'listening on') >= 2, 20_000, agent.stderr);
    assert.equal(await post(hp, '{"a":1}\n{"a":2}\n'), 200);
    assert.equal(await post(hp, '{"a":\n'), 400);
    assert.equal(await post(hp, Buffer.alloc(2048, 'x')), 413);
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.send('<13>1 2024-01-01T00:00:00Z h app - - - fine', up, '127.0.0.1', () => r()));
    await new Promise<void>((r) => udp.send('not syslog at all', up, '127.0.0.1', () => r()));
    udp.close();
    await waitFor('four events in the sink', async () => events(await readIfAny(join(dir, 'out.log'))).length === 4, 20_000, agent.stderr);
    const text = await (await fetch(`http://127.0.0.1:${api}/metrics`)).text();
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      assert.ok(line !== undefined, `${series} is missing:\n${text.split('\n').filter((l) => l.startsWith('sluice_source')).join('\n')}`);
      return Number(line.slice(series.length + 1));
    };
    assert.equal(value('sluice_source_requests_total{source="web",code="200"}'), 1);
    assert.equal(value('sluice_source_requests_total{source="web",code="400"}'), 1);
    assert.equal(value('sluice_source_requests_total{source="web",code="413"}'), 1);
    assert.equal(value('sluice_source_refused_full_total{source="web"}'), 0);
    assert.equal(value('sluice_source_connections_total{source="web"}'), 3);
    assert.equal(value('sluice_source_refused_connections_total{source="web"}'), 0);
    assert.equal(value('sluice_source_events_total{source="web"}'), 2);
    assert.equal(value('sluice_source_parse_failures_total{source="dgram"}'), 1);
    assert.equal(value('sluice_source_udp_datagrams_dropped_total{source="dgram"}'), 0);
    assert.equal(value('sluice_source_events_total{source="dgram"}'), 2);
    assert.ok(!text.includes('sluice_source_udp_datagrams_dropped_total{source="web"}'), 'a series only where it applies');
    assert.ok(!text.includes('sluice_source_tls_errors_total{source="web"}'), 'no TLS series without TLS');
    const status = (await (await fetch(`http://127.0.0.1:${api}/api/status`)).json()) as { sources: Record<string, { counters?: Record<string, unknown> }> };
    assert.deepEqual(status.sources['web']?.counters?.['requests'], { 200: 1, 400: 1, 413: 1 });
    assert.equal(status.sources['dgram']?.counters?.['parse_failures'], 1);
    assert.equal(status.sources['dgram']?.counters?.['udp_datagrams_dropped'], 0);
    await stop(agent);
  });
});

test('http, when_full: reject: concurrent clients on a full queue get 200 or 503, and after the sink is fixed exactly the 200 requests are delivered, each once', async () => {
  await withTempDir(async (dir) => {
    const [port, api] = [await freePort(), await freePort()];
    await writeFile(join(dir, 'notadir'), '');
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\napi:\n  address: 127.0.0.1:${api}\nqueue:\n  max_bytes: 16MiB\nsources:\n  ingest:\n    type: http\n    address: ${port}\n` +
        `sinks:\n  out:\n    type: file\n    inputs: [ingest]\n    path: ./notadir/out.log\n`,
    );
    let agent = startAgent(cfg, { cwd: dir });
    await waitFor('the source to listen', () => agent.stderr().includes('listening on'), 20_000, agent.stderr);
    const lines = 2000;
    const body = (r: number): string => Array.from({ length: lines }, (_, i) => JSON.stringify({ r, i, pad: 'x'.repeat(200) })).join('\n');
    const answered = new Map<number, number>();
    let next = 0;
    const client = async (): Promise<void> => {
      for (let k = 0; k < 12; k++) {
        const r = next++;
        answered.set(r, await post(port, body(r)));
      }
    };
    await Promise.all(Array.from({ length: 8 }, () => client()));
    const statuses = [...answered.values()];
    assert.ok(statuses.includes(503), `no request was refused: ${statuses.join(',')}`);
    assert.ok(statuses.every((s) => s === 200 || s === 503), statuses.join(','));
    const m = await (await fetch(`http://127.0.0.1:${api}/metrics`)).text();
    assert.match(m, /sluice_source_refused_full_total\{source="ingest"\} [1-9]/);
    agent.child.kill('SIGKILL');
    await agent.exited;
    // Fix the sink and start again: the queue delivers what it holds.
    await rm(join(dir, 'notadir'));
    await mkdir(join(dir, 'notadir'));
    agent = startAgent(cfg, { cwd: dir });
    const ok = [...answered].filter(([, s]) => s === 200).map(([r]) => r);
    const out = join(dir, 'notadir', 'out.log');
    /** The complete lines written so far (the sink may be in the middle of one). */
    const written = async (): Promise<string> => {
      const t = await readIfAny(out);
      return t.slice(0, t.lastIndexOf('\n') + 1);
    };
    await waitFor('the acknowledged requests in the sink', async () => events(await written()).length >= ok.length * lines, 60_000, agent.stderr);
    await new Promise((r) => setTimeout(r, 300));
    const got = events(await written());
    const perRequest = new Map<number, number>();
    for (const e of got) perRequest.set(Number(e['r']), (perRequest.get(Number(e['r'])) ?? 0) + 1);
    assert.deepEqual(
      [...perRequest.keys()].sort((a, b) => a - b),
      ok.sort((a, b) => a - b),
      'exactly the requests answered 200 are stored; none answered 503',
    );
    for (const [r, n] of perRequest) assert.equal(n, lines, `request ${r}: every event once`);
    await stop(agent);
  });
});
