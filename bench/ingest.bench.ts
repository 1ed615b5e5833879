/**
 * Network ingest: how many events per second the http and syslog sources make durable in the
 * write-ahead queue (`fsync: always`, group commit; no sink reads it, so this is intake alone), and
 * the request latency an HTTP client sees (a 200 means durable).
 *
 * The server (the source + the real queue, the events envelope the agent writes) runs in a child
 * process so the load generator here does not share its event loop; it reports its durable event
 * count over IPC and its peak RSS (VmHWM) at the end.
 *
 *   - HTTP NDJSON: C keep-alive clients (node:http Agent) each posting bodies of L lines (~100 bytes
 *     a line) one after another; p50/p99 of request latency (send → 200).
 *   - HTTP NDJSON from sluice senders: the same, posted as a sluice edge's http sink does
 *     (`Sluice-Sender`, `Sluice-Acked-Below`, an `event_id` per line; each client one sender with
 *     consecutive ids), so every event goes through the source's per-sender deduplication.
 *   - OTLP/HTTP protobuf: the same clients posting ExportLogsServiceRequests of L log records, shaped
 *     as an SDK sends them (resource and scope, times, severity, a ~60-byte body, three attributes,
 *     trace context); each record becomes one JSON event.
 *   - syslog TCP, octet counting: K connections writing ~100-byte RFC 5424 messages as fast as the
 *     TCP window lets them; done when the server has made them all durable.
 *   - References in the same run: a bare node:http server that reads each body and answers 200 (no
 *     parsing, no queue) and a bare net server that only counts bytes — the floor of this load
 *     generator and of Node's sockets on this machine.
 *
 *   npm run bench -- ingest          (INGEST_SCALE=0.2 for a quicker run)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEnvelope } from '../src/core/envelope';
import type { Source, SourceContext } from '../src/core/source';
import { openQueue } from '../src/queue/index';
import { HttpSource } from '../src/sources/http/source';
import { httpSourceSchema } from '../src/sources/http/config';
import { OtlpSource } from '../src/sources/otlp/source';
import { otlpSourceSchema } from '../src/sources/otlp/config';
import { ExportLogsServiceRequest } from '../src/sources/otlp/schema';
import { SyslogSource } from '../src/sources/syslog/source';
import { syslogSourceSchema } from '../src/sources/syslog/config';
import { nodeFileSystem, systemClock } from '../src/core/node-ports';

type Kind = 'http' | 'http-sender' | 'otlp' | 'syslog' | 'http-floor' | 'tcp-floor';
type FromServer = { readonly port: number } | { readonly events: number } | { readonly rssMB: number };

const SCALE = Number(process.env['INGEST_SCALE'] ?? 1);
const now = (): number => Number(process.hrtime.bigint()) / 1e6;

// ---------------------------------------------------------------- server (child process)

const send = (m: FromServer): void => {
  process.send?.(m);
};

const peakRssMB = (): number => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 1024 / 1024;
};

async function serve(kind: Kind, dir: string, wireSize: number): Promise<void> {
  let events = 0;
  const tick = setInterval(() => send({ events }), 20);
  const quit = (): void => {
    clearInterval(tick);
    send({ events });
    send({ rssMB: peakRssMB() });
    setTimeout(() => process.exit(0), 50);
  };
  process.on('message', quit);
  if (kind === 'http-floor') {
    const srv = createHttpServer((req, res) => {
      let lines = 0;
      req.on('data', (c: Buffer) => {
        for (let i = c.indexOf(10); i !== -1; i = c.indexOf(10, i + 1)) lines++;
      });
      req.on('end', () => {
        events += lines;
        res.end('{}');
      });
    });
    srv.listen(0, '127.0.0.1', () => send({ port: (srv.address() as { port: number }).port }));
    return;
  }
  if (kind === 'tcp-floor') {
    let bytes = 0;
    const srv = createNetServer((s) => {
      // every message has the same size on the wire (given by the parent): bytes / size = messages
      s.on('data', (c: Buffer) => {
        bytes += c.length;
        events = Math.floor(bytes / wireSize);
      });
    });
    srv.listen(0, '127.0.0.1', () => send({ port: (srv.address() as { port: number }).port }));
    return;
  }
  const q = await openQueue({ dir, consumers: [], fsync: { mode: 'always' }, maxBytes: 16 * 1024 * 1024 * 1024, segmentBytes: 64 * 1024 * 1024 });
  const deps = { clock: systemClock, fs: nodeFileSystem, cwd: dir };
  const source: Source =
    kind === 'http' || kind === 'http-sender'
      ? new HttpSource(httpSourceSchema.parse({ type: 'http', address: '127.0.0.1:0', path: '/' }), deps)
      : kind === 'otlp'
        ? new OtlpSource(otlpSourceSchema.parse({ type: 'otlp', address: '127.0.0.1:0' }), deps)
        : new SyslogSource(syslogSourceSchema.parse({ type: 'syslog', address: '127.0.0.1:0' }), deps);
  const ac = new AbortController();
  const ctx: SourceContext = {
    id: 'bench',
    positions: new Map(),
    signal: ac.signal,
    full: () => q.metrics().full,
    log: {
      debug() {},
      info(_m, f) {
        const v = f?.['address'];
        const a = typeof v === 'string' ? v : '';
        send({ port: Number(a.slice(a.lastIndexOf(':') + 1)) });
      },
      warn() {},
      error() {},
    },
    emit: async (b) => {
      const payload = encodeEnvelope(b.format ?? 'lines', 'bench', b.origin, Date.now(), b.lines);
      await q.append(payload, b.positions ? { events: b.events, positions: b.positions } : { events: b.events });
      events += b.events;
    },
  };
  await source.run(ctx);
}

// ---------------------------------------------------------------- load generator (this process)

interface Server {
  readonly child: ChildProcess;
  readonly port: number;
  events: number;
  readonly waitEvents: (n: number) => Promise<void>;
  readonly stop: () => Promise<number>;
}

async function startServer(kind: Kind, wireSize = 100): Promise<{ server: Server; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-ingest-'));
  const child = fork(__filename, ['server', kind, dir, String(wireSize)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let rss = 0;
  let waiters: { n: number; r: () => void }[] = [];
  const state = { events: 0 };
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: FromServer) => {
      if ('port' in m) resolve(m.port);
      else if ('events' in m) {
        state.events = m.events;
        waiters = waiters.filter((w) => {
          if (state.events >= w.n) w.r();
          return state.events < w.n;
        });
      } else rss = m.rssMB;
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const server: Server = {
    child,
    port,
    get events() {
      return state.events;
    },
    waitEvents: (n) => (state.events >= n ? Promise.resolve() : new Promise((r) => waiters.push({ n, r }))),
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.send('stop');
      await exited;
      return rss;
    },
  };
  return { server, dir };
}

const ndjsonBody = (lines: number, seed: number): Buffer => {
  let s = '';
  for (let i = 0; i < lines; i++) {
    const head = `{"ts":"2026-11-30T00:00:00.000Z","level":"info","msg":"request handled","req":${seed * lines + i},"pad":"`;
    s += `${head}${'x'.repeat(Math.max(1, 97 - head.length))}"}\n`;
  }
  return Buffer.from(s);
};

/** An OTLP protobuf export of `records` log records, as an SDK would send it. */
const otlpBody = (records: number, seed: number): Buffer => {
  const kv = (key: string, value: Record<string, unknown>): Record<string, unknown> => ({ key, value });
  const t = 1_796_000_000_000_000_000n;
  const logRecords = Array.from({ length: records }, (_, i) => ({
    timeUnixNano: String(t + BigInt(seed * records + i)),
    observedTimeUnixNano: String(t + BigInt(seed * records + i) + 1000n),
    severityNumber: 9,
    severityText: 'INFO',
    body: { stringValue: `request handled in 12 ms: GET /api/orders/${seed * records + i} 200` },
    attributes: [kv('http.method', { stringValue: 'GET' }), kv('http.status_code', { intValue: 200 }), kv('user.id', { stringValue: `u${i % 97}` })],
    traceId: Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex'),
    spanId: Buffer.from('b7ad6b7169203331', 'hex'),
    flags: 1,
  }));
  const req = {
    resourceLogs: [
      {
        resource: { attributes: [kv('service.name', { stringValue: 'orders' }), kv('telemetry.sdk.language', { stringValue: 'nodejs' }), kv('host.name', { stringValue: 'web-1' })] },
        scopeLogs: [{ scope: { name: 'orders-logger', version: '1.0.0' }, logRecords }],
      },
    ],
  };
  return Buffer.from(ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(req)).finish());
};

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? NaN;
};

interface Row {
  readonly name: string;
  readonly clients: number;
  readonly perUnit: string;
  readonly events: number;
  readonly seconds: number;
  readonly p50?: number;
  readonly p99?: number;
  readonly rssMB: number;
}

async function httpCase(name: string, kind: 'http' | 'http-sender' | 'otlp' | 'http-floor', clients: number, lines: number, requestsPerClient: number): Promise<Row> {
  const { server, dir } = await startServer(kind);
  // http-sender: as a sluice edge posts (Sluice-Sender, Sluice-Acked-Below, an event_id per line),
  // each client a sender with consecutive ids: the source's per-sender deduplication on every event.
  const sent = new Array<number>(clients).fill(0);
  const senderBody = (c: number): { body: Buffer; headers: Record<string, string> } => {
    const first = sent[c] as number;
    sent[c] = first + lines;
    let text = '';
    for (let k = 0; k < lines; k++) text += `{"event_id":${first + k},"message":"GET /api/v1/orders/${first + k} 200 12ms user=4711","source":"app","timestamp":"2026-11-30T00:00:00.000Z"}\n`;
    return { body: Buffer.from(text), headers: { 'sluice-sender': `0f6e2c4a-bench-${c}:central`, 'sluice-acked-below': String(first) } };
  };
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const otlp = kind === 'otlp';
  const bodies = Array.from({ length: 4 }, (_, i) => (otlp ? otlpBody(lines, i) : ndjsonBody(lines, i)));
  const path = otlp ? '/v1/logs' : '/';
  const type = otlp ? 'application/x-protobuf' : 'application/x-ndjson';
  const lat: number[] = [];
  const post = (body: Buffer, extra: Record<string, string> = {}): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path, method: 'POST', agent, headers: { ...extra, 'content-type': type, 'content-length': body.length } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
  // warm-up
  await Promise.all(
    Array.from({ length: clients }, (_, i) => {
      if (kind !== 'http-sender') return post(bodies[i % bodies.length] as Buffer);
      const b = senderBody(i);
      return post(b.body, b.headers);
    }),
  );
  const base = server.events;
  const t0 = now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let i = 0; i < requestsPerClient; i++) {
        const b = kind === 'http-sender' ? senderBody(c) : undefined;
        const s = now();
        const status = await (b === undefined ? post(bodies[(c + i) % bodies.length] as Buffer) : post(b.body, b.headers));
        lat.push(now() - s);
        if (status !== 200) throw new Error(`status ${status}`);
      }
    }),
  );
  const seconds = (now() - t0) / 1000;
  agent.destroy();
  const total = clients * requestsPerClient * lines;
  await server.waitEvents(base + total);
  const rssMB = await server.stop();
  rmSync(dir, { recursive: true, force: true });
  return { name, clients, perUnit: `${lines} ${otlp ? 'records' : 'lines'}/body (${(kind === 'http-sender' ? senderBody(0).body.length : (bodies[0]?.length ?? 0)).toLocaleString('en-US')} B)`, events: total, seconds, p50: pct(lat, 50), p99: pct(lat, 99), rssMB };
}

async function syslogCase(name: string, kind: 'syslog' | 'tcp-floor', conns: number, messagesPerConn: number): Promise<Row> {
  // ~100 bytes on the wire per message, in 64 KiB writes.
  const msg = (i: number): string => {
    const m = `<13>1 2026-11-30T00:00:00.000Z host app 1234 ID47 - message number ${String(i).padStart(9, '0')} ${'x'.repeat(20)}`;
    return `${Buffer.byteLength(m)} ${m}`;
  };
  const perWrite = Math.floor((64 * 1024) / msg(0).length);
  const { server, dir } = await startServer(kind, msg(0).length);
  const block = Buffer.from(Array.from({ length: perWrite }, (_, i) => msg(i)).join(''));
  const writes = Math.ceil(messagesPerConn / perWrite);
  const total = conns * writes * perWrite;
  const t0 = now();
  await Promise.all(
    Array.from({ length: conns }, async () => {
      const s = connect(server.port, '127.0.0.1');
      await new Promise((r) => s.once('connect', r));
      for (let i = 0; i < writes; i++) if (!s.write(block)) await new Promise((r) => s.once('drain', r));
      await new Promise<void>((r) => s.end(r));
    }),
  );
  await server.waitEvents(total);
  const seconds = (now() - t0) / 1000;
  const rssMB = await server.stop();
  rmSync(dir, { recursive: true, force: true });
  return { name, clients: conns, perUnit: 'octet-counted, 100 B', events: total, seconds, rssMB };
}

async function main(): Promise<void> {
  const r = (n: number): number => Math.max(1, Math.round(n * SCALE));
  const rows: Row[] = [];
  const progress = (row: Row): void => {
    process.stderr.write(`  ${row.name}, ${row.clients} clients: ${Math.round(row.events / row.seconds).toLocaleString('en-US')} events/s\n`);
    rows.push(row);
  };
  progress(await httpCase('http ndjson → queue (fsync always)', 'http', 64, 100, r(250)));
  progress(await httpCase('http ndjson → queue (fsync always)', 'http', 64, 1000, r(40)));
  progress(await httpCase('http ndjson → queue (fsync always)', 'http', 1, 100, r(2000)));
  progress(await httpCase('http ndjson from sluice senders (dedup) → queue', 'http-sender', 64, 100, r(250)));
  progress(await httpCase('http ndjson from sluice senders (dedup) → queue', 'http-sender', 64, 1000, r(40)));
  progress(await httpCase('http ndjson from sluice senders (dedup) → queue', 'http-sender', 1, 100, r(2000)));
  progress(await httpCase('otlp protobuf → queue (fsync always)', 'otlp', 64, 100, r(250)));
  progress(await httpCase('otlp protobuf → queue (fsync always)', 'otlp', 64, 1000, r(40)));
  progress(await httpCase('otlp protobuf → queue (fsync always)', 'otlp', 1, 100, r(2000)));
  progress(await httpCase('reference: bare node:http, read body + 200', 'http-floor', 64, 100, r(250)));
  progress(await httpCase('reference: bare node:http, read body + 200', 'http-floor', 1, 100, r(2000)));
  progress(await syslogCase('syslog tcp → queue (fsync always)', 'syslog', 16, r(125_000)));
  progress(await syslogCase('reference: bare net server counting bytes', 'tcp-floor', 16, r(125_000)));
  const f = (n: number | undefined, d = 2): string => (n === undefined ? '' : n.toFixed(d));
  const out = [
    `Node ${process.version}, ${process.platform}; server in a child process; load generator in this one.`,
    '',
    '| case | clients | unit | events | s | events/s | p50 ms | p99 ms | server peak RSS MB |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (x) =>
        `| ${x.name} | ${x.clients} | ${x.perUnit} | ${x.events.toLocaleString('en-US')} | ${f(x.seconds)} | ${Math.round(x.events / x.seconds).toLocaleString('en-US')} | ${f(x.p50)} | ${f(x.p99)} | ${f(x.rssMB, 0)} |`,
    ),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

if (process.argv[2] === 'server') {
  void serve(process.argv[3] as Kind, process.argv[4] ?? tmpdir(), Number(process.argv[5] ?? 100)); // runs until the parent says stop
} else {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
