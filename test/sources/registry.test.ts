import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sourceConfigSchema, sourceTypes, createSource, canAcknowledge } from '../../src/sources';
import { FileSource } from '../../src/sources/file/source';
import { StdinSource } from '../../src/sources/stdin/source';

test('the file config fills defaults and rejects unknown keys and bad patterns with their place', () => {
  const cfg = sourceConfigSchema.parse({ type: 'file', include: ['/var/log/*.log'] });
  assert.equal(cfg.type, 'file');
  if (cfg.type !== 'file') return;
  assert.equal(cfg.start_at, 'beginning');
  assert.equal(cfg.fingerprint_bytes, 256);
  const bad = sourceConfigSchema.safeParse({ type: 'file', include: ['/x/{a'], start_at: 'middle', colour: 'blue' });
  assert.equal(bad.success, false);
  const paths = bad.error?.issues.map((i) => i.path.join('.')).sort();
  assert.deepEqual(paths, ['', 'include.0', 'start_at']);
  assert.equal(sourceConfigSchema.safeParse({ type: 'file', include: [] }).success, false);
});

test('the registry builds each source type and says whether it can acknowledge', () => {
  assert.ok(createSource(sourceConfigSchema.parse({ type: 'file', include: ['logs/*.log'] }), { cwd: '/tmp' }) instanceof FileSource);
  assert.ok(createSource(sourceConfigSchema.parse({ type: 'stdin' })) instanceof StdinSource);
  assert.equal(canAcknowledge('file'), true);
  assert.equal(canAcknowledge('stdin'), true);
  assert.deepEqual(Object.keys(sourceTypes).sort(), ['file', 'stdin']);
  assert.equal(sourceConfigSchema.safeParse({ type: 'stdin', include: ['x'] }).success, false);
});

test('size keys take plain bytes or binary units, and out-of-range sizes are refused', () => {
  const cfg = sourceConfigSchema.parse({ type: 'file', include: ['a.log'], read_buffer_bytes: '512KiB', max_line_bytes: 65536 });
  assert.ok(cfg.type === 'file');
  assert.equal(cfg.read_buffer_bytes, 512 * 1024);
  assert.equal(cfg.max_line_bytes, 65536);
  assert.equal(sourceConfigSchema.safeParse({ type: 'file', include: ['a.log'], read_buffer_bytes: '1KiB' }).success, false);
  assert.equal(sourceConfigSchema.safeParse({ type: 'file', include: ['a.log'], fingerprint_bytes: '1x' }).success, false);
  const stdin = sourceConfigSchema.parse({ type: 'stdin', max_line_bytes: '64KiB' });
  assert.ok(stdin.type === 'stdin');
  assert.equal(stdin.max_line_bytes, 64 * 1024);
});
