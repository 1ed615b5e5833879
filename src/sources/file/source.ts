/**
 * The file source's loop, and what ties its parts together: `Discovery` finds the files, a `Tailer`
 * reads each open one, `Identities` tells which file is which, the `PositionBook` keeps the
 * positions of files not open, the `Emitter` hands batches to the queue. The design — identity,
 * positions, rotation, idle files — is described in `index.ts`.
 */
import { dirname, resolve } from 'node:path';
import type { Clock, FileSystem, FsError, ReadFileSystem, ReadStat, Timer } from '../../core/ports';
import { nodeReadFileSystem, systemClock } from '../../core/node-ports';
import { DirWatches, literalDir, nodeWatchDir, type WatchDir } from './watch';
import type { Source, SourceContext, SourceStats } from '../../core/source';
import { SourceEmitError } from '../errors';
import { Assembler, decodeStats, DecodeWarnings, decodes, newDecodeCounts } from '../decode';
import type { DecodeCounts } from '../decode';
import { PositionBook } from './book';
import type { IdleClosed } from './book';
import type { FileSourceConfig } from './config';
import { Discovery, order } from './discovery';
import type { Found } from './discovery';
import { decodedCap, Emitter } from './emitter';
import { Follower } from './follow';
import { expandBraces, Glob } from './glob';
import { Identities } from './identity';
import { positionOf } from './book';
import { StartState } from './started';
import type { Lines, Tailer } from './tailer';
import { Warnings } from './warnings';

export interface FileSourceMetrics {
  /** Lines emitted (including pieces of split lines and flushed partial lines). */
  lines: number;
  bytes: number;
  batches: number;
  /** Newlines inserted to split lines longer than `max_line_bytes`. */
  splitLines: number;
  /** Partial last lines emitted after `idle_flush_ms` or on rotation. */
  flushedPartialLines: number;
  truncations: number;
  /** Files currently open. */
  openFiles: number;
  /** Positions remembered for files not open. */
  rememberedFiles: number;
  /** Files not read because they are copies of a file being read. */
  copiesHeld: number;
  /** With `multiline` / `decoding`: what the decoder did (`../decode/assembler.ts`); absent otherwise. */
  decode?: DecodeCounts;
}

export interface FileSourceOptions {
  /** Directory relative patterns are resolved against (default: the working directory). */
  readonly cwd?: string;
  /** Time for every deadline and duration (`now()`, monotonic) and the loop's sleeps (default: `systemClock`). */
  readonly clock?: Clock;
  /** How files are found, looked at and read (default: the real file system). */
  readonly fs?: ReadFileSystem;
  /** Where `start_at: end` records what it skipped (`started.ts`); without it every start is a first start. */
  readonly state?: { readonly fs: FileSystem; readonly dataDir: string };
  /**
   * Change notification (`watch.ts`) that hurries reads and scans; null: polling only. Default:
   * inotify through `fs.watch` with the real clock and file system, none with others (a test's
   * manual clock decides alone when things happen).
   */
  readonly watch?: WatchDir | null;
}

/** Least time between two scans asked for by change notifications (a directory busy with renames). */
const NOTIFIED_SCAN_GAP_MS = 50;

/** What one run has: the parts that need the context (the source id, the log, `emit`). */
interface Run {
  readonly ctx: SourceContext;
  readonly book: PositionBook;
  readonly ids: Identities;
  readonly warnings: Warnings;
  readonly discovery: Discovery;
  readonly emitter: Emitter;
  readonly follower: Follower;
  /** The open files, by `dev:ino`. */
  readonly tailers: Map<string, Tailer>;
  firstScan: boolean;
  /** `start_at: end` applies at this start (the source never started before with it). */
  startAtEnd: boolean;
  /** The open files by path (as of the last scan), for change notifications. */
  byPath: Map<string, Tailer>;
  /** A notification asked for a scan before the next `glob_interval_ms`. */
  scanSoon: boolean;
  /** A notification came since the loop last looked (it does not sleep then). */
  kicked: boolean;
  /** Ends the loop's current sleep. */
  wake: (() => void) | null;
}

export class FileSource implements Source {
  private readonly cfg: FileSourceConfig;
  private readonly glob: Glob;
  private readonly clock: Clock;
  private readonly fs: ReadFileSystem;
  /** Every read goes into this one buffer: `emit` copies the lines before it returns (the SourceContext contract). */
  private readonly scratch: Buffer;
  private run_: Run | null = null;
  private readonly state: FileSourceOptions['state'];
  private readonly watchDir: WatchDir | null;
  /** The patterns' directories that have no wildcard (watched for new files). */
  private readonly patternDirs: readonly string[];
  private readonly m: FileSourceMetrics = {
    lines: 0,
    bytes: 0,
    batches: 0,
    splitLines: 0,
    flushedPartialLines: 0,
    truncations: 0,
    openFiles: 0,
    rememberedFiles: 0,
    copiesHeld: 0,
  };
  /** Set when the config decodes (multiline, JSON, CRI): each tailer gets an `Assembler`. */
  private readonly decodeCounts: DecodeCounts | null;
  private readonly decodeWarnings = new DecodeWarnings();

  constructor(config: FileSourceConfig, options: FileSourceOptions = {}) {
    this.cfg = config;
    this.clock = options.clock ?? systemClock;
    this.fs = options.fs ?? nodeReadFileSystem;
    this.state = options.state;
    this.watchDir = options.watch !== undefined ? options.watch : this.clock === systemClock && this.fs === nodeReadFileSystem ? nodeWatchDir : null;
    const cwd = options.cwd ?? process.cwd();
    const include = config.include.map((p) => resolve(cwd, p));
    this.glob = new Glob(
      include,
      config.exclude.map((p) => resolve(cwd, p)),
      this.fs,
    );
    this.patternDirs = [...new Set(include.flatMap((p) => expandBraces(p).map(literalDir)).filter((d) => d !== null))];
    this.decodeCounts = decodes(config) ? newDecodeCounts() : null;
    // With a decoder the carry also holds the pending event (bounded by the assembler).
    const carry = this.decodeCounts ? Assembler.carryBound(config, config.max_line_bytes) : 0;
    this.scratch = Buffer.allocUnsafe(config.max_line_bytes + config.read_buffer_bytes + carry);
  }

  /** With `multiline` or a `decoding`: its counters for `/metrics` (parse failures, multiline and cut events). */
  stats(): SourceStats {
    return this.decodeCounts === null ? {} : decodeStats(this.decodeCounts);
  }

  metrics(): Readonly<FileSourceMetrics> {
    this.m.openFiles = this.run_?.tailers.size ?? 0;
    this.m.rememberedFiles = this.run_?.book.size ?? 0;
    return this.decodeCounts ? { ...this.m, decode: { ...this.decodeCounts } } : { ...this.m };
  }

  async run(ctx: SourceContext): Promise<void> {
    const prefix = `${ctx.id}:`;
    const book = new PositionBook(this.cfg);
    const warnings = new Warnings(ctx.log, ctx.id);
    const inoAt = async (path: string): Promise<string | null> => {
      try {
        const st = await this.fs.stat(path);
        return `${st.dev}:${st.ino}`;
      } catch {
        return null;
      }
    };
    const ids = new Identities(prefix, book, ctx.log, ctx.id, (path, code, msg) => warnings.once(path, code, msg), inoAt);
    const run: Run = {
      ctx,
      book,
      ids,
      warnings,
      discovery: new Discovery(this.glob, this.fs, warnings, ids, this.cfg.fingerprint_bytes, ctx, Math.max(this.cfg.rotate_wait_ms, 3 * this.cfg.glob_interval_ms)),
      emitter: new Emitter(ctx, this.cfg.max_batches_in_flight, book, ids, this.m, this.orphanFramer()),
      follower: new Follower(this.glob, this.fs),
      tailers: new Map(),
      firstScan: true,
      startAtEnd: this.cfg.start_at === 'end',
      byPath: new Map(),
      scanSoon: false,
      kicked: false,
      wake: null,
    };
    const watches = this.watchDir === null ? null : new DirWatches(this.watchDir, (path, renamed) => this.notified(run, path, renamed));
    this.run_ = run;
    const started = this.state && run.startAtEnd ? new StartState(this.state.fs, this.state.dataDir, ctx.id) : null;
    if (started) {
      try {
        const before = await started.load();
        if (before) {
          run.startAtEnd = false;
          book.load(before, prefix, this.clock.now(), ctx.log, ctx.id); // the queue's positions, loaded next, win
        }
      } catch (e) {
        ctx.log.warn(`cannot read the start_at state of this source: ${(e as Error).message}; start_at: end applies again`, { source: ctx.id });
      }
    }
    book.load(ctx.positions, prefix, this.clock.now(), ctx.log, ctx.id);
    const signal = ctx.signal;
    let nextScan = 0;
    let lastScan = Number.NEGATIVE_INFINITY;
    try {
      while (!signal.aborted && run.emitter.failure === null) {
        run.kicked = false;
        let now = this.clock.now();
        if (run.scanSoon) {
          run.scanSoon = false;
          nextScan = Math.min(nextScan, lastScan + NOTIFIED_SCAN_GAP_MS);
        }
        if (now >= nextScan) {
          const first = run.firstScan;
          await this.scan(run);
          if (first && started && run.startAtEnd) await this.saveStart(run, started);
          if (watches !== null) watches.keep(this.watchedDirs(run));
          now = this.clock.now();
          lastScan = now;
          nextScan = now + this.cfg.glob_interval_ms;
        }
        let wake = nextScan;
        for (const t of run.tailers.values()) {
          if (signal.aborted || run.emitter.failure !== null) break;
          if (t.isClosed) continue;
          if (t.nextPoll <= now) {
            await this.pump(run, t);
            now = this.clock.now();
          }
          if (!t.isClosed && t.nextPoll < wake) wake = t.nextPoll;
        }
        if (run.scanSoon) wake = Math.min(wake, lastScan + NOTIFIED_SCAN_GAP_MS);
        const wait = wake - this.clock.now();
        if (wait > 0 && !signal.aborted && !run.kicked) await sleep(this.clock, wait, signal, run);
      }
    } finally {
      watches?.closeAll();
      await run.emitter.drain();
      for (const t of run.tailers.values()) await t.close();
      run.tailers.clear();
    }
    const failure = run.emitter.failure;
    if (failure !== null) throw new SourceEmitError(ctx.id, { cause: failure.error });
  }

  // --- change notifications (watch.ts) -------------------------------------------------------

  /**
   * A name in a watched directory changed (null: unknown). An open file there is due for a read
   * now; a name the patterns match that came or went, or that no open file has, asks for a scan.
   */
  private notified(run: Run, path: string | null, renamed: boolean): void {
    if (path === null) {
      for (const t of run.tailers.values()) t.poke();
      run.scanSoon = true;
    } else {
      const t = run.byPath.get(path);
      if (t !== undefined && !t.isClosed) t.poke();
      if ((t === undefined || renamed) && this.glob.matches(path)) run.scanSoon = true;
    }
    run.kicked = true;
    const wake = run.wake;
    if (wake !== null) {
      run.wake = null;
      wake();
    }
  }

  /** What to watch: the directories of the open files and the patterns' literal directories. */
  private watchedDirs(run: Run): Set<string> {
    run.byPath.clear();
    const dirs = new Set<string>(this.patternDirs);
    for (const t of run.tailers.values()) {
      run.byPath.set(t.path, t);
      dirs.add(dirname(t.path));
    }
    return dirs;
  }

  // --- scanning -------------------------------------------------------------------------------

  private async scan(run: Run): Promise<void> {
    const now = this.clock.now();
    const { files, complete, seenPaths } = await run.discovery.list();
    if (complete) for (const t of run.tailers.values()) t.inGlob = false;
    // Files we hold open (renames, truncation, growing fingerprints), then the others.
    const candidates: Found[] = [];
    for (const f of files) {
      const t = run.tailers.get(f.ino);
      if (!t) {
        candidates.push(f);
        continue;
      }
      if (t.path !== f.path && t.inGlob) continue; // a second name (hard link) of a file already seen
      if (t.seen(f.path, f.st.size, f.st.mtimeMs)) await this.checkHeld(run, t, f.st.size);
    }
    for (const t of run.tailers.values()) t.missed(now);
    this.m.copiesHeld = 0;
    // Pass 1: files that resume a remembered position (fingerprint and tail check), so a file that
    // merely shares the first bytes cannot take a position away from the file it belongs to.
    // Pass 2: the others (new files, copies of open files).
    let rest = order(candidates, run.book, complete, now);
    if (run.book.size > 0) {
      const unresolved: Found[] = [];
      for (const c of rest) if (!(await this.consider(run, c, now, true))) unresolved.push(c);
      rest = unresolved;
    }
    for (const c of rest) await this.consider(run, c, now, false);
    await this.follow(run, files, now);
    if (complete) run.discovery.keepCopies(new Set(files.map((f) => f.ino)));
    run.firstScan = false;
    run.warnings.keepOnly(seenPaths);
    await run.emitter.orphans(now, this.cfg.rotate_wait_ms, this.cfg.max_line_bytes);
    run.book.expire(now);
  }

  /**
   * After the first scan of the first start with `start_at: end`: every open file's position is
   * made durable (`started.ts`) before anything is read, so a restart resumes there.
   */
  private async saveStart(run: Run, started: StartState): Promise<void> {
    const positions = [];
    for (const t of run.tailers.values()) {
      const id = t.identity;
      if (id) positions.push(positionOf(id.key, id.fpLen, t.emittedOffset, t.emittedTail, t.path));
    }
    try {
      await started.save(positions);
    } catch (e) {
      run.ctx.log.warn(`cannot record where start_at: end started (${(e as Error).message}): a restart before these files get a line skips what they got meanwhile`, {
        source: run.ctx.id,
      });
    }
  }

  /** A file we hold open, seen again by a scan (its size or mtime changed): truncated? fingerprint to extend? */
  private async checkHeld(run: Run, t: Tailer, size: number): Promise<void> {
    const v = await run.ids.check(t, size, this.cfg.fingerprint_bytes);
    switch (v.kind) {
      case 'ok':
        return;
      case 'upgrade':
        t.upgrade = v.identity;
        return;
      case 'truncated':
        await this.truncated(run, t, v.why, size);
        return;
      case 'unidentified':
        if (size > 0) await this.identifyTruncated(run, t, size);
        return;
    }
  }

  private async truncated(run: Run, t: Tailer, why: string, size: number): Promise<void> {
    this.m.truncations++;
    run.ctx.log.info(`file truncated (${why}): reading it again from the start`, { source: run.ctx.id, path: t.path });
    const id = t.identity;
    if (id) {
      run.ids.assign(t, null);
      // The old identity is released at the offset we reached: a copy (copytruncate) takes it over.
      const carry = t.carry && t.carry.length > 0 ? { carry: t.carry } : {};
      run.book.remember({ key: id.key, fpLen: id.fpLen, offset: t.emittedOffset, tail: t.emittedTail, path: t.path, since: this.clock.now(), ...carry });
    }
    t.restart();
    if (size > 0) await this.identifyTruncated(run, t, size);
  }

  /** New contents of a file we hold open: a new identity, never a resume. */
  private async identifyTruncated(run: Run, t: Tailer, size: number): Promise<void> {
    // The old contents' position may have the same key (same header): it is kept for a copy to take
    // over, and the new contents get a longer fingerprint.
    const id = await run.ids.fresh(t.fh, size, Math.min(size, this.cfg.fingerprint_bytes), t.path, t);
    if (id !== null && id !== 'copy') run.ids.assign(t, id);
  }

  /**
   * Remembered positions that no matching file resumed: their files may have been renamed away from
   * the patterns while we did not hold them (stopped, idle-closed) or be copytruncate's copy
   * (`follow.ts`). Such a file is read to its end and let go.
   */
  private async follow(run: Run, files: readonly Found[], now: number): Promise<void> {
    if (run.book.size === 0) return;
    const scanned = new Set<string>();
    for (const f of files) scanned.add(f.ino);
    const windowMs = Math.max(this.cfg.rotate_wait_ms, 3 * this.cfg.glob_interval_ms);
    const found = await run.follower.candidates(run.book, now, run.firstScan, windowMs, (ino) => scanned.has(ino) || run.tailers.has(ino));
    for (const f of found) {
      const got = await run.discovery.open(f, now, true, false, (ino) => run.tailers.has(ino));
      if (got.kind !== 'opened') continue;
      const t = got.tailer;
      t.inGlob = false;
      t.goneSince = now;
      run.ids.assign(t, got.identity);
      run.tailers.set(t.ino, t);
      run.ctx.log.info('file renamed away from the patterns (or a rotated copy): reading it to its end', {
        source: run.ctx.id,
        path: t.path,
        offset: t.readOffset,
        size: f.st.size,
      });
    }
  }

  /**
   * A matching file we do not hold open. With `resumeOnly`, it is opened only if it resumes a
   * remembered position; returns whether the file was handled (opened, or nothing to do).
   */
  private async consider(run: Run, found: Found, now: number, resumeOnly: boolean): Promise<boolean> {
    const got = await run.discovery.open(found, now, resumeOnly, run.firstScan && run.startAtEnd, (ino) => run.tailers.has(ino));
    switch (got.kind) {
      case 'unresolved':
        return false;
      case 'copy':
        this.m.copiesHeld++;
        return true; // re-examined at every scan; takes over when the original lets go
      case 'skipped':
        return true;
      case 'opened': {
        const t = got.tailer;
        run.ids.assign(t, got.identity);
        run.tailers.set(t.ino, t);
        run.ctx.log.info('tailing file', { source: run.ctx.id, path: t.path, offset: t.readOffset, resumed: got.resumed });
        return true;
      }
    }
  }

  // --- reading --------------------------------------------------------------------------------

  /** A truncated file's orphaned carry, as events, when the source decodes. */
  private orphanFramer(): ((carry: Buffer, origin: string) => { lines: Buffer; events: number; format: 'events' }) | null {
    const counts = this.decodeCounts;
    if (counts === null) return null;
    return (carry, origin) => {
      const d = new Assembler(this.cfg, this.cfg.max_line_bytes, counts).decode(carry, 0, 'all', origin);
      return { lines: d.lines, events: d.events, format: 'events' };
    };
  }

  /** One read from `t`: emits the complete lines, or handles EOF (idle flush, letting go, closing). */
  private async pump(run: Run, t: Tailer): Promise<void> {
    const now = this.clock.now();
    if (t.identity === null) {
      t.waitForIdentity(now);
      return;
    }
    if (this.decodeCounts !== null && t.decoder === null) {
      t.decoder = new Assembler(this.cfg, this.cfg.max_line_bytes, this.decodeCounts);
      t.outputCap = decodedCap(run.ctx.recordBytes);
    }
    if (t.more) return this.takeMore(run, t); // (a stop or a failure left it: the carry must shrink before a read)
    let n: number;
    try {
      n = await t.read(this.scratch, this.cfg.read_buffer_bytes);
    } catch (e) {
      const err = e as FsError;
      run.warnings.once(t.path, err.code ?? 'ERR', `cannot read ${t.path}: ${err.message}; letting it go`);
      await this.letGo(run, t, false);
      return;
    }
    if (n === 0) {
      const due = t.atEof(now, this.cfg);
      if (due.flush) await this.flushCarry(run, t);
      else if (t.decoder?.holding === true && now - t.lastGrowth >= (this.cfg.multiline?.timeout ?? 0)) {
        // Quiet for `multiline.timeout` (counted from the last line read): the pending event is complete.
        const got = t.takePending();
        if (got) await this.emit(run, t, got);
      }
      if (due.then === 'let-go') await this.letGo(run, t, true);
      else if (due.then === 'close-idle') await this.closeIdle(run, t);
      return;
    }
    // Truncated and refilled past our offset since the last look (copytruncate)? Then these bytes
    // are the new contents, not the rest of the file we were reading: the first bytes tell. Checked
    // after the read, so a truncation before the read cannot slip through.
    if (!(await run.ids.stillHolds(t))) {
      let size = 0;
      try {
        size = (await t.fh.stat()).size;
      } catch {
        // identified at the next scan
      }
      await this.truncated(run, t, 'its contents changed', size);
      return;
    }
    const got = t.took(this.scratch, n, now, this.cfg.max_line_bytes);
    if (got) await this.emit(run, t, got);
    await this.takeMore(run, t);
  }

  /** Decoded events of one read that one batch could not hold: batch after batch, each with the position after its last event. */
  private async takeMore(run: Run, t: Tailer): Promise<void> {
    while (t.more && !run.ctx.signal.aborted && run.emitter.failure === null) {
      const got = t.takeMore();
      if (got) await this.emit(run, t, got);
    }
  }

  private async flushCarry(run: Run, t: Tailer): Promise<void> {
    // (With a decoder the carry may hold complete lines only: the pending event.)
    const partial = t.carry !== null && t.carry[t.carry.length - 1] !== 10;
    const got = t.takeCarry(this.cfg.max_line_bytes);
    if (!got) return;
    if (partial) this.m.flushedPartialLines++;
    await this.emit(run, t, got);
  }

  private splitWarning(run: Run, t: Tailer, splits: number): void {
    this.m.splitLines += splits;
    if (!t.splitWarningDue(this.clock.now())) return;
    run.ctx.log.warn(`lines longer than max_line_bytes (${this.cfg.max_line_bytes}) were split`, {
      source: run.ctx.id,
      path: t.path,
      splitLinesTotal: this.m.splitLines,
    });
  }

  /** Emits lines read from `t` (after the split-line warning they may call for). */
  private async emit(run: Run, t: Tailer, got: Lines): Promise<void> {
    if (!t.identity) return;
    if (got.splits > 0) this.splitWarning(run, t, got.splits);
    if (this.decodeCounts !== null) this.decodeWarnings.check(this.decodeCounts, this.clock.now(), (msg, fields) => run.ctx.log.warn(msg, { source: run.ctx.id, ...fields }));
    await run.emitter.fromTailer(t, got);
  }

  /** Stops reading a file; its position is remembered so a copy or a return resumes it. */
  private async letGo(run: Run, t: Tailer, flush: boolean, idle?: IdleClosed): Promise<void> {
    if (flush) await this.flushCarry(run, t);
    const id = t.identity;
    run.ids.assign(t, null);
    if (!t.inGlob) {
      try {
        const st = await t.fh.stat();
        run.follower.drained(t.path, t.ino, st.size, st.mtimeMs);
      } catch {
        // looked at again by the next scan: harmless
      }
    }
    if (id) {
      const pin = idle ? { idle } : {};
      // With its inode: another file does not take this position while this one is still at its path.
      run.book.remember({ key: id.key, fpLen: id.fpLen, offset: t.emittedOffset, tail: t.emittedTail, path: t.path, since: this.clock.now(), ino: t.ino, ...pin });
    }
    run.tailers.delete(t.ino);
    await t.close();
    run.ctx.log.debug('file let go', { source: run.ctx.id, path: t.path, offset: t.emittedOffset });
  }

  /**
   * Closes a file that matches the patterns but has not grown for `close_idle_ms`, so idle files do
   * not hold descriptors. A held partial line is dropped from memory: the position does not include
   * it, so it is read again when the file is reopened.
   */
  private async closeIdle(run: Run, t: Tailer): Promise<void> {
    let st: ReadStat;
    try {
      st = await t.fh.stat();
    } catch {
      return;
    }
    if (!t.identity || st.size !== t.readOffset) return; // it grew meanwhile: keep reading
    t.carry = null;
    await this.letGo(run, t, false, { ino: t.ino, size: st.size, mtimeMs: st.mtimeMs });
  }
}

/** Waits `ms` on the clock, or until `signal` aborts, or until a change notification (`run.wake`). */
function sleep(clock: Clock, ms: number, signal: AbortSignal, run: { wake: (() => void) | null }): Promise<void> {
  return new Promise((res) => {
    let timer: Timer | null = null;
    const done = (): void => {
      timer?.cancel();
      signal.removeEventListener('abort', done);
      run.wake = null;
      res();
    };
    run.wake = done;
    // Kept alive: this sleep is what the source is doing between polls, and a process whose only
    // work is tailing files must not exit under it.
    timer = clock.setTimer(ms, done, { keepAlive: true });
    signal.addEventListener('abort', done, { once: true });
  });
}
