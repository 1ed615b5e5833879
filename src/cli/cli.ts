/**
 * The `sluice` command line. `runCli(argv)` returns the exit code; `main.ts` is the bin.
 *
 * Exit codes: 0 ok · 1 runtime failure · 2 usage or config error · 3 data_dir locked by another agent.
 * User mistakes print one line on stderr (no stack trace) naming the place and the fix.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, ConfigReadError, formatProblem } from '../config/errors';
import { BUILTIN_FILE, loadConfigFile, parseConfig } from '../config/load';
import { createDiagnostics, errorText, isLogLevel, LOG_LEVELS, type LogLevel } from '../core/diagnostics';
import { argsProblem } from './args';
import { DeadLetterUsageError, HELP_DEAD_LETTER, runDeadLetter } from './dead-letter';
import { DEFAULT_CONFIG_FILE, DEFAULT_CONFIG_YAML, DEFAULT_DESCRIPTION } from './defaults';
import { agentRegistry } from './registry';
import { runAgent } from './run';
import { describeTopology } from './topology';
import { HELP_QUEUE, QueueMissingError, QueueUsageCliError, runQueue } from './queue';
import { HELP_TOP, runTop, TopUsageError } from './top';
import { sluiceVersion as version } from './version';
import type { AgentConfigT } from '../pipeline/agent';

export const EXIT_CODES = { ok: 0, failure: 1, usage: 2, locked: 3 } as const;

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly cwd: string;
}

const defaultIo: CliIo = {
  out: (t) => void process.stdout.write(t),
  err: (t) => void process.stderr.write(t),
  cwd: process.cwd(),
};

const HELP_MAIN = `sluice — a log collection agent that never loses a line

Usage:
  sluice run [--config FILE] [--log-level LEVEL]   run the agent in the foreground
  sluice validate [--config FILE]                 check a config without starting anything
  sluice top [--api URL | --config FILE]          watch a running agent (rates, backlog, failing sinks)
  sluice dead-letter list|replay [--config FILE]  inspect or resend what destinations refused
  sluice queue inspect|verify [--config FILE]     look at the queue: segments, cursors, backlog; check every frame
  sluice help [COMMAND]                           show help
  sluice --version                                print the version

Without --config, ./sluice.yaml is used if present, else a built-in default
(read stdin, queue under ./.sluice, write to stdout).

Exit codes: 0 ok, 1 runtime failure, 2 usage or config error, 3 data_dir locked by another agent.
Docs: docs/agent.md, docs/config.md, docs/operations.md
`;

const HELP_RUN = `Usage: sluice run [--config FILE] [--log-level LEVEL]

Runs the agent in the foreground until every source has ended (then drains the sinks and exits 0)
or until SIGTERM/SIGINT (stops intake, drains sinks up to shutdown_timeout, exits 0; a second
signal stops at once). SIGHUP makes file sinks reopen their files (after logrotate).

Options:
  -c, --config FILE      the YAML config (default: ./sluice.yaml, else the built-in default)
      --log-level LEVEL  ${LOG_LEVELS.join(' | ')} (default: info); diagnostics go to stderr
  -h, --help             show this help

Exit codes: 0 ok, 1 runtime failure, 2 usage or config error, 3 data_dir locked by another agent.
`;

const HELP_VALIDATE = `Usage: sluice validate [--config FILE]

Checks a config (YAML syntax, keys, types, sizes, sink inputs) without starting anything.
Prints "ok", a summary and every source → sink route with its guarantee, and exits 0 when valid; else prints one line per problem
(file:line:column: key: problem) and exits 2. \`sluice run\` gives the same verdict.

Options:
  -c, --config FILE   the YAML config (default: ./sluice.yaml, else the built-in default)
  -h, --help          show this help
`;

class UsageError extends Error {
  readonly code = 'SLUICE_USAGE';
}

const parse = (command: string, args: string[], withLogLevel: boolean) => {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        ...(withLogLevel ? { 'log-level': { type: 'string' as const } } : {}),
      },
    }).values as { config?: string; help?: boolean; 'log-level'?: string };
  } catch (err) {
    throw new UsageError(argsProblem(command, err));
  }
};

interface ChosenConfig {
  readonly config: AgentConfigT;
  readonly isDefault: boolean;
}

const chooseConfig = async (flag: string | undefined, cwd: string): Promise<ChosenConfig> => {
  if (flag !== undefined) return { config: await loadConfigFile(flag, agentRegistry), isDefault: false };
  if (existsSync(join(cwd, DEFAULT_CONFIG_FILE))) return { config: await loadConfigFile(DEFAULT_CONFIG_FILE, agentRegistry), isDefault: false };
  return { config: parseConfig(DEFAULT_CONFIG_YAML, BUILTIN_FILE, agentRegistry), isDefault: true };
};

/** Runs one command line; resolves to the exit code. */
export const runCli = async (argv: readonly string[], io: CliIo = defaultIo): Promise<number> => {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
        io.err(HELP_MAIN);
        return EXIT_CODES.usage;
      case '--help':
      case '-h':
        io.out(HELP_MAIN);
        return EXIT_CODES.ok;
      case 'help': {
        const topic = rest[0];
        const topics: Readonly<Record<string, string>> = { run: HELP_RUN, validate: HELP_VALIDATE, top: HELP_TOP, 'dead-letter': HELP_DEAD_LETTER, queue: HELP_QUEUE };
        if (topic === undefined) {
          io.out(HELP_MAIN);
          return EXIT_CODES.ok;
        }
        const text = topics[topic];
        if (text === undefined) throw new UsageError(`sluice help: no command ${JSON.stringify(topic)} (commands: ${Object.keys(topics).join(', ')}; see sluice --help)`);
        io.out(text);
        return EXIT_CODES.ok;
      }
      case '--version':
      case '-V':
        io.out(`sluice ${version()}\n`);
        return EXIT_CODES.ok;
      case 'validate': {
        const v = parse('validate', rest, false);
        if (v.help) {
          io.out(HELP_VALIDATE);
          return EXIT_CODES.ok;
        }
        const { config } = await chooseConfig(v.config, io.cwd);
        io.out(
          `ok: ${config.file}: ${config.sources.length} source(s) (${config.sources.map((s) => `${s.id}: ${s.type}`).join(', ')}), ` +
            `${config.sinks.length} sink(s) (${config.sinks.map((s) => `${s.id}: ${s.type} <- ${s.base.inputs.join(', ')}`).join('; ')})\n` +
            describeTopology(config) +
            (config.warnings ?? []).map((w) => `warning: ${formatProblem(w)}\n`).join(''),
        );
        return EXIT_CODES.ok;
      }
      case 'run': {
        const v = parse('run', rest, true);
        if (v.help) {
          io.out(HELP_RUN);
          return EXIT_CODES.ok;
        }
        const levelText = v['log-level'] ?? 'info';
        if (!isLogLevel(levelText)) {
          throw new UsageError(`sluice run: --log-level ${JSON.stringify(levelText)} is not a level (valid: ${LOG_LEVELS.join(', ')})`);
        }
        const level: LogLevel = levelText;
        const chosen = await chooseConfig(v.config, io.cwd);
        const log = createDiagnostics({ level, write: io.err });
        if (chosen.isDefault) log.info(DEFAULT_DESCRIPTION);
        for (const w of chosen.config.warnings ?? []) log.warn(formatProblem(w));
        return await runAgent(chosen.config, log);
      }
      case 'top':
        return await runTop(rest, io);
      case 'dead-letter':
        return await runDeadLetter(rest, io);
      case 'queue':
        return await runQueue(rest, io);
      default:
        if (command.startsWith('-')) throw new UsageError(`sluice: unknown flag ${command} (see sluice --help)`);
        throw new UsageError(`sluice: unknown command ${JSON.stringify(command)} (valid: run, validate, top, dead-letter, queue, help; see sluice --help)`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof TopUsageError || err instanceof DeadLetterUsageError || err instanceof QueueUsageCliError) {
      io.err(`${err.message}\n`);
      return EXIT_CODES.usage;
    }
    if (err instanceof ConfigError) {
      io.err(`${err.describe()}\n`);
      return EXIT_CODES.usage;
    }
    if (err instanceof QueueMissingError) {
      io.err(`${err.message}\n`);
      return EXIT_CODES.failure;
    }
    if (err instanceof ConfigReadError) {
      io.err(`${err.message}\n`);
      return EXIT_CODES.usage;
    }
    io.err(`sluice: ${errorText(err)}\n`);
    return EXIT_CODES.failure;
  }
};
