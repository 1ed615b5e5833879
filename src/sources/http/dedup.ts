/**
 * Exactly once from a sluice http sink (an edge agent) into this http source (a central agent):
 * each sender's event ids, remembered durably in the same queue record as the events.
 *
 * A **sender** is one sink of one agent: `<agent id>:<sink id>`, sent by the http sink in the
 * `Sluice-Sender` header (only with `encoding: json`, the body then carries every event's
 * `event_id`). A request without the header is appended as it is, as from any other client.
 *
 * **Event ids** are the edge's queue record id + line index: never reused, increasing in the order
 * the edge's sink reads its queue — but not dense: the ids of records the sink does not read (other
 * sources, markers) are never sent. And with `request.concurrency > 1` requests arrive out of
 * order; a replay after a crash may cut the same events into other requests (other groups, 413
 * halves). So the state is per event id, not per request:
 *
 *   floor   every id below it is taken (or will never be sent again)
 *   taken   the ranges of ids >= floor that are durable here (`RangeSet`)
 *   pending ranges reserved by requests whose append is not durable yet
 *
 * The floor cannot rise by itself over the ids a sender never sends; the sender says how far it
 * may: `Sluice-Acked-Below: W` means "every id below W that I will ever send you again, you have
 * taken" (the sink computes W from its own groups, `src/sinks/http/acked-below.ts`). So `taken`
 * holds only the few ranges of the sender's in-flight window.
 *
 * A request's events are classified one by one: an id below the floor, taken, or twice in the same
 * body is a duplicate; an id reserved by another request in flight waits for that request (and is
 * taken over by this one if that append fails); the rest are reserved and appended — with the
 * positions that make them taken in the same record. The request resolves (the client gets its 200)
 * once every one of its ids is durable here, whoever appended it. Events without an id are appended.
 *
 * **Positions** (the queue keeps the last value of each key, in record order; `src/core/records.ts`):
 *
 *   `<source>:dedup:<sender>`        base: floor + taken as durable when the record was emitted
 *   `<source>:dedup:<sender>#<id>`   one per append: the ranges that record itself takes
 *
 * A record carries its own delta key, the sender's base, and `null` for the delta keys already
 * folded into that base, so after any crash `base ∪ remaining deltas` is exactly what is durable:
 * a record that never became durable (a crash, an append refused) adds nothing, and one record's
 * base never hides another's ranges. Start-up reads them back from `ctx.positions`.
 *
 * **Bounds**: `maxRanges` ranges per sender (past it the lowest ranges are forgotten: a replay of
 * those ids would be appended again — a duplicate, never a loss; counted in `trimmed`) and
 * `maxSenders` senders (past it the least recently seen sender without requests in flight is
 * forgotten, counted in `evicted`: an agent whose data_dir was wiped comes back as a new sender).
 */
import type { SourcePosition } from '../../core/records';
import { decodeTaken, encodeTaken, RangeSet } from './ranges';

export const DEFAULT_MAX_SENDERS = 1024;
export const DEFAULT_MAX_RANGES = 256;

/** A sender name: an agent id (UUID) and a sink id, `:`-separated; no `#` (it ends a position key). */
export const SENDER_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$/;

export interface DedupMetrics {
  /** Events recognised as already taken (a replay): answered 200, not appended again. */
  deduplicated: number;
  /** Senders remembered now. */
  dedupSenders: number;
  /** Senders forgotten at the `maxSenders` bound. */
  dedupEvicted: number;
  /** Ranges forgotten at the `maxRanges` bound (their replay would be appended again). */
  dedupTrimmed: number;
}

/** One request's events as the sender identified them. */
export interface Identified {
  readonly sender: string;
  /** See `Sluice-Acked-Below`; undefined when absent. */
  readonly ackedBelow: number | undefined;
  /** Per event (line) of the body: its event id, or -1 when it has none. */
  readonly ids: readonly number[];
}

/**
 * Appends the events whose `keep[i]` is 1 (all of them when `keep` is null), `count` of them, with
 * `positions` in the same record; resolves once durable.
 */
export type Append = (keep: Uint8Array | null, count: number, positions: readonly SourcePosition[]) => Promise<void>;

interface Reservation {
  readonly key: string;
  readonly ranges: RangeSet;
  readonly done: Promise<boolean>;
}

interface Sender {
  readonly name: string;
  floor: number;
  readonly taken: RangeSet;
  readonly pending: Set<Reservation>;
  /** Delta keys still in the queue's positions whose ranges are in `taken`. */
  readonly unfolded: Set<string>;
  lastSeen: number;
}

export class Dedup {
  private readonly senders = new Map<string, Sender>();
  /** Keys of forgotten senders, nulled with the next record (until one carrying them is durable). */
  private readonly forget = new Set<string>();
  private tick = 0;
  private readonly m: DedupMetrics = { deduplicated: 0, dedupSenders: 0, dedupEvicted: 0, dedupTrimmed: 0 };
  private readonly prefix: string;

  constructor(
    sourceId: string,
    private readonly limits: { readonly maxSenders: number; readonly maxRanges: number } = { maxSenders: DEFAULT_MAX_SENDERS, maxRanges: DEFAULT_MAX_RANGES },
  ) {
    this.prefix = `${sourceId}:dedup:`;
  }

  metrics(): Readonly<DedupMetrics> {
    return { ...this.m, dedupSenders: this.senders.size };
  }

  /** The state as durable in the queue (`ctx.positions` at start). Unreadable values are skipped: those ids may be taken twice. */
  restore(positions: ReadonlyMap<string, Uint8Array>): void {
    for (const [key, value] of positions) {
      if (!key.startsWith(this.prefix)) continue;
      const rest = key.slice(this.prefix.length);
      const hash = rest.lastIndexOf('#');
      const name = hash === -1 ? rest : rest.slice(0, hash);
      if (!SENDER_PATTERN.test(name)) continue;
      const t = decodeTaken(value);
      if (t === undefined) continue;
      const s = this.senderState(name, false);
      if (hash === -1) s.floor = Math.max(s.floor, t.floor);
      else s.unfolded.add(key);
      s.taken.addAll(t.set);
    }
    for (const s of this.senders.values()) {
      s.taken.dropBelow(s.floor);
      this.trim(s);
    }
  }

  /**
   * Takes one request's events: appends those not taken before and resolves when every event of
   * the request is durable. Resolves to the number of duplicates; rejects when its own append does.
   */
  async take(req: Identified, append: Append): Promise<number> {
    const n = req.ids.length;
    const mine = new Uint8Array(n); // 1: appended (durably) by this request
    let appended = 0;
    // A sluice sink's W is never above the ids of the request that carries it (W is at most the first
    // id of the group in flight): a larger one is a client's mistake, and is cut to the smallest id.
    let ackedBelow = req.ackedBelow;
    if (ackedBelow !== undefined) for (const id of req.ids) if (id >= 0 && id < ackedBelow) ackedBelow = id;
    for (;;) {
      const s = this.senderState(req.sender, true);
      s.lastSeen = ++this.tick;
      if (ackedBelow !== undefined && ackedBelow > s.floor) {
        s.floor = ackedBelow;
        s.taken.dropBelow(s.floor);
      }
      const keep = new Uint8Array(n);
      let count = 0;
      const reserve = new RangeSet();
      const seen = new RangeSet();
      const waits = new Set<Reservation>();
      for (let i = 0; i < n; i++) {
        if (mine[i] === 1) continue;
        const id = req.ids[i] as number;
        if (id < 0) {
          keep[i] = 1;
          count++;
          continue;
        }
        if (id < s.floor || s.taken.has(id) || seen.has(id)) continue;
        seen.add(id, id);
        const holder = pendingHolding(s, id);
        if (holder !== undefined) {
          waits.add(holder);
          continue;
        }
        keep[i] = 1;
        count++;
        reserve.add(id, id);
      }
      let own: Promise<boolean> = Promise.resolve(true);
      if (count > 0) own = this.appendReserved(s, keep, count, reserve, append);
      const [ok, ...others] = await Promise.all([own, ...[...waits].map((r) => r.done)]);
      if (ok === true) {
        for (let i = 0; i < n; i++) if (keep[i] === 1) mine[i] = 1;
        appended += count;
      }
      if (others.every((d) => d)) break;
      // A request we waited for failed: its ids are free again; take them over.
    }
    const duplicates = n - appended;
    this.m.deduplicated += duplicates;
    return duplicates;
  }

  private appendReserved(s: Sender, keep: Uint8Array, count: number, reserve: RangeSet, append: Append): Promise<boolean> {
    let positions: SourcePosition[] = [];
    let settle: (ok: boolean) => void = () => undefined;
    let r: Reservation | undefined;
    const nulled = [...s.unfolded];
    const forgotten = [...this.forget];
    if (!reserve.isEmpty()) {
      r = { key: `${this.prefix}${s.name}#${reserve.min()}`, ranges: reserve, done: new Promise<boolean>((res) => (settle = res)) };
      s.pending.add(r);
      positions = [
        { key: r.key, value: encodeTaken(0, reserve) },
        { key: this.prefix + s.name, value: encodeTaken(s.floor, s.taken) },
        ...nulled.map((key) => ({ key, value: null })),
        ...forgotten.map((key) => ({ key, value: null })),
      ];
    }
    const res = r;
    return append(count === keep.length ? null : keep, count, positions).then(
      () => {
        if (res !== undefined) {
          s.pending.delete(res);
          s.taken.addAll(res.ranges);
          s.taken.dropBelow(s.floor);
          for (const k of nulled) s.unfolded.delete(k);
          s.unfolded.add(res.key);
          for (const k of forgotten) this.forget.delete(k);
          this.trim(s);
        }
        settle(true);
        return true;
      },
      (e: unknown) => {
        if (res !== undefined) s.pending.delete(res);
        settle(false);
        throw e;
      },
    );
  }

  private senderState(name: string, evict: boolean): Sender {
    let s = this.senders.get(name);
    if (s !== undefined) return s;
    if (evict && this.senders.size >= this.limits.maxSenders) this.evictOne();
    s = { name, floor: 0, taken: new RangeSet(), pending: new Set(), unfolded: new Set(), lastSeen: ++this.tick };
    this.senders.set(name, s);
    return s;
  }

  /** Forgets the least recently seen sender with nothing in flight (its keys are nulled with the next record). */
  private evictOne(): void {
    let victim: Sender | undefined;
    for (const s of this.senders.values()) if (s.pending.size === 0 && (victim === undefined || s.lastSeen < victim.lastSeen)) victim = s;
    if (victim === undefined) return;
    this.senders.delete(victim.name);
    this.forget.add(this.prefix + victim.name);
    for (const k of victim.unfolded) this.forget.add(k);
    this.m.dedupEvicted++;
  }

  private trim(s: Sender): void {
    const over = s.taken.size - this.limits.maxRanges;
    if (over > 0) {
      s.taken.dropLowest(over);
      this.m.dedupTrimmed += over;
    }
  }
}

const pendingHolding = (s: Sender, id: number): Reservation | undefined => {
  for (const r of s.pending) if (r.ranges.has(id)) return r;
  return undefined;
};
