#!/usr/bin/env node
/** The `sluice` bin. See ./cli.ts for the commands and exit codes. */
// First, before the heavier modules load: a SIGTERM during start-up is kept, not fatal.
import { catchSignals } from './signals';
if (process.argv[2] === 'run') catchSignals();
import { runCli } from './cli';

// Diagnostics are best effort: a stderr whose reader went away (EPIPE) must never stop the agent,
// leave its lock behind or skip persisting cursors. The data path never depends on stderr.
process.stderr.on('error', () => undefined);

process.on('uncaughtException', (err) => {
  process.stderr.write(`${new Date().toISOString()} ERROR internal error (a bug; queued data is safe): ${err.stack ?? String(err)}\n`);
  process.exit(1);
});

runCli(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sluice: ${String(err)}\n`);
    process.exit(1);
  },
);
