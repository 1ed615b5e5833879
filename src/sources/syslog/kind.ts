/** The `syslog` source's registry entry, apart from its implementation so that the registry loads only the schema. */
import { defineSource } from '../../core/component';
import { loadedOnRun } from '../lazy';
import { syslogSourceSchema } from './config';

/** The registry's definition (the implementation is loaded when the source runs, `../lazy.ts`): plain TCP and UDP syslog have no application-level acknowledgement. */
export const syslogSourceKind = defineSource({
  type: 'syslog',
  schema: syslogSourceSchema,
  // The sender's write returned once its kernel took the bytes: what sat in socket buffers when a
  // connection broke or the agent died is lost without anyone knowing (UDP: anything can be lost).
  canAcknowledge: false,
  create: (config, ctx) => loadedOnRun(async () => new (await import('./source.js')).SyslogSource(config, { clock: ctx.clock, fs: ctx.fs, cwd: ctx.cwd })),
});
