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
export type { Source, SourceBatch, SourceContext, Diagnostics } from './core/source';
export { GlobPatternError, PositionDecodeError } from './sources/file/errors';
export { SourceEmitError } from './sources/errors';
export { StdinReadError } from './sources/stdin/source';

// --- the agent ---
export { Agent, EXIT } from './pipeline/agent';
export type { AgentOptions, AgentConfigT as AgentConfig } from './pipeline/agent';
export { runCli, EXIT_CODES } from './cli/cli';
export { agentRegistry } from './cli/registry';
export { parseConfig, loadConfigFile } from './config/load';
export type { ResolvedSource, ResolvedSink } from './config/load';
export type { Registry, ComponentContext, SourceKind, SinkKind } from './core/component';
export { defineSource, defineSink, sinkBaseSchema } from './core/component';
export { EventChannel } from './core/events';
export type { AgentEvent, QueueEvent } from './core/events';
export { ConfigError, ConfigReadError } from './config/errors';
export type { ConfigProblem } from './config/errors';
export { encodeEnvelope, decodeEnvelope, EnvelopeError, ENVELOPE_VERSION } from './core/envelope';
export type { Envelope, EnvelopeKind } from './core/envelope';
export { createDiagnostics } from './core/diagnostics';
export type { LogLevel } from './core/diagnostics';
export { FileSink, StreamSink, StdoutSinkError, fileSinkSchema, stdoutSinkSchema, sinkKinds } from './sinks';
export type { Sink, SinkContext, Encoding } from './sinks';
