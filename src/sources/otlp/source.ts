/**
 * The otlp source: OpenTelemetry SDKs and collectors export logs over OTLP/HTTP (`POST /v1/logs`,
 * protobuf or JSON, gzip accepted) and each export is answered 200 only once its records are durable
 * in the queue. The server machinery — order of checks, body limits, gzip bomb guard, 503 +
 * `Retry-After: 1` on a full queue (the SDK retries), graceful stop — is shared with the http source
 * (`../http-server.ts`). What is particular to OTLP: the path, the two Content-Types, `decode.ts`, and
 * answers in the request's encoding — an `ExportLogsServiceResponse` (with `partialSuccess` when some
 * records were refused) on 200, a `google.rpc.Status` with the reason otherwise.
 */
import type { IncomingMessage } from 'node:http';
import type { Source, SourceContext, SourceStats } from '../../core/source';
import { IngestServer, ingestServerOptions, type AnswerBody, type IngestDecoded, type IngestMetrics, type IngestProtocol, type IngestServerDeps } from '../http-server';
import type { OtlpSourceConfig } from './config';
import { decodeRequest, encodingOf, exportResponse, MEDIA_TYPE, statusBody } from './decode';

export const OTLP_LOGS_PATH = '/v1/logs';
/** Refused records are warned about on stderr at most this often (the counter is always exact). */
const WARN_EVERY_MS = 10_000;

export interface OtlpSourceMetrics extends IngestMetrics {
  /** Log records refused alone (reported in a 200's `partialSuccess`). */
  rejectedRecords: number;
}

export type OtlpSourceDeps = IngestServerDeps;

class OtlpProtocol implements IngestProtocol {
  readonly name = 'otlp';
  readonly path = OTLP_LOGS_PATH;
  rejectedRecords = 0;
  /** Called after records were refused, with why the first of this export was. */
  onRejected: (problem: string) => void = () => undefined;

  contentTypeProblem(header: string | undefined): string | undefined {
    return encodingOf(header) === undefined ? `Content-Type ${header ?? '(none)'} is not OTLP: send application/x-protobuf or application/json` : undefined;
  }

  decode(body: Buffer, req: IncomingMessage): IngestDecoded {
    // contentTypeProblem let only the two encodings through
    const encoding = encodingOf(req.headers['content-type']) ?? 'json';
    const d = decodeRequest(encoding, body);
    if (!d.ok) return d;
    if (d.rejected > 0) {
      this.rejectedRecords += d.rejected;
      this.onRejected(d.firstProblem ?? 'unknown');
    }
    return { ok: true, lines: d.lines, events: d.events, answer: { type: MEDIA_TYPE[encoding], body: exportResponse(encoding, d.rejected, d.firstProblem) } };
  }

  error(req: IncomingMessage, status: number, message: string): AnswerBody {
    const encoding = encodingOf(req.headers['content-type']) ?? 'json';
    return { type: MEDIA_TYPE[encoding], body: statusBody(encoding, status, message) };
  }
}

export class OtlpSource implements Source {
  private readonly protocol = new OtlpProtocol();
  private readonly server: IngestServer;
  private warnedAt = -Infinity;
  private warnedTotal = 0;

  constructor(
    cfg: OtlpSourceConfig,
    private readonly deps: OtlpSourceDeps,
  ) {
    this.server = new IngestServer(
      ingestServerOptions(cfg),
      this.protocol,
      deps,
    );
  }

  metrics(): Readonly<OtlpSourceMetrics> {
    return { ...this.server.metrics(), rejectedRecords: this.protocol.rejectedRecords };
  }

  stats(): SourceStats {
    return { ...this.server.stats(), parseFailures: this.protocol.rejectedRecords };
  }

  reload(): Promise<void> {
    return this.server.reload();
  }

  run(ctx: SourceContext): Promise<void> {
    this.protocol.onRejected = (problem) => {
      const now = this.deps.clock.now();
      if (now - this.warnedAt < WARN_EVERY_MS) return;
      this.warnedAt = now;
      const since = this.protocol.rejectedRecords - this.warnedTotal;
      this.warnedTotal = this.protocol.rejectedRecords;
      ctx.log.warn(`otlp log records refused: ${since} since the last report; each export was answered with partialSuccess and its other records kept`, {
        source: ctx.id,
        rejectedRecordsTotal: this.protocol.rejectedRecords,
        latest: problem,
      });
    };
    return this.server.run(ctx);
  }
}
