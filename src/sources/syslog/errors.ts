/**
 * Errors of the syslog source, each with a stable `code`; the cause is chained. Their shapes (and
 * messages) are the ones every network source shares, in `../errors.ts`. A bad frame or a broken
 * connection is not an error: it is counted (and reported at most every 10 s).
 */
import { SourceEmitError, SourceListenError, SourceTlsFileError } from '../errors';

export class SyslogListenError extends SourceListenError {
  readonly code = 'SLUICE_SOURCE_SYSLOG_LISTEN';
}

export class SyslogTlsFileError extends SourceTlsFileError {
  readonly code = 'SLUICE_SOURCE_SYSLOG_TLS_FILE';
}

/** Connections are closed and the source stops. */
export class SyslogEmitError extends SourceEmitError {
  override readonly code = 'SLUICE_SOURCE_SYSLOG_EMIT_FAILED';
}
