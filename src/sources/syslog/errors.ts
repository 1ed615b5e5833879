/**
 * Errors of the syslog source, each with a stable `code`; the cause is chained. A bad frame or a
 * broken connection is not an error: it is counted (and reported at most every 10 s).
 */

/** The address cannot be listened on (in use, not local, no permission): the source stops. */
export class SyslogListenError extends Error {
  readonly code = 'SLUICE_SOURCE_SYSLOG_LISTEN';
  constructor(sourceId: string, address: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)} cannot listen on ${address}`, options);
    this.name = 'SyslogListenError';
  }
}

/** A TLS certificate, key or CA file cannot be read: the source does not start. */
export class SyslogTlsFileError extends Error {
  readonly code = 'SLUICE_SOURCE_SYSLOG_TLS_FILE';
  constructor(sourceId: string, path: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)}: cannot read TLS file ${path}`, options);
    this.name = 'SyslogTlsFileError';
  }
}

/** `ctx.emit` rejected (the queue is closed or failed): connections are closed and the source stops. */
export class SyslogEmitError extends Error {
  readonly code = 'SLUICE_SOURCE_SYSLOG_EMIT_FAILED';
  constructor(sourceId: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)} stopped: the queue did not accept a batch`, options);
    this.name = 'SyslogEmitError';
  }
}
