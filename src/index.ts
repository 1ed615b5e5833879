/**
 * The public surface of the `sluice` package: everything users may import, listed by name.
 * Nothing else under src/ is reachable through the package's `exports`.
 */

// --- the write-ahead queue ---
export type {
  RecordId,
  FsyncPolicy,
  SourcePosition,
  AppendOptions,
  AppendResult,
  QueueRecord,
  RecoveryReport,
  QueueMetrics,
  Consumer,
  QueueOptions,
  Queue,
} from './queue/types';
export { openQueue, nodeFileSystem, systemClock } from './queue/index';
export { QueueClosedError, QueueIoError, QueueLockedError, QueueUsageError, RecordTooLargeError } from './queue/index';
export type { Clock, FileSystem } from './queue/index';

// --- the logger ---
export { createLogger, Logger, LoggerOptionsError, LoggerDestinationError, LoggerWriteError } from './logger';
export type {
  LoggerOptions,
  LoggerMetrics,
  LevelName,
  LevelSetting,
  RotateOptions,
  LogFn,
  Levels,
  Bindings,
  ChildOptions,
} from './logger';

// --- the sources ---
export type { Source, SourceBatch, SourceContext, Diagnostics } from './sources/types';
export { GlobPatternError, PositionDecodeError, SourceEmitError } from './sources/file/errors';
export { StdinReadError } from './sources/stdin/source';

// --- the agent ---
