/**
 * The nats sink's `auth` and `tls` keys through the real CLI against one real nats-server started
 * here with a user and password and TLS (a certificate openssl makes for 127.0.0.1, its own CA).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { startAgent, sleep, tally, waitFor, writeConfig } from './helpers';
import { addStream, client, fileToNats, natsMissing, readStream, selfSignedCert, startNats, type NatsServer } from './nats-helpers';

let dir = '';
let server: NatsServer | undefined;
let nc: NatsConnection | undefined;
let ca = '';

before(async () => {
  if (natsMissing !== undefined) return;
  dir = await mkdtemp(join(tmpdir(), 'sluice-nats-auth-'));
  const { cert, key } = selfSignedCert(dir);
  ca = cert;
  server = await startNats(dir, ['--user', 'edge', '--pass', 's3cret', '--tls', '--tlscert', cert, '--tlskey', key]);
  nc = await client([server.url], { user: 'edge', pass: 's3cret', tls: { caFile: ca } });
  await addStream(nc, 'LOGS', ['logs.>']);
});

after(async () => {
  await nc?.close();
  await server?.kill();
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

const config = (source: string, input: string, connection: string): string =>
  fileToNats({ id: source, input, servers: [server?.url ?? ''], top: ['shutdown_timeout: 500ms'], sink: ['max_backoff: 300ms', ...connection.split('\n').map((l) => l.trim())] });

const lines = (prefix: string, count: number): string => {
  let s = '';
  for (let i = 0; i < count; i++) s += `${prefix}${i} ${'x'.repeat(60)}\n`;
  return s;
};

const inStream = async (prefix: string, count: number): Promise<ReturnType<typeof tally>> => tally((await readStream(nc as NatsConnection, 'LOGS')).text, prefix, count);

test('user and password over TLS verified with tls.ca_file: every line is delivered, no error', { skip: natsMissing, timeout: 30_000 }, async () => {
  const input = join(dir, 'ok.log');
  await writeFile(input, lines('ok-', 100));
  const agent = startAgent(await writeConfig(dir, config('ok', input, `    auth: { user: edge, password: s3cret }\n    tls: { ca_file: ${JSON.stringify(ca)} }`), 'ok.yaml'), { cwd: dir });
  await waitFor('every line in the stream', async () => (await inStream('ok-', 100)).missing.length === 0, 15_000, agent.stderr);
  agent.child.kill('SIGTERM');
  assert.equal((await agent.exited).code, 0, agent.stderr());
  assert.equal((await inStream('ok-', 100)).duplicates, 0);
  assert.doesNotMatch(agent.stderr(), /ERROR/, agent.stderr());
});

test('a wrong password is one ERROR line without a stack, retried; after a restart with the right one every line is delivered', { skip: natsMissing, timeout: 30_000 }, async () => {
  const input = join(dir, 'pw.log');
  await writeFile(input, lines('pw-', 50));
  const tls = `    tls: { ca_file: ${JSON.stringify(ca)} }`;
  const wrong = startAgent(await writeConfig(dir, config('pw', input, `    auth: { user: edge, password: nope }\n${tls}`), 'pw.yaml'), { cwd: dir });
  await waitFor('the refusal reported', () => /ERROR sink bus:/.test(wrong.stderr()), 10_000, wrong.stderr);
  await sleep(1500); // several retries (max_backoff 300ms)
  assert.equal(wrong.child.exitCode, null, `still running:\n${wrong.stderr()}`);
  const errors = wrong.stderr().split('\n').filter((l) => l.includes('ERROR'));
  assert.equal(errors.length, 1, wrong.stderr());
  assert.match(errors[0] ?? '', /refused the credentials \(Authorization Violation\): check auth/);
  assert.doesNotMatch(wrong.stderr(), /\n\s+at /, 'no stack trace');
  assert.equal((await inStream('pw-', 50)).missing.length, 50, 'nothing published without authorization');
  wrong.child.kill('SIGTERM');
  assert.equal((await wrong.exited).code, 0, wrong.stderr());
  // The lines waited in the queue: the right password delivers them.
  const right = startAgent(await writeConfig(dir, config('pw', input, `    auth: { user: edge, password: s3cret }\n${tls}`), 'pw.yaml'), { cwd: dir });
  await waitFor('every line in the stream', async () => (await inStream('pw-', 50)).missing.length === 0, 15_000, right.stderr);
  right.child.kill('SIGTERM');
  assert.equal((await right.exited).code, 0, right.stderr());
  assert.equal((await inStream('pw-', 50)).duplicates, 0);
});

test('a server certificate not signed by a trusted CA (no tls.ca_file) is one ERROR line naming it, retried, nothing sent', { skip: natsMissing, timeout: 30_000 }, async () => {
  const input = join(dir, 'ca.log');
  await writeFile(input, lines('ca-', 20));
  const agent = startAgent(await writeConfig(dir, config('ca', input, `    auth: { user: edge, password: s3cret }`), 'ca.yaml'), { cwd: dir });
  await waitFor('the refusal reported', () => /ERROR sink bus:/.test(agent.stderr()), 10_000, agent.stderr);
  await sleep(1000);
  assert.equal(agent.child.exitCode, null, `still running:\n${agent.stderr()}`);
  const errors = agent.stderr().split('\n').filter((l) => l.includes('ERROR'));
  assert.equal(errors.length, 1, agent.stderr());
  assert.match(errors[0] ?? '', /TLS with .* failed \(.*self-signed certificate[^)]*\): tls.ca_file must name the CA/);
  assert.doesNotMatch(agent.stderr(), /\n\s+at /, 'no stack trace');
  assert.equal((await inStream('ca-', 20)).missing.length, 20);
  agent.child.kill('SIGTERM');
  assert.equal((await agent.exited).code, 0, agent.stderr());
});
