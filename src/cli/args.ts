/** What `node:util` `parseArgs` said, as one line for a user: the flag, and where to read more. */
export const argsProblem = (command: string, err: unknown): string => {
  const code = (err as { code?: unknown }).code;
  const msg = err instanceof Error ? err.message : String(err);
  const name = /'([^']+)'/.exec(msg)?.[1] ?? '';
  const help = `(see sluice ${command} --help)`;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `sluice ${command}: unknown flag ${name} ${help}`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `sluice ${command}: unexpected argument ${JSON.stringify(name)} ${help}`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return `sluice ${command}: ${/--[\w-]+/.exec(name)?.[0] ?? name} needs a value ${help}`;
  return `sluice ${command}: ${msg} ${help}`;
};
