/**
 * sluice's in-process logger: pino's API and NDJSON output, a bounded buffer, large writes, and a
 * flush on every exit path. See docs/logger.md for the guarantees and the measured figures.
 */
import { buildLogger, type Logger } from './logger';
import { resolveOptions, type LoggerOptions } from './options';

export { Logger } from './logger';
export type { LogFn, Levels, Bindings, ChildOptions } from './logger';
export type { LoggerOptions, LevelName, LevelSetting, RotateOptions } from './options';
export type { LoggerMetrics } from './writer';
export { LoggerOptionsError, LoggerDestinationError, LoggerWriteError } from './errors';

/** Creates a logger. Throws LoggerOptionsError / LoggerDestinationError for bad options. */
export function createLogger(options?: LoggerOptions): Logger {
  return buildLogger(resolveOptions(options));
}
