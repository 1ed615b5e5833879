/**
 * A simulated disk for the queue's tests: an in-memory `FileSystem` that models what a real disk
 * plus the Linux page cache keep and lose on power loss, and a virtual `Clock` that only moves when
 * the test drives it. Both are seeded, so the same seed replays the same run byte for byte.
 *
 * The model (it honours exactly the semantics written in `src/core/ports.ts`, no more, no less):
 *
 * - Files are inodes. Each has a volatile content (what reads see: every write, at once) and a
 *   durable content (what `datasync()` last made durable). Internally the durable content is the
 *   first `stable` bytes of the volatile content plus `durTail`, the durable bytes that a later
 *   truncate cut off; appends never touch the stable prefix, so `datasync` costs no copy.
 * - Directories have a volatile entry map (what `readdir`/`open` see) and a durable entry map, plus
 *   the log of entry changes since the last `syncDir`. Create, rename and unlink are entries in that
 *   log; a rename is one atomic entry. `syncDir` makes the volatile map durable.
 * - `crash()` (power loss): every handle and every view of the old boot becomes dead (later calls
 *   reject with `EIO` and `simCrashed: true`). Each directory keeps its durable map plus a random
 *   prefix of its change log (a journaling file system commits metadata in order, and may have
 *   committed more than was asked). Each file keeps its durable content, or its whole volatile
 *   content, or the stable prefix plus a random part of the unsynced suffix (a torn write),
 *   optionally with the end of that part zero-filled (the size reached the disk, the data did not).
 *   Bytes that were never written never appear. `crash({ kind: 'process' })` models `kill -9`
 *   instead: the page cache survives as it is (all writes visible, unsynced ones still not durable).
 * - After a crash, `reboot()` gives a new view with a new pid; `processAlive(oldPid)` is false.
 * - Every async operation is a numbered step. `crashAt(n)` crashes in the middle of step n (a
 *   `writev` lands a random prefix of its bytes first). Faults: each step may fail with `EIO`, and
 *   writes/creates with `ENOSPC`, with a given probability, or as a `rule` picks; a failed `writev`
 *   may have written a prefix of its bytes, as a real short write does.
 * - Operations resolve asynchronously after a seeded number of microtask yields, or of virtual
 *   milliseconds when a `SimClock` is attached (`timedSteps` of them), so concurrent operations
 *   interleave differently per seed but identically for one seed. `readdir` lists in a seeded
 *   random order, as a real directory lists in hash order.
 *
 * - Free space (`capacity`): file data is counted in whole blocks, for every file with an entry or
 *   an open handle; a write that needs more lands what fits and rejects with ENOSPC. `writeAt`
 *   overwrites in place (a torn overwrite keeps new bytes up to a point, old ones after it).
 *
 * - Out-of-order writeback (`outOfOrder`, off by default): a power loss may treat a file page by
 *   page, each changed page new or old, the size new, old or in between: a later page on disk while
 *   an earlier one is not.
 * - Identity and the read side: `stat` gives dev, inode (never reused) and an mtime (a per-disk
 *   counter); `readView()` is the `ReadFileSystem` a file source reads through, its calls steps of
 *   this process. `appendDurable`/`renameDurable` are another process (an application, logrotate).
 *
 * Not modelled: cross-directory rename atomicity (it is logged as two entry changes), hard links,
 * permissions, space for directories and inodes, bit rot (use `corrupt()` to flip bytes on purpose).
 */
import { posix } from 'node:path';
import type { Clock, FileHandle, FileStat, FileSystem, FsError, OpenMode, ReadDirEntry, ReadFileHandle, ReadFileSystem, ReadStat, Timer } from '../../src/core/ports';

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** A small, fast, seeded PRNG (mulberry32). Same seed, same sequence. */
export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [lo, hi] (both inclusive). */
  range(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** An independent generator derived from this one's next output. */
  fork(): Rng;
}

export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng: Rng = {
    seed: seed >>> 0,
    next,
    int: (n) => Math.floor(next() * n),
    range: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[Math.floor(next() * items.length)] as T;
    },
    fork: () => createRng(Math.floor(next() * 4294967296)),
  };
  return rng;
}

// ---------------------------------------------------------------------------------------------
// Virtual time

/** What `SimClock.runUntil` saw. */
export type RunOutcome<T> =
  | { readonly status: 'resolved'; readonly value: T }
  | { readonly status: 'rejected'; readonly error: unknown }
  /** `stop()` returned true (e.g. the file system crashed) before the promise settled. */
  | { readonly status: 'stopped' }
  /** Nothing left to run (no timer pending, no microtask) and the promise is still pending. */
  | { readonly status: 'deadlock' }
  /** Virtual time passed `maxMs` or the timer budget ran out before the promise settled. */
  | { readonly status: 'timeout' };

interface SimTimer {
  readonly due: number;
  readonly seq: number;
  fn: (() => void) | null;
}

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits (macrotask by macrotask) until no real file system request of this process is in flight. */
const realIoSettled = async (): Promise<void> => {
  for (let i = 0; i < 100_000 && process.getActiveResourcesInfo().some((r) => r.startsWith('FSReq')); i++) await macrotask();
};

/**
 * Manual virtual time. Timers fire only when the test drives the clock (`runUntil`, `advance`),
 * one per macrotask turn, so every promise chain a timer starts settles before the next one fires.
 */
/** 2026-01-01T00:00:00Z: the simulated wall clock's origin. */
const SIM_EPOCH_MS = 1_767_225_600_000;

export class SimClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: SimTimer[] = [];
  private halted = false;
  /** Errors thrown by timer callbacks (a real process would die of them). */
  readonly errors: unknown[] = [];
  /** Timers fired so far. */
  fired = 0;

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  /** Wall time: a fixed epoch plus the simulated time. */
  wall(): number {
    return SIM_EPOCH_MS + this.time;
  }

  setTimer(ms: number, fn: () => void): Timer {
    if (this.halted) return { cancel: () => undefined };
    const t: SimTimer = { due: this.time + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: this.seq++, fn };
    // Keep `timers` sorted by (due, seq): binary search for the insertion point.
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.timers[mid] as SimTimer;
      if (m.due < t.due || (m.due === t.due && m.seq < t.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, t);
    return {
      cancel: () => {
        if (t.fn === null) return;
        t.fn = null;
        const i = this.timers.indexOf(t);
        if (i >= 0) this.timers.splice(i, 1);
      },
    };
  }

  /** A promise that resolves after `ms` virtual milliseconds (never, once halted). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.setTimer(ms, resolve);
    });
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.timers.length;
  }

  /** Stop time for good (the process died): pending timers never fire, new ones are ignored. */
  halt(): void {
    this.halted = true;
    for (const t of this.timers) t.fn = null;
    this.timers = [];
  }

  /** Fire the earliest timer, moving time to its due time. False when none is pending. */
  fireNext(): boolean {
    const t = this.timers.shift();
    if (t === undefined) return false;
    if (t.due > this.time) this.time = t.due;
    const fn = t.fn;
    t.fn = null;
    if (fn !== null) {
      this.fired++;
      try {
        fn();
      } catch (err) {
        this.errors.push(err);
      }
    }
    return true;
  }

  /** Move time forward by `ms`, firing every timer due on the way (letting each one's work settle). */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    await macrotask();
    for (;;) {
      const t = this.timers[0];
      if (t === undefined || t.due > until) break;
      this.fireNext();
      await macrotask();
    }
    if (until > this.time) this.time = until;
  }

  /**
   * Drive virtual time until `promise` settles. Between timer firings every microtask runs, so the
   * outcome depends only on the seeds. Reports a deadlock when the promise is pending with nothing
   * left to run, and a timeout past `maxMs` of virtual time or `maxTimers` firings.
   */
  async runUntil<T>(
    promise: Promise<T>,
    opts: { maxMs?: number; maxTimers?: number; stop?: () => boolean; settleRealIo?: boolean } = {},
  ): Promise<RunOutcome<T>> {
    let outcome: RunOutcome<T> | null = null;
    promise.then(
      (value) => {
        outcome = { status: 'resolved', value };
      },
      (error: unknown) => {
        outcome = { status: 'rejected', error };
      },
    );
    const deadline = this.time + (opts.maxMs ?? 60_000);
    let budget = opts.maxTimers ?? 100_000;
    for (;;) {
      await macrotask();
      // Code under test that does real I/O besides the simulated disk (a statfs, say) finishes it
      // before time moves on, so when it finishes never depends on the machine's speed.
      if (opts.settleRealIo === true) await realIoSettled();
      if (outcome !== null) return outcome;
      if (opts.stop?.() === true) return { status: 'stopped' };
      if (this.timers.length === 0) {
        // A second turn, in case something scheduled with setImmediate is still in flight.
        await macrotask();
        if (outcome !== null) return outcome;
        if (opts.stop?.() === true) return { status: 'stopped' };
        if (this.timers.length === 0) return { status: 'deadlock' };
      }
      const next = this.timers[0] as SimTimer;
      if (next.due > deadline || budget-- <= 0) return { status: 'timeout' };
      this.fireNext();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The disk model

class SimFile {
  readonly kind = 'file';
  data: Buffer;
  size: number;
  /** Bytes [0, stable) of `data` are identical to the durable content. */
  stable: number;
  /** The durable bytes after `stable` (cut off the volatile view by a truncate since the last sync). */
  durTail: Buffer;
  /** Durable bytes were overwritten in place since the last sync (a tear then keeps old bytes after the cut). */
  overwritten = false;
  /** Modification time: a per-disk counter, bumped by every change of the content (only compared, never read as a date). */
  mtimeMs = 0;

  constructor(
    readonly ino: number,
    private readonly tick: () => number = () => 0,
  ) {
    this.data = Buffer.alloc(0);
    this.size = 0;
    this.stable = 0;
    this.durTail = EMPTY;
  }

  get dirty(): boolean {
    return this.stable !== this.size || this.durTail.length !== 0;
  }

  volatile(): Buffer {
    return this.data.subarray(0, this.size);
  }

  durable(): Buffer {
    return Buffer.concat([this.data.subarray(0, this.stable), this.durTail]);
  }

  append(bytes: Uint8Array): void {
    this.mtimeMs = this.tick();
    const end = this.size + bytes.length;
    if (end > this.data.length) {
      // Bytes past `size` are never exposed (extending truncates write zeros explicitly).
      const grown = Buffer.allocUnsafe(Math.max(end, this.data.length * 2, 256));
      this.data.copy(grown, 0, 0, this.size);
      this.data = grown;
    }
    this.data.set(bytes, this.size);
    this.size = end;
  }

  /** Overwrite (or extend) at `pos`, in place: bytes below `stable` that change leave the stable prefix. */
  writeAt(pos: number, bytes: Uint8Array): void {
    this.mtimeMs = this.tick();
    if (pos < this.stable) {
      this.overwritten = true;
      // The durable bytes [pos, stable) now differ from the volatile ones: keep them in `durTail`.
      this.durTail = Buffer.concat([this.data.subarray(pos, this.stable), this.durTail]);
      this.stable = pos;
    }
    if (pos > this.size) this.append(Buffer.alloc(pos - this.size));
    const end = pos + bytes.length;
    if (end > this.size) {
      const keep = this.size - pos;
      this.data.set(bytes.subarray(0, keep), pos);
      this.append(bytes.subarray(keep));
    } else {
      this.data.set(bytes, pos);
    }
  }

  truncate(length: number): void {
    this.mtimeMs = this.tick();
    if (length < this.stable) {
      this.durTail = Buffer.concat([this.data.subarray(length, this.stable), this.durTail]);
      this.stable = length;
    }
    if (length > this.size) {
      const old = this.size;
      this.append(Buffer.alloc(length - old));
    } else {
      this.size = length;
    }
  }

  sync(): void {
    this.stable = this.size;
    this.durTail = EMPTY;
    this.overwritten = false;
  }

  /** Replace all content (after a crash): everything is durable. */
  reset(content: Buffer): void {
    this.data = Buffer.from(content);
    this.size = content.length;
    this.stable = content.length;
    this.durTail = EMPTY;
    this.overwritten = false;
  }
}

type Entry = [name: string, node: SimNode | null];

class SimDir {
  readonly kind = 'dir';
  readonly entries = new Map<string, SimNode>();
  durable = new Map<string, SimNode>();
  /** Entry changes since the last sync, oldest first; each one is applied atomically. */
  log: Entry[][] = [];

  change(changes: Entry[]): void {
    for (const [name, node] of changes) {
      if (node === null) this.entries.delete(name);
      else this.entries.set(name, node);
    }
    this.log.push(changes);
  }

  sync(): void {
    this.durable = new Map(this.entries);
    this.log = [];
  }
}

type SimNode = SimFile | SimDir;

const EMPTY = Buffer.alloc(0);

/** How a crash treated one file, for tests and failure traces. */
export type FileFate = 'clean' | 'kept' | 'dropped' | 'torn' | 'torn-zeroed' | 'holed' | 'any-order' | 'scattered';

export interface CrashReport {
  readonly kind: 'power' | 'process';
  /** Step number of the old boot at which it crashed. */
  readonly atStep: number;
  /** For every reachable file that had unsynced data: what became of it. */
  readonly files: ReadonlyMap<string, FileFate>;
  /** For every directory with unsynced entry changes: how many of them were kept, of how many. */
  readonly dirs: ReadonlyMap<string, readonly [kept: number, of: number]>;
}

export interface SimFaults {
  /** Probability that any step fails with EIO before taking effect (default 0). */
  readonly eio?: number;
  /** Probability that a writev, or an open that creates, fails with ENOSPC (default 0). */
  readonly enospc?: number;
  /** Whether a failed writev may have written a prefix of its bytes (default true). */
  readonly partialWrites?: boolean;
  /** A targeted fault: return an error code (EIO, ENOSPC, …) to fail this step, or null to let it run. */
  readonly rule?: (syscall: string, path: string, step: number) => string | null;
}

export interface SimOptions {
  readonly seed: number;
  /**
   * Free-space accounting: the disk holds this many bytes of file data (counted in `blockSize`
   * blocks, per file: every file with a directory entry or an open handle). A write needing more
   * writes the blocks that fit and rejects with ENOSPC, as Linux does (a short write, then ENOSPC).
   * Only for a new disk (later boots share the disk's; tests may change `disk.capacity`). Default: no limit.
   */
  readonly capacity?: number;
  /** The allocation unit of `capacity` (default 4096, a page). */
  readonly blockSize?: number;
  /** Attach a virtual clock: steps then take 0–`maxLatencyMs` virtual ms (some still resolve on microtasks). */
  readonly clock?: SimClock;
  readonly maxLatencyMs?: number;
  /** With a clock: the share of steps that take virtual time (the rest resolve after 0–3 microtask yields). Default 0.3. */
  readonly timedSteps?: number;
  readonly faults?: SimFaults;
  /** Whether a torn write may end in zeros (the size reached the disk, the data did not). Default true. */
  readonly zeroFill?: boolean;
  /**
   * How the unsynced writes of a file overwritten in place reach the disk when it is torn:
   * `'prefix'` (default: new bytes up to a point, old ones after) or `'any-order'` (dirty pages
   * written back in any order: each 512-byte sector holds its old bytes, its new ones, or a torn mix
   * (new up to a point, old after), independently of the others).
   */
  readonly writeback?: 'prefix' | 'any-order';
  /**
   * Out-of-order writeback: the probability (default 0) that a power loss treats a file with unsynced
   * data by pages instead of by the dice above: each `pageBytes` page the file changed since its last
   * sync holds its new bytes or its old ones (zeros where the file grew), independently, and the size
   * is the new one, the old one or one in between. This is what the kernel's writeback can leave (dirty
   * pages are written in any order; the size may reach the disk before or after the data).
   */
  readonly outOfOrder?: number;
  /** The unit of out-of-order writeback (default 4096, a page). */
  readonly pageBytes?: number;
}

/** The persistent part shared by every boot: the namespace, the file contents and the RNG. */
export class SimDisk {
  readonly root = new SimDir();
  readonly rng: Rng;
  /** Bytes of file data the disk holds (null: no limit); see `SimOptions.capacity`. */
  capacity: number | null = null;
  blockSize = 4096;
  private inodes = 0;
  private mtimes = 0;
  private pids = 4242;
  crashes = 0;
  /** The processes running on this machine now (views that have not crashed or shut down). */
  readonly live = new Set<SimFileSystem>();

  constructor(readonly seed: number) {
    this.rng = createRng(seed);
  }

  newFile(): SimFile {
    return new SimFile(++this.inodes, () => ++this.mtimes);
  }

  nextPid(): number {
    return this.pids++;
  }

  /** Bytes allocated now: whole blocks of every file reachable from the root or held open by a live process. */
  used(): number {
    const files = new Set<SimFile>();
    const walk = (dir: SimDir): void => {
      for (const node of dir.entries.values()) {
        if (node.kind === 'dir') walk(node);
        else files.add(node);
      }
    };
    walk(this.root);
    for (const view of this.live) for (const f of view.openFiles.keys()) files.add(f);
    let bytes = 0;
    for (const f of files) bytes += this.blocks(f.size);
    return bytes;
  }

  /** `size` bytes rounded up to whole blocks. */
  blocks(size: number): number {
    return Math.ceil(size / this.blockSize) * this.blockSize;
  }

  /** How many bytes of a write that makes `file` end at `end` fit (all of them when there is room). */
  fits(file: SimFile, end: number): number {
    if (this.capacity === null || end <= file.size) return Math.max(0, end - file.size);
    const free = this.capacity - this.used();
    const extra = this.blocks(end) - this.blocks(file.size);
    if (extra <= free) return end - file.size;
    const room = this.blocks(file.size) + Math.max(0, Math.floor(free / this.blockSize)) * this.blockSize;
    return Math.max(0, Math.min(end, room) - file.size);
  }

  /** Free bytes (Infinity without a capacity). */
  free(): number {
    return this.capacity === null ? Number.POSITIVE_INFINITY : this.capacity - this.used();
  }
}

export class SimFsError extends Error implements FsError {
  readonly code: string;
  readonly syscall: string;
  readonly path: string;
  /** True when the operation failed because the simulated machine lost power or crashed. */
  readonly simCrashed: boolean;
  constructor(code: string, syscall: string, path: string, detail: string, simCrashed = false) {
    // These are thrown by the thousand in a simulation run; a stack inside the sim helps no one.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(`${code}: ${detail}, ${syscall} '${path}'`);
    Error.stackTraceLimit = limit;
    this.name = 'SimFsError';
    this.code = code;
    this.syscall = syscall;
    this.path = path;
    this.simCrashed = simCrashed;
  }
}

/** True when `err` is the rejection of an operation cut short by a simulated crash. */
export const isSimCrash = (err: unknown): boolean => err instanceof SimFsError && err.simCrashed;

const normalize = (p: string): string => posix.resolve('/', p);

/**
 * One boot of the simulated machine. `new SimFileSystem({ seed })` formats a fresh disk;
 * `reboot()` after `crash()` starts the next boot on the same disk.
 */
export class SimFileSystem implements FileSystem {
  readonly disk: SimDisk;
  readonly pid: number;
  readonly clock: SimClock | undefined;
  private readonly rng: Rng;
  private readonly opts: SimOptions;
  private dead = false;
  private crashAtStep = 0;
  private crashAtKind: 'power' | 'process' = 'power';
  private stepCount = 0;
  /** Set once this boot crashed. */
  lastCrash: CrashReport | null = null;
  /** One line per completed step when tracing is on (for failure reports). */
  trace: string[] | null = null;
  private readonly crashListeners: (() => void)[] = [];
  /** @internal Files this process holds open (they keep their blocks after an unlink), with a count. */
  readonly openFiles = new Map<SimFile, number>();

  constructor(opts: SimOptions, disk?: SimDisk) {
    this.opts = opts;
    if (disk === undefined) {
      disk = new SimDisk(opts.seed);
      if (opts.capacity !== undefined) disk.capacity = opts.capacity;
      if (opts.blockSize !== undefined) disk.blockSize = opts.blockSize;
    }
    this.disk = disk;
    this.rng = disk === undefined ? this.disk.rng.fork() : createRng(opts.seed);
    this.pid = this.disk.nextPid();
    this.clock = opts.clock;
    this.disk.live.add(this);
  }

  /** This process ends: its handles and pending steps fail, its timers never fire. */
  private die(report: CrashReport | null): void {
    this.dead = true;
    this.disk.live.delete(this);
    // Time stops for this process, unless another one still running shares the clock.
    if (this.clock !== undefined && ![...this.disk.live].some((v) => v.clock === this.clock)) this.clock.halt();
    if (report !== null) {
      this.lastCrash = report;
      for (const fn of this.crashListeners) fn();
    }
  }

  /** Steps started so far in this boot. */
  get steps(): number {
    return this.stepCount;
  }

  get crashed(): boolean {
    return this.dead;
  }

  /** Crash (power loss by default) in the middle of step `n` of this boot (1-based; 0 disables). */
  crashAt(n: number, kind: 'power' | 'process' = 'power'): void {
    this.crashAtStep = n;
    this.crashAtKind = kind;
  }

  onCrash(fn: () => void): void {
    this.crashListeners.push(fn);
  }

  /** Start the next boot on the same disk (after a crash or a clean shutdown of every user). */
  reboot(opts: Partial<SimOptions> = {}): SimFileSystem {
    if (!this.dead) this.die(null);
    return new SimFileSystem({ ...this.opts, ...opts, seed: opts.seed ?? this.disk.rng.int(4294967296) }, this.disk);
  }

  /** Start another process on the same machine (same disk and page cache, its own pid), this one still running. */
  spawn(opts: Partial<SimOptions> = {}): SimFileSystem {
    if (this.dead) throw new Error('this process of the simulated machine is already over');
    return new SimFileSystem({ ...this.opts, ...opts, seed: opts.seed ?? this.disk.rng.int(4294967296) }, this.disk);
  }

  /** A token for the live process `pid` (pids are never reused on the simulated machine), or null. */
  processStart(pid: number): string | null {
    return this.processAlive(pid) ? `sim-process-${pid}` : null;
  }

  /** True for the pid of any process running on this machine now. */
  processAlive(pid: number): boolean {
    for (const view of this.disk.live) if (view.pid === pid) return true;
    return false;
  }

  // --- FileSystem ----------------------------------------------------------------------------

  async open(path: string, mode: OpenMode): Promise<FileHandle> {
    const p = normalize(path);
    return this.step('open', p, () => {
      const { dir, name } = this.parentOf(p, 'open');
      const existing = dir.entries.get(name);
      if (existing !== undefined && existing.kind === 'dir') throw this.err('EISDIR', 'open', p);
      let file: SimFile;
      switch (mode) {
        case 'read':
          if (existing === undefined) throw this.err('ENOENT', 'open', p);
          file = existing;
          break;
        case 'exclusive':
          if (existing !== undefined) throw this.err('EEXIST', 'open', p);
          file = this.create(dir, name, p);
          break;
        case 'append':
          file = existing ?? this.create(dir, name, p);
          break;
        case 'truncate':
          if (existing === undefined) file = this.create(dir, name, p);
          else {
            file = existing;
            file.truncate(0);
          }
          break;
        case 'update':
          if (existing === undefined) throw this.err('ENOENT', 'open', p);
          file = existing;
          break;
        default: {
          const never: never = mode;
          throw new TypeError(`unknown open mode ${String(never)}`);
        }
      }
      this.openFiles.set(file, (this.openFiles.get(file) ?? 0) + 1);
      return new SimHandle(this, file, p, mode === 'read', mode === 'append');
    });
  }

  async readdir(path: string): Promise<string[]> {
    const p = normalize(path);
    return this.step('readdir', p, () => {
      // "In no particular order": a real directory lists in hash order, so shuffle (seeded).
      const names = [...this.dirAt(p, 'readdir').entries.keys()];
      for (let i = names.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        [names[i], names[j]] = [names[j] as string, names[i] as string];
      }
      return names;
    });
  }

  async mkdirp(path: string): Promise<void> {
    const p = normalize(path);
    return this.step('mkdir', p, () => {
      let dir = this.disk.root;
      for (const part of p.split('/').filter((s) => s !== '')) {
        const next = dir.entries.get(part);
        if (next === undefined) {
          const made = new SimDir();
          dir.change([[part, made]]);
          dir = made;
        } else if (next.kind === 'file') {
          throw this.err('ENOTDIR', 'mkdir', p);
        } else {
          dir = next;
        }
      }
    });
  }

  async rename(from: string, to: string): Promise<void> {
    const f = normalize(from);
    const t = normalize(to);
    return this.step('rename', `${f} -> ${t}`, () => {
      const src = this.parentOf(f, 'rename');
      const node = src.dir.entries.get(src.name);
      if (node === undefined) throw this.err('ENOENT', 'rename', f);
      const dst = this.parentOf(t, 'rename');
      const target = dst.dir.entries.get(dst.name);
      if (target !== undefined && target.kind !== node.kind) throw this.err(target.kind === 'dir' ? 'EISDIR' : 'ENOTDIR', 'rename', t);
      if (f === t) return;
      if (src.dir === dst.dir) {
        src.dir.change([
          [src.name, null],
          [dst.name, node],
        ]);
      } else {
        dst.dir.change([[dst.name, node]]);
        src.dir.change([[src.name, null]]);
      }
    });
  }

  async unlink(path: string): Promise<void> {
    const p = normalize(path);
    return this.step('unlink', p, () => {
      const { dir, name } = this.parentOf(p, 'unlink');
      const node = dir.entries.get(name);
      if (node === undefined) throw this.err('ENOENT', 'unlink', p);
      if (node.kind === 'dir') throw this.err('EISDIR', 'unlink', p);
      dir.change([[name, null]]);
    });
  }

  async stat(path: string): Promise<FileStat | null> {
    const p = normalize(path);
    return this.step('stat', p, () => {
      const node = this.lookup(p);
      if (node === undefined) return null;
      return statOf(node);
    });
  }

  async syncDir(path: string): Promise<void> {
    const p = normalize(path);
    return this.step('syncdir', p, () => {
      this.dirAt(p, 'fsync').sync();
    });
  }

  // --- crash -----------------------------------------------------------------------------------

  /**
   * Lose power now, or with `kind: 'process'` kill the process (`kill -9`): every handle and this
   * view die. On power loss the disk keeps what a real one would; on a process kill the page cache
   * survives as it is, so everything written stays visible, and what was not synced is still not
   * durable (a later power loss can still take it). Call `reboot()` next.
   *
   * `holes` (power loss only) picks the fate of some files instead of the dice: all of the file's
   * unsynced bytes reached the disk except `[from, to)`, which reads as zeros (pages written out of
   * order: the size and the later pages made it, these did not). The range must lie in the
   * unsynced part: synced bytes never change.
   */
  crash(opts: { kind?: 'power' | 'process'; rng?: Rng; holes?: ReadonlyMap<string, readonly [from: number, to: number]> } = {}): CrashReport {
    if (this.dead) throw new Error('this boot of the simulated machine is already over');
    const kind = opts.kind ?? 'power';
    const rng = opts.rng ?? this.disk.rng;
    const zeroFill = this.opts.zeroFill ?? true;
    const outOfOrder = this.opts.outOfOrder ?? 0;
    const pageBytes = this.opts.pageBytes ?? 4096;
    const holes = new Map<string, readonly [number, number]>();
    for (const [path, [from, to]] of opts.holes ?? []) {
      const p = normalize(path);
      const node = this.lookup(p);
      if (node?.kind !== 'file' || from < node.stable || to > node.size || from >= to) {
        throw new Error(`hole ${from}..${to} of ${p} is not inside its unsynced bytes`);
      }
      holes.set(p, [from, to]);
    }
    const files = new Map<string, FileFate>();
    const dirs = new Map<string, readonly [number, number]>();
    this.disk.crashes++;
    if (kind === 'process') {
      const report: CrashReport = { kind, atStep: this.stepCount, files, dirs };
      this.die(report);
      return report;
    }

    // 1. Directories: the durable map plus a prefix of the unsynced changes.
    const walkDirs = (dir: SimDir, path: string): void => {
      if (dir.log.length > 0) {
        const r = rng.next();
        const keep = r < 0.4 ? 0 : r < 0.7 ? dir.log.length : rng.int(dir.log.length + 1);
        const next = new Map(dir.durable);
        for (const changes of dir.log.slice(0, keep)) {
          for (const [name, node] of changes) {
            if (node === null) next.delete(name);
            else next.set(name, node);
          }
        }
        dirs.set(path, [keep, dir.log.length]);
        dir.durable = next;
        dir.log = [];
      }
      dir.entries.clear();
      for (const [name, node] of dir.durable) dir.entries.set(name, node);
      for (const [name, node] of dir.entries) if (node.kind === 'dir') walkDirs(node, posix.join(path, name));
    };
    walkDirs(this.disk.root, '/');

    // 2. Files that are still reachable: durable content, all of it, or a torn part of the rest.
    const seen = new Set<SimFile>();
    const walkFiles = (dir: SimDir, path: string): void => {
      const names = [...dir.entries.keys()].sort();
      for (const name of names) {
        const node = dir.entries.get(name) as SimNode;
        const p = posix.join(path, name);
        if (node.kind === 'dir') {
          walkFiles(node, p);
          continue;
        }
        if (seen.has(node)) continue;
        seen.add(node);
        const hole = holes.get(p);
        if (hole !== undefined) {
          // Asked for: every unsynced byte reached the disk except those of [from, to), which are
          // zeros (the size and the later pages made it, these pages did not). Synced bytes never change.
          const [from, to] = hole;
          const content = Buffer.from(node.volatile());
          content.fill(0, from, to);
          node.reset(content);
          files.set(p, 'holed');
          continue;
        }
        if (!node.dirty) continue;
        // No draw at all when the option is off: the seeds of runs without it replay as before.
        if (outOfOrder > 0 && rng.chance(outOfOrder)) {
          node.reset(scatter(node.volatile(), node.durable(), pageBytes, rng));
          files.set(p, 'scattered');
          continue;
        }
        const r = rng.next();
        const stable = node.stable;
        const size = node.size;
        if (r < 0.25 || size <= stable) {
          // Nothing of the unsynced part reached the disk (also: a truncate that did not).
          if (r >= 0.25 && size <= stable && rng.chance(0.5)) {
            node.sync();
            files.set(p, 'kept');
          } else {
            node.reset(node.durable());
            files.set(p, 'dropped');
          }
        } else if (r < 0.5) {
          node.sync();
          files.set(p, 'kept');
        } else if (this.opts.writeback === 'any-order' && node.overwritten) {
          // Dirty pages written back in any order: each sector old or new, the size old or new.
          const durable = node.durable();
          const len = rng.chance(0.5) ? size : durable.length;
          const content = Buffer.alloc(len);
          for (let at = 0; at < len; at += 512) {
            // New, old, or torn inside the sector (new bytes up to a point, old ones after).
            const r2 = rng.next();
            const cut = r2 < 0.4 ? at + 512 : r2 < 0.8 ? at : rng.range(at, at + 511);
            for (let b = at; b < Math.min(len, at + 512); b++) {
              const fresh = b < cut;
              content[b] = fresh ? (b < size ? (node.data[b] as number) : (durable[b] as number)) : b < durable.length ? (durable[b] as number) : (node.data[b] as number);
            }
          }
          node.reset(content);
          files.set(p, 'any-order');
        } else {
          // The volatile bytes reached the disk up to `cut`, the durable ones stand after it (an
          // overwrite in place torn: new bytes, then old ones; an append torn: just the prefix).
          const cut = rng.range(stable, size - 1);
          const durable = node.overwritten ? node.durable() : node.data.subarray(0, stable);
          let content = Buffer.from(node.data.subarray(0, cut));
          if (durable.length > cut) content = Buffer.concat([content, durable.subarray(cut)]);
          // Zeros only where the file grew (the size reached the disk, the data did not): an overwrite
          // of bytes the disk had leaves old or new bytes, never zeros.
          const grewFrom = Math.max(stable, durable.length);
          if (zeroFill && cut > grewFrom && rng.chance(0.4)) {
            content.fill(0, rng.range(grewFrom, cut - 1), cut);
            files.set(p, 'torn-zeroed');
          } else {
            files.set(p, 'torn');
          }
          node.reset(content);
        }
      }
    };
    walkFiles(this.disk.root, '/');

    const report: CrashReport = { kind, atStep: this.stepCount, files, dirs };
    // Power loss ends every process on the machine.
    for (const view of [...this.disk.live]) view.die(report);
    return report;
  }

  // --- helpers for tests (not steps, no faults, no crash checks) --------------------------------

  /** The volatile content of a file (what a read would see), or null. */
  peek(path: string): Buffer | null {
    const node = this.lookup(normalize(path));
    return node?.kind === 'file' ? Buffer.from(node.volatile()) : null;
  }

  /** The content this file would have if its data were the only thing at stake in a crash. */
  peekDurable(path: string): Buffer | null {
    const node = this.lookup(normalize(path));
    return node?.kind === 'file' ? node.durable() : null;
  }

  /** The size of a file (volatile view), or null. */
  sizeOf(path: string): number | null {
    const node = this.lookup(normalize(path));
    return node?.kind === 'file' ? node.size : null;
  }

  /** Names in a directory, sorted (volatile view), or null if it is not a directory. */
  list(path: string): string[] | null {
    const node = this.lookup(normalize(path));
    return node?.kind === 'dir' ? [...node.entries.keys()].sort() : null;
  }

  /** Create or replace a file with `content`, durably (entries of every parent synced too). */
  putDurable(path: string, content: Uint8Array): void {
    const p = normalize(path);
    let dir = this.disk.root;
    const parts = p.split('/').filter((s) => s !== '');
    const name = parts.pop();
    if (name === undefined) throw new Error(`not a file path: ${path}`);
    for (const part of parts) {
      let next = dir.entries.get(part);
      if (next === undefined) {
        next = new SimDir();
        dir.change([[part, next]]);
      }
      if (next.kind !== 'dir') throw new Error(`not a directory: ${part} in ${path}`);
      dir.sync();
      dir = next;
    }
    const file = this.disk.newFile();
    file.append(content);
    file.sync();
    dir.change([[name, file]]);
    dir.sync();
  }

  /** Create directories durably (every level's entry synced). */
  mkdirDurable(path: string): void {
    let dir = this.disk.root;
    for (const part of normalize(path).split('/').filter((s) => s !== '')) {
      let next = dir.entries.get(part);
      if (next === undefined) {
        next = new SimDir();
        dir.change([[part, next]]);
        dir.sync();
      }
      if (next.kind !== 'dir') throw new Error(`not a directory: ${part} in ${path}`);
      dir = next;
    }
  }

  /** XOR `mask` into the byte at `offset`, in the volatile and the durable content (bit rot). */
  corrupt(path: string, offset: number, mask = 0xff): void {
    const node = this.lookup(normalize(path));
    if (node?.kind !== 'file' || offset >= Math.max(node.size, node.stable + node.durTail.length)) {
      throw new Error(`cannot corrupt ${path} at ${offset}`);
    }
    if (offset < node.size) node.data[offset] = (node.data[offset] as number) ^ mask;
    const inTail = offset - node.stable;
    if (inTail >= 0 && inTail < node.durTail.length) {
      const tail = Buffer.from(node.durTail);
      tail[inTail] = (tail[inTail] as number) ^ mask;
      node.durTail = tail;
    }
  }

  /**
   * Another process on the machine (an application writing its log) appends `bytes` to `path`,
   * creating it if missing, and makes data and entry durable at once (its own losses are not the
   * agent's to test). Not a step of this process: it can happen between any two.
   */
  appendDurable(path: string, bytes: Uint8Array): void {
    const p = normalize(path);
    const { dir, name } = this.parentOf(p, 'open');
    let node = dir.entries.get(name);
    if (node === undefined) {
      node = this.disk.newFile();
      dir.change([[name, node]]);
      dir.sync();
    }
    if (node.kind !== 'file') throw this.err('EISDIR', 'open', p);
    node.append(bytes);
    node.sync();
  }

  /** Another process renames `from` to `to` in one directory, durably (logrotate's rename, then a sync). */
  renameDurable(from: string, to: string): void {
    const f = normalize(from);
    const t = normalize(to);
    const src = this.parentOf(f, 'rename');
    const dst = this.parentOf(t, 'rename');
    const node = src.dir.entries.get(src.name);
    if (node === undefined) throw this.err('ENOENT', 'rename', f);
    if (src.dir !== dst.dir) throw new Error('renameDurable: one directory only');
    src.dir.change([
      [src.name, null],
      [dst.name, node],
    ]);
    src.dir.sync();
  }

  /** The read side (`ReadFileSystem`, for a file source) of this process: its steps count here. */
  readView(): ReadFileSystem {
    return {
      openRead: async (path: string): Promise<ReadFileHandle> => (await this.open(path, 'read')) as SimHandle,
      stat: (path: string): Promise<ReadStat> => {
        const p = normalize(path);
        return this.step('stat', p, () => {
          const node = this.lookup(p);
          if (node === undefined) throw this.err('ENOENT', 'stat', p);
          return statOf(node);
        });
      },
      readdirTyped: (path: string): Promise<ReadDirEntry[]> => {
        const p = normalize(path);
        return this.step('readdir', p, () => {
          const entries: ReadDirEntry[] = [...this.dirAt(p, 'readdir').entries].map(([name, node]) => ({ name, type: node.kind === 'dir' ? 'directory' : 'file' }));
          for (let i = entries.length - 1; i > 0; i--) {
            const j = this.rng.int(i + 1);
            [entries[i], entries[j]] = [entries[j] as ReadDirEntry, entries[i] as ReadDirEntry];
          }
          return entries;
        });
      },
    };
  }

  // --- internals -------------------------------------------------------------------------------

  /** @internal Run one step: count it, wait a seeded while, maybe fail or crash, then act. */
  async step<T>(syscall: string, path: string, act: () => T, partial?: (rng: Rng) => void): Promise<T> {
    const n = ++this.stepCount;
    if (this.dead) throw this.crashedErr(syscall, path);
    await this.latency();
    if (this.dead) throw this.crashedErr(syscall, path);
    if (n === this.crashAtStep) {
      // The crash happens while this step is in flight: it may have happened or not.
      if (partial !== undefined) partial(this.rng);
      else if (this.rng.chance(0.5)) {
        try {
          act();
        } catch {
          // it failed anyway
        }
      }
      this.trace?.push(`#${n} ${syscall} ${path} -> crash`);
      this.crash({ kind: this.crashAtKind });
      throw this.crashedErr(syscall, path);
    }
    const faults = this.opts.faults;
    const ruled = faults?.rule?.(syscall, path, n) ?? null;
    if (ruled !== null) {
      if (partial !== undefined && faults?.partialWrites !== false) partial(this.rng);
      this.trace?.push(`#${n} ${syscall} ${path} -> ${ruled} (rule)`);
      throw this.err(ruled, syscall, path, `${ruled} (injected by rule)`);
    }
    if (faults !== undefined) {
      const writes = syscall === 'writev' || (syscall === 'open' && this.lookup(path) === undefined);
      if (writes && faults.enospc !== undefined && this.rng.chance(faults.enospc)) {
        if (partial !== undefined && faults.partialWrites !== false) partial(this.rng);
        this.trace?.push(`#${n} ${syscall} ${path} -> ENOSPC`);
        throw this.err('ENOSPC', syscall, path, 'no space left on device (injected)');
      }
      if (faults.eio !== undefined && this.rng.chance(faults.eio)) {
        if (partial !== undefined && faults.partialWrites !== false) partial(this.rng);
        this.trace?.push(`#${n} ${syscall} ${path} -> EIO`);
        throw this.err('EIO', syscall, path, 'i/o error (injected)');
      }
    }
    try {
      const out = act();
      this.trace?.push(`#${n} ${syscall} ${path}`);
      return out;
    } catch (err) {
      this.trace?.push(`#${n} ${syscall} ${path} -> ${(err as FsError).code ?? String(err)}`);
      throw err;
    }
  }

  private async latency(): Promise<void> {
    const r = this.rng.next();
    if (this.clock !== undefined && r < (this.opts.timedSteps ?? 0.3)) {
      await this.clock.sleep(this.rng.range(0, this.opts.maxLatencyMs ?? 2));
      return;
    }
    const yields = Math.floor(r * 10) % 4;
    for (let i = 0; i < yields; i++) await Promise.resolve();
  }

  /** @internal */
  crashedErr(syscall: string, path: string): SimFsError {
    return new SimFsError('EIO', syscall, path, 'simulated machine crashed', true);
  }

  /** @internal */
  err(code: string, syscall: string, path: string, detail?: string): SimFsError {
    const details: Record<string, string> = {
      ENOENT: 'no such file or directory',
      EEXIST: 'file already exists',
      ENOTDIR: 'not a directory',
      EISDIR: 'illegal operation on a directory',
      EBADF: 'bad file descriptor',
    };
    return new SimFsError(code, syscall, path, detail ?? details[code] ?? code);
  }

  private create(dir: SimDir, name: string, _path: string): SimFile {
    const file = this.disk.newFile();
    dir.change([[name, file]]);
    return file;
  }

  private lookup(p: string): SimNode | undefined {
    let node: SimNode = this.disk.root;
    for (const part of p.split('/')) {
      if (part === '') continue;
      if (node.kind !== 'dir') return undefined;
      const next: SimNode | undefined = node.entries.get(part);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  private dirAt(p: string, syscall: string): SimDir {
    const node = this.lookup(p);
    if (node === undefined) throw this.err('ENOENT', syscall, p);
    if (node.kind !== 'dir') throw this.err('ENOTDIR', syscall, p);
    return node;
  }

  private parentOf(p: string, syscall: string): { dir: SimDir; name: string } {
    if (p === '/') throw this.err('EISDIR', syscall, p);
    const dir = this.dirAt(posix.dirname(p), syscall);
    return { dir, name: posix.basename(p) };
  }
}

/**
 * What out-of-order writeback can leave of a file whose volatile content is `now` and durable content
 * `was`: the size is the new one, the old one or one in between; each page holds its new bytes or its
 * old ones, independently (new bytes past the new end, and old bytes past the old end, are the other
 * content's, or zeros where neither had any: the size reached the disk, the data did not).
 */
const scatter = (now: Buffer, was: Buffer, page: number, rng: Rng): Buffer => {
  const r = rng.next();
  const size = r < 0.4 ? now.length : r < 0.6 ? was.length : rng.range(Math.min(now.length, was.length), Math.max(now.length, was.length));
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; at += page) {
    const end = Math.min(size, at + page);
    if (now.subarray(at, end).equals(was.subarray(at, end))) {
      now.copy(out, at, at, end);
      continue;
    }
    const [first, second] = rng.chance(0.5) ? [now, was] : [was, now];
    // The chosen content where it has bytes; past its end the other's only when the new size says
    // the file was that long (a truncate that did not reach this page), else zeros.
    if (first.length > at) first.copy(out, at, at, Math.min(end, first.length));
    if (first === now && first.length < end && second.length > first.length) second.copy(out, Math.max(at, first.length), Math.max(at, first.length), Math.min(end, second.length));
  }
  return out;
};

/** The simulated disk is one device; an inode number is never reused on it. */
const SIM_DEV = 1;
const dirInos = new WeakMap<SimDir, number>();
let nextDirIno = 1 << 30;

/** What `stat` says of a node: size, identity (dev + inode), mtime and type. */
const statOf = (node: SimNode): FileStat & ReadStat => {
  if (node.kind === 'file') return { size: node.size, dev: SIM_DEV, ino: node.ino, mtimeMs: node.mtimeMs, type: 'file' };
  let ino = dirInos.get(node);
  if (ino === undefined) dirInos.set(node, (ino = nextDirIno++));
  return { size: 0, dev: SIM_DEV, ino, mtimeMs: 0, type: 'directory' };
};

class SimHandle implements FileHandle, ReadFileHandle {
  private closed = false;

  constructor(
    private readonly fs: SimFileSystem,
    private readonly file: SimFile,
    private readonly path: string,
    private readonly readOnly: boolean,
    private readonly appendOnly: boolean,
  ) {}

  writev(buffers: readonly Uint8Array[]): Promise<void> {
    // Copy now: the caller may reuse its buffers once the promise resolves, not before, but a
    // real kernel copies at the syscall, and a sim that aliased them would hide bugs.
    const bytes = Buffer.concat(buffers.map((b) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength))));
    return this.fs.step(
      'writev',
      this.path,
      () => {
        this.check('writev');
        if (this.readOnly) throw this.fs.err('EBADF', 'writev', this.path);
        const fit = this.fs.disk.fits(this.file, this.file.size + bytes.length);
        if (fit < bytes.length) {
          // Linux: a short write of what fits, then ENOSPC for the rest.
          this.file.append(bytes.subarray(0, fit));
          throw this.fs.err('ENOSPC', 'writev', this.path, `no space left on device (wrote ${fit} of ${bytes.length} bytes)`);
        }
        this.file.append(bytes);
      },
      (rng) => {
        if (this.closed || this.readOnly) return;
        const fit = this.fs.disk.fits(this.file, this.file.size + bytes.length);
        this.file.append(bytes.subarray(0, Math.min(fit, rng.int(bytes.length + 1))));
      },
    );
  }

  writeAt(data: Uint8Array, position: number): Promise<void> {
    const bytes = Buffer.from(data); // copied at the syscall, as in writev
    return this.fs.step(
      'pwrite',
      this.path,
      () => {
        this.check('pwrite');
        if (this.readOnly) throw this.fs.err('EBADF', 'pwrite', this.path);
        // O_APPEND: Linux ignores the position of a pwrite and appends; the queue must not rely on it.
        if (this.appendOnly) throw this.fs.err('EINVAL', 'pwrite', this.path, 'pwrite on a file opened for append');
        const end = position + bytes.length;
        const fit = this.fs.disk.fits(this.file, end);
        if (fit < Math.max(0, end - this.file.size)) {
          const n = Math.max(0, this.file.size + fit - position);
          this.file.writeAt(position, bytes.subarray(0, n));
          throw this.fs.err('ENOSPC', 'pwrite', this.path, `no space left on device (wrote ${n} of ${bytes.length} bytes)`);
        }
        this.file.writeAt(position, bytes);
      },
      (rng) => {
        if (this.closed || this.readOnly || this.appendOnly) return;
        const end = position + bytes.length;
        const room = Math.max(0, this.file.size + this.fs.disk.fits(this.file, end) - position);
        this.file.writeAt(position, bytes.subarray(0, Math.min(room, rng.int(bytes.length + 1))));
      },
    );
  }

  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.fs.step('read', this.path, () => {
      this.check('read');
      if (position >= this.file.size || length <= 0) return 0;
      const n = Math.min(length, this.file.size - position, buffer.length - offset);
      buffer.set(this.file.data.subarray(position, position + n), offset);
      return n;
    });
  }

  datasync(): Promise<void> {
    return this.fs.step('fdatasync', this.path, () => {
      this.check('fdatasync');
      this.file.sync();
    });
  }

  truncate(length: number): Promise<void> {
    return this.fs.step('ftruncate', this.path, () => {
      this.check('ftruncate');
      if (this.readOnly) throw this.fs.err('EBADF', 'ftruncate', this.path);
      this.file.truncate(length);
    });
  }

  stat(): Promise<FileStat & ReadStat> {
    return this.fs.step('fstat', this.path, () => {
      this.check('fstat');
      return statOf(this.file);
    });
  }

  close(): Promise<void> {
    return this.fs.step('close', this.path, () => {
      this.check('close');
      this.closed = true;
      const n = (this.fs.openFiles.get(this.file) ?? 1) - 1;
      if (n <= 0) this.fs.openFiles.delete(this.file);
      else this.fs.openFiles.set(this.file, n);
    });
  }

  private check(syscall: string): void {
    if (this.closed) throw this.fs.err('EBADF', syscall, this.path);
  }
}
