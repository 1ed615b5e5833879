#!/usr/bin/env node
// Compiles TypeScript (src, test, bench → dist/) and marks the `sluice` bin executable: tsc writes
// files without the execute bit, and `npx sluice` in a checkout runs dist/src/cli/main.js directly.
'use strict';
const { chmodSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);
chmodSync(join(root, 'dist', 'src', 'cli', 'main.js'), 0o755);
