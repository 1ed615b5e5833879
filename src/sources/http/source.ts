/**
 * The http source: clients POST batches of events (NDJSON, JSON or text); each request is answered
 * 200 only once its events are durable in the queue. The server machinery — checks in order, body
 * limits, gzip bomb guard, 503 + Retry-After on a full queue, graceful stop — is shared with the
 * otlp source and described in `../http-server.ts`; this file is what is particular to http: the
 * configured path, the Content-Types that fit the decoding, `decode.ts`, and JSON answers
 * (`{"events": n}` on 200, `{"error": reason}` otherwise).
 */
import type { Source, SourceContext, SourceStats } from '../../core/source';
import { IngestServer, type AnswerBody, type IngestDecoded, type IngestMetrics, type IngestProtocol, type IngestServerDeps } from '../http-server';
import type { HttpSourceConfig } from './config';
import { acceptsContentType, ACCEPTED_TYPES, decodeBody, type Decoding } from './decode';

export type HttpSourceMetrics = IngestMetrics;
export type HttpSourceDeps = IngestServerDeps;

const json = (body: Record<string, unknown>): AnswerBody => ({ type: 'application/json', body: `${JSON.stringify(body)}\n` });

class HttpProtocol implements IngestProtocol {
  readonly name = 'http';
  constructor(
    readonly path: string,
    private readonly decoding: Decoding,
  ) {}

  contentTypeProblem(header: string | undefined): string | undefined {
    if (acceptsContentType(this.decoding, header)) return undefined;
    return `Content-Type ${header ?? ''} does not fit decoding ${this.decoding} (send one of: ${ACCEPTED_TYPES[this.decoding].join(', ')})`;
  }

  decode(body: Buffer): IngestDecoded {
    const d = decodeBody(this.decoding, body);
    return d.ok ? { ok: true, lines: d.lines, events: d.events, answer: json({ events: d.events }) } : d;
  }

  error(_req: unknown, _status: number, message: string): AnswerBody {
    return json({ error: message });
  }
}

export class HttpSource implements Source {
  private readonly server: IngestServer;

  constructor(cfg: HttpSourceConfig, deps: HttpSourceDeps) {
    this.server = new IngestServer(
      {
        address: cfg.address,
        maxBodyBytes: cfg.max_body_bytes,
        maxConnections: cfg.max_connections,
        whenFull: cfg.when_full,
        bearerToken: cfg.auth?.bearer_token,
        tls: cfg.tls,
      },
      new HttpProtocol(cfg.path, cfg.decoding),
      deps,
    );
  }

  metrics(): Readonly<HttpSourceMetrics> {
    return this.server.metrics();
  }

  stats(): SourceStats {
    return this.server.stats();
  }

  reload(): Promise<void> {
    return this.server.reload();
  }

  run(ctx: SourceContext): Promise<void> {
    return this.server.run(ctx);
  }
}
