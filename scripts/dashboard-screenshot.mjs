#!/usr/bin/env node
// Takes docs/dashboard.png: the demo (examples/demo) with its built-in traffic, one backend
// failing its health check, one drained from the dashboard's button, in headless Chromium.
//
//   pnpm build && node scripts/dashboard-screenshot.mjs [out.png]
//
// Needs Debian's chromium at /usr/bin/chromium (CHROMIUM_PATH overrides) and the built
// packages, since the demo imports them as a user would.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = process.argv[2] ?? join(root, 'docs', 'dashboard.png');
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const built = join(root, 'packages', 'core', 'dist', 'index.js');
if (!existsSync(built) || !readFileSync(built, 'utf8').includes('dashboard-auth-check')) {
  console.error('dashboard-screenshot: packages/core/dist has no dashboard; run `pnpm build` first.');
  process.exit(1);
}
if (!existsSync(executablePath)) {
  console.error(`dashboard-screenshot: ${executablePath} is missing; apt-get install -y chromium`);
  process.exit(1);
}

// playwright-core is a dev dependency of @switchyard/core.
const { chromium } = createRequire(join(root, 'packages', 'core', 'package.json'))('playwright-core');
const { start } = await import('../examples/demo/index.mjs');

const demo = await start({ port: 0, adminPort: 0, adminToken: 'screenshot', traffic: true });
const userDataDir = mkdtempSync(join(tmpdir(), 'switchyard-screenshot-'));
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1440, height: 500 },
  deviceScaleFactor: 1,
});
try {
  const page = await browser.newPage();
  await page.goto(demo.dashboardUrl);
  // Some seconds of traffic for the rates and the requests sparkline.
  await sleep(12_000);

  // beta fails its health check: red.
  const beta = demo.backends.find((b) => b.name === 'beta');
  await fetch(`http://127.0.0.1:${beta.port}/toggle-health`, { method: 'POST' });
  await demo.checks.checkAll();

  // Signed in, gamma drained from its button: amber, and the buttons show.
  await page.fill('#token', demo.token);
  await page.click('#sign-in');
  const gamma = 'tr[data-upstream="demo"][data-server-id="2"]';
  await page.click(`${gamma} button[data-action="drain"]`);
  await page.waitForSelector(`${gamma}[data-state="draining"]`);
  await page.waitForSelector('tr[data-server-id="1"][data-state="unhealthy"]');
  await sleep(4_000);

  await page.screenshot({ path: out, fullPage: true });
  console.log(`dashboard-screenshot: wrote ${out}`);
} finally {
  await browser.close();
  rmSync(userDataDir, { recursive: true, force: true });
  await demo.close();
}
