/**
 * An abort signal that follows its parents and can also be aborted on its own — what
 * `AbortSignal.any([own, parent])` gives, without its cost for a long-lived parent: `any` links
 * every combined signal into each parent for as long as the parent lives, and Node 20 never drops
 * those links (nodejs/node#55351; later lines drop them only at a full GC). A stop signal that lives
 * as long as the agent, combined once per delivery attempt, grew the heap without bound.
 * `dispose()` unlinks (call it when the operation is over); after it the signal no longer follows
 * the parents.
 */
export interface LinkedAbort {
  readonly signal: AbortSignal;
  /** Aborts this signal alone (the parents are untouched). */
  abort(reason?: unknown): void;
  /** Stops following the parents. */
  dispose(): void;
}

export const linkedAbort = (...parents: readonly AbortSignal[]): LinkedAbort => {
  const own = new AbortController();
  const links: { readonly parent: AbortSignal; readonly onAbort: () => void }[] = [];
  const dispose = (): void => {
    for (const { parent, onAbort } of links.splice(0)) parent.removeEventListener('abort', onAbort);
  };
  for (const parent of parents) {
    if (parent.aborted) {
      own.abort(parent.reason);
      break;
    }
    const onAbort = (): void => {
      dispose();
      own.abort(parent.reason);
    };
    parent.addEventListener('abort', onAbort, { once: true });
    links.push({ parent, onAbort });
  }
  if (own.signal.aborted) dispose();
  return {
    signal: own.signal,
    abort: (reason?: unknown) => {
      dispose();
      own.abort(reason);
    },
    dispose,
  };
};
