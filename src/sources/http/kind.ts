/** The `http` source's registry entry, apart from its implementation so that the registry loads only the schema. */
import { defineSource } from '../../core/component';
import { loadedOnRun } from '../lazy';
import { ingestEventBound } from '../net-config';
import { httpSourceSchema } from './config';

/** The registry's definition (the implementation is loaded when the source runs, `../lazy.ts`): a 200 is the acknowledgement, sent once the events are durable. */
export const httpSourceKind = defineSource({
  type: 'http',
  schema: httpSourceSchema,
  // A client is told 200 only after the queue made its events durable; anything else it can retry.
  canAcknowledge: true,
  io: (config) => ({ event: ingestEventBound(config) }),
  create: (config, ctx) => loadedOnRun(async () => new (await import('./source.js')).HttpSource(config, { clock: ctx.clock, fs: ctx.fs, cwd: ctx.cwd })),
});
