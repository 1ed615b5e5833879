import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { syslogSourceSchema, type SyslogSourceConfigInput } from '../../src/sources/syslog/config';
import { SyslogSource } from '../../src/sources/syslog/source';
import type { SourceBatch, SourceContext } from '../../src/core/source';
import { nodeFileSystem, systemClock } from '../../src/core/node-ports';

/** A running SyslogSource on a free port with a controllable emit. */
class Served {
  readonly batches: SourceBatch[] = [];
  readonly ac = new AbortController();
  hold = false;
  emits = 0;
  private readonly held: (() => void)[] = [];
  port = 0;
  done: Promise<void> = Promise.resolve();
  readonly source: SyslogSource;

  constructor(cfg: Partial<SyslogSourceConfigInput> = {}) {
    this.source = new SyslogSource(syslogSourceSchema.parse({ type: 'syslog', address: '127.0.0.1:0', ...cfg }), { clock: systemClock, fs: nodeFileSystem, cwd: process.cwd() });
  }

  async start(): Promise<this> {
    let announce: (port: number) => void = () => undefined;
    const listening = new Promise<number>((r) => (announce = r));
    const ctx: SourceContext = {
      id: 'sys',
      positions: new Map(),
      signal: this.ac.signal,
      log: {
        debug() {},
        info(_m, f) {
          const v = f?.['address'];
          const a = typeof v === 'string' ? v : '';
          announce(Number(a.slice(a.lastIndexOf(':') + 1)));
        },
        warn() {},
        error() {},
      },
      emit: async (b) => {
        this.emits++;
        const copy = { ...b, lines: Buffer.from(b.lines) };
        await new Promise((r) => setImmediate(r));
        if (this.hold) await new Promise<void>((r) => this.held.push(r));
        this.batches.push(copy);
      },
    };
    this.done = this.source.run(ctx);
    this.port = await listening;
    return this;
  }

  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r();
  }

  events(): Record<string, unknown>[] {
    return Buffer.concat(this.batches.map((b) => b.lines))
      .toString()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  count(): number {
    return this.batches.reduce((n, b) => n + b.events, 0);
  }
}

const until = async (what: string, cond: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const tcp = async (port: number): Promise<Socket> => {
  const s = connect(port, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  return s;
};

const octet = (m: string): string => `${Buffer.byteLength(m)} ${m}`;

test('a connection is paused while its batch is pending: the sender is pushed back by TCP, and nothing is lost when the queue catches up', async () => {
  const s = await new Served().start();
  s.hold = true;
  const c = await tcp(s.port);
  const TOTAL = 200_000;
  let sent = 0;
  let blocked = false;
  while (sent < TOTAL) {
    let chunk = '';
    for (let i = 0; i < 1000 && sent < TOTAL; i++, sent++) chunk += octet(`<13>1 - host app - - - message ${sent} ${'p'.repeat(60)}`);
    if (!c.write(chunk)) {
      // The socket's buffer is full: wait for 'drain', which must not come while the batch is held.
      const drained = await Promise.race([new Promise((r) => c.once('drain', () => r(true))), new Promise((r) => setTimeout(() => r(false), 300))]);
      if (!drained) {
        blocked = true;
        break;
      }
    }
  }
  assert.ok(blocked, `the sender blocks while the batch is pending (sent ${sent} of ${TOTAL} before blocking)`);
  assert.equal(s.emits, 1, 'one batch in flight per connection');
  s.release();
  while (sent < TOTAL) {
    let chunk = '';
    for (let i = 0; i < 1000 && sent < TOTAL; i++, sent++) chunk += octet(`<13>1 - host app - - - message ${sent} ${'p'.repeat(60)}`);
    if (!c.write(chunk)) await new Promise((r) => c.once('drain', r));
  }
  c.end();
  await until('every message', () => s.count() === TOTAL);
  assert.ok(s.batches.length < TOTAL / 50, `messages are batched per read (${s.batches.length} batches)`);
  const ev = s.events();
  for (let i = 0; i < TOTAL; i += 997) assert.equal(ev[i]?.['message'], `message ${i} ${'p'.repeat(60)}`);
  s.ac.abort();
  await s.done;
});

test('lines that are not syslog are kept raw and counted; a connection closing mid-frame keeps what arrived', async () => {
  const s = await new Served({ max_message_bytes: 64 }).start();
  const c = await tcp(s.port);
  c.end(`not syslog at all\n<13>1 - h a - - - fine\n<14>${'z'.repeat(100)}\n40 <13>cut short`);
  await until('all frames', () => s.count() === 5);
  const ev = s.events();
  assert.deepEqual(ev[0], { message: 'not syslog at all', source_ip: '127.0.0.1' });
  assert.equal(ev[1]?.['message'], 'fine');
  assert.equal(`${String(ev[2]?.['message'])}${String(ev[3]?.['message'])}`, 'z'.repeat(100));
  assert.equal(ev[4]?.['message'], 'cut short');
  const m = s.source.metrics();
  assert.equal(m.parseFailures, 1);
  assert.equal(m.splitFrames, 1);
  assert.equal(m.cutFrames, 1);
  s.ac.abort();
  await s.done;
});

test('connections beyond max_connections are closed at once and counted; the others keep flowing', async () => {
  const s = await new Served({ max_connections: 2 }).start();
  const a = await tcp(s.port);
  const b = await tcp(s.port);
  await until('two open', () => s.source.metrics().openConnections === 2);
  const extra = connect(s.port, '127.0.0.1');
  extra.on('error', () => undefined);
  await new Promise((r) => extra.once('close', r));
  await until('counted', () => s.source.metrics().refusedConnections === 1);
  a.write('<13>from a\n');
  b.write('<13>from b\n');
  await until('both', () => s.count() === 2);
  a.destroy();
  b.destroy();
  s.ac.abort();
  await s.done;
});

test('stop: open connections are closed once their pending batch is durable, and run() resolves', async () => {
  const s = await new Served().start();
  const c = await tcp(s.port);
  s.hold = true;
  c.write('<13>held one\n');
  await until('emit started', () => s.emits === 1);
  s.ac.abort();
  const closed = new Promise((r) => c.once('close', r));
  c.on('error', () => undefined);
  let stopped = false;
  void s.done.then(() => (stopped = true)); // observed below
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(stopped, false);
  s.release();
  await s.done;
  await closed;
  assert.equal(s.count(), 1);
});

test('UDP: each datagram is one event, gathered into batches', async () => {
  const s = await new Served({ mode: 'udp' }).start();
  const u = createSocket('udp4');
  for (let i = 0; i < 500; i++) u.send(`<13>Nov 30 00:00:00 h app: d${i}\n`, s.port, '127.0.0.1');
  await until('datagrams', () => s.count() >= 450);
  await new Promise((r) => setTimeout(r, 100));
  u.close();
  assert.equal(s.count() + s.source.metrics().datagramsDropped <= 500, true);
  assert.ok(s.batches.length < s.count(), 'gathered');
  const ev = s.events();
  assert.equal(ev[0]?.['appname'], 'app');
  s.ac.abort();
  await s.done;
});

test('UDP: while the queue cannot keep up, datagrams beyond 16 MiB gathered are dropped and counted, the rest are emitted once it can', async () => {
  const s = await new Served({ mode: 'udp', max_message_bytes: '64KiB' }).start();
  s.hold = true;
  const u = createSocket('udp4');
  const body = 'x'.repeat(60_000);
  let sent = 0;
  // Datagrams of about 60 KB while the first emit is held, until the gathered batch passes 16 MiB
  // (the kernel may drop some on its own when its buffer is small: those are not what is tested).
  for (let i = 0; i < 3000 && s.source.metrics().datagramsDropped === 0; i++) {
    await new Promise<void>((r) => u.send(`<13>1 - h app - - - ${i} ${body}`, s.port, '127.0.0.1', () => r()));
    sent++;
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 2)); // let the source read
  }
  assert.ok(s.source.metrics().datagramsDropped > 0, `nothing dropped after ${sent} datagrams`);
  for (let k = 0; k < 20; k++) {
    await new Promise<void>((r) => u.send(`<13>1 - h app - - - late ${body}`, s.port, '127.0.0.1', () => r()));
    sent++;
  }
  assert.deepEqual(s.source.stats(), { parseFailures: 0, datagramsDropped: s.source.metrics().datagramsDropped });
  s.release();
  await until('the gathered datagrams emitted', () => s.count() > 0);
  await new Promise((r) => setTimeout(r, 200));
  u.close();
  const dropped = s.source.metrics().datagramsDropped;
  assert.ok(s.count() * 60_000 >= 16 * 1024 * 1024 - 60_000, `${s.count()} emitted: the gathered 16 MiB`);
  assert.ok(s.count() + dropped <= sent, `${s.count()} emitted + ${dropped} dropped <= ${sent} sent`);
  s.ac.abort();
  await s.done;
});

test('TCP stats: open and accepted connections, refused ones and parse failures, as /metrics shows them', async () => {
  const s = await new Served({ max_connections: 1 }).start();
  const a = await tcp(s.port);
  a.write('not syslog\n');
  await until('one event', () => s.count() === 1);
  const b = connect(s.port, '127.0.0.1');
  b.on('error', () => undefined);
  await new Promise<void>((r) => b.once('close', () => r()));
  await until('the refusal counted', () => s.source.metrics().refusedConnections === 1);
  assert.deepEqual(s.source.stats(), { parseFailures: 1, openConnections: 1, connections: 1, refusedConnections: 1 });
  a.destroy();
  await until('closed', () => s.source.metrics().openConnections === 0);
  s.ac.abort();
  await s.done;
});
