/**
 * Signal handling that starts before anything else is loaded: a SIGTERM that arrives while the agent
 * is still starting (loading modules, opening the queue) must not kill it half-way with the default
 * action; it is kept and delivered to the agent as soon as it exists (which then stops gracefully).
 */
export type AgentSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP';

const SIGNALS: readonly AgentSignal[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

interface SignalState {
  handler: ((sig: AgentSignal) => void) | undefined;
  readonly pending: AgentSignal[];
  installed: boolean;
}

// One state per process, not per copy of this module: the bin's launcher (./main.ts, compiled by
// tsc) starts catching before it loads the bundled program (./bin.ts, which has its own copy of this
// module), and both must see the same handler and the same pending signals.
const KEY = Symbol.for('sluice.cli.signals');
const state = ((process as unknown as Record<symbol, SignalState | undefined>)[KEY] ??= { handler: undefined, pending: [], installed: false });

/** Start catching SIGTERM/SIGINT/SIGHUP; signals are queued until `onSignal` is called. */
export const catchSignals = (): void => {
  if (state.installed) return;
  state.installed = true;
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      if (state.handler) state.handler(sig);
      else state.pending.push(sig);
    });
  }
};

/** Route signals to `h`, first the ones that arrived before. `undefined` queues them again. */
export const onSignal = (h: ((sig: AgentSignal) => void) | undefined): void => {
  state.handler = h;
  if (h) for (const sig of state.pending.splice(0)) h(sig);
};

/** Whether a stop signal arrived while nobody handled it (e.g. during start-up). */
export const stopPending = (): boolean => state.pending.some((s) => s !== 'SIGHUP');
