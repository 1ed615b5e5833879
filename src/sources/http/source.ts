/**
 * The http source: clients POST batches of events (NDJSON, JSON or text); each request is answered
 * 200 only once its events are durable in the queue. The server machinery — checks in order, body
 * limits, gzip bomb guard, 503 + Retry-After on a full queue, graceful stop — is shared with the
 * otlp source and described in `../http-server.ts`; this file is what is particular to http: the
 * configured path, the Content-Types that fit the decoding, `decode.ts`, and JSON answers
 * (`{"events": n}` on 200, `{"error": reason}` otherwise).
 *
 * Exactly once from a sluice http sink: a request with a `Sluice-Sender` header goes through
 * `dedup.ts` (each sender's event ids remembered in the same queue record as the events). The
 * shared server calls `ctx.emit` with the lines `decode` returned; this source hands the server a
 * context whose `emit` looks those lines up (by identity) to find who sent them and their ids,
 * appends only the events not taken before, and resolves once all of them are durable. The
 * server's machinery (checks, limits, 503 on a full queue, graceful stop) is unchanged by it.
 */
import type { IncomingMessage } from 'node:http';
import type { SourcePosition } from '../../core/records';
import type { Source, SourceContext, SourceStats } from '../../core/source';
import type { LinePiece } from '../lines';
import { IngestServer, ingestServerOptions, type AnswerBody, type IngestDecoded, type IngestMetrics, type IngestProtocol, type IngestServerDeps } from '../http-server';
import type { HttpSourceConfig } from './config';
import { acceptsContentType, ACCEPTED_TYPES, decodeBody, selectLines, type Decoding } from './decode';
import { Dedup, SENDER_PATTERN, type DedupMetrics, type Identified } from './dedup';

/** The server's counters (`events`: events appended, duplicates not included) and the deduplication's. */
export type HttpSourceMetrics = IngestMetrics & DedupMetrics;
export type HttpSourceDeps = IngestServerDeps;

/**
 * What a deduplicated record carries besides its lines: per event at most one range of ids (two
 * varints), and a margin for its keys, the sender's base (floor + up to `DEFAULT_MAX_RANGES` ranges)
 * and the keys it folds or forgets. A record that still outgrows it is answered 413 (a sluice sink
 * then sends halves).
 */
const DEDUP_OVERHEAD = { fixed: 64 * 1024, perEvent: 16 } as const;

const json = (body: Record<string, unknown>): AnswerBody => ({ type: 'application/json', body: `${JSON.stringify(body)}\n` });

/** A header sent more than once is refused like a malformed one. */
const oneHeader = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? ',' : v);

class HttpProtocol implements IngestProtocol {
  readonly name = 'http';
  /** Decoded bodies (their `lines` buffer) from a sender that identified itself, until emitted. */
  readonly identified = new WeakMap<Buffer, Identified>();

  constructor(
    readonly path: string,
    private readonly decoding: Decoding,
  ) {}

  contentTypeProblem(header: string | undefined): string | undefined {
    if (acceptsContentType(this.decoding, header)) return undefined;
    return `Content-Type ${header ?? ''} does not fit decoding ${this.decoding} (send one of: ${ACCEPTED_TYPES[this.decoding].join(', ')})`;
  }

  decode(body: Buffer, req: IncomingMessage): IngestDecoded {
    const sender = oneHeader(req.headers['sluice-sender']);
    const acked = oneHeader(req.headers['sluice-acked-below']);
    if (sender !== undefined && !SENDER_PATTERN.test(sender)) {
      return { ok: false, reason: 'header Sluice-Sender: expected <agent id>:<sink id> (letters, digits, _ . : -, at most 200)' };
    }
    let ackedBelow: number | undefined;
    if (acked !== undefined) {
      ackedBelow = /^\d{1,16}$/.test(acked) ? Number(acked) : NaN;
      if (!Number.isSafeInteger(ackedBelow)) return { ok: false, reason: 'header Sluice-Acked-Below: expected an event id (a non-negative integer)' };
    }
    // Text lines carry no event ids: a sender's text body is appended as from any client.
    const ids: number[] | undefined = sender !== undefined && this.decoding !== 'text' ? [] : undefined;
    const d = decodeBody(this.decoding, body, ids);
    if (!d.ok) return d;
    const answer = json({ events: d.events });
    if (ids === undefined || sender === undefined || d.events === 0) return { ok: true, lines: d.lines, events: d.events, answer };
    this.identified.set(d.lines, { sender, ackedBelow, ids });
    return { ok: true, lines: d.lines, events: d.events, answer, overhead: DEDUP_OVERHEAD };
  }

  /**
   * A body too large for one record goes as several: each piece is taken on its own (its own
   * reservation, position key and ranges, so each record says exactly which ids it holds). The
   * `Sluice-Acked-Below` of the request is cut to its smallest id first, as `take` would cut it for
   * the whole request, so no piece raises the floor over another piece's ids.
   */
  pieces(lines: Buffer, pieces: readonly LinePiece[]): void {
    const who = this.identified.get(lines);
    if (who === undefined) return;
    let ackedBelow = who.ackedBelow;
    if (ackedBelow !== undefined) for (const id of who.ids) if (id >= 0 && id < ackedBelow) ackedBelow = id;
    for (const p of pieces) this.identified.set(p.lines, { sender: who.sender, ackedBelow, ids: who.ids.slice(p.first, p.first + p.count) });
  }

  error(_req: unknown, _status: number, message: string): AnswerBody {
    return json({ error: message });
  }
}

export class HttpSource implements Source {
  private readonly server: IngestServer;
  private readonly protocol: HttpProtocol;
  private dedup: Dedup | undefined;

  constructor(cfg: HttpSourceConfig, deps: HttpSourceDeps) {
    this.protocol = new HttpProtocol(cfg.path, cfg.decoding);
    this.server = new IngestServer(
      ingestServerOptions(cfg),
      this.protocol,
      deps,
    );
  }

  metrics(): Readonly<HttpSourceMetrics> {
    const m = this.server.metrics();
    const d = this.dedup?.metrics() ?? { deduplicated: 0, dedupSenders: 0, dedupEvicted: 0, dedupTrimmed: 0 };
    // The server counts every event of a request answered 200; duplicates were not appended.
    return { ...m, ...d, events: m.events - d.deduplicated };
  }

  stats(): SourceStats {
    return { ...this.server.stats(), deduplicated: this.dedup?.metrics().deduplicated ?? 0 };
  }

  reload(): Promise<void> {
    return this.server.reload();
  }

  run(ctx: SourceContext): Promise<void> {
    const dedup = new Dedup(ctx.id);
    dedup.restore(ctx.positions);
    this.dedup = dedup;
    const identified = this.protocol.identified;
    const emit: SourceContext['emit'] = (batch, ...rest) => {
      // (Kept while the lines live: a piece given up after others were stored is emitted again.)
      const who = identified.get(batch.lines);
      if (who === undefined) return ctx.emit(batch, ...rest);
      const append = (keep: Uint8Array | null, count: number, positions: readonly SourcePosition[]): Promise<void> =>
        ctx.emit(
          { ...batch, lines: keep === null ? batch.lines : selectLines(batch.lines, keep), events: count, positions: [...(batch.positions ?? []), ...positions] },
          ...rest,
        );
      return dedup.take(who, append).then(() => undefined);
    };
    // The agent's context with `emit` replaced; the rest (methods and getters included) delegated to it.
    const wrapped = Object.create(ctx, { emit: { value: emit, enumerable: true } }) as SourceContext;
    return this.server.run(wrapped).finally(() => {
      const d = dedup.metrics();
      if (d.deduplicated > 0 || d.dedupEvicted > 0 || d.dedupTrimmed > 0) {
        ctx.log.info(`${d.deduplicated} replayed event(s) recognised and not appended again`, {
          source: ctx.id,
          senders: d.dedupSenders,
          senders_forgotten: d.dedupEvicted,
          ranges_forgotten: d.dedupTrimmed,
        });
      }
    });
  }
}
