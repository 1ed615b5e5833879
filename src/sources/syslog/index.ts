/**
 * The syslog source (`type: syslog`): RFC 5424 / RFC 3164 over TCP (optionally TLS) or UDP, as
 * structured events. See `source.ts` for the design; docs/sources.md for the user's view.
 */
import { defineSource } from '../../core/component';
import { syslogSourceSchema } from './config';
import { SyslogSource } from './source';

export { syslogSourceSchema, parseListenAddress } from './config';
export type { SyslogSourceConfig, SyslogSourceConfigInput, ListenAddress, TlsConfig } from './config';
export { SyslogSource } from './source';
export type { SyslogSourceMetrics, SyslogSourceDeps } from './source';
export { SyslogFramer, datagramFrames } from './framing';
export type { Framing, FrameKind } from './framing';
export { parseSyslog, FACILITIES, SEVERITIES } from './parse';
export { SyslogEmitError, SyslogListenError, SyslogTlsFileError } from './errors';

/** The registry's definition: plain TCP and UDP syslog have no application-level acknowledgement. */
export const syslogSourceKind = defineSource({
  type: 'syslog',
  schema: syslogSourceSchema,
  // The sender's write returned once its kernel took the bytes: what sat in socket buffers when a
  // connection broke or the agent died is lost without anyone knowing (UDP: anything can be lost).
  canAcknowledge: false,
  create: (config, ctx) => new SyslogSource(config, { clock: ctx.clock, fs: ctx.fs, cwd: ctx.cwd }),
});
