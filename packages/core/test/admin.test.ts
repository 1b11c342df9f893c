import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { connZone, createLimits, memoryRateStore, rateZone } from '@switchyard/limit';
import { compileNginx } from '@switchyard/rewrite';
import {
  type Backend,
  deadPort,
  type Listening,
  listen,
  manualClock,
  startBackend,
  waitFor,
} from '@switchyard/testkit';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createHealthCheck } from '../src/health/index.js';
import { type AdminApiOptions, countTraffic, createAdminApi, type TrafficStats } from '../src/index.js';
import { createMetrics } from '../src/metrics/index.js';
import type { Peer } from '../src/peer/index.js';
import { createProxy, type ReverseProxy } from '../src/proxy/index.js';
import { createUpstream, type Upstream } from '../src/upstream/index.js';
import { front, send } from './helpers.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

const T0 = 1_700_000_000_000;
const ISO0 = '2023-11-14T22:13:20.000Z';
const HREF = 'https://nginx.org/en/docs/http/ngx_http_api_module.html';
const TOKEN = 's3cret-token';

/** A backend answering `text`; when `hold` is set, requests wait until it is released. */
async function backend(text: string, gate?: { hold: boolean; waiting: ServerResponse[] }): Promise<Backend> {
  const b = await startBackend((_req, res) => {
    if (gate?.hold) {
      gate.waiting.push(res);
      return;
    }
    res.end(text);
  });
  closers.push(() => b.close());
  return b;
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  const l = await listen(createServer(handler));
  closers.push(() => l.close());
  return l;
}

async function proxyFor(upstream: Upstream): Promise<{ proxy: ReverseProxy; f: Listening }> {
  const proxy = createProxy({ upstream });
  const f = await front(proxy);
  closers.push(
    () => f.close(),
    () => proxy.close(),
  );
  return { proxy, f };
}

/** An admin API on its own loopback server; errors carry request_id "rid". */
async function admin(
  options: AdminApiOptions,
): Promise<{ url: string; api: ReturnType<typeof createAdminApi> }> {
  const api = createAdminApi({ requestId: () => 'rid', ...options });
  closers.push(() => api.close());
  const l = await serve(api.handler);
  return { url: l.url, api };
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: string;
  json: unknown;
}

async function call(
  url: string,
  method: string,
  path: string,
  opts: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
    // Node's client sends no length for a DELETE body by itself.
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  const r = await send(url, { method, path, headers, body });
  let json: unknown;
  try {
    json = r.body === '' ? undefined : JSON.parse(r.body);
  } catch {
    json = undefined;
  }
  return { status: r.status, headers: r.headers, body: r.body, json };
}

const get = (url: string, path: string) => call(url, 'GET', path);

/** A GET on a keep-alive agent: its connection stays open afterwards. */
function keepAliveGet(url: string, agent: Agent): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The code and message of what `fn` throws. */
function thrown(fn: () => unknown): { code: unknown; message: unknown } | undefined {
  try {
    fn();
  } catch (err) {
    return { code: (err as { code?: unknown }).code, message: (err as Error).message };
  }
  return undefined;
}

function apiError(status: number, code: string, text: string) {
  return { error: { status, text, code }, request_id: 'rid', href: HREF };
}

/** The statistics of a peer that saw no traffic. */
function idle(id: number, peer: Peer, extra: Record<string, unknown> = {}) {
  return {
    id,
    server: peer.id,
    name: peer.id,
    backup: peer.backup,
    weight: peer.weight,
    state: 'up',
    active: 0,
    max_conns: 0,
    requests: 0,
    header_time: 0,
    response_time: 0,
    responses: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, codes: {}, total: 0 },
    sent: 0,
    received: 0,
    fails: 0,
    unavail: 0,
    health_checks: { checks: 0, fails: 0, unhealthy: 0 },
    downtime: 0,
    ...extra,
  };
}

/** The configuration of a server with default parameters. */
function conf(id: number, server: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    server,
    weight: 1,
    max_conns: 0,
    max_fails: 1,
    fail_timeout: '10s',
    slow_start: '0s',
    route: '',
    backup: false,
    down: false,
    ...extra,
  };
}

describe('admin API: reads', () => {
  it('lists the API versions at the location and each version’s endpoints', async () => {
    const a = await backend('a');
    const { url } = await admin({ upstreams: [createUpstream({ name: 'app', servers: [a.url] })] });
    expect((await get(url, '/api/')).json).toEqual([8, 9]);
    expect((await get(url, '/api')).json).toEqual([8, 9]);
    const v8 = ['nginx', 'processes', 'connections', 'slabs', 'http', 'stream', 'resolvers', 'ssl'];
    expect((await get(url, '/api/8/')).json).toEqual(v8);
    expect((await get(url, '/api/9')).json).toEqual([...v8, 'workers']);
    const http = [
      'requests',
      'server_zones',
      'location_zones',
      'caches',
      'limit_conns',
      'limit_reqs',
      'keyvals',
      'upstreams',
    ];
    expect((await get(url, '/api/9/http/')).json).toEqual(http);
    expect((await get(url, '/api/8/http')).json).toEqual(http);
    expect((await get(url, '/api/9/stream/')).json).toEqual([
      'server_zones',
      'limit_conns',
      'keyvals',
      'upstreams',
    ]);
    const r = await get(url, '/api/9/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
  });

  it('shows every upstream group and each peer’s statistics in the NGINX Plus shape', async () => {
    const a = await backend('aaaa');
    const b = await backend('bb');
    const clock = manualClock(T0);
    const app = createUpstream({
      name: 'app',
      clock,
      servers: [a.url, { url: b.url, weight: 2, maxConns: 10 }],
    });
    const spare = createUpstream({
      name: 'spare',
      servers: [{ url: 'http://127.0.0.1:1', backup: true }, a.url],
    });
    const { f } = await proxyFor(app);
    for (let i = 0; i < 3; i++) await send(f.url, { path: '/x' });
    const [pa, pb] = app.peers as [Peer, Peer];
    const { url } = await admin({ upstreams: [app, spare] });

    const traffic = (peer: Peer, requests: number, bytes: number) => ({
      requests,
      header_time: Math.round(peer.headerTimeMs),
      response_time: Math.round(peer.responseTimeMs),
      responses: {
        '1xx': 0,
        '2xx': requests,
        '3xx': 0,
        '4xx': 0,
        '5xx': 0,
        codes: { '200': requests },
        total: requests,
      },
      sent: peer.sent,
      received: bytes * requests,
      selected: ISO0,
    });
    const appJson = {
      peers: [
        idle(0, pa, traffic(pa, 1, 4)),
        idle(1, pb, { weight: 2, max_conns: 10, ...traffic(pb, 2, 2) }),
      ],
      keepalive: 0,
      zombies: 0,
      zone: 'app',
    };
    expect(pa.sent).toBeGreaterThan(0);
    expect((await get(url, '/api/9/http/upstreams/app')).json).toEqual(appJson);
    expect((await get(url, '/api/9/http/upstreams/app/')).json).toEqual(appJson);
    const [primary, backup] = spare.peers as [Peer, Peer];
    // Ids follow the configuration, primaries first, then backups.
    const spareJson = { peers: [idle(0, primary), idle(1, backup)], keepalive: 0, zombies: 0, zone: 'spare' };
    expect((await get(url, '/api/9/http/upstreams')).json).toEqual({ app: appJson, spare: spareJson });
    // Version 8 defines the same fields for upstreams.
    expect((await get(url, '/api/8/http/upstreams/')).json).toEqual({ app: appJson, spare: spareJson });
  });

  it('names groups by their keys when given a record', async () => {
    const a = await backend('a');
    const u = createUpstream({ name: 'internal', servers: [a.url] });
    const { url } = await admin({ upstreams: { public: u } });
    expect(Object.keys((await get(url, '/api/9/http/upstreams')).json as object)).toEqual(['public']);
    expect(((await get(url, '/api/9/http/upstreams/public')).json as { zone: string }).zone).toBe('public');
    expect((await get(url, '/api/9/http/upstreams/internal')).json).toEqual(
      apiError(404, 'UpstreamNotFound', 'upstream not found'),
    );
  });

  it('asks an UpstreamSource for its groups on each request, so a group made later shows up', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const app = createUpstream({ name: 'app', servers: [a.url] });
    const list: Upstream[] = [app];
    const { url } = await admin({ upstreams: { groups: () => list } });
    expect(Object.keys((await get(url, '/api/9/http/upstreams')).json as object)).toEqual(['app']);
    expect((await get(url, '/api/9/http/upstreams/late')).json).toEqual(
      apiError(404, 'UpstreamNotFound', 'upstream not found'),
    );

    const late = createUpstream({ name: 'late', servers: [b.url] });
    list.push(late);
    const { f } = await proxyFor(late);
    await send(f.url, { path: '/' });
    expect(Object.keys((await get(url, '/api/9/http/upstreams')).json as object)).toEqual(['app', 'late']);
    const lateJson = (await get(url, '/api/9/http/upstreams/late')).json as {
      peers: Array<{ requests: number }>;
    };
    expect(lateJson.peers.map((p) => p.requests)).toEqual([1]);
    expect((await get(url, '/api/9/http/upstreams/late/servers')).json).toEqual([conf(0, b.hostPort)]);
  });

  it('names a source’s groups by upstream.name, the first of two with one name winning', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const first = createUpstream({ name: 'app', servers: [a.url] });
    const second = createUpstream({ name: 'app', servers: [b.url] });
    const { url } = await admin({ upstreams: { groups: () => [first, second] } });
    expect((await get(url, '/api/9/http/upstreams/app/servers')).json).toEqual([conf(0, a.hostPort)]);
  });

  it('shows the groups a proxy makes for proxy_pass addresses once it has made them', async () => {
    const media = await backend('media');
    const direct = await backend('direct');
    const proxy = createProxy({
      upstream: createUpstream({ name: 'media', servers: [media.url] }),
      rewrite: compileNginx(`
        location /direct/ { proxy_pass http://${direct.hostPort}; }
        location / { proxy_pass http://media; }
      `),
    });
    const f = await front(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    const { url } = await admin({ upstreams: proxy });
    expect(Object.keys((await get(url, '/api/9/http/upstreams')).json as object)).toEqual(['media']);
    expect((await send(f.url, { path: '/direct/x' })).body).toBe('direct');
    const all = (await get(url, '/api/9/http/upstreams')).json as Record<
      string,
      { peers: Array<{ requests: number }> }
    >;
    expect(Object.keys(all)).toEqual(['media', direct.hostPort]);
    expect(all[direct.hostPort]?.peers.map((p) => p.requests)).toEqual([1]);
  });

  it('shows the configuration of the servers of a group, and of one server', async () => {
    const a = await backend('a');
    const u = createUpstream({
      name: 'app',
      servers: [
        a.url,
        {
          url: 'http://127.0.0.1:9',
          weight: 3,
          maxConns: 7,
          maxFails: 0,
          failTimeoutMs: 1500,
          slowStartMs: 30_000,
          route: 'r2',
          backup: true,
          down: true,
        },
      ],
    });
    const { url } = await admin({ upstreams: [u] });
    const second = conf(1, '127.0.0.1:9', {
      weight: 3,
      max_conns: 7,
      max_fails: 0,
      fail_timeout: '1500ms',
      slow_start: '30s',
      route: 'r2',
      backup: true,
      down: true,
    });
    expect((await get(url, '/api/9/http/upstreams/app/servers')).json).toEqual([conf(0, a.hostPort), second]);
    expect((await get(url, '/api/9/http/upstreams/app/servers/1')).json).toEqual(second);
    expect((await get(url, '/api/8/http/upstreams/app/servers/0/')).json).toEqual(conf(0, a.hostPort));
  });

  it('shows nginx’s general information with an injected clock and version', async () => {
    const a = await backend('a');
    let now = T0;
    const { url } = await admin({
      upstreams: [createUpstream({ name: 'app', servers: [a.url] })],
      now: () => now,
      version: '1.2.3',
    });
    now += 5_000;
    expect((await get(url, '/api/9/nginx')).json).toEqual({
      version: '1.2.3',
      build: 'switchyard',
      address: '127.0.0.1',
      generation: 0,
      load_timestamp: ISO0,
      timestamp: '2023-11-14T22:13:25.000Z',
      pid: process.pid,
      ppid: process.ppid,
    });
  });

  it('answers the endpoints switchyard has no data for with valid, empty objects', async () => {
    const a = await backend('a');
    const { url } = await admin({ upstreams: [createUpstream({ name: 'app', servers: [a.url] })] });
    for (const path of [
      '/api/9/slabs',
      '/api/9/resolvers/',
      '/api/9/http/server_zones',
      '/api/9/http/location_zones/',
      '/api/9/http/caches',
      '/api/9/http/limit_conns',
      '/api/9/http/limit_reqs',
      '/api/9/http/keyvals',
      '/api/9/stream/server_zones',
      '/api/9/stream/limit_conns',
      '/api/9/stream/keyvals',
      '/api/9/stream/upstreams',
      '/api/8/stream/upstreams/',
    ]) {
      const r = await get(url, path);
      expect([path, r.status, r.json]).toEqual([path, 200, {}]);
    }
    expect((await get(url, '/api/9/processes')).json).toEqual({ respawned: 0 });
    expect((await get(url, '/api/9/ssl')).json).toEqual({
      handshakes: 0,
      handshakes_failed: 0,
      session_reuses: 0,
      no_common_protocol: 0,
      no_common_cipher: 0,
      handshake_timeout: 0,
      peer_rejected_cert: 0,
      verify_failures: { no_cert: 0, expired_cert: 0, revoked_cert: 0, hostname_mismatch: 0, other: 0 },
    });
    expect((await get(url, '/api/9/connections')).json).toEqual({
      accepted: 0,
      dropped: 0,
      active: 0,
      idle: 0,
    });
    expect((await get(url, '/api/9/http/requests')).json).toEqual({ total: 0, current: 0 });
    const missing: Array<[string, string, string]> = [
      ['/api/9/slabs/one', 'SlabNotFound', 'slab not found'],
      ['/api/9/resolvers/one', 'ResolverZoneNotFound', 'resolver zone not found'],
      ['/api/9/http/server_zones/one', 'ServerZoneNotFound', 'server zone not found'],
      ['/api/9/http/location_zones/one', 'LocationZoneNotFound', 'location zone not found'],
      ['/api/9/http/caches/one', 'CacheNotFound', 'cache not found'],
      ['/api/9/http/limit_conns/one', 'LimitConnNotFound', 'limit_conn not found'],
      ['/api/9/http/limit_reqs/one', 'LimitReqNotFound', 'limit_req not found'],
      ['/api/9/http/keyvals/one', 'KeyvalNotFound', 'keyval not found'],
      ['/api/9/stream/server_zones/one', 'ServerZoneNotFound', 'server zone not found'],
      ['/api/9/stream/limit_conns/one', 'LimitConnNotFound', 'limit_conn not found'],
      ['/api/9/stream/keyvals/one', 'KeyvalNotFound', 'keyval not found'],
      ['/api/9/stream/upstreams/one', 'UpstreamNotFound', 'upstream not found'],
      ['/api/9/workers/1', 'WorkerNotFound', 'worker not found'],
    ];
    for (const [path, code, text] of missing) {
      const r = await get(url, path);
      expect([path, r.status, r.json]).toEqual([path, 404, apiError(404, code, text)]);
    }
  });

  it('reports cache zones through their stats(), and resets them with DELETE', async () => {
    const a = await backend('a');
    let hits = 7;
    const pages = {
      stats: () => ({
        size: 2048,
        maxSize: 1 << 20,
        hit: { responses: hits, bytes: 700 },
        miss: { responses: 3, bytes: 300, responsesWritten: 2, bytesWritten: 200 },
        bypass: { responses: 1 },
      }),
      resetStats: () => {
        hits = 0;
      },
    };
    const frozen = { stats: () => ({ cold: true }) };
    const { url } = await admin({
      upstreams: [createUpstream({ name: 'app', servers: [a.url] })],
      caches: { pages, frozen },
      auth: { token: TOKEN },
    });
    const zero = { responses: 0, bytes: 0 };
    const zeroWritten = { responses: 0, bytes: 0, responses_written: 0, bytes_written: 0 };
    const pagesJson = {
      size: 2048,
      max_size: 1048576,
      cold: false,
      hit: { responses: 7, bytes: 700 },
      stale: zero,
      updating: zero,
      revalidated: zero,
      miss: { responses: 3, bytes: 300, responses_written: 2, bytes_written: 200 },
      expired: zeroWritten,
      bypass: { responses: 1, bytes: 0, responses_written: 0, bytes_written: 0 },
    };
    const frozenJson = {
      size: 0,
      max_size: 0,
      cold: true,
      hit: zero,
      stale: zero,
      updating: zero,
      revalidated: zero,
      miss: zeroWritten,
      expired: zeroWritten,
      bypass: zeroWritten,
    };
    expect((await get(url, '/api/9/http/caches')).json).toEqual({ pages: pagesJson, frozen: frozenJson });
    expect((await get(url, '/api/9/http/caches/pages')).json).toEqual(pagesJson);
    const del = await call(url, 'DELETE', '/api/9/http/caches/pages', { token: TOKEN });
    expect([del.status, del.body]).toEqual([204, '']);
    expect(((await get(url, '/api/9/http/caches/pages')).json as typeof pagesJson).hit).toEqual({
      responses: 0,
      bytes: 700,
    });
    // A zone without resetStats() cannot be reset.
    const refused = await call(url, 'DELETE', '/api/9/http/caches/frozen', { token: TOKEN });
    expect([refused.status, refused.headers.allow, refused.json]).toEqual([
      405,
      'GET, HEAD',
      apiError(405, 'MethodNotSupported', 'method not supported'),
    ]);
    expect((await call(url, 'DELETE', '/api/9/http/caches/none', { token: TOKEN })).json).toEqual(
      apiError(404, 'CacheNotFound', 'cache not found'),
    );
  });

  it('reports limit_req and limit_conn zones, merged by name from several limiters, and resets them with DELETE', async () => {
    const a = await backend('a');
    const req = { passed: 9, delayed: 2, rejected: 3, delayed_dry_run: 1, rejected_dry_run: 4 };
    const conn = { passed: 5, rejected: 1, rejected_dry_run: 0 };
    const resets: Array<[string, string | undefined]> = [];
    let later = false;
    const first = {
      limitReqs: () => ({ one: { ...req }, ...(later ? { three: { ...req, passed: 1 } } : {}) }),
      limitConns: () => ({ addr: { ...conn } }),
      resetLimitReq(zone?: string) {
        resets.push(['req', zone]);
        Object.assign(req, { passed: 0, delayed: 0, rejected: 0, delayed_dry_run: 0, rejected_dry_run: 0 });
      },
      resetLimitConn(zone?: string) {
        resets.push(['conn', zone]);
        Object.assign(conn, { passed: 0, rejected: 0, rejected_dry_run: 0 });
      },
    };
    // A second limiter without resets; its "one" is hidden by the first's.
    const zero = { passed: 0, delayed: 0, rejected: 0, delayed_dry_run: 0, rejected_dry_run: 0 };
    const second = {
      limitReqs: () => ({ one: { ...zero, passed: 100 }, two: { ...zero, rejected: 7 } }),
      limitConns: () => ({ server: { passed: 2, rejected: 0, rejected_dry_run: 3 } }),
    };
    const { url } = await admin({
      upstreams: [createUpstream({ name: 'app', servers: [a.url] })],
      limits: [first, second],
      auth: { token: TOKEN },
    });
    const two = { ...zero, rejected: 7 };
    expect((await get(url, '/api/9/http/limit_reqs')).json).toEqual({ one: req, two });
    expect((await get(url, '/api/9/http/limit_reqs/one')).json).toEqual(req);
    expect((await get(url, '/api/8/http/limit_reqs/two')).json).toEqual(two);
    expect((await get(url, '/api/9/http/limit_conns')).json).toEqual({
      addr: conn,
      server: { passed: 2, rejected: 0, rejected_dry_run: 3 },
    });
    expect((await get(url, '/api/9/http/limit_conns/addr')).json).toEqual(conn);
    // Read on each request: a zone the limiter adds later shows up.
    later = true;
    expect(Object.keys((await get(url, '/api/9/http/limit_reqs')).json as object)).toEqual([
      'one',
      'three',
      'two',
    ]);

    // A write: the token is needed, and the zone's own limiter is reset.
    const unauthorized = await call(url, 'DELETE', '/api/9/http/limit_reqs/one');
    expect([unauthorized.status, resets]).toEqual([401, []]);
    const crossSite = await call(url, 'DELETE', '/api/9/http/limit_reqs/one', {
      token: TOKEN,
      headers: { origin: 'http://evil.example' },
    });
    expect([crossSite.json, resets]).toEqual([
      apiError(403, 'CrossSiteRequest', 'cross-site write refused'),
      [],
    ]);
    const del = await call(url, 'DELETE', '/api/9/http/limit_reqs/one', { token: TOKEN });
    expect([del.status, del.body, resets]).toEqual([204, '', [['req', 'one']]]);
    expect((await get(url, '/api/9/http/limit_reqs/one')).json).toEqual(zero);
    const delConn = await call(url, 'DELETE', '/api/9/http/limit_conns/addr', { token: TOKEN });
    expect([delConn.status, resets.at(-1)]).toEqual([204, ['conn', 'addr']]);
    expect((await get(url, '/api/9/http/limit_conns/addr')).json).toEqual({
      passed: 0,
      rejected: 0,
      rejected_dry_run: 0,
    });

    // A zone whose limiter cannot reset refuses DELETE, as a cache zone without resetStats() does.
    const refused = await call(url, 'DELETE', '/api/9/http/limit_reqs/two', { token: TOKEN });
    expect([refused.status, refused.headers.allow, refused.json]).toEqual([
      405,
      'GET, HEAD',
      apiError(405, 'MethodNotSupported', 'method not supported'),
    ]);
    expect((await call(url, 'DELETE', '/api/9/http/limit_conns/server', { token: TOKEN })).status).toBe(405);
    // The collections take no DELETE (NGINX Plus resets one zone at a time).
    expect((await call(url, 'DELETE', '/api/9/http/limit_reqs', { token: TOKEN })).status).toBe(405);

    // Unknown zones: NGINX Plus's codes, for reads and (authorised) writes alike.
    expect((await get(url, '/api/9/http/limit_reqs/none')).json).toEqual(
      apiError(404, 'LimitReqNotFound', 'limit_req not found'),
    );
    expect((await call(url, 'DELETE', '/api/9/http/limit_reqs/none', { token: TOKEN })).json).toEqual(
      apiError(404, 'LimitReqNotFound', 'limit_req not found'),
    );
    expect((await get(url, '/api/9/http/limit_conns/none')).json).toEqual(
      apiError(404, 'LimitConnNotFound', 'limit_conn not found'),
    );
    expect((await get(url, '/api/9/http/limit_reqs/one/x')).json).toEqual(
      apiError(404, 'PathNotFound', 'path not found'),
    );
    // Stream limits are not counted: still empty.
    expect((await get(url, '/api/9/stream/limit_conns')).json).toEqual({});
    expect(resets).toEqual([
      ['req', 'one'],
      ['conn', 'addr'],
    ]);
  });

  it('shows the counters of real limiters from @switchyard/limit, as their checks move them', async () => {
    const a = await backend('a');
    const clock = { ms: 1_000 };
    const perIp = rateZone({ name: 'perip', rate: '1r/s', store: memoryRateStore({ now: () => clock.ms }) });
    const rates = createLimits({ req: [{ zone: perIp }] });
    const conns = createLimits({ conn: [{ zone: connZone({ name: 'addr' }), max: 1 }] });
    const { url } = await admin({
      upstreams: [createUpstream({ name: 'app', servers: [a.url] })],
      limits: [rates, conns],
      auth: { token: TOKEN },
    });
    const client = { method: 'GET', url: '/', headers: {}, socket: { remoteAddress: '192.0.2.1' } };

    // 1 r/s, no burst: the second request in the same millisecond is refused.
    expect((await rates.check(client)).action).toBe('pass');
    expect((await rates.check(client)).action).toBe('reject');
    // One request in progress per address: a second one at once is refused.
    const held = await conns.check(client);
    expect([held.action, (await conns.check(client)).action]).toEqual(['pass', 'reject']);
    held.release();

    const perip = { passed: 1, delayed: 0, rejected: 1, delayed_dry_run: 0, rejected_dry_run: 0 };
    const addr = { passed: 1, rejected: 1, rejected_dry_run: 0 };
    expect((await get(url, '/api/9/http/limit_reqs')).json).toEqual({ perip });
    expect((await get(url, '/api/9/http/limit_conns')).json).toEqual({ addr });
    expect((await get(url, '/api/9/http/limit_reqs/perip')).json).toEqual(rates.limitReqs().perip);

    // A second later the rate lets one more through.
    clock.ms += 1_000;
    expect((await rates.check(client)).action).toBe('pass');
    expect((await get(url, '/api/9/http/limit_reqs/perip')).json).toEqual({ ...perip, passed: 2 });

    const del = await call(url, 'DELETE', '/api/9/http/limit_reqs/perip', { token: TOKEN });
    expect(del.status).toBe(204);
    expect(rates.limitReqs().perip).toEqual({ ...perip, passed: 0, rejected: 0 });
    expect((await call(url, 'DELETE', '/api/9/http/limit_conns/addr', { token: TOKEN })).status).toBe(204);
    expect((await get(url, '/api/9/http/limit_conns/addr')).json).toEqual({
      passed: 0,
      rejected: 0,
      rejected_dry_run: 0,
    });
  });

  it('takes one limiter as well as a list, and shows what it counts as numbers', async () => {
    const a = await backend('a');
    const limits = {
      limitReqs: () => ({ api: { passed: 1, delayed: Number.NaN, rejected: '2' } }) as never,
      limitConns: () => 'nothing' as never,
    };
    const { url } = await admin({ upstreams: [createUpstream({ name: 'app', servers: [a.url] })], limits });
    expect((await get(url, '/api/9/http/limit_reqs')).json).toEqual({
      api: { passed: 1, delayed: 0, rejected: 0, delayed_dry_run: 0, rejected_dry_run: 0 },
    });
    expect((await get(url, '/api/9/http/limit_conns')).json).toEqual({});
  });

  it('counts client connections and requests on the servers it is given', async () => {
    const gate = { hold: false, waiting: [] as ServerResponse[] };
    const a = await backend('a', gate);
    const { f } = await proxyFor(createUpstream({ name: 'app', servers: [a.url] }));
    const { url } = await admin({
      upstreams: [createUpstream({ name: 'other', servers: [a.url] })],
      servers: [f.server],
      auth: { token: TOKEN },
    });
    // A second counter on the same server, read synchronously to wait for sockets to close.
    const watch = countTraffic([f.server]);
    closers.push(() => watch.close());
    const counts = async () => [
      (await get(url, '/api/9/connections')).json,
      (await get(url, '/api/9/http/requests')).json,
    ];
    await send(f.url);
    await send(f.url);
    // Both connections close after their request (agent: false).
    await waitFor(() => watch.connections().idle === 0);
    expect(await counts()).toEqual([
      { accepted: 2, dropped: 0, active: 0, idle: 0 },
      { total: 2, current: 0 },
    ]);

    // A request in progress, and a keep-alive connection waiting for its next request.
    gate.hold = true;
    const held = send(f.url, { path: '/held' });
    await waitFor(() => gate.waiting.length === 1);
    gate.hold = false;
    const agent = new Agent({ keepAlive: true });
    closers.push(() => agent.destroy());
    await keepAliveGet(`${f.url}/ka`, agent);
    await waitFor(() => watch.requests().current === 1);
    expect(await counts()).toEqual([
      { accepted: 4, dropped: 0, active: 1, idle: 1 },
      { total: 4, current: 1 },
    ]);
    expect((await get(url, '/api/9/workers')).json).toEqual([
      {
        id: 0,
        pid: process.pid,
        connections: { accepted: 4, dropped: 0, active: 1, idle: 1 },
        http: { requests: { total: 4, current: 1 } },
      },
    ]);
    expect(((await get(url, '/api/9/workers/0')).json as { id: number }).id).toBe(0);
    (gate.waiting[0] as ServerResponse).end('late');
    await held;
    await waitFor(() => watch.connections().active === 0 && watch.connections().idle === 1);

    // DELETE zeroes the totals, not what is open now.
    expect((await call(url, 'DELETE', '/api/9/connections', { token: TOKEN })).status).toBe(204);
    expect((await call(url, 'DELETE', '/api/9/http/requests', { token: TOKEN })).status).toBe(204);
    expect(await counts()).toEqual([
      { accepted: 0, dropped: 0, active: 0, idle: 1 },
      { total: 0, current: 0 },
    ]);
    expect((await call(url, 'DELETE', '/api/9/workers', { token: TOKEN })).status).toBe(204);
  });

  it('counts connections dropped at the server’s maxConnections', async () => {
    const a = await backend('a');
    const { f } = await proxyFor(createUpstream({ name: 'app', servers: [a.url] }));
    const { url } = await admin({
      upstreams: [createUpstream({ name: 'x', servers: [a.url] })],
      servers: [f.server],
    });
    f.server.maxConnections = 1;
    const agent = new Agent({ keepAlive: true });
    closers.push(() => agent.destroy());
    await keepAliveGet(`${f.url}/ka`, agent); // holds the one connection allowed
    await expect(send(f.url)).rejects.toThrow();
    expect((await get(url, '/api/9/connections')).json).toEqual({
      accepted: 1,
      dropped: 1,
      active: 0,
      idle: 1,
    });
  });

  it('reads connection and request counts from a stats object instead', async () => {
    const a = await backend('a');
    let total = 10;
    const stats: TrafficStats = {
      connections: () => ({ accepted: 5, dropped: 1, active: 2, idle: 3 }),
      requests: () => ({ total, current: 4 }),
      resetRequests: () => {
        total = 0;
      },
    };
    const { url } = await admin({
      upstreams: [createUpstream({ name: 'app', servers: [a.url] })],
      stats,
      auth: { token: TOKEN },
    });
    expect((await get(url, '/api/9/connections')).json).toEqual({
      accepted: 5,
      dropped: 1,
      active: 2,
      idle: 3,
    });
    expect((await get(url, '/api/9/http/requests')).json).toEqual({ total: 10, current: 4 });
    expect((await call(url, 'DELETE', '/api/9/http/requests', { token: TOKEN })).status).toBe(204);
    expect((await get(url, '/api/9/http/requests')).json).toEqual({ total: 0, current: 4 });
    // No resetConnections(): DELETE is accepted and changes nothing.
    expect((await call(url, 'DELETE', '/api/9/connections', { token: TOKEN })).status).toBe(204);
    expect((await get(url, '/api/9/connections')).json).toEqual({
      accepted: 5,
      dropped: 1,
      active: 2,
      idle: 3,
    });
  });

  it('shows passive-health failures, unavail and its down time', async () => {
    const dead = await deadPort();
    const a = await backend('a');
    const clock = manualClock(T0);
    const u = createUpstream({ name: 'app', clock, servers: [`http://127.0.0.1:${dead}`, a.url] });
    const { f } = await proxyFor(u);
    const { url } = await admin({ upstreams: [u] });
    expect((await send(f.url)).body).toBe('a'); // the first peer refuses; the request moves on
    const deadPeer = u.peers[0] as Peer;
    const peer0 = async () =>
      ((await get(url, '/api/9/http/upstreams/app')).json as { peers: unknown[] }).peers[0];
    expect(await peer0()).toEqual(
      idle(0, deadPeer, {
        state: 'unavail',
        requests: 1,
        sent: deadPeer.sent,
        fails: 1,
        unavail: 1,
        downtime: 0,
        downstart: ISO0,
        selected: ISO0,
      }),
    );
    clock.advance(4_000);
    expect(await peer0()).toEqual(
      idle(0, deadPeer, {
        state: 'unavail',
        requests: 1,
        sent: deadPeer.sent,
        fails: 1,
        unavail: 1,
        downtime: 4_000,
        downstart: ISO0,
        selected: ISO0,
      }),
    );
    // The rest ends after fail_timeout (10 s): the down time stops there, not at the next read.
    clock.advance(60_000);
    const after = (await peer0()) as Record<string, unknown>;
    expect([after.state, after.downtime, after.downstart]).toEqual(['up', 10_000, undefined]);
  });

  it('shows active health checks, unhealthy state and its down time', async () => {
    const state = { status: 200 };
    const a = await startBackend((_req, res) => {
      res.statusCode = state.status;
      res.end();
    });
    closers.push(() => a.close());
    const b = await backend('b');
    const clock = manualClock(T0);
    const u = createUpstream({ name: 'app', clock, servers: [a.url, b.url] });
    const checks = createHealthCheck(u, { timers: { setTimeout: () => 0, clearTimeout: () => {} } });
    closers.push(() => checks.stop());
    const { url } = await admin({ upstreams: [u] });
    const peerA = u.peers[0] as Peer;
    await checks.checkAll();
    state.status = 500;
    await checks.checkAll();
    const peer0 = async () =>
      ((await get(url, '/api/9/http/upstreams/app')).json as { peers: unknown[] }).peers[0];
    expect(await peer0()).toEqual(
      idle(0, peerA, {
        state: 'unhealthy',
        health_checks: { checks: 2, fails: 1, unhealthy: 1, last_passed: false },
        downstart: ISO0,
      }),
    );
    clock.advance(2_500);
    state.status = 200;
    await checks.checkAll();
    expect(await peer0()).toEqual(
      idle(0, peerA, {
        health_checks: { checks: 3, fails: 1, unhealthy: 1, last_passed: true },
        downtime: 2_500,
      }),
    );
  });
});

describe('admin API: errors', () => {
  it('answers unknown versions, paths and methods with NGINX Plus error objects', async () => {
    const a = await backend('a');
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const { url } = await admin({ upstreams: [u], metrics: createMetrics({ upstreams: [u] }) });
    const cases: Array<[string, string, number, string, string]> = [
      ['GET', '/api/7/', 404, 'UnknownVersion', 'unknown version'],
      ['GET', '/api/10/nginx', 404, 'UnknownVersion', 'unknown version'],
      ['GET', '/api/v9/', 404, 'UnknownVersion', 'unknown version'],
      ['GET', '/api/9/nope', 404, 'PathNotFound', 'path not found'],
      ['GET', '/api/9/nginx/extra', 404, 'PathNotFound', 'path not found'],
      ['GET', '/api/9/http/nope', 404, 'PathNotFound', 'path not found'],
      ['GET', '/api/8/workers', 404, 'PathNotFound', 'path not found'],
      ['GET', '/api/9/http/upstreams/app/peers', 404, 'PathNotFound', 'path not found'],
      ['GET', '/api/9/http/upstreams/app/servers/0/x', 404, 'PathNotFound', 'path not found'],
      ['GET', '/api/9/http/upstreams/%E0%A4%A/', 404, 'PathNotFound', 'path not found'],
      ['GET', '/elsewhere', 404, 'PathNotFound', 'path not found'],
      ['GET', '/api/9/http/upstreams/none', 404, 'UpstreamNotFound', 'upstream not found'],
      ['GET', '/api/9/http/upstreams/none/servers/0', 404, 'UpstreamNotFound', 'upstream not found'],
      ['GET', '/api/9/http/upstreams/app/servers/x1', 400, 'UpstreamBadServerId', 'invalid server ID'],
      ['GET', '/api/9/http/upstreams/app/servers/-1', 400, 'UpstreamBadServerId', 'invalid server ID'],
      [
        'GET',
        '/api/9/http/upstreams/app/servers/5',
        404,
        'UpstreamServerNotFound',
        'server with ID "5" does not exist',
      ],
      ['PUT', '/api/9/nginx', 405, 'MethodNotSupported', 'method not supported'],
      ['POST', '/api/', 405, 'MethodNotSupported', 'method not supported'],
      ['POST', '/api/9/http/upstreams', 405, 'MethodNotSupported', 'method not supported'],
      ['PATCH', '/api/9/http/upstreams/app', 405, 'MethodNotSupported', 'method not supported'],
    ];
    for (const [method, path, status, code, text] of cases) {
      const r = await call(url, method, path);
      expect([method, path, r.status, r.json]).toEqual([method, path, status, apiError(status, code, text)]);
    }
    const put = await call(url, 'PUT', '/api/9/http/upstreams/app/servers/0');
    expect(put.headers.allow).toBe('GET, HEAD, PATCH, DELETE');
    expect((await call(url, 'PUT', '/metrics')).json).toEqual(
      apiError(405, 'MethodNotSupported', 'method not supported'),
    );
  });

  it('gives each error a 32-hex-digit request_id by default', async () => {
    const a = await backend('a');
    const api = createAdminApi({ upstreams: [createUpstream({ name: 'app', servers: [a.url] })] });
    const l = await serve(api.handler);
    const r = await call(l.url, 'GET', '/api/9/nope');
    const body = r.json as { request_id: string };
    expect(body.request_id).toMatch(/^[0-9a-f]{32}$/);
    expect(r.json).toEqual({
      ...apiError(404, 'PathNotFound', 'path not found'),
      request_id: body.request_id,
    });
  });

  it('rejects bad options when it is built, naming the option', () => {
    const u = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9'] });
    const bad: Array<[unknown, string]> = [
      [
        {},
        'upstreams: expected an array or a record of Upstreams, or an object with a groups() method, got undefined',
      ],
      [{ upstreams: { groups: () => 1 } }, 'upstreams.groups(): expected an iterable of Upstreams, got 1'],
      [{ upstreams: { groups: () => [u, 'x'] } }, 'upstreams.groups()[1]: expected an Upstream, got "x"'],
      [{ upstreams: [u, u] }, 'upstreams[1].name: expected a name no other upstream has, got "app"'],
      [{ upstreams: [{ name: 'x' }] }, 'upstreams[0]: expected an Upstream, got {"name":"x"}'],
      [{ upstreams: [u], caches: { c: {} } }, 'caches.c: expected an object with a stats() method, got {}'],
      [
        { upstreams: [u], limits: 1 },
        'limits: expected an object with limitReqs() and limitConns() methods (a Limiter), or an array of them, got 1',
      ],
      [
        { upstreams: [u], limits: [{ limitReqs: () => ({}), limitConns: () => ({}) }, { limitReqs: 1 }] },
        'limits[1]: expected an object with limitReqs() and limitConns() methods (a Limiter), got {"limitReqs":1}',
      ],
      [
        { upstreams: [u], limits: { limitReqs: () => ({}), limitConns: () => ({}), resetLimitConn: 'x' } },
        'limits.resetLimitConn: expected a function, got "x"',
      ],
      [
        { upstreams: [u], limits: [{ limitReqs: () => ({}), limitConns: () => ({}), resetLimitReq: 1 }] },
        'limits[0].resetLimitReq: expected a function, got 1',
      ],
      [{ upstreams: [u], auth: {} }, 'auth: expected a token or an authorize hook, got {}'],
      [{ upstreams: [u], auth: { token: '' } }, 'auth.token: expected a non-empty string, got ""'],
      [{ upstreams: [u], auth: { authorize: 1 } }, 'auth.authorize: expected a function, got 1'],
      [
        { upstreams: [u], prefix: 'admin' },
        'prefix: expected a path like "/admin" (a leading slash, no trailing one), got "admin"',
      ],
      [
        { upstreams: [u], prefix: '/admin/' },
        'prefix: expected a path like "/admin" (a leading slash, no trailing one), got "/admin/"',
      ],
      [{ upstreams: [u], maxBodyBytes: 0 }, 'maxBodyBytes: expected a positive integer, got 0'],
      [{ upstreams: [u], servers: [1] }, 'servers: expected an array of http.Server, got [1]'],
      [
        { upstreams: [u], stats: {} },
        'stats: expected an object with connections() and requests() methods, got {}',
      ],
      [
        { upstreams: [u], metrics: 1 },
        'metrics: expected a Metrics object from createMetrics() of @switchyard/core/metrics, got 1',
      ],
      [{ upstreams: [u], now: 1 }, 'now: expected a function, got 1'],
      [
        { upstreams: [u], tokn: 'x' },
        'tokn: unknown option (known: upstreams, caches, limits, auth, prefix, servers, stats, metrics, version, build, now, requestId, maxBodyBytes, trustedOrigins, allowedHosts)',
      ],
    ];
    for (const [options, message] of bad) {
      expect(thrown(() => createAdminApi(options as AdminApiOptions))).toEqual({
        code: 'SWY_ERR_INVALID_OPTION',
        message,
      });
    }
  });
});

describe('admin API: access', () => {
  it('refuses every write when no auth is configured, and keeps reads open', async () => {
    const a = await backend('a');
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const { url } = await admin({ upstreams: [u] });
    const disabled = apiError(405, 'MethodDisabled', 'method disabled');
    for (const [method, path] of [
      ['POST', '/api/9/http/upstreams/app/servers'],
      ['PATCH', '/api/9/http/upstreams/app/servers/0'],
      ['DELETE', '/api/9/http/upstreams/app/servers/0'],
      ['DELETE', '/api/9/http/upstreams/app'],
      ['DELETE', '/api/9/connections'],
      ['DELETE', '/api/9/http/upstreams/none'],
      ['DELETE', '/api/9/http/limit_reqs/none'],
      ['POST', '/api/9/http/keyvals/one'],
    ] as const) {
      const r = await call(url, method, path, { body: { weight: 5 }, token: TOKEN });
      expect([method, path, r.status, r.json]).toEqual([method, path, 405, disabled]);
    }
    expect((u.peers[0] as Peer).weight).toBe(1);
    expect((await get(url, '/api/9/http/upstreams/app/servers/0')).status).toBe(200);
  });

  it('lets a bearer token write, and answers 401 without it or with another', async () => {
    const a = await backend('a');
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const { url } = await admin({ upstreams: [u], auth: { token: TOKEN } });
    const path = '/api/9/http/upstreams/app/servers/0';
    const none = await call(url, 'PATCH', path, { body: { weight: 2 } });
    expect([none.status, none.headers['www-authenticate'], none.json]).toEqual([
      401,
      'Bearer realm="switchyard"',
      apiError(401, 'Unauthorized', 'unauthorized'),
    ]);
    for (const wrong of ['s3cret-tokeN', 's3cret-token-and-more', 'x']) {
      const r = await call(url, 'PATCH', path, { body: { weight: 2 }, token: wrong });
      expect([r.status, r.headers['www-authenticate']]).toEqual([
        401,
        'Bearer realm="switchyard", error="invalid_token"',
      ]);
    }
    const basic = await call(url, 'PATCH', path, {
      body: { weight: 2 },
      headers: { authorization: `Basic ${TOKEN}` },
    });
    expect(basic.status).toBe(401);
    expect((u.peers[0] as Peer).weight).toBe(1);
    const r = await call(url, 'PATCH', path, {
      body: { weight: 2 },
      headers: { authorization: `bearer ${TOKEN}` },
    });
    expect([r.status, r.json]).toEqual([200, conf(0, a.hostPort, { weight: 2 })]);
  });

  it('asks the authorize hook: true writes, false or a throw answers 403', async () => {
    const a = await backend('a');
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const { url } = await admin({
      upstreams: [u],
      auth: {
        token: TOKEN,
        authorize: async (req) => {
          if (req.headers['x-role'] === 'boom') throw new Error('hook failed');
          return req.headers['x-role'] === 'ops';
        },
      },
    });
    const path = '/api/9/http/upstreams/app/servers/0';
    const forbidden = apiError(403, 'Forbidden', 'forbidden');
    for (const role of ['dev', 'boom']) {
      const r = await call(url, 'PATCH', path, { body: { weight: 3 }, headers: { 'x-role': role } });
      expect([role, r.status, r.json]).toEqual([role, 403, forbidden]);
    }
    expect(
      (await call(url, 'PATCH', path, { body: { weight: 3 }, headers: { 'x-role': 'ops' } })).status,
    ).toBe(200);
    // The token passes without asking the hook.
    expect((await call(url, 'PATCH', path, { body: { weight: 4 }, token: TOKEN })).status).toBe(200);
    expect((u.peers[0] as Peer).weight).toBe(4);
  });
});

describe('admin API: writes', () => {
  async function setup() {
    const a = await backend('a');
    const b = await backend('b');
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const { f } = await proxyFor(u);
    const { url } = await admin({ upstreams: [u], auth: { token: TOKEN } });
    const w = (method: string, path: string, body?: unknown) =>
      call(url, method, `/api/9/http/upstreams/app${path}`, { body, token: TOKEN });
    return { a, b, u, f, url, w };
  }

  it('adds a server with POST …/servers (201) and sends it traffic', async () => {
    const { a, b, u, f, w } = await setup();
    const r = await w('POST', '/servers', {
      server: b.hostPort,
      weight: 3,
      max_conns: 5,
      max_fails: 2,
      fail_timeout: '1m30s',
      slow_start: '0s',
      route: 'rb',
    });
    const added = conf(1, b.hostPort, {
      weight: 3,
      max_conns: 5,
      max_fails: 2,
      fail_timeout: '90s',
      route: 'rb',
    });
    expect([r.status, r.json]).toEqual([201, added]);
    expect((await w('GET', '/servers')).json).toEqual([conf(0, a.hostPort), added]);
    const peer = u.get(b.hostPort) as Peer;
    expect([peer.weight, peer.maxConns, peer.maxFails, peer.failTimeoutMs, peer.route]).toEqual([
      3,
      5,
      2,
      90_000,
      'rb',
    ]);
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add((await send(f.url)).body);
    expect([...seen].sort()).toEqual(['a', 'b']);
    // A backup server, added down.
    const backup = await w('POST', '/servers/', { server: 'http://127.0.0.1:7', backup: true, down: true });
    expect([backup.status, backup.json]).toEqual([201, conf(2, '127.0.0.1:7', { backup: true, down: true })]);
    // Added and drained at once.
    const drained = await w('POST', '/servers', { server: '127.0.0.1', drain: true });
    expect([drained.status, drained.json]).toEqual([201, conf(3, '127.0.0.1:80', { drain: true })]);
  });

  it('answers bad server bodies with NGINX Plus’s codes', async () => {
    const { a, u, w } = await setup();
    const cases: Array<[unknown, number, string, string]> = [
      [{ server: a.hostPort }, 409, 'EntryExists', 'entry exists'],
      [{ weight: 2 }, 400, 'UpstreamConfFormatError', 'missing "server" argument'],
      [{ server: '127.0.0.1:7', wieght: 2 }, 400, 'UpstreamConfFormatError', 'unknown parameter "wieght"'],
      [{ server: '127.0.0.1:7', weight: [2] }, 400, 'UpstreamConfFormatError', 'nested object or list'],
      [{ server: '127.0.0.1:7', route: { a: 1 } }, 400, 'UpstreamConfFormatError', 'nested object or list'],
      [{ server: 7 }, 400, 'UpstreamConfFormatError', 'invalid "server" value'],
      [{ server: '127.0.0.1:7', down: 'yes' }, 400, 'UpstreamConfFormatError', 'invalid "down" value'],
      [{ server: '127.0.0.1:7', backup: 1 }, 400, 'UpstreamConfFormatError', 'invalid "backup" value'],
      [{ server: '127.0.0.1:7', route: 5 }, 400, 'UpstreamConfFormatError', 'invalid "route" value'],
      [{ server: '127.0.0.1:7', id: -1 }, 400, 'UpstreamConfFormatError', 'invalid "id" value'],
      [{ server: 'http://[nope' }, 400, 'UpstreamBadAddress', 'invalid address "http://[nope"'],
      [{ server: '127.0.0.1:7/path' }, 400, 'UpstreamBadAddress', 'invalid address "127.0.0.1:7/path"'],
      [{ server: '127.0.0.1:7', weight: 0 }, 400, 'UpstreamBadWeight', 'invalid "weight"'],
      [{ server: '127.0.0.1:7', weight: 1.5 }, 400, 'UpstreamBadWeight', 'invalid "weight"'],
      [{ server: '127.0.0.1:7', max_conns: -1 }, 400, 'UpstreamBadMaxConns', 'invalid "max_conns"'],
      [{ server: '127.0.0.1:7', max_fails: '1' }, 400, 'UpstreamBadMaxFails', 'invalid "max_fails"'],
      [
        { server: '127.0.0.1:7', fail_timeout: '10x' },
        400,
        'UpstreamBadFailTimeout',
        'invalid "fail_timeout"',
      ],
      [
        { server: '127.0.0.1:7', fail_timeout: '0s' },
        400,
        'UpstreamBadFailTimeout',
        'invalid "fail_timeout"',
      ],
      [{ server: '127.0.0.1:7', slow_start: 'soon' }, 400, 'UpstreamBadSlowStart', 'invalid "slow_start"'],
      [{ server: '127.0.0.1:7', route: 'r'.repeat(33) }, 400, 'UpstreamBadRoute', 'route is too long'],
      [{ server: '127.0.0.1:7', service: 'http' }, 400, 'UpstreamBadService', '"service" is not supported'],
      ['{"server": ', 415, 'JsonError', 'json error'],
      ['[1, 2]', 415, 'JsonError', 'json error'],
      ['"text"', 415, 'JsonError', 'json error'],
      ['', 415, 'JsonError', 'json error'],
    ];
    for (const [body, status, code, text] of cases) {
      const r = await w('POST', '/servers', body);
      expect([body, r.status, r.json]).toEqual([body, status, apiError(status, code, text)]);
    }
    expect(u.peers.length).toBe(1);
    const big = await w('POST', '/servers', { server: '127.0.0.1:7', route: 'x', pad: 'p'.repeat(70_000) });
    expect([big.status, big.json]).toEqual([
      413,
      apiError(413, 'RequestEntityTooLarge', 'request entity too large'),
    ]);
  });

  it('changes a server with PATCH …/servers/{id}, in nginx’s units', async () => {
    const { a, u, url, w } = await setup();
    const peer = u.peers[0] as Peer;
    const r = await w('PATCH', '/servers/0', {
      id: 0,
      server: a.hostPort,
      backup: false,
      weight: 5,
      max_conns: 9,
      max_fails: 3,
      fail_timeout: '2s',
      slow_start: '500ms',
      route: 'ra',
      down: true,
    });
    const changed = conf(0, a.hostPort, {
      weight: 5,
      max_conns: 9,
      max_fails: 3,
      fail_timeout: '2s',
      slow_start: '500ms',
      route: 'ra',
      down: true,
    });
    expect([r.status, r.json]).toEqual([200, changed]);
    expect([
      peer.weight,
      peer.maxConns,
      peer.maxFails,
      peer.failTimeoutMs,
      peer.slowStartMs,
      peer.route,
      peer.down,
    ]).toEqual([5, 9, 3, 2_000, 500, 'ra', true]);
    expect(
      ((await get(url, '/api/9/http/upstreams/app')).json as { peers: Array<{ state: string }> }).peers[0]
        ?.state,
    ).toBe('down');
    // An empty route clears it; a bare number of seconds is a time, as in nginx.
    const cleared = await w('PATCH', '/servers/0', { route: '', down: false, fail_timeout: '30' });
    expect(cleared.json).toEqual({ ...changed, route: '', down: false, fail_timeout: '30s' });
    expect(peer.route).toBe(undefined);
    const cases: Array<[unknown, number, string, string]> = [
      [{ server: '127.0.0.1:1' }, 400, 'UpstreamServerImmutable', 'server "0" address is immutable'],
      [{ backup: true }, 400, 'UpstreamConfFormatError', '"backup" cannot be changed'],
      [{ id: 3 }, 400, 'UpstreamConfFormatError', 'invalid "id" value'],
      [{ weight: -2 }, 400, 'UpstreamBadWeight', 'invalid "weight"'],
      [{ drain: 'yes' }, 400, 'UpstreamConfFormatError', 'invalid "drain" value'],
      ['nope', 415, 'JsonError', 'json error'],
    ];
    for (const [body, status, code, text] of cases) {
      const res = await w('PATCH', '/servers/0', body);
      expect([body, res.status, res.json]).toEqual([body, status, apiError(status, code, text)]);
    }
    expect((await w('PATCH', '/servers/9', { weight: 2 })).json).toEqual(
      apiError(404, 'UpstreamServerNotFound', 'server with ID "9" does not exist'),
    );
    expect(peer.weight).toBe(5);
  });

  it('changes a unix-socket server with PATCH whose server field names its socket', async () => {
    const { u, w } = await setup();
    const sock = 'unix:/run/swy-admin-test/app.sock';
    const added = await w('POST', '/servers', { server: sock });
    expect([added.status, added.json]).toEqual([201, conf(1, sock)]);
    for (const server of [sock, `http://${sock}:`]) {
      const r = await w('PATCH', '/servers/1', { server, down: true });
      expect([server, r.status, r.json]).toEqual([server, 200, conf(1, sock, { down: true })]);
    }
    expect((await w('GET', '/servers/1')).json).toEqual(conf(1, sock, { down: true }));
    expect(u.get(sock)?.down).toBe(true);
    const moved = await w('PATCH', '/servers/1', { server: 'unix:/run/swy-admin-test/other.sock' });
    expect([moved.status, moved.json]).toEqual([
      400,
      apiError(400, 'UpstreamServerImmutable', 'server "1" address is immutable'),
    ]);
  });

  it('removes a server with DELETE …/servers/{id}; ids are not reused', async () => {
    const { a, b, u, w } = await setup();
    await w('POST', '/servers', { server: b.hostPort });
    const r = await w('DELETE', '/servers/0');
    expect([r.status, r.json]).toEqual([200, [conf(1, b.hostPort)]]);
    expect(u.peers.map((p) => p.id)).toEqual([b.hostPort]);
    expect((await w('GET', '/servers/0')).status).toBe(404);
    const again = await w('POST', '/servers', { server: a.hostPort });
    expect(again.json).toEqual(conf(2, a.hostPort));
    await w('DELETE', '/servers/2');
    const last = await w('DELETE', '/servers/1');
    expect([last.status, last.json]).toEqual([
      400,
      apiError(400, 'UpstreamServerImmutable', 'server "1" not removable'),
    ]);
  });

  it('resets a group’s statistics with DELETE /http/upstreams/{name}', async () => {
    const { u, f, url, w } = await setup();
    for (let i = 0; i < 3; i++) await send(f.url);
    const peer = u.peers[0] as Peer;
    // Four checks, one failed (unhealthy once), the last passed; two failed attempts.
    const policy = { fails: 1, passes: 1, mandatory: false, persistent: false };
    u.observeHealth(peer, { passed: false }, policy);
    for (let i = 0; i < 3; i++) u.observeHealth(peer, { passed: true }, policy);
    for (let i = 0; i < 2; i++) {
      u.begin(peer);
      u.release(peer, { failure: 'error' });
    }
    expect(peer.stats().healthChecks).toEqual({ checks: 4, fails: 1, unhealthy: 1, lastPassed: true });
    expect(peer.failsTotal).toBe(2);
    const r = await w('DELETE', '');
    expect([r.status, r.body]).toEqual([204, '']);
    const after = ((await get(url, '/api/9/http/upstreams/app')).json as { peers: unknown[] }).peers[0];
    expect(after).toEqual(
      idle(0, peer, {
        header_time: Math.round(peer.headerTimeMs),
        response_time: Math.round(peer.responseTimeMs),
        health_checks: { checks: 0, fails: 0, unhealthy: 0, last_passed: true },
        selected: new Date(peer.selected).toISOString(),
      }),
    );
    // The counters count again from zero.
    await send(f.url);
    expect([peer.requests, peer.stats().responses.total, peer.stats().responses.codes]).toEqual([
      1,
      1,
      { 200: 1 },
    ]);
  });

  it('drains a server through the API: draining, active falls to 0, then peer:drained', async () => {
    const gate = { hold: true, waiting: [] as ServerResponse[] };
    const a = await backend('a', gate);
    const b = await backend('b');
    const u = createUpstream({ name: 'app', servers: [a.url, b.url] });
    const { f } = await proxyFor(u);
    const { url } = await admin({ upstreams: [u], auth: { token: TOKEN } });
    const drained: string[] = [];
    u.on('peer:drained', (p) => drained.push(p.id));
    const held = send(f.url, { path: '/long' }); // round robin: the first request goes to a
    await waitFor(() => gate.waiting.length === 1);
    gate.hold = false;
    const peerA = u.peers[0] as Peer;
    expect(peerA.active).toBe(1);

    const r = await call(url, 'PATCH', '/api/9/http/upstreams/app/servers/0', {
      body: { drain: true },
      token: TOKEN,
    });
    expect([r.status, r.json]).toEqual([200, conf(0, a.hostPort, { drain: true })]);
    const stats = async () =>
      ((await get(url, '/api/9/http/upstreams/app')).json as { peers: Array<Record<string, unknown>> })
        .peers[0];
    expect([(await stats())?.state, (await stats())?.active]).toEqual(['draining', 1]);
    expect(drained).toEqual([]);
    // New requests go elsewhere while the held one finishes.
    for (let i = 0; i < 3; i++) expect((await send(f.url)).body).toBe('b');

    (gate.waiting[0] as ServerResponse).end('a-done');
    expect((await held).body).toBe('a-done');
    await waitFor(() => drained.length === 1);
    expect(drained).toEqual([a.hostPort]);
    expect([(await stats())?.state, (await stats())?.active]).toEqual(['draining', 0]);
    // Now it can go; or, with drain: false, it comes back.
    const back = await call(url, 'PATCH', '/api/9/http/upstreams/app/servers/0', {
      body: { drain: false },
      token: TOKEN,
    });
    expect(back.json).toEqual(conf(0, a.hostPort));
    expect((await stats())?.state).toBe('up');
    expect(drained).toEqual([a.hostPort]);
  });

  it('counts a removed server that still serves as a zombie until its requests end', async () => {
    const gate = { hold: true, waiting: [] as ServerResponse[] };
    const a = await backend('a', gate);
    const b = await backend('b');
    const u = createUpstream({ name: 'app', servers: [a.url, b.url] });
    const { f } = await proxyFor(u);
    const { url } = await admin({ upstreams: [u], auth: { token: TOKEN } });
    const held = send(f.url);
    await waitFor(() => gate.waiting.length === 1);
    expect((await call(url, 'DELETE', '/api/9/http/upstreams/app/servers/0', { token: TOKEN })).status).toBe(
      200,
    );
    const zombies = async () =>
      ((await get(url, '/api/9/http/upstreams/app')).json as { zombies: number }).zombies;
    expect(await zombies()).toBe(1);
    (gate.waiting[0] as ServerResponse).end('a');
    await held;
    expect(await zombies()).toBe(0);
  });

  it('takes a body a JSON body parser already read', async () => {
    const a = await backend('a');
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const api = createAdminApi({ upstreams: [u], auth: { token: TOKEN }, requestId: () => 'rid' });
    const app = express();
    app.use(express.json());
    app.use(api.middleware);
    const l = await serve(app as unknown as (req: IncomingMessage, res: ServerResponse) => void);
    const r = await call(l.url, 'PATCH', '/api/9/http/upstreams/app/servers/0', {
      body: { weight: 6 },
      token: TOKEN,
    });
    expect([r.status, r.json]).toEqual([200, conf(0, a.hostPort, { weight: 6 })]);
    const bad = await call(l.url, 'POST', '/api/9/http/upstreams/app/servers', { body: [1], token: TOKEN });
    expect(bad.json).toEqual(apiError(415, 'JsonError', 'json error'));
  });
});

describe('admin API: mounting', () => {
  it('answers under a prefix when one is given', async () => {
    const a = await backend('a');
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const { url } = await admin({
      upstreams: [u],
      prefix: '/admin',
      metrics: createMetrics({ upstreams: [u] }),
    });
    expect((await get(url, '/admin/api/')).json).toEqual([8, 9]);
    expect((await get(url, '/admin/api/9/http/upstreams/app/servers/0')).status).toBe(200);
    expect((await get(url, '/admin/metrics')).status).toBe(200);
    expect((await get(url, '/api/')).json).toEqual(apiError(404, 'PathNotFound', 'path not found'));
    expect((await get(url, '/administrator/api/')).status).toBe(404);
  });

  it('works as Express middleware under a mount path, passing other paths on', async () => {
    const a = await backend('a');
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const api = createAdminApi({ upstreams: [u], metrics: createMetrics({ upstreams: [u] }) });
    const app = express();
    app.use('/ops', api.middleware);
    app.use((_req, res) => {
      res.status(418).send('next');
    });
    const l = await serve(app as unknown as (req: IncomingMessage, res: ServerResponse) => void);
    expect((await get(l.url, '/ops/api/9/http/upstreams/app/servers')).json).toEqual([conf(0, a.hostPort)]);
    const metrics = await get(l.url, '/ops/metrics');
    expect([metrics.status, metrics.headers['content-type']]).toEqual([
      200,
      'text/plain; version=0.0.4; charset=utf-8',
    ]);
    const other = await get(l.url, '/ops/other');
    expect([other.status, other.body]).toEqual([418, 'next']);
  });

  it('serves the Prometheus metrics at /metrics only when it is given them', async () => {
    const a = await backend('a');
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const metrics = createMetrics({ upstreams: [u] });
    const { url, api } = await admin({ upstreams: [u], metrics });
    const r = await get(url, '/metrics');
    expect([r.status, r.headers['content-type']]).toEqual([200, 'text/plain; version=0.0.4; charset=utf-8']);
    expect(r.body).toContain(`nginxplus_upstream_server_requests{upstream="app",server="${a.hostPort}"} 0\n`);
    expect(api.metrics).toBe(metrics);
    const none = await admin({ upstreams: [u] });
    expect((await get(none.url, '/metrics')).json).toEqual(apiError(404, 'PathNotFound', 'path not found'));
    expect(none.api.metrics).toBe(undefined);
  });

  it('serves any object with metrics() and contentType at /metrics', async () => {
    const u = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9'] });
    const own = { contentType: 'text/plain; version=0.0.4', metrics: async () => 'app_up 1\n' };
    const { url } = await admin({ upstreams: [u], metrics: own });
    const r = await get(url, '/metrics');
    expect([r.status, r.headers['content-type'], r.body]).toEqual([200, own.contentType, 'app_up 1\n']);
  });
});

describe('admin API: hardening', () => {
  /** An API whose writes an authorize hook allows to everyone, as one trusting the network would. */
  async function open(options: Partial<AdminApiOptions> = {}) {
    const a = await backend('a');
    const u = createUpstream({ name: 'app', servers: [{ url: a.url, route: 'ra' }] });
    const { url } = await admin({ upstreams: [u], auth: { authorize: () => true }, ...options });
    const servers = '/api/9/http/upstreams/app/servers';
    return { u, url, servers, port: new URL(url).port };
  }
  const add = { server: '127.0.0.1:6666', weight: 1000 };

  it('refuses a write in a body a page elsewhere could send without a preflight (text/plain, a form)', async () => {
    const { u, url, servers } = await open();
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const r = await call(url, 'POST', servers, { body: add, headers: { 'content-type': type } });
      expect([type, r.status, r.json]).toEqual([
        type,
        415,
        apiError(415, 'UnsupportedMediaType', 'writes take Content-Type: application/json'),
      ]);
    }
    expect(u.peers.length).toBe(1);
    const json = await call(url, 'POST', servers, {
      body: add,
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    expect(json.status).toBe(201);
  });

  it('refuses writes a browser sends from another site, by Origin or Sec-Fetch-Site', async () => {
    const { u, url, servers, port } = await open();
    const crossSite = apiError(403, 'CrossSiteRequest', 'cross-site write refused');
    const attempts: Array<Record<string, string>> = [
      { origin: 'http://evil.example' },
      { origin: `http://127.0.0.1:${Number(port) + 1}` },
      { origin: `https://127.0.0.1:${port}x` },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site', origin: `http://127.0.0.1:${port}` },
    ];
    for (const headers of attempts) {
      const r = await call(url, 'POST', servers, { body: add, headers });
      expect([headers, r.status, r.json]).toEqual([headers, 403, crossSite]);
      const d = await call(url, 'DELETE', `${servers}/0`, { headers });
      expect([headers, d.status]).toEqual([headers, 403]);
    }
    expect(u.peers.length).toBe(1);
    // The dashboard's own requests: same origin.
    const own = await call(url, 'PATCH', `${servers}/0`, {
      body: { weight: 2 },
      headers: { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin' },
    });
    expect(own.status).toBe(200);
  });

  it('takes writes from the origins it is told to trust', async () => {
    const { url, servers } = await open({ trustedOrigins: ['https://ops.example.com'] });
    const r = await call(url, 'PATCH', `${servers}/0`, {
      body: { weight: 3 },
      headers: { origin: 'https://ops.example.com' },
    });
    expect(r.status).toBe(200);
    expect(
      thrown(() => createAdminApi({ upstreams: [], trustedOrigins: ['https://ops.example.com/path'] })),
    ).toEqual({
      code: 'SWY_ERR_INVALID_OPTION',
      message:
        'trustedOrigins[0]: expected an origin like "https://ops.example.com", got "https://ops.example.com/path"',
    });
  });

  it('answers only the host names it is given, against DNS rebinding', async () => {
    const { url, port } = await open({ allowedHosts: ['LocalHost', 'admin.internal'] });
    const refused = apiError(403, 'HostNotAllowed', 'host not allowed');
    for (const host of [`127.0.0.1:${port}`, 'evil.example', 'localhost.evil.example']) {
      for (const path of ['/api/9/nginx', '/dashboard']) {
        const r = await call(url, 'GET', path, { headers: { host } });
        expect([host, path, r.status, r.json]).toEqual([host, path, 403, refused]);
      }
    }
    for (const host of [`localhost:${port}`, 'admin.internal', 'ADMIN.internal:80']) {
      expect([host, (await call(url, 'GET', '/api/9/nginx', { headers: { host } })).status]).toEqual([
        host,
        200,
      ]);
    }
    expect(thrown(() => createAdminApi({ upstreams: [], allowedHosts: 'localhost' as never }))).toEqual({
      code: 'SWY_ERR_INVALID_OPTION',
      message: 'allowedHosts: expected a list of non-empty strings, got "localhost"',
    });
  });

  it('answers times past what it can hold with 400 and their own code, for PATCH and POST alike', async () => {
    const { u, url, servers } = await open();
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ fail_timeout: 1e308 }, 'UpstreamBadFailTimeout', 'invalid "fail_timeout"'],
      [{ fail_timeout: 1e16 }, 'UpstreamBadFailTimeout', 'invalid "fail_timeout"'],
      [{ fail_timeout: '99999999999999999' }, 'UpstreamBadFailTimeout', 'invalid "fail_timeout"'],
      [{ slow_start: 1e308 }, 'UpstreamBadSlowStart', 'invalid "slow_start"'],
    ];
    for (const [body, code, text] of cases) {
      const patch = await call(url, 'PATCH', `${servers}/0`, { body });
      expect([body, patch.status, patch.json]).toEqual([body, 400, apiError(400, code, text)]);
      const post = await call(url, 'POST', servers, { body: { server: '127.0.0.1:7', ...body } });
      expect([body, post.status, post.json]).toEqual([body, 400, apiError(400, code, text)]);
    }
    // The largest time it holds is taken.
    const max = await call(url, 'PATCH', `${servers}/0`, { body: { fail_timeout: 9_007_199_254_740 } });
    expect(max.status).toBe(200);
    expect(u.peers.length).toBe(1);
  });

  it('applies a write whole or not at all: a refused time leaves the route as it was', async () => {
    const { u, url, servers } = await open();
    const r = await call(url, 'PATCH', `${servers}/0`, { body: { route: '', fail_timeout: 1e308 } });
    expect(r.status).toBe(400);
    expect((u.peers[0] as Peer).route).toBe('ra');
    const cleared = await call(url, 'PATCH', `${servers}/0`, { body: { route: '' } });
    expect(cleared.status).toBe(200);
    expect((u.peers[0] as Peer).route).toBe(undefined);
  });

  it('treats names of Object.prototype in the path as any unknown path', async () => {
    const { url } = await open();
    const notFound = apiError(404, 'PathNotFound', 'path not found');
    for (const path of [
      '/api/9/constructor',
      '/api/9/toString/x',
      '/api/9/__proto__',
      '/api/9/hasOwnProperty',
      '/api/9/http/constructor',
      '/api/9/http/valueOf/x',
      '/api/9/stream/toString',
    ]) {
      const r = await get(url, path);
      expect([path, r.status, r.json]).toEqual([path, 404, notFound]);
    }
    // The real empty collections still answer.
    expect((await get(url, '/api/9/slabs')).json).toEqual({});
  });
});
