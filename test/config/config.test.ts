import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/errors';
import { parseConfig } from '../../src/config/load';
import { parseDuration, parseSize } from '../../src/core/units';
import { agentRegistry } from '../../src/cli/registry';
import { DEFAULT_CONFIG_YAML } from '../../src/cli/defaults';

const EXAMPLE = `data_dir: /var/lib/sluice
queue:
  max_bytes: 1GiB
  fsync: always
sources:
  app:
    type: file
    include: ["/var/log/app/*.log"]
    exclude: []
    start_at: beginning
  pipe:
    type: stdin
sinks:
  archive:
    type: file
    inputs: [app]
    path: /srv/archive/app.log
    encoding: text
  console:
    type: stdout
    inputs: [pipe, app]
    encoding: json
`;

const parse = (text: string, env: NodeJS.ProcessEnv = {}) => parseConfig(text, 'sluice.yaml', agentRegistry, env);

const problems = (text: string): string[] => {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'SLUICE_CONFIG_INVALID');
    assert.ok(!err.message.includes('\n'), 'the message is one line');
    return err.describe().split('\n');
  }
  assert.fail('the config was accepted');
};

test('the example config from the issue is accepted and resolved', () => {
  const c = parse(EXAMPLE);
  assert.equal(c.dataDir, '/var/lib/sluice');
  assert.equal(c.queue.maxBytes, 1024 ** 3);
  assert.deepEqual(c.queue.fsync, { mode: 'always' });
  assert.deepEqual(c.sources.map((s) => `${s.id}:${s.type}`), ['app:file', 'pipe:stdin']);
  assert.deepEqual(c.sinks.map((s) => `${s.id}:${s.type}:${s.base.inputs.join('+')}`), ['archive:file:app', 'console:stdout:pipe+app']);
  assert.equal(c.shutdownTimeoutMs, 10_000);
});

test('an unknown top-level key is refused with its file, line, column and the valid keys', () => {
  const [p] = problems(EXAMPLE.replace('queue:\n', 'queeu: 1\nqueue:\n'));
  assert.match(p ?? '', /^sluice\.yaml:2:1: queeu: unknown key \(valid keys: data_dir, queue, shutdown_timeout, api, sources, sinks\)$/);
});

test('an unknown key inside a sink names the sink and the valid keys', () => {
  const [p] = problems(EXAMPLE.replace('    path: /srv', '    pth: x\n    path: /srv'));
  assert.match(p ?? '', /^sluice\.yaml:17:5: sinks\.archive\.pth: unknown key \(valid keys: type, inputs, path, encoding, max_backoff, batch, request, dead_letter\)$/);
});

test('an unknown source type lists the valid types', () => {
  const [p] = problems(EXAMPLE.replace('type: stdin', 'type: kafka'));
  assert.match(p ?? '', /^sluice\.yaml:12:11: sources\.pipe\.type: unknown source type "kafka" \(valid: file, stdin, syslog, http, otlp, nats\)$/);
});

test('a sink input that names no source is refused at the item', () => {
  const [p] = problems(EXAMPLE.replace('inputs: [app]', 'inputs: [ap]'));
  assert.match(p ?? '', /^sluice\.yaml:16:14: sinks\.archive\.inputs\[0\]: unknown source "ap" \(valid: app, pipe\)$/);
});

test('a config with no sink is refused', () => {
  const text = EXAMPLE.slice(0, EXAMPLE.indexOf('sinks:')) + 'sinks: {}\n';
  const [p] = problems(text);
  assert.match(p ?? '', /sluice\.yaml:\d+:\d+: sinks: no sink configured/);
});

test('a bad size is refused with the accepted forms', () => {
  const [p] = problems(EXAMPLE.replace('1GiB', '1GB'));
  assert.match(p ?? '', /^sluice\.yaml:3:14: queue\.max_bytes: "1GB" is not a size such as 1GiB/);
});

test('a bad enum value names the valid values', () => {
  const [p] = problems(EXAMPLE.replace('encoding: json', 'encoding: xml'));
  assert.match(p ?? '', /^sluice\.yaml:22:15: sinks\.console\.encoding: string "xml" is not valid \(valid: "text", "json"\)$/);
});

test('a missing required key is reported at its parent', () => {
  const [p] = problems(EXAMPLE.replace('data_dir: /var/lib/sluice\n', ''));
  assert.match(p ?? '', /^sluice\.yaml:1:1: data_dir: missing \(expected a string\)$/);
});

test('a YAML syntax error is reported with its line', () => {
  const [p] = problems('data_dir: /x\nsources:\n  a: [\n');
  assert.match(p ?? '', /^sluice\.yaml:\d+:\d+: YAML: /);
});

test('a duplicate key is refused', () => {
  const [p] = problems(EXAMPLE.replace('queue:\n', 'data_dir: /y\nqueue:\n'));
  assert.match(p ?? '', /^sluice\.yaml:2:1: YAML: /);
});

test('every problem is listed, one per line', () => {
  const lines = problems(EXAMPLE.replace('1GiB', 'lots').replace('inputs: [app]', 'inputs: [nope]').replace('type: stdin', 'type: tcp'));
  assert.ok(lines.length >= 2, lines.join('\n'));
});

test('fsync interval takes fsync_interval_ms, and fsync_interval_ms without interval is refused', () => {
  const c = parse(EXAMPLE.replace('fsync: always', 'fsync: interval\n  fsync_interval_ms: 250'));
  assert.deepEqual(c.queue.fsync, { mode: 'interval', intervalMs: 250 });
  const [p] = problems(EXAMPLE.replace('fsync: always', 'fsync: never\n  fsync_interval_ms: 250'));
  assert.match(p ?? '', /queue\.fsync_interval_ms: only used with fsync: interval/);
});

test('shutdown_timeout accepts durations', () => {
  assert.equal(parse(`shutdown_timeout: 2500ms\n${EXAMPLE}`).shutdownTimeoutMs, 2500);
  assert.equal(parse(`shutdown_timeout: 20s\n${EXAMPLE}`).shutdownTimeoutMs, 20_000);
  const [p] = problems(`shutdown_timeout: soon\n${EXAMPLE}`);
  assert.match(p ?? '', /^sluice\.yaml:1:19: shutdown_timeout: "soon" is not a duration/);
});

test('ids that cannot be file names are refused', () => {
  const [p] = problems(EXAMPLE.replace('  console:', '  "../x":'));
  assert.match(p ?? '', /sinks\.\.\.\/x: invalid id/);
});

test('${VAR} and ${VAR:-default} are replaced from the environment', () => {
  const c = parse(EXAMPLE.replace('/var/lib/sluice', '${DATA:-/tmp/d}').replace('/srv/archive/app.log', '${OUT}/a.log'), { OUT: '/o' });
  assert.equal(c.dataDir, '/tmp/d');
  assert.equal(c.sinks.length, 2);
});

test('sizes accept binary units and plain bytes', () => {
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('64KiB'), 65536);
  assert.equal(parseSize('1.5 MiB'), 1572864);
  assert.equal(parseSize('2GiB'), 2 * 1024 ** 3);
  assert.equal(parseSize('10B'), 10);
  assert.equal(parseSize('1GB'), undefined);
  assert.equal(parseSize('-1'), undefined);
  assert.equal(parseSize(''), undefined);
});

test('durations accept ms, s, m, h and bare seconds', () => {
  assert.equal(parseDuration('150ms'), 150);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('3'), 3000);
  assert.equal(parseDuration('soon'), undefined);
});

test('the queue bound must hold several segments, and the segment size follows a small bound', () => {
  const c = parse(EXAMPLE.replace('1GiB', '64MiB'));
  assert.equal(c.queue.maxBytes, 64 * 1024 ** 2);
  assert.equal(c.queue.segmentBytes, 16 * 1024 ** 2);
  assert.equal(parse(EXAMPLE).queue.segmentBytes, 64 * 1024 ** 2);
  const [p] = problems(EXAMPLE.replace('1GiB', '64MiB\n  segment_bytes: 64MiB'));
  assert.match(p ?? '', /queue\.segment_bytes: must be at most half of max_bytes/);
  const [q] = problems(EXAMPLE.replace('1GiB', '1MiB'));
  assert.match(q ?? '', /^sluice\.yaml:3:14: queue\.max_bytes: must be at least 16MiB$/);
});

test('a too small max_bytes is one problem: no second one about a segment_bytes the user did not set', () => {
  assert.deepEqual(problems(EXAMPLE.replace('1GiB', '1KiB')), ['sluice.yaml:3:14: queue.max_bytes: must be at least 16MiB']);
});

test('a file source whose batch cannot fit one queue segment is refused with one line naming the keys and the fix', () => {
  const big = EXAMPLE.replace('1GiB', '16MiB').replace('    start_at: beginning\n', '    start_at: beginning\n    read_buffer_bytes: 8MiB\n');
  assert.deepEqual(problems(big), [
    'sluice.yaml:11:24: sources.app.read_buffer_bytes: one batch of this source can reach 9.2MiB (read_buffer_bytes 8MiB + max_line_bytes 1MiB + positions), ' +
      'more than a queue segment holds (queue.segment_bytes 4MiB, derived from max_bytes); lower read_buffer_bytes or max_line_bytes, ' +
      'or set queue.segment_bytes to at least 10MiB and max_bytes to at least 20MiB',
  ]);
  // Either fix passes: a larger queue (its segments grow with it), or a smaller read.
  assert.equal(parse(big.replace('16MiB', '64MiB')).queue.segmentBytes, 16 * 1024 ** 2);
  parse(big.replace('read_buffer_bytes: 8MiB', 'read_buffer_bytes: 2MiB'));
});

test('an http or otlp source whose max_body_bytes exceeds a queue segment is accepted with a warning naming the key: a body is cut into records, one event is not', () => {
  const net = (queue: string, extra = ''): string =>
    `data_dir: /d\n${queue}sources:\n  web:\n    type: http\n    address: 8080\n${extra}  traces:\n    type: otlp\nsinks:\n  out:\n    type: stdout\n    inputs: [web, traces]\n`;
  const warned = parse(net('queue:\n  max_bytes: 16MiB\n'));
  assert.deepEqual(
    (warned.warnings ?? []).map((w) => `${w.line}:${w.col}: ${w.key}`),
    ['6:5: sources.web.max_body_bytes', '9:5: sources.traces.max_body_bytes'],
  );
  assert.equal(
    warned.warnings?.[0]?.message,
    'max_body_bytes 10MiB is more than a queue segment holds (queue.segment_bytes 4MiB, derived from max_bytes): a larger request is stored as several records, ' +
      'but each event must fit one record and a larger one is refused (413); lower max_body_bytes to refuse such bodies before they are read, ' +
      'or set queue.segment_bytes to at least 11MiB and max_bytes to at least 22MiB, if single events can be that large',
  );
  assert.equal(parse(net('')).warnings, undefined, 'the default queue (64MiB segments) holds a 10MiB event');
  assert.equal(parse(net('queue:\n  max_bytes: 16MiB\n', '    max_body_bytes: 3MiB\n').replace('    type: otlp\n', '    type: otlp\n    max_body_bytes: 3MiB\n')).warnings, undefined);
});

test('the partial line and the pending multiline event count in a batch, for file and stdin sources alike', () => {
  const small = EXAMPLE.replace('1GiB', '64MiB\n  segment_bytes: 2MiB');
  // A 1MiB read + a partial line of up to 1MiB (the default max_line_bytes) do not fit 2MiB segments.
  const [p] = problems(small.replace('    start_at: beginning\n', '    start_at: beginning\n    read_buffer_bytes: 1MiB\n'));
  assert.match(p ?? '', /sources\.app\.read_buffer_bytes: one batch of this source can reach 2\.2MiB \(read_buffer_bytes 1MiB \+ max_line_bytes 1MiB \+ positions\)/);
  const fits = small
    .replace('    start_at: beginning\n', '    start_at: beginning\n    read_buffer_bytes: 512KiB\n')
    .replace('    type: stdin\n', '    type: stdin\n    max_line_bytes: 512KiB\n');
  parse(fits);
  const [m] = problems(fits.replace('    read_buffer_bytes: 512KiB\n', '    read_buffer_bytes: 512KiB\n    multiline: { mode: java, max_bytes: 2MiB }\n'));
  assert.match(m ?? '', /sources\.app\.read_buffer_bytes: one batch .*read_buffer_bytes 512KiB \+ multiline\.max_bytes 2MiB.*lower read_buffer_bytes or multiline\.max_bytes/);
  const [s] = problems(fits.replace('max_line_bytes: 512KiB', 'max_line_bytes: 4MiB'));
  assert.match(s ?? '', /sources\.pipe\.max_line_bytes: one batch of this source can reach 5\.1MiB \(max_line_bytes 4MiB \+ 1MiB read at once\).*lower max_line_bytes/);
});

test('the built-in default and a queue at its smallest take every source at its defaults', () => {
  parse(DEFAULT_CONFIG_YAML);
  parse(EXAMPLE.replace('1GiB', '16MiB'));
});

test('a source or sink without type lists the valid types', () => {
  const [p] = problems(EXAMPLE.replace('    type: stdin\n', '    typo: stdin\n'));
  assert.match(p ?? '', /^sluice\.yaml:12:5: sources\.pipe\.type: missing \(valid types: file, stdin, syslog, http, otlp, nats\)$/);
});

test('a YAML alias bomb is a config error at the first alias, never expanded', () => {
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (const [i, name] of ['b', 'c', 'd', 'e'].entries()) {
    const prev = 'abcd'[i] as string;
    levels.push(`${name}: &${name} [${Array.from({ length: 9 }, () => `*${prev}`).join(',')}]`);
  }
  const text = `${levels.join('\n')}\ndata_dir: x\nsources: {}\nsinks: {}\n`;
  assert.throws(
    () => parse(text),
    (err: unknown) => err instanceof ConfigError && /^sluice\.yaml:2:8: YAML: aliases expand too far/.test(err.describe()),
  );
});
