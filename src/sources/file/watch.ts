/**
 * Change notification for the file source: inotify (through `fs.watch`) on the directories that
 * hold the files being tailed and on the literal directories of the patterns, so a line written to
 * a tailed file is read at once instead of at the next poll (50–250 ms later), and a file created
 * or renamed into a watched directory is looked at by a scan soon after, not at the next
 * `glob_interval_ms`.
 *
 * Watching only hurries things up: it never decides anything. A notification makes a tailer due
 * for a read now (`Tailer.poke`) or asks for an early scan; what is read, what a rotation or a
 * truncation means, and when a file is let go are decided exactly as with polling, which keeps
 * running underneath (the backstop for what inotify does not report: network file systems,
 * overlays, a watch limit reached, directories matched through wildcards).
 *
 * Directories, not files, are watched: one watch per directory however many files it holds, it
 * survives the rotation of the files in it, and a directory watch reports both the writes to the
 * files in it and the creation, rename and deletion of names.
 */
import { watch } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * A directory's change feed: `name` is the entry that changed (null: unknown, look at everything);
 * `renamed` when a name came or went (created, renamed, deleted), not only its contents changed.
 */
export type WatchDir = (dir: string, onChange: (name: string | null, renamed: boolean) => void, onError: () => void) => { close(): void };

/** `fs.watch` on a directory; throws when it cannot be watched (ENOENT, the inotify watch limit). */
export const nodeWatchDir: WatchDir = (dir, onChange, onError) => {
  // Not persistent: the source's own poll timer is what keeps a tailing process alive.
  const w = watch(dir, { persistent: false }, (event, name) =>
    onChange(typeof name === 'string' && name.length > 0 ? name : null, event === 'rename'),
  );
  w.on('error', onError);
  return { close: () => w.close() };
};

/** A glob pattern's directory, when it has no wildcard (then a watch on it sees every new match). */
export function literalDir(pattern: string): string | null {
  const dir = dirname(pattern);
  return /[*?[\]{}\\]/.test(dir) ? null : dir;
}

/**
 * The set of watched directories, kept equal to what the source asks for (`keep`), and the
 * notifications turned into calls on the source: `changed(path)` for a name in a watched directory.
 */
export class DirWatches {
  private readonly open = new Map<string, { close(): void }>();

  constructor(
    private readonly watchDir: WatchDir,
    private readonly changed: (path: string | null, renamed: boolean) => void,
  ) {}

  /** Watches exactly the directories in `dirs` (opens the new ones, closes the others). */
  keep(dirs: ReadonlySet<string>): void {
    for (const [dir, w] of this.open) {
      if (dirs.has(dir)) continue;
      w.close();
      this.open.delete(dir);
    }
    for (const dir of dirs) {
      if (this.open.has(dir)) continue;
      try {
        const w = this.watchDir(
          dir,
          (name, renamed) => this.changed(name === null ? null : join(dir, name), renamed),
          () => this.drop(dir),
        );
        this.open.set(dir, w);
      } catch {
        // Missing, not a directory, or no inotify watch left: polling covers it; tried again at
        // the next `keep` (after the next scan).
      }
    }
  }

  /** Number of directories watched now. */
  get size(): number {
    return this.open.size;
  }

  closeAll(): void {
    for (const w of this.open.values()) w.close();
    this.open.clear();
  }

  /** A watch that failed (its directory deleted): closed; the next `keep` may open it again. */
  private drop(dir: string): void {
    const w = this.open.get(dir);
    if (w === undefined) return;
    w.close();
    this.open.delete(dir);
    // Anything may have happened in there: let the source look.
    this.changed(null, true);
  }
}
