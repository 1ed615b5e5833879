/**
 * The nats source (`type: nats`): a durable JetStream pull consumer into the queue, exactly once
 * across kill -9 (the stream sequences ride in the queue records). See `source.ts` for the design;
 * docs/sources.md for the user's view.
 */
import { defineSource } from '../../core/component';
import { natsSourceSchema } from './config';
import { NatsSource } from './source';

export { natsSourceSchema } from './config';
export type { NatsSourceConfig } from './config';
export { NatsSource, NatsSourceError } from './source';
export { encodeSeqs, decodeSeqs, SeqSetDecodeError } from './position';

/** The registry's definition: a message is acked to JetStream only once its batch is durable. */
export const natsSourceKind = defineSource({
  type: 'nats',
  schema: natsSourceSchema,
  canAcknowledge: true,
  create: (config, ctx) => new NatsSource(config, { cwd: ctx.cwd, agentId: ctx.agentId, clock: ctx.clock }),
});
