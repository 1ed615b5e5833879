/**
 * `sluice dead-letter list|replay`: look at and resend what destinations refused for good
 * (`<data_dir>/dead_letter/<sink id>/`, written by the sink runner; format in
 * `src/pipeline/dead-letter.ts`).
 *
 * `replay` sends each entry again, byte for byte, through its sink (`Sink.resend`: the http sink
 * POSTs it with its stored content type and the same `Idempotency-Key`); an entry is removed (and
 * the removal fsynced) only once the destination accepted it. Undecodable queue records cannot be
 * sent (there is nothing to decode them into) and stay for inspection. It works while the agent
 * runs: the agent only ever adds entries, replay only removes accepted ones.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../config/load';
import { createDiagnostics, errorText } from '../core/diagnostics';
import { nodeFileSystem, nodeReadFileSystem, systemClock, systemRandom } from '../core/node-ports';
import type { AgentConfigT } from '../pipeline/agent';
import { loadAgentId } from '../pipeline/agent';
import { DeadLetterStore, deadLetterDir } from '../pipeline/dead-letter';
import { DEFAULT_DELIVERY } from '../pipeline/sink-runner';
import { DEFAULT_CONFIG_FILE } from './defaults';
import { agentRegistry } from './registry';

export const HELP_DEAD_LETTER = `Usage: sluice dead-letter list [--config FILE] [--sink ID]
       sluice dead-letter replay [--config FILE] [--sink ID]

What each sink's destination refused for good (HTTP 400, an event too large even alone) and queue
records that could not be decoded are kept, fsynced, under <data_dir>/dead_letter/<sink id>/.

  list     one line per entry: file, event ids, events, bytes, time, reason, start of the response
  replay   send every entry again through its sink; an accepted entry is removed, a refused one stays

Options:
  -c, --config FILE   the YAML config (default: ./sluice.yaml)
      --sink ID       only this sink
  -h, --help          show this help

Exit codes: 0 ok (replay: every entry accepted), 1 some entry not replayed, 2 usage or config error.
`;

export class DeadLetterUsageError extends Error {
  readonly code = 'SLUICE_USAGE';
}

interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly cwd: string;
}

export const runDeadLetter = async (args: readonly string[], io: Io): Promise<number> => {
  const [action, ...rest] = args;
  if (action === '--help' || action === '-h') {
    io.out(HELP_DEAD_LETTER);
    return 0;
  }
  if (action !== 'list' && action !== 'replay') {
    throw new DeadLetterUsageError(`sluice dead-letter: ${action === undefined ? 'missing' : `unknown action ${JSON.stringify(action)}:`} list or replay (see sluice dead-letter --help)`);
  }
  let v: { config?: string; sink?: string; help?: boolean };
  try {
    v = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: { config: { type: 'string', short: 'c' }, sink: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (err) {
    throw new DeadLetterUsageError(`sluice dead-letter ${action}: ${err instanceof Error ? err.message : String(err)} (see sluice dead-letter --help)`);
  }
  if (v.help) {
    io.out(HELP_DEAD_LETTER);
    return 0;
  }
  const file = v.config ?? (existsSync(join(io.cwd, DEFAULT_CONFIG_FILE)) ? DEFAULT_CONFIG_FILE : undefined);
  if (file === undefined) throw new DeadLetterUsageError(`sluice dead-letter ${action}: no ./${DEFAULT_CONFIG_FILE}; pass --config FILE`);
  const config = await loadConfigFile(file, agentRegistry);
  const sinks = config.sinks.filter((s) => v.sink === undefined || s.id === v.sink);
  if (sinks.length === 0) throw new DeadLetterUsageError(`sluice dead-letter: no sink ${JSON.stringify(v.sink)} (valid: ${config.sinks.map((s) => s.id).join(', ')})`);
  return action === 'list' ? list(config, sinks, io) : replay(config, sinks, io);
};

const list = async (config: AgentConfigT, sinks: AgentConfigT['sinks'], io: Io): Promise<number> => {
  let total = 0;
  for (const s of sinks) {
    const store = new DeadLetterStore(nodeFileSystem, deadLetterDir(config.dataDir, s.id), s.id);
    for (const e of await store.list()) {
      total++;
      const m = e.meta;
      const response = m.response ? `  response: ${JSON.stringify(m.response.slice(0, 120))}` : '';
      io.out(`${s.id}/${e.name}  ids ${m.first_event_id}-${m.last_event_id}  ${m.events} event(s)  ${m.bytes} bytes  ${m.time}  ${m.reason}${response}\n`);
    }
  }
  io.out(`${total} entr${total === 1 ? 'y' : 'ies'}\n`);
  return 0;
};

const replay = async (config: AgentConfigT, sinks: AgentConfigT['sinks'], io: Io): Promise<number> => {
  const agentId = await loadAgentId(nodeFileSystem, config.dataDir);
  const log = createDiagnostics({ level: 'warn', write: io.err });
  let sent = 0;
  let left = 0;
  for (const s of sinks) {
    const store = new DeadLetterStore(nodeFileSystem, deadLetterDir(config.dataDir, s.id), s.id);
    const entries = await store.list();
    if (entries.length === 0) continue;
    const sink = s.create({ id: s.id, log, clock: systemClock, random: systemRandom, fs: nodeFileSystem, readFs: nodeReadFileSystem, cwd: io.cwd, agentId });
    try {
      for (const e of entries) {
        if (!sink.resend) {
          io.err(`${s.id}/${e.name}: a ${s.type} sink cannot resend; kept\n`);
          left++;
          continue;
        }
        if (e.meta.content_type === 'application/x-sluice-record') {
          io.err(`${s.id}/${e.name}: an undecodable queue record cannot be sent; kept for inspection\n`);
          left++;
          continue;
        }
        const { payload } = await store.read(e.name);
        const timeoutMs = s.base.request?.timeout ?? DEFAULT_DELIVERY.timeoutMs;
        const r = await sink.resend(
          { payload, contentType: e.meta.content_type, firstEventId: e.meta.first_event_id, lastEventId: e.meta.last_event_id },
          { signal: AbortSignal.timeout(timeoutMs) },
        );
        if (r.status === 'delivered') {
          await store.remove(e.name);
          sent++;
          io.out(`${s.id}/${e.name}: delivered, removed\n`);
        } else {
          left++;
          const why = r.status === 'errored' ? errorText(r.error) : r.rejections.map((x) => x.reason).join('; ');
          io.err(`${s.id}/${e.name}: ${r.status} (${why}); kept\n`);
        }
      }
    } finally {
      await sink.close();
    }
  }
  io.out(`replayed ${sent}, kept ${left}\n`);
  return left === 0 ? 0 : 1;
};
