import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, ROOT, readLines, runScript, tempDir } from './helpers';

test('require() of the built package gives a working createLogger', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'cjs.log');
  const r = await runScript(
    dir,
    'cjs.cjs',
    `const { createLogger } = require(PKG);
const log = createLogger({ destination: ${JSON.stringify(file)} });
log.info({ via: 'require' }, 'hello from cjs');`,
  );
  assert.equal(r.code, 0, r.stderr);
  const [line] = readLines(file);
  assert.equal(line?.['msg'], 'hello from cjs');
  assert.equal(line?.['via'], 'require');
});

test('an ES module import of the package by path gives a working createLogger', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'esm.log');
  const r = await runScript(
    dir,
    'esm.mjs',
    `import { createLogger } from ${JSON.stringify(pathToFileURL(PKG).href)};
const log = createLogger({ destination: ${JSON.stringify(file)} });
log.warn({ via: 'import' }, 'hello from esm');`,
  );
  assert.equal(r.code, 0, r.stderr);
  const [line] = readLines(file);
  assert.equal(line?.['msg'], 'hello from esm');
  assert.equal(line?.['level'], 40);
});

test('pino-pretty reads sluice output unchanged: messages, levels, fields and errors show up', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'pretty.log');
  const r = await runScript(
    dir,
    'pretty.js',
    `const { createLogger } = require(PKG);
const log = createLogger({ destination: ${JSON.stringify(file)}, level: 'debug' });
log.debug('debugging the cache');
log.info({ reqId: 'r-42' }, 'request handled');
log.child({ svc: 'api' }).warn('slow upstream');
log.error(new Error('disk on fire'), 'write failed');`,
  );
  assert.equal(r.code, 0, r.stderr);
  const pretty = spawnSync(join(ROOT, 'node_modules', '.bin', 'pino-pretty'), ['--colorize', 'false'], {
    input: readFileSync(file),
    encoding: 'utf8',
  });
  assert.equal(pretty.status, 0, pretty.stderr);
  const out = pretty.stdout;
  assert.match(out, /DEBUG.*debugging the cache/);
  assert.match(out, /INFO.*request handled/);
  assert.match(out, /reqId: "r-42"/);
  assert.match(out, /WARN.*slow upstream/);
  assert.match(out, /svc: "api"/);
  assert.match(out, /ERROR.*write failed/);
  assert.match(out, /disk on fire/);
  // nothing fell through as unparsed raw JSON
  assert.doesNotMatch(out, /^\{"level"/m);
});
