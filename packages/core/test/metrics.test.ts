import { createServer } from 'node:http';
import { connZone, createLimits, rateZone } from '@switchyard/limit';
import {
  type Backend,
  type Listening,
  listen,
  manualClock,
  startBackend,
  waitFor,
} from '@switchyard/testkit';
import { Counter, Registry } from 'prom-client';
import { Counter as Counter14, Registry as Registry14 } from 'prom-client-14';
import { afterEach, describe, expect, it } from 'vitest';
import { countTraffic, createAdminApi } from '../src/index.js';
import { createMetrics, type MetricsOptions, STATE_VALUES } from '../src/metrics/index.js';
import type { Peer } from '../src/peer/index.js';
import { createProxy } from '../src/proxy/index.js';
import { createUpstream, type Upstream } from '../src/upstream/index.js';
import { front, send } from './helpers.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

/** A backend that answers the status in the path: `/404` → 404. */
async function statusBackend(): Promise<Backend> {
  const b = await startBackend((req, res) => {
    res.statusCode = Number(req.url?.slice(1)) || 200;
    res.end('body');
  });
  closers.push(() => b.close());
  return b;
}

async function proxied(upstream: Upstream): Promise<Listening> {
  const proxy = createProxy({ upstream });
  const f = await front(proxy);
  closers.push(
    () => f.close(),
    () => proxy.close(),
  );
  return f;
}

/** The exposition parsed: samples by `name{labels}`, and each family's type. */
function parse(text: string): { samples: Record<string, number>; types: Record<string, string> } {
  const samples: Record<string, number> = {};
  const types: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types[type[1] as string] = type[2] as string;
    if (line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return { samples, types };
}

/** The samples whose name starts with `prefix`. */
function only(samples: Record<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries(Object.entries(samples).filter(([k]) => k.startsWith(prefix)));
}

function thrown(fn: () => unknown): { code: unknown; message: unknown } | undefined {
  try {
    fn();
  } catch (err) {
    return { code: (err as { code?: unknown }).code, message: (err as Error).message };
  }
  return undefined;
}

describe('Prometheus metrics', () => {
  it('names and types every family after the NGINX Prometheus exporter', async () => {
    const u = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9001'] });
    const { types } = parse(await createMetrics({ upstreams: [u] }).metrics());
    const cacheCounters = ['hit', 'stale', 'updating', 'revalidated', 'miss', 'expired', 'bypass'].flatMap(
      (o) => [
        [`nginxplus_cache_${o}_responses`, 'counter'],
        [`nginxplus_cache_${o}_bytes`, 'counter'],
      ],
    );
    expect(types).toEqual({
      nginxplus_up: 'gauge',
      nginxplus_connections_accepted: 'counter',
      nginxplus_connections_dropped: 'counter',
      nginxplus_connections_active: 'gauge',
      nginxplus_connections_idle: 'gauge',
      nginxplus_http_requests_total: 'counter',
      nginxplus_http_requests_current: 'gauge',
      nginxplus_upstream_keepalive: 'gauge',
      nginxplus_upstream_zombies: 'gauge',
      nginxplus_upstream_server_state: 'gauge',
      nginxplus_upstream_server_active: 'gauge',
      nginxplus_upstream_server_limit: 'gauge',
      nginxplus_upstream_server_requests: 'counter',
      nginxplus_upstream_server_responses: 'counter',
      nginxplus_upstream_server_responses_codes: 'counter',
      nginxplus_upstream_server_sent: 'counter',
      nginxplus_upstream_server_received: 'counter',
      nginxplus_upstream_server_fails: 'counter',
      nginxplus_upstream_server_unavail: 'counter',
      nginxplus_upstream_server_header_time: 'gauge',
      nginxplus_upstream_server_response_time: 'gauge',
      nginxplus_upstream_server_health_checks_checks: 'counter',
      nginxplus_upstream_server_health_checks_fails: 'counter',
      nginxplus_upstream_server_health_checks_unhealthy: 'counter',
      nginxplus_cache_size: 'gauge',
      nginxplus_cache_max_size: 'gauge',
      nginxplus_cache_cold: 'gauge',
      ...Object.fromEntries(cacheCounters),
      nginxplus_cache_expired_responses_written: 'counter',
      nginxplus_cache_expired_bytes_written: 'counter',
      nginxplus_cache_bypass_responses_written: 'counter',
      nginxplus_cache_bypass_bytes_written: 'counter',
      nginxplus_limit_request_passed: 'counter',
      nginxplus_limit_request_delayed: 'counter',
      nginxplus_limit_request_rejected: 'counter',
      nginxplus_limit_request_delayed_dry_run: 'counter',
      nginxplus_limit_request_rejected_dry_run: 'counter',
      nginxplus_limit_connection_passed: 'counter',
      nginxplus_limit_connection_rejected: 'counter',
      nginxplus_limit_connection_rejected_dry_run: 'counter',
    });
  });

  it('reads the peers’ counters when scraped, labelled by upstream and server', async () => {
    const a = await statusBackend();
    const b = await statusBackend();
    const u = createUpstream({ name: 'app', servers: [a.url, { url: b.url, maxConns: 4 }] });
    const f = await proxied(u);
    const metrics = createMetrics({ upstreams: [u] });
    const [pa, pb] = u.peers as [Peer, Peer];
    const expected = () => {
      const per = (p: Peer) => {
        const l = `upstream="app",server="${p.id}"`;
        const r = p.stats().responses;
        const samples: Record<string, number> = {
          [`nginxplus_upstream_server_state{${l}}`]: 1,
          [`nginxplus_upstream_server_active{${l}}`]: 0,
          [`nginxplus_upstream_server_limit{${l}}`]: p.maxConns,
          [`nginxplus_upstream_server_requests{${l}}`]: p.requests,
          [`nginxplus_upstream_server_responses{${l},code="1xx"}`]: r['1xx'],
          [`nginxplus_upstream_server_responses{${l},code="2xx"}`]: r['2xx'],
          [`nginxplus_upstream_server_responses{${l},code="3xx"}`]: r['3xx'],
          [`nginxplus_upstream_server_responses{${l},code="4xx"}`]: r['4xx'],
          [`nginxplus_upstream_server_responses{${l},code="5xx"}`]: r['5xx'],
          [`nginxplus_upstream_server_sent{${l}}`]: p.sent,
          [`nginxplus_upstream_server_received{${l}}`]: p.received,
          [`nginxplus_upstream_server_fails{${l}}`]: 0,
          [`nginxplus_upstream_server_unavail{${l}}`]: 0,
          [`nginxplus_upstream_server_header_time{${l}}`]: Math.round(p.headerTimeMs),
          [`nginxplus_upstream_server_response_time{${l}}`]: Math.round(p.responseTimeMs),
          [`nginxplus_upstream_server_health_checks_checks{${l}}`]: 0,
          [`nginxplus_upstream_server_health_checks_fails{${l}}`]: 0,
          [`nginxplus_upstream_server_health_checks_unhealthy{${l}}`]: 0,
        };
        for (const [code, n] of Object.entries(r.codes)) {
          samples[`nginxplus_upstream_server_responses_codes{${l},code="${code}"}`] = n;
        }
        return samples;
      };
      return { ...per(pa), ...per(pb) };
    };
    const scrape = async () => only(parse(await metrics.metrics()).samples, 'nginxplus_upstream_server_');

    expect(await scrape()).toEqual(expected());
    expect(
      (await scrape())[`nginxplus_upstream_server_requests{upstream="app",server="${a.hostPort}"}`],
    ).toBe(0);
    // Round robin: a gets /200 and /503, b gets /404 and /200.
    for (const path of ['/200', '/404', '/503', '/200']) await send(f.url, { path });
    const after = await scrape();
    expect(after).toEqual(expected());
    expect(
      [pa, pb].map((p) => [
        after[`nginxplus_upstream_server_requests{upstream="app",server="${p.id}"}`],
        after[`nginxplus_upstream_server_responses_codes{upstream="app",server="${p.id}",code="200"}`],
      ]),
    ).toEqual([
      [2, 1],
      [2, 1],
    ]);
    expect(after[`nginxplus_upstream_server_received{upstream="app",server="${a.hostPort}"}`]).toBe(8);
    expect(
      after[`nginxplus_upstream_server_responses{upstream="app",server="${b.hostPort}",code="4xx"}`],
    ).toBe(1);
  });

  it('maps each peer state to the exporter’s number', async () => {
    const clock = manualClock();
    const servers = ['up', 'draining', 'down', 'unavail', 'checking', 'unhealthy'].map(
      (_, i) => `http://127.0.0.1:${9001 + i}`,
    );
    const u = createUpstream({ name: 'app', clock, servers });
    const [, draining, down, unavail, checking, unhealthy] = u.peers as Peer[];
    u.drain((draining as Peer).id);
    u.patch((down as Peer).id, { down: true });
    u.begin(unavail as Peer);
    u.release(unavail as Peer, { failure: 'error' });
    const policy = { fails: 1, passes: 1, mandatory: true, persistent: false };
    u.watchHealth(checking as Peer, policy);
    u.observeHealth(unhealthy as Peer, { passed: false }, policy);
    const { samples } = parse(await createMetrics({ upstreams: [u] }).metrics());
    expect(only(samples, 'nginxplus_upstream_server_state')).toEqual(
      Object.fromEntries(
        u.peers.map((p, i) => [`nginxplus_upstream_server_state{upstream="app",server="${p.id}"}`, i + 1]),
      ),
    );
    expect(STATE_VALUES).toEqual({ up: 1, draining: 2, down: 3, unavail: 4, checking: 5, unhealthy: 6 });
    expect(
      only(samples, 'nginxplus_upstream_server_unavail')[
        `nginxplus_upstream_server_unavail{upstream="app",server="${(unavail as Peer).id}"}`
      ],
    ).toBe(1);
  });

  it('drops a removed server’s series, counting it as a zombie while it serves', async () => {
    const u = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] });
    const metrics = createMetrics({ upstreams: { web: u } });
    const gone = u.peers[0] as Peer;
    u.begin(gone); // a request in flight
    u.remove(gone.id);
    let { samples } = parse(await metrics.metrics());
    expect(only(samples, 'nginxplus_upstream_server_requests')).toEqual({
      'nginxplus_upstream_server_requests{upstream="web",server="127.0.0.1:9002"}': 0,
    });
    expect([
      samples['nginxplus_upstream_zombies{upstream="web"}'],
      samples['nginxplus_upstream_keepalive{upstream="web"}'],
    ]).toEqual([1, 0]);
    u.release(gone, { failure: 'none' });
    ({ samples } = parse(await metrics.metrics()));
    expect(samples['nginxplus_upstream_zombies{upstream="web"}']).toBe(0);
  });

  it('counts client connections and requests on the servers it is given', async () => {
    const a = await statusBackend();
    const f = await proxied(createUpstream({ name: 'app', servers: [a.url] }));
    const metrics = createMetrics({
      upstreams: [createUpstream({ name: 'x', servers: [a.url] })],
      servers: [f.server],
    });
    closers.push(() => metrics.close());
    // A second counter, read synchronously to wait until the connections closed (agent: false).
    const watch = countTraffic([f.server]);
    closers.push(() => watch.close());
    for (const path of ['/', '/', '/204']) await send(f.url, { path });
    const scrape = async () => only(parse(await metrics.metrics()).samples, 'nginxplus_');
    await waitFor(() => watch.connections().accepted === 3 && watch.connections().idle === 0);
    const s = await scrape();
    expect([
      s.nginxplus_connections_accepted,
      s.nginxplus_connections_dropped,
      s.nginxplus_connections_active,
      s.nginxplus_connections_idle,
      s.nginxplus_http_requests_total,
      s.nginxplus_http_requests_current,
      s.nginxplus_up,
    ]).toEqual([3, 0, 0, 0, 3, 0, 1]);
    // close() stops counting.
    metrics.close();
    await send(f.url);
    expect((await scrape()).nginxplus_http_requests_total).toBe(3);
  });

  it('reports cache zones through their stats()', async () => {
    const metrics = createMetrics({
      upstreams: [],
      caches: {
        pages: {
          stats: () => ({
            size: 4096,
            maxSize: 8192,
            cold: true,
            hit: { responses: 9, bytes: 900 },
            miss: { responses: 2, bytes: 200 },
            expired: { responses: 1, bytes: 10, responsesWritten: 1, bytesWritten: 10 },
            bypass: { responsesWritten: 3 },
          }),
        },
      },
    });
    const { samples } = parse(await metrics.metrics());
    const z = (name: string) => `nginxplus_cache_${name}{zone="pages"}`;
    expect(only(samples, 'nginxplus_cache_')).toEqual({
      [z('size')]: 4096,
      [z('max_size')]: 8192,
      [z('cold')]: 1,
      [z('hit_responses')]: 9,
      [z('hit_bytes')]: 900,
      [z('stale_responses')]: 0,
      [z('stale_bytes')]: 0,
      [z('updating_responses')]: 0,
      [z('updating_bytes')]: 0,
      [z('revalidated_responses')]: 0,
      [z('revalidated_bytes')]: 0,
      [z('miss_responses')]: 2,
      [z('miss_bytes')]: 200,
      [z('expired_responses')]: 1,
      [z('expired_bytes')]: 10,
      [z('bypass_responses')]: 0,
      [z('bypass_bytes')]: 0,
      [z('expired_responses_written')]: 1,
      [z('expired_bytes_written')]: 10,
      [z('bypass_responses_written')]: 3,
      [z('bypass_bytes_written')]: 0,
    });
  });

  it('reports limit_req and limit_conn zones with the exporter’s names, help and zone label, read when scraped', async () => {
    const req = { passed: 9, delayed: 2, rejected: 3, delayed_dry_run: 1, rejected_dry_run: 4 };
    const first = {
      limitReqs: () => ({ one: { ...req } }),
      limitConns: () => ({ addr: { passed: 5, rejected: 1, rejected_dry_run: 0 } }),
    };
    const zero = { passed: 0, delayed: 0, rejected: 0, delayed_dry_run: 0, rejected_dry_run: 0 };
    const second = {
      limitReqs: () => ({ one: { ...zero, passed: 100 }, two: { ...zero, rejected: 7 } }),
      limitConns: () => ({}),
    };
    const metrics = createMetrics({ upstreams: [], limits: [first, second] });
    const text = await metrics.metrics();
    const { samples } = parse(text);
    expect(only(samples, 'nginxplus_limit_')).toEqual({
      'nginxplus_limit_request_passed{zone="one"}': 9,
      'nginxplus_limit_request_passed{zone="two"}': 0,
      'nginxplus_limit_request_delayed{zone="one"}': 2,
      'nginxplus_limit_request_delayed{zone="two"}': 0,
      'nginxplus_limit_request_rejected{zone="one"}': 3,
      'nginxplus_limit_request_rejected{zone="two"}': 7,
      'nginxplus_limit_request_delayed_dry_run{zone="one"}': 1,
      'nginxplus_limit_request_delayed_dry_run{zone="two"}': 0,
      'nginxplus_limit_request_rejected_dry_run{zone="one"}': 4,
      'nginxplus_limit_request_rejected_dry_run{zone="two"}': 0,
      'nginxplus_limit_connection_passed{zone="addr"}': 5,
      'nginxplus_limit_connection_rejected{zone="addr"}': 1,
      'nginxplus_limit_connection_rejected_dry_run{zone="addr"}': 0,
    });
    // The help texts are the exporter's (collector/nginx_plus.go).
    expect(text).toContain(
      '# HELP nginxplus_limit_request_passed Total number of requests that were neither limited nor accounted as limited\n',
    );
    expect(text).toContain(
      '# HELP nginxplus_limit_request_delayed_dry_run Total number of requests accounted as delayed in the dry run mode\n',
    );
    expect(text).toContain(
      '# HELP nginxplus_limit_connection_rejected Total number of connections that were rejected\n',
    );
    // Read again on each scrape.
    req.rejected = 30;
    expect(parse(await metrics.metrics()).samples['nginxplus_limit_request_rejected{zone="one"}']).toBe(30);
    // Without limits the families are there, with no series.
    const none = parse(await createMetrics({ upstreams: [] }).metrics());
    expect(only(none.samples, 'nginxplus_limit_')).toEqual({});
  });

  it('reads a real limiter from @switchyard/limit on each scrape', async () => {
    const limiter = createLimits({
      req: [{ zone: rateZone({ name: 'perip', rate: '1r/m' }) }],
      conn: [{ zone: connZone({ name: 'addr' }), max: 10 }],
    });
    const metrics = createMetrics({ upstreams: [], limits: limiter });
    const client = { headers: {}, socket: { remoteAddress: '192.0.2.1' } };
    const first = await limiter.check(client);
    first.release();
    // 1 r/m: refused by limit_req, so limit_conn never sees it.
    expect((await limiter.check(client)).action).toBe('reject');
    expect(only(parse(await metrics.metrics()).samples, 'nginxplus_limit_')).toEqual({
      'nginxplus_limit_request_passed{zone="perip"}': 1,
      'nginxplus_limit_request_delayed{zone="perip"}': 0,
      'nginxplus_limit_request_rejected{zone="perip"}': 1,
      'nginxplus_limit_request_delayed_dry_run{zone="perip"}': 0,
      'nginxplus_limit_request_rejected_dry_run{zone="perip"}': 0,
      'nginxplus_limit_connection_passed{zone="addr"}': 1,
      'nginxplus_limit_connection_rejected{zone="addr"}': 0,
      'nginxplus_limit_connection_rejected_dry_run{zone="addr"}': 0,
    });
    limiter.resetLimitReq();
    const after = parse(await metrics.metrics()).samples;
    expect(after['nginxplus_limit_request_rejected{zone="perip"}']).toBe(0);
  });

  it('adds its metrics to a registry it is given, beside others', async () => {
    const registry = new Registry();
    new Counter({ name: 'app_logins', help: 'Logins', registers: [registry] }).inc(3);
    const u = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9001'] });
    const metrics = createMetrics({ upstreams: [u], registry });
    expect(metrics.registry).toBe(registry);
    const text = await registry.metrics();
    expect(text).toContain('app_logins 3\n');
    expect(text).toContain('nginxplus_upstream_server_requests{upstream="app",server="127.0.0.1:9001"} 0\n');
  });

  it('takes a Registry from another copy of prom-client, here major 14', async () => {
    const registry = new Registry14();
    new Counter14({ name: 'app_logins', help: 'Logins', registers: [registry] }).inc(2);
    const a = await statusBackend();
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const f = await proxied(u);
    const metrics = createMetrics({ upstreams: [u], registry });
    expect(metrics.registry).toBe(registry);
    await send(f.url, { path: '/201' });
    const text = await registry.metrics();
    expect(text).toContain('app_logins 2\n');
    expect(text).toContain('# TYPE nginxplus_upstream_server_requests counter\n');
    expect(text).toContain(`nginxplus_upstream_server_requests{upstream="app",server="${a.hostPort}"} 1\n`);
    expect(text).toContain(`nginxplus_upstream_server_state{upstream="app",server="${a.hostPort}"} 1\n`);
    expect(await metrics.metrics()).toBe(text);
    expect(metrics.contentType).toBe(registry.contentType);
  });

  it('serves the text format from its own handler', async () => {
    const u = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9001'] });
    const metrics = createMetrics({ upstreams: [u] });
    const l = await listen(createServer(metrics.handler));
    closers.push(() => l.close());
    const r = await send(l.url, { path: '/anything' });
    expect([r.status, r.headers['content-type'], metrics.contentType]).toEqual([
      200,
      'text/plain; version=0.0.4; charset=utf-8',
      'text/plain; version=0.0.4; charset=utf-8',
    ]);
    expect(r.body).toBe(await metrics.metrics());
  });

  it('is what the admin API serves at /metrics, with the traffic it counts', async () => {
    const a = await statusBackend();
    const u = createUpstream({ name: 'app', servers: [a.url] });
    const f = await proxied(u);
    const traffic = countTraffic([f.server]);
    closers.push(() => traffic.close());
    const metrics = createMetrics({ upstreams: [u], stats: traffic });
    const api = createAdminApi({ upstreams: [u], stats: traffic, metrics });
    closers.push(() => api.close());
    const l = await listen(createServer(api.handler));
    closers.push(() => l.close());
    await send(f.url, { path: '/201' });
    const { samples } = parse((await send(l.url, { path: '/metrics' })).body);
    expect([
      samples.nginxplus_http_requests_total,
      samples[`nginxplus_upstream_server_responses_codes{upstream="app",server="${a.hostPort}",code="201"}`],
    ]).toEqual([1, 1]);
  });

  it('asks an UpstreamSource for its groups on each scrape, so a group made later shows up', async () => {
    const a = await statusBackend();
    const b = await statusBackend();
    const app = createUpstream({ name: 'app', servers: [a.url] });
    const list: Upstream[] = [app];
    const metrics = createMetrics({ upstreams: { groups: () => list } });
    const before = parse(await metrics.metrics()).samples;
    expect(only(before, 'nginxplus_upstream_server_requests')).toEqual({
      [`nginxplus_upstream_server_requests{upstream="app",server="${a.hostPort}"}`]: 0,
    });

    const late = createUpstream({ name: 'late', servers: [b.url] });
    list.push(late);
    const f = await proxied(late);
    await send(f.url, { path: '/201' });
    const after = parse(await metrics.metrics()).samples;
    expect(only(after, 'nginxplus_upstream_server_requests')).toEqual({
      [`nginxplus_upstream_server_requests{upstream="app",server="${a.hostPort}"}`]: 0,
      [`nginxplus_upstream_server_requests{upstream="late",server="${b.hostPort}"}`]: 1,
    });
    expect(only(after, 'nginxplus_upstream_zombies')).toEqual({
      'nginxplus_upstream_zombies{upstream="app"}': 0,
      'nginxplus_upstream_zombies{upstream="late"}': 0,
    });
    expect(
      after[`nginxplus_upstream_server_responses{upstream="late",server="${b.hostPort}",code="2xx"}`],
    ).toBe(1);
  });

  it('names a source’s groups by upstream.name, the first of two with one name winning', async () => {
    const first = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9001'] });
    const second = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9002'] });
    const { samples } = parse(
      await createMetrics({ upstreams: { groups: () => [first, second] } }).metrics(),
    );
    expect(Object.keys(only(samples, 'nginxplus_upstream_server_state'))).toEqual([
      'nginxplus_upstream_server_state{upstream="app",server="127.0.0.1:9001"}',
    ]);
  });

  it('rejects bad options when it is built, naming the option', () => {
    const u = createUpstream({ name: 'app', servers: ['http://127.0.0.1:9'] });
    const bad: Array<[unknown, string]> = [
      [undefined, 'options: expected an object, got undefined'],
      [
        { upstreams: 'app' },
        'upstreams: expected an array or a record of Upstreams, or an object with a groups() method, got "app"',
      ],
      [
        { upstreams: { groups: () => undefined } },
        'upstreams.groups(): expected an iterable of Upstreams, got undefined',
      ],
      [{ upstreams: { groups: () => [{}] } }, 'upstreams.groups()[0]: expected an Upstream, got {}'],
      [{ upstreams: { a: 1 } }, 'upstreams.a: expected an Upstream, got 1'],
      [{ upstreams: [u], caches: [] }, 'caches: expected an object, got []'],
      [
        { upstreams: [u], caches: { c: { stats: () => ({}), resetStats: 1 } } },
        'caches.c.resetStats: expected a function, got 1',
      ],
      [{ upstreams: [u], registry: {} }, 'registry: expected a prom-client Registry, got {}'],
      [
        { upstreams: [u], limits: 'x' },
        'limits: expected an object with limitReqs() and limitConns() methods (a Limiter), or an array of them, got "x"',
      ],
      [
        { upstreams: [u], limits: [{ limitConns: () => ({}) }] },
        'limits[0]: expected an object with limitReqs() and limitConns() methods (a Limiter), got {}',
      ],
      [
        { upstreams: [u], servers: [], stats: { connections: () => 0, requests: () => 0 } },
        'stats: give either servers or stats, not both',
      ],
      [
        { upstreams: [u], namespace: 'x' },
        'namespace: unknown option (known: upstreams, caches, limits, servers, stats, registry)',
      ],
    ];
    for (const [options, message] of bad) {
      expect(thrown(() => createMetrics(options as MetricsOptions))).toEqual({
        code: 'SWY_ERR_INVALID_OPTION',
        message,
      });
    }
  });
});
