/**
 * The nats source's configuration, as the user writes it under `sources.<id>` (snake_case keys).
 * Unknown keys are errors. docs/sources.md explains each key.
 */
import * as z from 'zod';
import { natsConnectionShape } from '../../core/nats';
import { durationSchema, sizeSchema } from '../../core/units';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A stream or consumer name as JetStream accepts it. */
const name = (what: string) =>
  z
    .string()
    .min(1)
    .regex(/^[^\s.*>/\\]+$/, { error: `a ${what} name has no spaces, dots, wildcards or slashes` });

export const natsSourceSchema = z.strictObject({
  type: z.literal('nats'),
  ...natsConnectionShape,
  /** The stream to read. It must exist (the source says so, and retries, when it does not). */
  stream: name('stream'),
  /** The durable pull consumer: created (explicit acks, from the stream's start) when missing; this agent's alone. */
  consumer: name('consumer'),
  /** Only when the source creates the consumer: the subjects it takes (default: all of the stream). */
  filter_subject: z.string().min(1).optional(),
  /** Only when the source creates the consumer: how long the server waits for an ack before delivering again. */
  ack_wait: durationSchema.pipe(z.number().min(1000)).default(30_000),
  /** `auto`: NDJSON events when the message says `Sluice-Encoding: json` (a sluice nats sink), else lines; `text`: always lines; `ndjson`: always events (lines checked). */
  decoding: z.enum(['auto', 'text', 'ndjson']).default('auto'),
  /** One batch into the queue: up to `max_bytes` of messages, lingering up to `timeout` after the first for more (0: no linger). */
  batch: z
    .strictObject({
      max_bytes: sizeSchema.pipe(z.int().min(KiB).max(256 * MiB)).default(4 * MiB),
      timeout: durationSchema.pipe(z.number().min(0).max(60_000)).default(100),
    })
    .default({ max_bytes: 4 * MiB, timeout: 100 }),
});

export type NatsSourceConfig = z.output<typeof natsSourceSchema>;
