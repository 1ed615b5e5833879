/**
 * Problems with one path (unreadable, vanished, a directory, a listing that failed) are reported
 * once, not at every scan: again only when the problem changes, or comes back after the path was
 * fine or out of sight.
 */
import type { Diagnostics } from '../../core/source';

export class Warnings {
  /** path -> code of the last warning */
  private readonly last = new Map<string, string>();

  constructor(
    private readonly log: Diagnostics,
    private readonly sourceId: string,
  ) {}

  once(path: string, code: string, msg: string): void {
    if (this.last.get(path) === code) return;
    this.last.set(path, code);
    this.log.warn(msg, { source: this.sourceId, path, code });
  }

  /** The path is fine again. */
  clear(path: string): void {
    this.last.delete(path);
  }

  /** Forgets the paths a scan did not see (a problem with them is new when they come back). */
  keepOnly(seen: ReadonlySet<string>): void {
    for (const p of [...this.last.keys()]) if (!seen.has(p)) this.last.delete(p);
  }
}
