/**
 * Run by helpers.test.ts as a test file of its own (not picked up by the runner: no `.test`): starts
 * an agent through the helpers, writes the agent's pid to `$SLUICE_FIXTURE_PID`, then hangs until
 * its process is ended (as the runner ends a test file that timed out).
 */
import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAgent, waitFor, writeConfig } from './helpers';

test('hangs with an agent running', async () => {
  const dir = process.env['SLUICE_FIXTURE_DIR'] ?? '';
  await mkdir(join(dir, 'logs'), { recursive: true });
  await writeFile(join(dir, 'logs', 'app.log'), 'one\n');
  const cfg = await writeConfig(
    dir,
    `data_dir: ./data\nsources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\nsinks:\n  out:\n    type: file\n    inputs: [app]\n    path: ./out.log\n`,
  );
  const agent = startAgent(cfg, { cwd: dir });
  await waitFor('the agent to run', () => agent.stderr().includes('running:'), 20_000, agent.stderr);
  writeFileSync(process.env['SLUICE_FIXTURE_PID'] ?? '', String(agent.child.pid));
  await new Promise(() => undefined);
});
