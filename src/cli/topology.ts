/**
 * `sluice validate`'s summary of what a config does: one line per source → sink route with the
 * guarantee that route has, in the words of the README's guarantees table.
 */
import type { AgentConfig } from '../config/load';

/** The guarantee of one route, from what its ends can acknowledge. */
export const routeGuarantee = (
  source: { readonly type: string; readonly canAcknowledge: boolean },
  sink: { readonly canAcknowledge: boolean; readonly usesEventIds?: boolean },
): string => {
  if (!source.canAcknowledge) {
    return `best effort across crashes: ${source.type} cannot acknowledge, so what it holds when the agent dies is lost (nothing once queued)`;
  }
  if (!sink.canAcknowledge) return 'at most once into the destination: the sink does not confirm delivery';
  if (sink.usesEventIds === true) {
    return 'no loss; at least once (a retried or replayed request can repeat events), each repeat with the same event ids and Idempotency-Key: exactly once into a receiver that deduplicates by them';
  }
  return 'no loss; exactly once after a graceful stop; after kill -9, at most the groups in flight repeated (none into a file sink: it cuts its output back to the length saved with the cursor)';
};

/** `  app (file) → archive (file): <guarantee>` for every route, in config order. */
export const describeTopology = (config: AgentConfig): string => {
  const sources = new Map(config.sources.map((s) => [s.id, s]));
  const lines: string[] = [];
  for (const sink of config.sinks) {
    for (const input of sink.base.inputs) {
      const source = sources.get(input);
      if (source) lines.push(`  ${source.id} (${source.type}) → ${sink.id} (${sink.type}): ${routeGuarantee(source, sink)}\n`);
    }
  }
  return lines.join('');
};
