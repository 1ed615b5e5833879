/**
 * What `sluice run` does with no `--config` and no `./sluice.yaml`: read stdin, queue under
 * `./.sluice`, write the lines to stdout as text, exit 0 when stdin ends and everything is written.
 */
export const DEFAULT_CONFIG_FILE = 'sluice.yaml';

export const DEFAULT_CONFIG_YAML = `# sluice's built-in default
data_dir: ./.sluice
queue:
  fsync: always
sources:
  stdin:
    type: stdin
sinks:
  stdout:
    type: stdout
    inputs: [stdin]
    encoding: text
`;

export const DEFAULT_DESCRIPTION =
  'no --config given and no ./sluice.yaml here: using the built-in default ' +
  '(read stdin, queue under ./.sluice, write lines to stdout as text; exits when stdin ends)';
