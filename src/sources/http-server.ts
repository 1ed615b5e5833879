/**
 * The HTTP server the request-driven sources share (`http`, `otlp`): each request is answered 200
 * only once its events are durable in the queue (the `emit` that carries them resolved: after the
 * covering fsync under `fsync: always`; group commit shares one fsync among concurrent requests).
 * What differs between the sources is an `IngestProtocol`: the path, which Content-Types fit, how a
 * body becomes events, and how an answer's body is written (the http source answers JSON; OTLP
 * answers in the request's own encoding).
 *
 * A request, in order of checks (each answered at once, before the body is read, except the last
 * ones): stopping → 503 + `Connection: close`; other path → 404; not POST → 405; bad or missing
 * bearer token → 401 (compared in constant time: SHA-256 digests of both, `timingSafeEqual`);
 * Content-Type not fit for the protocol, or a Content-Encoding other than gzip/deflate → 415;
 * Content-Length above `max_body_bytes` → 413; queue full (`ctx.full()`) → 503 + `Retry-After: 1`.
 * `Expect: 100-continue` gets its `100 Continue` only after these checks, so a refused client never
 * sends its body. Then the body is read into memory with a hard limit (413 as soon as it passes
 * `max_body_bytes`), decompressed with the same limit on the output (a gzip bomb stops at the limit,
 * 413), decoded (the protocol's `decode`; 400 with the reason), and emitted as one batch: one queue
 * append per request, however many events, no per-event system calls.
 *
 * A record never spans two queue segments, so a request whose events do not fit one
 * (`ctx.recordBytes`, with what the protocol says its records carry besides: the dedup positions)
 * is cut at event boundaries into several batches, appended together (one group commit takes them)
 * and answered 200 once all are durable. One event that cannot fit a record alone gets 413 with the
 * reason before anything is appended. A request is stored whole or not at all where the queue
 * allows it: when a give-up (below) drops some of its batches after others were written, the
 * dropped ones are appended again, without a give-up, and the answer is 200 — a retry would store
 * the first part twice. Only a crash (or a failed queue: 500) leaves part of a request stored; its
 * retry repeats that part, except from a sluice sender, whose ids each record carries.
 *
 * `when_full` says what a request meets when the queue is full. `reject` (the default): 503 +
 * `Retry-After: 1` at once, before the body is read; and when the queue fills while the request's own
 * append waits for space (seen within 200 ms, on the clock port), that append is given up
 * (`AppendOptions.signal`): the queue drops it unwritten, the client gets 503 and its retry stores the
 * events once. An append a write already took is not given up: it completes, and the answer is 200.
 * (One second: the OpenTelemetry JS exporter drops a batch whose Retry-After exceeds what is left of
 * its 10 s export deadline.) `block`: the request waits for space as long as it takes (the client's
 * own timeout decides); a client that goes away meanwhile has its append given up likewise, so its
 * retry does not store the events twice.
 *
 * Connections beyond `max_connections` are closed as they arrive (counted in `refusedConnections`).
 * TLS material is read again on `reload()` (SIGHUP): new connections get the new certificate; a file
 * that cannot be read, or a pair that does not fit, keeps the old one (one line on stderr).
 *
 * An answer that leaves a body unread closes the connection when the body may be large (no
 * Content-Length, or one above 64 KiB), rather than read and discard it.
 *
 * Graceful stop (`ctx.signal`): the listener closes and idle keep-alive connections are closed; a
 * request still sending its body gets 503 + `Connection: close`; a request whose emit started is
 * answered once it resolves (with `Connection: close`), and one still waiting for space is given up
 * and answered 503; a new request on an open connection gets 503 + `Connection: close`. `run()`
 * resolves when no request is left in flight.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIPv6, type Socket } from 'node:net';
import { createSecureContext } from 'node:tls';
import { gunzip, inflate, type InputType, type ZlibOptions } from 'node:zlib';
import type { Clock, FileSystem, Timer } from '../core/ports';
import type { SourceBatch, SourceContext, SourceStats } from '../core/source';
import { HttpEmitError, HttpListenError, HttpTlsFileError } from './errors';
import { cutLines, type LinePiece } from './lines';
import type { ListenAddress, TlsConfig } from './net-config';
import { readTlsMaterial, type TlsMaterial } from './tls-files';

/** The body of an answer and its media type. */
export interface AnswerBody {
  readonly type: string;
  readonly body: string | Uint8Array;
}

/** What a protocol made of a request body: events to store (and the 200's body), or why it refuses it (400). */
export type IngestDecoded =
  | {
      readonly ok: true;
      readonly lines: Buffer;
      readonly events: number;
      readonly answer: AnswerBody;
      /** What a record of these events carries besides the lines (positions): a fixed part and a part per event. */
      readonly overhead?: RecordOverhead;
    }
  | { readonly ok: false; readonly reason: string };

export interface RecordOverhead {
  readonly fixed: number;
  readonly perEvent: number;
}

/** What one request-driven source does differently from another. */
export interface IngestProtocol {
  /** The source type, for log lines (`http`, `otlp`). */
  readonly name: string;
  /** The one path that accepts POSTs; other paths get 404. */
  readonly path: string;
  /** Why this Content-Type does not fit (415), or undefined when it does. */
  contentTypeProblem(header: string | undefined): string | undefined;
  /** Body (decompressed) → events. Never throws, whatever the bytes. */
  decode(body: Buffer, req: IncomingMessage): IngestDecoded;
  /** The body of a refusal (4xx, 5xx) with its reason. */
  error(req: IncomingMessage, status: number, message: string): AnswerBody;
  /**
   * The decoded `lines` go to the queue as these pieces (one record each: the body did not fit
   * one); a protocol that knows its batches by their lines learns each piece's.
   */
  pieces?(lines: Buffer, pieces: readonly LinePiece[]): void;
}

export interface IngestServerOptions {
  readonly address: ListenAddress;
  readonly maxBodyBytes: number;
  /** Connections beyond this many are closed as they arrive. */
  readonly maxConnections: number;
  /** A full queue: `reject` answers 503 at once (and gives up a waiting append); `block` waits for space. */
  readonly whenFull: 'block' | 'reject';
  readonly bearerToken?: string | undefined;
  readonly tls?: TlsConfig | undefined;
}

/** The options of the server from a source's config (the keys http and otlp share). */
export const ingestServerOptions = (cfg: {
  readonly address: ListenAddress;
  readonly max_body_bytes: number;
  readonly max_connections: number;
  readonly when_full: 'block' | 'reject';
  readonly auth?: { readonly bearer_token: string } | undefined;
  readonly tls?: TlsConfig | undefined;
}): IngestServerOptions => ({
  address: cfg.address,
  maxBodyBytes: cfg.max_body_bytes,
  maxConnections: cfg.max_connections,
  whenFull: cfg.when_full,
  bearerToken: cfg.auth?.bearer_token,
  tls: cfg.tls,
});

export interface IngestServerDeps {
  readonly clock: Clock;
  readonly fs: FileSystem;
  readonly cwd: string;
}

/** An unread body up to this size is read and discarded to keep the connection; above it, the connection closes. */
const DRAIN_MAX = 64 * 1024;
/** While an append waits, how often the queue is asked whether it is full. */
const FULL_CHECK_MS = 200;

export interface IngestMetrics {
  /** Answers by status code. */
  responses: Record<number, number>;
  /** Events made durable. */
  events: number;
  /** Requests in flight. */
  inFlight: number;
  /** Connections open now, and accepted in all. */
  openConnections: number;
  connections: number;
  /** Connections closed at once because `max_connections` were open. */
  refusedConnections: number;
  /** Requests answered 503 because the queue was full (at once, or once their waiting append was given up). */
  refusedFull: number;
  /** Appends given up while they waited (queue full under `reject`, client gone, agent stopping): nothing of them stored. */
  appendsGivenUp: number;
  /** TLS handshakes that failed. */
  tlsErrors: number;
  /** SIGHUP reloads of the TLS files that failed (the old certificate stays). */
  tlsReloadFailures: number;
}

type BodyOutcome = { readonly kind: 'body'; readonly body: Buffer } | { readonly kind: 'too-large' } | { readonly kind: 'gone' } | { readonly kind: 'stopping' };

type Unzip = (buf: InputType, options: ZlibOptions, cb: (err: Error | null, result: Buffer) => void) => void;

const decompress = (fn: Unzip, body: Buffer, max: number): Promise<Buffer | 'too-large' | Error> =>
  new Promise((res) => {
    // maxOutputLength makes zlib stop (RangeError) once the output passes the limit: a bomb costs at most `max` bytes.
    fn(body, { maxOutputLength: max + 1 }, (err, out) => {
      if (err) res(err instanceof RangeError || (err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE' ? 'too-large' : err);
      else res(out.length > max ? 'too-large' : out);
    });
  });

const digest = (s: string | Buffer): Buffer => createHash('sha256').update(s).digest();

export class IngestServer {
  private readonly m: IngestMetrics = {
    responses: {},
    events: 0,
    inFlight: 0,
    openConnections: 0,
    connections: 0,
    refusedConnections: 0,
    refusedFull: 0,
    appendsGivenUp: 0,
    tlsErrors: 0,
    tlsReloadFailures: 0,
  };
  /** Appends waiting: called on stop so they are given up. */
  private readonly waiting = new Set<() => void>();
  /** Reloads the TLS files into the running server (set while it runs with TLS). */
  private reloadTls: (() => Promise<void>) | null = null;
  private readonly tokenDigest: Buffer | null;
  private stopping = false;
  /** Requests reading their body: called on stop so they answer 503 at once. */
  private readonly readers = new Set<() => void>();
  private readonly idle = new Set<() => void>();
  private failure: Error | undefined = undefined;

  constructor(
    private readonly cfg: IngestServerOptions,
    private readonly protocol: IngestProtocol,
    private readonly deps: IngestServerDeps,
  ) {
    this.tokenDigest = cfg.bearerToken === undefined ? null : digest(cfg.bearerToken);
  }

  metrics(): Readonly<IngestMetrics> {
    return { ...this.m, responses: { ...this.m.responses } };
  }

  /** The counters as the pipeline shows them (the TLS ones only where TLS is on). */
  stats(): SourceStats {
    const m = this.m;
    return {
      responses: { ...m.responses },
      refusedFull: m.refusedFull,
      appendsGivenUp: m.appendsGivenUp,
      openConnections: m.openConnections,
      connections: m.connections,
      refusedConnections: m.refusedConnections,
      ...(this.cfg.tls === undefined ? {} : { tlsErrors: m.tlsErrors, tlsReloadFailures: m.tlsReloadFailures }),
    };
  }

  private addressText(): string {
    const { host, port } = this.cfg.address;
    return `${isIPv6(host) ? `[${host}]` : host}:${port}`;
  }

  private async makeServer(ctx: SourceContext): Promise<Server> {
    const tls = this.cfg.tls;
    if (tls === undefined) return createHttpServer();
    const read = (): Promise<TlsMaterial> => readTlsMaterial(this.deps.fs, this.deps.cwd, tls, (path, cause) => new HttpTlsFileError(ctx.id, path, { cause }));
    const server = createHttpsServer({ ...(await read()), requestCert: tls.verify_client, rejectUnauthorized: tls.verify_client });
    server.on('tlsClientError', () => this.m.tlsErrors++);
    this.reloadTls = async () => {
      try {
        const material = await read();
        createSecureContext(material); // throws if the key does not fit the certificate: keep the old pair then
        server.setSecureContext(material);
        ctx.log.info(`${this.protocol.name} source reloaded its TLS files; new connections get the new certificate`, { source: ctx.id });
      } catch (e) {
        this.m.tlsReloadFailures++;
        ctx.log.warn(`${this.protocol.name} source kept its previous TLS certificate: the files could not be reloaded; fix them and send SIGHUP again`, {
          source: ctx.id,
          error: e,
        });
      }
    };
    return server;
  }

  /** SIGHUP: read the TLS files again (no-op without TLS). Resolves when done; never rejects. */
  reload(): Promise<void> {
    return this.reloadTls?.() ?? Promise.resolve();
  }

  async run(ctx: SourceContext): Promise<void> {
    const server = await this.makeServer(ctx);
    server.maxConnections = this.cfg.maxConnections;
    server.on('drop', () => this.m.refusedConnections++);
    server.on('connection', (sock: Socket) => {
      this.m.connections++;
      this.m.openConnections++;
      sock.once('close', () => this.m.openConnections--);
    });
    const onRequest = (expectContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
      this.m.inFlight++;
      // The handler answers every request itself and never rejects; the count tells run() when all are answered.
      void this.handle(ctx, req, res, expectContinue).finally(() => {
        this.m.inFlight--;
        if (this.m.inFlight === 0) for (const f of this.idle) f();
      });
    };
    server.on('request', onRequest(false));
    server.on('checkContinue', onRequest(true));
    await new Promise<void>((res, rej) => {
      const onError = (e: unknown): void => rej(new HttpListenError(ctx.id, this.addressText(), { cause: e }));
      server.once('error', onError);
      server.listen({ host: this.cfg.address.host, port: this.cfg.address.port, backlog: 511 }, () => {
        server.off('error', onError);
        res();
      });
    });
    server.on('error', (e) => ctx.log.warn('http listener error', { source: ctx.id, error: e }));
    const addr = server.address();
    ctx.log.info(`${this.protocol.name} source listening on ${this.cfg.tls ? 'https' : 'http'}`, {
      source: ctx.id,
      address: typeof addr === 'object' && addr !== null ? `${isIPv6(addr.address) ? `[${addr.address}]` : addr.address}:${addr.port}` : this.addressText(),
      path: this.protocol.path,
    });
    let wake: () => void = () => undefined;
    const stopped = new Promise<void>((r) => (wake = r));
    this.idle.add(() => {
      if (this.failure !== undefined) wake();
    });
    if (ctx.signal.aborted) wake();
    else ctx.signal.addEventListener('abort', () => wake(), { once: true });
    await stopped;
    this.stopping = true;
    server.close(); // no new connections
    server.closeIdleConnections();
    for (const r of [...this.readers]) r();
    for (const w of [...this.waiting]) w();
    while (this.m.inFlight > 0) {
      await new Promise<void>((r) => {
        const f = (): void => {
          this.idle.delete(f);
          r();
        };
        this.idle.add(f);
      });
    }
    server.closeAllConnections();
    if (this.failure !== undefined) throw this.failure;
  }

  private reply(req: IncomingMessage, res: ServerResponse, status: number, answer: AnswerBody, headers: Record<string, string> = {}, bodyRead = true): void {
    this.m.responses[status] = (this.m.responses[status] ?? 0) + 1;
    if (!bodyRead) {
      const len = Number(req.headers['content-length'] ?? NaN);
      if (!(len <= DRAIN_MAX)) headers['connection'] = 'close';
    }
    if (this.stopping) headers['connection'] = 'close';
    if (res.headersSent) {
      res.end();
      return;
    }
    res.writeHead(status, { 'content-type': answer.type, 'content-length': String(Buffer.byteLength(answer.body)), ...headers });
    res.end(answer.body);
  }

  /** A refusal with its reason, in the protocol's shape. */
  private fail(req: IncomingMessage, res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}, bodyRead = true): void {
    this.reply(req, res, status, this.protocol.error(req, status, message), headers, bodyRead);
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.tokenDigest === null) return true;
    const h = req.headers['authorization'];
    if (h === undefined) return false;
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(h);
    if (!m) return false;
    return timingSafeEqual(digest(m[1] as string), this.tokenDigest);
  }

  private readBody(req: IncomingMessage, max: number): Promise<BodyOutcome> {
    return new Promise<BodyOutcome>((res) => {
      const chunks: Buffer[] = [];
      let total = 0;
      let settled = false;
      const settle = (o: BodyOutcome): void => {
        if (settled) return;
        settled = true;
        this.readers.delete(onStop);
        req.off('data', onData);
        if (o.kind !== 'body') req.pause();
        res(o);
      };
      const onStop = (): void => settle({ kind: 'stopping' });
      const onData = (c: Buffer): void => {
        total += c.length;
        if (total > max) settle({ kind: 'too-large' });
        else chunks.push(c);
      };
      this.readers.add(onStop);
      req.on('data', onData);
      req.once('end', () => settle({ kind: 'body', body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total) }));
      req.once('error', () => settle({ kind: 'gone' }));
      req.once('close', () => settle({ kind: 'gone' }));
    });
  }

  private async handle(ctx: SourceContext, req: IncomingMessage, res: ServerResponse, expectContinue: boolean): Promise<void> {
    try {
      await this.answer(ctx, req, res, expectContinue);
    } catch (e) {
      // A bug path: the client still gets an answer.
      this.fail(req, res, 500, `internal error: ${e instanceof Error ? e.message : String(e)}`, {}, false);
    }
    // In flight until the answer is handed to the OS: a stop closes connections only after that.
    const sock = req.socket;
    if (!res.writableFinished && !res.destroyed && !sock.destroyed) {
      await new Promise<void>((r) => {
        const done = (): void => {
          res.off('finish', done);
          res.off('close', done);
          sock.off('close', done);
          r();
        };
        res.once('finish', done);
        res.once('close', done);
        // a pipelined answer queued behind one that closed the connection is never written
        sock.once('close', done);
      });
    }
  }

  private async answer(ctx: SourceContext, req: IncomingMessage, res: ServerResponse, expectContinue: boolean): Promise<void> {
    const max = this.cfg.maxBodyBytes;
    const early = (status: number, error: string, headers: Record<string, string> = {}): void => this.fail(req, res, status, error, headers, false);
    if (this.stopping || this.failure !== undefined) return early(503, 'the agent is stopping', { 'retry-after': '1', connection: 'close' });
    const path = (req.url ?? '/').split('?')[0];
    if (path !== this.protocol.path) return early(404, `not found: POST events to ${this.protocol.path}`);
    if (req.method !== 'POST') return early(405, 'method not allowed: use POST', { allow: 'POST' });
    if (!this.authorized(req)) return early(401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
    const typeProblem = this.protocol.contentTypeProblem(req.headers['content-type']);
    if (typeProblem !== undefined) return early(415, typeProblem);
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    let unzip: Unzip | null = null;
    if (encoding === 'gzip' || encoding === 'x-gzip') unzip = gunzip;
    else if (encoding === 'deflate') unzip = inflate;
    else if (encoding !== 'identity' && encoding !== '') return early(415, `Content-Encoding ${encoding} is not supported (gzip, deflate or none)`);
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > max) return early(413, `body of ${declared} bytes is above max_body_bytes (${max})`, { connection: 'close' });
    if (this.rejectsWhenFull(ctx)) return this.refuseFull(req, res, false);
    if (expectContinue) res.writeContinue();

    const got = await this.readBody(req, max);
    switch (got.kind) {
      case 'gone':
        return; // the client went away: nobody to answer, nothing taken
      case 'stopping':
        return early(503, 'the agent is stopping', { 'retry-after': '1', connection: 'close' });
      case 'too-large':
        return early(413, `body above max_body_bytes (${max})`, { connection: 'close' });
      case 'body':
        break;
    }
    let body = got.body;
    if (unzip !== null) {
      const out = await decompress(unzip, body, max);
      if (out === 'too-large') return this.fail(req, res, 413, `decompressed body above max_body_bytes (${max})`);
      if (out instanceof Error) return this.fail(req, res, 400, `body cannot be decompressed (${encoding}): ${out.message}`);
      body = out;
    }
    const decoded = this.protocol.decode(body, req);
    if (!decoded.ok) return this.fail(req, res, 400, decoded.reason);
    if (decoded.events === 0) return this.reply(req, res, 200, decoded.answer);
    const batches = this.recordsOf(ctx, decoded);
    if (typeof batches === 'string') return this.fail(req, res, 413, batches);
    if (this.stopping) return this.fail(req, res, 503, 'the agent is stopping', { 'retry-after': '1' });
    if (this.rejectsWhenFull(ctx)) return this.refuseFull(req, res, true);
    // Given up while it still waits: on a full queue (`reject`), when the client goes away, on stop.
    const giveUp = new AbortController();
    let why = 'full' as 'full' | 'gone' | 'stopping'; // (widened: assigned in callbacks the compiler cannot follow)
    const abort = (reason: typeof why) => (): void => {
      if (giveUp.signal.aborted) return;
      why = reason;
      giveUp.abort();
    };
    const onGone = abort('gone');
    const stopNow = abort('stopping');
    // On stop, an append waiting for space is given up (503); one that is merely in progress completes (200).
    const onStop = (): void => {
      if (ctx.full?.() === true) stopNow();
    };
    res.once('close', onGone);
    this.waiting.add(onStop);
    const emitted = this.emitAll(ctx, batches, giveUp.signal);
    const outcome = await (this.cfg.whenFull === 'reject' ? this.durableOrFull(ctx, emitted, abort('full')) : emitted);
    res.off('close', onGone);
    this.waiting.delete(onStop);
    switch (outcome) {
      case 'durable':
        this.m.events += decoded.events;
        return this.reply(req, res, 200, decoded.answer);
      case 'failed':
        return this.fail(req, res, 500, 'the queue did not accept the events');
      case 'too-large':
        return this.fail(req, res, 413, 'the events do not fit one queue record (queue.segment_bytes): send fewer or smaller events per request');
      case 'given-up':
        // Nothing of the request was stored: its retry stores the events once.
        this.m.appendsGivenUp++;
        if (why === 'stopping') return this.fail(req, res, 503, 'the agent is stopping', { 'retry-after': '1' });
        if (why === 'full') return this.refuseFull(req, res, true);
        return; // the client went away: nobody to answer
    }
  }

  /**
   * The request's events as batches that each fit one queue record (`ctx.recordBytes`): the whole
   * body when it fits, else pieces cut at event boundaries; or, when one event alone cannot fit,
   * why (413: no append is made, the agent goes on).
   */
  private recordsOf(ctx: SourceContext, d: IngestDecoded & { ok: true }): SourceBatch[] | string {
    const room = ctx.recordBytes;
    const { fixed, perEvent } = d.overhead ?? { fixed: 0, perEvent: 0 };
    if (room === undefined || d.lines.length + fixed + d.events * perEvent <= room) return [{ lines: d.lines, events: d.events, format: 'events' }];
    const cut = cutLines(d.lines, room - fixed, perEvent);
    if (!cut.ok) {
      const most = room - fixed - perEvent;
      return `event ${cut.index + 1} of the request is ${cut.bytes} bytes as stored, more than one queue record holds (${most} bytes, set by queue.segment_bytes): it cannot be stored; send it smaller`;
    }
    this.protocol.pieces?.(d.lines, cut.pieces);
    return cut.pieces.map((p) => ({ lines: p.lines, events: p.count, format: 'events' }));
  }

  /**
   * Appends the batches of one request (all at once: group commit takes them together) and says
   * how it went, as one: durable when all are. A request is stored whole or not at all where the
   * queue allows: when a give-up (`signal`) drops some batches after others were written, the
   * dropped ones are appended again without a give-up — a request partly stored is finished, so a
   * client's retry does not store its first part twice. `failed` (the queue failed) stops the source.
   */
  private async emitAll(ctx: SourceContext, batches: readonly SourceBatch[], signal: AbortSignal): Promise<'durable' | 'given-up' | 'failed' | 'too-large'> {
    const once = (batch: SourceBatch, s: AbortSignal | undefined): Promise<'durable' | 'given-up' | 'failed' | 'too-large'> =>
      ctx.emit(batch, s === undefined ? {} : { signal: s }).then(
        () => 'durable' as const,
        (e: unknown) => {
          if (s?.aborted === true && codeOf(e) === 'SLUICE_QUEUE_APPEND_ABORTED') return 'given-up' as const;
          // One record too large (a positions margin exceeded): the queue is fine; the client gets 413.
          if (codeOf(e) === 'SLUICE_QUEUE_RECORD_TOO_LARGE') return 'too-large' as const;
          this.failure ??= new HttpEmitError(ctx.id, { cause: e });
          for (const f of this.idle) f();
          return 'failed' as const;
        },
      );
    const worst = (os: readonly string[]): 'failed' | 'too-large' | undefined => (os.includes('failed') ? 'failed' : os.includes('too-large') ? 'too-large' : undefined);
    const first = await Promise.all(batches.map((b) => once(b, signal)));
    const bad = worst(first);
    if (bad !== undefined) return bad;
    if (first.every((o) => o === 'durable')) return 'durable';
    if (first.every((o) => o === 'given-up')) return 'given-up';
    const rest = await Promise.all(batches.filter((_, i) => first[i] === 'given-up').map((b) => once(b, undefined)));
    return worst(rest) ?? 'durable';
  }

  private rejectsWhenFull(ctx: SourceContext): boolean {
    return this.cfg.whenFull === 'reject' && ctx.full?.() === true;
  }

  private refuseFull(req: IncomingMessage, res: ServerResponse, bodyRead: boolean): void {
    this.m.refusedFull++;
    this.fail(req, res, 503, 'the queue is full: retry later', { 'retry-after': '1' }, bodyRead);
  }

  /**
   * The append's outcome; while it waits, the queue is asked every 200 ms whether it is full, and if
   * so the append is given up (`giveUp`): it then settles at once, given up or (a write already took
   * it) durable.
   */
  private durableOrFull<T>(ctx: SourceContext, emitted: Promise<T>, giveUp: () => void): Promise<T> {
    const full = ctx.full;
    if (full === undefined) return emitted;
    let timer: Timer | null = null;
    let settled = false;
    const check = (): void => {
      timer = null;
      if (settled) return;
      if (full()) giveUp();
      else timer = this.deps.clock.setTimer(FULL_CHECK_MS, check);
    };
    timer = this.deps.clock.setTimer(FULL_CHECK_MS, check);
    return emitted.finally(() => {
      settled = true;
      timer?.cancel();
    });
  }
}

/** An error's stable `code` (`SLUICE_QUEUE_APPEND_ABORTED`: the queue dropped a given-up append unwritten). */
const codeOf = (e: unknown): unknown => (typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined);
