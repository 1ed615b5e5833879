/**
 * The http source's per-sender deduplication (`src/sources/http/dedup.ts`), its range set, and the
 * sink's `Sluice-Acked-Below` (`src/sinks/http/acked-below.ts`), driven together: a simulated edge
 * sends a stream of event ids (with gaps) in groups, concurrently, split in halves, retried,
 * regrouped after its own crash; a simulated queue makes appends durable in order, refuses some,
 * and crashes (the receiver then restarts from the positions that were durable). Each id must end up
 * in the durable log exactly once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeTaken, encodeTaken, RangeSet } from '../../src/sources/http/ranges';
import { Dedup, type Append } from '../../src/sources/http/dedup';
import { AckedBelow } from '../../src/sinks/http/acked-below';
import type { SourcePosition } from '../../src/core/records';
import { mulberry32 } from '../util/random';

test('a range set holds exactly the ids added, as sorted, disjoint, non-adjacent ranges, and survives its binary form', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(300), fc.nat(20)), { maxLength: 60 }), fc.nat(320), (adds, floor) => {
      const set = new RangeSet();
      const ref = new Set<number>();
      for (const [lo, len] of adds) {
        set.add(lo, lo + len);
        for (let i = lo; i <= lo + len; i++) ref.add(i);
      }
      for (let i = 0; i <= 330; i++) assert.equal(set.has(i), ref.has(i), `id ${i}`);
      const rs = set.ranges();
      for (let k = 1; k < rs.length; k++) assert.ok((rs[k]?.[0] as number) > (rs[k - 1]?.[1] as number) + 1, 'ranges are disjoint and not adjacent');
      const floorBelow = set.isEmpty() ? 7 : Math.min(7, set.min());
      const back = decodeTaken(encodeTaken(floorBelow, set));
      assert.ok(back);
      assert.equal(back.floor, floorBelow);
      assert.deepEqual(back.set.ranges(), rs);
      set.dropBelow(floor);
      for (let i = 0; i <= 330; i++) assert.equal(set.has(i), i >= floor && ref.has(i), `id ${i} after dropBelow(${floor})`);
    }),
  );
});

test('the binary form of taken ids refuses truncated or foreign bytes instead of inventing ids', () => {
  const set = new RangeSet();
  set.add(2 ** 40, 2 ** 40 + 5);
  set.add(2 ** 52, 2 ** 52 + 1);
  const bytes = encodeTaken(1000, set);
  assert.deepEqual(decodeTaken(bytes)?.set.ranges(), set.ranges());
  for (let cut = 0; cut < bytes.length; cut++) assert.equal(decodeTaken(bytes.subarray(0, cut)), undefined, `cut at ${cut}`);
  assert.equal(decodeTaken(Uint8Array.from([2, 0, 0])), undefined, 'another version');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => void decodeTaken(b)));
});

/** The receiver's queue: appends become durable in call order; a crash keeps only what was durable. */
class SimQueue {
  readonly log: number[][] = [];
  readonly positions = new Map<string, Uint8Array>();
  private pending: { ids: number[]; positions: readonly SourcePosition[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  private gen = 0;

  append(ids: readonly number[]): Append {
    const gen = this.gen;
    return (keep, _count, positions) =>
      new Promise<void>((resolve, reject) => {
        if (gen !== this.gen) return reject(new Error('the receiver was killed'));
        const kept = ids.filter((_, i) => keep === null || keep[i] === 1);
        this.pending.push({ ids: kept, positions, resolve, reject });
      });
  }

  get inFlight(): number {
    return this.pending.length;
  }

  /** The oldest append becomes durable (data and positions together). */
  commitOne(): void {
    const a = this.pending.shift();
    if (a === undefined) return;
    this.log.push(a.ids);
    for (const p of a.positions) {
      if (p.value === null) this.positions.delete(p.key);
      else this.positions.set(p.key, p.value);
    }
    a.resolve();
  }

  /** One append is refused (a cancelled append: never written); the ones after it go on. */
  refuse(index: number): void {
    const [a] = this.pending.splice(index % Math.max(1, this.pending.length), 1);
    a?.reject(new Error('refused'));
  }

  /** kill -9: appends in flight are gone; their connections break. */
  crash(): void {
    this.gen++;
    const gone = this.pending;
    this.pending = [];
    for (const a of gone) a.reject(new Error('the receiver was killed'));
  }

  counts(): Map<number, number> {
    const c = new Map<number, number>();
    for (const r of this.log) for (const id of r) c.set(id, (c.get(id) ?? 0) + 1);
    return c;
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * One seeded run: `events` ids with gaps, sent in groups of up to `maxGroup` with `concurrency`
 * groups in flight; faults at random; then the faults stop and everything is delivered.
 */
const run = async (seed: number, events: number, maxGroup: number, concurrency: number, steps: number): Promise<{ dup: number; counts: Map<number, number>; stream: number[] }> => {
  const rnd = mulberry32(seed);
  const pick = (n: number): number => Math.floor(rnd() * n);
  // The sender's ids: increasing, with gaps (records of other sources it never sends).
  const stream: number[] = [];
  for (let id = pick(5); stream.length < events; id += 1 + (rnd() < 0.2 ? 1 + pick(30) : 0)) stream.push(id);

  const queue = new SimQueue();
  let dedup = new Dedup('in', { maxSenders: 4, maxRanges: 64 });
  let dupTotal = 0;
  let receiverGen = 0;

  // Sender: done[i] for stream index i; a persisted cursor (index) it restarts from.
  const done = new Uint8Array(events);
  let persisted = 0;
  let senderGen = 0;
  let ackedNow = new AckedBelow();
  let groups: { from: number; to: number }[] = [];
  let next = 0; // next group index to hand out
  const open = new Set<number>(); // group indexes with a write in flight
  const retry: number[] = [];

  const regroup = (from: number): void => {
    groups = [];
    for (let i = from; i < events; ) {
      const n = 1 + pick(maxGroup);
      groups.push({ from: i, to: Math.min(events, i + n) });
      i += n;
    }
    next = 0;
    retry.length = 0;
    open.clear();
  };
  regroup(0);

  const request = (ids: number[], ackedBelow: number | undefined): Promise<boolean> => {
    const gen = receiverGen;
    const d = dedup;
    return d.take({ sender: 'agent-1:central', ackedBelow, ids }, queue.append(ids)).then(
      (dups) => {
        dupTotal += dups;
        // The 200 can be lost when the receiver dies right after the append (kill -9 before the answer).
        return gen === receiverGen && rnd() >= 0.1;
      },
      () => false,
    );
  };

  const write = async (g: number, faults: boolean): Promise<void> => {
    const gen = senderGen;
    const acked = ackedNow;
    const { from, to } = groups[g] as { from: number; to: number };
    const ids = stream.slice(from, to);
    const first = ids[0] as number;
    const late = acked.begin(first, ids[ids.length - 1] as number);
    assert.equal(late, false, 'groups are handed out in order');
    // A 413: the group goes as two halves, one after the other.
    const halves = faults && ids.length > 1 && rnd() < 0.3 ? [ids.slice(0, ids.length >> 1), ids.slice(ids.length >> 1)] : [ids];
    let ok = true;
    for (const h of halves) {
      if (!(await request(h, acked.current()))) {
        ok = false;
        break;
      }
      // A retried request (a timeout on the sender's side) arrives once more.
      if (faults && rnd() < 0.1) void request(h, acked.current());
    }
    if (gen !== senderGen) return; // the sender was killed meanwhile
    acked.end(first, ok);
    open.delete(g);
    if (ok) for (let i = from; i < to; i++) done[i] = 1;
    else retry.push(g);
  };

  const lowWater = (): number => {
    let i = 0;
    while (i < events && done[i] === 1) i++;
    return i;
  };

  const sendSome = (faults: boolean): void => {
    while (open.size < concurrency) {
      const g = retry.length > 0 ? retry.shift() : next < groups.length ? next++ : undefined;
      if (g === undefined) return;
      open.add(g);
      void write(g, faults);
    }
  };

  for (let step = 0; step < steps; step++) {
    sendSome(true);
    await tick();
    const r = rnd();
    if (r < 0.5) queue.commitOne();
    else if (r < 0.55) queue.refuse(pick(8));
    else if (r < 0.58) {
      // the receiver is killed: it restarts from what is durable
      queue.crash();
      receiverGen++;
      dedup = new Dedup('in', { maxSenders: 4, maxRanges: 64 });
      dedup.restore(queue.positions);
    } else if (r < 0.62) {
      // the sender is killed: it restarts from its persisted cursor, with other group boundaries
      senderGen++;
      ackedNow = new AckedBelow();
      done.fill(0, persisted);
      regroup(persisted);
    } else if (r < 0.72) persisted = Math.max(persisted, lowWater());
    for (let k = 0; k < 3; k++) await tick();
  }
  // Faults stop: everything gets through.
  for (let guard = 0; lowWater() < events || queue.inFlight > 0; guard++) {
    assert.ok(guard < 100_000, `seed ${seed}: no progress (${lowWater()}/${events} done)`);
    sendSome(false);
    await tick();
    queue.commitOne();
    await tick();
  }
  return { dup: dupTotal, counts: queue.counts(), stream };
};

test('dedup: any order, repetition and splitting of a sender\'s id ranges, with kill -9 of either end and refused appends, takes each id exactly once', async () => {
  let recognised = 0;
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 20, max: 400 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 4 }), async (seed, events, maxGroup, concurrency) => {
      const { dup, counts, stream } = await run(seed, events, maxGroup, concurrency, 150);
      recognised += dup;
      for (const id of stream) assert.equal(counts.get(id) ?? 0, 1, `seed ${seed}: id ${id} taken ${counts.get(id) ?? 0} times`);
      assert.equal(counts.size, stream.length, `seed ${seed}: ids that were never sent were taken`);
    }),
    { numRuns: 150 },
  );
  assert.ok(recognised > 0, 'replays were recognised (the property exercised deduplication)');
});

test('dedup: a request without a sender\'s ids appends its events; a request whose ids are all taken appends nothing and resolves', async () => {
  const q = new SimQueue();
  const d = new Dedup('in');
  const p = d.take({ sender: 'a:s', ackedBelow: undefined, ids: [10, 11, -1, 12] }, q.append([10, 11, -1, 12]));
  q.commitOne();
  assert.equal(await p, 0);
  const again = d.take({ sender: 'a:s', ackedBelow: undefined, ids: [12, 11, 10] }, q.append([12, 11, 10]));
  assert.equal(q.inFlight, 0, 'nothing appended');
  assert.equal(await again, 3);
  assert.equal(d.metrics().deduplicated, 3);
  const other = d.take({ sender: 'b:s', ackedBelow: undefined, ids: [10] }, q.append([10]));
  q.commitOne();
  assert.equal(await other, 0, 'another sender\'s ids are its own');
  assert.deepEqual(q.log, [[10, 11, -1, 12], [10]]);
});

test('dedup: past max_senders the least recently seen sender is forgotten (its replay is appended again, never lost), and its keys are cleared', async () => {
  const q = new SimQueue();
  const d = new Dedup('in', { maxSenders: 2, maxRanges: 8 });
  for (const s of ['a:x', 'b:x', 'c:x']) {
    const p = d.take({ sender: s, ackedBelow: undefined, ids: [1, 2] }, q.append([1, 2]));
    q.commitOne();
    await p;
  }
  assert.equal(d.metrics().dedupEvicted, 1);
  assert.equal(d.metrics().dedupSenders, 2);
  assert.ok(![...q.positions.keys()].some((k) => k.startsWith('in:dedup:a:x')), [...q.positions.keys()].join(' '));
  const replay = d.take({ sender: 'a:x', ackedBelow: undefined, ids: [1, 2] }, q.append([1, 2]));
  q.commitOne();
  assert.equal(await replay, 0, 'a forgotten sender is new again: at least once');
});

test('dedup: Sluice-Acked-Below lets the low-water mark pass ids a sender never sends, so its state stays one base and one range', async () => {
  const q = new SimQueue();
  const d = new Dedup('in');
  // Ids with gaps (other sources' records): each request takes its own range; the gaps never fill.
  for (let k = 0; k < 50; k++) {
    const ids = [k * 10, k * 10 + 1, k * 10 + 2];
    const p = d.take({ sender: 'a:x', ackedBelow: k * 10, ids }, q.append(ids));
    q.commitOne();
    await p;
  }
  const keys = [...q.positions.keys()];
  assert.equal(keys.length, 2, keys.join(' '));
  const base = decodeTaken(q.positions.get('in:dedup:a:x') as Uint8Array);
  assert.ok(base);
  assert.ok(base.floor >= 480 && base.set.size <= 1, `floor ${base.floor}, ${base.set.size} ranges`);
});

test('dedup: a Sluice-Acked-Below above the ids of its own request is cut to the smallest of them: ids never sent are not taken for replays', async () => {
  const q = new SimQueue();
  const d = new Dedup('in');
  const p = d.take({ sender: 'a:x', ackedBelow: 1_000_000, ids: [10, 11] }, q.append([10, 11]));
  q.commitOne();
  assert.equal(await p, 0);
  const later = d.take({ sender: 'a:x', ackedBelow: undefined, ids: [500] }, q.append([500]));
  q.commitOne();
  assert.equal(await later, 0, 'id 500 was never sent before: appended');
  assert.deepEqual(q.log, [[10, 11], [500]]);
});
