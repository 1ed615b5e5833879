/**
 * The http source (`type: http`): POSTed NDJSON, JSON or text bodies as structured events, each
 * request answered 200 only once durable. See `source.ts` for the design; docs/sources.md for the
 * user's view.
 */
import { defineSource } from '../../core/component';
import { httpSourceSchema } from './config';
import { HttpSource } from './source';

export { httpSourceSchema, parseListenAddress } from './config';
export type { HttpSourceConfig, HttpSourceConfigInput, ListenAddress, TlsConfig } from './config';
export { HttpSource } from './source';
export type { HttpSourceMetrics, HttpSourceDeps } from './source';
export { decodeBody, decodeNdjson, decodeJson, decodeText, acceptsContentType, ACCEPTED_TYPES } from './decode';
export type { Decoded, Decoding } from './decode';
export { HttpEmitError, HttpListenError, HttpTlsFileError } from './errors';

/** The registry's definition: a 200 is the acknowledgement, sent once the events are durable. */
export const httpSourceKind = defineSource({
  type: 'http',
  schema: httpSourceSchema,
  // A client is told 200 only after the queue made its events durable; anything else it can retry.
  canAcknowledge: true,
  create: (config, ctx) => new HttpSource(config, { clock: ctx.clock, fs: ctx.fs, cwd: ctx.cwd }),
});
