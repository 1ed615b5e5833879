import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDiagnostics, errorText } from '../../src/core/diagnostics';

test('diagnostics write one timestamped, leveled line per event and drop levels below the threshold', () => {
  const lines: string[] = [];
  const log = createDiagnostics({ level: 'warn', write: (l) => lines.push(l), now: () => Date.UTC(2026, 10, 26, 15) });
  log.debug('hidden');
  log.info('hidden too');
  log.warn('sink archive: write failed, retrying in 400ms (EACCES: denied)', { attempt: 3, path: '/a b', ok: false });
  log.error('boom');
  assert.deepEqual(lines, [
    '2026-11-26T15:00:00.000Z WARN sink archive: write failed, retrying in 400ms (EACCES: denied) attempt=3 path="/a b" ok=false\n',
    '2026-11-26T15:00:00.000Z ERROR boom\n',
  ]);
});

test('the silent level writes nothing and debug writes everything', () => {
  const lines: string[] = [];
  const silent = createDiagnostics({ level: 'silent', write: (l) => lines.push(l) });
  silent.error('x');
  assert.equal(lines.length, 0);
  const debug = createDiagnostics({ level: 'debug', write: (l) => lines.push(l) });
  debug.debug('a');
  debug.info('b');
  assert.equal(lines.length, 2);
  assert.match(lines[0] ?? '', / DEBUG a\n$/);
});

test('errorText gives the code and the first line of the message', () => {
  const e = Object.assign(new Error("permission denied, open '/x'\nmore"), { code: 'EACCES' });
  assert.equal(errorText(e), "EACCES: permission denied, open '/x'");
  assert.equal(errorText(Object.assign(new Error('EPIPE: broken pipe'), { code: 'EPIPE' })), 'EPIPE: broken pipe');
  assert.equal(errorText('plain'), 'plain');
});

test('errorText adds the cause when the message does not already say it', () => {
  const io = Object.assign(new Error('queue /d: write failed: ENOSPC: no space left on device, write'), { code: 'SLUICE_QUEUE_IO' });
  const e = Object.assign(new Error('source "app" stopped: the queue did not accept a batch', { cause: io }), { code: 'SLUICE_SOURCE_EMIT_FAILED' });
  assert.equal(
    errorText(e),
    'SLUICE_SOURCE_EMIT_FAILED: source "app" stopped: the queue did not accept a batch: SLUICE_QUEUE_IO: queue /d: write failed: ENOSPC: no space left on device, write',
  );
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  const said = Object.assign(new Error('queue /d: write failed: ENOSPC: no space left on device, write', { cause: enospc }), { code: 'SLUICE_QUEUE_IO' });
  assert.equal(errorText(said), 'SLUICE_QUEUE_IO: queue /d: write failed: ENOSPC: no space left on device, write');
  const loop = new Error('a');
  (loop as { cause?: unknown }).cause = loop;
  assert.equal(errorText(loop), 'a');
});
