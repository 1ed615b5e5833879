/**
 * The `sluice` program, loaded by the bin's launcher (./main.ts) once signals are caught. The build
 * bundles this file with everything it imports (sluice's modules, `yaml`, `zod`) into one file at
 * the same path (scripts/build.js): one file to read and compile instead of a few hundred to
 * resolve, which is most of sluice's start-up (docs/agent.md, "Start-up"). Without the bundle step
 * (tsc alone) it is an ordinary module and behaves the same, only slower to start.
 */
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
