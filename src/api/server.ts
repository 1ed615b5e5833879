/**
 * The optional HTTP endpoint (`api: { address: "127.0.0.1:9598" }`), started by the CLI through the
 * agent's `startApi` option (the pipeline never imports this folder):
 *
 *   GET /             the live status page (one self-contained HTML page, no CDN; ./page.ts)
 *   GET /api/status   the same data as JSON (./status.ts; shape in docs/operations.md)
 *   GET /metrics      Prometheus text (./prometheus.ts): counters per source and sink, backlogs,
 *                     delivery latency, the queue's metrics, build info, the process's defaults.
 *   GET /health       200 `{"status":"ok",...}` while running; 503 while stopping. Lists failing sinks
 *                     (a failing sink is not "unhealthy": its data waits in the queue) with their last
 *                     error, whether the queue is full, consumers whose cursor cannot be persisted, and
 *                     how many times each agent event happened (`events`).
 *
 * Every value is read at request time from what the pipeline keeps anyway: nothing on the hot path.
 */
import { createServer, type Server } from 'node:http';
import { errorText } from '../core/diagnostics';
import type { ApiHandle } from '../pipeline/agent';
import type { AgentContext } from './context';
import { STATUS_PAGE } from './page';
import { prometheusMetrics } from './prometheus';
import { statusJson } from './status';

export type { AgentContext } from './context';

export class ApiError extends Error {
  readonly code = 'SLUICE_API_LISTEN';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiError';
  }
}

const JSON_TYPE = 'application/json; charset=utf-8';

const health = (o: AgentContext): { code: number; body: unknown } => {
  const phase = o.phase();
  const m = o.metrics;
  const failing = [...m.sinks].filter(([, c]) => c.failing === 1);
  return {
    code: phase === 'running' ? 200 : 503,
    body: {
      status: phase === 'running' ? 'ok' : phase,
      failing_sinks: failing.map(([id]) => id),
      sink_errors: Object.fromEntries(failing.map(([id, c]) => [id, c.lastError ?? null])),
      queue_full: m.queueFull,
      cursor_persist_failing: Object.fromEntries(m.cursorPersistFailing),
      events: Object.fromEntries(m.eventCounts),
    },
  };
};

/** Resolves once listening (`api.listening`); rejects with `ApiError` when the address cannot be bound. */
export const startApi = async (o: AgentContext): Promise<ApiHandle> => {
  const metricsText = await prometheusMetrics(o);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    switch (path) {
      case '/metrics':
        metricsText().then(
          (m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.text),
          (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${errorText(err)}\n`),
        );
        return;
      case '/health': {
        const h = health(o);
        res.writeHead(h.code, { 'content-type': JSON_TYPE }).end(`${JSON.stringify(h.body)}\n`);
        return;
      }
      case '/api/status':
        res.writeHead(200, { 'content-type': JSON_TYPE, 'cache-control': 'no-store' }).end(`${JSON.stringify(statusJson(o))}\n`);
        return;
      case '/':
        res
          .writeHead(200, {
            'content-type': 'text/html; charset=utf-8',
            'cache-control': 'no-store',
            // Everything the page needs is inline; it talks only to this agent.
            'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
          })
          .end(STATUS_PAGE);
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /, /api/status, /metrics or /health\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ApiError(`api: cannot listen on ${o.host}:${o.port}: ${errorText(err)}`, { cause: err })));
    server.listen(o.port, o.host, () => resolve());
  });
  server.on('error', (error) => o.events.emit({ type: 'api.error', error }));
  o.events.emit({ type: 'api.listening', host: o.host, port: o.port });
  return {
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
};
