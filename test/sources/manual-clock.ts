/**
 * A clock the test moves by hand: `now()` and `wall()` stand still until `advance()`, which fires
 * the timers that came due. For proving that a source's deadlines follow the injected clock.
 */
import type { Clock, Timer } from '../../src/core/ports';

export class ManualClock implements Clock {
  private t = 0;
  private wallOffset = Date.UTC(2026, 0, 1);
  private readonly timers = new Set<{ at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  wall(): number {
    return this.wallOffset + this.t;
  }

  setTimer(ms: number, fn: () => void): Timer {
    const timer = { at: this.t + ms, fn };
    this.timers.add(timer);
    return { cancel: () => this.timers.delete(timer) };
  }

  /** Timers waiting. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves monotonic (and wall) time forward and fires the timers now due. */
  advance(ms: number): void {
    this.t += ms;
    for (const timer of [...this.timers]) {
      if (timer.at > this.t) continue;
      this.timers.delete(timer);
      timer.fn();
    }
  }

  /** Steps the wall clock alone (NTP, a VM resumed): monotonic time does not move. */
  stepWall(ms: number): void {
    this.wallOffset += ms;
  }
}
