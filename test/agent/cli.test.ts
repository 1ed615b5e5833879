import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, cli, startAgent, waitFor, withTempDir, writeConfig } from './helpers';

/** `sluice validate` and `sluice run` on ./sluice.yaml in `dir` both exit 2 with exactly `expected` on stderr. */
const refusedByValidateAndRun = (dir: string, expected: string): void => {
  for (const command of ['validate', 'run']) {
    const r = cli([command, '--config', 'sluice.yaml'], { cwd: dir });
    assert.equal(r.code, 2, `sluice ${command}`);
    assert.equal(r.stderr, expected, `sluice ${command}`);
  }
};

test('sluice --help and sluice run --help print usage and exit 0', async () => {
  await withTempDir(async (dir) => {
    const main = cli(['--help'], { cwd: dir });
    assert.equal(main.code, 0);
    assert.match(main.stdout, /sluice run/);
    assert.match(main.stdout, /Exit codes: 0 ok, 1 runtime failure, 2 usage or config error, 3 data_dir locked/);
    const run = cli(['run', '--help'], { cwd: dir });
    assert.equal(run.code, 0);
    assert.match(run.stdout, /--log-level/);
    const validate = cli(['validate', '-h'], { cwd: dir });
    assert.equal(validate.code, 0);
    assert.match(validate.stdout, /sluice validate/);
  });
});

test('sluice --version prints the package version', async () => {
  await withTempDir(async (dir) => {
    const r = cli(['--version'], { cwd: dir });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^sluice \d+\.\d+\.\d+\n$/);
  });
});

test('an unknown flag is one line naming the flag with a --help hint, exit 2', async () => {
  await withTempDir(async (dir) => {
    const r = cli(['run', '--confg', 'x.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'sluice run: unknown flag --confg (see sluice run --help)\n');
    const c = cli(['frobnicate'], { cwd: dir });
    assert.equal(c.code, 2);
    assert.match(c.stderr, /^sluice: unknown command "frobnicate" .*\n$/);
    const l = cli(['run', '--log-level', 'loud'], { cwd: dir });
    assert.equal(l.code, 2);
    assert.match(l.stderr, /--log-level "loud" is not a level \(valid: debug, info, warn, error, silent\)/);
  });
});

test('a flag without its value is one line naming the flag, exit 2', async () => {
  await withTempDir(async (dir) => {
    const c = cli(['run', '--config'], { cwd: dir });
    assert.equal(c.code, 2);
    assert.equal(c.stderr, 'sluice run: --config needs a value (see sluice run --help)\n');
    const l = cli(['run', '--log-level'], { cwd: dir });
    assert.equal(l.code, 2);
    assert.equal(l.stderr, 'sluice run: --log-level needs a value (see sluice run --help)\n');
  });
});

test('validate accepts a good config and exits 0', async () => {
  await withTempDir(async (dir) => {
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/*.log"]\n  pipe:\n    type: stdin\n` +
        `sinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ./out/app.log\n  console:\n    type: stdout\n    inputs: [pipe, app]\n    encoding: json\n`,
    );
    const r = cli(['validate', '--config', cfg], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: .*2 source\(s\).*2 sink\(s\)/);
  });
});

test('validate lists every source → sink route with its guarantee', async () => {
  await withTempDir(async (dir) => {
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/*.log"]\n  pipe:\n    type: stdin\n` +
        `sinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ./out/app.log\n  console:\n    type: stdout\n    inputs: [pipe, app]\n`,
    );
    const r = cli(['validate', '--config', cfg], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const routes = r.stdout.split('\n').slice(1, -1);
    assert.deepEqual(
      routes.map((l) => l.replace(/: .*/, '')),
      ['  app (file) → archive (file)', '  pipe (stdin) → console (stdout)', '  app (file) → console (stdout)'],
    );
    assert.match(routes[0] ?? '', /no loss; exactly once after a graceful stop/);
    assert.match(routes[1] ?? '', /best effort across crashes: stdin cannot acknowledge/);
  });
});

test('validate and run refuse a bad config with the same one-line file:line:col key message, exit 2, nothing started', async () => {
  await withTempDir(async (dir) => {
    await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./x.log"]\nsinks:\n  archive:\n    type: file\n    inputs: [apq]\n    path: ./out.log\n`,
    );
    const expected = 'sluice.yaml:9:14: sinks.archive.inputs[0]: unknown source "apq" (valid: app)\n';
    refusedByValidateAndRun(dir, expected);
    // ./sluice.yaml is picked up without --config, with the same verdict
    assert.equal(cli(['run'], { cwd: dir }).stderr, expected);
    assert.equal(cli(['validate'], { cwd: dir }).code, 2);
    const { existsSync } = await import('node:fs');
    assert.equal(existsSync(join(dir, 'data')), false, 'nothing was started');
  });
});

test('validate and run refuse a file source whose batch outgrows a queue segment: one line, exit 2, no stack trace', async () => {
  await withTempDir(async (dir) => {
    await writeConfig(
      dir,
      `data_dir: ./data\nqueue:\n  max_bytes: 16MiB\nsources:\n  app:\n    type: file\n    include: ["./x.log"]\n    read_buffer_bytes: 8MiB\n` +
        `sinks:\n  archive:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
    );
    const expected =
      'sluice.yaml:8:24: sources.app.read_buffer_bytes: one batch of this source can reach 9.2MiB (read_buffer_bytes 8MiB + max_line_bytes 1MiB + positions), ' +
      'more than a queue segment holds (queue.segment_bytes 4MiB, derived from max_bytes); lower read_buffer_bytes or max_line_bytes, ' +
      'or set queue.segment_bytes to at least 10MiB and max_bytes to at least 20MiB\n';
    refusedByValidateAndRun(dir, expected);
  });
});

test('a missing config file is one line, exit 2', async () => {
  await withTempDir(async (dir) => {
    const r = cli(['validate', '-c', 'nope.yaml'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'nope.yaml: cannot read the config (no such file)\n');
  });
});

test('with no config, run reads stdin, writes it to stdout, says so on stderr and exits 0 at end of input', async () => {
  await withTempDir(async (dir) => {
    const r = cli(['run'], { cwd: dir, input: 'a\nb\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'a\nb\n');
    assert.match(r.stderr, /built-in default \(read stdin, queue under \.\/\.sluice, write lines to stdout as text/);
    // a second run delivers only its own input: the first run's lines were acknowledged
    const again = cli(['run', '--log-level', 'warn'], { cwd: dir, input: 'c\n' });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'c\n');
    assert.equal(again.stderr, '');
  });
});

test('stdin to stdout keeps a large input intact, including a last line without newline', async () => {
  await withTempDir(async (dir) => {
    let input = '';
    for (let i = 0; i < 200_000; i++) input += `line ${i} ${'z'.repeat(i % 50)}\n`;
    input += 'no newline at the end';
    const r = cli(['run', '--log-level', 'warn'], { cwd: dir, input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.length, input.length + 1);
    assert.equal(r.stdout, `${input}\n`);
  });
});

test('a second agent on the same data_dir is refused with exit 3 and a clear message', async () => {
  await withTempDir(async (dir) => {
    await mkdir(join(dir, 'logs'));
    const cfg = await writeConfig(
      dir,
      `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/*.log"]\nsinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
    );
    const first = startAgent(cfg, { cwd: dir });
    try {
      await waitFor('the first agent to run', () => first.stderr().includes('running:'), 20_000, first.stderr);
      const second = cli(['run', '--config', cfg], { cwd: dir });
      assert.equal(second.code, 3);
      assert.match(second.stderr, /ERROR data_dir .*\/data is in use by another sluice agent \(pid \d+\); stop that agent or give this one its own data_dir/);
      assert.equal(second.stderr.trim().split('\n').length, 1);
    } finally {
      first.child.kill('SIGTERM');
      const end = await first.exited;
      assert.equal(end.code, 0, first.stderr());
    }
  });
});

test('help for a command that does not exist says so and exits 2', async () => {
  await withTempDir(async (dir) => {
    const r = cli(['help', 'nope'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'sluice help: no command "nope" (commands: run, validate, top, dead-letter, queue; see sluice --help)\n');
    const ok = cli(['help', 'validate'], { cwd: dir });
    assert.equal(ok.code, 0);
    assert.match(ok.stdout, /^Usage: sluice validate/);
  });
});

test('the built sluice bin is executable, so `npx sluice` in a checkout runs it', () => {
  const mode = statSync(CLI).mode;
  assert.ok((mode & 0o111) !== 0, `dist/src/cli/main.js has mode ${(mode & 0o777).toString(8)}`);
  assert.match(readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

test('the bin loads its program as one bundled file: no sluice module or yaml/zod is resolved one by one at start, nor the HTTP stack by a config without it', async () => {
  // Start-up cost is mostly files resolved and compiled (docs/agent.md, "Start-up"). A preload
  // hook lists every file Node loaded by the time `sluice validate` exits.
  await withTempDir(async (dir) => {
    const hook = join(dir, 'loaded.js');
    const listing = join(dir, 'loaded.txt');
    // Files from require.cache; Node built-ins from process.moduleLoadList (`NativeModule http`).
    writeFileSync(
      hook,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(listing)}, [...Object.keys(require.cache), ...(process.moduleLoadList ?? [])].join('\\n')));\n`,
    );
    const config = await writeConfig(dir, `data_dir: ${join(dir, 'data')}\nsources:\n  app:\n    type: file\n    include: ["${join(dir, '*.log')}"]\nsinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ${join(dir, 'out', 'x.log')}\n`);
    const r = spawnSync(process.execPath, ['--require', hook, CLI, 'validate', '--config', config], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const root = join(CLI, '..', '..', '..', '..');
    const entries = readFileSync(listing, 'utf8').split('\n');
    const loaded = entries.filter((f) => f.startsWith('/') && f !== hook).map((f) => relative(root, f)).sort();
    assert.deepEqual(loaded, ['dist/src/cli/bin.js', 'dist/src/cli/main.js', 'dist/src/cli/signals.js']);
    // A config without network components does not load Node's HTTP and TLS stacks either.
    assert.deepEqual(entries.filter((m) => /^NativeModule (http|https|tls|_http_server)$/.test(m)), []);
  });
});
