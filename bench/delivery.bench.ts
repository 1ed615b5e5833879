/**
 * Remote delivery end to end: a 1,000,000-line file (~100 bytes a line) tailed from the beginning
 * into the http sink, posting to a local receiver (a node:http server in this process that reads
 * every body and answers 200), queue `fsync: always`. Spawns the real CLI, detects completion by the
 * receiver having every byte, reads the agent's CPU time and peak RSS from /proc, then SIGTERMs it.
 * The reference, measured in the same run: the same agent delivering into a file sink.
 *
 * NATS rows (when nats-server is installed): the nats sink publishing into a JetStream stream on a
 * single local nats-server (file storage, started here with its store in the bench's temp dir);
 * completion is detected by a core-NATS subscriber in this process counting the payload bytes the
 * server routes, and the stream is purged between rows.
 *
 *   npm run bench -- delivery            (LINES=200000 to try a smaller file)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createNetServer } from 'node:net';
import { makeInput, procStat, sleep } from './agent-util';

const LINES = Number(process.env['LINES'] ?? 1_000_000);
const cli = join(__dirname, '..', 'src', 'cli', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-delivery-'));


interface Row {
  name: string;
  seconds: number;
  cpuS: number;
  rssMB: number;
  requests: number | undefined;
}

let received = 0;
let receivedLines = 0;
let requests = 0;

const countLines = (c: Buffer): void => {
  for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) receivedLines++;
};

const startReceiver = async (): Promise<{ port: number; close: () => void }> => {
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => {
      received += c.length;
      countLines(c);
    });
    req.on('end', () => {
      requests++;
      res.writeHead(200);
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
};

/** Runs until `done()` reaches `goal` (bytes in the sink file, or lines the receiver got). */
const runAgent = async (name: string, input: string, goal: number, sink: string, done: () => number): Promise<Row> => {
  rmSync(join(dir, 'data'), { recursive: true, force: true });
  rmSync(join(dir, 'sink.log'), { force: true });
  received = 0;
  receivedLines = 0;
  requests = 0;
  const config = join(dir, 'sluice.yaml');
  writeFileSync(
    config,
    `data_dir: ${join(dir, 'data')}\nqueue:\n  fsync: always\nsources:\n  app:\n    type: file\n    include: ["${input}"]\n    start_at: beginning\n` +
      `sinks:\n  out:\n${sink}`,
  );
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [cli, 'run', '--config', config, '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('spawn failed');
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let last = { cpuS: 0, hwmMB: 0 };
  for (;;) {
    try {
      last = procStat(pid);
    } catch {
      break;
    }
    if (done() >= goal) break;
    await sleep(10);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  child.kill('SIGTERM');
  const code = await exited;
  if (done() < goal) throw new Error(`${name}: ${done()} delivered, expected ${goal} (agent exit ${String(code)})`);
  if (code !== 0) throw new Error(`${name}: agent exited with ${String(code)}`);
  const counted = sink.includes('type: http') ? requests : sink.includes('type: nats') ? natsMessages : undefined;
  return { name, seconds, cpuS: last.cpuS, rssMB: last.hwmMB, requests: counted };
};

const main = async (): Promise<void> => {
  const input = join(dir, 'in.log');
  const bytes = makeInput(input, LINES);
  const mb = bytes / 1e6;
  const rx = await startReceiver();
  const http = (concurrency: number, encoding = 'text'): string =>
    `    type: http\n    inputs: [app]\n    uri: http://127.0.0.1:${rx.port}/ingest\n    encoding: ${encoding}\n` +
    `    batch: { max_bytes: 4MiB, timeout: 100ms }\n    request: { timeout: 30s, concurrency: ${concurrency} }\n`;
  const out = join(dir, 'sink.log');
  const fileSize = (): number => {
    try {
      return statSync(out).size;
    } catch {
      return 0;
    }
  };
  const rows: Row[] = [];
  rows.push(await runAgent('reference: file → queue → **file sink**', input, bytes, `    type: file\n    inputs: [app]\n    path: ${out}\n`, fileSize));
  rows.push(await runAgent('file → queue → **http sink**, text, concurrency 4', input, bytes, http(4), () => received));
  rows.push(await runAgent('same, concurrency 1', input, bytes, http(1), () => received));
  rows.push(await runAgent('same, `encoding: json` (NDJSON with event_id), concurrency 4', input, LINES, http(4, 'json'), () => receivedLines));
  rx.close();
  rows.push(...(await natsRows(input, bytes)));
  const f = (n: number | undefined, d = 2): string => (n === undefined ? 'n/a' : n.toFixed(d));
  console.log(`${LINES.toLocaleString('en-US')} lines, ${mb.toFixed(1)} MB, 2 cores shared by agent and receiver; \`fsync: always\` on the queue\n`);
  console.log('| run | seconds | lines/s | MB/s | CPU s (agent) | peak RSS MB (agent) | requests / messages | time vs reference |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const ref = rows[0] as Row;
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${f(r.seconds)} | ${Math.round(LINES / r.seconds).toLocaleString('en-US')} | ${f(mb / r.seconds, 1)} | ${f(r.cpuS)} | ${f(r.rssMB, 1)} | ${r.requests ?? ''} | ${f(r.seconds / ref.seconds, 1)}× |`,
    );
  }
  console.log(`\nMB/s counts the input's bytes (the json body is larger). target (issue 12): >= 100 MB/s for the http sink, uncompressed, concurrency 4,`);
  console.log(`and >= 100 MB/s for the nats sink with >= 256 KiB messages. ${natsNote}`);
};

let natsMessages = 0;
let natsBytes = 0;
let natsNote = '';

const freePort = async (): Promise<number> => {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return a.port;
};

/** The nats sink rows: a local nats-server, one stream, a subscriber counting what the server routes. */
const natsRows = async (input: string, bytes: number): Promise<Row[]> => {
  const bin = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((p) => spawnSync(p, ['--version']).status === 0);
  if (bin === undefined) {
    natsNote = 'nats rows skipped: nats-server is not installed.';
    return [];
  }
  const port = await freePort();
  const server: ChildProcess = spawn(bin, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', join(dir, 'nats')], { stdio: 'ignore' });
  try {
    const { connect } = await import('@nats-io/transport-node');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    let nc;
    for (let i = 0; ; i++) {
      try {
        nc = await connect({ servers: `127.0.0.1:${port}` });
        break;
      } catch (e) {
        if (i > 50) throw e;
        await sleep(100);
      }
    }
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'BENCH', subjects: ['bench.>'] });
    nc.subscribe('bench.>', {
      callback: (_err, m) => {
        natsMessages++;
        natsBytes += m.data.length;
      },
    });
    const sink = (messageBytes: string, concurrency: number): string =>
      `    type: nats\n    inputs: [app]\n    servers: ["nats://127.0.0.1:${port}"]\n    subject: bench.{source}\n    max_message_bytes: ${messageBytes}\n` +
      `    batch: { max_bytes: 4MiB, timeout: 100ms }\n    request: { timeout: 30s, concurrency: ${concurrency} }\n`;
    const rows: Row[] = [];
    for (const [size, concurrency] of [
      ['256KiB', 1],
      ['256KiB', 4],
      ['512KiB', 4],
    ] as const) {
      await jsm.streams.purge('BENCH');
      natsMessages = 0;
      natsBytes = 0;
      rows.push(await runAgent(`file → queue → **nats sink** (JetStream, 1 node), ${size} messages, concurrency ${concurrency}`, input, bytes, sink(size, concurrency), () => natsBytes));
    }
    await nc.close();
    natsNote = 'nats: a single local nats-server 2.9 with file storage (it acks before its own fsync).';
    return rows;
  } finally {
    server.kill('SIGKILL');
  }
};

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
