/**
 * `sluice queue inspect|verify`: read-only views of an agent's queue (`<data_dir>/queue`), built on
 * the queue's own scanner (`src/queue/inspect.ts`). Neither takes the lock nor writes a byte, so
 * both are safe while the agent runs; the numbers are then those of the moment of the scan, and the
 * cursors are the persisted ones (up to one cursor flush, 1 s, behind the agent's live view).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load';
import { decodeEnvelope } from '../core/envelope';
import { asRecordId } from '../core/records';
import { nodeFileSystem } from '../core/node-ports';
import { inspectQueue, type Finding, type QueueReport } from '../queue/inspect';
import { count, duration } from '../pipeline/report';
import { argsProblem } from './args';
import { DEFAULT_CONFIG_FILE } from './defaults';
import { agentRegistry } from './registry';

export const HELP_QUEUE = `Usage: sluice queue inspect [--config FILE] [--json]
       sluice queue verify [--config FILE] [--json]

Read-only views of the agent's queue in <data_dir>/queue. Neither takes the lock nor changes a
byte: both are safe while the agent runs (a segment being appended to is reported "in progress").

  inspect  segments (file, size, records, first/last record id, age of the oldest record), total
           size against queue.max_bytes, and each sink's persisted cursor, backlog (events and
           bytes) and the age of its oldest unacknowledged record
  verify   checks every frame (magic, length, header, record ids, CRC) and every cursor file; prints
           each problem with its file, byte offset and record ids; exit 1 on damage, 0 when clean
           (a torn tail left by a crash is cut on the next start: reported, not damage)

Options:
  -c, --config FILE   the YAML config (default: ./sluice.yaml)
      --json          one JSON document instead of text
  -h, --help          show this help

Exit codes: 0 ok (verify: no damage), 1 damage found or the queue cannot be read, 2 usage or config error.
`;

export class QueueUsageCliError extends Error {
  readonly code = 'SLUICE_USAGE';
}

/** The queue directory cannot be looked at (no data_dir, no queue yet): one line, exit 1. */
export class QueueMissingError extends Error {
  readonly code = 'SLUICE_QUEUE_MISSING';
}

interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly cwd: string;
}

export const runQueue = async (args: readonly string[], io: Io): Promise<number> => {
  const [action, ...rest] = args;
  if (action === '--help' || action === '-h') {
    io.out(HELP_QUEUE);
    return 0;
  }
  if (action !== 'inspect' && action !== 'verify') {
    throw new QueueUsageCliError(`sluice queue: ${action === undefined ? 'missing' : `unknown action ${JSON.stringify(action)}:`} inspect or verify (see sluice queue --help)`);
  }
  let v: { config?: string; json?: boolean; help?: boolean };
  try {
    v = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    throw new QueueUsageCliError(argsProblem(`queue ${action}`, err));
  }
  if (v.help) {
    io.out(HELP_QUEUE);
    return 0;
  }
  const file = v.config ?? (existsSync(join(io.cwd, DEFAULT_CONFIG_FILE)) ? DEFAULT_CONFIG_FILE : undefined);
  if (file === undefined) throw new QueueUsageCliError(`sluice queue ${action}: no ./${DEFAULT_CONFIG_FILE}; pass --config FILE`);
  const config = await loadConfigFile(file, agentRegistry);
  const dir = join(config.dataDir, 'queue');
  if (!existsSync(config.dataDir)) {
    throw new QueueMissingError(`sluice queue ${action}: data_dir ${config.dataDir} (from ${config.file}) does not exist: no agent has run with this config yet`);
  }
  if (!existsSync(dir)) throw new QueueMissingError(`sluice queue ${action}: no queue in ${dir} yet: no agent has run with this config's data_dir`);
  const report = await inspectQueue(nodeFileSystem, dir, { consumers: config.sinks.map((s) => s.id), recordTime: ingestTime });
  const now = Date.now();
  if (action === 'inspect') {
    io.out(v.json === true ? `${JSON.stringify(inspectJson(report, config.queue.maxBytes, now), null, 2)}\n` : inspectText(report, config.queue.maxBytes, now));
    return 0;
  }
  const damaged = report.findings.filter((f) => f.severity === 'damage').length;
  io.out(v.json === true ? `${JSON.stringify(verifyJson(report, damaged), null, 2)}\n` : verifyText(report, damaged));
  return damaged > 0 ? 1 : 0;
};

/** The agent's envelope says when a record was ingested; anything else has no time. */
const ingestTime = (payload: Buffer): number | undefined => {
  try {
    return decodeEnvelope(payload, 1, asRecordId(0)).ingestMs;
  } catch {
    return undefined;
  }
};

const ageSeconds = (ms: number | undefined, now: number): number | null => (ms === undefined ? null : Math.max(0, Math.round((now - ms) / 100) / 10));

const bytes = (n: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v}B` : `${v.toFixed(1)}${units[u] ?? ''}`;
};

const table = (rows: readonly (readonly string[])[], rightFrom: number): string => {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i >= rightFrom ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
};

const holder = (r: QueueReport): string => (r.heldBy === null ? 'no agent running' : `agent running (pid ${r.heldBy})`);

const inspectText = (r: QueueReport, maxBytes: number, now: number): string => {
  const age = (ms: number | undefined): string => {
    const s = ageSeconds(ms, now);
    return s === null ? '-' : duration(s);
  };
  const id = (n: number | null): string => (n === null ? '-' : String(n));
  const segs = table(
    [['SEGMENT', 'SIZE', 'RECORDS', 'EVENTS', 'FIRST ID', 'LAST ID', 'AGE'], ...r.segments.map((s) => [s.file, bytes(s.size), String(s.records), count(s.events), id(s.firstRecordId), id(s.lastRecordId), age(s.oldestMs)])],
    1,
  );
  const cons = table(
    [
      ['SINK', 'CURSOR', 'BACKLOG', 'BYTES', 'OLDEST UNACKED'],
      ...r.consumers.map((c) => [
        c.configured ? c.name : `${c.name} (not in config)`,
        c.cursor === null ? `${c.cursorState} (${c.resumeAt})` : c.cursorState === 'ok' ? String(c.cursor) : `${c.cursor} (${c.cursorState})`,
        count(c.backlogEvents),
        bytes(c.backlogBytes),
        c.backlogEvents === 0 ? '-' : age(c.oldestUnackedMs),
      ]),
    ],
    1,
  );
  const pct = maxBytes > 0 ? ` (${((100 * r.totalBytes) / maxBytes).toFixed(1)}%)` : '';
  const oldest = oldestUnacked(r);
  const damage = r.findings.filter((f) => f.severity === 'damage').length;
  return (
    `queue ${r.dir}: ${holder(r)}\n\n${segs}\n\n` +
    `total ${bytes(r.totalBytes)} of max_bytes ${bytes(maxBytes)}${pct}, ${r.segments.length} segment(s), head id ${r.headId}\n` +
    `oldest unacknowledged record: ${oldest === undefined ? 'none' : `${age(oldest)} old`}\n\n${cons}\n` +
    (damage > 0 ? `\n${damage} damaged region(s) or file(s): run sluice queue verify\n` : '')
  );
};

const oldestUnacked = (r: QueueReport): number | undefined => {
  let oldest: number | undefined;
  for (const c of r.consumers) {
    if (!c.configured || c.backlogEvents === 0 || c.oldestUnackedMs === undefined) continue;
    if (oldest === undefined || c.oldestUnackedMs < oldest) oldest = c.oldestUnackedMs;
  }
  return oldest;
};

const inspectJson = (r: QueueReport, maxBytes: number, now: number): unknown => ({
  dir: r.dir,
  agent_pid: r.heldBy,
  segments: r.segments.map((s) => ({
    file: s.file,
    size: s.size,
    records: s.records,
    events: s.events,
    first_record_id: s.firstRecordId,
    last_record_id: s.lastRecordId,
    end_id: s.endId,
    age_seconds: ageSeconds(s.oldestMs, now),
  })),
  total_bytes: r.totalBytes,
  max_bytes: maxBytes,
  head_id: r.headId,
  oldest_unacked_age_seconds: ageSeconds(oldestUnacked(r), now),
  sinks: Object.fromEntries(
    r.consumers.map((c) => [
      c.name,
      {
        configured: c.configured,
        cursor: c.cursor,
        cursor_state: c.cursorState,
        backlog_events: c.backlogEvents,
        backlog_bytes: c.backlogBytes,
        oldest_unacked_age_seconds: c.backlogEvents === 0 ? 0 : ageSeconds(c.oldestUnackedMs, now),
      },
    ]),
  ),
  damaged: r.findings.filter((f) => f.severity === 'damage').length,
});

const where = (f: Finding): string => {
  const at = f.offset === undefined ? '' : ` at byte offset ${f.offset}${f.bytes === undefined ? '' : ` (${f.bytes} bytes)`}`;
  const ids = f.ids === undefined || f.what.includes('record ids') ? '' : ` [ids ${f.ids[0]}..${f.ids[1]}]`;
  return `${f.file}${at}${ids}`;
};

const verifyText = (r: QueueReport, damaged: number): string => {
  const lines = r.findings.map((f) => `${f.severity === 'damage' ? 'DAMAGE' : 'note  '} ${where(f)}: ${f.what}`);
  const summary =
    `checked ${r.segments.length} segment(s), ${r.frames} frame(s), ${r.consumers.length} cursor(s) in ${r.dir}, ${holder(r)}: ` +
    (damaged === 0 ? 'no damage' : `${damaged} damaged`);
  return `${lines.length > 0 ? `${lines.join('\n')}\n` : ''}${summary}\n`;
};

const verifyJson = (r: QueueReport, damaged: number): unknown => ({
  dir: r.dir,
  agent_pid: r.heldBy,
  segments: r.segments.length,
  frames: r.frames,
  cursors: r.consumers.length,
  damaged,
  findings: r.findings.map((f) => ({
    severity: f.severity,
    file: f.file,
    offset: f.offset ?? null,
    bytes: f.bytes ?? null,
    first_id: f.ids?.[0] ?? null,
    last_id: f.ids?.[1] ?? null,
    what: f.what,
  })),
});
