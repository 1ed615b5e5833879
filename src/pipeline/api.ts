/**
 * The optional HTTP endpoint (`api: { address: "127.0.0.1:9598" }`):
 *
 *   GET /metrics   Prometheus text format (prom-client): the agent's counters per source and sink,
 *                  the queue's metrics, and the process's default metrics.
 *   GET /health    200 `{"status":"ok",...}` while running; 503 while stopping. Lists failing sinks
 *                  (a failing sink is not "unhealthy": its data waits in the queue) with their last
 *                  error, whether the queue is full, consumers whose cursor cannot be persisted, and
 *                  how many times each agent event happened (`events`).
 *
 * prom-client is loaded only when the endpoint is configured. Values are read at scrape time from
 * the counters the pipeline keeps anyway: nothing is added to the hot path.
 */
import { createServer, type Server } from 'node:http';
import type { Queue } from '../queue/types';
import type { AgentEvent, EventChannel } from '../core/events';
import { errorText } from '../core/diagnostics';
import type { AgentMetrics } from './metrics';

export interface ApiOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: AgentMetrics;
  readonly queue: Queue;
  readonly events: EventChannel<AgentEvent>;
  /** 'running' | 'stopping' */
  readonly phase: () => string;
}

export class ApiError extends Error {
  readonly code = 'SLUICE_API_LISTEN';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiError';
  }
}

export const startApi = async (o: ApiOptions): Promise<Server> => {
  const client = await import('prom-client');
  const register = new client.Registry();
  client.collectDefaultMetrics({ register, prefix: 'sluice_process_' });
  const m = o.metrics;

  const counter = (name: string, help: string, labelNames: readonly string[], read: (set: (labels: Record<string, string>, v: number) => void) => void): void => {
    new client.Counter({
      name,
      help,
      labelNames: [...labelNames],
      registers: [register],
      collect() {
        this.reset();
        read((labels, v) => this.inc(labels, v));
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: readonly string[], read: (set: (labels: Record<string, string>, v: number) => void) => void): void => {
    new client.Gauge({
      name,
      help,
      labelNames: [...labelNames],
      registers: [register],
      collect() {
        this.reset();
        read((labels, v) => this.set(labels, v));
      },
    });
  };

  counter('sluice_source_events_total', 'Events made durable in the queue, per source.', ['source'], (s) => {
    for (const [id, c] of m.sources) s({ source: id }, c.events);
  });
  counter('sluice_source_bytes_total', 'Bytes of lines made durable in the queue, per source.', ['source'], (s) => {
    for (const [id, c] of m.sources) s({ source: id }, c.bytes);
  });
  counter('sluice_sink_events_total', 'Events written by each sink.', ['sink'], (s) => {
    for (const [id, c] of m.sinks) s({ sink: id }, c.events);
  });
  counter('sluice_sink_bytes_total', 'Bytes of lines written by each sink.', ['sink'], (s) => {
    for (const [id, c] of m.sinks) s({ sink: id }, c.bytes);
  });
  counter('sluice_sink_errors_total', 'Failed write attempts per sink (each is retried).', ['sink'], (s) => {
    for (const [id, c] of m.sinks) s({ sink: id }, c.errors);
  });
  counter('sluice_sink_invalid_records_total', 'Queue records a sink could not decode (reported and skipped).', ['sink'], (s) => {
    for (const [id, c] of m.sinks) s({ sink: id }, c.invalidRecords);
  });
  gauge('sluice_sink_failing', '1 while the sink is failing and retrying.', ['sink'], (s) => {
    for (const [id, c] of m.sinks) s({ sink: id }, c.failing);
  });
  const q = (): ReturnType<Queue['metrics']> => o.queue.metrics();
  counter('sluice_queue_appended_events_total', 'Events appended to the queue.', [], (s) => s({}, q().appendedEvents));
  counter('sluice_queue_appended_bytes_total', 'Bytes appended to the queue.', [], (s) => s({}, q().appendedBytes));
  counter('sluice_queue_acked_events_total', 'Events acknowledged by every sink.', [], (s) => s({}, q().ackedEvents));
  counter('sluice_queue_fsyncs_total', 'fdatasync calls made by the queue.', [], (s) => s({}, q().fsyncs));
  counter('sluice_queue_fsync_seconds_total', 'Time spent in the queue fdatasync calls.', [], (s) => s({}, q().fsyncSecondsTotal));
  counter('sluice_queue_corrupt_records_total', 'Corrupt records skipped by the queue.', [], (s) => s({}, q().corruptRecordsSkipped));
  counter('sluice_queue_deleted_segments_total', 'Segment files deleted after every sink passed them.', [], (s) => s({}, q().deletedSegments));
  gauge('sluice_queue_bytes_on_disk', 'Bytes the queue retains on disk.', [], (s) => s({}, q().bytesOnDisk));
  gauge('sluice_queue_full', '1 while appends wait for space (max_bytes reached).', [], (s) => s({}, q().full ? 1 : 0));

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      register.metrics().then(
        (text) => res.writeHead(200, { 'content-type': register.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${errorText(err)}\n`),
      );
    } else if (path === '/health') {
      const phase = o.phase();
      const failing = [...m.sinks].filter(([, c]) => c.failing === 1);
      const body = {
        status: phase === 'running' ? 'ok' : phase,
        failing_sinks: failing.map(([id]) => id),
        sink_errors: Object.fromEntries(failing.map(([id, c]) => [id, c.lastError ?? null])),
        queue_full: m.queueFull,
        cursor_persist_failing: Object.fromEntries(m.cursorPersistFailing),
        events: Object.fromEntries(m.eventCounts),
      };
      res.writeHead(phase === 'running' ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /health\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ApiError(`api: cannot listen on ${o.host}:${o.port}: ${errorText(err)}`, { cause: err })));
    server.listen(o.port, o.host, () => resolve());
  });
  server.on('error', (error) => o.events.emit({ type: 'api.error', error }));
  o.events.emit({ type: 'api.listening', host: o.host, port: o.port });
  return server;
};
