/**
 * Errors every source may raise. One class per failure kind, each with a stable `code`; the cause
 * is chained. Errors of one source type live beside it (`file/errors.ts`, `stdin/source.ts`).
 * Problems with one input at run time (an unreadable file, a vanished one) are not errors: they are
 * reported once through `ctx.log.warn` and the rest keeps flowing.
 */

/** `ctx.emit` rejected (the queue is closed or failed): the source stops; positions did not advance. */
export class SourceEmitError extends Error {
  readonly code = 'SLUICE_SOURCE_EMIT_FAILED';
  constructor(sourceId: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)} stopped: the queue did not accept a batch`, options);
    this.name = 'SourceEmitError';
  }
}

// The request-driven sources (http, otlp) share one server (`http-server.ts`) and these errors.

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
