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
