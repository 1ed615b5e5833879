#!/usr/bin/env node
/** The `sluice` bin. See ./cli.ts for the commands and exit codes. */
// First, before the heavier modules load: a SIGTERM during start-up is kept, not fatal.
import * as nodeModule from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { catchSignals } from './signals';
// Node >= 22.1 keeps the compiled code of the modules it loads (in the OS temp dir; off with
// NODE_DISABLE_COMPILE_CACHE=1): later starts skip compiling yaml, zod and sluice again.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
if (process.argv[2] === 'run') {
  catchSignals();
  // A young generation that stays at its initial size (1 MiB semi-spaces) instead of growing to
  // 16 MiB: the agent's young objects are small and short-lived, its big buffers are reused, and a
  // grown young generation was ~15 MB of peak RSS for nothing (docs/agent.md, "Performance").
  // Unknown to a V8 that dropped the flag: then it is ignored.
  setFlagsFromString('--semi-space-growth-factor=1');
}
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
