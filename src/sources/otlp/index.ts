/**
 * The otlp source (`type: otlp`): OTLP/HTTP logs (protobuf and JSON on one port, gzip accepted) as
 * structured events, each export answered 200 only once durable. See `source.ts` for the design;
 * docs/sources.md for the user's view.
 */

export { otlpSourceSchema, OTLP_DEFAULT_ADDRESS } from './config';
export type { OtlpSourceConfig, OtlpSourceConfigInput } from './config';
export { OtlpSource, OTLP_LOGS_PATH } from './source';
export type { OtlpSourceMetrics, OtlpSourceDeps } from './source';
export { decodeJson, decodeProtobuf, decodeRequest, encodingOf, exportResponse, requestToEvents, rfc3339, statusBody } from './decode';
export type { OtlpDecoded, OtlpEncoding } from './decode';

export { otlpSourceKind } from './kind';
