/**
 * Signal handling that starts before anything else is loaded: a SIGTERM that arrives while the agent
 * is still starting (loading modules, opening the queue) must not kill it half-way with the default
 * action; it is kept and delivered to the agent as soon as it exists (which then stops gracefully).
 */
export type AgentSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP';

const SIGNALS: readonly AgentSignal[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
let handler: ((sig: AgentSignal) => void) | undefined;
const pending: AgentSignal[] = [];
let installed = false;

/** Start catching SIGTERM/SIGINT/SIGHUP; signals are queued until `onSignal` is called. */
export const catchSignals = (): void => {
  if (installed) return;
  installed = true;
  for (const sig of SIGNALS) {
    process.on(sig, () => {
      if (handler) handler(sig);
      else pending.push(sig);
    });
  }
};

/** Route signals to `h`, first the ones that arrived before. `undefined` queues them again. */
export const onSignal = (h: ((sig: AgentSignal) => void) | undefined): void => {
  handler = h;
  if (h) for (const sig of pending.splice(0)) h(sig);
};

/** Whether a stop signal arrived while nobody handled it (e.g. during start-up). */
export const stopPending = (): boolean => pending.some((s) => s !== 'SIGHUP');
