/**
 * The source registry: every source type the config accepts, by its `type`. Adding a source type
 * means one folder beside this file, one line here, and its docs (docs/architecture.md).
 */
import { defineSource, registryOf, type SourceKind } from '../core/component';
import { resolve } from 'node:path';
import { batchBound as fileBatchBound, FileSource, fileSourceSchema, Glob } from './file';
import { batchBound as stdinBatchBound, StdinSource, stdinSourceSchema } from './stdin';
// The network sources' kinds load their schemas only; their code loads when one runs.
import { syslogSourceKind } from './syslog/kind';
import { httpSourceKind } from './http/kind';
import { otlpSourceKind } from './otlp/kind';
import { natsSourceKind } from './nats';

export type { Source, SourceBatch, SourceContext, Diagnostics } from '../core/source';
export * as file from './file';
export * as stdin from './stdin';

export const sourceKinds: ReadonlyMap<string, SourceKind> = registryOf([
  defineSource({
    type: 'file',
    schema: fileSourceSchema,
    // Positions advance only after the queue confirms durability: resumes exactly after a restart.
    canAcknowledge: true,
    create: (config, ctx) =>
      new FileSource(config, { cwd: ctx.cwd, clock: ctx.clock, fs: ctx.readFs, ...(ctx.dataDir !== undefined ? { state: { fs: ctx.fs, dataDir: ctx.dataDir } } : {}) }),
    io: (config) => {
      const glob = new Glob(
        config.include.map((p) => resolve(p)),
        config.exclude.map((p) => resolve(p)),
      );
      return { reads: (path) => glob.matches(path), batch: fileBatchBound(config) };
    },
  }),
  defineSource({
    type: 'stdin',
    schema: stdinSourceSchema,
    // A pipe cannot be re-read: what it held when the process died is lost to sluice.
    canAcknowledge: false,
    create: (config, ctx) => new StdinSource(config, { clock: ctx.clock }),
    io: (config) => ({ exclusive: 'standard input', batch: stdinBatchBound(config) }),
  }),
  syslogSourceKind,
  httpSourceKind,
  otlpSourceKind,
  natsSourceKind,
]);
