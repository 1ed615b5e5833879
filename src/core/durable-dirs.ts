/**
 * Directory durability: a created file or directory exists after a power loss only once its
 * parent directory was fsynced (the `FileSystem` contract, `./ports.ts`). Every component that
 * creates a directory or file it will acknowledge data in goes through these.
 */
import { dirname, resolve } from 'node:path';
import type { FileSystem } from './ports';

/**
 * Directories this process created whose parent's fsync has not succeeded yet, per file system: a
 * call that failed there (EIO from `syncDir`) leaves them owed, and the next call on the same file
 * system (which finds them existing) makes them durable before it resolves. Without this a retry
 * would see the directory, skip the fsync, and acknowledge data in a directory a power loss can
 * still take away. (A process that dies in between cannot know: its successor finds the directory
 * and trusts it.)
 */
const owed = new WeakMap<FileSystem, Set<string>>();

const depth = (p: string): number => p.split('/').length;

/**
 * Creates `dir` and its missing parents and makes each new entry durable (an fsync of every
 * created directory's parent) before it resolves. Costs one `stat` when `dir` already exists and
 * nothing is owed from an earlier failed call.
 */
export const mkdirpDurable = async (fs: FileSystem, dir: string): Promise<void> => {
  const missing: string[] = [];
  for (let d = resolve(dir); (await fs.stat(d)) === null; d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  if (missing.length > 0) await fs.mkdirp(dir);
  let pending = owed.get(fs);
  if (missing.length === 0 && pending === undefined) return;
  if (pending === undefined) owed.set(fs, (pending = new Set()));
  for (const d of missing) pending.add(d);
  // Parents first: an entry is reachable after a crash only when every directory above it is.
  for (const d of [...pending].sort((a, b) => depth(a) - depth(b))) {
    await fs.syncDir(dirname(d));
    pending.delete(d);
  }
  if (pending.size === 0) owed.delete(fs);
};
