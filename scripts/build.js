#!/usr/bin/env node
// Compiles TypeScript (src, test, bench → dist/), then bundles the `sluice` program and marks the
// bin executable (tsc writes files without the execute bit, and `npx sluice` in a checkout runs
// dist/src/cli/main.js directly).
//
// The bundle: dist/src/cli/bin.js, which tsc has just written as an ordinary module, is replaced by
// one file holding it and everything it imports — sluice's modules, `yaml` and `zod` (tree-shaken:
// zod's locales and unused schema kinds are left out). Node then reads and compiles one file at
// start instead of resolving a few hundred: about half of spawn → first line on Node 20
// (docs/agent.md, "Start-up"). The other dependencies stay in node_modules and are loaded only by a
// config that uses them (NATS, the OTLP protobuf decoder, the Prometheus client). The launcher
// (main.js) and the library (dist/src/index.js) are not bundled; tests that import modules in-process
// use tsc's files, tests that spawn the CLI use the bundle: what users run.
'use strict';
const { chmodSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const { spawnSync } = require('node:child_process');

const root = join(__dirname, '..');
const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bundled = new Set(['yaml', 'zod']);
const external = Object.keys(pkg.dependencies ?? {})
  .filter((d) => !bundled.has(d))
  .flatMap((d) => [d, `${d}/*`]);
require('esbuild')
  .build({
    absWorkingDir: root,
    entryPoints: ['src/cli/bin.ts'],
    outfile: 'dist/src/cli/bin.js',
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external,
    sourcemap: true,
    sourcesContent: false,
    legalComments: 'none',
    logLevel: 'warning',
  })
  .then(() => chmodSync(join(root, 'dist', 'src', 'cli', 'main.js'), 0o755))
  .catch(() => process.exit(1));
