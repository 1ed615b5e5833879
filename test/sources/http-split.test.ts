/**
 * A request larger than one queue record (`ctx.recordBytes`), in process: the http source cuts it
 * into records at event boundaries, each deduplicated record carrying exactly its own ids; a request
 * partly stored when its give-up came is finished rather than answered 503; a crash between its
 * records loses nothing and duplicates nothing for a sluice sender. The context plays the queue:
 * it refuses a batch larger than `recordBytes` as the queue does, makes appends durable in order
 * (positions with them), and can hold appends (full) or drop them (a crash).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { batchBytes, type SourceBatch, type SourceContext } from '../../src/core/source';
import { nodeFileSystem, systemClock } from '../../src/core/node-ports';
import { httpSourceSchema } from '../../src/sources/http/config';
import { decodeTaken } from '../../src/sources/http/ranges';
import { HttpSource } from '../../src/sources/http/source';

/** A record: 16 KiB for lines, past the 64 KiB a deduplicated record keeps for its positions. */
const RECORD = 80 * 1024;

/** Every source started, stopped at the end whatever happened. */
const running = new Set<() => Promise<void>>();
after(async () => {
  for (const stop of running) await stop();
});

const coded = (message: string, code: string): Error => Object.assign(new Error(message), { code });

/** The queue as the source sees it. */
class Records {
  readonly durable: { lines: string[]; positions: Map<string, Uint8Array | null> }[] = [];
  readonly positions = new Map<string, Uint8Array>();
  /** Appends from this one on (0-based, counted over the run) wait until released, given up or crashed. */
  holdFrom = Infinity;
  full = false;
  private appends = 0;
  private readonly held: { go: () => void; drop: (e: Error) => void }[] = [];

  emit = async (b: SourceBatch, opts?: { signal?: AbortSignal }): Promise<void> => {
    if (batchBytes(b) > RECORD) throw coded(`record of ${batchBytes(b)} bytes`, 'SLUICE_QUEUE_RECORD_TOO_LARGE');
    const lines = b.lines.toString().split('\n').slice(0, -1);
    assert.equal(lines.length, b.events);
    const n = this.appends++;
    await new Promise((r) => setImmediate(r));
    if (n >= this.holdFrom) {
      const signal = opts?.signal;
      await new Promise<void>((resolve, reject) => {
        const giveUp = (): void => reject(coded('given up', 'SLUICE_QUEUE_APPEND_ABORTED'));
        if (signal?.aborted === true) return giveUp();
        signal?.addEventListener('abort', giveUp, { once: true });
        this.held.push({
          go: () => {
            signal?.removeEventListener('abort', giveUp);
            resolve();
          },
          drop: reject,
        });
      });
    }
    const positions = new Map((b.positions ?? []).map((p) => [p.key, p.value] as const));
    for (const [k, v] of positions) {
      if (v === null) this.positions.delete(k);
      else this.positions.set(k, v);
    }
    this.durable.push({ lines, positions });
  };

  async heldAppends(n: number): Promise<void> {
    while (this.held.length < n) await new Promise((r) => setTimeout(r, 5));
  }

  release(): void {
    this.holdFrom = Infinity;
    this.full = false;
    for (const h of this.held.splice(0)) h.go();
  }

  /** kill -9: appends not yet durable never will be. */
  crash(): void {
    this.holdFrom = Infinity;
    for (const h of this.held.splice(0)) h.drop(coded('the queue is closed', 'SLUICE_QUEUE_CLOSED'));
  }

  /** Each message stored, counted. */
  counts(): Map<string, number> {
    const c = new Map<string, number>();
    for (const r of this.durable) for (const l of r.lines) c.set(l, (c.get(l) ?? 0) + 1);
    return c;
  }
}

/** An http source on a free port whose context is `q` (positions: what `q` holds durable). */
const serve = async (q: Records, cfg: Record<string, unknown> = {}): Promise<{ port: number; stop: () => Promise<void> }> => {
  const source = new HttpSource(httpSourceSchema.parse({ type: 'http', address: '127.0.0.1:0', ...cfg }), { clock: systemClock, fs: nodeFileSystem, cwd: process.cwd() });
  const ac = new AbortController();
  let announce: (port: number) => void = () => undefined;
  const listening = new Promise<number>((r) => (announce = r));
  const ctx: SourceContext = {
    id: 'in',
    positions: new Map(q.positions),
    signal: ac.signal,
    full: () => q.full,
    recordBytes: RECORD,
    log: {
      debug() {},
      info(_m, f) {
        const a = f?.['address'];
        if (typeof a === 'string') announce(Number(a.slice(a.lastIndexOf(':') + 1)));
      },
      warn() {},
      error() {},
    },
    emit: (b, opts) => q.emit(b, opts),
  };
  const done = source.run(ctx).catch(() => undefined);
  const stop = async (): Promise<void> => {
    running.delete(stop);
    q.crash(); // nothing left waiting
    ac.abort();
    await done;
  };
  running.add(stop);
  return { port: await listening, stop };
};

const post = async (port: number, body: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> => {
  const r = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson', ...headers } });
  return { status: r.status, text: await r.text() };
};

/** Events `{"event_id": from + i, "message": "m<from + i>", "pad": …}` of ~100 bytes, one per line. */
const events = (from: number, n: number, withIds = true): string => {
  let s = '';
  for (let i = from; i < from + n; i++) s += `${JSON.stringify({ ...(withIds ? { event_id: i } : {}), message: `m${i}`, pad: 'x'.repeat(60) })}\n`;
  return s;
};

const SENDER = { 'sluice-sender': '3f2a0c1e-0000-4000-8000-000000000003:central' };

test('a sender\'s body larger than a record is stored as several records, each carrying the ranges of its own ids only', async () => {
  const q = new Records();
  const s = await serve(q);
  const r = await post(s.port, events(1000, 1000), SENDER);
  assert.equal(r.status, 200, r.text);
  assert.ok(q.durable.length >= 5, `${q.durable.length} records`);
  const seen: number[] = [];
  for (const rec of q.durable) {
    const ids = rec.lines.map((l) => (JSON.parse(l) as { event_id: number }).event_id);
    seen.push(...ids);
    const own = [...rec.positions].filter(([k]) => k.includes('#'));
    assert.equal(own.length, 1, 'one delta key per record');
    const [key, value] = own[0] as [string, Uint8Array];
    assert.equal(key, `in:dedup:${SENDER['sluice-sender']}#${ids[0]}`);
    const taken = decodeTaken(value);
    assert.deepEqual(taken?.set.ranges(), [[ids[0], ids[ids.length - 1]]], 'the record takes exactly its own ids');
  }
  assert.deepEqual(seen, Array.from({ length: 1000 }, (_, i) => 1000 + i));
  await s.stop();
});

test('a crash between the records of one request: the sender\'s retry stores exactly the events the crash lost', async () => {
  const q = new Records();
  q.holdFrom = 2; // the first two records become durable, the rest wait
  const s = await serve(q);
  const body = events(0, 1000);
  const first = post(s.port, body, SENDER);
  await q.heldAppends(1);
  q.crash();
  assert.equal((await first).status, 500, 'never 200 for a request not wholly durable');
  await s.stop();
  assert.equal(q.durable.length, 2);

  const again = await serve(q); // a restart, from the positions that were durable
  assert.equal((await post(again.port, body, SENDER)).status, 200);
  await again.stop();
  const counts = q.counts();
  assert.equal(counts.size, 1000);
  for (const [line, n] of counts) assert.equal(n, 1, line);
});

test('a request given up (queue full) after some of its records were stored is finished, not refused: the client gets 200 and each event is stored once', async () => {
  const q = new Records();
  q.holdFrom = 1; // the first record is stored, the others wait: the queue is full
  const s = await serve(q, { when_full: 'reject' });
  const answered = post(s.port, events(0, 1000, false));
  await q.heldAppends(1);
  q.full = true; // the source sees it within 200 ms and gives the waiting appends up
  await new Promise((r) => setTimeout(r, 400));
  q.release(); // space again: the rest of the request is appended
  const r = await answered;
  assert.equal(r.status, 200, r.text);
  const counts = q.counts();
  assert.equal(counts.size, 1000);
  for (const [line, n] of counts) assert.equal(n, 1, line);
  await s.stop();
});

test('a request given up before any of its records was stored is refused whole (503): its retry stores each event once', async () => {
  const q = new Records();
  q.holdFrom = 0;
  const s = await serve(q, { when_full: 'reject' });
  const body = events(0, 1000, false);
  const answered = post(s.port, body);
  await q.heldAppends(1);
  q.full = true;
  const r = await answered;
  assert.equal(r.status, 503);
  assert.equal(q.durable.length, 0);
  q.release();
  assert.equal((await post(s.port, body)).status, 200);
  const counts = q.counts();
  assert.equal(counts.size, 1000);
  for (const [line, n] of counts) assert.equal(n, 1, line);
  await s.stop();
});

test('one event larger than a record gets 413 with the reason; nothing of its request is stored and the source takes the next request', async () => {
  const q = new Records();
  const s = await serve(q);
  const big = JSON.stringify({ message: 'big', pad: 'y'.repeat(RECORD) });
  const r = await post(s.port, `${events(0, 3)}${big}\n`);
  assert.equal(r.status, 413);
  assert.match(r.text, /event 4 of the request is \d+ bytes as stored, more than one queue record holds \(81920 bytes, set by queue\.segment_bytes\)/);
  assert.equal(q.durable.length, 0);
  assert.equal((await post(s.port, events(10, 2))).status, 200);
  assert.equal(q.durable.length, 1);
  await s.stop();
});
