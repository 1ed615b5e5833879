/**
 * The `http` sink: POSTs each group to `uri` over keep-alive connections (node:http / node:https)
 * and answers the delivery contract (`src/core/sink.ts`) from the response. Retries, batching,
 * the request timeout and concurrency are the runner's; this file does one attempt per call.
 *
 *   2xx                               delivered
 *   network error, timeout, 408, 429,
 *   5xx except 501                    errored (retried forever; `Retry-After` seconds or HTTP date)
 *   401, 403, 404                     errored with an alert: retried (credentials rotate, a proxy
 *                                     is being deployed) and reported as an error every time
 *   1xx, 3xx                          errored with an alert (redirects are not followed)
 *   413                               the group is cut in halves, each sent on its own (recursively);
 *                                     only a single event still too large is rejected
 *   400, 422, 501, other 4xx          rejected: dead-lettered with the first KiB of the response
 *
 * Every request carries `Idempotency-Key: <agent id>:<sink id>:<first event id>-<last event id>`
 * (deterministic: a retry or a replay after kill -9 sends the same key for the same events, also
 * after a 413 split, which always cuts at the same place), and with `encoding: json` each NDJSON
 * object carries its `event_id`. A receiver that deduplicates by either gets every event once.
 *
 * After a 413 split, a half that was delivered is sent again when the other half errors (the whole
 * group is retried): at-least-once, with the same idempotency key.
 *
 * With `encoding: json` every request also names its sender, `Sluice-Sender: <agent id>:<sink id>`,
 * and `Sluice-Acked-Below` (`acked-below.ts`): a sluice http source uses them with the `event_id`s
 * to take each event exactly once (`src/sources/http/dedup.ts`). Dead-letter replays carry neither
 * (they are appended as sent: at least once).
 */
import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import * as z from 'zod';
import { sinkSchema } from '../../core/component';
import type { Envelope } from '../../core/envelope';
import type { Rejection, RetryReason, Sink, SinkContext, StoredPayload, WriteOptions, WriteResult } from '../../core/sink';
import { AckedBelow } from './acked-below';
import { contentTypeOf, encodeParts, eventCount, idRange, partsOf, splitParts, type Part } from './encode';

const gzip = promisify(gzipCb);

/** `${NAME}` in a header value is the environment variable NAME (a missing one is a config error). */
const headerValue = z.string().transform((v, ctx) =>
  v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
    const value = process.env[name];
    if (value === undefined) {
      ctx.addIssue({ code: 'custom', message: `environment variable ${name} is not set` });
      return '';
    }
    return value;
  }),
);

export const httpSinkSchema = sinkSchema('http', {
  uri: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  compression: z.enum(['none', 'gzip']).default('none'),
  headers: z.record(z.string(), headerValue).default({}),
});
export type HttpSinkConfig = z.output<typeof httpSinkSchema>;

// node:http and node:https (with tls) are loaded when an http sink is made, not when the program
// starts: most configs have none, and they were ~5 ms of every start (docs/agent.md, "Start-up").
const http = (): typeof Http => process.getBuiltinModule('node:http');
const https = (): typeof Https => process.getBuiltinModule('node:https');

export class HttpStatusError extends Error {
  readonly code = 'SLUICE_SINK_HTTP_STATUS';
  constructor(
    readonly status: number,
    readonly response: string,
  ) {
    super(`HTTP ${status} ${http().STATUS_CODES[status] ?? ''}`.trim() + (response ? `: ${oneLine(response).slice(0, 200)}` : ''));
    this.name = 'HttpStatusError';
  }
}

interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  /** The first KiB of the body. */
  readonly head: string;
}

const RESPONSE_KEEP = 1024;

export class HttpSink implements Sink {
  private readonly agent: Http.Agent;
  private readonly mod: typeof Http | typeof Https;
  private readonly url: URL;
  private readonly contentType: string;
  /** Only with `encoding: json` (text bodies carry no event ids). */
  private readonly acked: AckedBelow | undefined;
  private readonly sender: string;

  constructor(
    private readonly config: HttpSinkConfig,
    private readonly ctx: SinkContext,
  ) {
    this.url = new URL(config.uri);
    const options = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: (config.request?.concurrency ?? 1) + 1 };
    this.mod = this.url.protocol === 'https:' ? https() : http();
    this.agent = new this.mod.Agent(options);
    this.contentType = contentTypeOf(config.encoding);
    this.acked = config.encoding === 'json' ? new AckedBelow() : undefined;
    this.sender = `${ctx.agentId}:${ctx.id}`;
  }

  async write(batches: readonly Envelope[], opts: WriteOptions): Promise<WriteResult> {
    const parts = partsOf(batches);
    if (parts.length === 0) return { status: 'delivered' };
    const acked = this.acked;
    if (acked === undefined) return this.send(parts, opts.signal, false);
    const { first, last } = idRange(parts);
    const late = acked.begin(first, last);
    let result: WriteResult = { status: 'errored', error: new Error('write did not finish') };
    try {
      result = await this.send(parts, opts.signal, !late);
      return result;
    } finally {
      acked.end(first, result.status !== 'errored');
    }
  }

  async resend(entry: StoredPayload, opts: WriteOptions): Promise<WriteResult> {
    let answer: Answer;
    try {
      answer = await this.post([entry.payload], entry.contentType, this.key(entry.firstEventId, entry.lastEventId), opts.signal, false);
    } catch (error) {
      return failed(error, opts.signal);
    }
    const verdict = this.judge(answer);
    // A stored payload is sent whole: a 413 now is a rejection again (the entry stays).
    if (verdict === 'rejected' || verdict === 'too-large') return this.reject(answer, entry.payload, entry.contentType, entry.firstEventId, entry.lastEventId, NaN);
    return verdict;
  }

  reopen(): void {
    // Nothing to reopen: connections are made as needed.
  }

  close(): Promise<void> {
    this.agent.destroy();
    return Promise.resolve();
  }

  /** One request for `parts`; after a 413, each half on its own. */
  private async send(parts: readonly Part[], signal: AbortSignal, identify: boolean): Promise<WriteResult> {
    const body = encodeParts(this.config.encoding, parts);
    const { first, last } = idRange(parts);
    let answer: Answer;
    try {
      answer = await this.post(body, this.contentType, this.key(first, last), signal, identify);
    } catch (error) {
      return failed(error, signal);
    }
    const verdict = this.judge(answer);
    if (verdict === 'rejected') return this.reject(answer, Buffer.concat(body), this.contentType, first, last, eventCount(parts));
    if (verdict !== 'too-large') return verdict;
    const events = eventCount(parts);
    if (events <= 1) return this.reject(answer, Buffer.concat(body), this.contentType, first, last, events);
    const [left, right] = splitParts(parts);
    const a = await this.send(left, signal, identify);
    if (a.status === 'errored') return a;
    const b = await this.send(right, signal, identify);
    if (b.status === 'errored') return b;
    const rejections = [...(a.status === 'rejected' ? a.rejections : []), ...(b.status === 'rejected' ? b.rejections : [])];
    return rejections.length > 0 ? { status: 'rejected', rejections } : { status: 'delivered' };
  }

  /** What a response means (see the table at the top). */
  private judge(a: Answer): WriteResult | 'too-large' | 'rejected' {
    const s = a.status;
    if (s >= 200 && s < 300) return { status: 'delivered' };
    if (s === 413) return 'too-large';
    const error = new HttpStatusError(s, a.head);
    if (s === 408 || s === 429 || (s >= 500 && s !== 501)) {
      const reason: RetryReason = s === 408 ? 'timeout' : s === 429 ? 'http_429' : 'http_5xx';
      const retryAfterMs = parseRetryAfter(a.retryAfter, this.ctx.clock.wall());
      return retryAfterMs === undefined ? { status: 'errored', error, reason } : { status: 'errored', error, retryAfterMs, reason };
    }
    if (s === 401 || s === 403 || s === 404) return { status: 'errored', error, alert: true, reason: 'http_4xx' };
    if (s < 200 || (s >= 300 && s < 400)) return { status: 'errored', error, alert: true, reason: 'other' };
    return 'rejected';
  }

  private reject(a: Answer, payload: Buffer, contentType: string, first: number, last: number, events: number): WriteResult {
    const r: Rejection = {
      payload,
      contentType,
      reason: `HTTP ${a.status} ${http().STATUS_CODES[a.status] ?? ''}`.trim(),
      status: a.status,
      response: a.head,
      firstEventId: first,
      lastEventId: last,
      events: Number.isNaN(events) ? last - first + 1 : events,
    };
    return { status: 'rejected', rejections: [r] };
  }

  private key(first: number, last: number): string {
    return `${this.ctx.agentId}:${this.ctx.id}:${first}-${last}`;
  }

  /** With `identify`, the request names its sender and how far it was acked (exactly once into a sluice http source). */
  private async post(body: readonly Buffer[], contentType: string, key: string, signal: AbortSignal, identify: boolean): Promise<Answer> {
    let chunks = body;
    const headers: Record<string, string> = { ...this.config.headers, 'content-type': contentType, 'idempotency-key': key };
    if (identify) {
      headers['sluice-sender'] = this.sender;
      const w = this.acked?.current();
      if (w !== undefined) headers['sluice-acked-below'] = String(w);
    }
    if (this.config.compression === 'gzip') {
      chunks = [await gzip(body.length === 1 ? (body[0] as Buffer) : Buffer.concat(body))];
      headers['content-encoding'] = 'gzip';
    }
    let length = 0;
    for (const c of chunks) length += c.length;
    headers['content-length'] = String(length);
    return new Promise<Answer>((resolve, reject) => {
      const req = this.mod.request(this.url, { method: 'POST', agent: this.agent, headers, signal }, (res) => {
        const kept: Buffer[] = [];
        let keptBytes = 0;
        res.on('data', (c: Buffer) => {
          // Read the whole body (the connection is reused), keep its first KiB.
          if (keptBytes < RESPONSE_KEEP) {
            kept.push(c.subarray(0, RESPONSE_KEEP - keptBytes));
            keptBytes += Math.min(c.length, RESPONSE_KEEP - keptBytes);
          }
        });
        res.on('end', () => {
          const ra: string | undefined = res.headers['retry-after'];
          resolve({ status: res.statusCode ?? 0, retryAfter: ra, head: Buffer.concat(kept).toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      for (const c of chunks) req.write(c);
      req.end();
    });
  }
}

/** `Retry-After` as milliseconds from now: delay-seconds or an HTTP date; `undefined` when absent or unreadable. */
export const parseRetryAfter = (value: string | undefined, nowWallMs: number): number | undefined => {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowWallMs);
};

/** A request that got no answer: cut off by its timeout (the signal), or a network error. */
const failed = (error: unknown, signal: AbortSignal): WriteResult =>
  signal.aborted ? { status: 'errored', error: signal.reason ?? error, reason: 'timeout' } : { status: 'errored', error, reason: 'network' };

const oneLine = (s: string): string => s.replace(/\s+/g, ' ').trim();

export const createHttpSink = (config: HttpSinkConfig, ctx: SinkContext): Sink => new HttpSink(config, ctx);
