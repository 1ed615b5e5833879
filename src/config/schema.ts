/**
 * The agent's config file, top level. Sources and sinks are validated in a second step, each by the
 * schema its `type` names (see `./load.ts`), so that an unknown type gets its own clear message.
 *
 * Every object is strict: an unknown key is an error, never silently ignored.
 */
import * as z from 'zod';
import { durationSchema, sizeSchema } from '../core/units';

/** Ids become file names (cursor files) and position-key prefixes: keep them plain. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
export const ID_HINT = 'letters, digits, _ . - (at most 64, starting with a letter or digit)';

const componentEntry = z.looseObject({ type: z.string() });
/** `sources:` / `sinks:`: a mapping of id → entry with a `type`; the entry is checked by its type. */
export const componentsSchema = z.record(z.string(), componentEntry);

export const topLevelSchema = z.strictObject({
  /** The queue and its cursors live in `<data_dir>/queue`. */
  data_dir: z.string().min(1),
  queue: z
    .strictObject({
      max_bytes: sizeSchema.optional(),
      segment_bytes: sizeSchema.optional(),
      fsync: z.enum(['always', 'interval', 'never']).default('always'),
      fsync_interval_ms: z.number().int().positive().optional(),
      /** How often sink cursors are persisted (bounds the duplicates replayed after a crash). */
      cursor_flush_interval: durationSchema.optional(),
    })
    .optional(),
  /** How long a graceful stop may spend draining sinks (default 10s). */
  shutdown_timeout: durationSchema.optional(),
  /** Optional HTTP endpoint: `/metrics` (Prometheus text) and `/health`. */
  api: z.strictObject({ address: z.string().regex(/^[^:]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9598') }).optional(),
  sources: componentsSchema,
  sinks: componentsSchema,
});
export type TopLevelConfig = z.output<typeof topLevelSchema>;

export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
/** The queue's bound on disk, and its largest segment file. */
export const DEFAULT_MAX_BYTES = 1024 ** 3;
export const DEFAULT_SEGMENT_BYTES = 64 * 1024 ** 2;
export const DEFAULT_FSYNC_INTERVAL_MS = 1000;
