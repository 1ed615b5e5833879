/**
 * The queue's simulation harness: one seeded run drives a real queue on a `SimFileSystem` with a
 * random sequence of appends, reads, out-of-order acks, cursor flushes, rewinds, crashes (between
 * and inside file system steps), graceful restarts and injected I/O faults, and checks every
 * observation against a model of what the contract promises. Used by `property.test.ts` (many
 * seeds) and `regressions.test.ts` (seeds that once failed).
 *
 * The model, in one paragraph: every append gets a serial number that is written into its payload
 * (with the length; the other bytes are derived from the serial), so any record read back can be
 * checked byte for byte without trusting the queue. An append is *committed* once its promise
 * resolved, or once a record whose append was cut short by a crash was read back after recovery.
 * Committed records must never be lost for a consumer that has not acknowledged them; records
 * whose appends never resolved may vanish in a crash (then they are *lost*, and must never come
 * back); nothing else may ever be returned.
 */
import type { Consumer, FsyncPolicy, Queue, QueueOptions, QueueRecord, SourcePosition } from '../../src/queue/types';
import type { Clock, FileSystem } from '../../src/core/ports';
import { SimClock, SimFileSystem, createRng, isSimCrash, type Rng, type RunOutcome, type SimFaults } from './sim-fs';

export type OpenQueue = (opts: QueueOptions & { fs?: FileSystem; clock?: Clock }) => Promise<Queue>;

/** The shape of one run, derived from its seed. */
export interface RunConfig {
  readonly seed: number;
  readonly consumers: readonly string[];
  readonly segmentBytes: number;
  readonly maxBytes: number;
  readonly fsync: FsyncPolicy;
  readonly cursorFlushMs: number;
  /** What a crash does: 'process' keeps the page cache (the only honest choice with fsync 'never'). */
  readonly crashKinds: readonly ('power' | 'process')[];
  readonly faults: SimFaults | undefined;
  readonly actions: number;
  readonly maxPayload: number;
  /** Share of file system steps that take virtual time (the others resolve on microtasks). */
  readonly timedSteps: number;
  /** Some appends carry 2^20..2^31 events, so ids pass 2^32 (the u64 split in frames and cursors). */
  readonly bigEvents: boolean;
  /** Consumers act like pipelined sinks: acknowledge the previous batch while the next read runs. */
  readonly pipelined: boolean;
  /** When time passes, a second open of the same directory is tried: it must be refused, harmlessly. */
  readonly lockProbe: boolean;
  /** Graceful restarts may add a consumer (a sink added to the config): it starts at the oldest record kept. */
  readonly growConsumers: boolean;
  /**
   * A power loss may leave a hole: a sector of zeros in a segment's unsynced bytes, the bytes after
   * it kept (pages written out of order). The recovery table cuts the tail there (torn-tail rule).
   */
  readonly holes: boolean;
  /**
   * The disk's capacity in bytes (4 KiB blocks), or null for no limit: smaller than what `maxBytes`
   * needs, so the disk fills first and ENOSPC must be backpressure (the queue waits, never fails).
   */
  readonly capacity: number | null;
  /**
   * Out-of-order writeback (`SimOptions.outOfOrder`): the share of files with unsynced data that a
   * power loss treats page by page (each changed page new or old, the size new, old or between),
   * and the page size. 0 in most runs.
   */
  readonly outOfOrder: number;
  readonly pageBytes: number;
}

export function configFor(seed: number): RunConfig {
  const rng = createRng(seed ^ 0x5eed);
  const segmentBytes = rng.pick([4096, 4096, 8192]); // the queue's smallest is 4096
  const r = rng.next();
  const fsync: FsyncPolicy =
    r < 0.6 ? { mode: 'always' } : r < 0.85 ? { mode: 'interval', intervalMs: rng.pick([5, 20, 100]) } : { mode: 'never' };
  const consumers = ['c0', 'c1', 'c2'].slice(0, rng.range(1, 3));
  const cfg: { -readonly [K in keyof RunConfig]: RunConfig[K] } = {
    seed,
    consumers,
    segmentBytes,
    maxBytes: segmentBytes * rng.range(2, 5),
    fsync,
    cursorFlushMs: rng.pick([10, 50, 200, 1000]),
    crashKinds: fsync.mode === 'never' ? ['process'] : rng.chance(0.2) ? ['power', 'process'] : ['power'],
    faults: rng.chance(0.1) ? { eio: 0.004, enospc: 0.004 } : undefined,
    actions: rng.range(10, 45),
    maxPayload: Math.floor(segmentBytes / 2) - 200,
    timedSteps: rng.pick([0.02, 0.1, 0.1, 0.3]),
    bigEvents: rng.chance(0.15),
    pipelined: false,
    lockProbe: false,
    growConsumers: false,
    holes: false,
    capacity: null,
    outOfOrder: 0,
    pageBytes: 4096,
  };
  // Drawn last so the draws above stay what they were for every seed. Names that need encoding in a
  // file name (space, slash, non-ASCII) in some runs.
  if (rng.chance(0.2)) cfg.consumers = cfg.consumers.map((n, i) => [`${n} sink`, `out/${n}`, `ü-${n}`][i] ?? n);
  cfg.pipelined = rng.chance(0.3);
  cfg.lockProbe = rng.chance(0.3);
  cfg.growConsumers = rng.chance(0.2);
  cfg.holes = rng.chance(0.3);
  if (rng.chance(0.25)) {
    // Room for the lock, every cursor file (a consumer may be added) and a temp cursor, one whole
    // segment (it may run a block past segmentBytes) and the next segment's head, plus up to two
    // segments more: less than maxBytes needs, in most runs. (With less, a queue whose consumers
    // have read everything cannot roll away from the segment that fills the disk: docs/queue.md.)
    const segBlocks = segmentBytes / 4096 + 1;
    cfg.capacity = 4096 * (1 + (cfg.consumers.length + 1) + 1 + segBlocks + 1 + rng.int(segBlocks * 2 + 1));
  }
  // Out-of-order writeback (FINDINGS.md, F-OOO, fixed): push on it with
  // SLUICE_SIM_CONFIG='{"outOfOrder":1,"pageBytes":512}' (sector units) or '{"outOfOrder":1}'.
  if (rng.chance(0.3)) cfg.outOfOrder = rng.pick([0.5, 1]);
  return cfg;
}

export interface RunStats {
  appends: number;
  committed: number;
  lost: number;
  recordsChecked: number;
  crashes: number;
  crashesInRecovery: number;
  gracefulRestarts: number;
  faultRestarts: number;
  backpressureWaits: number;
  /** Episodes of appends waiting because the disk was full (`queue.full` with reason disk-full). */
  diskFullWaits: number;
  corruptRecordsReported: number;
  truncatedBytes: number;
}

export interface RunResult {
  readonly seed: number;
  readonly config: RunConfig;
  readonly failure: string | null;
  /** The run's actions, one line each. */
  readonly trace: readonly string[];
  /** On failure with tracing on: the last file system steps of the failing boot. */
  readonly fsTrace: readonly string[];
  readonly stats: RunStats;
  /** Set when the run was cut to its first `shrunkTo` actions. */
  readonly shrunkTo?: number;
}

/** An invariant did not hold. */
class Violation extends Error {
  override name = 'Violation';
}
/** The simulated machine crashed: unwind to the run loop, which reboots and recovers. */
class Crashed extends Error {}
/** The queue reported an I/O failure: restart the process, as a supervisor would. */
class QueueFailed extends Error {}

type Status = 'pending' | 'resolved' | 'unknown' | 'survived' | 'lost';

interface AppendModel {
  readonly serial: number;
  readonly size: number;
  readonly events: number;
  readonly positions: readonly SourcePosition[];
  status: Status;
  id: number | null;
  /** The queue instance (boot or graceful restart) that took the append. */
  readonly boot: number;
  /** Settles once the model has seen the append's promise settle. */
  done: Promise<void>;
}

interface ConsumerModel {
  readonly name: string;
  /** Serials this consumer acknowledged (in any boot). */
  readonly acked: Set<number>;
  /** Records handed out in this boot and not acknowledged yet. */
  outstanding: QueueRecord[];
  /** The id the next record read must have, or more if everything in between may be skipped. */
  nextExpected: number;
  lastSerial: number;
  /** The persisted cursor is at least this (flushCursor resolved after ackedUpTo reached it). */
  floor: number;
  /** A read left running while other things happen, and what it returned (checked when collected). */
  bg: BackgroundRead | null;
  /**
   * Set when a read that overlapped a rewind turned out to continue where it was: the queue may
   * still treat its records as handed out before the rewind, so the next read may restart here.
   */
  restartAt: number | null;
}

interface OrderState {
  nextExpected: number;
  lastSerial: number;
}

interface BackgroundRead {
  done: Promise<void>;
  readonly cancel: () => void;
  records: QueueRecord[] | null;
  error: unknown;
  /** A rewind ran while this read was pending: where it rewound to, and the order state before it. */
  rewound: { readonly to: number; readonly before: OrderState } | null;
  /** The persisted cursor when the read started: records it hands out may come from before later flushes. */
  readonly floor: number;
}

const PAYLOAD_HEADER = 8;

export function makePayload(serial: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  b.writeUInt32LE(serial, 0);
  b.writeUInt32LE(size, 4);
  for (let i = PAYLOAD_HEADER; i < size; i++) b[i] = (serial * 131 + i * 7) & 0xff;
  return b;
}

/** Whether `p` is exactly `makePayload(serial, size)` (without building it). */
function isPayload(p: Buffer, serial: number, size: number): boolean {
  if (p.length !== size || p.readUInt32LE(0) !== serial || p.readUInt32LE(4) !== size) return false;
  for (let i = PAYLOAD_HEADER; i < size; i++) if (p[i] !== ((serial * 131 + i * 7) & 0xff)) return false;
  return true;
}

const KEYS = ['src:a', 'src:b', 'src:c'] as const;

export interface RunOptions {
  /** Stop the random script after this many actions (used to shrink a failing run). */
  readonly maxActions?: number;
  /** Record every file system step (printed on failure). */
  readonly fsTrace?: boolean;
  /** Wrap the file system the queue sees (to check that the harness notices a lying disk). */
  readonly wrapFs?: (fs: FileSystem) => FileSystem;
  /** Change the seed's configuration (to explore a corner harder, e.g. faults in every run). */
  readonly overrides?: Partial<RunConfig>;
}

export async function runSimulation(open: OpenQueue, seed: number, opts: RunOptions = {}): Promise<RunResult> {
  const run = new Run(open, { ...configFor(seed), ...opts.overrides }, opts);
  let failure: string | null = null;
  try {
    await run.main();
  } catch (err) {
    failure = err instanceof Violation ? err.message : `unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  }
  run.close();
  const result = { seed, config: run.cfg, failure, trace: run.log, fsTrace: run.fsTail, stats: run.stats };
  return opts.maxActions === undefined ? result : { ...result, shrunkTo: opts.maxActions };
}

/**
 * Replays a failing seed with fewer actions until the shortest prefix that still fails, and
 * returns that run (with the file system trace), for a readable report.
 */
export async function shrink(open: OpenQueue, failed: RunResult, opts: RunOptions = {}): Promise<RunResult> {
  for (let n = 0; n < failed.config.actions; n++) {
    const r = await runSimulation(open, failed.seed, { ...opts, maxActions: n, fsTrace: true });
    if (r.failure !== null) return r;
  }
  return runSimulation(open, failed.seed, { ...opts, fsTrace: true });
}

/** A run's report: outcome, how to replay it, its configuration and its last actions. */
export function describeFailure(r: RunResult, lines = 60): string {
  const c = r.config;
  return [
    r.failure === null ? `simulation seed ${r.seed} passed` : `simulation seed ${r.seed} failed: ${r.failure}`,
    `replay: SLUICE_SIM_SEED=${r.seed} node scripts/test.js test/queue/property${r.shrunkTo !== undefined ? `  (shortest failing prefix: ${r.shrunkTo} actions)` : ''}`,
    `config: consumers=${c.consumers.join(',')} segmentBytes=${c.segmentBytes} maxBytes=${c.maxBytes} fsync=${JSON.stringify(c.fsync)} cursorFlushMs=${c.cursorFlushMs} crashes=${c.crashKinds.join('/')} faults=${JSON.stringify(c.faults ?? null)} actions=${c.actions} timedSteps=${c.timedSteps} bigEvents=${c.bigEvents} pipelined=${c.pipelined} lockProbe=${c.lockProbe} capacity=${c.capacity ?? 'none'}`,
    `trace (last ${lines} actions):`,
    ...r.trace.slice(-lines).map((l) => `  ${l}`),
    ...(r.fsTrace.length > 0 ? [`file system steps of the failing boot (last ${r.fsTrace.length}):`, ...r.fsTrace.map((l) => `    ${l}`)] : []),
  ].join('\n');
}

/** All counters at zero (a run's start, or a sum over runs). */
export const emptyStats = (): RunStats => ({
  appends: 0,
  committed: 0,
  lost: 0,
  recordsChecked: 0,
  crashes: 0,
  crashesInRecovery: 0,
  gracefulRestarts: 0,
  faultRestarts: 0,
  backpressureWaits: 0,
  diskFullWaits: 0,
  corruptRecordsReported: 0,
  truncatedBytes: 0,
});

class Run {
  readonly log: string[] = [];
  readonly stats: RunStats = emptyStats();
  private readonly rng: Rng;
  private fs: SimFileSystem;
  private clock: SimClock;
  private queue: Queue | null = null;
  private boot = 0;
  private readonly appends: AppendModel[] = [];
  private readonly inflight = new Set<AppendModel>();
  private readonly consumers = new Map<string, ConsumerModel>();
  /** Consumers added at the last (re)open: they have no cursor file yet. */
  private added = new Set<string>();
  private readonly dir = '/data/queue';
  /** Failures noticed inside callbacks (a resolution that breaks an invariant); thrown at the next check. */
  private deferred: string | null = null;
  private readonly maxActions: number;
  private closedForGood = false;

  constructor(
    private readonly open: OpenQueue,
    readonly cfg: RunConfig,
    private readonly opts: RunOptions,
  ) {
    this.rng = createRng(cfg.seed);
    this.clock = new SimClock();
    this.fs = new SimFileSystem({
      seed: cfg.seed,
      clock: this.clock,
      timedSteps: cfg.timedSteps,
      ...(cfg.faults ? { faults: cfg.faults } : {}),
      ...(cfg.capacity !== null ? { capacity: cfg.capacity } : {}),
      ...(cfg.outOfOrder > 0 ? { outOfOrder: cfg.outOfOrder, pageBytes: cfg.pageBytes } : {}),
    });
    if (opts.fsTrace === true) this.fs.trace = [];
    this.fs.mkdirDurable(this.dir);
    this.maxActions = Math.min(cfg.actions, opts.maxActions ?? Number.POSITIVE_INFINITY);
    for (const name of cfg.consumers) {
      this.consumers.set(name, { name, acked: new Set(), outstanding: [], nextExpected: 0, lastSerial: -1, floor: 0, bg: null, restartAt: null });
    }
  }

  close(): void {
    this.closedForGood = true;
    if (!this.fs.crashed) this.fs.crash({ kind: 'process' });
  }

  private note(line: string): void {
    this.log.push(`[boot ${this.boot} t=${this.clock.now()} step=${this.fs.steps}] ${line}`);
  }

  private fail(msg: string): never {
    if (this.fs.trace !== null) this.fsTail = this.fs.trace.slice(-30);
    throw new Violation(msg);
  }

  /** The last file system steps of the boot that failed (when tracing). */
  fsTail: string[] = [];

  // --- the run ---------------------------------------------------------------------------------

  async main(): Promise<void> {
    await this.recover('start');
    for (let i = 0; i < this.maxActions; i++) {
      await this.guard(() => this.action());
    }
    // The end: settle what is in flight, then verify everything after one last restart.
    await this.guard(async () => {
      await this.settle();
      this.checkCrashed(); // a crash scheduled earlier may have happened after the last drive
      if (this.rng.chance(0.5)) {
        const kind = this.rng.pick(this.cfg.crashKinds);
        this.note(`final crash (${kind})`);
        this.powerCut(kind);
        throw new Crashed();
      }
      await this.gracefulRestart();
    });
    await this.guard(async () => {
      const q = this.requireQueue();
      const out = await this.drive(q.close(), 60_000);
      if (out.status === 'rejected') throw new QueueFailed(`close failed: ${errText(out.error)}`);
      if (out.status !== 'resolved') this.fail(`close did not finish (${out.status})`);
      this.queue = null;
    });
  }

  /** Run one step of the script; a crash or a queue failure leads to reboot and verification. */
  private async guard(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
      this.checkDeferred();
    } catch (err) {
      if (err instanceof Crashed) {
        await this.afterCrash();
      } else if (err instanceof QueueFailed) {
        this.stats.faultRestarts++;
        this.note(`queue failed (${err.message}); restarting the process`);
        if (!this.fs.crashed) this.fs.crash({ kind: 'process' });
        await this.afterCrash();
      } else throw err;
    }
  }

  private async afterCrash(): Promise<void> {
    this.stats.crashes++;
    const report = this.fs.lastCrash;
    if (report !== null) {
      const files = [...report.files].map(([p, f]) => `${p.slice(this.dir.length + 1)}:${f}`).join(' ');
      const dirs = [...report.dirs].map(([p, [k, n]]) => `${p}:${k}/${n}`).join(' ');
      this.note(`crashed (${report.kind}) at step ${report.atStep}; files ${files || '-'}; dir entries kept ${dirs || '-'}`);
    }
    this.queue = null;
    await this.recover('crash');
  }

  /** (Re)boot, open, drain every consumer and check everything recovered; retried across crashes. */
  private async recover(why: 'start' | 'crash'): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 25) this.fail('could not recover after 25 attempts');
      if (this.fs.crashed) this.reboot(attempt);
      try {
        await this.openAndVerify(why === 'start' && attempt === 0 ? 'start' : 'crash', attempt);
        return;
      } catch (err) {
        if (err instanceof Crashed) {
          this.stats.crashesInRecovery++;
          const r = this.fs.lastCrash;
          this.note(`crashed again during recovery (${r?.kind ?? '?'} at step ${r?.atStep ?? '?'})`);
          continue;
        }
        if (err instanceof QueueFailed) {
          this.stats.faultRestarts++;
          this.note(`recovery failed (${err.message}); restarting`);
          if (!this.fs.crashed) this.fs.crash({ kind: 'process' });
          continue;
        }
        throw err;
      }
    }
  }

  private reboot(attempt: number): void {
    // Everything in flight in the old boot is now unknown: it may or may not have reached the disk.
    for (const a of this.inflight) a.status = 'unknown';
    this.inflight.clear();
    this.ioFailed = null;
    this.boot++;
    this.clock = new SimClock(this.boot * 1_000_000);
    const faults = attempt > 10 ? undefined : this.cfg.faults;
    const trace = this.fs.trace;
    this.fs = this.fs.reboot({ clock: this.clock, ...(faults ? { faults } : { faults: {} }) });
    if (trace !== null) this.fs.trace = [];
    for (const c of this.consumers.values()) {
      c.bg?.cancel();
      c.bg = null;
      c.restartAt = null;
      c.outstanding = [];
      c.nextExpected = 0;
      c.lastSerial = -1;
    }
  }

  private async openAndVerify(why: 'start' | 'crash' | 'graceful', attempt: number): Promise<void> {
    // Sometimes crash in the middle of recovery itself (not forever).
    if (why === 'crash' && attempt < 3 && this.rng.chance(0.15)) this.fs.crashAt(this.rng.range(1, 40), this.rng.pick(this.cfg.crashKinds));
    const opened = await this.drive(this.open(this.queueOptions()), 60_000);
    if (opened.status === 'rejected') {
      if (isIoFailure(opened.error)) throw new QueueFailed(`open: ${errText(opened.error)}`);
      this.fail(`open rejected: ${errText(opened.error)}`);
    }
    if (opened.status !== 'resolved') this.fail(`open did not finish (${opened.status})`);
    const q = opened.value;
    this.queue = q;
    const rep = q.recovery;
    this.stats.corruptRecordsReported += rep.corruptRecords;
    this.stats.truncatedBytes += rep.truncatedBytes;
    this.note(
      `opened: ${rep.segments} segments, ${rep.records} records, truncated ${rep.truncatedBytes} B, corrupt ${rep.corruptRecords}, cursors reset [${rep.cursorsReset.join(',')}]`,
    );
    if (rep.corruptRecords > 0 && this.cfg.faults === undefined) {
      // The simulated disk only ever loses or tears unsynced tails (out of order included: F-OOO);
      // it never damages bytes in place.
      this.fail(`recovery reported ${rep.corruptRecords} corrupt record(s) (${rep.lostEvents} events lost) on a disk that corrupts nothing: ${rep.notes.join(' | ')}`);
    }
    if (why === 'graceful' && this.cfg.faults === undefined) {
      if (rep.truncatedBytes > 0) this.fail(`after a graceful close, recovery truncated ${rep.truncatedBytes} bytes: ${rep.notes.join(' | ')}`);
      const reset = rep.cursorsReset.filter((name) => !this.added.has(name));
      if (reset.length > 0) this.fail(`after a graceful close, recovery reset the cursors of ${reset.join(', ')}`);
    }
    if (why === 'start') return;

    // Drain every consumer: each must get every committed record it has not acknowledged.
    const seen = new Map<number, number>(); // serial -> id, over all consumers
    for (const c of this.consumers.values()) {
      const got = await this.drain(c);
      const delivered = new Set(got.map((r) => r.serial));
      for (const a of this.appends) {
        if ((a.status === 'resolved' || a.status === 'survived') && !c.acked.has(a.serial) && !delivered.has(a.serial)) {
          this.fail(
            `consumer ${c.name} lost record s${a.serial} (id ${a.id}, ${a.status}) after ${why === 'graceful' ? 'a graceful restart' : 'a crash'}`,
          );
        }
      }
      for (const r of got) seen.set(r.serial, r.id);
    }
    let survived = 0;
    let lost = 0;
    for (const a of this.appends) {
      if (a.status !== 'unknown') continue;
      if (seen.has(a.serial)) {
        a.status = 'survived';
        survived++;
        this.stats.committed++;
      } else {
        a.status = 'lost';
        lost++;
        this.stats.lost++;
      }
    }
    if (survived + lost > 0) this.note(`unresolved appends: ${survived} survived, ${lost} lost`);
    this.checkPositions('after recovery');
  }

  private async gracefulRestart(): Promise<void> {
    const q = this.requireQueue();
    this.note('graceful close');
    const upTo = new Map([...this.consumers.keys()].map((name) => [name, q.consumer(name).ackedUpTo]));
    const out = await this.drive(q.close(), 60_000);
    if (out.status === 'rejected') throw new QueueFailed(`close: ${errText(out.error)}`);
    if (out.status !== 'resolved') this.fail(`close did not finish (${out.status})`);
    // A read still waiting when the queue closed must come back (empty, or with what it had).
    for (const c of this.consumers.values()) await this.collect(c, 'at close');
    if (this.ioFailed !== null) {
      // The queue had failed (an append saw the I/O error) and close() still resolved (FINDINGS.md, F4).
      this.fail(`close() resolved after the queue had failed (${this.ioFailed})`);
    }
    this.queue = null;
    this.stats.gracefulRestarts++;
    this.boot++;
    // Close persists every cursor: the floor is what each consumer had acknowledged.
    for (const [name, c] of this.consumers) {
      c.floor = Math.max(c.floor, upTo.get(name) ?? 0);
      c.restartAt = null;
      c.outstanding = [];
      c.nextExpected = 0;
      c.lastSerial = -1;
    }
    for (const a of this.inflight) {
      // close() waits for in-flight appends: each must have resolved, or been refused (no space).
      this.fail(`append s${a.serial} was still pending after close() resolved`);
    }
    this.inflight.clear();
    this.added = new Set();
    if (this.cfg.growConsumers && this.consumers.size < 3 && this.rng.chance(0.5)) {
      // A sink added to the configuration: it must get every record some other consumer still
      // needs (those are kept for sure); what every consumer acknowledged may be gone already.
      const name = `late${this.consumers.size}`;
      const others = [...this.consumers.values()];
      const acked = new Set([...(others[0]?.acked ?? [])].filter((s) => others.every((o) => o.acked.has(s))));
      this.consumers.set(name, { name, acked, outstanding: [], nextExpected: 0, lastSerial: -1, floor: 0, bg: null, restartAt: null });
      this.added.add(name);
      this.note(`consumer ${name} added`);
    }
    await this.openAndVerify('graceful', 0);
  }

  // --- actions ---------------------------------------------------------------------------------

  private async action(): Promise<void> {
    this.checkCrashed();
    this.checkIo();
    const r = this.rng.next();
    if (r < 0.3) await this.appendBurst();
    else if (r < 0.38) await this.settle();
    else if (r < 0.5) await this.readSome(this.pickConsumer());
    else if (r < 0.58) await this.backgroundRead(this.pickConsumer());
    else if (r < 0.73) await this.ackSome(this.pickConsumer());
    else if (r < 0.78) await this.flushCursor(this.pickConsumer());
    else if (r < 0.8) await this.rewind(this.pickConsumer());
    else if (r < 0.85) await this.passTime();
    else if (r < 0.88) {
      const kind = this.rng.pick(this.cfg.crashKinds);
      this.note(`crash now (${kind})`);
      this.powerCut(kind);
      throw new Crashed();
    } else if (r < 0.95) {
      const n = this.fs.steps + this.rng.range(1, 25);
      const kind = this.rng.pick(this.cfg.crashKinds);
      this.fs.crashAt(n, kind);
      this.note(`crash scheduled at step ${n} (${kind})`);
    } else await this.gracefulRestart();
  }

  /** Crash now; with `holes`, a power loss may zero one whole sector of a segment's unsynced bytes. */
  private powerCut(kind: 'power' | 'process'): void {
    if (!this.cfg.holes || kind !== 'power') {
      this.fs.crash({ kind });
      return;
    }
    const SECTOR = 512;
    const holes = new Map<string, readonly [number, number]>();
    for (const name of this.fs.list(this.dir) ?? []) {
      if (!name.startsWith('seg-')) continue;
      const path = `${this.dir}/${name}`;
      const durable = this.fs.peekDurable(path)?.length ?? 0;
      const size = this.fs.sizeOf(path) ?? 0;
      const first = Math.ceil(durable / SECTOR);
      const last = Math.floor(size / SECTOR) - 1; // a sector that ends at or before the file's end
      if (last < first || !this.rng.chance(0.5)) continue;
      const at = this.rng.range(first, last) * SECTOR;
      holes.set(path, [at, at + SECTOR]);
      this.note(`power loss leaves a hole of zeros in ${name} at ${at}..${at + SECTOR} (unsynced bytes ${durable}..${size})`);
    }
    this.fs.crash({ kind, holes });
  }

  private pickConsumer(): ConsumerModel {
    return this.consumers.get(this.rng.pick([...this.consumers.keys()])) as ConsumerModel;
  }

  private async appendBurst(): Promise<void> {
    const q = this.requireQueue();
    const n = this.rng.range(1, 4);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) {
      const serial = this.appends.length;
      const size = this.payloadSize();
      let events = this.rng.chance(0.5) ? 1 : this.rng.range(1, 5);
      if (this.cfg.bigEvents && this.rng.chance(0.2)) events = this.rng.range(2 ** 20, 2 ** 31);
      const positions: SourcePosition[] = [];
      if (this.rng.chance(0.4)) {
        for (const key of KEYS) {
          if (!this.rng.chance(0.4)) continue;
          positions.push({ key, value: this.rng.chance(0.1) ? null : Buffer.from(`s${serial}`) });
        }
      }
      const a: AppendModel = { serial, size, events, positions, status: 'pending', id: null, boot: this.boot, done: Promise.resolve() };
      this.appends.push(a);
      this.inflight.add(a);
      this.stats.appends++;
      parts.push(`s${serial}(${size}B,${events}ev${positions.length ? `,${positions.map((p) => `${p.key}=${p.value === null ? 'null' : 'v'}`).join('+')}` : ''})`);
      const opts = events === 1 && positions.length === 0 ? undefined : { events, positions };
      a.done = q.append(makePayload(serial, size), opts).then(
        (res) => this.onResolved(a, res.id, res.nextId),
        (err: unknown) => this.onRejected(a, err),
      );
    }
    this.note(`append ${parts.join(' ')}`);
    if (this.rng.chance(0.5)) await this.settle();
  }

  private payloadSize(): number {
    const r = this.rng.next();
    if (r < 0.5) return this.rng.range(PAYLOAD_HEADER, 100);
    if (r < 0.9) return this.rng.range(100, 600);
    return this.rng.range(PAYLOAD_HEADER, this.cfg.maxPayload);
  }

  private onResolved(a: AppendModel, id: number, nextId: number): void {
    const late = a.boot !== this.boot || a.status !== 'pending';
    this.inflight.delete(a);
    if (late && a.status === 'lost') {
      this.defer(`append s${a.serial} resolved (id ${id}) after recovery had found it missing`);
    }
    if (nextId !== id + a.events) this.defer(`append s${a.serial}: nextId ${nextId} != id ${id} + events ${a.events}`);
    if (a.id !== null && a.id !== id) this.defer(`append s${a.serial} resolved with id ${id} but was read back as id ${a.id}`);
    for (const b of this.appends) {
      if (b !== a && b.id === id && b.status !== 'lost') this.defer(`append s${a.serial} got id ${id}, already the id of s${b.serial}`);
      if (b.id !== null && b.serial < a.serial && b.id >= id && b.status !== 'lost') {
        this.defer(`append s${a.serial} got id ${id}, not after s${b.serial} (id ${b.id}): ids out of append order`);
      }
    }
    // A consumer that already read past this id in this boot would never see it.
    if (a.boot === this.boot) {
      for (const c of this.consumers.values()) {
        if (c.nextExpected > id && !c.acked.has(a.serial) && !c.outstanding.some((r) => r.id === id)) {
          this.defer(`append s${a.serial} resolved with id ${id}, below what consumer ${c.name} had already read (${c.nextExpected})`);
        }
      }
    }
    a.id = id;
    if (a.status !== 'survived') this.stats.committed++;
    a.status = a.status === 'survived' ? 'survived' : 'resolved';
  }

  private onRejected(a: AppendModel, err: unknown): void {
    this.inflight.delete(a);
    if (a.status === 'pending') a.status = 'unknown';
    if (a.boot === this.boot && !this.fs.crashed && !isIoFailure(err) && !isClosed(err)) {
      this.defer(`append s${a.serial} rejected: ${errText(err)}`);
    }
    if (a.boot === this.boot && !this.fs.crashed && isIoFailure(err)) this.ioFailed = errText(err);
  }

  private ioFailed: string | null = null;

  private async settle(): Promise<void> {
    if (this.inflight.size === 0) {
      this.checkPositions('idle');
      return;
    }
    const pending = [...this.inflight];
    for (let round = 0; ; round++) {
      const waitFor = Promise.all(pending.map((a) => a.done));
      const out = await this.drive(waitFor, 10_000);
      if (out.status === 'resolved') break;
      const q = this.requireQueue();
      if (out.status === 'timeout' && q.metrics().full && round < 20) {
        this.stats.backpressureWaits++;
        this.note(`queue full (${q.metrics().bytesOnDisk} B on disk): consumers catch up`);
        await this.relieve();
        continue;
      }
      this.fail(
        `appends ${pending.filter((a) => a.status === 'pending').map((a) => `s${a.serial}`).join(',')} did not settle (${out.status}; queue full: ${q.metrics().full}, bytesOnDisk ${q.metrics().bytesOnDisk}, segments on disk ${this.segmentBytesOnDisk()} B, maxBytes ${this.cfg.maxBytes})`,
      );
    }
    this.checkIo();
    this.note(`settled ${pending.map((a) => `s${a.serial}=${a.status === 'resolved' ? `#${a.id}` : a.status}`).join(' ')}`);
    if (this.inflight.size === 0) {
      this.checkPositions('after settle');
      this.checkDiskBound();
    }
  }

  /** Segments on disk stay within maxBytes (plus one positions snapshot, as the queue documents). */
  private segmentBytesOnDisk(): number {
    let total = 0;
    for (const name of this.fs.list(this.dir) ?? []) {
      if (name.startsWith('seg-')) total += this.fs.sizeOf(`${this.dir}/${name}`) ?? 0;
    }
    return total;
  }

  private checkDiskBound(): void {
    const total = this.segmentBytesOnDisk();
    if (total > this.cfg.maxBytes + 1024) this.fail(`segments hold ${total} bytes on disk, maxBytes is ${this.cfg.maxBytes}`);
  }

  /** Every consumer reads everything durable, acknowledges it all and persists its cursor. */
  private async relieve(): Promise<void> {
    for (const c of this.consumers.values()) {
      await this.drain(c);
      this.ack(c, [...c.outstanding]);
      await this.flushCursor(c);
    }
  }

  /** Start a read and leave it waiting while the script goes on (appends must wake it). */
  private async backgroundRead(c: ConsumerModel): Promise<void> {
    await this.collect(c, 'before another read');
    const consumer = this.requireQueue().consumer(c.name);
    const ac = new AbortController();
    const timer = this.clock.setTimer(this.rng.pick([20, 200, 2000]), () => ac.abort());
    const maxRecords = this.rng.range(1, 10);
    const bg: BackgroundRead = {
      done: Promise.resolve(),
      cancel: () => timer.cancel(),
      records: null,
      error: undefined,
      rewound: null,
      floor: c.floor,
    };
    bg.done = consumer.read({ maxRecords, signal: ac.signal }).then(
      (records) => {
        timer.cancel();
        bg.records = records;
      },
      (err: unknown) => {
        timer.cancel();
        bg.error = err ?? new Error('rejected without a reason');
      },
    );
    c.bg = bg;
    this.note(`read ${c.name} max ${maxRecords} started in the background`);
    if (this.cfg.pipelined && c.outstanding.length > 0) {
      // A pipelined sink: the previous batch is delivered (acknowledged) while the next read runs.
      for (let turns = this.rng.int(12); turns > 0; turns--) await Promise.resolve();
      if (this.fs.crashed) throw new Crashed();
      this.ack(c, [...c.outstanding]);
    }
  }

  /** Wait for a consumer's background read, if any, and check what it returned. */
  private async collect(c: ConsumerModel, when: string): Promise<void> {
    const bg = c.bg;
    if (bg === null) return;
    const out = await this.drive(bg.done, 10_000);
    c.bg = null;
    if (out.status !== 'resolved') this.fail(`background read by ${c.name} did not return after its signal aborted (${out.status})`);
    if (bg.error !== undefined) {
      if (isIoFailure(bg.error)) throw new QueueFailed(`read: ${errText(bg.error)}`);
      this.fail(`background read by ${c.name} rejected: ${errText(bg.error)}`);
    }
    const records = bg.records ?? [];
    let got: { serial: number; id: number }[];
    if (bg.rewound === null || records.length === 0) got = records.map((r) => this.checkRecord(c, r, bg.floor));
    else got = this.checkOverlapped(c, records, bg.rewound, bg.floor);
    this.note(`background read ${c.name} (${when}) -> ${got.length ? got.map((r) => `s${r.serial}#${r.id}`).join(' ') : 'nothing'}`);
  }

  /**
   * A read that was pending when `rewind()` ran: from the outside one cannot tell whether the queue
   * had already handed its records out (then the rewind forgot them and the next read restarts at
   * the low-water mark) or read them after the rewind (then they start at the low-water mark).
   * Either is correct; the records must fit one of the two.
   */
  private checkOverlapped(
    c: ConsumerModel,
    records: QueueRecord[],
    rewound: NonNullable<BackgroundRead['rewound']>,
    floor: number,
  ): { serial: number; id: number }[] {
    const serials = records.map((r) => this.checkContent(c, r, floor));
    const after: OrderState = { nextExpected: rewound.to, lastSerial: -1 };
    const before: OrderState = { ...rewound.before };
    let afterProblem: string | null = null;
    let beforeProblem: string | null = null;
    records.forEach((r, i) => {
      afterProblem ??= this.orderProblem(c, after, r, serials[i] as number);
      beforeProblem ??= this.orderProblem(c, before, r, serials[i] as number);
    });
    if (afterProblem === null) {
      c.nextExpected = after.nextExpected;
      c.lastSerial = after.lastSerial;
      c.outstanding.push(...records);
      c.restartAt = beforeProblem === null ? rewound.to : null;
    } else if (beforeProblem === null) {
      // Handed out before the rewind, then forgotten by it: the next read starts at the mark again.
      c.nextExpected = rewound.to;
      c.lastSerial = -1;
    } else {
      this.fail(`a read that overlapped a rewind of ${c.name} to ${rewound.to} fits neither order: ${String(afterProblem)} / ${String(beforeProblem)}`);
    }
    return records.map((r, i) => ({ serial: serials[i] as number, id: r.id }));
  }

  private async readSome(c: ConsumerModel): Promise<void> {
    await this.collect(c, 'before another read');
    const maxRecords = this.rng.chance(0.3) ? undefined : this.rng.range(1, 8);
    const got = await this.read(c, maxRecords, this.rng.chance(0.2) ? this.rng.range(1, 600) : undefined);
    this.note(`read ${c.name}${maxRecords ? ` max ${maxRecords}` : ''} -> ${got.length ? got.map((r) => `s${r.serial}#${r.id}`).join(' ') : 'nothing'}`);
  }

  /** Read until a read comes back empty (the abort timer fired with nothing durable left). */
  private async drain(c: ConsumerModel): Promise<{ serial: number; id: number }[]> {
    await this.collect(c, 'before a drain');
    const all: { serial: number; id: number }[] = [];
    for (let i = 0; i < 10_000; i++) {
      const got = await this.read(c, this.rng.range(1, 50), undefined);
      if (got.length === 0) {
        this.note(`drained ${c.name}: ${all.length ? `s${all[0]?.serial}..s${all[all.length - 1]?.serial} (${all.length})` : 'nothing'}`);
        return all;
      }
      all.push(...got);
    }
    this.fail(`consumer ${c.name} never ran dry`);
  }

  private async read(c: ConsumerModel, maxRecords: number | undefined, maxBytes: number | undefined): Promise<{ serial: number; id: number }[]> {
    const consumer = this.requireQueue().consumer(c.name);
    const ac = new AbortController();
    const waitMs = this.cfg.fsync.mode === 'interval' ? this.cfg.fsync.intervalMs * 3 + 50 : 50;
    const timer = this.clock.setTimer(waitMs, () => ac.abort());
    const ropts: { maxRecords?: number; maxBytes?: number; signal: AbortSignal } = { signal: ac.signal };
    if (maxRecords !== undefined) ropts.maxRecords = maxRecords;
    if (maxBytes !== undefined) ropts.maxBytes = maxBytes;
    const out = await this.drive(consumer.read(ropts), waitMs + 10_000);
    timer.cancel();
    const what = `read by ${c.name} (maxRecords ${maxRecords ?? '-'}, maxBytes ${maxBytes ?? '-'}, from id ${c.nextExpected})`;
    if (out.status === 'rejected') {
      if (isIoFailure(out.error)) throw new QueueFailed(`read: ${errText(out.error)}`);
      this.fail(`${what} rejected: ${errText(out.error)}`);
    }
    if (out.status !== 'resolved') this.fail(`${what} did not return after its signal aborted (${out.status})`);
    const records = out.value;
    if (maxRecords !== undefined && records.length > maxRecords) this.fail(`${what} returned ${records.length} records`);
    if (maxBytes !== undefined && records.length > 1) {
      const bytes = records.reduce((n, r) => n + r.payload.length, 0);
      if (bytes > maxBytes) this.fail(`${what} returned ${records.length} records of ${bytes} payload bytes in all`);
    }
    return records.map((r) => this.checkRecord(c, r));
  }

  /** Check one record a consumer was given against the model and the consumer's order. */
  private checkRecord(c: ConsumerModel, r: QueueRecord, floor = c.floor): { serial: number; id: number } {
    const serial = this.checkContent(c, r, floor);
    const state: OrderState = { nextExpected: c.nextExpected, lastSerial: c.lastSerial };
    let problem = this.orderProblem(c, state, r, serial);
    if (problem !== null && c.restartAt !== null && r.id >= c.restartAt) {
      // The read before overlapped a rewind and the queue counts its records as forgotten: restart.
      const restart: OrderState = { nextExpected: c.restartAt, lastSerial: -1 };
      if (this.orderProblem(c, restart, r, serial) === null) {
        problem = null;
        Object.assign(state, restart);
        c.outstanding = [];
      }
    }
    c.restartAt = null;
    if (problem !== null) this.fail(problem);
    c.nextExpected = state.nextExpected;
    c.lastSerial = state.lastSerial;
    c.outstanding.push(r);
    return { serial, id: r.id };
  }

  /** What a record holds must be exactly what was appended, under the id it was given. Returns its serial. */
  private checkContent(c: ConsumerModel, r: QueueRecord, floor: number): number {
    this.stats.recordsChecked++;
    const p = r.payload;
    const where = `consumer ${c.name}, record id ${r.id}`;
    if (p.length < PAYLOAD_HEADER) this.fail(`${where}: payload of ${p.length} bytes was never appended`);
    const serial = p.readUInt32LE(0);
    const a = this.appends[serial];
    if (a === undefined || !isPayload(p, serial, a.size)) {
      this.fail(`${where}: payload (${p.length} bytes, starts ${p.subarray(0, 16).toString('hex')}) is not what was appended`);
    }
    if (r.events !== a.events) this.fail(`${where} (s${serial}): ${r.events} events, appended with ${a.events}`);
    switch (a.status) {
      case 'pending':
        this.fail(`${where} (s${serial}): returned before its append resolved`);
        break;
      case 'lost':
        this.fail(`${where} (s${serial}): came back after recovery had found it missing`);
        break;
      case 'unknown':
        if (a.boot === this.boot) this.fail(`${where} (s${serial}): returned although its append was rejected`);
        break;
      case 'resolved':
      case 'survived':
        break;
    }
    if (a.id !== null && a.id !== r.id) this.fail(`${where} (s${serial}): appended as id ${a.id}`);
    if (a.id === null) {
      for (const b of this.appends) {
        if (b.id === r.id && b.status !== 'lost') this.fail(`${where} (s${serial}): id already belongs to s${b.serial}`);
      }
      a.id = r.id;
    }
    if (r.id < floor) this.fail(`${where} (s${serial}): below the persisted cursor ${floor} (flushCursor/close did not persist)`);
    return serial;
  }

  /** Order: ids increase, nothing unacknowledged skipped, append order kept. Advances `s`; null if fine. */
  private orderProblem(c: ConsumerModel, s: OrderState, r: QueueRecord, serial: number): string | null {
    const where = `consumer ${c.name}, record id ${r.id} (s${serial})`;
    if (r.id < s.nextExpected) return `${where}: expected id ${s.nextExpected} or later (records out of order or repeated)`;
    if (serial <= s.lastSerial) return `${where}: came after s${s.lastSerial} (not in append order)`;
    for (const b of this.appends) {
      if ((b.status === 'resolved' || b.status === 'survived') && b.id !== null && b.id >= s.nextExpected && b.id < r.id && !c.acked.has(b.serial)) {
        return `${where}: skipped s${b.serial} (id ${b.id}), which ${c.name} never acknowledged`;
      }
    }
    s.nextExpected = r.id + r.events;
    s.lastSerial = serial;
    return null;
  }

  private async ackSome(c: ConsumerModel): Promise<void> {
    if (this.rng.chance(0.5)) await this.collect(c, 'before acks');
    if (c.outstanding.length === 0) return;
    const chosen = c.outstanding.filter(() => this.rng.chance(0.6));
    // Shuffle: acknowledgements arrive out of order.
    for (let i = chosen.length - 1; i > 0; i--) {
      const j = this.rng.int(i + 1);
      [chosen[i], chosen[j]] = [chosen[j] as QueueRecord, chosen[i] as QueueRecord];
    }
    this.ack(c, chosen);
  }

  private ack(c: ConsumerModel, records: QueueRecord[]): void {
    if (records.length === 0) return;
    const consumer = this.requireQueue().consumer(c.name);
    for (const r of records) {
      consumer.ack(r.id);
      c.acked.add(r.payload.readUInt32LE(0));
    }
    const set = new Set(records);
    c.outstanding = c.outstanding.filter((r) => !set.has(r));
    const upTo = consumer.ackedUpTo;
    this.note(`ack ${c.name} ${records.map((r) => `#${r.id}`).join(' ')} -> ackedUpTo ${upTo}`);
    this.checkAckedUpTo(c, consumer);
  }

  private checkAckedUpTo(c: ConsumerModel, consumer: Consumer): void {
    const upTo = consumer.ackedUpTo;
    for (const a of this.appends) {
      if ((a.status === 'resolved' || a.status === 'survived') && a.id !== null && a.id < upTo && !c.acked.has(a.serial)) {
        this.fail(`consumer ${c.name}: ackedUpTo ${upTo} covers s${a.serial} (id ${a.id}), which was never acknowledged`);
      }
    }
  }

  private async flushCursor(c: ConsumerModel): Promise<void> {
    const consumer = this.requireQueue().consumer(c.name);
    const upTo = consumer.ackedUpTo;
    const out = await this.drive(consumer.flushCursor(), 10_000);
    if (out.status === 'rejected') {
      if (isIoFailure(out.error)) throw new QueueFailed(`flushCursor: ${errText(out.error)}`);
      this.fail(`flushCursor of ${c.name} rejected: ${errText(out.error)}`);
    }
    if (out.status !== 'resolved') this.fail(`flushCursor of ${c.name} did not finish (${out.status})`);
    c.floor = Math.max(c.floor, upTo);
    this.note(`flushed cursor ${c.name} at ${upTo}`);
  }

  private async rewind(c: ConsumerModel): Promise<void> {
    // Pipelined sinks rewind (after a failed delivery) while their next read is still running: that
    // read must then start again at the low-water mark too. A read that already finished is
    // collected first: what it returned was handed out before the rewind.
    const during = this.cfg.pipelined && c.bg !== null && c.bg.records === null && c.bg.error === undefined;
    if (!during) await this.collect(c, 'before a rewind');
    const consumer = this.requireQueue().consumer(c.name);
    if (during && c.bg !== null) c.bg.rewound = { to: consumer.ackedUpTo, before: { nextExpected: c.nextExpected, lastSerial: c.lastSerial } };
    consumer.rewind();
    c.outstanding = [];
    c.restartAt = null;
    c.nextExpected = consumer.ackedUpTo;
    c.lastSerial = -1;
    this.note(`rewind ${c.name} to ${consumer.ackedUpTo}${during ? ' while a read is in flight' : ''}`);
  }

  private async passTime(): Promise<void> {
    const ms = this.rng.pick([1, 10, 100, 1000]);
    const out = await this.drive(this.clock.sleep(ms), ms + 10);
    if (out.status !== 'resolved') this.fail(`virtual time did not pass (${out.status})`);
    this.note(`${ms} ms passed`);
    this.checkIo();
    if (this.cfg.lockProbe) await this.secondOpen();
  }

  /** Open the same directory again while the queue is open: refused with SLUICE_QUEUE_LOCKED. */
  private async secondOpen(): Promise<void> {
    this.requireQueue();
    const out = await this.drive(this.open(this.queueOptions()), 60_000);
    if (out.status === 'resolved') {
      await this.drive(out.value.close(), 60_000).catch(() => undefined);
      this.fail('a second open of a directory held by a live queue succeeded');
    }
    if (out.status !== 'rejected') this.fail(`a second open of a held directory did not finish (${out.status})`);
    if (!hasCode(out.error, 'SLUICE_QUEUE_LOCKED') && !isIoFailure(out.error)) {
      this.fail(`a second open of a held directory failed with ${errText(out.error)}, expected SLUICE_QUEUE_LOCKED`);
    }
    this.note('a second open of the directory was refused');
  }

  private queueOptions(): QueueOptions & { fs: FileSystem; clock: Clock } {
    return {
      dir: this.dir,
      consumers: [...this.consumers.keys()],
      fsync: this.cfg.fsync,
      segmentBytes: this.cfg.segmentBytes,
      maxBytes: this.cfg.maxBytes,
      cursorFlushMs: this.cfg.cursorFlushMs,
      onEvent: (e) => {
        if (e.type === 'queue.full' && e.reason === 'disk-full') this.stats.diskFullWaits++;
      },
      fs: this.queueFs(),
      clock: this.clock,
    };
  }

  private wrapped: { of: SimFileSystem; fs: FileSystem } | null = null;
  /** The file system the queue sees: the boot's view, wrapped once per boot if asked (one process, one object). */
  private queueFs(): FileSystem {
    if (this.opts.wrapFs === undefined) return this.fs;
    if (this.wrapped?.of !== this.fs) this.wrapped = { of: this.fs, fs: this.opts.wrapFs(this.fs) };
    return this.wrapped.fs;
  }

  // --- checks and plumbing ---------------------------------------------------------------------

  /** positions() must hold, per key, the last committed value in id order (none if it was null). */
  private checkPositions(when: string): void {
    const q = this.requireQueue();
    const expected = new Map<string, { serial: number; id: number; value: Uint8Array | null }>();
    for (const a of this.appends) {
      if ((a.status !== 'resolved' && a.status !== 'survived') || a.id === null) continue;
      for (const p of a.positions) {
        const prev = expected.get(p.key);
        if (prev === undefined || prev.id < a.id) expected.set(p.key, { serial: a.serial, id: a.id, value: p.value });
      }
    }
    const got = q.positions();
    for (const key of KEYS) {
      const want = expected.get(key);
      const have = got.get(key);
      const wantText = want === undefined || want.value === null ? 'absent' : Buffer.from(want.value).toString();
      const haveText = have === undefined ? 'absent' : Buffer.from(have).toString();
      if (wantText !== haveText) {
        this.fail(`positions() ${when}: key ${key} is ${haveText}, expected ${wantText}${want ? ` (from s${want.serial}, id ${want.id})` : ''}`);
      }
    }
  }

  private checkCrashed(): void {
    if (this.fs.crashed) throw new Crashed();
  }

  private checkIo(): void {
    if (this.ioFailed !== null) {
      const msg = this.ioFailed;
      this.ioFailed = null;
      throw new QueueFailed(msg);
    }
  }

  private defer(msg: string): void {
    if (this.closedForGood) return;
    this.deferred ??= msg;
  }

  private checkDeferred(): void {
    if (this.deferred !== null) this.fail(this.deferred);
    for (const err of this.clock.errors) this.fail(`a timer callback threw: ${errText(err)}`);
  }

  private requireQueue(): Queue {
    this.checkCrashed();
    if (this.queue === null) this.fail('internal: no open queue');
    return this.queue;
  }

  /** Drive virtual time until `p` settles; a crash unwinds with `Crashed`. */
  private async drive<T>(p: Promise<T>, maxMs: number): Promise<RunOutcome<T>> {
    const out = await this.clock.runUntil(p, { maxMs, stop: () => this.fs.crashed || this.deferred !== null });
    if (this.deferred !== null) this.checkDeferred();
    if (out.status === 'stopped' || this.fs.crashed) {
      p.catch(() => undefined);
      throw new Crashed();
    }
    if (out.status === 'deadlock') this.fail('deadlock: the queue waits for something that will never happen (no timer pending, nothing to run)');
    for (const err of this.clock.errors) this.fail(`a timer callback threw: ${errText(err)}`);
    if (this.fs.steps > 2_000_000) this.fail('step limit: more than 2,000,000 file system steps in one boot');
    return out;
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${typeof code === 'string' ? `${code} ` : ''}${err.message}`;
  }
  return String(err);
}

function errChain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e: unknown = err, i = 0; e !== undefined && e !== null && i < 10; i++) {
    out.push(e);
    e = e instanceof Error ? e.cause : undefined;
  }
  return out;
}

/** The queue gave up because the file system failed (injected EIO/ENOSPC, or a crash under it). */
function isIoFailure(err: unknown): boolean {
  return errChain(err).some((e) => {
    const code = (e as { code?: unknown } | null)?.code;
    return isSimCrash(e) || code === 'SLUICE_QUEUE_IO' || code === 'EIO' || code === 'ENOSPC';
  });
}

function hasCode(err: unknown, code: string): boolean {
  return errChain(err).some((e) => (e as { code?: unknown } | null)?.code === code);
}

function isClosed(err: unknown): boolean {
  return hasCode(err, 'SLUICE_QUEUE_CLOSED');
}
