import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceKinds } from '../../src/sources';
import { FileSource } from '../../src/sources/file/source';
import { StdinSource } from '../../src/sources/stdin/source';
import type { FileSourceConfig } from '../../src/sources/file/config';
import type { StdinSourceConfig } from '../../src/sources/stdin/config';
import { componentContext } from '../util/context';

/** Validates one `sources.<id>` entry through the registry, as the config loader does. */
const parse = (raw: { type: string } & Record<string, unknown>) => {
  const kind = sourceKinds.get(raw.type);
  assert.ok(kind, `no source type ${raw.type}`);
  return kind.parse(raw);
};
const fileConfig = (raw: Record<string, unknown>): FileSourceConfig => {
  const r = parse({ type: 'file', ...raw });
  assert.ok(r.ok);
  return r.config as FileSourceConfig;
};

test('the file config fills defaults and rejects unknown keys and bad patterns with their place', () => {
  const cfg = fileConfig({ include: ['/var/log/*.log'] });
  assert.equal(cfg.type, 'file');
  assert.equal(cfg.start_at, 'beginning');
  assert.equal(cfg.fingerprint_bytes, 256);
  const bad = parse({ type: 'file', include: ['/x/{a'], start_at: 'middle', colour: 'blue' });
  assert.equal(bad.ok, false);
  const paths = bad.ok ? [] : bad.issues.map((i) => i.path.join('.')).sort();
  assert.deepEqual(paths, ['', 'include.0', 'start_at']);
  assert.equal(parse({ type: 'file', include: [] }).ok, false);
});

test('the registry builds each source type and says whether it can acknowledge (stdin cannot resume, so it cannot)', () => {
  const file = parse({ type: 'file', include: ['logs/*.log'] });
  assert.ok(file.ok);
  assert.ok(file.make(componentContext('app', undefined, '/tmp')) instanceof FileSource);
  const stdin = parse({ type: 'stdin' });
  assert.ok(stdin.ok);
  assert.ok(stdin.make(componentContext('pipe')) instanceof StdinSource);
  assert.equal(sourceKinds.get('file')?.canAcknowledge, true);
  assert.equal(sourceKinds.get('stdin')?.canAcknowledge, false);
  assert.equal(sourceKinds.get('syslog')?.canAcknowledge, false);
  assert.equal(sourceKinds.get('http')?.canAcknowledge, true);
  assert.equal(sourceKinds.get('otlp')?.canAcknowledge, true);
  assert.equal(sourceKinds.get('nats')?.canAcknowledge, true);
  assert.deepEqual([...sourceKinds.keys()].sort(), ['file', 'http', 'nats', 'otlp', 'stdin', 'syslog']);
  assert.equal(parse({ type: 'stdin', include: ['x'] }).ok, false);
});

test('size keys take plain bytes or binary units, and out-of-range sizes are refused', () => {
  const cfg = fileConfig({ include: ['a.log'], read_buffer_bytes: '512KiB', max_line_bytes: 65536 });
  assert.equal(cfg.read_buffer_bytes, 512 * 1024);
  assert.equal(cfg.max_line_bytes, 65536);
  assert.equal(parse({ type: 'file', include: ['a.log'], read_buffer_bytes: '1KiB' }).ok, false);
  assert.equal(parse({ type: 'file', include: ['a.log'], fingerprint_bytes: '1x' }).ok, false);
  const stdin = parse({ type: 'stdin', max_line_bytes: '64KiB' });
  assert.ok(stdin.ok);
  assert.equal((stdin.config as StdinSourceConfig).max_line_bytes, 64 * 1024);
});
