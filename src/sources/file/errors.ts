/**
 * Errors of the file source. One class per failure kind, each with a stable `code`; the cause is
 * chained. Problems with one file at run time (unreadable, vanished, a directory) are not errors:
 * they are reported once through `ctx.log.warn` and the other files keep flowing. The error every
 * source shares (`SourceEmitError`) is in `../errors.ts`.
 */

/** An include/exclude pattern that cannot be compiled (a user mistake in the config). */
export class GlobPatternError extends Error {
  readonly code = 'SLUICE_SOURCE_GLOB_INVALID';
  constructor(
    readonly pattern: string,
    reason: string,
  ) {
    super(`invalid file pattern ${JSON.stringify(pattern)}: ${reason}`);
    this.name = 'GlobPatternError';
  }
}

/** A stored position value this version cannot decode; the entry is ignored (reported, not fatal). */
export class PositionDecodeError extends Error {
  readonly code = 'SLUICE_SOURCE_POSITION_INVALID';
  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`stored position ${JSON.stringify(key)} cannot be decoded (${reason}); the file it names is treated as unseen`);
    this.name = 'PositionDecodeError';
  }
}

/** Re-exported for `src/index.ts`, which imports the source errors from here; new code imports `../errors`. */
