#!/usr/bin/env node
/**
 * The `sluice` bin: a small launcher. It does what must happen before the program's code is read —
 * the compile cache, catching stop signals, a V8 flag — then loads the program (./bin.ts, bundled
 * into one file by the build). See ./cli.ts for the commands and exit codes.
 */
import * as nodeModule from 'node:module';
import { setFlagsFromString } from 'node:v8';
import { catchSignals } from './signals';
// Node >= 22.1 keeps the compiled code of the files it loads (in the OS temp dir; off with
// NODE_DISABLE_COMPILE_CACHE=1): later starts skip compiling the program again.
(nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
if (process.argv[2] === 'run') {
  // A SIGTERM during start-up is kept, not fatal (./signals.ts).
  catchSignals();
  // A young generation that stays at its initial size (1 MiB semi-spaces) instead of growing to
  // 16 MiB: the agent's young objects are small and short-lived, its big buffers are reused, and a
  // grown young generation was ~15 MB of peak RSS for nothing (docs/agent.md, "Performance").
  // Unknown to a V8 that dropped the flag: then it is ignored.
  setFlagsFromString('--semi-space-growth-factor=1');
}
// Loaded after the above, which an import (hoisted) would not be.
// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./bin');
