/**
 * The registry of source types: `type` name (as written in the config) → its config schema, its
 * factory and whether it can acknowledge (advance its input only after the queue made a batch
 * durable). The agent validates `sources.<id>` with `sourceConfigSchema` (or one type's `schema`),
 * then calls `createSource(config)`.
 */
import { z } from 'zod';
import type { Source } from '../core/source';
import { fileSourceSchema, fileSourceType } from './file';
import type { FileSourceConfig } from './file';
import { stdinSourceSchema, stdinSourceType } from './stdin';
import type { StdinSourceConfig } from './stdin';

export type { Source, SourceBatch, SourceContext, Diagnostics } from '../core/source';
export * as file from './file';
export * as stdin from './stdin';

export interface SourceType<Config> {
  /** Validates the whole `sources.<id>` object, `type` included; strict (unknown keys are errors). */
  readonly schema: z.ZodType<Config>;
  readonly create: (config: Config) => Source;
  readonly canAcknowledge: boolean;
}

export const sourceTypes = {
  file: fileSourceType,
  stdin: stdinSourceType,
} as const;

export type SourceTypeName = keyof typeof sourceTypes;

/** Any source's config, discriminated by `type`. */
export const sourceConfigSchema = z.discriminatedUnion('type', [fileSourceSchema, stdinSourceSchema]);
export type SourceConfig = z.output<typeof sourceConfigSchema>;

/** Builds the source a parsed config describes. Relative file patterns resolve against `cwd`. */
export function createSource(config: SourceConfig, options: { cwd?: string } = {}): Source {
  switch (config.type) {
    case 'file':
      return fileSourceType.create(config satisfies FileSourceConfig, options.cwd === undefined ? {} : { cwd: options.cwd });
    case 'stdin':
      return stdinSourceType.create(config satisfies StdinSourceConfig);
    default: {
      const never: never = config;
      throw new Error(`unknown source type ${JSON.stringify(never)}`);
    }
  }
}

/** Whether sources of this type advance their input only after durability. */
export function canAcknowledge(type: SourceTypeName): boolean {
  return sourceTypes[type].canAcknowledge;
}
