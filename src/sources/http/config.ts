/**
 * The http source's configuration, as the user writes it under `sources.<id>` (snake_case keys).
 * Unknown keys are errors. docs/sources.md explains each key.
 */
import * as z from 'zod';
import { ingestServerKeys, listenAddressSchema } from '../net-config';

export { parseListenAddress, tlsSchema } from '../net-config';
export type { ListenAddress, TlsConfig } from '../net-config';

export const httpSourceSchema = z.strictObject({
  type: z.literal('http'),
  /** Where to listen. */
  address: listenAddressSchema,
  /** The one path that accepts POSTs; other paths get 404. */
  path: z.string().startsWith('/', 'a path starts with /').default('/'),
  /** How a body becomes events: `ndjson` (one JSON object per line), `json` (an object or an array of objects), `text` (one event per line). */
  decoding: z.enum(['ndjson', 'json', 'text']).default('ndjson'),
  ...ingestServerKeys,
});

export type HttpSourceConfig = z.output<typeof httpSourceSchema>;
export type HttpSourceConfigInput = z.input<typeof httpSourceSchema>;
