/**
 * Errors every source may raise. One class per failure kind, each with a stable `code`; the cause
 * is chained. Errors of one source type live beside it (`file/errors.ts`, `syslog/errors.ts`).
 * Problems with one input at run time (an unreadable file, a vanished one) are not errors: they are
 * reported once through `ctx.log.warn` and the rest keeps flowing.
 *
 * The network sources fail in the same three ways (cannot listen, cannot read a TLS file, the queue
 * refused a batch), so each way is one shape here — constructor and message written once — and
 * each source type has its own class of that shape with its own stable code
 * (`SLUICE_SOURCE_<TYPE>_LISTEN`, …), so a user searching for the code finds the source.
 */

/** `ctx.emit` rejected (the queue is closed or failed): the source stops; positions did not advance. */
export class SourceEmitError extends Error {
  readonly code: string = 'SLUICE_SOURCE_EMIT_FAILED';
  constructor(sourceId: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)} stopped: the queue did not accept a batch`, options);
    this.name = new.target.name;
  }
}

/** The address cannot be listened on (in use, not local, no permission): the source stops. */
export abstract class SourceListenError extends Error {
  abstract readonly code: string;
  constructor(sourceId: string, address: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)} cannot listen on ${address}`, options);
    this.name = new.target.name;
  }
}

/** A TLS certificate, key or CA file cannot be read: the source does not start. */
export abstract class SourceTlsFileError extends Error {
  abstract readonly code: string;
  constructor(sourceId: string, path: string, options: { cause: unknown }) {
    super(`source ${JSON.stringify(sourceId)}: cannot read TLS file ${path}`, options);
    this.name = new.target.name;
  }
}

// The request-driven sources (http, otlp) share one server (`http-server.ts`) and these errors.

export class HttpListenError extends SourceListenError {
  readonly code = 'SLUICE_SOURCE_HTTP_LISTEN';
}

export class HttpTlsFileError extends SourceTlsFileError {
  readonly code = 'SLUICE_SOURCE_HTTP_TLS_FILE';
}

/** The request got 500 and the source stops. */
export class HttpEmitError extends SourceEmitError {
  override readonly code = 'SLUICE_SOURCE_HTTP_EMIT_FAILED';
}
