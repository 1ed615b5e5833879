/**
 * `GET /api/status`: the agent's live status as JSON — what the status page and `sluice top` show.
 * The shape is documented in docs/operations.md; keys are snake_case, numbers plain, times ISO 8601.
 */
import type { AgentContext } from './context';
import type { SourceStats } from '../core/source';
import type { RetryReason } from '../core/sink';
import type { SinkCounters } from '../pipeline/metrics';
import type { ComponentStatus, SinkStatus } from '../pipeline/status';

export interface StatusJson {
  readonly version: string;
  readonly status: string;
  readonly uptime_seconds: number;
  /** Seconds between two values of every `history` array. */
  readonly history_interval_seconds: number;
  readonly sources: Record<string, SourceJson & { readonly counters?: SourceCountersJson }>;
  readonly sinks: Record<string, SinkJson>;
  readonly queue: { readonly bytes_on_disk: number; readonly max_bytes: number; readonly full: boolean; readonly append_wait_seconds: number };
  readonly warnings: readonly { readonly time: string; readonly level: string; readonly message: string }[];
}

export interface SourceJson {
  readonly type: string;
  readonly events: number;
  readonly bytes: number;
  readonly events_per_second: number;
  readonly bytes_per_second: number;
  readonly history: { readonly events_per_second: readonly number[]; readonly bytes_per_second: readonly number[] };
}

/** A source's own counters (`Source.stats()`), snake_case; only the keys that apply to it. */
export interface SourceCountersJson {
  readonly requests?: Readonly<Record<string, number>>;
  readonly refused_full?: number;
  readonly appends_given_up?: number;
  readonly open_connections?: number;
  readonly connections?: number;
  readonly refused_connections?: number;
  readonly parse_failures?: number;
  readonly udp_datagrams_dropped?: number;
  readonly tls_errors?: number;
  readonly tls_reload_failures?: number;
  readonly deduplicated_events?: number;
  readonly multiline_events?: number;
  readonly cut_events?: number;
}

const sourceCounters = (st: SourceStats): SourceCountersJson => {
  const out: Record<string, unknown> = {};
  const put = (k: keyof SourceCountersJson, v: unknown): void => {
    if (v !== undefined) out[k] = v;
  };
  put('requests', st.responses === undefined ? undefined : { ...st.responses });
  put('refused_full', st.refusedFull);
  put('appends_given_up', st.appendsGivenUp);
  put('open_connections', st.openConnections);
  put('connections', st.connections);
  put('refused_connections', st.refusedConnections);
  put('parse_failures', st.parseFailures);
  put('udp_datagrams_dropped', st.datagramsDropped);
  put('tls_errors', st.tlsErrors);
  put('tls_reload_failures', st.tlsReloadFailures);
  put('deduplicated_events', st.deduplicated);
  put('multiline_events', st.multilineEvents);
  put('cut_events', st.cutEvents);
  return out;
};

export interface SinkJson extends Omit<SourceJson, 'history'> {
  readonly backlog_events: number;
  readonly oldest_unacked_age_seconds: number | null;
  readonly failing: boolean;
  readonly last_error: string | null;
  readonly retries: number;
  /** `retries` by reason (every reason, 0 included). */
  readonly retries_by_reason: Readonly<Record<RetryReason, number>>;
  /** Events put in the sink's dead-letter store (refused for good, or undecodable). */
  readonly dead_lettered_events: number;
  readonly invalid_records: number;
  readonly behind: { readonly since_seconds: number; readonly events_per_second: number; readonly eta_seconds: number | null } | null;
  readonly history: SourceJson['history'] & { readonly backlog_events: readonly number[] };
}

const r1 = (n: number): number => Math.round(n * 10) / 10;
const r3 = (n: number): number => Math.round(n * 1000) / 1000;

const component = (c: ComponentStatus): SourceJson => ({
  type: c.type,
  events: c.events,
  bytes: c.bytes,
  events_per_second: r1(c.eventsPerSecond),
  bytes_per_second: r1(c.bytesPerSecond),
  history: { events_per_second: c.history.eventsPerSecond.map(r1), bytes_per_second: c.history.bytesPerSecond.map(r1) },
});

const sink = (s: SinkStatus, c: SinkCounters): SinkJson => {
  const base = component(s);
  return {
    ...base,
    backlog_events: s.backlogEvents,
    oldest_unacked_age_seconds: s.oldestUnackedAgeSeconds === undefined ? null : r3(s.oldestUnackedAgeSeconds),
    failing: s.failing,
    last_error: s.lastError ?? null,
    retries: s.retries,
    retries_by_reason: { ...c.retriesByReason },
    dead_lettered_events: c.deadLetteredEvents,
    invalid_records: s.invalidRecords,
    behind: s.behind
      ? { since_seconds: r1(s.behind.sinceSeconds), events_per_second: r1(s.behind.eventsPerSecond), eta_seconds: s.behind.etaSeconds === undefined ? null : r1(s.behind.etaSeconds) }
      : null,
    history: { ...base.history, backlog_events: s.backlogHistory },
  };
};

export const statusJson = (o: AgentContext): StatusJson => {
  const s = o.status.snapshot();
  return {
    version: o.version,
    status: o.phase(),
    uptime_seconds: r3(s.uptimeSeconds),
    history_interval_seconds: 1,
    sources: Object.fromEntries(
      s.sources.map((c) => {
        const read = o.metrics.sourceStats.get(c.id);
        return [c.id, read === undefined ? component(c) : { ...component(c), counters: sourceCounters(read()) }];
      }),
    ),
    sinks: Object.fromEntries(s.sinks.map((c) => [c.id, sink(c, o.metrics.sink(c.id))])),
    queue: { bytes_on_disk: s.queue.bytesOnDisk, max_bytes: s.queue.maxBytes, full: s.queue.full, append_wait_seconds: r3(s.queue.appendWaitSeconds) },
    warnings: s.warnings.map((w) => ({ time: new Date(w.at).toISOString(), level: w.level, message: w.message })),
  };
};
