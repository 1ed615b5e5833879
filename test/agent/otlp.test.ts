/**
 * The otlp source through the real CLI, with the real OpenTelemetry JS SDK (0.223.x, the last line
 * that runs on Node 20) as the client: its JSON and protobuf exporters (gzip too) deliver records
 * that arrive as objects in a JSON file sink; a full queue answers 503 + Retry-After and the SDK's own
 * retry delivers once space frees; after kill -9 and a restart every record of an export that got a
 * 200 is in the sink.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, request } from 'node:http';
import { join } from 'node:path';
import { ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from '@opentelemetry/sdk-logs';
import { OTLPLogExporter as JsonExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { startAgent, waitFor, withTempDir, writeConfig, type RunningAgent, freePort, ndjsonObjects as events, readIfAny } from './helpers';

type ExportCallback = Parameters<LogRecordExporter['export']>[1];
type ExportResult = Parameters<ExportCallback>[0];
/** The SDK's CompressionAlgorithm enum (its value is the string 'gzip'), named without importing a transitive package. */
type Compression = NonNullable<NonNullable<ConstructorParameters<typeof ProtoExporter>[0]>['compression']>;




const listening = async (agent: RunningAgent): Promise<void> => waitFor('the otlp source to listen', () => agent.stderr().includes('otlp source listening on'), 20_000, agent.stderr);

const stop = async (agent: RunningAgent): Promise<void> => {
  agent.child.kill('SIGTERM');
  const r = await agent.exited;
  assert.equal(r.code, 0, agent.stderr());
};

/** ExportResultCode.SUCCESS (the SDK's enum; 0). */
const succeeded = (r: ExportResult): boolean => Number(r.code) === 0;

/** An exporter that tells, for each export, the bodies it carried and how the SDK's export ended (0 = success). */
const recording = (inner: LogRecordExporter, onResult: (bodies: string[], result: ExportResult) => void): LogRecordExporter => ({
  export: (logs, cb) =>
    inner.export(logs, (r) => {
      onResult(
        logs.map((l) => (typeof l.body === 'string' ? l.body : JSON.stringify(l.body))),
        r,
      );
      cb(r);
    }),
  shutdown: () => inner.shutdown(),
  forceFlush: () => inner.forceFlush?.() ?? Promise.resolve(),
});

const otlpConfig = (port: number, extra = '', sinkPath = './out.log', sinkExtra = ''): string =>
  `data_dir: ./data\n${extra}sources:\n  otel:\n    type: otlp\n    address: 127.0.0.1:${port}\n` +
  `sinks:\n  out:\n    type: file\n    inputs: [otel]\n    path: ${sinkPath}\n    encoding: json\n${sinkExtra}`;

test('otlp: the SDK JSON, protobuf and gzip-protobuf exporters get 200 and their records arrive as objects with body, severity, attributes, resource, scope and trace context', async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    const agent = startAgent(await writeConfig(dir, otlpConfig(port)), { cwd: dir });
    await listening(agent);
    const url = `http://127.0.0.1:${port}/v1/logs`;
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const spanId = 'b7ad6b7169203331';
    const results: number[] = [];
    const kinds = [
      ['json', new JsonExporter({ url })],
      ['proto', new ProtoExporter({ url })],
      ['proto-gzip', new ProtoExporter({ url, compression: 'gzip' as Compression })],
    ] as const;
    for (const [kind, exporter] of kinds) {
      const provider = new LoggerProvider({ processors: [new BatchLogRecordProcessor({ exporter: recording(exporter, (_b, r) => results.push(r.code)), scheduledDelayMillis: 50 })] });
      const logger = provider.getLogger('checkout', '2.1.0');
      const context = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.SAMPLED });
      for (let i = 0; i < 50; i++) {
        logger.emit({ body: `${kind} ${i}`, severityNumber: SeverityNumber.WARN, severityText: 'WARN', attributes: { 'http.status': 503, user: { id: i }, tags: ['a', 'b'] }, context });
      }
      await provider.shutdown(); // flushes: every export has answered
    }
    assert.ok(results.length >= 3 && results.every((c) => c === 0), `export results: ${results.join(',')}`);
    const out = join(dir, 'out.log');
    await waitFor('150 records in the sink', async () => events(await readIfAny(out)).length === 150, 20_000, agent.stderr);
    const ev = events(await readFile(out, 'utf8'));
    for (const [kind] of kinds) {
      assert.deepEqual(
        ev.filter((e) => String(e['message']).startsWith(`${kind} `)).map((e) => e['message']),
        Array.from({ length: 50 }, (_, i) => `${kind} ${i}`),
      );
      const e = ev.find((x) => x['message'] === `${kind} 7`);
      assert.ok(e, kind);
      assert.equal(e['severity_text'], 'WARN');
      assert.equal(e['severity_number'], 13);
      assert.deepEqual(e['attributes'], { 'http.status': 503, user: { id: 7 }, tags: ['a', 'b'] });
      assert.deepEqual(e['scope'], { name: 'checkout', version: '2.1.0' });
      assert.equal((e['resources'] as Record<string, unknown>)['telemetry.sdk.language'], 'nodejs');
      assert.equal(e['trace_id'], traceId);
      assert.equal(e['span_id'], spanId);
      assert.equal(e['flags'], 1);
      assert.match(String(e['timestamp']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
      assert.equal(e['source'], 'otel');
    }
    await stop(agent);
  });
});

/** A pass-through HTTP proxy that records the status of every answer it relays. */
const recordingProxy = async (target: number, statuses: number[]): Promise<{ port: number; close: () => Promise<void> }> => {
  const srv = createHttpServer((req, res) => {
    const up = request({ host: '127.0.0.1', port: target, path: req.url, method: req.method, headers: req.headers }, (r) => {
      statuses.push(r.statusCode ?? 0);
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => {
      statuses.push(0);
      res.destroy();
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const a = srv.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  return {
    port: a.port,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
};

test('otlp: a full queue answers 503 + Retry-After at once, and the SDK retry delivers once the sink frees space', async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    // The sink cannot write (its directory is a file) until the test makes it a directory.
    await writeFile(join(dir, 'notadir'), '');
    const agent = startAgent(await writeConfig(dir, otlpConfig(port, 'queue:\n  max_bytes: 16MiB\n', './notadir/out.log', '    max_backoff: 500ms\n')), { cwd: dir });
    await listening(agent);
    const filler = Buffer.from(JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: Array.from({ length: 4000 }, (_, i) => ({ body: { stringValue: `fill ${i} ${'x'.repeat(200)}` } })) }] }] }));
    const postFiller = (): Promise<{ status: number; retryAfter: string | undefined }> =>
      new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port, path: '/v1/logs', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          const ra = res.headers['retry-after'];
          res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: typeof ra === 'string' ? ra : undefined }));
        });
        req.on('error', reject);
        req.end(filler);
      });
    let last = { status: 0, retryAfter: undefined as string | undefined };
    for (let i = 0; i < 60 && last.status !== 503; i++) last = await postFiller();
    assert.equal(last.status, 503, 'the queue filled');
    assert.equal(last.retryAfter, '1');

    const statuses: number[] = [];
    const proxy = await recordingProxy(port, statuses);
    let result: ExportResult | undefined;
    const exporter = recording(new ProtoExporter({ url: `http://127.0.0.1:${proxy.port}/v1/logs` }), (_b, r) => (result = r));
    const provider = new LoggerProvider({ processors: [new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 20 })] });
    try {
      provider.getLogger('retry').emit({ body: 'delivered after 503' });
      await waitFor('the SDK to be told 503', () => statuses.includes(503), 10_000, () => statuses.join(','));
      // Free the sink: the queue drains, and the SDK's next attempt (after Retry-After) gets its 200.
      // (recursive: the sink's own retry may create the directory first, as it creates missing parents)
      await rm(join(dir, 'notadir'));
      await mkdir(join(dir, 'notadir'), { recursive: true });
      await waitFor('the export to end', () => result !== undefined, 15_000, () => `statuses ${statuses.join(',')}\n${agent.stderr()}`);
      assert.ok(result !== undefined && succeeded(result), `export failed after statuses ${statuses.join(',')}: ${String(result?.error)}`);
      assert.equal(statuses[0], 503);
      assert.equal(statuses.at(-1), 200);
    } finally {
      // Even after a failed assertion: an open proxy or provider would keep this file's process from ever exiting.
      await provider.shutdown();
      await proxy.close();
    }
    const out = join(dir, 'notadir', 'out.log');
    await waitFor('the retried record in the sink', async () => (await readIfAny(out)).includes('"delivered after 503"'), 30_000, agent.stderr);
    await stop(agent);
  });
});

test('otlp: after kill -9 and a restart, every record of an SDK export that got a 200 is in the sink', async () => {
  await withTempDir(async (dir) => {
    const port = await freePort();
    const cfg = await writeConfig(dir, otlpConfig(port, 'queue:\n  fsync: always\n'));
    let agent = startAgent(cfg, { cwd: dir });
    await listening(agent);
    const acked = new Set<string>();
    let settled = 0;
    const exporter = recording(new ProtoExporter({ url: `http://127.0.0.1:${port}/v1/logs`, timeoutMillis: 2000 }), (bodies, r) => {
      settled += bodies.length;
      if (succeeded(r)) for (const b of bodies) acked.add(b);
    });
    const provider = new LoggerProvider({ processors: [new BatchLogRecordProcessor({ exporter, scheduledDelayMillis: 5, maxExportBatchSize: 100, maxQueueSize: 100_000 })] });
    const logger = provider.getLogger('crash');
    let n = 0;
    let emitting = true;
    const emitter = (async () => {
      while (emitting) {
        // at most ~1000 records waiting in the SDK, so its queue never drops any and shutdown flushes little
        if (n - settled < 1000) for (let i = 0; i < 100; i++) logger.emit({ body: `r${n++}`, attributes: { pad: 'y'.repeat(100) } });
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await waitFor('some acknowledged exports', () => acked.size >= 3000, 30_000, agent.stderr);
    agent.child.kill('SIGKILL');
    await agent.exited;
    emitting = false;
    await emitter;
    const ackedAtKill = new Set(acked);
    agent = startAgent(cfg, { cwd: dir });
    await listening(agent);
    const out = join(dir, 'out.log');
    const missing = async (): Promise<number> => {
      const have = new Set(events(await readIfAny(out)).map((e) => String(e['message'])));
      let m = 0;
      for (const b of ackedAtKill) if (!have.has(b)) m++;
      return m;
    };
    try {
      await waitFor('every acknowledged record in the sink', async () => (await missing()) === 0, 30_000, () => `${ackedAtKill.size} acknowledged before the kill`);
    } finally {
      // The SDK's own retries of exports in flight at the kill may land after the restart: also kept.
      // (In a finally: a provider left running would keep this file's process from exiting.)
      await provider.shutdown();
    }
    // Exports acknowledged after the restart (the SDK's retries, flushed by the shutdown) are in the
    // queue: wait for the sink to deliver them too, then name any that never arrive.
    const absent = async (): Promise<string[]> => {
      const have = new Set(events(await readIfAny(out)).map((e) => String(e['message'])));
      return [...acked].filter((b) => !have.has(b));
    };
    await waitFor('every record acknowledged after the restart in the sink', async () => (await absent()).length === 0, 30_000).catch(() => undefined);
    const never = await absent();
    assert.deepEqual(never.slice(0, 10), [], `${never.length} record(s) acknowledged (after the restart) are not in the sink`);
    await stop(agent);
  });
});
