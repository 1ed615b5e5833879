/**
 * What the http sink tells a sluice receiver in `Sluice-Acked-Below: W`: every event id below W that
 * this sink will ever send again (in this run or after any restart), the receiver has already taken.
 * It lets the receiver's low-water mark pass over the ids this sink never sends (records of other
 * sources, markers), so its per-sender state stays a few ranges (`src/sources/http/dedup.ts`).
 *
 * Why it holds: the runner hands this sink groups in the order it reads its queue cursor, and
 * retries a group whole until it is delivered or rejected; a restart resumes from the persisted
 * cursor, which never passes a group that is not done. So, with the groups *open* (handed to
 * `write` and not yet delivered or rejected):
 *
 *   W = the lowest first id of an open group, or, when none is open, 1 + the highest last id of a
 *       finished one (nothing announced before the first group of this run).
 *
 * Every id below W is in a finished group (delivered: the receiver answered 2xx, so it is durable
 * there; rejected: refused again whenever it is replayed, and kept in the dead-letter store), in no
 * group of this sink, or below where this run started (done in an earlier run).
 *
 * One case breaks the order: a group whose write starts after a later group's (the runner first
 * dead-letters an undecodable record of it). Such a *late* group — its first id below a W already
 * announced — is sent without `Sluice-Sender`, so the receiver appends it as from any client: at
 * least once for that group, never a loss.
 */

interface Group {
  readonly last: number;
  readonly late: boolean;
}

export class AckedBelow {
  private readonly open = new Map<number, Group>();
  private finishedTop = -1;
  private announced = 0;

  /** A write of the group `[first, last]` starts (a retry of an open group is the same group). Returns whether it is late. */
  begin(first: number, last: number): boolean {
    let g = this.open.get(first);
    if (g === undefined) {
      g = { last, late: first < this.announced };
      this.open.set(first, g);
    }
    return g.late;
  }

  /** The write ended: delivered or rejected (`done`), or errored (the runner retries it, or replays it after a restart). */
  end(first: number, done: boolean): void {
    if (!done) return;
    const g = this.open.get(first);
    if (g === undefined) return;
    this.open.delete(first);
    if (g.last > this.finishedTop) this.finishedTop = g.last;
  }

  /** W for a request sent now; undefined before anything can be said. */
  current(): number | undefined {
    let w = Infinity;
    for (const first of this.open.keys()) if (first < w) w = first;
    if (w === Infinity) w = this.finishedTop + 1;
    if (w <= 0) return undefined;
    if (w > this.announced) this.announced = w;
    return w;
  }
}
