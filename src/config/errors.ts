/**
 * Errors raised while reading the agent's configuration. Each has a stable `code`; the message is
 * one line meant for a person: `<file>:<line>:<col>: <key>: <what is wrong> (<what would be valid>)`.
 * The CLI prints the message alone (no stack trace) and exits 2.
 */

/** One problem found in a config file, located as precisely as the YAML allows. */
export interface ConfigProblem {
  /** The config file (as given on the command line), or `<built-in default>`. */
  readonly file: string;
  /** 1-based line and column of the offending key or value; 0 when unknown. */
  readonly line: number;
  readonly col: number;
  /** Dotted path of the key, e.g. `sinks.archive.inputs[0]`; empty for the whole document. */
  readonly key: string;
  readonly message: string;
}

export const formatProblem = (p: ConfigProblem): string => {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file;
  return p.key ? `${where}: ${p.key}: ${p.message}` : `${where}: ${p.message}`;
};

/** The config is invalid. `problems` lists every problem found; `message` is the first, one line. */
export class ConfigError extends Error {
  readonly code = 'SLUICE_CONFIG_INVALID';
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[], options?: { cause?: unknown }) {
    const first = problems[0];
    super(first ? formatProblem(first) : 'invalid configuration', options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
  /** Every problem, one per line. */
  describe(): string {
    return this.problems.map(formatProblem).join('\n');
  }
}

/** The config file could not be read at all (missing, unreadable). */
export class ConfigReadError extends Error {
  readonly code = 'SLUICE_CONFIG_UNREADABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigReadError';
  }
}
