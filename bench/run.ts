/**
 * `npm run bench`: runs every benchmark program in this folder (files named `*.bench.js` once built),
 * one after another so they do not compete for the two cores, each printing its own table.
 * `npm run bench -- queue` runs only the ones whose file name contains `queue`.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const filters = process.argv.slice(2);
const benches = readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
let failed = 0;
for (const file of benches) {
  process.stdout.write(`\n## ${file.replace(/\.bench\.js$/, '')}\n\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(__dirname, file)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`bench ${file} exited with ${r.status ?? r.signal}\n`);
  }
}
process.exit(failed ? 1 : 0);
