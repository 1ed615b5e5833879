/**
 * Ports: everything a component does with files, time and randomness goes through these small
 * interfaces, so the queue runs unchanged on the real disk (`./node-ports.ts`) and on a simulated
 * disk in tests (`test/queue/sim-fs.ts`) that can crash at any step, lose unsynced writes, tear the
 * last write and forget directory entries that were never synced; and so the sink runner's backoff
 * and the sources' deadlines can be driven by a test clock and a seeded random source.
 *
 * The semantics each method promises are the ones a POSIX file system gives, and the simulation
 * must honour exactly these (no more durability than Linux gives, no less):
 *
 * - `FileHandle.writev` appends at the current end of the file (files are opened for append or
 *   written sequentially from offset 0). Returned data is visible to reads at once, but is durable
 *   only after `datasync()` on that handle returns.
 * - `datasync()` makes the file's data and size durable. It does NOT make the file's directory entry
 *   durable: a file created (or renamed, or unlinked) since the last `syncDir()` of its directory
 *   may be absent (or present under its old name) after a crash.
 * - `rename` is atomic: after a crash, exactly one of the old or the new name exists (both if the
 *   directory was never synced and the target did not exist before: the old one remains).
 * - After a crash, an unsynced append may be missing entirely or cut at any byte (torn write); bytes
 *   that were never written never appear (no garbage beyond what was written; a real disk may write
 *   zeros in a torn sector, and a sim may model that too: readers must tolerate it).
 * - `writeAt` overwrites in place (pwrite). Until `datasync()` returns, a crash may leave the old
 *   bytes, the new ones, or a prefix of the new ones followed by the old ones (a prefix tear), so a
 *   record that must survive a torn overwrite needs a second copy elsewhere in the file (the queue's
 *   cursor files keep two slots in separate sectors). Overwriting bytes the file already has needs
 *   no new space (on file systems that do not copy on write: ext4, xfs, tmpfs).
 * - A full disk (`ENOSPC`, or `EDQUOT` for a quota): a write needing blocks that are not free writes
 *   what fits and rejects (Linux: a short write, then ENOSPC on the rest), so a prefix of the
 *   buffers may be in the file; `truncate` back to the old size removes it. Creating an empty file
 *   needs an inode, not data space. A `datasync()` error is never "the disk is full, retry": the
 *   kernel may have dropped the dirty pages (fsyncgate), so it is an I/O failure.
 */

export interface FileStat {
  readonly size: number;
  /**
   * Device and inode, where the file system has them (the real one does): a path and a handle name
   * the same file exactly when both are equal.
   */
  readonly dev?: number;
  readonly ino?: number;
  /** Last modification, ms since the epoch, where the file system keeps it (the real one does). */
  readonly mtimeMs?: number;
}

export interface FileHandle {
  /** Write all buffers at the end of the file as one write (writev). Resolves when the OS has them. */
  writev(buffers: readonly Uint8Array[]): Promise<void>;
  /** Read up to `length` bytes at `position` into `buffer` at `offset`; resolves to bytes read (0 at EOF). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** fdatasync: the data and size of this file are durable when this resolves. */
  datasync(): Promise<void>;
  /**
   * Write `data` at `position` (pwrite; the handle must be opened `update` or `truncate`), extending
   * the file if it ends before. Visible at once, durable after datasync; see the contract above.
   */
  writeAt(data: Uint8Array, position: number): Promise<void>;
  /** Cut the file to `length` bytes (used by recovery to drop a torn tail); durable after datasync. */
  truncate(length: number): Promise<void>;
  stat(): Promise<FileStat>;
  close(): Promise<void>;
}

export type OpenMode =
  /** read only; the file must exist */
  | 'read'
  /** read + append; created if missing */
  | 'append'
  /** write from offset 0; created, or truncated if it exists */
  | 'truncate'
  /** write from offset 0; fails with code EEXIST if it exists */
  | 'exclusive'
  /** read + write in place (`writeAt`); the file must exist (ENOENT), nothing is truncated */
  | 'update';

export interface FileSystem {
  open(path: string, mode: OpenMode): Promise<FileHandle>;
  /** Names (not paths) of the entries in `dir`, in no particular order. Rejects with ENOENT if missing. */
  readdir(dir: string): Promise<string[]>;
  /**
   * Create `dir` and its parents if missing. Like any new entry, a created directory survives a
   * crash only after its parent's `syncDir` (`mkdirpDurable` in `./durable-dirs.ts` does both).
   */
  mkdirp(dir: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** `null` when the path does not exist. */
  stat(path: string): Promise<FileStat | null>;
  /** fsync the directory itself: makes creations, renames and unlinks in it durable. */
  syncDir(dir: string): Promise<void>;
  /** Whether a process with this pid is alive (for stale lock files). The sim says false after a crash. */
  processAlive(pid: number): boolean;
  /**
   * Who the live process `pid` is, as a token no other process with that pid shares (Linux: the
   * boot id and the process's start time, from /proc), or null when no process has that pid or the
   * platform cannot tell. A lock file records its writer's token, so a lock naming a pid that a new,
   * unrelated process got since (a container restart) is known to be stale.
   */
  processStart?(pid: number): string | null;
  /**
   * When the live process `pid` started, in ms since the epoch, never later than it really did
   * (Linux: the boot time in whole seconds plus the start time in clock ticks), or null when no
   * process has that pid or the platform cannot tell. A lock file in the old format (a pid, no
   * start token) whose pid belongs to a process started after the file was last written is not
   * that process's lock.
   */
  processStartMs?(pid: number): number | null;
  /** The pid of this process (the sim gives each "boot" its own). */
  readonly pid: number;
}

/** Errors from a FileSystem carry a Node-style `code` (ENOENT, EEXIST, ENOSPC, EIO …). */
export interface FsError extends Error {
  code: string;
}

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds, monotonic: for deadlines and durations (a wall-clock step never moves it). */
  now(): number;
  /** Milliseconds since the Unix epoch: for timestamps only (ingest time, log lines), never deadlines. */
  wall(): number;
  /**
   * Run `fn` after `ms`; the returned timer does not keep the process alive (unref'd) unless
   * `opts.keepAlive` is true (used while an append waits for an `interval` fsync, so a process
   * awaiting that append does not exit under it). A simulated clock may ignore `opts`.
   */
  setTimer(ms: number, fn: () => void, opts?: { readonly keepAlive?: boolean }): Timer;
}

/** A source of randomness (retry jitter). Tests pass a seeded one so a run repeats exactly. */
export interface Random {
  /** A number in [0, 1). */
  next(): number;
}

// --- the read side, for sources ------------------------------------------------------------------

/**
 * What a file source does with the file system: look at files (by path and by open handle), open
 * them for reading, read at a position, and list directories with the entries' types (for globs).
 * Separate from `FileSystem` (the queue's: append, sync, rename), because the two have nothing in
 * common but `open` and a size: a source never writes, and the queue never needs an inode.
 * Errors carry a Node-style `code` (`FsError`: ENOENT, EACCES, ENOTDIR, EMFILE …).
 */
export type ReadEntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface ReadStat {
  /** Device and inode: the file's identity while it is held open (an inode is not reused meanwhile). */
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  /** What the path names, symlinks followed (so never `'symlink'`). */
  readonly type: ReadEntryType;
}

export interface ReadDirEntry {
  readonly name: string;
  /** The entry itself, not followed (a symlink is `'symlink'`). */
  readonly type: ReadEntryType;
}

export interface ReadFileHandle {
  /** Read up to `length` bytes at `position` into `buffer` at `offset`; resolves to bytes read (0 at EOF). */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  stat(): Promise<ReadStat>;
  close(): Promise<void>;
}

export interface ReadFileSystem {
  /** Opens an existing file read-only. */
  openRead(path: string): Promise<ReadFileHandle>;
  /** Follows symlinks; rejects (ENOENT, ENOTDIR, EACCES …) when the path cannot be looked at. */
  stat(path: string): Promise<ReadStat>;
  /** The entries of `dir` with their types, in no particular order. Rejects with ENOENT if missing. */
  readdirTyped(dir: string): Promise<ReadDirEntry[]>;
}
