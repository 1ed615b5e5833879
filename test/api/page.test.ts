/**
 * The status page in a real browser: Debian's Chromium (`/usr/bin/chromium`, installed by
 * `.ci/install-deps`) driven by playwright-core, no browser download. Skips, saying why, where that
 * Chromium is absent. On failure a screenshot is kept in a temp dir and its path printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor, withTempDir } from '../agent/helpers';
import { reachable, startOpsAgent } from './fixture';

/** Debian's Chromium; SLUICE_CHROMIUM names another build of it. */
const CHROMIUM = process.env['SLUICE_CHROMIUM'] ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent (apt-get install chromium, or bash .ci/install-deps as CI does)`;

test('the status page names every component, shows the failing sink as failing, its numbers move while lines flow, and it has no page errors', { skip }, async () => {
  const { chromium } = await import('playwright-core');
  const profile = await mkdtemp(join(tmpdir(), 'sluice-chromium-'));
  // A fresh profile (user data dir) per run, nothing shared with another browser.
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const pageErrors: string[] = [];
  try {
    await withTempDir(async (dir) => {
      const ops = await startOpsAgent(dir, 200);
      const page = await browser.newPage();
      page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
      });
      try {
        await waitFor('the api', () => reachable(ops.url), 20_000, ops.agent.stderr);
        await page.goto(`${ops.url}/`);
        const row = (kind: string, id: string) => page.locator(`tr[data-kind="${kind}"][data-id="${id}"]`);
        await row('sink', 'broken').and(page.locator('[data-state="failing"]')).waitFor({ timeout: 15_000 });
        for (const [kind, id] of [['source', 'app'], ['sink', 'archive'], ['sink', 'broken']] as const) {
          assert.equal(await row(kind, id).locator('td.name').textContent(), id);
        }
        assert.match((await row('sink', 'broken').locator('td.state').textContent()) ?? '', /failing · \d+ retries/);
        assert.match((await page.locator('tr.detail.failing[data-detail-of="broken"]').textContent()) ?? '', /last error: EISDIR/);
        assert.equal(await row('sink', 'archive').getAttribute('data-state'), 'ok');
        assert.match((await page.locator('#warnings').textContent()) ?? '', /sink broken: write failed/);

        // Lines flow: the page's own numbers move (written by archive, waiting for broken).
        const text = async (kind: string, id: string, cell: string): Promise<string> => (await row(kind, id).locator(`td.${cell}`).textContent()) ?? '';
        await waitFor('archive shows 200 events', async () => (await text('sink', 'archive', 'events')) === '200', 15_000, ops.agent.stderr);
        const backlogBefore = await text('sink', 'broken', 'backlog');
        await ops.append(300);
        await waitFor('archive shows 500 events', async () => (await text('sink', 'archive', 'events')) === '500', 15_000, ops.agent.stderr);
        await waitFor('broken shows a backlog of 500', async () => (await text('sink', 'broken', 'backlog')) === '500', 15_000, ops.agent.stderr);
        assert.equal(backlogBefore, '200');
        assert.equal(await text('source', 'app', 'events'), '500');
        assert.equal(await page.locator('svg.chart').count(), 3);

        // Fixed: the row is no longer failing and the backlog is gone.
        await ops.fix();
        await row('sink', 'broken').and(page.locator('[data-state="ok"]')).waitFor({ timeout: 15_000 });
        await waitFor('broken shows no backlog', async () => (await text('sink', 'broken', 'backlog')) === '0', 15_000, ops.agent.stderr);
        assert.deepEqual(pageErrors, []);
      } catch (err) {
        const keep = await mkdtemp(join(tmpdir(), 'sluice-page-failure-'));
        await page.screenshot({ path: join(keep, 'status-page.png'), fullPage: true }).catch(() => undefined);
        console.error(`status page test failed; screenshot kept in ${join(keep, 'status-page.png')}; page errors: ${JSON.stringify(pageErrors)}`);
        throw err;
      } finally {
        ops.agent.child.kill('SIGTERM');
        await ops.agent.exited;
      }
    });
  } finally {
    await browser.close();
    await rm(profile, { recursive: true, force: true });
  }
});
