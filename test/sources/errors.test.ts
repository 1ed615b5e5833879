/** The network sources' errors: one shape each (message, chained cause), a stable code per source type. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpEmitError, HttpListenError, HttpTlsFileError, SourceEmitError } from '../../src/sources/errors';
import { SyslogEmitError, SyslogListenError, SyslogTlsFileError } from '../../src/sources/syslog/errors';

test('each network source error names the source, chains its cause and carries a code of its own source type', () => {
  const cause = new Error('EADDRINUSE');
  const made = [
    new HttpListenError('web', '127.0.0.1:80', { cause }),
    new SyslogListenError('sys', 'tcp 127.0.0.1:514', { cause }),
    new HttpTlsFileError('web', '/etc/key.pem', { cause }),
    new SyslogTlsFileError('sys', '/etc/key.pem', { cause }),
    new HttpEmitError('web', { cause }),
    new SyslogEmitError('sys', { cause }),
    new SourceEmitError('app', { cause }),
  ];
  assert.deepEqual(
    made.map((e) => [e.name, e.code]),
    [
      ['HttpListenError', 'SLUICE_SOURCE_HTTP_LISTEN'],
      ['SyslogListenError', 'SLUICE_SOURCE_SYSLOG_LISTEN'],
      ['HttpTlsFileError', 'SLUICE_SOURCE_HTTP_TLS_FILE'],
      ['SyslogTlsFileError', 'SLUICE_SOURCE_SYSLOG_TLS_FILE'],
      ['HttpEmitError', 'SLUICE_SOURCE_HTTP_EMIT_FAILED'],
      ['SyslogEmitError', 'SLUICE_SOURCE_SYSLOG_EMIT_FAILED'],
      ['SourceEmitError', 'SLUICE_SOURCE_EMIT_FAILED'],
    ],
  );
  for (const e of made) assert.equal(e.cause, cause);
  assert.equal(made[0]?.message, 'source "web" cannot listen on 127.0.0.1:80');
  assert.equal(made[1]?.message, 'source "sys" cannot listen on tcp 127.0.0.1:514');
  assert.equal(made[3]?.message, 'source "sys": cannot read TLS file /etc/key.pem');
  assert.equal(made[5]?.message, 'source "sys" stopped: the queue did not accept a batch');
  assert.ok(made[4] instanceof SourceEmitError && made[5] instanceof SourceEmitError, 'an emit failure of any source is a SourceEmitError');
});
