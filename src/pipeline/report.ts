/**
 * The agent's stderr lines, derived from its events: one function from an event to a leveled line.
 * The wording is the interface operators grep for; tests assert on the events themselves.
 */
import { errorText, type Diagnostics } from '../core/diagnostics';
import type { AgentEvent } from '../core/events';

type Level = 'debug' | 'info' | 'warn' | 'error';
export interface ReportLine {
  readonly level: Level;
  readonly msg: string;
  readonly fields?: Record<string, unknown>;
}

const MiB = (n: number): string => `${(n / 1048576).toFixed(1)}MiB`;

/** 1234567 → "1.23M", 12345 → "12.3k", 42.5 → "43". */
export const count = (n: number): string => {
  const a = Math.abs(n);
  if (a >= 1e9) return `${(n / 1e9).toFixed(a >= 1e10 ? 1 : 2)}G`;
  if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  return `${Math.round(n)}`;
};

/** Seconds as people read them: "45s", "3m05s", "2h10m", "3d4h". */
export const duration = (seconds: number): string => {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
};

/** The line an event is reported as (`undefined`: counted, not printed). */
export const describeEvent = (e: AgentEvent): ReportLine | undefined => {
  switch (e.type) {
    case 'queue.recovery-note':
      return { level: 'warn', msg: `queue: ${e.note}` };
    case 'queue.disk-small':
      return {
        level: 'warn',
        msg:
          `queue.max_bytes (${MiB(e.maxBytes)}) is more than the disk of ${e.dataDir} can hold for the queue (${MiB(e.roomBytes)}): ` +
          `if that disk fills up, sources wait (as when max_bytes is reached) until sinks catch up or space is freed; lower queue.max_bytes or give data_dir more room`,
      };
    case 'queue.full':
      if (e.reason === 'disk-full') {
        return {
          level: 'warn',
          msg: `queue: the disk of the queue is full (${errorText(e.error)}) with ${MiB(e.bytesOnDisk)} queued; sources wait until sinks catch up or space is freed`,
        };
      }
      return { level: 'info', msg: `queue: max_bytes reached (${MiB(e.bytesOnDisk)} of ${MiB(e.maxBytes)}); sources wait until sinks catch up` };
    case 'queue.space':
      return { level: 'info', msg: `queue: space again after ${Math.round(e.waitedMs)}ms; sources resume` };
    case 'queue.cursor-persist-failed':
      return { level: 'warn', msg: `queue: cannot persist the cursor of ${e.consumer} (${errorText(e.error)}); retrying on the cursor timer` };
    case 'queue.cursor-persisted':
      return { level: 'info', msg: `queue: the cursor of ${e.consumer} is persisted again` };
    case 'queue.segment-delete-failed':
      return { level: 'warn', msg: `queue: cannot delete consumed segment ${e.segment} (${errorText(e.error)}); it is kept and retried` };
    case 'queue.failed':
      return { level: 'error', msg: `queue: failed: ${errorText(e.error)}` };
    case 'queue.records-skipped':
      return {
        level: 'error',
        msg: `queue: sink ${e.consumer} passed over records ${e.fromId}–${e.toId - 1}: durable but not readable back from the queue's files (damaged or missing); \`sluice queue verify\` shows where`,
      };
    case 'agent.started':
      return {
        level: 'info',
        msg:
          `running: ${e.sources.length} source(s) (${e.sources.map((s) => `${s.id}:${s.type}`).join(', ')}), ` +
          `${e.sinks.length} sink(s) (${e.sinks.map((s) => `${s.id}:${s.type}`).join(', ')}), queue in ${e.queueDir}`,
      };
    case 'agent.unacknowledged-input':
      return {
        level: 'warn',
        msg:
          `sink ${e.sink} reads source ${e.source} (${e.sourceType}), which cannot acknowledge: what it holds when the agent dies ` +
          `(kill -9, power loss) is lost, and it cannot resume after a restart; use a source that can acknowledge (file, http) where that matters`,
      };
    case 'agent.api-failed':
      return { level: 'error', msg: `${errorText(e.error)}; change api.address or free the port` };
    case 'api.listening':
      return { level: 'info', msg: `api: status page, /api/status, /metrics and /health on http://${e.host}:${e.port}/` };
    case 'api.error':
      return { level: 'warn', msg: `api: ${errorText(e.error)}` };
    case 'agent.stopping':
      return { level: 'info', msg: `${e.reason}: stopping intake and draining sinks (up to ${e.timeoutMs}ms; again to stop at once)` };
    case 'agent.stopping-now':
      return { level: 'warn', msg: `${e.reason} again: stopping now; undelivered records stay queued for the next start` };
    case 'agent.sources-ended':
      return { level: 'info', msg: 'every source has ended; draining sinks' };
    case 'agent.drain-timeout':
      return { level: 'warn', msg: `shutdown_timeout (${e.timeoutMs}ms) reached; undelivered records stay queued for the next start` };
    case 'agent.drain-stuck':
      return {
        level: 'error',
        msg: `sink(s) ${e.sinks.join(', ')} made no progress for ${e.timeoutMs}ms; giving up; their records stay queued for the next start`,
      };
    case 'agent.reopen-sinks':
      return { level: 'info', msg: 'SIGHUP: file sinks reopen their files' };
    case 'agent.queue-close-failed':
      return { level: 'error', msg: `queue: close failed: ${errorText(e.error)}; what was not persisted is replayed from the last durable state at the next start` };
    case 'agent.stopped': {
      const summary = Object.entries(e.written)
        .map(([id, n]) => `${id}=${n}`)
        .join(' ');
      return { level: 'info', msg: `stopped${e.drained ? ' (drained)' : ''}; events written: ${summary || 'none'}` };
    }
    case 'agent.stats':
      return { level: 'debug', msg: 'stats', fields: { ...e.fields } };
    case 'source.ended':
      return { level: 'debug', msg: `source ${e.source}: ended` };
    case 'source.restarting':
      return { level: 'error', msg: `source ${e.source}: failed (${errorText(e.error)}); restarting in ${e.retryInMs}ms from its last durable position`, fields: { attempt: e.attempt } };
    case 'source.failed':
      return { level: 'error', msg: `source ${e.source}: failed: ${errorText(e.error)}` };
    case 'sink.failing': {
      const more = e.unreported > 0 ? `; ${e.unreported} more failure(s) since the last report` : '';
      return {
        level: e.alert === true ? 'error' : 'warn',
        msg: `sink ${e.sink}: write failed, retrying in ${e.retryInMs}ms (${errorText(e.error)})${e.alert === true ? '; this needs an operator' : ''}${more}`,
        fields: { attempt: e.attempt },
      };
    }
    case 'sink.recovered':
      return { level: 'info', msg: `sink ${e.sink}: write succeeded after ${e.failedAttempts} failed attempt(s)` };
    case 'sink.behind': {
      const rate = e.eventsPerSecond > 0 ? `delivering ${count(e.eventsPerSecond)}/s` : 'not delivering';
      const eta = e.etaSeconds !== undefined ? `, about ${duration(e.etaSeconds)} left` : ', not shrinking';
      const age = e.oldestAgeSeconds !== undefined ? ` (oldest ${duration(e.oldestAgeSeconds)} old)` : '';
      return { level: 'info', msg: `sink ${e.sink}: ${count(e.backlogEvents)} events behind${age}, ${rate}${eta}` };
    }
    case 'sink.caught-up':
      return { level: 'info', msg: `sink ${e.sink}: caught up (${count(e.backlogEvents)} events behind, after ${duration(e.behindMs / 1000)})` };
    case 'sink.record-invalid':
      return { level: 'error', msg: `sink ${e.sink}: skipping record ${e.recordId}: ${errorText(e.error)}`, fields: { events: e.events } };
    case 'sink.dead-lettered':
      return {
        level: 'error',
        msg: `sink ${e.sink}: ${e.events} event(s) (ids ${e.firstEventId}-${e.lastEventId}) refused for good (${e.reason}); kept in ${e.file} (see sluice dead-letter)`,
        fields: { bytes: e.bytes },
      };
    case 'sink.dead-letter-blocked':
      return { level: 'error', msg: `sink ${e.sink}: cannot keep a refused payload (${errorText(e.error)}); the sink waits and retries, acking nothing meanwhile` };
    case 'sink.dead-letter-resumed':
      return { level: 'info', msg: `sink ${e.sink}: dead-letter store writable again after ${Math.round(e.waitedMs)}ms` };
    case 'sink.cursor-deferred':
      return { level: 'warn', msg: `sink ${e.sink}: cannot persist its cursor yet (${errorText(e.error)}); the cursor timer retries` };
    case 'sink.stopped':
      return { level: 'error', msg: `sink ${e.sink}: stopped: ${errorText(e.error)}` };
    case 'sink.close-failed':
      return { level: 'warn', msg: `sink ${e.sink}: close failed: ${errorText(e.error)}` };
  }
};

/** A listener that writes each event's line to `log`. */
export const reportTo =
  (log: Diagnostics) =>
  (e: AgentEvent): void => {
    const line = describeEvent(e);
    if (line) log[line.level](line.msg, line.fields);
  };
