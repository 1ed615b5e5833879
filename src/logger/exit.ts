/**
 * The module-level registry of live writers and the process hooks that flush them.
 *
 * Rules (documented for users in docs/logger.md):
 * - `exit` (process.exit() anywhere, natural end of the event loop, an uncaught exception or
 *   unhandled rejection — Node emits `exit` for all of them): every live writer is flushed
 *   synchronously, and in the main thread every worker logger's shared buffer is written out too
 *   (shared.ts), since Node stops workers without running their exit handlers. In a worker
 *   thread, the worker's own `exit` flushes its loggers.
 * - Uncaught exceptions are observed with `uncaughtExceptionMonitor` only, so Node's behaviour
 *   (print, exit code 1) is unchanged; loggers created with `logUncaught: true` write the error as
 *   `fatal` first.
 * - Lines logged after our `exit` listener ran (in an application's own `exit` listener, which
 *   Node calls after ours when it was registered later) are written as they are logged: the
 *   listener switches every live writer to write-through (`Writer.exiting()`), so each line costs
 *   a write(2) from then on. We cannot be the last listener instead: `emit` calls a copy of the
 *   listener list, so a listener we add while `exit` runs is never called, and one moved to the end
 *   earlier loses to listeners added after that (even in the same tick as `process.exit()`).
 * - Terminating signals (main thread only; SIGNALS below): our listener is prepended, so it runs
 *   first, and flushes everything. Then it steps aside (removes itself) while the other listeners
 *   run: a library that re-raises a signal only when it is the signal's one listener (signal-exit's
 *   rule; ora, execa, write-file-atomic and many more use it) must not count us, or nobody would
 *   end the process. If nobody else listens, we re-raise the signal ourselves, so the process dies
 *   exactly as it would have without us (exit status 128+signo, a core for SIGQUIT where cores are
 *   enabled). If someone does, exiting is their decision, and we are back, first again, on the
 *   next turn of the event loop (before the next signal can be delivered).
 *   Not handled, on purpose: SIGUSR1 (Node's inspector; it does not end the process), SIGKILL and
 *   SIGSTOP (cannot be caught), SIGPIPE and SIGXFSZ (Node ignores them), the crash signals SIGSEGV,
 *   SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP, SIGSYS (no JavaScript may run safely after a real
 *   one), and the timer signals SIGALRM, SIGVTALRM, SIGPROF (profilers and native code use them;
 *   a listener would take them over). See the table in docs/logger.md.
 */
import { isMainThread } from 'node:worker_threads';
import { collectWorkerBuffers, rescueWorkerBuffers } from './shared';
import type { Writer } from './writer';

const live = new Set<Writer>();
const uncaughtLoggers = new Set<(err: unknown, origin: string) => void>();
let installed = false;

/** How long the exit flush keeps retrying a destination that answers EAGAIN. */
const EXIT_DEADLINE_MS = 10_000;

/**
 * Signals whose default action ends the process and that people, terminals and supervisors send:
 * docker/systemd/Kubernetes stop (TERM), Ctrl-C (INT), a closed terminal or SSH session (HUP),
 * Ctrl-\ (QUIT), nodemon's restart (USR2), the RLIMIT_CPU soft limit (XCPU).
 */
export const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGXCPU'];

export function register(w: Writer): void {
  live.add(w);
  if (!installed) install();
}

export function unregister(w: Writer): void {
  live.delete(w);
}

export function onUncaught(fn: (err: unknown, origin: string) => void): void {
  uncaughtLoggers.add(fn);
  if (!installed) install();
}

export function offUncaught(fn: (err: unknown, origin: string) => void): void {
  uncaughtLoggers.delete(fn);
}

/** Flushes every live logger synchronously. */
export function flushAllSync(deadlineMs = EXIT_DEADLINE_MS): void {
  for (const w of live) w.flushSync(deadlineMs);
  if (isMainThread) rescueWorkerBuffers();
}

// the main thread learns about worker loggers even before it makes a logger of its own
collectWorkerBuffers(() => {
  if (!installed) install();
});

function install(): void {
  installed = true;
  process.on('exit', onExit);
  process.on('uncaughtExceptionMonitor', onUncaughtMonitor);
  if (isMainThread) {
    for (const sig of SIGNALS) {
      try {
        process.prependListener(sig, onSignal);
      } catch {
        // a platform without this signal (Windows has no SIGQUIT, SIGUSR2, SIGXCPU)
      }
    }
  }
}

function onExit(): void {
  flushAllSync();
  // from here on, a line logged by a later `exit` listener is written as it is logged
  const deadline = Date.now() + EXIT_DEADLINE_MS;
  for (const w of live) w.exiting(deadline);
  // a worker that ends flushes its own loggers (above); its buffers need no rescue from main
  if (!isMainThread) for (const w of live) w.retire();
}

function onUncaughtMonitor(err: unknown, origin: string): void {
  for (const fn of uncaughtLoggers) {
    try {
      fn(err, origin);
    } catch {
      // never turn a crash report into a different crash
    }
  }
  flushAllSync();
}

function onSignal(signal: NodeJS.Signals): void {
  flushAllSync();
  process.removeListener(signal, onSignal);
  if (process.listenerCount(signal) === 0) {
    // nobody else listens: our listener is gone, so this kills the process as the default would
    process.kill(process.pid, signal);
    return;
  }
  // the application or a library decides; signals are delivered from the poll phase, so this
  // check-phase callback re-arms us before the next one (unref'd: it never keeps the process up)
  setImmediate(() => {
    if (!process.listeners(signal).includes(onSignal)) process.prependListener(signal, onSignal);
  }).unref();
}
