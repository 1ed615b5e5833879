/** The sink registry: every sink type the config accepts, by its `type`. */
import { defineKind, type ComponentKind } from '../core/component';
import { createFileSink, fileSinkSchema } from './file';
import { createStdoutSink, stdoutSinkSchema } from './stdout';
import type { Sink, SinkContext } from '../core/sink';

export type SinkKind = ComponentKind<SinkContext, Sink>;

export const sinkKinds: ReadonlyMap<string, SinkKind> = new Map<string, SinkKind>([
  [
    'file',
    defineKind({
      type: 'file',
      canAcknowledge: true,
      schema: fileSinkSchema,
      schemaHasType: true,
      inputs: (c) => c.inputs,
      maxBackoffMs: (c) => c.max_backoff,
      create: createFileSink,
    }),
  ],
  [
    'stdout',
    defineKind({
      type: 'stdout',
      canAcknowledge: true,
      schema: stdoutSinkSchema,
      schemaHasType: true,
      inputs: (c) => c.inputs,
      maxBackoffMs: (c) => c.max_backoff,
      create: createStdoutSink,
    }),
  ],
]);

export type { Sink, SinkContext, Encoding } from '../core/sink';
export { FileSink, fileSinkSchema, createFileSink } from './file';
export { StreamSink, stdoutSinkSchema, createStdoutSink, StdoutSinkError } from './stdout';
