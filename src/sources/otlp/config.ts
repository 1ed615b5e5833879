/**
 * The otlp source's configuration, as the user writes it under `sources.<id>` (snake_case keys).
 * Unknown keys are errors. docs/sources.md explains each key.
 */
import { z } from 'zod';
import { sizeSchema } from '../../core/units';
import { authSchema, listenAddressSchema, maxConnectionsSchema, tlsSchema, whenFullSchema } from '../net-config';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The OTLP/HTTP port every SDK sends to by default, on loopback: listening on all interfaces is a choice. */
export const OTLP_DEFAULT_ADDRESS = { host: '127.0.0.1', port: 4318 } as const;

export const otlpSourceSchema = z.strictObject({
  type: z.literal('otlp'),
  /** Where to listen; POST /v1/logs takes protobuf and JSON. */
  address: listenAddressSchema.default(OTLP_DEFAULT_ADDRESS),
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

export type OtlpSourceConfig = z.output<typeof otlpSourceSchema>;
export type OtlpSourceConfigInput = z.input<typeof otlpSourceSchema>;
