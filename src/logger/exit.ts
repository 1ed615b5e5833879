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
 * - SIGTERM / SIGINT (main thread only): flush everything; then, if the application has its own
 *   listener for that signal, do nothing more — exiting is its decision; if not, remove our
 *   listener and re-raise the signal so the process dies exactly as it would have without us.
 */
import { isMainThread } from 'node:worker_threads';
import { collectWorkerBuffers, rescueWorkerBuffers } from './shared';
import type { Writer } from './writer';

const live = new Set<Writer>();
const uncaughtLoggers = new Set<(err: unknown, origin: string) => void>();
let installed = false;

/** How long the exit flush keeps retrying a destination that answers EAGAIN. */
const EXIT_DEADLINE_MS = 10_000;

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
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}

function onExit(): void {
  flushAllSync();
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
  const others = process.listeners(signal).filter((l) => l !== onSignal);
  if (others.length > 0) return;
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}
