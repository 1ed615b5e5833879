/**
 * The recovery decision table (src/queue/recovery-table.ts) is complete, unambiguous and tested:
 * every combination of the classified attributes matches exactly one row, every row can match,
 * every row names a test that exists, and the design doc lists every row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ATTRIBUTES, TABLE, allFindings, decide, matches, type Finding } from '../../src/queue/recovery-table';

const describe = (f: Finding): string => JSON.stringify(f);

test('every combination of the classified attributes matches exactly one row of the recovery table', () => {
  const findings = allFindings();
  let expected = 0;
  for (const attrs of Object.values(ATTRIBUTES)) {
    expected += Object.values(attrs as Record<string, readonly unknown[]>).reduce((n, values) => n * values.length, 1);
  }
  assert.equal(findings.length, expected, 'allFindings() enumerates the whole product of the attributes');
  const problems: string[] = [];
  for (const f of findings) {
    const rows = TABLE.filter((r) => matches(r, f));
    if (rows.length !== 1) problems.push(`${describe(f)} matches ${rows.length} rows: ${rows.map((r) => r.label).join(' | ')}`);
    else assert.equal(decide(f), rows[0]);
  }
  assert.deepEqual(problems, []);
});

test('every row of the recovery table can match, names only known attributes and values, and has a unique label', () => {
  const findings = allFindings();
  const labels = new Set<string>();
  for (const row of TABLE) {
    assert.ok(!labels.has(row.label), `duplicate label ${row.label}`);
    labels.add(row.label);
    const attrs = ATTRIBUTES[row.when.kind] as Readonly<Record<string, readonly unknown[]>>;
    for (const [key, value] of Object.entries(row.when)) {
      if (key === 'kind') continue;
      assert.ok(attrs[key]?.includes(value), `row "${row.label}": ${key}=${String(value)} is not a value of ${row.when.kind}.${key}`);
    }
    assert.ok(findings.some((f) => matches(row, f)), `row "${row.label}" matches no finding`);
    assert.ok(row.reported.length > 0 && row.test.length > 0);
  }
});

/** The titles of every `test(...)` in the compiled queue tests (string literals as written). */
function testTitles(): Set<string> {
  const titles = new Set<string>();
  const re = /\btest\)?\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g;
  for (const name of readdirSync(__dirname)) {
    if (!name.endsWith('.test.js')) continue;
    const src = readFileSync(join(__dirname, name), 'utf8');
    for (const m of src.matchAll(re)) titles.add((m[2] as string).replace(/\\(.)/g, '$1'));
  }
  return titles;
}

test('every row of the recovery table names a queue test that exists', () => {
  const titles = testTitles();
  assert.ok(titles.size > 50, `found the queue tests (${titles.size} titles)`);
  const missing = TABLE.filter((r) => !titles.has(r.test)).map((r) => `${r.label}: "${r.test}"`);
  assert.deepEqual(missing, []);
});

test('the design doc (src/queue/README.md) lists every row of the recovery table', () => {
  const readme = readFileSync(join(__dirname, '..', '..', '..', 'src', 'queue', 'README.md'), 'utf8');
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const missing = TABLE.filter((r) => !readme.includes(`| ${esc(r.label)} | **${r.action}** |`)).map((r) => r.label);
  assert.deepEqual(missing, []);
});
