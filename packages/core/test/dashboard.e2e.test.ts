import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connZone, createLimits, memoryRateStore, rateZone } from '@switchyard/limit';
import { type Listening, listen, manualTimers, startBackend } from '@switchyard/testkit';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHealthCheck, type HealthCheck } from '../src/health/index.js';
import {
  type CacheZone,
  createAdminApi,
  type LimitZones,
  type PeerJson,
  type UpstreamJson,
} from '../src/index.js';
import { createMetrics } from '../src/metrics/index.js';
import { createProxy } from '../src/proxy/index.js';
import { createUpstream, type Upstream } from '../src/upstream/index.js';
import { front, send } from './helpers.js';

// The dashboard driven by a system Chromium through playwright-core (no bundled browser):
// CHROMIUM_PATH, or Debian's /usr/bin/chromium.
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TOKEN = 'dashboard-e2e-token';
const WAIT = { timeout: 5_000 };

/** The state colours of the stylesheet, as the browser computes them. */
const GREEN = 'rgb(30, 158, 74)';
const RED = 'rgb(212, 51, 59)';
const AMBER = 'rgb(224, 134, 0)';
const GREY = 'rgb(124, 132, 142)';

let userDataDir = '';
let browser: BrowserContext | undefined;

/** Each test fails with this (not skipped) when the browser is missing. */
const MISSING = `dashboard e2e: ${CHROMIUM} is missing. Install Chromium (apt-get install -y chromium) or set CHROMIUM_PATH; \`npm test\` does the first as root on Debian.`;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) return;
  // A fresh profile each run; playwright passes it to Chromium as --user-data-dir.
  userDataDir = mkdtempSync(join(tmpdir(), 'switchyard-dashboard-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
  });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  if (userDataDir !== '') rmSync(userDataDir, { recursive: true, force: true });
});

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

async function newPage(): Promise<Page> {
  if (browser === undefined) throw new Error(MISSING);
  const page = await browser.newPage();
  closers.push(() => page.close());
  return page;
}

/** A backend whose `/healthz` answers 503 once `healthy.ok` is false, and `/missing` 404. */
async function backend(healthy: { ok: boolean }): Promise<Listening> {
  const b = await startBackend((req, res) => {
    if (req.url === '/healthz') res.statusCode = healthy.ok ? 200 : 503;
    else if (req.url === '/missing') res.statusCode = 404;
    res.end('ok');
  });
  closers.push(() => b.close());
  return b;
}

interface Setup {
  upstream: Upstream;
  checks: HealthCheck;
  health: Array<{ ok: boolean }>;
  backends: Listening[];
  frontUrl: string;
  /** The admin server's origin; the API and the page are under `/admin`. */
  adminUrl: string;
}

/**
 * A real proxy with three backends (weights 2 and 1, and a backup), health-checked on
 * `/healthz` with manual timers, and the admin API under `/admin` on its own loopback
 * server, counting the front's traffic.
 */
async function setup(
  options: {
    auth?: boolean;
    caches?: Record<string, CacheZone>;
    limits?: LimitZones | LimitZones[];
    outage?: { on: boolean };
    metrics?: boolean;
  } = {},
): Promise<Setup> {
  const health = [{ ok: true }, { ok: true }, { ok: true }];
  const backends = await Promise.all(health.map((h) => backend(h)));
  const [a, b, c] = backends as [Listening, Listening, Listening];
  const upstream = createUpstream({
    name: 'app',
    servers: [{ url: a.url, weight: 2 }, b.url, { url: c.url, backup: true }],
  });
  const proxy = createProxy({ upstream });
  const f = await front(proxy);
  closers.push(
    () => proxy.close(),
    () => f.close(),
  );
  const checks = createHealthCheck(upstream, { uri: '/healthz', timers: manualTimers() });
  checks.start();
  closers.push(() => checks.stop());
  await checks.checkAll();
  // A second group whose name is markup: the page must show it as text.
  const other = createUpstream({ name: 'other', servers: [a.url] });
  const api = createAdminApi({
    upstreams: { app: upstream, '<img src=x onerror="window.pwned=1">': other },
    servers: [f.server],
    prefix: '/admin',
    ...(options.auth === false ? {} : { auth: { token: TOKEN } }),
    ...(options.caches === undefined ? {} : { caches: options.caches }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    ...(options.metrics === true ? { metrics: createMetrics({ upstreams: [upstream] }) } : {}),
  });
  closers.push(() => api.close());
  const outage = options.outage;
  const admin = await listen(
    createServer((req, res) => {
      if (outage?.on && req.url !== '/admin/dashboard.html') {
        res.writeHead(503).end();
        return;
      }
      api.handler(req, res);
    }),
  );
  closers.push(() => admin.close());
  return { upstream, checks, health, backends, frontUrl: f.url, adminUrl: admin.url };
}

/** Requests through the front until stopped, one at a time: `/`, `/`, `/missing`, … */
function traffic(url: string): { stop(): Promise<number> } {
  let on = true;
  let sent = 0;
  const loop = (async () => {
    while (on) {
      await send(url, { path: sent % 3 === 2 ? '/missing' : '/' });
      sent++;
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
      return sent;
    },
  };
}

async function upstreamJson(s: Setup): Promise<UpstreamJson> {
  const res = await fetch(`${s.adminUrl}/admin/api/9/http/upstreams/app`);
  return (await res.json()) as UpstreamJson;
}

const row = (id: number) => `tr[data-upstream="app"][data-server-id="${id}"]`;

/** The background colour of a peer's state badge. */
async function badgeColour(page: Page, id: number): Promise<unknown> {
  const selector = JSON.stringify(`${row(id)} .state`);
  return page.evaluate(`getComputedStyle(document.querySelector(${selector})).backgroundColor`);
}

const n = (v: number) => v.toLocaleString('en-US');

/**
 * A text matcher for locators: exactly this text. (Locators wait inside the page without
 * `eval`, which the dashboard's Content-Security-Policy forbids, and so should it.)
 */
const exactly = (text: string) => new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);

/** A peer's row as the page should show it once traffic stopped (the actions cell aside). */
function expectedRow(p: PeerJson): string[] {
  const r = p.responses;
  const hc = p.health_checks;
  return [
    p.backup ? `${p.server}backup` : p.server,
    p.state,
    n(p.weight),
    n(p.active),
    n(p.requests),
    '0',
    n(r['1xx']),
    n(r['2xx']),
    n(r['3xx']),
    n(r['4xx']),
    n(r['5xx']),
    n(p.header_time),
    n(p.response_time),
    n(hc.checks),
    n(hc.fails),
    n(hc.unhealthy),
    hc.last_passed === undefined ? '–' : hc.last_passed ? '✓ passed' : '✗ failed',
    n(p.fails),
    n(p.unavail),
    '0',
  ];
}

async function cells(page: Page, id: number): Promise<string[]> {
  return (await page.locator(`${row(id)} > td`).allTextContents()).slice(0, -1);
}

describe('dashboard in headless Chromium', () => {
  it('shows live traffic and each peer’s state, and turns a peer red when its health check fails', async () => {
    const pages: CacheZone = {
      stats: () => ({
        hit: { responses: 6 },
        stale: { responses: 3 },
        miss: { responses: 2 },
        bypass: { responses: 1 },
      }),
    };
    // Two limiters from @switchyard/limit, driven by hand: 1 r/s with a burst of 1 on a
    // stopped clock, and one request in progress per address (a zone named with markup).
    const rates = createLimits({
      req: [
        { zone: rateZone({ name: 'api', rate: '1r/s', store: memoryRateStore({ now: () => 0 }) }), burst: 1 },
      ],
    });
    const conns = createLimits({ conn: [{ zone: connZone({ name: '<b>addr</b>' }), max: 1 }] });
    const client = { headers: {}, socket: { remoteAddress: '192.0.2.1' } };
    const actions = [];
    for (let i = 0; i < 3; i++) actions.push((await rates.check(client)).action);
    const held = await conns.check(client);
    actions.push(held.action, (await conns.check(client)).action);
    held.release();
    expect(actions).toEqual(['pass', 'delay', 'reject', 'pass', 'reject']);
    const s = await setup({ caches: { pages }, limits: [rates, conns], metrics: true });
    const load = traffic(s.frontUrl);
    closers.push(() => load.stop().then(() => undefined));
    const page = await newPage();
    await page.goto(`${s.adminUrl}/admin/dashboard`);

    // Given metrics, the API serves them and the footer links them.
    await page.waitForSelector('#metrics-part:not([hidden])', WAIT);
    expect(await page.getAttribute('#metrics-link', 'href')).toBe('/admin/metrics');

    // Requests per second come from two successive polls of the counters.
    await page.locator('#req-rate', { hasText: /^[1-9]/ }).waitFor(WAIT);
    await page.locator(`${row(0)} > td:nth-child(6)`, { hasText: /^[1-9]/ }).waitFor(WAIT);
    const sent = await load.stop();
    expect(sent).toBeGreaterThan(0);

    // Once traffic stops, every cell agrees with the API.
    const json = await upstreamJson(s);
    const total = (json.peers[0]?.requests ?? 0) + (json.peers[1]?.requests ?? 0);
    expect(total).toBe(sent);
    await page.locator('#req-total', { hasText: exactly(n(sent)) }).waitFor(WAIT);
    await page.locator('#req-rate', { hasText: exactly('0') }).waitFor(WAIT);
    for (const p of json.peers) expect(await cells(page, p.id)).toEqual(expectedRow(p));
    expect(json.peers.map((p) => p.state)).toEqual(['up', 'up', 'up']);
    expect([await badgeColour(page, 0), await badgeColour(page, 1), await badgeColour(page, 2)]).toEqual([
      GREEN,
      GREEN,
      GREEN,
    ]);
    // Four servers in all: three in app, one in the second group.
    expect([await page.textContent('#peers-up'), await page.textContent('#peers-total')]).toEqual([
      '4',
      '/ 4 up',
    ]);
    expect(await page.textContent('#peers-problems')).toBe('all servers up');

    // The second backend starts failing its health check.
    (s.health[1] as { ok: boolean }).ok = false;
    await s.checks.checkAll();
    const after = await upstreamJson(s);
    expect(after.peers.map((p) => p.state)).toEqual(['up', 'unhealthy', 'up']);
    await page.waitForSelector(`${row(1)}[data-state="unhealthy"]`, WAIT);
    expect(await badgeColour(page, 1)).toBe(RED);
    expect(await badgeColour(page, 0)).toBe(GREEN);
    expect(await page.textContent(`${row(1)} .state`)).toBe('unhealthy');
    expect(await page.textContent(`${row(1)} > td:nth-child(17)`)).toBe('✗ failed');
    expect(await page.textContent('#peers-problems')).toBe('1 unhealthy');

    // Cache hit ratio: (hit + stale) / all = 9 / 12.
    expect(await page.textContent('tr[data-cache="pages"] .hit-ratio')).toBe('75.0%');
    expect(await page.textContent('#cache-ratio')).toBe('75.0%');

    // Limits: one row per zone, limit_req then limit_conn (which has no delayed count).
    expect(await page.isVisible('#limits')).toBe(true);
    expect(await page.locator('tr[data-limit="limit_req"][data-zone="api"] > td').allTextContents()).toEqual([
      'api',
      'limit_req',
      '1',
      '1',
      '1',
      '0',
    ]);
    expect(
      await page.locator('tr[data-limit="limit_conn"][data-zone="<b>addr</b>"] > td').allTextContents(),
    ).toEqual(['<b>addr</b>', 'limit_conn', '1', '–', '1', '0']);
    // More refusals: the page follows the counters.
    for (let i = 0; i < 1233; i++) await rates.check(client);
    await page.locator('tr[data-zone="api"] > td:nth-child(5)', { hasText: exactly('1,234') }).waitFor(WAIT);

    // Data is text, never markup.
    expect(await page.locator('section.group h2').allTextContents()).toEqual([
      'app',
      '<img src=x onerror="window.pwned=1">',
    ]);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate('window.pwned')).toBe(undefined);
    // Read-only until signed in.
    expect(await page.locator('button[data-action]').count()).toBe(0);
    expect(await page.textContent('#auth-note')).toBe('sign in to manage servers');
  });

  it('drains a peer from its button once the token is entered, and shows the API’s refusal of a bad one', async () => {
    const s = await setup();
    const load = traffic(s.frontUrl);
    closers.push(() => load.stop().then(() => undefined));
    const page = await newPage();
    await page.goto(`${s.adminUrl}/admin/dashboard`);
    await page.waitForSelector(`${row(0)}[data-state="up"]`, WAIT);
    await page.waitForSelector('#auth-form:not([hidden])', WAIT);
    expect(await page.locator('button[data-action]').count()).toBe(0);

    await page.fill('#token', 'not-the-token');
    await page.click('#sign-in');
    await page.waitForSelector('#msg.err:not([hidden])', WAIT);
    expect(await page.textContent('#msg')).toBe('401 Unauthorized: unauthorized');
    expect(await page.locator('button[data-action]').count()).toBe(0);
    expect(await page.evaluate(`sessionStorage.getItem('switchyard.dashboard.token')`)).toBe(null);

    await page.fill('#token', TOKEN);
    await page.click('#sign-in');
    await page.waitForSelector(`${row(0)} button[data-action="drain"]`, WAIT);
    expect(await page.textContent('#auth-note')).toBe('signed in');
    expect(await page.evaluate(`sessionStorage.getItem('switchyard.dashboard.token')`)).toBe(TOKEN);
    expect(await page.locator('tr[data-upstream="app"] button[data-action="drain"]').count()).toBe(3);

    await page.click(`${row(0)} button[data-action="drain"]`);
    await page.waitForSelector(`${row(0)}[data-state="draining"]`, WAIT);
    const server = s.backends[0]?.hostPort;
    expect(await page.textContent('#msg')).toBe(`${server}: draining`);
    expect((await upstreamJson(s)).peers.map((p) => p.state)).toEqual(['draining', 'up', 'up']);
    expect(await badgeColour(page, 0)).toBe(AMBER);
    expect(await page.textContent(`${row(0)} button[data-action="undrain"]`)).toBe('Undrain');

    // Mark down, change the weight: the API changes and the page follows.
    await page.click(`${row(1)} button[data-action="down"]`);
    await page.waitForSelector(`${row(1)}[data-state="down"]`, WAIT);
    expect(await badgeColour(page, 1)).toBe(GREY);
    await page.fill(`${row(2)} input[data-field="weight"]`, '5');
    await page.click(`${row(2)} button[data-action="weight"]`);
    await page.locator(`${row(2)} > td:nth-child(3)`, { hasText: exactly('5') }).waitFor(WAIT);
    const servers = await (await fetch(`${s.adminUrl}/admin/api/9/http/upstreams/app/servers`)).json();
    expect(
      (servers as Array<{ weight: number; down: boolean; drain?: boolean }>).map((x) => [
        x.weight,
        x.down,
        x.drain,
      ]),
    ).toEqual([
      [2, false, true],
      [1, true, undefined],
      [5, false, undefined],
    ]);
  });

  it('fits every column, the actions included, in a 1,366 px wide window once signed in', async () => {
    const s = await setup();
    const page = await newPage();
    await page.setViewportSize({ width: 1366, height: 768 });
    await page.goto(`${s.adminUrl}/admin/dashboard`);
    await page.waitForSelector('#auth-form:not([hidden])', WAIT);
    await page.fill('#token', TOKEN);
    await page.click('#sign-in');
    // A draining peer shows the widest label, "Undrain".
    await page.click(`${row(0)} button[data-action="drain"]`);
    await page.waitForSelector(`${row(0)} button[data-action="undrain"]`, WAIT);
    const overflow = await page.evaluate(
      `[...document.querySelectorAll('.scroll')].map((e) => e.scrollWidth - e.clientWidth)`,
    );
    // The scroll box of each group's table and of the (hidden, empty) cache and limit
    // tables: none scrolls.
    expect(overflow).toEqual([0, 0, 0, 0]);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(1366);
    const rights = await page.evaluate(
      `[...document.querySelectorAll('tr[data-upstream="app"] .actions > *')].map((e) => Math.ceil(e.getBoundingClientRect().right))`,
    );
    expect((rights as number[]).length).toBe(12);
    for (const right of rights as number[]) expect(right).toBeLessThanOrEqual(1366);
  });

  it('stays read-only when the API has no auth, and says when the API cannot be read', async () => {
    const outage = { on: false };
    const s = await setup({ auth: false, outage });
    const page = await newPage();
    await page.goto(`${s.adminUrl}/admin/dashboard.html`);
    await page
      .locator('#auth-note', { hasText: exactly('read-only: writes are disabled on this API') })
      .waitFor(WAIT);
    expect(await page.isHidden('#auth-form')).toBe(true);
    expect(await page.locator('button[data-action]').count()).toBe(0);
    expect(await page.textContent(`${row(0)} .state`)).toBe('up');
    // No metrics were given: the footer does not link to a 404.
    expect(await page.isHidden('#metrics-link')).toBe(true);
    // No limits were given: no Limits panel.
    expect(await page.isHidden('#limits')).toBe(true);

    outage.on = true;
    await page.locator('#live.err').waitFor(WAIT);
    expect(await page.textContent('#live')).toBe('API unreachable');
    expect(await page.textContent('#msg')).toBe('Cannot read the API: nginx: 503 Service Unavailable');
    outage.on = false;
    await page.locator('#live.ok').waitFor(WAIT);
    await page.locator('#msg').waitFor({ state: 'hidden', ...WAIT });
    expect(await page.textContent(`${row(0)} .state`)).toBe('up');
  });
});
