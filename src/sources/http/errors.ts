/**
 * Errors of the http source, each with a stable `code`; the cause is chained. A bad request is not
 * an error of the source: it is answered (400, 401, 413, 415 …) and counted.
 */

/** The address cannot be listened on (in use, not local, no permission): the source stops. */
export class HttpListenError extends Error {
  readonly code = 'SLUICE_SOURCE_HTTP_LISTEN';
  constructor(sourceId: string, address: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)} cannot listen on ${address}`, options);
    this.name = 'HttpListenError';
  }
}

/** A TLS certificate, key or CA file cannot be read: the source does not start. */
export class HttpTlsFileError extends Error {
  readonly code = 'SLUICE_SOURCE_HTTP_TLS_FILE';
  constructor(sourceId: string, path: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)}: cannot read TLS file ${path}`, options);
    this.name = 'HttpTlsFileError';
  }
}

/** `ctx.emit` rejected (the queue is closed or failed): the request got 500 and the source stops. */
export class HttpEmitError extends Error {
  readonly code = 'SLUICE_SOURCE_HTTP_EMIT_FAILED';
  constructor(sourceId: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)} stopped: the queue did not accept a batch`, options);
    this.name = 'HttpEmitError';
  }
}
