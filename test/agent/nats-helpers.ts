/**
 * Real `nats-server` processes for the NATS tests: single nodes and a 3-node cluster on loopback,
 * each on free ports with its own store directory, killed when the test file ends (also on
 * failure). And a small JetStream client to create streams and read everything a stream holds.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { freePort, sleep, waitFor } from './helpers';

const BIN = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((p) => spawnSync(p, ['--version']).status === 0);

/** Why the NATS tests cannot run here (`undefined`: they can). */
export const natsMissing: string | undefined = BIN === undefined ? 'nats-server is not installed (.ci/install-deps installs it)' : undefined;

const servers = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of servers) c.kill('SIGKILL');
});

/** One nats-server process that can be killed -9 and started again on the same port and store. */
export class NatsServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  log = '';

  constructor(
    readonly port: number,
    private readonly args: readonly string[],
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (BIN === undefined) throw new Error(natsMissing);
    const child = spawn(BIN, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    servers.add(child);
    this.child = child;
    child.stdout?.on('data', (c: Buffer) => (this.log += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (this.log += c.toString()));
    this.exited = new Promise((resolve) =>
      child.on('exit', () => {
        servers.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      }),
    );
    await waitFor(`nats-server on ${this.port}`, () => this.log.includes('Server is ready') || this.child === undefined, 15_000, () => this.log.slice(-2000));
    if (this.child === undefined) throw new Error(`nats-server exited:\n${this.log.slice(-2000)}`);
  }

  /** kill -9, and wait until it is gone. */
  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }
}

/**
 * A single JetStream server on a free port with its store under `dir`; `extra` are more
 * command-line options (`--user`, `--tls` …), `conf` lines of a config file for settings that have
 * none (`max_payload`).
 */
export const startNats = async (dir: string, extra: readonly string[] = [], conf: readonly string[] = []): Promise<NatsServer> =>
  withFreshPorts(async () => {
    const s = await prepareNats(dir, extra, conf);
    try {
      await s.start();
    } catch (e) {
      await s.kill();
      throw e;
    }
    return s;
  });

/**
 * Runs `start` again (with new ports) when a port found free was taken by another test before the
 * server bound it: the gap between `freePort` and the bind is a race with the test files running
 * beside this one.
 */
const withFreshPorts = async <T>(start: () => Promise<T>): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= 3 || !String(e).includes('address already in use')) throw e;
    }
  }
};

const prepareNats = async (dir: string, extra: readonly string[], conf: readonly string[]): Promise<NatsServer> => {
  const port = await freePort();
  const store = join(dir, `nats-${port}`);
  const confArgs: string[] = [];
  if (conf.length > 0) {
    const file = join(dir, `nats-${port}.conf`);
    await writeFile(file, `${conf.join('\n')}\n`);
    confArgs.push('-c', file);
  }
  return new NatsServer(port, [...confArgs, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', store, ...extra]);
};

/** Three JetStream servers clustered on loopback (routes between all three); none is left running when one fails to start. */
export const startCluster = (dir: string): Promise<NatsServer[]> =>
  withFreshPorts(async () => {
    const nodes = await prepareCluster(dir);
    const started = await Promise.allSettled(nodes.map((n) => n.start()));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      await killAll(nodes);
      throw failed.reason;
    }
    return nodes;
  });

const prepareCluster = async (dir: string): Promise<NatsServer[]> => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const routes = [await freePort(), await freePort(), await freePort()];
  const nodes: NatsServer[] = [];
  for (let i = 0; i < 3; i++) {
    const store = join(dir, `node${i}`);
    await mkdir(store, { recursive: true });
    const conf = join(dir, `node${i}.conf`);
    await writeFile(
      conf,
      [
        `server_name: n${i}`,
        `listen: 127.0.0.1:${ports[i]}`,
        `jetstream { store_dir: ${JSON.stringify(store)} }`,
        `cluster { name: c, listen: 127.0.0.1:${routes[i]}, routes: [${routes.map((r) => `nats-route://127.0.0.1:${r}`).join(', ')}] }`,
        '',
      ].join('\n'),
    );
    nodes.push(new NatsServer(ports[i] as number, ['-c', conf]));
  }
  return nodes;
};

/**
 * A config with one file source `id` tailing `input` from its beginning into a nats sink `bus` on
 * `servers`, publishing to `logs.{source}` (data under `./data-<id>`, or `dataDir`); `sink` are more
 * keys of the sink, `top` more top-level keys, one YAML line each.
 */
export const fileToNats = (o: { id: string; input: string; servers: readonly string[]; dataDir?: string; sink?: readonly string[]; top?: readonly string[] }): string =>
  [
    `data_dir: ${o.dataDir ?? `./data-${o.id}`}`,
    ...(o.top ?? []),
    'sources:',
    `  ${o.id}:`,
    '    type: file',
    `    include: [${JSON.stringify(o.input)}]`,
    '    start_at: beginning',
    'sinks:',
    '  bus:',
    '    type: nats',
    `    inputs: [${o.id}]`,
    `    servers: [${o.servers.map((u) => JSON.stringify(u)).join(', ')}]`,
    ...(o.sink?.some((l) => l.startsWith('subject:')) === true ? [] : ['    subject: logs.{source}']),
    ...(o.sink ?? []).map((l) => `    ${l}`),
    '',
  ].join('\n');

export const killAll = async (nodes: readonly NatsServer[]): Promise<void> => {
  await Promise.all(nodes.map((n) => n.kill()));
};

/** A test's own client connection (reconnecting, so it survives the servers it kills); `options` add auth or TLS. */
export const client = async (urls: readonly string[], options: { user?: string; pass?: string; tls?: { caFile: string } } = {}): Promise<NatsConnection> => {
  const { connect } = await import('@nats-io/transport-node');
  return connect({ servers: [...urls], maxReconnectAttempts: -1, reconnectTimeWait: 200, ...options });
};

/** A self-signed certificate for 127.0.0.1 made with openssl (it is its own CA): `{ cert, key }` paths under `dir`. */
export const selfSignedCert = (dir: string): { cert: string; key: string } => {
  const cert = join(dir, 'server-cert.pem');
  const key = join(dir, 'server-key.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { cert, key };
};

/** Creates a stream, retrying while a fresh cluster has no JetStream leader yet. */
export const addStream = async (nc: NatsConnection, name: string, subjects: string[], replicas = 1): Promise<void> => {
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  for (let attempt = 0; ; attempt++) {
    try {
      await jsm.streams.add({ name, subjects, num_replicas: replicas, duplicate_window: 3_600_000_000_000 });
      return;
    } catch (e) {
      if (attempt >= 60) throw e;
      await sleep(250);
    }
  }
};

/** Every message the stream holds now, in order, as text. */
export const readStream = async (nc: NatsConnection, name: string): Promise<{ text: string; messages: number }> => {
  const { jetstream, jetstreamManager } = await import('@nats-io/jetstream');
  const jsm = await jetstreamManager(nc, { checkAPI: false });
  const last = (await jsm.streams.info(name)).state.last_seq;
  const parts: string[] = [];
  let messages = 0;
  if (last === 0) return { text: '', messages };
  const c = await jetstream(nc).consumers.get(name);
  for (let empty = 0; empty < 20; ) {
    const it = await c.fetch({ max_messages: 1000, expires: 1000 });
    let seq = 0;
    for await (const m of it) {
      parts.push(m.string());
      messages++;
      seq = m.info.streamSequence;
      if (seq >= last) break;
    }
    if (seq >= last) return { text: parts.join(''), messages };
    if (seq === 0) empty++;
  }
  throw new Error(`stream ${name}: read ${messages} messages, never reached sequence ${last}`);
};

/** Messages in the stream (0 while it cannot be asked). */
export const streamMessages = async (nc: NatsConnection, name: string): Promise<number> => {
  const { jetstreamManager } = await import('@nats-io/jetstream');
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    return (await jsm.streams.info(name)).state.messages;
  } catch {
    return 0;
  }
};
