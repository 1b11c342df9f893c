import { createServer } from 'node:http';
import { listen } from '@switchyard/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { main, start } from './index.mjs';

interface Seen {
  backend: string;
  port: number;
  path: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

interface Demo {
  url: string;
  adminUrl: string;
  dashboardUrl: string;
  token: string;
  backends: Array<{ name: string; port: number }>;
  checks: { checkAll(): Promise<void> };
  close(): Promise<void>;
}

interface Peer {
  id: number;
  server: string;
  state: string;
  backup: boolean;
  weight: number;
  requests: number;
}

describe('demo', () => {
  let demo: Demo;

  beforeEach(async () => {
    demo = await start({ port: 0, adminPort: 0, traffic: false });
  });

  afterEach(async () => {
    await demo.close();
  });

  async function get(path: string, headers?: Record<string, string>): Promise<Seen> {
    const res = await fetch(`${demo.url}${path}`, { headers });
    expect(res.status).toBe(200);
    const seen = (await res.json()) as Seen;
    expect(res.headers.get('x-backend')).toBe(seen.backend);
    return seen;
  }

  it('spreads requests 2:1:1 in nginx smooth weighted order', async () => {
    const order: string[] = [];
    for (let i = 0; i < 8; i++) order.push((await get('/')).backend);
    expect(order).toEqual(['alpha', 'beta', 'gamma', 'alpha', 'alpha', 'beta', 'gamma', 'alpha']);
  });

  it('keeps a client that returns the sticky cookie on its backend', async () => {
    const first = await fetch(`${demo.url}/`);
    const seen = (await first.json()) as Seen;
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] as string;
    expect(cookie).toMatch(/^demo_srv=/);
    const again: string[] = [];
    for (let i = 0; i < 4; i++) again.push((await get('/', { cookie })).backend);
    expect(again).toEqual([seen.backend, seen.backend, seen.backend, seen.backend]);
  });

  it('rewrites /download/…/media/… to …/mp3/….mp3 with the nginx rules', async () => {
    expect((await get('/download/a/b/media/song.wav')).path).toBe('/download/a/b/mp3/song.mp3');
  });

  it('answers /cached/ from the cache after the first request', async () => {
    const first = await fetch(`${demo.url}/cached/report`);
    const body = await first.text();
    const second = await fetch(`${demo.url}/cached/report`);
    expect([first.headers.get('x-cache-status'), second.headers.get('x-cache-status')]).toEqual([
      'MISS',
      'HIT',
    ]);
    expect(await second.text()).toBe(body);
  });

  it('passes a POST body and the path through', async () => {
    const res = await fetch(`${demo.url}/orders?id=7`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"hello":"switchyard"}',
    });
    const seen = (await res.json()) as Seen;
    expect(seen).toMatchObject({ path: '/orders?id=7', method: 'POST', body: '{"hello":"switchyard"}' });
  });

  it('replaces the X-Forwarded-For of a client that is not a trusted proxy', async () => {
    const seen = await get('/', { 'x-forwarded-for': '203.0.113.7' });
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
  });

  it('echoes WebSocket messages through the proxy', async () => {
    const ws = new WebSocket(`${demo.url.replace(/^http/, 'ws')}/ws`);
    try {
      const echoed = await new Promise<string>((resolve, reject) => {
        ws.once('error', reject);
        ws.once('open', () => ws.send('hello over the proxy'));
        ws.once('message', (data) => resolve(String(data)));
      });
      expect(echoed).toBe('hello over the proxy');
    } finally {
      ws.terminate();
    }
  });

  it('fails over to the backup when every primary drops the connection', async () => {
    const res = await fetch(`${demo.url}/crash`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Seen).backend).toBe('delta');
    // The three primaries are now unavailable for fail_timeout (10 s): the backup serves.
    expect((await get('/')).backend).toBe('delta');
  });
});

describe('demo: admin API, dashboard and health checks', () => {
  let demo: Demo;

  afterEach(async () => {
    await demo.close();
  });

  const peers = async () => {
    const res = await fetch(`${demo.adminUrl}/api/9/http/upstreams/demo`);
    return ((await res.json()) as { peers: Peer[] }).peers;
  };

  it('serves the NGINX Plus-shaped API, the dashboard and the metrics on the admin port', async () => {
    demo = await start({ port: 0, adminPort: 0, adminToken: 'demo-token', traffic: false });
    expect(demo.token).toBe('demo-token');
    expect(demo.dashboardUrl).toBe(`${demo.adminUrl}/dashboard`);
    const all = (await (await fetch(`${demo.adminUrl}/api/9/http/upstreams`)).json()) as Record<
      string,
      { peers: Peer[] }
    >;
    expect(Object.keys(all)).toEqual(['demo']);
    expect(all.demo?.peers.map((p) => [p.id, p.server, p.state, p.weight, p.backup])).toEqual(
      demo.backends.map((b, i) => [i, `127.0.0.1:${b.port}`, 'up', i === 0 ? 2 : 1, b.name === 'delta']),
    );

    const page = await fetch(demo.dashboardUrl);
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    expect(await page.text()).toContain('<title>switchyard dashboard</title>');

    const drain = (headers: Record<string, string>) =>
      fetch(`${demo.adminUrl}/api/9/http/upstreams/demo/servers/1`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{"drain":true}',
      });
    const refused = await drain({});
    expect([refused.status, ((await refused.json()) as { error: { code: string } }).error.code]).toEqual([
      401,
      'Unauthorized',
    ]);
    expect((await drain({ authorization: 'Bearer demo-token' })).status).toBe(200);
    expect((await peers()).map((p) => p.state)).toEqual(['up', 'draining', 'up', 'up']);

    const metrics = await (await fetch(`${demo.adminUrl}/metrics`)).text();
    const beta = demo.backends[1]?.port;
    expect(metrics).toContain(
      `nginxplus_upstream_server_state{upstream="demo",server="127.0.0.1:${beta}"} 2\n`,
    );
  });

  it('makes up a random admin token when none is given', async () => {
    demo = await start({ port: 0, adminPort: 0, traffic: false });
    expect(demo.token).toMatch(/^[A-Za-z0-9_-]{24}$/);
  });

  it('takes a backend out when its /healthz fails, and back when it heals', async () => {
    demo = await start({ port: 0, adminPort: 0, traffic: false });
    const beta = demo.backends[1]?.port;
    const toggle = () => fetch(`http://127.0.0.1:${beta}/toggle-health`, { method: 'POST' });
    expect(await (await toggle()).json()).toEqual({ backend: 'beta', healthy: false });
    await demo.checks.checkAll();
    expect((await peers()).map((p) => p.state)).toEqual(['up', 'unhealthy', 'up', 'up']);
    const order: string[] = [];
    for (let i = 0; i < 3; i++) order.push((await (await fetch(`${demo.url}/`)).json()).backend);
    expect(order).toEqual(['alpha', 'gamma', 'alpha']);
    expect(await (await toggle()).json()).toEqual({ backend: 'beta', healthy: true });
    await demo.checks.checkAll();
    expect((await peers()).map((p) => p.state)).toEqual(['up', 'up', 'up', 'up']);
  });

  it('answers /status/NNN with that status', async () => {
    demo = await start({ port: 0, adminPort: 0, traffic: false });
    const res = await fetch(`${demo.url}/status/404`);
    expect([res.status, res.headers.get('x-backend')]).toEqual([404, 'alpha']);
  });

  it('sends gentle traffic through its own front when asked, counted by the API', async () => {
    demo = await start({ port: 0, adminPort: 0, traffic: true });
    const total = async () =>
      ((await (await fetch(`${demo.adminUrl}/api/9/http/requests`)).json()) as { total: number }).total;
    const deadline = Date.now() + 5_000;
    while ((await total()) < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await total()).toBeGreaterThanOrEqual(3);
    const served = (await peers()).reduce((n, p) => n + p.requests, 0);
    expect(served).toBeGreaterThanOrEqual(3);
  });
});

describe('demo on a port that is taken', () => {
  /** Runs `main()` with this environment and collects what it prints and its exit code. */
  async function run(env: Record<string, string>) {
    const lines: string[] = [];
    const exits: number[] = [];
    const demo = await main(env, {
      log: (line: string) => lines.push(line),
      error: (line: string) => lines.push(line),
      exit: (code: number) => exits.push(code),
    });
    await demo?.close();
    return { lines, exits, started: demo !== undefined };
  }

  it.each([
    ['PORT', (busy: number) => ({ PORT: String(busy), ADMIN_PORT: '0' })],
    ['ADMIN_PORT', (busy: number) => ({ PORT: '0', ADMIN_PORT: String(busy) })],
  ] as const)('says in one line that %s moves it, with no stack trace', async (variable, envFor) => {
    const taken = await listen(createServer());
    try {
      const { lines, exits, started } = await run({ ...envFor(taken.port), DEMO_TRAFFIC: '0' });
      expect(started).toBe(false);
      expect(exits).toEqual([1]);
      expect(lines).toEqual([
        `switchyard demo: port ${taken.port} is in use; set ${variable} to another (e.g. ${variable}=${taken.port + 1000} npm run demo).`,
      ]);
    } finally {
      await taken.close();
    }
  });

  it('starts on free ports and prints its banner', async () => {
    const { lines, exits, started } = await run({ PORT: '0', DEMO_TRAFFIC: '0' });
    expect(started).toBe(true);
    expect(exits).toEqual([]);
    expect(lines.join('\n')).toContain('/dashboard');
  });
});
