/** The `otlp` source's registry entry, apart from its implementation so that the registry loads only the schema. */
import { defineSource } from '../../core/component';
import { loadedOnRun } from '../lazy';
import { ingestEventBound } from '../net-config';
import { otlpSourceSchema } from './config';

/** The registry's definition (the implementation is loaded when the source runs, `../lazy.ts`): a 200 is the acknowledgement, sent once the records are durable. */
export const otlpSourceKind = defineSource({
  type: 'otlp',
  schema: otlpSourceSchema,
  // An exporter is told 200 only after the queue made its records durable; anything else it retries.
  canAcknowledge: true,
  io: (config) => ({ event: ingestEventBound(config) }),
  create: (config, ctx) => loadedOnRun(async () => new (await import('./source.js')).OtlpSource(config, { clock: ctx.clock, fs: ctx.fs, cwd: ctx.cwd })),
});
