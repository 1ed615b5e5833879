import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PKG, ROOT, readLines, runScript, tempDir } from './helpers';
import { NOT_JSON_IN_PINO, SHAPES, type Ranges } from './corpus';

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

test('the built package writes what pino 10 writes, byte for byte, for every call shape of the corpus', async (t) => {
  const dir = tempDir(t);
  const pf = join(dir, 'pino.log');
  const sf = join(dir, 'sluice.log');
  const src = `
const { createLogger } = require(PKG);
const pino = require(${JSON.stringify(join(ROOT, 'node_modules', 'pino'))});
const { SHAPES, NOT_JSON_IN_PINO, runShapes } = require(${JSON.stringify(join(__dirname, 'corpus.js'))});
const dest = pino.destination({ dest: ${JSON.stringify(pf)}, sync: true });
const p = pino({ level: 'trace' }, dest);
const s = createLogger({ level: 'trace', destination: ${JSON.stringify(sf)} });
const run = (shapes) => runShapes(shapes, p, () => dest.flushSync(), ${JSON.stringify(pf)}, s, () => s.flushSync(), ${JSON.stringify(sf)});
const same = run(SHAPES);
const notJson = run(NOT_JSON_IN_PINO);
console.log(JSON.stringify({ same, notJson }));`;
  const r = await runScript(dir, 'corpus.js', src, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const { same, notJson } = JSON.parse(r.stdout) as { same: Ranges[]; notJson: Ranges[] };
  assert.equal(same.length, SHAPES.length);
  assert.ok(same.length >= 83, `${same.length} shapes`);
  const pb = readFileSync(pf);
  const sb = readFileSync(sf);
  // bytes as latin1: one character per byte, so the comparison is byte for byte
  const text = (b: Buffer, [from, to]: readonly [number, number]) => b.toString('latin1', from, to).replace(/^\{"level":(\d+),"time":\d+,/gm, '{"level":$1,"time":0,');
  const differ: string[] = [];
  for (const c of same) {
    assert.equal(c.pinoThrew, undefined, `pino threw for ${c.name}`);
    if (c.sluiceThrew !== undefined) {
      differ.push(`${c.name}: sluice threw ${c.sluiceThrew}`);
      continue;
    }
    const a = text(pb, c.pino);
    const b = text(sb, c.sluice);
    assert.ok(a.length > 0, `pino wrote nothing for ${c.name}`);
    if (a === b) continue;
    let i = 0;
    while (a[i] === b[i]) i++;
    differ.push(`${c.name} (byte ${i}):\n  pino:   …${JSON.stringify(a.slice(Math.max(0, i - 60), i + 60))}\n  sluice: …${JSON.stringify(b.slice(Math.max(0, i - 60), i + 60))}`);
  }
  assert.equal(differ.length, 0, `${differ.length} of ${same.length} shapes differ:\n${differ.join('\n')}`);
  // where pino's line is not JSON, sluice's is, and it has no message
  assert.equal(notJson.length, NOT_JSON_IN_PINO.length);
  for (const c of notJson) {
    const pl = pb.toString('utf8', c.pino[0], c.pino[1]);
    const sl = sb.toString('utf8', c.sluice[0], c.sluice[1]);
    assert.throws(() => JSON.parse(pl), SyntaxError, `pino's line for ${c.name} has become JSON; compare it byte for byte`);
    const line = JSON.parse(sl) as Record<string, unknown>;
    assert.equal('msg' in line, false, c.name);
  }
});
