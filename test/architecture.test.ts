/**
 * The folder tree is the architecture: these tests read the sources and hold the layering that
 * docs/architecture.md describes — which folder may import which, no cycle between folders (type
 * imports included), and no file too big to read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/** The checkout's src/, found from this compiled file (dist/test/architecture.test.js). */
const SRC = resolve(__dirname, '..', '..', 'src');

const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : name.endsWith('.ts') ? [p] : [];
  });

/** Top-level folder of a file or import target under src/ (`index` for src/index.ts). */
const folderOf = (file: string): string => {
  const first = relative(SRC, file).split('/')[0] ?? '';
  return first.replace(/\.ts$/, '');
};

/** Every relative import or export-from of a file (type-only ones included), as target folders. */
const importsOf = (file: string): string[] => {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)) {
    const spec = m[1] ?? m[2];
    if (spec === undefined) continue;
    out.push(folderOf(resolve(dirname(file), spec)));
  }
  return out;
};

/** Which folders each folder may import (besides itself). */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  core: [],
  logger: [],
  queue: ['core'],
  sources: ['core', 'queue'],
  sinks: ['core', 'queue'],
  config: ['core', 'queue'],
  pipeline: ['core', 'queue', 'config'],
  api: ['core', 'queue', 'config', 'pipeline'],
  cli: ['core', 'queue', 'config', 'pipeline', 'api', 'sources', 'sinks'],
  index: ['core', 'queue', 'config', 'pipeline', 'api', 'sources', 'sinks', 'cli', 'logger'],
};

const all = files(SRC);

test('every folder imports only the folders below it: sources and sinks never each other nor pipeline', () => {
  const bad: string[] = [];
  for (const f of all) {
    const from = folderOf(f);
    const allowed = ALLOWED[from];
    assert.ok(allowed, `src/${from} is not in the layering table (add it, and to docs/architecture.md)`);
    for (const to of importsOf(f)) if (to !== from && !allowed.includes(to)) bad.push(`${relative(SRC, f)} imports ${to}/`);
  }
  assert.deepEqual(bad, []);
});

test('there is no import cycle between src/ folders, type imports included', () => {
  const edges = new Map<string, Set<string>>();
  for (const f of all) {
    const from = folderOf(f);
    for (const to of importsOf(f)) if (to !== from) (edges.get(from) ?? edges.set(from, new Set()).get(from))?.add(to);
  }
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (n: string, path: string[]): void => {
    if (state.get(n) === 'done') return;
    if (state.get(n) === 'open') {
      cycles.push([...path.slice(path.indexOf(n)), n].join(' → '));
      return;
    }
    state.set(n, 'open');
    for (const m of edges.get(n) ?? []) visit(m, [...path, n]);
    state.set(n, 'done');
  };
  for (const n of edges.keys()) visit(n, []);
  assert.deepEqual(cycles, []);
});

test('no file in src/ is over 700 lines', () => {
  const big = all
    .map((f) => ({ f: relative(SRC, f), lines: readFileSync(f, 'utf8').split('\n').length }))
    .filter((x) => x.lines > 700)
    .map((x) => `${x.f}: ${x.lines} lines`);
  assert.deepEqual(big, []);
});
