/**
 * The sink registry: every sink type the config accepts, by its `type`. Adding a sink type means
 * one folder beside this file, one line here, and its docs (docs/architecture.md).
 */
import { resolve } from 'node:path';
import { defineSink, registryOf, type SinkKind } from '../core/component';
import { createFileSink, fileSinkSchema } from './file';
import { createHttpSink, httpSinkSchema } from './http';
import { createNatsSink, natsSinkSchema } from './nats';
import { createStdoutSink, stdoutSinkSchema } from './stdout';

export const sinkKinds: ReadonlyMap<string, SinkKind> = registryOf([
  // Both write, then resolve: the file sink after fdatasync, stdout once the OS has the bytes.
  defineSink({ type: 'file', schema: fileSinkSchema, canAcknowledge: true, create: createFileSink, io: (c) => ({ writes: resolve(c.path) }) }),
  defineSink({ type: 'stdout', schema: stdoutSinkSchema, canAcknowledge: true, create: createStdoutSink }),
  // Delivered on a 2xx; sends event ids as idempotency keys (refused with queue.fsync: never).
  defineSink({ type: 'http', schema: httpSinkSchema, canAcknowledge: true, usesEventIds: true, create: createHttpSink }),
  // Delivered once every message is PubAcked by the stream; Nats-Msg-Id from record ids (deduplicated by the stream).
  defineSink({ type: 'nats', schema: natsSinkSchema, canAcknowledge: true, usesEventIds: true, create: createNatsSink }),
]);

export type { Sink, SinkContext, Encoding } from '../core/sink';
export { FileSink, fileSinkSchema, createFileSink } from './file';
export { StreamSink, stdoutSinkSchema, createStdoutSink, StdoutSinkError } from './stdout';
export { HttpSink, httpSinkSchema, createHttpSink, HttpStatusError, parseRetryAfter } from './http';
export { NatsSink, natsSinkSchema, createNatsSink, NatsNoStreamError, NatsPublishError } from './nats';
