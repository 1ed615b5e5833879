/**
 * The http source's configuration, as the user writes it under `sources.<id>` (snake_case keys).
 * Unknown keys are errors. docs/sources.md explains each key.
 */
import { z } from 'zod';
import { sizeSchema } from '../../core/units';
import { authSchema, listenAddressSchema, maxConnectionsSchema, tlsSchema, whenFullSchema } from '../net-config';

export { parseListenAddress, tlsSchema } from '../net-config';
export type { ListenAddress, TlsConfig } from '../net-config';

const KiB = 1024;
const MiB = 1024 * KiB;

export const httpSourceSchema = z.strictObject({
  type: z.literal('http'),
  /** Where to listen. */
  address: listenAddressSchema,
  /** The one path that accepts POSTs; other paths get 404. */
  path: z.string().startsWith('/', 'a path starts with /').default('/'),
  /** How a body becomes events: `ndjson` (one JSON object per line), `json` (an object or an array of objects), `text` (one event per line). */
  decoding: z.enum(['ndjson', 'json', 'text']).default('ndjson'),
  /** Largest body, before and after decompression; 413 above it. */
  max_body_bytes: sizeSchema.pipe(z.int().min(KiB).max(1024 * MiB)).default(10 * MiB),
  /** A full queue: `reject` answers 503 + Retry-After at once; `block` holds the request until there is space. */
  when_full: whenFullSchema,
  /** Connections beyond this many are closed as they arrive (and counted). */
  max_connections: maxConnectionsSchema,
  /** `bearer_token`: requests without `Authorization: Bearer <token>` get 401. */
  auth: authSchema.optional(),
  /** HTTPS. */
  tls: tlsSchema.optional(),
});

export type HttpSourceConfig = z.output<typeof httpSourceSchema>;
export type HttpSourceConfigInput = z.input<typeof httpSourceSchema>;
