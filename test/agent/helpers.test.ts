/** The helpers the CLI tests share: spawned agents die with their test; NDJSON is read whole lines only. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ndjsonObjects, startAgent, waitFor, withTempDir, writeConfig } from './helpers';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const CONFIG = `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./app.log"]\nsinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`;

let leftPid = 0;

test('an agent its test left running (a failed assertion, say) is started here…', async () => {
  await withTempDir(async (dir) => {
    const agent = startAgent(await writeConfig(dir, CONFIG), { cwd: dir });
    await waitFor('the agent to run', () => agent.stderr().includes('running:'), 20_000, agent.stderr);
    leftPid = agent.child.pid ?? 0;
    assert.ok(alive(leftPid));
  });
});

test('…and is gone once that test ended, before the next one starts', () => {
  assert.ok(leftPid > 0);
  assert.equal(alive(leftPid), false);
});

test('a test file ended by SIGTERM (the runner ending a file that timed out) leaves no agent behind', async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, 'agent.pid');
    const fixture = spawn(process.execPath, [join(__dirname, 'orphan-fixture.js')], {
      env: { ...process.env, SLUICE_FIXTURE_DIR: dir, SLUICE_FIXTURE_PID: pidFile },
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((r) => fixture.on('exit', (_code, signal) => r(signal)));
    await waitFor('the fixture to start its agent', () => existsSync(pidFile) && readFileSync(pidFile, 'utf8') !== '', 20_000);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(alive(pid));
    fixture.kill('SIGTERM');
    assert.equal(await exited, 'SIGTERM', 'the file still ends of the signal');
    await waitFor('the agent to be gone', () => !alive(pid), 2000);
  });
});

test('ndjsonObjects reads whole lines only: a partial last line (a file mid-write) is left for the next read', () => {
  assert.deepEqual(ndjsonObjects('{"a":1}\n{"b":2}\n{"c":'), [{ a: 1 }, { b: 2 }]);
  assert.deepEqual(ndjsonObjects('{"a":1}\n\n{"b":2}\n'), [{ a: 1 }, { b: 2 }]);
  assert.deepEqual(ndjsonObjects('{"a":'), []);
  assert.throws(() => ndjsonObjects('not json\n'), SyntaxError);
});
