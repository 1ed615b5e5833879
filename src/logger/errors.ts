/**
 * The logger's failure kinds, one class each, with a stable `code`.
 *
 * - `SLUICE_LOGGER_OPTIONS`: a createLogger() option (or a level name) is wrong. A user mistake:
 *   the message names the option and the fix, in one line.
 * - `SLUICE_LOGGER_DESTINATION`: the destination could not be opened (a missing directory we could
 *   not create, a permission problem). Thrown by createLogger(), `cause` is the system error.
 * - `SLUICE_LOGGER_WRITE`: writing to an open destination failed (ENOSPC, EPIPE, EBADF...). Never
 *   thrown into the application: reported through the `'error'` event / `onError`, counted in
 *   `metrics().errors`, and used to reject a pending `flush()`.
 */

export class LoggerOptionsError extends Error {
  readonly code = 'SLUICE_LOGGER_OPTIONS' as const;
  constructor(message: string) {
    super(message);
    this.name = 'LoggerOptionsError';
  }
}

export class LoggerDestinationError extends Error {
  readonly code = 'SLUICE_LOGGER_DESTINATION' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LoggerDestinationError';
  }
}

export class LoggerWriteError extends Error {
  readonly code = 'SLUICE_LOGGER_WRITE' as const;
  /** The system error code of the failed write (e.g. `ENOSPC`, `EPIPE`), when there is one. */
  readonly syscallCode: string | undefined;
  constructor(message: string, options: { cause: unknown; syscallCode: string | undefined }) {
    super(message, { cause: options.cause });
    this.name = 'LoggerWriteError';
    this.syscallCode = options.syscallCode;
  }
}
