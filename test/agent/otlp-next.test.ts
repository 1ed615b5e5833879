/**
 * The otlp source with the current OpenTelemetry JS line as the client (sdk-logs 3.x, exporters
 * 0.30x, @opentelemetry/api 1.10: Node >= 22.15), beside the 0.223 line `otlp.test.ts` uses. The
 * two lines need different `@opentelemetry/api` versions (a peer dependency of each), so the current
 * one lives in its own package, `test/otel-next` (installed by `npm ci` as the dev dependency
 * `otel-next`), with its own node_modules. Skipped, with the reason, on an older Node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { startAgent, waitFor, withTempDir, writeConfig, type RunningAgent, freePort, ndjsonObjects as events, readIfAny } from './helpers';

type Api = typeof import('../otel-next/node_modules/@opentelemetry/api');
type SdkLogs = typeof import('../otel-next/node_modules/@opentelemetry/sdk-logs');
type LogRecordExporter = import('../otel-next/node_modules/@opentelemetry/sdk-logs').LogRecordExporter;
type JsonExporterModule = typeof import('../otel-next/node_modules/@opentelemetry/exporter-logs-otlp-http');
type ProtoExporterModule = typeof import('../otel-next/node_modules/@opentelemetry/exporter-logs-otlp-proto');

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const NEW_ENOUGH = major > 22 || (major === 22 && minor >= 15);
const SKIP = NEW_ENOUGH ? false : `the current OpenTelemetry JS line needs Node >= 22.15 (this is ${process.versions.node}); otlp.test.ts covers 0.223`;

/** The current line's modules, loaded from test/otel-next's own node_modules. */
const load = (): { api: Api; sdk: SdkLogs; json: JsonExporterModule; proto: ProtoExporterModule } => {
  const req = createRequire(createRequire(__filename).resolve('otel-next/package.json'));
  return {
    api: req('@opentelemetry/api') as Api,
    sdk: req('@opentelemetry/sdk-logs') as SdkLogs,
    json: req('@opentelemetry/exporter-logs-otlp-http') as JsonExporterModule,
    proto: req('@opentelemetry/exporter-logs-otlp-proto') as ProtoExporterModule,
  };
};

const listening = async (agent: RunningAgent): Promise<void> => waitFor('the otlp source to listen', () => agent.stderr().includes('otlp source listening on'), 20_000, agent.stderr);

test('otlp: the current SDK line (sdk-logs 3.x, exporters 0.30x) delivers JSON, protobuf and gzip-protobuf exports that arrive as objects', { skip: SKIP }, async () => {
  const { api, sdk, json, proto } = load();
  const main = createRequire(createRequire(__filename).resolve('otel-next/package.json')).resolve('@opentelemetry/sdk-logs'); // …/sdk-logs/dist/index.cjs
  const { version } = JSON.parse(await readFile(join(dirname(dirname(main)), 'package.json'), 'utf8')) as { version: string };
  assert.match(version, /^3\./, 'the current sdk-logs line is loaded, not the root 0.223');
  await withTempDir(async (dir) => {
    const port = await freePort();
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  otel:\n    type: otlp\n    address: 127.0.0.1:${port}\n` + `sinks:\n  out:\n    type: file\n    inputs: [otel]\n    path: ./out.log\n    encoding: json\n`,
    );
    const agent = startAgent(cfg, { cwd: dir });
    await listening(agent);
    const url = `http://127.0.0.1:${port}/v1/logs`;
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const spanId = 'b7ad6b7169203331';
    const codes: number[] = [];
    type Exporter = InstanceType<JsonExporterModule['OTLPLogExporter']>;
    const kinds: [string, Exporter][] = [
      ['json', new json.OTLPLogExporter({ url })],
      ['proto', new proto.OTLPLogExporter({ url })],
      ['proto-gzip', new proto.OTLPLogExporter({ url, compression: 'gzip' as NonNullable<NonNullable<ConstructorParameters<ProtoExporterModule['OTLPLogExporter']>[0]>['compression']> })],
    ];
    for (const [kind, exporter] of kinds) {
      const recording: LogRecordExporter = {
        export: (logs, cb) =>
          exporter.export(logs, (r) => {
            codes.push(Number(r.code));
            cb(r);
          }),
        shutdown: () => exporter.shutdown(),
        forceFlush: () => exporter.forceFlush(),
      };
      const provider = new sdk.LoggerProvider({ processors: [new sdk.BatchLogRecordProcessor({ exporter: recording, scheduledDelayMillis: 50 })] });
      const logger = provider.getLogger('checkout', '3.0.0');
      const context = api.trace.setSpanContext(api.ROOT_CONTEXT, { traceId, spanId, traceFlags: api.TraceFlags.SAMPLED });
      for (let i = 0; i < 20; i++) logger.emit({ body: `${kind} ${i}`, severityNumber: 13, severityText: 'WARN', attributes: { n: i }, context });
      await provider.forceFlush();
      await provider.shutdown();
    }
    assert.ok(codes.length >= 3 && codes.every((c) => c === 0), `export results: ${codes.join(',')}`);
    const out = join(dir, 'out.log');
    await waitFor('60 records in the sink', async () => events(await readIfAny(out)).length === 60, 20_000, agent.stderr);
    const ev = events(await readFile(out, 'utf8'));
    for (const [kind] of kinds) {
      assert.deepEqual(
        ev.filter((e) => String(e['message']).startsWith(`${kind} `)).map((e) => e['message']),
        Array.from({ length: 20 }, (_, i) => `${kind} ${i}`),
      );
      const e = ev.find((x) => x['message'] === `${kind} 3`);
      assert.ok(e, kind);
      assert.equal(e['severity_number'], 13);
      assert.deepEqual(e['attributes'], { n: 3 });
      assert.deepEqual(e['scope'], { name: 'checkout', version: '3.0.0' });
      assert.equal(e['trace_id'], traceId);
      assert.equal(e['span_id'], spanId);
    }
    agent.child.kill('SIGTERM');
    assert.equal((await agent.exited).code, 0, agent.stderr());
  });
});
