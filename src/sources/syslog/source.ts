/**
 * The syslog source: RFC 5424 / RFC 3164 messages over TCP (optionally TLS) or UDP, emitted as
 * structured events (`format: 'events'`, one JSON object per line; see `parse.ts`).
 *
 * TCP. Each connection has its own framer (`framing.ts`). Every read is framed and parsed at once
 * and its messages become one batch, one `emit`. While that emit is pending the socket is paused:
 * nothing more is read from the connection, the kernel's receive buffer fills, the TCP window
 * closes, and the sender blocks. A full queue therefore pushes back on every sender — nothing is
 * accepted and then dropped. What syslog over TCP cannot do is acknowledge: the sender's `write`
 * returned when its kernel took the bytes, so what sat in either kernel's buffers when a connection
 * broke (or the agent died) is lost without anyone knowing. Hence `canAcknowledge: false`.
 *
 * Connections beyond `max_connections` are closed by Node as they arrive (counted). TLS files are
 * read again on `reload()` (SIGHUP): new connections get the new certificate, open ones keep theirs;
 * a file that cannot be read, or a key that does not fit, keeps the old pair (one line). On stop, the
 * listener closes, each connection's pending batch is awaited, then the connection is destroyed (a
 * frame half-read at that moment is kept, marked as cut); `run()` resolves when all are gone.
 *
 * UDP. Each datagram is one message. Datagrams are gathered while an emit is pending and emitted
 * together (one emit at a time). There is no backpressure on UDP: the socket asks for a large
 * receive buffer (the kernel caps it at net.core.rmem_max), and when the gathered batch reaches
 * 16 MiB (the queue cannot keep up) further datagrams are dropped and counted. Datagrams the kernel
 * itself drops (its buffer full) are counted by the kernel (`netstat -su`: receive buffer errors).
 *
 * Frames that do not parse are kept as `{ "message": <raw text>, "source_ip": … }` and counted;
 * pieces of a frame longer than `max_message_bytes` are kept in order (the first parsed as usual,
 * the rest as `message` text) and counted. Counters are on `metrics()` and warned about on stderr at
 * most every 10 s.
 */
import { readTlsMaterial, type TlsMaterial } from '../tls-files';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createSecureContext, createServer as createTlsServer } from 'node:tls';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Clock, FileSystem } from '../../core/ports';
import type { Source, SourceContext, SourceStats } from '../../core/source';
import type { SyslogSourceConfig } from './config';
import { SyslogEmitError, SyslogListenError, SyslogTlsFileError } from './errors';
import { datagramFrames, SyslogFramer, type FrameKind } from './framing';
import { parseSyslog } from './parse';

const WARN_EVERY_MS = 10_000;
/** UDP: bytes of events gathered while an emit is pending before datagrams are dropped. */
const UDP_PENDING_MAX = 16 * 1024 * 1024;
/** UDP: receive buffer asked of the kernel. */
const UDP_RECV_BUFFER = 8 * 1024 * 1024;

export interface SyslogSourceMetrics {
  /** Events emitted and made durable. */
  messages: number;
  batches: number;
  /** Frames kept as raw `message` because they are not syslog. */
  parseFailures: number;
  /** Frames longer than max_message_bytes, kept as pieces. */
  splitFrames: number;
  /** Counted frames a connection ended inside (kept as what arrived). */
  cutFrames: number;
  /** `framing: octet_counting`: frames without a valid count (read as LF frames). */
  badCounts: number;
  connections: number;
  openConnections: number;
  /** Connections closed at once because max_connections were open. */
  refusedConnections: number;
  /** TLS handshakes that failed. */
  tlsErrors: number;
  /** SIGHUP reloads of the TLS files that failed (the old certificate stays). */
  tlsReloadFailures: number;
  /** UDP datagrams dropped because the queue could not keep up. */
  datagramsDropped: number;
}

/** What the source needs from its component context. */
export interface SyslogSourceDeps {
  readonly clock: Clock;
  readonly fs: FileSystem;
  readonly cwd: string;
}

/** Builds one batch of event lines from frames. */
class BatchBuilder {
  readonly lines: string[] = [];
  bytes = 0;
  constructor(
    private readonly source: SyslogSource,
    private readonly ip: string,
    private readonly now: number,
  ) {}

  readonly add = (frame: Buffer, kind: FrameKind): void => {
    const text = frame.toString('utf8');
    let ev: Record<string, unknown> | null = kind === 'tail' ? null : parseSyslog(text, this.now);
    if (ev === null) {
      if (kind !== 'tail') this.source.counted('parseFailures');
      ev = { message: text };
    }
    if (this.ip !== '') ev['source_ip'] = this.ip;
    const line = JSON.stringify(ev);
    this.lines.push(line);
    this.bytes += line.length + 1;
  };

  buffer(): Buffer {
    return Buffer.from(`${this.lines.join('\n')}\n`, 'utf8');
  }
}

export class SyslogSource implements Source {
  private readonly m: SyslogSourceMetrics = {
    messages: 0,
    batches: 0,
    parseFailures: 0,
    splitFrames: 0,
    cutFrames: 0,
    badCounts: 0,
    connections: 0,
    openConnections: 0,
    refusedConnections: 0,
    tlsErrors: 0,
    tlsReloadFailures: 0,
    datagramsDropped: 0,
  };
  /** Reloads the TLS files into the running server (set while it runs with TLS). */
  private reloadTls: (() => Promise<void>) | null = null;
  private lastWarn = -Infinity;
  private warned: Partial<SyslogSourceMetrics> = {};
  private ctx: SourceContext | null = null;

  constructor(
    private readonly cfg: SyslogSourceConfig,
    private readonly deps: SyslogSourceDeps,
  ) {}

  metrics(): Readonly<SyslogSourceMetrics> {
    return { ...this.m };
  }

  stats(): SourceStats {
    const m = this.m;
    const common = { parseFailures: m.parseFailures };
    if (this.cfg.mode === 'udp') return { ...common, datagramsDropped: m.datagramsDropped };
    return {
      ...common,
      openConnections: m.openConnections,
      connections: m.connections,
      refusedConnections: m.refusedConnections,
      ...(this.cfg.tls === undefined ? {} : { tlsErrors: m.tlsErrors, tlsReloadFailures: m.tlsReloadFailures }),
    };
  }

  /** SIGHUP: read the TLS files again; new connections get the new certificate (a bad file keeps the old one). */
  reload(): Promise<void> {
    return this.reloadTls?.() ?? Promise.resolve();
  }

  /** Count one event of a kind (and warn about the counters now and then). */
  counted(key: keyof SyslogSourceMetrics, n = 1): void {
    this.m[key] += n;
    this.maybeWarn();
  }

  async run(ctx: SourceContext): Promise<void> {
    this.ctx = ctx;
    if (this.cfg.mode === 'udp') return this.runUdp(ctx);
    return this.runTcp(ctx);
  }

  private maybeWarn(): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    const now = this.deps.clock.now();
    if (now - this.lastWarn < WARN_EVERY_MS) return;
    const keys = ['parseFailures', 'splitFrames', 'cutFrames', 'badCounts', 'refusedConnections', 'tlsErrors', 'datagramsDropped'] as const;
    const fields: Record<string, unknown> = {};
    let any = false;
    for (const k of keys) {
      if (this.m[k] !== (this.warned[k] ?? 0)) {
        fields[`${k}Total`] = this.m[k];
        any = true;
      }
    }
    if (!any) return;
    this.lastWarn = now;
    this.warned = { ...this.m };
    ctx.log.warn('syslog input problems: lines that are not syslog are kept raw, long frames kept split; refused connections and dropped datagrams are lost (docs/sources.md)', { source: ctx.id, ...fields });
  }

  private addressText(): string {
    const { host, port } = this.cfg.address;
    return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
  }

  private async makeServer(): Promise<{ server: Server; event: 'connection' | 'secureConnection' }> {
    const tls = this.cfg.tls;
    if (tls === undefined) return { server: createNetServer(), event: 'connection' };
    const id = this.ctx?.id ?? '';
    const read = (): Promise<TlsMaterial> => readTlsMaterial(this.deps.fs, this.deps.cwd, tls, (path, cause) => new SyslogTlsFileError(id, path, { cause }));
    const server = createTlsServer({
      ...(await read()),
      requestCert: tls.verify_client,
      rejectUnauthorized: tls.verify_client,
    });
    server.on('tlsClientError', () => this.counted('tlsErrors'));
    this.reloadTls = async () => {
      try {
        const material = await read();
        createSecureContext(material); // throws if the key does not fit the certificate: keep the old pair then
        server.setSecureContext(material);
        this.ctx?.log.info('syslog source reloaded its TLS files; new connections get the new certificate', { source: id });
      } catch (e) {
        this.m.tlsReloadFailures++;
        this.ctx?.log.warn('syslog source kept its previous TLS certificate: the files could not be reloaded; fix them and send SIGHUP again', { source: id, error: e });
      }
    };
    return { server, event: 'secureConnection' };
  }

  private async runTcp(ctx: SourceContext): Promise<void> {
    const { server, event } = await this.makeServer();
    server.maxConnections = this.cfg.max_connections;
    server.on('drop', () => this.counted('refusedConnections'));
    const open = new Set<Promise<void>>();
    const stops = new Set<() => void>();
    let failure: Error | undefined = undefined;
    let wake: () => void = () => undefined;
    const stopped = new Promise<void>((res) => (wake = res));
    const fail = (e: unknown): void => {
      failure ??= new SyslogEmitError(ctx.id, { cause: e });
      wake();
    };
    server.on(event, (sock: Socket) => {
      const done = this.connection(ctx, sock, stops, fail);
      open.add(done);
      void done.finally(() => open.delete(done)); // bookkeeping only; connection() never rejects
    });
    await new Promise<void>((res, rej) => {
      const onError = (e: unknown): void => rej(new SyslogListenError(ctx.id, `tcp ${this.addressText()}`, { cause: e }));
      server.once('error', onError);
      server.listen({ host: this.cfg.address.host, port: this.cfg.address.port, backlog: 511 }, () => {
        server.off('error', onError);
        res();
      });
    });
    const addr = server.address();
    ctx.log.info(`syslog source listening on ${this.cfg.tls ? 'tls' : 'tcp'}`, {
      source: ctx.id,
      address: typeof addr === 'object' && addr !== null ? `${isIPv6(addr.address) ? `[${addr.address}]` : addr.address}:${addr.port}` : this.addressText(),
    });
    server.on('error', (e) => ctx.log.warn('syslog listener error', { source: ctx.id, error: e }));
    if (ctx.signal.aborted) wake();
    else ctx.signal.addEventListener('abort', () => wake(), { once: true });
    await stopped;
    server.close(); // stop accepting; the connections are ended below
    for (const s of [...stops]) s();
    while (open.size > 0) await Promise.all([...open]);
    // (assigned in callbacks: the compiler cannot see it change)
    const failed = failure as Error | undefined;
    if (failed !== undefined) throw failed;
  }

  /**
   * One TCP connection, until it closes (or the source stops). Resolves, never rejects. `stops`:
   * the source calls every function in it on stop; `fail` reports an emit that rejected.
   */
  private connection(ctx: SourceContext, sock: Socket, stops: Set<() => void>, fail: (e: unknown) => void): Promise<void> {
    this.m.connections++;
    this.m.openConnections++;
    const framer = new SyslogFramer(this.cfg.framing, this.cfg.max_message_bytes);
    const ip = sock.remoteAddress ?? '';
    let inFlight = 0;
    let stopping = ctx.signal.aborted;
    let closed = false;
    let done = false;
    const syncCounters = (): void => {
      const c = framer.counters;
      this.m.splitFrames += c.split;
      this.m.cutFrames += c.cut;
      this.m.badCounts += c.badCounts;
      if (c.split + c.cut + c.badCounts > 0) this.maybeWarn();
      c.split = c.cut = c.badCounts = 0;
    };
    const emitFrames = (feed: (b: BatchBuilder) => void): Promise<void> | null => {
      const b = new BatchBuilder(this, ip, this.deps.clock.wall());
      feed(b);
      syncCounters();
      if (b.lines.length === 0) return null;
      const events = b.lines.length;
      const p = ctx.emit({ lines: b.buffer(), events, format: 'events' }).then(() => {
        this.m.messages += events;
        this.m.batches++;
      });
      return p;
    };
    return new Promise<void>((resolveDone) => {
      const stop = (): void => {
        stopping = true;
        if (inFlight === 0) sock.destroy();
      };
      stops.add(stop);
      const finish = (): void => {
        if (!closed || inFlight > 0 || done) return;
        done = true;
        stops.delete(stop);
        this.m.openConnections--;
        resolveDone();
      };
      /** The socket stays paused while any batch of it is not durable; it resumes (or closes, on stop) after. */
      const track = (p: Promise<void> | null): void => {
        if (p === null) return;
        inFlight++;
        if (!closed) sock.pause();
        void p.then(
          () => {
            inFlight--;
            if (inFlight === 0 && !closed) {
              if (stopping) sock.destroy();
              else sock.resume();
            }
            finish();
          },
          (e: unknown) => {
            inFlight--;
            fail(e);
            sock.destroy();
            finish();
          },
        ); // settled here: the connection's done-promise waits for inFlight to reach 0
      };
      sock.on('data', (chunk: Buffer) => {
        // Read already (even while stopping): emitted, then the connection closes.
        track(emitFrames((b) => framer.push(chunk, b.add)));
      });
      sock.on('error', () => {
        // A reset or a TLS failure: 'close' follows; the partial frame is kept there.
      });
      sock.on('close', () => {
        closed = true;
        if (framer.partial) track(emitFrames((b) => framer.end(b.add)));
        finish();
      });
      if (stopping) stop();
    });
  }

  private async runUdp(ctx: SourceContext): Promise<void> {
    const { host, port } = this.cfg.address;
    const sock = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: UDP_RECV_BUFFER });
    let lines: string[] = [];
    let bytes = 0;
    let inFlight: Promise<void> | null = null;
    let scheduled = false;
    const pendingEmit = (): Promise<void> | null => inFlight;
    let failure: Error | undefined = undefined;
    const flush = (): void => {
      scheduled = false;
      if (inFlight !== null || lines.length === 0 || failure !== undefined) return;
      const events = lines.length;
      const buf = Buffer.from(`${lines.join('\n')}\n`, 'utf8');
      lines = [];
      bytes = 0;
      inFlight = ctx.emit({ lines: buf, events, format: 'events' }).then(
        () => {
          this.m.messages += events;
          this.m.batches++;
          inFlight = null;
          flush();
        },
        (e: unknown) => {
          inFlight = null;
          failure ??= new SyslogEmitError(ctx.id, { cause: e });
          sock.close();
        },
      );
    };
    sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (bytes >= UDP_PENDING_MAX) {
        this.counted('datagramsDropped');
        return;
      }
      if (failure !== undefined) return;
      const batch = new BatchBuilder(this, rinfo.address, this.deps.clock.wall());
      const split = datagramFrames(msg, this.cfg.max_message_bytes, batch.add);
      if (split > 0) this.counted('splitFrames', split);
      for (const l of batch.lines) lines.push(l);
      bytes += batch.bytes;
      if (!scheduled && inFlight === null) {
        scheduled = true;
        setImmediate(flush);
      }
    });
    await new Promise<void>((res, rej) => {
      const onError = (e: unknown): void => rej(new SyslogListenError(ctx.id, `udp ${this.addressText()}`, { cause: e }));
      sock.once('error', onError);
      sock.bind({ address: host, port }, () => {
        sock.off('error', onError);
        res();
      });
    });
    sock.on('error', (e) => ctx.log.warn('syslog udp socket error', { source: ctx.id, error: e }));
    const a = sock.address();
    let recvBuffer = 0;
    try {
      recvBuffer = sock.getRecvBufferSize();
    } catch {
      // not available: nothing to report
    }
    ctx.log.info('syslog source listening on udp', { source: ctx.id, address: `${isIPv6(a.address) ? `[${a.address}]` : a.address}:${a.port}`, recvBufferBytes: recvBuffer });
    await new Promise<void>((res) => {
      if (ctx.signal.aborted) res();
      else ctx.signal.addEventListener('abort', () => res(), { once: true });
      sock.once('close', () => res());
    });
    try {
      sock.close();
    } catch {
      // already closed (after an emit failure)
    }
    flush();
    for (let p = pendingEmit(); p !== null; p = pendingEmit()) await p;
    // (assigned in callbacks: the compiler cannot see it change)
    const failed = failure as Error | undefined;
    if (failed !== undefined) throw failed;
  }
}
