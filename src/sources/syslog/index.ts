/**
 * The syslog source (`type: syslog`): RFC 5424 / RFC 3164 over TCP (optionally TLS) or UDP, as
 * structured events. See `source.ts` for the design; docs/sources.md for the user's view.
 */

export { syslogSourceSchema, parseListenAddress } from './config';
export type { SyslogSourceConfig, SyslogSourceConfigInput, ListenAddress, TlsConfig } from './config';
export { SyslogSource } from './source';
export type { SyslogSourceMetrics, SyslogSourceDeps } from './source';
export { SyslogFramer, datagramFrames } from './framing';
export type { Framing, FrameKind } from './framing';
export { parseSyslog, FACILITIES, SEVERITIES } from './parse';
export { SyslogEmitError, SyslogListenError, SyslogTlsFileError } from './errors';

export { syslogSourceKind } from './kind';
