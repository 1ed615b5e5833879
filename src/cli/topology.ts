/**
 * `sluice validate`'s summary of what a config does: one line per source → sink route with the
 * guarantee that route has, in the words of the README's guarantees table.
 */
import type { AgentConfig } from '../config/load';

/** The guarantee of one route, from what its ends can acknowledge. */
export const routeGuarantee = (
  source: { readonly type: string; readonly canAcknowledge: boolean },
  sink: { readonly type?: string; readonly canAcknowledge: boolean; readonly usesEventIds?: boolean; readonly base?: { readonly encoding: string } },
): string => {
  const into = source.type === 'nats' ? 'exactly once from the stream into the queue (stored stream sequences ride in the queue records; the consumer must be this agent\'s alone); then ' : '';
  return into + sinkGuarantee(source, sink);
};

const sinkGuarantee = (
  source: { readonly type: string; readonly canAcknowledge: boolean },
  sink: { readonly type?: string; readonly canAcknowledge: boolean; readonly usesEventIds?: boolean; readonly base?: { readonly encoding: string } },
): string => {
  if (!source.canAcknowledge) {
    return `best effort across crashes: ${source.type} cannot acknowledge, so what it holds when the agent dies is lost (nothing once queued)`;
  }
  // What an http source takes in: a sluice http sink's events once each, other clients' at least once.
  const intake =
    source.type === 'http' ? '; into this agent: exactly once from a sluice http sink with encoding: json (replays recognised by sender and event id), at least once from other clients' : '';
  if (!sink.canAcknowledge) return `at most once into the destination: the sink does not confirm delivery${intake}`;
  if (sink.type === 'nats') {
    return `no loss; exactly once into the stream within its duplicate_window (Nats-Msg-Id from record ids; a replay after a longer outage is stored again); a single-node nats-server 2.9 acks before fsync: use R3 (or >= 2.10 with sync_interval: always) for power-loss safety${intake}`;
  }
  if (sink.usesEventIds === true) {
    const central =
      sink.type !== 'http'
        ? ''
        : sink.base?.encoding === 'json'
          ? '; exactly once into a sluice http source (it remembers this sink\'s event ids durably)'
          : '; a sluice http source cannot deduplicate it (text bodies carry no event ids: use encoding: json)';
    return `no loss; at least once (a retried or replayed request can repeat events), each repeat with the same event ids and Idempotency-Key: exactly once into a receiver that deduplicates by them${central}${intake}`;
  }
  return `no loss; exactly once after a graceful stop; after kill -9, at most the groups in flight repeated (none into a file sink: it cuts its output back to the length saved with the cursor)${intake}`;
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
