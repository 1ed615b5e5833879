/**
 * The http sink's sender headers against a real HTTP server in this process: `Sluice-Sender` with
 * `encoding: json` only, `Sluice-Acked-Below` from the groups open and finished, none on a late
 * group, on a dead-letter resend, or with `encoding: text`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { decodeEnvelope, encodeEnvelope } from '../../src/core/envelope';
import type { RecordId } from '../../src/core/records';
import { nodeFileSystem, nodeReadFileSystem, systemClock, systemRandom } from '../../src/core/node-ports';
import { createHttpSink, httpSinkSchema } from '../../src/sinks';
import type { WriteResult } from '../../src/core/sink';

const batch = (id: number, text: string) => decodeEnvelope(encodeEnvelope('lines', 'app', 'a.log', 0, Buffer.from(text)), text.split('\n').length - 1, id as RecordId);

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

test('http sink: Sluice-Sender names agent and sink, Sluice-Acked-Below stays below every open group and passes finished ones; a late group, a resend and text bodies go without them', async () => {
  const seen: IncomingHttpHeaders[] = [];
  let refuseNext = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push(req.headers);
      if (refuseNext > 0) {
        refuseNext--;
        res.writeHead(503).end();
      } else res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const ctx = { id: 'central', log: silent, clock: systemClock, random: systemRandom, fs: nodeFileSystem, readFs: nodeReadFileSystem, cwd: '/', agentId: '3f2a0c1e-aaaa' };
  const sink = (encoding: 'json' | 'text') => createHttpSink(httpSinkSchema.parse({ type: 'http', inputs: ['app'], uri: `http://127.0.0.1:${port}/`, encoding }), ctx);
  const opts = { signal: new AbortController().signal };
  const status = (r: WriteResult): string => r.status;
  try {
    const s = sink('json');
    refuseNext = 1;
    assert.equal(status(await s.write([batch(0, 'a\nb\nc\n')], opts)), 'errored'); // group [0, 2] stays open
    assert.equal(status(await s.write([batch(10, 'd\n')], opts)), 'delivered');
    assert.equal(seen[1]?.['sluice-sender'], '3f2a0c1e-aaaa:central');
    assert.equal(seen[1]?.['sluice-acked-below'], undefined, 'nothing can be said while the group at 0 is open');
    assert.equal(status(await s.write([batch(0, 'a\nb\nc\n')], opts)), 'delivered'); // the retry
    assert.equal(status(await s.write([batch(20, 'e\n')], opts)), 'delivered');
    assert.equal(seen[3]?.['sluice-acked-below'], '20', 'the first id of the one open group (this one): everything below is finished or never sent');
    // A group below what was announced (its write started late): no sender, so it is appended as sent.
    assert.equal(status(await s.write([batch(5, 'x\n')], opts)), 'delivered');
    assert.equal(seen[4]?.['sluice-sender'], undefined);
    assert.equal(seen[4]?.['idempotency-key'], '3f2a0c1e-aaaa:central:5-5');
    assert.equal(status(await s.resend?.({ payload: Buffer.from('{"event_id":30}\n'), contentType: 'application/x-ndjson', firstEventId: 30, lastEventId: 30 }, opts) ?? { status: 'errored', error: null }), 'delivered');
    assert.equal(seen[5]?.['sluice-sender'], undefined, 'a dead-letter replay is not deduplicated');
    await s.close();
    const t = sink('text');
    assert.equal(status(await t.write([batch(40, 'f\n')], opts)), 'delivered');
    assert.equal(seen[6]?.['sluice-sender'], undefined, 'text bodies carry no event ids');
    await t.close();
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
