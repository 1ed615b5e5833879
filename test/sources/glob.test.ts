import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { join, matchesGlob } from 'node:path';
import fc from 'fast-check';
import { Glob, expandBraces } from '../../src/sources/file/glob';
import { tempDir } from './harness';

test('braces expand to every alternative, nested ones included', () => {
  assert.deepEqual(expandBraces('/a/{b,c}/x.{log,txt}'), ['/a/b/x.log', '/a/b/x.txt', '/a/c/x.log', '/a/c/x.txt']);
  assert.deepEqual(expandBraces('/a/{b,{c,d}e}'), ['/a/b', '/a/ce', '/a/de']);
  assert.deepEqual(expandBraces('/a/{b}'), ['/a/{b}']);
  assert.throws(() => expandBraces('/a/{b,c'), { code: 'SLUICE_SOURCE_GLOB_INVALID' });
});

test('patterns match paths the way a shell would, with ** spanning directories', () => {
  const g = new Glob(['/var/log/*.log', '/srv/**/app-?.txt', '/data/[a-c]*/[!x]*.log', '/q/\\*lit']);
  assert.equal(g.matches('/var/log/app.log'), true);
  assert.equal(g.matches('/var/log/.hidden.log'), true);
  assert.equal(g.matches('/var/log/sub/app.log'), false);
  assert.equal(g.matches('/var/log/app.log.1'), false);
  assert.equal(g.matches('/srv/app-1.txt'), true);
  assert.equal(g.matches('/srv/a/b/c/app-2.txt'), true);
  assert.equal(g.matches('/srv/a/app-22.txt'), false);
  assert.equal(g.matches('/data/b1/y.log'), true);
  assert.equal(g.matches('/data/d1/y.log'), false);
  assert.equal(g.matches('/data/b1/x.log'), false);
  assert.equal(g.matches('/q/*lit'), true);
  assert.equal(g.matches('/q/alit'), false);
});

test('relative patterns are rejected by the glob itself', () => {
  assert.throws(() => new Glob(['logs/*.log']), { code: 'SLUICE_SOURCE_GLOB_INVALID' });
});

test('listing walks the directories, applies excludes and never follows a symlink loop through **', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'a', 'b'), { recursive: true });
  mkdirSync(join(dir, 'c'));
  for (const f of ['top.log', 'a/one.log', 'a/b/two.log', 'a/b/two.txt', 'c/skip.log']) writeFileSync(join(dir, f), 'x\n');
  symlinkSync(dir, join(dir, 'a', 'loop'));
  const g = new Glob([join(dir, '**', '*.log'), join(dir, '{a,c}', '*.log')], [join(dir, 'c', '**')]);
  const got = (await g.list()).map((p) => p.slice(dir.length + 1)).sort();
  assert.deepEqual(got, ['a/b/two.log', 'a/one.log', 'top.log']);
  const missing = new Glob([join(dir, 'nope', '*.log')]);
  assert.deepEqual(await missing.list(), []);
});

test('matching agrees with Node\'s own path.matchesGlob on generated patterns and paths (no dot files)', () => {
  const seg = fc
    .array(fc.constantFrom('a', 'b', 'ab', '*', '?', '[ab]', '[!a]', '{a,b}', '{ab,b*}'), { minLength: 1, maxLength: 3 })
    .map((parts) => parts.join(''));
  const patSeg = fc.oneof({ weight: 4, arbitrary: seg }, { weight: 1, arbitrary: fc.constant('**') });
  const pattern = fc.array(patSeg, { minLength: 1, maxLength: 4 }).map((s) => `/r/${s.join('/')}`);
  const pathSeg = fc.array(fc.constantFrom('a', 'b', 'c', '.'), { minLength: 1, maxLength: 4 }).map((s) => s.join('')).filter((s) => !s.startsWith('.'));
  const path = fc.array(pathSeg, { minLength: 1, maxLength: 5 }).map((s) => `/r/${s.join('/')}`);
  fc.assert(
    fc.property(pattern, path, (p, f) => {
      assert.equal(new Glob([p]).matches(f), matchesGlob(f, p), `${p} vs ${f}`);
    }),
    { numRuns: 3000 },
  );
});
