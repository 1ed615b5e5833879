#!/usr/bin/env node
// Makes docs/status-page.png: runs a real agent (two file sources, two sinks that work and one whose
// path is in the way, so it fails) while lines flow at a changing rate, then photographs its status
// page in headless Chromium (Debian's /usr/bin/chromium via playwright-core).
// Usage: npm run screenshot   (builds first)   ·   SCREENSHOT_SECONDS=90 npm run screenshot
'use strict';
const { spawn } = require('node:child_process');
const { existsSync } = require('node:fs');
const { appendFile, mkdir, mkdtemp, rm, writeFile } = require('node:fs/promises');
const { createServer } = require('node:net');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const OUT = join(ROOT, 'docs', 'status-page.png');
const CHROMIUM = '/usr/bin/chromium';
const SECONDS = Number(process.env.SCREENSHOT_SECONDS ?? 60);

const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is absent: apt-get install chromium (or bash .ci/install-deps)`);
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const { chromium } = require('playwright-core');
  const dir = await mkdtemp(join(tmpdir(), 'sluice-screenshot-'));
  const port = await freePort();
  await mkdir(join(dir, 'logs'));
  await mkdir(join(dir, 'remote'));
  await writeFile(join(dir, 'logs', 'app.log'), '');
  await writeFile(join(dir, 'logs', 'web.log'), '');
  await writeFile(
    join(dir, 'sluice.yaml'),
    `data_dir: ./data\nshutdown_timeout: 1s\napi:\n  address: 127.0.0.1:${port}\nqueue:\n  max_bytes: 256MiB\n` +
      `sources:\n  app:\n    type: file\n    include: ["./logs/app.log"]\n  web:\n    type: file\n    include: ["./logs/web.log"]\n` +
      `sinks:\n  archive:\n    type: file\n    inputs: [app, web]\n    path: ./archive.log\n` +
      `  errors:\n    type: file\n    inputs: [app]\n    path: ./errors.log\n    encoding: json\n` +
      `  remote:\n    type: file\n    inputs: [web]\n    path: ./remote\n    max_backoff: 2s\n`,
  );
  const agent = spawn(process.execPath, [CLI, 'run', '--config', 'sluice.yaml'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  let n = 0;
  const line = (src) => `${new Date().toISOString()} ${src} request ${n++} handled in ${(n * 7) % 250}ms status=200 path=/api/items/${n % 977}\n`;
  const started = Date.now();
  let writing = true;
  // Lines at a rate that rises and falls, so the charts have a shape; they keep flowing while the
  // page is photographed, so its rates are live.
  const writer = (async () => {
    while (writing) {
      const t = (Date.now() - started) / 1000;
      const app = Math.round(400 + 350 * Math.sin(t / 4));
      const web = Math.round(500 + 450 * Math.sin(t / 6 + 1));
      await appendFile(join(dir, 'logs', 'app.log'), Array.from({ length: app }, () => line('app')).join(''));
      await appendFile(join(dir, 'logs', 'web.log'), Array.from({ length: web }, () => line('web')).join(''));
      await sleep(100);
    }
  })();
  let browser;
  try {
    await sleep(SECONDS * 1000);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 640 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.locator('tr[data-id="remote"][data-state="failing"]').waitFor({ timeout: 10_000 });
    await sleep(1200);
    await page.screenshot({ path: OUT, fullPage: true });
    if (errors.length > 0) throw new Error(`page errors: ${errors.join('; ')}`);
    console.log(`wrote ${OUT}`);
  } finally {
    writing = false;
    await writer;
    if (browser) await browser.close();
    agent.kill('SIGTERM');
    await new Promise((r) => agent.once('close', r));
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`screenshot: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
