/**
 * Directory durability: a created file or directory exists after a power loss only once its
 * parent directory was fsynced (the `FileSystem` contract, `./ports.ts`). Every component that
 * creates a directory or file it will acknowledge data in goes through these.
 */
import { dirname, resolve } from 'node:path';
import type { FileSystem } from './ports';

/**
 * Creates `dir` and its missing parents and makes each new entry durable (an fsync of every
 * created directory's parent) before it resolves. Costs one `stat` when `dir` already exists.
 */
export const mkdirpDurable = async (fs: FileSystem, dir: string): Promise<void> => {
  const missing: string[] = [];
  for (let d = resolve(dir); (await fs.stat(d)) === null; d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  if (missing.length === 0) return;
  await fs.mkdirp(dir);
  // Parents first: an entry is reachable after a crash only when every directory above it is.
  for (let i = missing.length - 1; i >= 0; i--) await fs.syncDir(dirname(missing[i] as string));
};
