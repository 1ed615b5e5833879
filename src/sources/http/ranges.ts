/**
 * A set of non-negative integers (event ids) kept as sorted, disjoint, non-adjacent inclusive
 * ranges in one flat array (`lo0, hi0, lo1, hi1, …`), and its compact binary form.
 *
 * The http source's deduplication (`dedup.ts`) keeps one per sender: the ids taken above the
 * sender's low-water mark. A sender's ids mostly arrive as long consecutive runs, so the set is a
 * handful of ranges; lookups are binary searches, adding a run that extends the last range is O(1).
 *
 * Binary form (`encodeTaken`): version byte 1, then unsigned LEB128 varints: the low-water mark,
 * the number of ranges, and per range the gap from the previous range's end (`lo - prevHi - 1`,
 * the first one from the low-water mark) and its length (`hi - lo`). Ids up to 2^53 (varints do
 * arithmetic, not bit shifts): a range costs 2–4 bytes where ids are close together.
 */

export type Range = readonly [lo: number, hi: number];

export class RangeSet {
  private r: number[] = [];

  /** Number of ranges. */
  get size(): number {
    return this.r.length / 2;
  }

  isEmpty(): boolean {
    return this.r.length === 0;
  }

  ranges(): Range[] {
    const out: Range[] = [];
    for (let k = 0; k < this.r.length; k += 2) out.push([this.r[k] as number, this.r[k + 1] as number]);
    return out;
  }

  /** Lowest id in the set (NaN when empty). */
  min(): number {
    return this.r.length === 0 ? NaN : (this.r[0] as number);
  }

  /** Index (in ranges) of the first range whose end is >= `id`; `size` if none. */
  private firstEndingAtOrAfter(id: number): number {
    let lo = 0;
    let hi = this.r.length / 2;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.r[2 * mid + 1] as number) < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(id: number): boolean {
    const k = this.firstEndingAtOrAfter(id);
    return k < this.r.length / 2 && (this.r[2 * k] as number) <= id;
  }

  /** Adds `[lo, hi]` (inclusive), merging with overlapping and adjacent ranges. */
  add(lo: number, hi: number): void {
    const n = this.r.length;
    // The common case: the run continues (or follows) the last range.
    if (n === 0 || lo > (this.r[n - 1] as number) + 1) {
      this.r.push(lo, hi);
      return;
    }
    if (lo >= (this.r[n - 2] as number) && lo <= (this.r[n - 1] as number) + 1) {
      if (hi > (this.r[n - 1] as number)) this.r[n - 1] = hi;
      return;
    }
    const i = this.firstEndingAtOrAfter(lo - 1);
    let j = i;
    while (j < n / 2 && (this.r[2 * j] as number) <= hi + 1) j++;
    if (i === j) {
      this.r.splice(2 * i, 0, lo, hi);
      return;
    }
    const newLo = Math.min(lo, this.r[2 * i] as number);
    const newHi = Math.max(hi, this.r[2 * j - 1] as number);
    this.r.splice(2 * i, 2 * (j - i), newLo, newHi);
  }

  addAll(other: RangeSet): void {
    for (let k = 0; k < other.r.length; k += 2) this.add(other.r[k] as number, other.r[k + 1] as number);
  }

  /** Forgets every id below `floor`. */
  dropBelow(floor: number): void {
    const k = this.firstEndingAtOrAfter(floor);
    if (k > 0) this.r.splice(0, 2 * k);
    if (this.r.length > 0 && (this.r[0] as number) < floor) this.r[0] = floor;
  }

  /** Forgets the `n` lowest ranges. */
  dropLowest(n: number): void {
    this.r.splice(0, 2 * n);
  }
}

// ---- binary form ----------------------------------------------------------------------------

const VERSION = 1;

const varintSize = (v: number): number => {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
};

const writeVarint = (buf: Uint8Array, at: number, v: number): number => {
  while (v >= 128) {
    buf[at++] = (v % 128) + 128;
    v = Math.floor(v / 128);
  }
  buf[at++] = v;
  return at;
};

/** The taken state of one sender: everything below `floor`, and `set` (all of it >= `floor`). */
export const encodeTaken = (floor: number, set: RangeSet): Uint8Array => {
  const rs = set.ranges();
  if (rs.length > 0 && (rs[0] as Range)[0] < floor) throw new RangeError(`taken ids below the floor ${floor}`);
  let size = 1 + varintSize(floor) + varintSize(rs.length);
  let prev = floor - 1;
  for (const [lo, hi] of rs) {
    size += varintSize(lo - prev - 1) + varintSize(hi - lo);
    prev = hi;
  }
  const out = new Uint8Array(size);
  out[0] = VERSION;
  let at = writeVarint(out, 1, floor);
  at = writeVarint(out, at, rs.length);
  prev = floor - 1;
  for (const [lo, hi] of rs) {
    at = writeVarint(out, at, lo - prev - 1);
    at = writeVarint(out, at, hi - lo);
    prev = hi;
  }
  return out;
};

/** The inverse of `encodeTaken`; `undefined` when the bytes are not one (a newer version, damage). */
export const decodeTaken = (buf: Uint8Array): { floor: number; set: RangeSet } | undefined => {
  if (buf.length < 3 || buf[0] !== VERSION) return undefined;
  let at = 1;
  const read = (): number | undefined => {
    let v = 0;
    let mul = 1;
    for (;;) {
      if (at >= buf.length || mul > 2 ** 56) return undefined;
      const b = buf[at++] as number;
      v += (b % 128) * mul;
      if (b < 128) return Number.isSafeInteger(v) ? v : undefined;
      mul *= 128;
    }
  };
  const floor = read();
  const count = read();
  if (floor === undefined || count === undefined) return undefined;
  const set = new RangeSet();
  let prev = floor - 1;
  for (let i = 0; i < count; i++) {
    const gap = read();
    const len = read();
    if (gap === undefined || len === undefined) return undefined;
    const lo = prev + 1 + gap;
    const hi = lo + len;
    if (!Number.isSafeInteger(hi)) return undefined;
    set.add(lo, hi);
    prev = hi;
  }
  return at === buf.length ? { floor, set } : undefined;
};
