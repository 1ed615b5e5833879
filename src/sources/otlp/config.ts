/**
 * The otlp source's configuration, as the user writes it under `sources.<id>` (snake_case keys).
 * Unknown keys are errors. docs/sources.md explains each key.
 */
import * as z from 'zod';
import { ingestServerKeys, listenAddressSchema } from '../net-config';

/** The OTLP/HTTP port every SDK sends to by default, on loopback: listening on all interfaces is a choice. */
export const OTLP_DEFAULT_ADDRESS = { host: '127.0.0.1', port: 4318 } as const;

export const otlpSourceSchema = z.strictObject({
  type: z.literal('otlp'),
  /** Where to listen; POST /v1/logs takes protobuf and JSON. */
  address: listenAddressSchema.default(OTLP_DEFAULT_ADDRESS),
  ...ingestServerKeys,
});

export type OtlpSourceConfig = z.output<typeof otlpSourceSchema>;
export type OtlpSourceConfigInput = z.input<typeof otlpSourceSchema>;
