/**
 * The `nats` sink: publishes each group to a NATS JetStream stream and answers the delivery
 * contract (`src/core/sink.ts`) from the stream's acknowledgements (PubAck).
 *
 *   every message PubAcked                  delivered (a `duplicate: true` ack too: the stream had
 *                                           the message already; counted and reported)
 *   any publish failed (timeout, the server
 *   gone, no JetStream answer: "jetstream
 *   is not enabled" — a cluster without
 *   quorum, or no stream for the subject)   errored: the whole group is retried by the runner
 *   no stream takes the subject             errored with an alert: one line naming the subject and
 *                                           how to create a stream; retried
 *   a single line above the message limit   rejected: dead-lettered (it can never be published)
 *
 * The message limit is `max_message_bytes`, lowered to the server's `max_payload` (less room for
 * the headers) when the server takes less: records are then cut smaller and one WARN says so.
 *
 * Duplicate window: the first time a subject is published to, the sink looks its stream up and
 * reads `duplicate_window`; when the window is shorter than what a replay can span here
 * (`replayReachMs`), one WARN names the stream and the fix. The lookup runs beside the publish.
 *
 * Messages: each queue record is cut at line boundaries into messages of at most the message limit
 * (`chunks.ts`); every message carries `Nats-Msg-Id: <agent id>:<sink id>:<record id>:<first
 * byte>+<length>:<encoding>` (`messageId`) — the same on every retry and on every replay after a
 * crash — so the stream stores it once within its `duplicate_window`. The messages of a group are
 * published together (pipelined) and the group is delivered only when every one is acknowledged.
 * Headers `Sluice-Encoding: text|json` and `Sluice-Source: <source id>` let a sluice `nats` source
 * keep JSON events structured.
 *
 * The client library is loaded and the connection made on the first write (`core/nats.ts`).
 */
import * as z from 'zod';
import { sinkSchema } from '../../core/component';
import type { Envelope } from '../../core/envelope';
import { connectNats, explainConnectError, loadJetStream, NatsConnectError, natsConnectionShape, type NatsConnection } from '../../core/nats';
import type { ReplayBounds } from '../../core/component';
import type { Rejection, Sink, SinkContext, StoredPayload, WriteOptions, WriteResult } from '../../core/sink';
import { sizeSchema } from '../../core/units';
import { chunksOf, encodeRecord, firstEventIdOf, subjectFor, type Chunk } from './chunks';

export { chunksOf, encodeRecord, subjectFor } from './chunks';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Room kept below the server's `max_payload` for the headers. */
const HEADER_ROOM = KiB;
/** How long one publish waits for its PubAck (the runner's `request.timeout` may cut it shorter). */
const PUBLISH_TIMEOUT_MS = 10_000;
/** Duplicate acknowledgements are reported at most this often. */
const DUPLICATE_REPORT_MS = 10_000;
/** What a crashed agent takes to be running again (a supervisor's restart delay, start-up, recovery). */
const RESTART_ALLOWANCE_MS = 60_000;
/** The runner's defaults, for a sink made without them (unit tests). */
const DEFAULT_REPLAY: ReplayBounds = { maxBackoffMs: 30_000, timeoutMs: 30_000, cursorFlushMs: 1000 };
/** The window suggested when one is too short (the docs' advice: longer than the worst outage planned for). */
const SUGGESTED_WINDOW_MS = 24 * 3_600_000;

/**
 * How old a message can be when this sink sends it again, the agent and the server both up: a group
 * partly stored is retried after at most one attempt (`request.timeout`) and one backoff
 * (`max_backoff`); a group delivered but not yet under a persisted cursor (`cursor_flush_interval`)
 * is replayed after a crash, once the agent is back (`RESTART_ALLOWANCE_MS`). An outage of the
 * server or of the agent longer than that is not bounded by anything sluice controls.
 */
export const replayReachMs = (r: ReplayBounds): number => r.maxBackoffMs + r.timeoutMs + r.cursorFlushMs + RESTART_ALLOWANCE_MS;

/** `90s` → "1m30s", `24h` → "24h": a duration as the nats CLI and the config write it. */
export const formatDuration = (ms: number): string => {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  let sec = Math.round(ms / 1000);
  const h = Math.floor(sec / 3600);
  sec -= h * 3600;
  const m = Math.floor(sec / 60);
  sec -= m * 60;
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${sec > 0 || (h === 0 && m === 0) ? `${sec}s` : ''}`;
};

/** A subject to publish to: dot-separated tokens, no wildcards or spaces; `{source}` is the source id. */
const subjectTemplate = z
  .string()
  .min(1)
  .refine((s) => s.replaceAll('{source}', 'x').split('.').every((t) => /^[^\s*>{}]+$/.test(t)), {
    error: 'expected a subject such as logs.app or logs.{source} (dot-separated tokens, no spaces or wildcards; {source} is the only template)',
  });

export const natsSinkSchema = sinkSchema('nats', {
  ...natsConnectionShape,
  subject: subjectTemplate,
  /** Largest message; lowered to the server's `max_payload` (1MiB by default) less 1KiB when that is smaller. Records are cut at line boundaries. */
  max_message_bytes: sizeSchema.pipe(z.int().min(KiB).max(64 * MiB)).default(512 * KiB),
});
export type NatsSinkConfig = z.output<typeof natsSinkSchema>;

/** The stream for the subject is missing: nothing can be stored until an operator creates one. */
export class NatsNoStreamError extends Error {
  readonly code = 'SLUICE_SINK_NATS_NO_STREAM';
  constructor(subject: string) {
    super(
      `no JetStream stream takes subject ${JSON.stringify(subject)}: create one, e.g. ` +
        `nats stream add LOGS --subjects "${subject.split('.')[0] ?? subject}.>" --storage file --replicas 3 --dupe-window 24h`,
    );
    this.name = 'NatsNoStreamError';
  }
}

/** A publish that got no acknowledgement. */
export class NatsPublishError extends Error {
  readonly code = 'SLUICE_SINK_NATS_PUBLISH';
  constructor(subject: string, options: { cause: unknown }) {
    const why = options.cause instanceof Error ? options.cause.message : String(options.cause);
    const hint = /jetstream is not enabled/i.test(why) ? ' (no JetStream answer: a cluster without quorum, or JetStream is off)' : '';
    super(`publish to ${JSON.stringify(subject)} not acknowledged: ${why}${hint}`, options);
    this.name = 'NatsPublishError';
  }
}

interface Connected {
  readonly nc: NatsConnection;
  readonly js: import('@nats-io/jetstream').JetStreamClient;
  readonly jsm: import('@nats-io/jetstream').JetStreamManager;
  readonly headers: () => import('@nats-io/transport-node').MsgHdrs;
}

interface Outgoing {
  readonly subject: string;
  readonly chunk: Chunk;
}

export class NatsSink implements Sink {
  private connection: Promise<Connected> | undefined;
  private connected: Connected | undefined;
  private closed = false;
  private duplicates = 0;
  private duplicatesReported = 0;
  private lastDuplicateReport = Number.NEGATIVE_INFINITY;
  /** Subjects whose stream's duplicate window was looked up (or is being). */
  private readonly windowChecked = new Set<string>();
  /** Streams already warned about. */
  private readonly windowWarned = new Set<string>();
  /** The server `max_payload` last warned about (0: none). */
  private payloadWarned = 0;

  constructor(
    private readonly config: NatsSinkConfig,
    private readonly ctx: SinkContext,
  ) {}

  /** Messages the stream already had (`duplicate: true` acks), since start. */
  get duplicateAcks(): number {
    return this.duplicates;
  }

  async write(batches: readonly Envelope[], opts: WriteOptions): Promise<WriteResult> {
    if (batches.every((b) => b.events === 0 || b.lines.length === 0)) return { status: 'delivered' };
    let c: Connected;
    try {
      c = await raced(this.connect(), opts.signal);
    } catch (error) {
      return connectFailed(error, opts.signal);
    }
    const out: Outgoing[] = [];
    const rejections: Rejection[] = [];
    const max = this.messageLimit(c);
    for (const b of batches) {
      if (b.events === 0 || b.lines.length === 0) continue;
      const bytes = encodeRecord(this.config.encoding, b);
      const subject = subjectFor(this.config.subject, b.sourceId);
      for (const chunk of chunksOf(b, bytes, max)) {
        if (!chunk.tooLarge) out.push({ subject, chunk });
        else {
          const first = firstEventIdOf(this.config.encoding, bytes, chunk);
          rejections.push({
            payload: chunk.payload,
            contentType: this.contentType(),
            reason: `one event of ${chunk.payload.length} bytes is above ${this.limitText(max)}`,
            firstEventId: first,
            lastEventId: first,
            events: 1,
          });
        }
      }
    }
    if (out.length > 0) {
      const result = await this.publish(c, out, opts.signal);
      if (result.status !== 'delivered') return result;
    }
    return rejections.length > 0 ? { status: 'rejected', rejections } : { status: 'delivered' };
  }

  async resend(entry: StoredPayload, opts: WriteOptions): Promise<WriteResult> {
    let c: Connected;
    try {
      c = await raced(this.connect(), opts.signal);
    } catch (error) {
      return connectFailed(error, opts.signal);
    }
    const max = this.messageLimit(c);
    if (entry.payload.length > max) {
      return {
        status: 'rejected',
        rejections: [
          {
            payload: entry.payload,
            contentType: entry.contentType,
            reason: `${entry.payload.length} bytes is above ${this.limitText(max)}`,
            firstEventId: entry.firstEventId,
            lastEventId: entry.lastEventId,
            events: entry.lastEventId - entry.firstEventId + 1,
          },
        ],
      };
    }
    // A stored payload is a run of events of one record; its id names that run.
    const subject = this.config.subject.includes('{source}') ? subjectFor(this.config.subject, 'dead_letter') : this.config.subject;
    this.checkWindow(c, subject);
    const h = c.headers();
    h.set('Sluice-Encoding', entry.contentType === 'application/x-ndjson' ? 'json' : 'text');
    try {
      const ack = await raced(c.js.publish(subject, entry.payload, { msgID: `${this.ctx.agentId}:${this.ctx.id}:dl:${entry.firstEventId}-${entry.lastEventId}`, headers: h, timeout: PUBLISH_TIMEOUT_MS }), opts.signal);
      if (ack.duplicate) this.countDuplicates(1);
      return { status: 'delivered' };
    } catch (error) {
      return { status: 'errored', error: await this.explain(c, subject, error), reason: 'nats' };
    }
  }

  reopen(): void {
    // Nothing to reopen: the connection reconnects by itself.
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reportDuplicates(true);
    const c = this.connected;
    this.connected = undefined;
    this.connection = undefined;
    // A connect still under way closes its connection itself when it completes (`closed` is set).
    // Close, not drain: a drain waits for the server, which may be the reason we stop; publishes
    // still unacknowledged belong to groups that were not acked and are replayed with their ids.
    await c?.nc.close().catch(() => undefined);
  }

  /** Publishes every message at once; delivered only when each one is acknowledged. */
  private async publish(c: Connected, out: readonly Outgoing[], signal: AbortSignal): Promise<WriteResult> {
    const encoding = this.config.encoding;
    const acks = out.map(({ subject, chunk }) => {
      if (!this.windowChecked.has(subject)) this.checkWindow(c, subject);
      const h = c.headers();
      h.set('Sluice-Encoding', encoding);
      h.set('Sluice-Source', chunk.batch.sourceId);
      return c.js.publish(subject, chunk.payload, { msgID: messageId(this.ctx.agentId, this.ctx.id, chunk, encoding), headers: h, timeout: PUBLISH_TIMEOUT_MS });
    });
    let settled: PromiseSettledResult<{ duplicate: boolean }>[];
    try {
      settled = await raced(Promise.allSettled(acks), signal);
    } catch (error) {
      return { status: 'errored', error: signal.reason ?? error, reason: 'timeout' };
    }
    let duplicates = 0;
    for (let i = 0; i < settled.length; i++) {
      const s = settled[i] as PromiseSettledResult<{ duplicate: boolean }>;
      if (s.status === 'rejected') {
        const error = await this.explain(c, (out[i] as Outgoing).subject, s.reason);
        return { status: 'errored', error, reason: 'nats', ...(error instanceof NatsNoStreamError ? { alert: true } : {}) };
      }
      if (s.value.duplicate) duplicates++;
    }
    if (duplicates > 0) this.countDuplicates(duplicates);
    return { status: 'delivered' };
  }

  /** A failed publish in words; tells a missing stream apart from a server without quorum. */
  private async explain(c: Connected, subject: string, error: unknown): Promise<Error> {
    const text = error instanceof Error ? `${error.name} ${error.message}` : String(error);
    if (/jetstream is not enabled|no responders|JetStreamNotEnabled/i.test(text)) {
      try {
        await c.jsm.streams.find(subject);
      } catch (e) {
        if (e instanceof Error && /no stream matches subject/i.test(e.message)) return new NatsNoStreamError(subject);
      }
    }
    return new NatsPublishError(subject, { cause: error });
  }

  /**
   * The largest message to publish now: `max_message_bytes`, or less when the server's
   * `max_payload` (read again at each write: a reconnect may reach another server) is smaller.
   */
  private messageLimit(c: Connected): number {
    const configured = this.config.max_message_bytes;
    const serverMax = c.nc.info?.max_payload;
    if (serverMax === undefined || serverMax <= 0) return configured;
    const fits = serverMax > 2 * HEADER_ROOM ? serverMax - HEADER_ROOM : Math.floor(serverMax / 2);
    if (configured <= fits) return configured;
    if (this.payloadWarned !== serverMax) {
      this.payloadWarned = serverMax;
      this.ctx.log.warn(
        `sink ${this.ctx.id}: max_message_bytes (${configured}) does not fit the server's max_payload (${serverMax}): ` +
          `messages are cut to ${fits} bytes (${serverMax - fits} kept for headers) and a single line above that is dead-lettered; ` +
          `lower max_message_bytes or raise the server's max_payload`,
      );
    }
    return fits;
  }

  private limitText(max: number): string {
    return max === this.config.max_message_bytes
      ? `max_message_bytes (${max})`
      : `the server's max_payload less room for headers (${max}; max_message_bytes is ${this.config.max_message_bytes})`;
  }

  /**
   * Once per subject, beside the publish: reads the duplicate window of the stream that takes it and
   * warns once per stream when it is shorter than a replay can reach. A failed lookup is tried again
   * with the next write only when no stream takes the subject yet (that is reported by the publish).
   */
  private checkWindow(c: Connected, subject: string): void {
    this.windowChecked.add(subject);
    void (async (): Promise<void> => {
      let name: string;
      try {
        name = await c.jsm.streams.find(subject);
      } catch (e) {
        if (e instanceof Error && /no stream matches subject/i.test(e.message)) this.windowChecked.delete(subject);
        return;
      }
      if (this.windowWarned.has(name)) return;
      const windowNs = (await c.jsm.streams.info(name)).config.duplicate_window;
      const windowMs = Number(windowNs ?? 0) / 1e6;
      const r = this.ctx.replay ?? DEFAULT_REPLAY;
      const reach = replayReachMs(r);
      if (this.closed || this.windowWarned.has(name) || windowMs >= reach) return;
      this.windowWarned.add(name);
      const suggest = formatDuration(Math.max(SUGGESTED_WINDOW_MS, reach));
      this.ctx.log.warn(
        `sink ${this.ctx.id}: stream ${JSON.stringify(name)} drops a replayed message only within its duplicate_window of ${formatDuration(windowMs)}, ` +
          `shorter than the ${formatDuration(reach)} a replay can reach here (max_backoff ${formatDuration(r.maxBackoffMs)} + request.timeout ${formatDuration(r.timeoutMs)} + ` +
          `cursor_flush_interval ${formatDuration(r.cursorFlushMs)} + ${formatDuration(RESTART_ALLOWANCE_MS)} for a restart): groups replayed later are stored twice; ` +
          `raise it: nats stream edit ${name} --dupe-window ${suggest}`,
        { stream: name, duplicate_window_ms: windowMs, replay_reach_ms: reach },
      );
    })().catch(() => undefined);
  }

  private countDuplicates(n: number): void {
    this.duplicates += n;
    this.reportDuplicates(false);
  }

  /** One info line now and then: how many messages the stream already had (replays it deduplicated). */
  private reportDuplicates(final: boolean): void {
    const fresh = this.duplicates - this.duplicatesReported;
    if (fresh === 0) return;
    const now = this.ctx.clock.now();
    if (!final && now - this.lastDuplicateReport < DUPLICATE_REPORT_MS) return;
    this.lastDuplicateReport = now;
    this.duplicatesReported = this.duplicates;
    this.ctx.log.info(`sink ${this.ctx.id}: ${fresh} message(s) were in the stream already (duplicate acknowledgement: a replay, deduplicated by Nats-Msg-Id); counted as delivered`, {
      duplicates_total: this.duplicates,
    });
  }

  private contentType(): string {
    return this.config.encoding === 'json' ? 'application/x-ndjson' : 'text/plain';
  }

  /** The connection, made on first use; a failed attempt is forgotten so the next write tries again. */
  private connect(): Promise<Connected> {
    if (this.connection !== undefined) return this.connection;
    const p = (async (): Promise<Connected> => {
      const nc = await connectNats(this.config, `sluice ${this.ctx.agentId} sink ${this.ctx.id}`, this.ctx.cwd).catch((e: unknown) => {
        throw explainConnectError(e, this.config.servers);
      });
      const { jetstream, jetstreamManager } = await loadJetStream();
      const { headers } = await import('@nats-io/transport-node');
      void nc.closed().then(() => {
        if (this.connection === p) this.connection = undefined;
        if (this.connected?.nc === nc) this.connected = undefined;
      });
      if (this.closed) {
        await nc.close();
        throw new Error('sink closed');
      }
      const connected = { nc, js: jetstream(nc), jsm: await jetstreamManager(nc, { checkAPI: false }), headers };
      this.connected = connected;
      return connected;
    })();
    this.connection = p;
    p.catch(() => {
      if (this.connection === p) this.connection = undefined;
    });
    return p;
  }
}

/**
 * A message's `Nats-Msg-Id`: `<agent id>:<sink id>:<record id>:<first byte>+<length>:<encoding>`.
 * It names the bytes (a range of the record as encoded), not the chunk's number: a record cut
 * differently on a replay (another `max_message_bytes`, another server `max_payload`, another
 * encoding) gets other ids and is stored again, where a chunk number met again would stand for other
 * bytes and the stream would drop lines it never had.
 */
export const messageId = (agentId: string, sinkId: string, chunk: Chunk, encoding: string): string =>
  `${agentId}:${sinkId}:${chunk.batch.recordId}:${chunk.offset}+${chunk.payload.length}:${encoding}`;

/**
 * A failed connect: errored (a timeout when the attempt's signal cut it short); refused credentials
 * or an untrusted certificate with an alert (they need an operator).
 */
const connectFailed = (error: unknown, signal: AbortSignal): WriteResult =>
  signal.aborted ? { status: 'errored', error: signal.reason ?? error, reason: 'timeout' } : { status: 'errored', error, reason: 'nats', ...(error instanceof NatsConnectError ? { alert: true } : {}) };

/** `p`, or a rejection as soon as `signal` aborts (`p` goes on; its outcome is then ignored). */
const raced = <T>(p: Promise<T>, signal: AbortSignal): Promise<T> => {
  if (signal.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
};

export const createNatsSink = (config: NatsSinkConfig, ctx: SinkContext): Sink => new NatsSink(config, ctx);
