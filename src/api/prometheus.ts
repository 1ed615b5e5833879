/**
 * `GET /metrics`: Prometheus text (prom-client, loaded only when `api:` is configured). Values are
 * read at scrape time from what the pipeline keeps anyway (the counters of `AgentMetrics`, the queue's
 * metrics, the status tracker): nothing is added to the hot path. Each metric's meaning is in
 * docs/operations.md.
 */
import type { AgentContext } from './context';
import type { SourceStats } from '../core/source';
import type { Histogram, SinkCounters, SourceCounters } from '../pipeline/metrics';

type Set = (labels: Record<string, string>, v: number) => void;

export interface MetricsText {
  readonly contentType: string;
  readonly text: string;
}

/** Builds the registry once; `render()` reads every value again. */
export const prometheusMetrics = async (o: AgentContext): Promise<() => Promise<MetricsText>> => {
  const client = await import('prom-client');
  const register = new client.Registry();
  client.collectDefaultMetrics({ register, prefix: 'sluice_process_' });
  const m = o.metrics;

  const counter = (name: string, help: string, labelNames: readonly string[], read: (set: Set) => void): void => {
    new client.Counter({
      name,
      help,
      labelNames: [...labelNames],
      registers: [register],
      collect() {
        this.reset();
        read((labels, v) => this.inc(labels, v));
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: readonly string[], read: (set: Set) => void): void => {
    new client.Gauge({
      name,
      help,
      labelNames: [...labelNames],
      registers: [register],
      collect() {
        this.reset();
        read((labels, v) => this.set(labels, v));
      },
    });
  };

  type Kind = typeof counter;
  /** One series per source (or sink) with the value `pick` reads from its counters. */
  const perSource = (kind: Kind, name: string, help: string, pick: (c: SourceCounters) => number): void =>
    kind(name, help, ['source'], (s) => {
      for (const [id, c] of m.sources) s({ source: id }, pick(c));
    });
  const perSink = (kind: Kind, name: string, help: string, pick: (c: SinkCounters) => number): void =>
    kind(name, help, ['sink'], (s) => {
      for (const [id, c] of m.sinks) s({ sink: id }, pick(c));
    });

  perSource(counter, 'sluice_source_events_total', 'Events made durable in the queue, per source.', (c) => c.events);
  perSource(counter, 'sluice_source_bytes_total', 'Bytes of lines made durable in the queue, per source.', (c) => c.bytes);
  /** One series per source that counts this (a source's own `stats()`); sources that do not are left out. */
  const perSourceStat = (kind: Kind, name: string, help: string, pick: (st: SourceStats) => number | undefined): void =>
    kind(name, help, ['source'], (s) => {
      for (const [id, read] of m.sourceStats) {
        const v = pick(read());
        if (v !== undefined) s({ source: id }, v);
      }
    });
  counter('sluice_source_requests_total', 'Requests answered by a request-driven source (http, otlp), by status code.', ['source', 'code'], (s) => {
    for (const [id, read] of m.sourceStats) {
      for (const [code, n] of Object.entries(read().responses ?? {})) s({ source: id, code }, n);
    }
  });
  perSourceStat(counter, 'sluice_source_refused_full_total', 'Requests answered 503 because the queue was full (when_full: reject).', (st) => st.refusedFull);
  perSourceStat(counter, 'sluice_source_appends_given_up_total', 'Appends given up while they waited for queue space (nothing of them stored).', (st) => st.appendsGivenUp);
  perSourceStat(gauge, 'sluice_source_open_connections', 'Connections open now.', (st) => st.openConnections);
  perSourceStat(counter, 'sluice_source_connections_total', 'Connections accepted.', (st) => st.connections);
  perSourceStat(counter, 'sluice_source_refused_connections_total', 'Connections closed at once because max_connections were open.', (st) => st.refusedConnections);
  perSourceStat(counter, 'sluice_source_parse_failures_total', 'Input that did not parse (syslog, and file/stdin with decoding json or cri: kept raw as message; otlp: log records refused alone).', (st) => st.parseFailures);
  perSourceStat(counter, 'sluice_source_udp_datagrams_dropped_total', 'UDP datagrams the source could not take (the queue fell behind).', (st) => st.datagramsDropped);
  perSourceStat(counter, 'sluice_source_tls_errors_total', 'TLS handshakes that failed.', (st) => st.tlsErrors);
  perSourceStat(counter, 'sluice_source_tls_reload_failures_total', 'SIGHUP reloads of the TLS files that failed (the previous certificate stays).', (st) => st.tlsReloadFailures);
  perSourceStat(counter, 'sluice_source_deduplicated_events_total', 'Events re-sent by a sluice edge and recognised as already taken (answered 200, not appended again).', (st) => st.deduplicated);
  perSourceStat(counter, 'sluice_source_multiline_events_total', 'Events of more than one line (multiline on a file or stdin source).', (st) => st.multilineEvents);
  perSourceStat(counter, 'sluice_source_cut_events_total', 'Events cut at multiline.max_lines or max_bytes (flagged cut; the rest follows as a continuation).', (st) => st.cutEvents);
  perSink(counter, 'sluice_sink_events_total', 'Events written by each sink.', (c) => c.events);
  perSink(counter, 'sluice_sink_bytes_total', 'Bytes of lines written by each sink.', (c) => c.bytes);
  perSink(counter, 'sluice_sink_errors_total', 'Failed write attempts per sink (each is retried).', (c) => c.errors);
  counter('sluice_sink_retries_total', 'Failed write attempts per sink and reason (each is retried): network, timeout, http_429, http_5xx, http_4xx, disk_full, io, nats, other.', ['sink', 'reason'], (s) => {
    for (const [id, c] of m.sinks) for (const [reason, n] of Object.entries(c.retriesByReason)) s({ sink: id, reason }, n);
  });
  perSink(counter, 'sluice_sink_invalid_records_total', 'Queue records a sink could not decode (reported and dead-lettered).', (c) => c.invalidRecords);
  perSink(counter, 'sluice_sink_dead_lettered_events_total', 'Events a sink put in its dead-letter store (refused for good, or undecodable).', (c) => c.deadLetteredEvents);
  perSink(gauge, 'sluice_sink_dead_letter_blocked', '1 while the dead-letter store cannot take an entry (full or failing): the sink waits.', (c) => c.deadLetterBlocked);
  perSink(gauge, 'sluice_sink_failing', '1 while the sink is failing and retrying.', (c) => c.failing);
  gauge('sluice_sink_backlog_events', 'Events durable in the queue that the sink has not acknowledged yet.', ['sink'], (s) => {
    for (const id of m.sinks.keys()) s({ sink: id }, o.status.backlogOf(id));
  });
  gauge('sluice_sink_oldest_unacked_age_seconds', 'Seconds since the oldest event the sink has not acknowledged was ingested (0: none).', ['sink'], (s) => {
    for (const id of m.sinks.keys()) {
      const age = o.status.oldestAge(id);
      if (age !== undefined) s({ sink: id }, age);
    }
  });
  const q = (): ReturnType<AgentContext['queue']['metrics']> => o.queue.metrics();
  counter('sluice_queue_appended_events_total', 'Events appended to the queue.', [], (s) => s({}, q().appendedEvents));
  counter('sluice_queue_appended_bytes_total', 'Bytes appended to the queue.', [], (s) => s({}, q().appendedBytes));
  counter('sluice_queue_acked_events_total', 'Events acknowledged by every sink.', [], (s) => s({}, q().ackedEvents));
  counter('sluice_queue_fsyncs_total', 'fdatasync calls made by the queue.', [], (s) => s({}, q().fsyncs));
  counter('sluice_queue_fsync_seconds_total', 'Time spent in the queue fdatasync calls.', [], (s) => s({}, q().fsyncSecondsTotal));
  counter('sluice_queue_corrupt_records_total', 'Corrupt records skipped by the queue.', [], (s) => s({}, q().corruptRecordsSkipped));
  counter('sluice_queue_deleted_segments_total', 'Segment files deleted after every sink passed them.', [], (s) => s({}, q().deletedSegments));
  counter('sluice_queue_append_wait_seconds_total', 'Time sources spent waiting for queue space (max_bytes reached).', [], (s) => s({}, q().fullMsTotal / 1000));
  gauge('sluice_queue_bytes_on_disk', 'Bytes the queue retains on disk.', [], (s) => s({}, q().bytesOnDisk));
  gauge('sluice_queue_full', '1 while appends wait for space (max_bytes reached).', [], (s) => s({}, q().full ? 1 : 0));
  gauge('sluice_queue_max_bytes', 'The queue bound on disk (queue.max_bytes).', [], (s) => s({}, o.status.maxBytes));
  counter('sluice_agent_events_total', 'Agent events by type (see docs/architecture.md: sink.failing, queue.full, ...).', ['type'], (s) => {
    for (const [type, n] of m.eventCounts) s({ type }, n);
  });
  gauge('sluice_build_info', 'Always 1; the labels say which sluice and Node.js run.', ['version', 'node'], (s) =>
    s({ version: o.version, node: process.versions.node }, 1),
  );
  gauge('sluice_uptime_seconds', 'Seconds since the agent started.', [], (s) => s({}, o.status.uptimeSeconds()));

  return async () => {
    const text = await register.metrics();
    return { contentType: register.contentType, text: text + histogramText(o) };
  };
};

const LATENCY = 'sluice_sink_delivery_latency_seconds';

/** The delivery latency histograms, written by hand (the counts live in the pipeline, not in prom-client). */
const histogramText = (o: AgentContext): string => {
  const lines = [
    `# HELP ${LATENCY} Ingest time to acknowledgement by the sink, observed once per delivered batch (queue record).`,
    `# TYPE ${LATENCY} histogram`,
  ];
  for (const [id, c] of o.metrics.sinks) lines.push(...histogramLines(LATENCY, `sink="${escapeLabel(id)}"`, c.latency));
  return `${lines.join('\n')}\n`;
};

const histogramLines = (name: string, labels: string, h: Histogram): string[] => {
  const out: string[] = [];
  let cumulative = 0;
  h.bounds.forEach((le, i) => {
    cumulative += h.counts[i] ?? 0;
    out.push(`${name}_bucket{${labels},le="${le}"} ${cumulative}`);
  });
  out.push(`${name}_bucket{${labels},le="+Inf"} ${h.count}`);
  out.push(`${name}_sum{${labels}} ${h.sum}`);
  out.push(`${name}_count{${labels}} ${h.count}`);
  return out;
};

const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
