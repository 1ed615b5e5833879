/**
 * The file source: tail files matching globs, with rotation, fingerprints and durable positions.
 * See `source.ts` for the design and docs/sources.md for the user's view.
 */
import { FileSource } from './source';
import type { FileSourceOptions } from './source';
import { fileSourceSchema } from './config';
import type { FileSourceConfig } from './config';

export { fileSourceSchema } from './config';
export type { FileSourceConfig, FileSourceConfigInput } from './config';
export { FileSource } from './source';
export type { FileSourceMetrics, FileSourceOptions } from './source';
export { GlobPatternError, PositionDecodeError } from './errors';
export { SourceEmitError } from '../errors';
export { Glob } from './glob';

/** Builds a file source from its parsed config (`fileSourceSchema.parse(...)`). */
export function createFileSource(config: FileSourceConfig, options: FileSourceOptions = {}): FileSource {
  return new FileSource(config, options);
}

export const fileSourceType = {
  schema: fileSourceSchema,
  create: createFileSource,
  /** Positions advance only after the queue confirms durability. */
  canAcknowledge: true,
} as const;
