/**
 * The write path: a bounded string buffer and a writer that hands it to the OS in large writes.
 *
 * Design (measured, see docs/logger.md):
 * - The hot path encodes the formatted line straight into a preallocated Buffer of `bufferBytes`
 *   bytes (`buf.write(line, off)`) and counts it. No syscall, no allocation that outlives the call,
 *   no timer unless none is armed. (Accumulating a string rope and encoding it once per batch was
 *   measured as well: the same CPU, but thousands of live strings per batch get promoted by the GC.)
 * - When the next line might not fit (3 bytes per UTF-16 unit, worst case), the buffer is handed
 *   to the OS with one `fs.writeSync` — one syscall per ~bufferBytes. A flush timer (unref'd) does
 *   the same in quiet periods; `flush()`, `flushSync()` and the exit hook do it on demand.
 * - All writes are synchronous and come from one thread, so they are ordered; there is never a
 *   write in flight when the process exits, so the exit hook's synchronous flush cannot reorder or
 *   duplicate anything. The write(2) calls are ~3-4 % of a 1M-line profile, so an async
 *   double-buffered writer (fs.write on the threadpool) could save little, and nothing in a
 *   synchronous loop (its callback cannot run until the loop yields), while a write still in flight
 *   at exit could be reordered with, or lost behind, the exit flush. Not built; see docs/logger.md.
 * - Each write holds whole lines only, files are opened O_APPEND, so several processes appending
 *   to one file never interleave mid-line. After a partial write that ends on EAGAIN (pipes), the
 *   unwritten tail moves to the front of the buffer and is completed before anything else is
 *   written by this process. After one that ends on an error (a disk that filled mid-batch), the
 *   next write starts on a fresh line and repeats the torn line whole (keepUnwritten, freshLine).
 * - The descriptor of an fd destination is checked with fstat when the logger is made.
 * - Once the process is exiting (`exiting()`, called by the exit hook after its flush), every line
 *   is written through as it is logged: nothing would write it later.
 *
 * When the destination cannot take a batch:
 * - EAGAIN (non-blocking pipe full): `block` sleeps (1 ms doubling to 100 ms) and retries — true
 *   backpressure, whenever a line does not fit, even if the timer's non-blocking drain met EAGAIN
 *   a moment ago. `drop` keeps the unwritten bytes, drops new lines that do not fit in
 *   the bound and counts them; a timer retries (not before `retryAt`, 5 ms after the EAGAIN), and
 *   once a write succeeds a line `"sluice logger dropped N lines"` with `"dropped":N` is appended.
 * - Any other error (ENOSPC, EPIPE, EBADF, EIO): counted in `errors`, reported once per failure
 *   episode through `report` (the logger's 'error' event / onError / one stderr line), pending
 *   `flush()` promises reject, and retries continue with backoff (10 ms doubling to 5 s). Lines that
 *   do not fit in the bound meanwhile are dropped and counted, whatever `whenFull` says: blocking
 *   forever on a dead disk would hang the application, and the loss is reported, never silent.
 */
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { LoggerDestinationError, LoggerWriteError } from './errors';
import { announceWorkerBuffer, CTL_CLOSED, CTL_FD, CTL_LOCK, CTL_OFF } from './shared';
import type { ResolvedOptions, ResolvedRotate } from './options';

export interface LoggerMetrics {
  /** Lines handed to the OS. */
  readonly written: number;
  /** Lines discarded (buffer full under `drop`, or a failing destination). */
  readonly dropped: number;
  /** Failed write attempts. */
  readonly errors: number;
  /** Lines accepted but not yet handed to the OS. */
  readonly buffered: number;
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepCell, 0, 0, ms);
}

function errCode(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}

const NL = 10;
const NEWLINE = Buffer.from('\n');
const MAX_RETRY_MS = 5000;

interface Waiter {
  resolve: () => void;
  reject: (e: Error) => void;
}

export class Writer {
  private fd: number;
  private readonly ownsFd: boolean;
  private readonly path: string | undefined;
  /**
   * The hot path's bound: `cap`, or 0 once closed or exiting, so that every later line takes the
   * slow path (counted as dropped, or written through) at no cost to the hot path.
   */
  private limit: number;
  /** The buffer's size in bytes (`bufferBytes`). */
  private readonly cap: number;
  private readonly block: boolean;
  private readonly fsyncMode: boolean;
  private readonly interval: number;
  private readonly rotate: ResolvedRotate | undefined;

  /** Lines accepted and not yet handed to the OS, UTF-8, in [0, off). */
  private readonly buf: Buffer;
  private off = 0;
  private lines = 0;
  /** One line larger than the buffer, waiting to be written before anything in `buf`... */
  private big: Buffer | null = null;
  /** ...of which the destination already has [0, bigOff) (a partial write). */
  private bigOff = 0;
  /** buf[0] is not the start of a line: the destination has that line's beginning (a partial write). */
  private headTorn = false;
  /**
   * A write failed after part of a line reached the destination: that fragment must be ended with
   * '\n' (unless the file was emptied meanwhile) before the line is written again, whole.
   */
  private needNewline = false;
  /** The last writeOut() stopped on an error (not EAGAIN). */
  private stoppedByError = false;
  /**
   * In a worker thread: `buf` lives in a SharedArrayBuffer and this control block (lock, off,
   * closed, fd) lets the main thread write it out if the process exits under the worker (see
   * shared.ts). null in the main thread.
   */
  private readonly ctl: Int32Array | null;
  private depth = 0;
  private size = 0;

  private timer: NodeJS.Timeout | null = null;
  private retryAt = 0;
  private retryMs = 0;
  private failing = false;
  private lastError: LoggerWriteError | null = null;
  /** An EAGAIN deadline was reported and no drain has emptied the buffer since. */
  private stuckReported = false;
  private closed = false;
  /** When the process is exiting: the time (ms epoch) after which EAGAIN is no longer waited for. */
  private exitDeadline = 0;

  private written = 0;
  private dropped = 0;
  private unannounced = 0;
  private errors = 0;

  private flushWaiters: Waiter[] = [];
  private syncWaiters: Waiter[] = [];
  private syncing = false;
  private readonly closeAfterSync: number[] = [];

  /** Set by the owning logger: formats the "dropped N lines" notice. */
  notice: (dropped: number) => string = (n) => `{"msg":"sluice logger dropped ${n} lines","dropped":${n}}\n`;
  /** Set by the owning logger: where write errors go. */
  report: (err: LoggerWriteError) => void = () => undefined;

  constructor(opts: ResolvedOptions) {
    this.limit = opts.bufferBytes;
    this.cap = opts.bufferBytes;
    this.block = opts.whenFull === 'block';
    this.fsyncMode = opts.durability === 'fsync';
    this.interval = opts.flushIntervalMs;
    this.rotate = opts.rotate;
    if (isMainThread) {
      this.buf = Buffer.allocUnsafe(this.limit);
      this.ctl = null;
    } else {
      const sab = new SharedArrayBuffer(this.limit);
      this.buf = Buffer.from(sab);
      this.ctl = new Int32Array(new SharedArrayBuffer(4 * 4));
    }
    if (opts.destination.kind === 'fd') {
      checkFd(opts.destination.fd);
      this.fd = opts.destination.fd;
      this.ownsFd = false;
      this.path = undefined;
    } else {
      this.path = opts.destination.path;
      this.fd = openAppend(this.path);
      this.ownsFd = true;
      if (this.rotate !== undefined) this.size = fs.fstatSync(this.fd).size;
    }
    if (this.ctl !== null) {
      Atomics.store(this.ctl, CTL_FD, this.fd);
      announceWorkerBuffer(this.ctl, this.buf);
    }
  }

  /** The hot path: one line, ending in '\n'. */
  write(line: string): void {
    if (this.ctl !== null) {
      this.writeShared(line);
      return;
    }
    // a UTF-16 code unit is at most 3 UTF-8 bytes, so this never truncates
    if (this.off + line.length * 3 > this.limit) {
      this.full(line);
      return;
    }
    this.off += this.buf.write(line, this.off);
    this.lines++;
    if (this.timer === null) this.arm(this.interval);
  }

  /** write() in a worker thread: the same, under the lock shared with the main thread. */
  private writeShared(line: string): void {
    this.enter();
    try {
      if (this.off + line.length * 3 > this.limit) this.full(line);
      else {
        this.off += this.buf.write(line, this.off);
        this.lines++;
        if (this.timer === null) this.arm(this.interval);
      }
    } finally {
      this.leave();
    }
  }

  private enter(): void {
    const c = this.ctl;
    if (c === null || this.depth++ > 0) return;
    while (Atomics.compareExchange(c, CTL_LOCK, 0, 1) !== 0) Atomics.wait(c, CTL_LOCK, 1, 1);
    if (Atomics.load(c, CTL_OFF) === 0 && this.off > 0) {
      // the main thread wrote the buffer out (its exit or signal flush)
      this.off = 0;
      this.written += this.lines;
      this.lines = 0;
    }
  }

  private leave(): void {
    const c = this.ctl;
    if (c === null || --this.depth > 0) return;
    Atomics.store(c, CTL_OFF, this.off);
    Atomics.store(c, CTL_FD, this.fd);
    Atomics.store(c, CTL_LOCK, 0);
    Atomics.notify(c, CTL_LOCK);
  }

  /** Tells the main thread this buffer needs no rescue any more (closed, or the worker ended). */
  retire(): void {
    if (this.ctl === null) return;
    this.enter();
    Atomics.store(this.ctl, CTL_CLOSED, 1);
    this.leave();
  }

  metrics(): LoggerMetrics {
    return {
      written: this.written,
      dropped: this.dropped,
      errors: this.errors,
      buffered: this.lines + (this.big === null ? 0 : 1),
    };
  }

  /** Resolves when everything accepted so far is with the OS (`os`) or on disk (`fsync`). */
  flush(): Promise<void> {
    if (this.drain(false, 0)) return this.fsyncMode && !this.closed ? this.fsyncAsync() : Promise.resolve();
    if (this.failing && this.lastError !== null) return Promise.reject(this.lastError);
    return new Promise<void>((resolve, reject) => {
      this.flushWaiters.push({ resolve, reject });
      if (this.timer === null) this.arm(Math.max(1, this.retryAt - Date.now()));
    });
  }

  /** Hands everything to the OS now, retrying EAGAIN until `deadlineMs` has passed; never throws. */
  flushSync(deadlineMs = Infinity): void {
    if (!this.drain(true, deadlineMs) && !this.failing && !this.stuckReported) {
      // the destination kept answering EAGAIN until the deadline: say so rather than lose quietly
      this.stuckReported = true;
      this.errors++;
      const n = this.lines + (this.big === null ? 0 : 1);
      this.report(
        new LoggerWriteError(
          `sluice logger: ${this.path ?? `fd ${this.fd}`} accepted nothing for ${deadlineMs} ms (EAGAIN); ${n} buffered lines are not written yet`,
          { cause: undefined, syscallCode: 'EAGAIN' },
        ),
      );
    }
    if (this.fsyncMode && !this.closed) this.fsyncSync();
  }

  /**
   * The process is exiting (the exit hook has flushed): from now on every line is handed to the OS
   * as it is logged, since no timer and no later flush will run. Retries EAGAIN until `deadline`.
   */
  exiting(deadline: number): void {
    if (this.closed) return;
    this.exitDeadline = deadline;
    this.limit = 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } catch {
      // already reported; close anyway
    }
    this.flushSync(1000);
    while (this.syncing) await new Promise<void>((r) => setImmediate(r));
    this.retire();
    this.closed = true;
    this.limit = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.ownsFd) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // nothing left to lose
      }
    }
  }

  /** The next line does not fit: make room (or fail to) and place it, or drop it. */
  private full(line: string): void {
    if (this.closed) {
      this.dropped++;
      return;
    }
    if (this.exitDeadline !== 0) {
      this.writeThrough(line);
      return;
    }
    // block waits for a healthy destination however the last drain ended (an EAGAIN met by the
    // timer's non-blocking drain leaves retryAt in the future; that pause is drop's, not block's)
    const blocking = this.block && !this.failing;
    if (blocking || (this.off === 0 && this.big === null && !this.failing) || Date.now() >= this.retryAt) this.drain(blocking, Infinity);
    if (this.off + line.length * 3 <= this.cap) {
      this.off += this.buf.write(line, this.off);
      this.lines++;
      if (this.timer === null) this.arm(this.interval);
      return;
    }
    if (this.off === 0 && this.big === null) {
      // one line larger than the whole buffer: write it on its own
      this.big = Buffer.from(line, 'utf8');
      this.drain(this.block && !this.failing, Infinity);
      return;
    }
    this.dropped++;
    this.unannounced++;
    if (this.timer === null) this.arm(Math.max(1, this.retryAt - Date.now()));
  }

  /** A line logged while the process exits: buffered as usual, then everything goes out at once. */
  private writeThrough(line: string): void {
    const ms = Math.max(0, this.exitDeadline - Date.now());
    if (this.off + line.length * 3 > this.cap || this.big !== null) this.drain(!this.failing, ms);
    if (this.off + line.length * 3 <= this.cap) {
      this.off += this.buf.write(line, this.off);
      this.lines++;
    } else if (this.off === 0 && this.big === null) {
      this.big = Buffer.from(line, 'utf8');
    } else {
      // the destination is failing or stuck past the deadline: counted, like any line that does not fit
      this.dropped++;
      this.unannounced++;
      return;
    }
    this.flushSync(ms);
  }

  /**
   * Writes the big line, then the buffer, then the drop notice. Returns true when nothing is left.
   * `block`: retry EAGAIN (sleeping) until `deadlineMs` has passed. A partial write moves the
   * unwritten tail to the front of the buffer; new lines are appended after it.
   */
  private drain(block: boolean, deadlineMs: number): boolean {
    if (this.ctl === null) return this.drainNow(block, deadlineMs);
    this.enter();
    try {
      return this.drainNow(block, deadlineMs);
    } finally {
      this.leave();
    }
  }

  private drainNow(block: boolean, deadlineMs: number): boolean {
    if (this.closed) return this.off === 0 && this.big === null;
    const deadline = deadlineMs === Infinity ? Infinity : Date.now() + deadlineMs;
    if (this.needNewline && !this.freshLine(block, deadline)) return false;
    for (let round = 0; round < 3; round++) {
      if (this.big !== null) {
        const b = this.big;
        const w = this.writeOut(b, this.bigOff, b.length, block, deadline);
        if (w < b.length) {
          if (this.stoppedByError && w > 0) {
            // the destination holds a fragment of this line: end it, then write the line again whole
            this.bigOff = 0;
            this.needNewline = true;
          } else this.bigOff = w;
          return false;
        }
        this.big = null;
        this.bigOff = 0;
        this.written++;
      }
      if (this.off > 0) {
        const n = this.off;
        const w = this.writeOut(this.buf, 0, n, block, deadline);
        if (w < n) {
          this.keepUnwritten(w, n);
          return false;
        }
        this.off = 0;
        this.headTorn = false;
        this.written += this.lines;
        this.lines = 0;
      }
      if (this.unannounced > 0) {
        const d = this.unannounced;
        this.unannounced = 0;
        this.off = this.buf.write(this.notice(d), 0);
        this.lines = 1;
        continue;
      }
      break;
    }
    if (this.failing) {
      this.failing = false;
      this.retryMs = 0;
    }
    this.stuckReported = false;
    return true;
  }

  /**
   * buf[0, w) of buf[0, n) reached the destination. Normally the unwritten rest moves to the front
   * and is completed first (a pipe's reader already has the line's beginning). After an error in
   * the middle of a line, the fragment may be all that is left of that line (a full disk, then the
   * file truncated to free space): the line is written again whole, on a fresh line (freshLine()),
   * so the file never holds a fragment glued to the next line nor starts with the tail of one.
   */
  private keepUnwritten(w: number, n: number): void {
    const torn = w > 0 ? this.buf[w - 1] !== NL : this.headTorn;
    if (!torn || !this.stoppedByError) {
      if (w > 0) {
        this.buf.copyWithin(0, w, n);
        this.off = n - w;
        this.headTorn = torn;
      }
      return;
    }
    const start = w > 0 ? this.buf.lastIndexOf(NL, w - 1) + 1 : 0;
    let from = start;
    if (start === 0 && this.headTorn) {
      // the line began in an earlier write and is no longer here to write again: count it as dropped
      from = this.buf.indexOf(NL, w) + 1;
      this.lines--;
      this.dropped++;
      this.unannounced++;
    }
    this.buf.copyWithin(0, from, n);
    this.off = n - from;
    this.headTorn = false;
    this.needNewline = true;
  }

  /** Ends the fragment a failed write left: '\n', unless the destination is a file now empty. */
  private freshLine(block: boolean, deadline: number): boolean {
    let emptyFile = false;
    try {
      const st = fs.fstatSync(this.fd);
      if (st.isFile()) {
        emptyFile = st.size === 0;
        this.size = st.size;
      }
    } catch {
      // the write below reports what is wrong with the descriptor
    }
    const rot = this.rotate;
    if (!emptyFile && rot !== undefined && this.size + 1 > rot.maxBytes) {
      this.rotateNow();
      emptyFile = true;
    }
    if (!emptyFile && this.writeOut(NEWLINE, 0, 1, block, deadline) < 1) return false;
    this.needNewline = false;
    return true;
  }

  /** write(2)s buf[off, end) honouring rotation; returns how far it got. */
  private writeOut(buf: Buffer, off: number, end: number, block: boolean, deadline: number): number {
    let delay = 1;
    this.stoppedByError = false;
    while (off < end) {
      let stop = end;
      const rot = this.rotate;
      if (rot !== undefined && end - off > rot.maxBytes - this.size) {
        const room = rot.maxBytes - this.size;
        const cut = room > 0 ? buf.lastIndexOf(NL, off + room - 1) : -1;
        if (cut >= off) stop = cut + 1;
        else if (this.size > 0) {
          this.rotateNow();
          continue;
        } else {
          // a fresh file and the first line alone is larger than maxBytes: write that line whole
          const nl = buf.indexOf(NL, off);
          stop = nl === -1 || nl >= end ? end : nl + 1;
        }
      }
      try {
        const n = fs.writeSync(this.fd, buf, off, stop - off);
        off += n;
        this.size += n;
      } catch (e) {
        const code = errCode(e);
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
          if (block && Date.now() < deadline) {
            sleepSync(delay);
            delay = Math.min(delay * 2, 100);
            continue;
          }
          this.retryAt = Date.now() + 5;
          return off;
        }
        if (code === 'EINTR') continue;
        this.stoppedByError = true;
        this.fail(e, code);
        return off;
      }
    }
    return off;
  }

  private rotateNow(): void {
    const rot = this.rotate;
    const p = this.path;
    if (rot === undefined || p === undefined) return;
    try {
      if (this.fsyncMode) this.fsyncSync();
      if (rot.keep === 0) fs.unlinkSync(p);
      else {
        for (let i = rot.keep - 1; i >= 1; i--) {
          try {
            fs.renameSync(`${p}.${i}`, `${p}.${i + 1}`);
          } catch (e) {
            if (errCode(e) !== 'ENOENT') throw e;
          }
        }
        fs.renameSync(p, `${p}.1`);
      }
      const fd = openAppend(p);
      // an fsync still running on the old file keeps its descriptor until it completes
      if (this.syncing) this.closeAfterSync.push(this.fd);
      else fs.closeSync(this.fd);
      this.fd = fd;
    } catch (e) {
      // keep writing to the current file rather than lose lines
      this.errors++;
      this.report(new LoggerWriteError(`sluice logger: rotating ${p} failed (${errCode(e) ?? String(e)}); still writing to the current file`, { cause: e, syscallCode: errCode(e) }));
    }
    this.size = 0;
  }

  private fail(e: unknown, code: string | undefined): void {
    this.errors++;
    this.retryMs = this.retryMs === 0 ? 10 : Math.min(this.retryMs * 2, MAX_RETRY_MS);
    this.retryAt = Date.now() + this.retryMs;
    const where = this.path ?? `fd ${this.fd}`;
    const err = new LoggerWriteError(
      `sluice logger: writing to ${where} failed (${code ?? String(e)}); lines are kept up to the buffer bound and retried, the rest are counted as dropped`,
      { cause: e, syscallCode: code },
    );
    const first = !this.failing;
    this.failing = true;
    this.lastError = err;
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiters) w.reject(err);
    if (first) this.report(err);
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.onTimer, ms);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.closed) return;
    if (this.drain(false, 0)) {
      const waiters = this.flushWaiters;
      this.flushWaiters = [];
      if (waiters.length > 0) {
        if (this.fsyncMode) {
          this.fsyncAsync().then(
            () => waiters.forEach((w) => w.resolve()),
            (e: Error) => waiters.forEach((w) => w.reject(e)),
          );
        } else for (const w of waiters) w.resolve();
      }
      return;
    }
    this.arm(Math.max(1, this.retryAt - Date.now()));
  };

  /** Group commit: every caller waiting when an fsync starts shares it; later ones wait for the next. */
  private fsyncAsync(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.syncWaiters.push({ resolve, reject });
      if (!this.syncing) this.startFsync();
    });
  }

  private startFsync(): void {
    const batch = this.syncWaiters;
    this.syncWaiters = [];
    this.syncing = true;
    fs.fsync(this.fd, (e) => {
      this.syncing = false;
      for (const fd of this.closeAfterSync.splice(0)) {
        try {
          fs.closeSync(fd);
        } catch {
          // already synced above; nothing to lose
        }
      }
      const code = errCode(e);
      if (e && code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EROFS') {
        this.errors++;
        const err = new LoggerWriteError(`sluice logger: fsync of ${this.path ?? `fd ${this.fd}`} failed (${code ?? String(e)})`, { cause: e, syscallCode: code });
        for (const w of batch) w.reject(err);
        this.report(err);
      } else for (const w of batch) w.resolve();
      if (this.syncWaiters.length > 0) this.startFsync();
    });
  }

  private fsyncSync(): void {
    try {
      fs.fsyncSync(this.fd);
    } catch (e) {
      const code = errCode(e);
      if (code === 'EINVAL' || code === 'ENOTSUP' || code === 'EROFS') return;
      this.errors++;
      this.report(new LoggerWriteError(`sluice logger: fsync of ${this.path ?? `fd ${this.fd}`} failed (${code ?? String(e)})`, { cause: e, syscallCode: code }));
    }
  }
}

function openAppend(path: string): number {
  try {
    return fs.openSync(path, 'a');
  } catch (e) {
    if (errCode(e) === 'ENOENT') {
      try {
        mkdirp(dirname(path), 0);
        return fs.openSync(path, 'a');
      } catch (e2) {
        throw destinationError(path, e2);
      }
    }
    throw destinationError(path, e);
  }
}

/** A descriptor destination must be open, and not a directory, when the logger is made. */
function checkFd(fd: number): void {
  const name = fd === 1 ? 'fd 1 (stdout)' : fd === 2 ? 'fd 2 (stderr)' : `fd ${fd}`;
  let st: fs.Stats;
  try {
    st = fs.fstatSync(fd);
  } catch (e) {
    throw new LoggerDestinationError(
      `createLogger(): destination ${name} is not an open file descriptor (${errCode(e) ?? String(e)}); pass an open descriptor, 'stdout', 'stderr' or a file path`,
      { cause: e },
    );
  }
  if (st.isDirectory()) {
    throw new LoggerDestinationError(`createLogger(): destination ${name} is a directory; pass a descriptor open for writing, or a file path`);
  }
}

function destinationError(path: string, e: unknown): LoggerDestinationError {
  return new LoggerDestinationError(
    `createLogger(): cannot open destination ${JSON.stringify(path)} for appending (${errCode(e) ?? String(e)}); check the path and its permissions`,
    { cause: e },
  );
}

/** mkdir -p, bounded (Node 20's recursive mkdirSync never returns under /proc). */
function mkdirp(dir: string, depth: number): void {
  try {
    fs.mkdirSync(dir);
  } catch (e) {
    const code = errCode(e);
    if (code === 'EEXIST') return;
    const parent = dirname(dir);
    if (code !== 'ENOENT' || parent === dir || depth > 64) throw e;
    mkdirp(parent, depth + 1);
    fs.mkdirSync(dir);
  }
}
