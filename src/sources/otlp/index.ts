/**
 * The otlp source (`type: otlp`): OTLP/HTTP logs (protobuf and JSON on one port, gzip accepted) as
 * structured events, each export answered 200 only once durable. See `source.ts` for the design;
 * docs/sources.md for the user's view.
 */
import { defineSource } from '../../core/component';
import { otlpSourceSchema } from './config';
import { OtlpSource } from './source';

export { otlpSourceSchema, OTLP_DEFAULT_ADDRESS } from './config';
export type { OtlpSourceConfig, OtlpSourceConfigInput } from './config';
export { OtlpSource, OTLP_LOGS_PATH } from './source';
export type { OtlpSourceMetrics, OtlpSourceDeps } from './source';
export { decodeJson, decodeProtobuf, decodeRequest, encodingOf, exportResponse, requestToEvents, rfc3339, statusBody } from './decode';
export type { OtlpDecoded, OtlpEncoding } from './decode';

/** The registry's definition: a 200 is the acknowledgement, sent once the records are durable. */
export const otlpSourceKind = defineSource({
  type: 'otlp',
  schema: otlpSourceSchema,
  // An exporter is told 200 only after the queue made its records durable; anything else it retries.
  canAcknowledge: true,
  create: (config, ctx) => new OtlpSource(config, { clock: ctx.clock, fs: ctx.fs, cwd: ctx.cwd }),
});
