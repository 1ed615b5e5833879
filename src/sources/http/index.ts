/**
 * The http source (`type: http`): POSTed NDJSON, JSON or text bodies as structured events, each
 * request answered 200 only once durable. See `source.ts` for the design; docs/sources.md for the
 * user's view.
 */

export { httpSourceSchema, parseListenAddress } from './config';
export type { HttpSourceConfig, HttpSourceConfigInput, ListenAddress, TlsConfig } from './config';
export { HttpSource } from './source';
export type { HttpSourceMetrics, HttpSourceDeps } from './source';
export { decodeBody, decodeNdjson, decodeJson, decodeText, acceptsContentType, ACCEPTED_TYPES } from './decode';
export type { Decoded, Decoding } from './decode';
export { HttpEmitError, HttpListenError, HttpTlsFileError } from './errors';

export { httpSourceKind } from './kind';
