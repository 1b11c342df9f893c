import { mkdtempSync, rmSync } from 'node:fs';
import {
  createServer as createHttpServer,
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CacheLookup, createCache, diskStore, memoryStore, type ProxyCache } from '@switchyard/cache';
import {
  conformance,
  deadPort,
  type Listening,
  listen,
  manualClock,
  startBackend,
  waitFor,
} from '@switchyard/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAdminApi, createProxy, createUpstream, type ReverseProxy } from '../src/index.js';
import { front as frontFor, send } from './helpers.js';

interface Case {
  suite: string;
  id: number;
  upstreamResponse: { status: number; headers: string[] };
  /** The answer to backend call n is entry n - 1 (past the end, the last one). */
  upstreamResponses?: { status: number; headers: string[] }[];
  requestUri: string;
  methods: string[];
  /** Header lines sent with request i. */
  requestHeaders?: string[][];
  /** Pause between the requests when not ~150 ms. */
  gapMs?: number;
  xCacheStatus: (string | null)[];
  statuses: number[];
  upstreamCalls: number;
  upstreamMethods: string[];
}

const vectors = conformance<{ suites: Record<string, unknown>; cases: Case[] }>('cache.json');
const VALID: Record<string, Record<number, string> | undefined> = {
  'cache-with-proxy_cache_valid': { 200: '10m', 302: '10m', 404: '1m' },
  'cache-without-proxy_cache_valid': undefined,
};

/** A header of the vectors, with times relative to the request made the way the recorder made them. */
function materialise(header: string, now: number): [string, string] {
  const colon = header.indexOf(':');
  const value = header
    .slice(colon + 1)
    .trim()
    .replace(/<HTTP-date now([+-]\d+)s>/, (_, s: string) => new Date(now + Number(s) * 1000).toUTCString())
    .replace(/<unix time now([+-]\d+)s>/, (_, s: string) => String(Math.floor(now / 1000) + Number(s)));
  return [header.slice(0, colon), value];
}

/** The backend's answer to call `n` (from 1) of a case, as the recorder chose it. */
function answerFor(c: Case | undefined, n: number): { status: number; headers: string[] } {
  const list = c?.upstreamResponses ?? [];
  return list[Math.min(n, list.length) - 1] ?? c?.upstreamResponse ?? { status: 500, headers: [] };
}

describe('cache.json conformance through a switchyard proxy with a memory cache', () => {
  const clock = manualClock(Date.now());
  const byCase = new Map<string, Case>();
  const seen = new Map<string, string[]>();
  let backend: Listening;
  const fronts = new Map<string, Listening>();
  const proxies: ReverseProxy[] = [];

  beforeAll(async () => {
    for (const c of vectors.cases)
      byCase.set(new URL(c.requestUri, 'http://x').searchParams.get('case') as string, c);
    backend = await listen(
      createServer((req: IncomingMessage, res: ServerResponse) => {
        req.resume();
        req.on('end', () => {
          const key = new URL(req.url ?? '/', 'http://x').searchParams.get('case') ?? '';
          const c = byCase.get(key);
          const methods = seen.get(req.url ?? '') ?? [];
          methods.push(req.method ?? '');
          seen.set(req.url ?? '', methods);
          const body = `case ${key} #${methods.length}\n`;
          const answer = answerFor(c, methods.length);
          const headers: string[] = [];
          for (const h of answer.headers) headers.push(...materialise(h, clock()));
          headers.push('content-type', 'text/plain', 'content-length', String(Buffer.byteLength(body)));
          res.writeHead(answer.status, headers);
          res.end(body);
        });
      }),
    );
    for (const suite of Object.keys(vectors.suites)) {
      const cache = createCache({ valid: VALID[suite], now: clock, store: memoryStore({ now: clock }) });
      const proxy = createProxy({ upstream: { name: 'backend', servers: [backend.url] }, cache });
      proxies.push(proxy);
      fronts.set(suite, await frontFor(proxy));
    }
  });
  afterAll(async () => {
    for (const f of fronts.values()) await f.close();
    for (const p of proxies) await p.close();
    await backend?.close();
  });

  it('has the vectors of both suites', () => {
    expect(vectors.cases).toHaveLength(58);
    expect(Object.keys(vectors.suites).sort()).toEqual(Object.keys(VALID).sort());
  });

  for (const c of vectors.cases) {
    it(`${c.suite} #${c.id}: ${c.upstreamResponse.status} ${c.upstreamResponse.headers.join(' | ')}`, async () => {
      const statuses: number[] = [];
      const cacheStatus: (string | null)[] = [];
      for (const [i, method] of c.methods.entries()) {
        const headers = Object.fromEntries(
          (c.requestHeaders?.[i] ?? []).map((line) => {
            const colon = line.indexOf(':');
            return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
          }),
        );
        const r = await send((fronts.get(c.suite) as Listening).url, { method, path: c.requestUri, headers });
        statuses.push(r.status);
        const x = r.headers['x-cache-status'];
        cacheStatus.push(typeof x === 'string' ? x : null);
        clock.advance(c.gapMs ?? 150); // nginx's requests were about 150 ms (or gapMs) apart
      }
      const upstream = seen.get(c.requestUri) ?? [];
      expect({ cacheStatus, statuses, calls: upstream.length, methods: upstream }).toEqual({
        cacheStatus: c.xCacheStatus,
        statuses: c.statuses,
        calls: c.upstreamCalls,
        methods: c.upstreamMethods,
      });
    });
  }
});

describe('the proxy with a cache', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()?.();
  });

  it('collapses concurrent misses of one key into one upstream request with lock', async () => {
    const slow = await startBackend(async (_req, res) => {
      await new Promise((r) => setTimeout(r, 50));
      res.setHeader('cache-control', 'max-age=60');
      res.end('expensive');
    });
    closers.push(() => slow.close());
    const proxy = createProxy({
      upstream: { name: 'app', servers: [slow.url] },
      cache: createCache({ lock: true, store: memoryStore() }),
    });
    const f = await frontFor(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    const replies = await Promise.all(Array.from({ length: 50 }, () => send(f.url, { path: '/page' })));
    expect(new Set(replies.map((r) => r.body))).toEqual(new Set(['expensive']));
    expect(slow.requests).toHaveLength(1);
    expect(replies.filter((r) => r.headers['x-cache-status'] === 'MISS')).toHaveLength(1);
  });

  it('gives a disk hit its read buffer back once the response has finished, not before', async () => {
    const page = Buffer.alloc(100 * 1024, 'page A. ');
    const backend = await startBackend((_req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.end(page);
    });
    const dir = mkdtempSync(join(tmpdir(), 'swy-core-disk-'));
    const store = diskStore({ path: dir });
    const cache = createCache({ store });
    const events: string[] = [];
    // The cache as the proxy sees it, noting when a hit's buffer is given back.
    const noting: ProxyCache = {
      lookup: (req) => {
        const note = (l: CacheLookup): CacheLookup => {
          const r = l.response;
          if (r?.finished === undefined) return l;
          const finished = r.finished;
          const noted = (): void => {
            events.push('given back');
            finished();
          };
          return { ...l, response: { ...r, finished: noted } };
        };
        const l = cache.lookup(req);
        return l instanceof Promise ? l.then(note) : note(l);
      },
    };
    const proxy = createProxy({ upstream: { name: 'app', servers: [backend.url] }, cache: noting });
    let responses = 0;
    const server = await listen(
      createServer((req, res) => {
        const n = ++responses;
        res.on('finish', () => events.push(`response ${n} finished`));
        proxy.handler(req, res);
      }),
    );
    closers.push(
      () => rmSync(dir, { recursive: true, force: true }),
      () => backend.close(),
      () => store.close(),
      () => proxy.close(),
      () => server.close(),
    );
    await send(server.url, { path: '/a' });
    await waitFor(() => (store.usage?.().sizeBytes ?? 0) > page.length);
    const hit = await send(server.url, { path: '/a' });
    expect([hit.headers['x-cache-status'], hit.body === page.toString()]).toEqual(['HIT', true]);
    await waitFor(() => events.length === 3);
    expect(events).toEqual(['response 1 finished', 'response 2 finished', 'given back']);
  });

  it('serves a stale entry when every peer fails, with useStale error', async () => {
    const clock = manualClock(Date.now());
    const b = await startBackend((_req, res) => {
      res.setHeader('cache-control', 'max-age=1');
      res.end('fresh once');
    });
    closers.push(() => b.close());
    const upstream = createUpstream({
      name: 'app',
      servers: [b.url, `http://127.0.0.1:${await deadPort()}`],
    });
    const proxy = createProxy({
      upstream,
      cache: createCache({ useStale: ['error'], now: clock, store: memoryStore({ now: clock }) }),
    });
    const f = await frontFor(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    expect((await send(f.url, { path: '/s' })).headers['x-cache-status']).toBe('MISS');
    await b.close();
    clock.advance(5_000);
    const r = await send(f.url, { path: '/s' });
    expect([r.status, r.body, r.headers['x-cache-status']]).toEqual([200, 'fresh once', 'STALE']);
  });

  it("names the cache status on the proxy's own 502 when the upstream is down (EXPIRED, MISS)", async () => {
    const clock = manualClock(Date.now());
    const b = await startBackend((_req, res) => {
      res.setHeader('cache-control', 'max-age=1');
      res.end('fresh once');
    });
    closers.push(() => b.close());
    const proxy = createProxy({
      upstream: { name: 'app', servers: [b.url] },
      cache: createCache({ now: clock, store: memoryStore({ now: clock }) }),
      onError: () => {},
    });
    const f = await frontFor(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    expect((await send(f.url, { path: '/e' })).headers['x-cache-status']).toBe('MISS');
    await b.close();
    clock.advance(5_000);
    const expired = await send(f.url, { path: '/e' });
    const missing = await send(f.url, { path: '/never' });
    expect([expired.status, expired.headers['x-cache-status']]).toEqual([502, 'EXPIRED']);
    expect([missing.status, missing.headers['x-cache-status']]).toEqual([502, 'MISS']);
    // RFC 9211: the cache forwarded (stale entry, or none stored) and got no answer.
    expect([expired.headers['cache-status'], missing.headers['cache-status']]).toEqual([
      'switchyard; fwd=stale',
      'switchyard; fwd=uri-miss',
    ]);
  });

  it('purges by key prefix and by tag through the admin API', async () => {
    const b = await startBackend((req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.setHeader('surrogate-key', req.url?.startsWith('/a') ? 'alpha' : 'other');
      res.end(`body of ${req.url}`);
    });
    closers.push(() => b.close());
    const cache = createCache({ store: memoryStore() });
    const proxy = createProxy({ upstream: { name: 'app', servers: [b.url] }, cache });
    const f = await frontFor(proxy);
    const admin = createAdminApi({
      upstreams: [proxy.upstream],
      caches: { app: cache },
      auth: { token: 't0k' },
    });
    const a = await listen(createHttpServer(admin.handler));
    closers.push(
      () => f.close(),
      () => proxy.close(),
      () => a.close(),
      () => admin.close(),
    );
    const status = async (path: string) => (await send(f.url, { path })).headers['x-cache-status'];
    for (const p of ['/a1', '/a2', '/b1']) expect(await status(p)).toBe('MISS');
    for (const p of ['/a1', '/a2', '/b1']) expect(await status(p)).toBe('HIT');
    const auth = { authorization: 'Bearer t0k' };
    const refused = await send(a.url, { method: 'DELETE', path: '/api/9/http/caches/app/keys?key=http*' });
    expect(refused.status).toBe(401);
    const byTag = await send(a.url, {
      method: 'DELETE',
      path: '/api/9/http/caches/app/keys?tag=alpha',
      headers: auth,
    });
    expect([byTag.status, JSON.parse(byTag.body)]).toEqual([200, { purged: 2 }]);
    expect([await status('/a1'), await status('/b1')]).toEqual(['MISS', 'HIT']);
    const byPrefix = await send(a.url, {
      method: 'DELETE',
      path: '/api/9/http/caches/app/keys?key=http*',
      headers: auth,
    });
    // left: /a1 (stored again just now) and /b1
    expect([byPrefix.status, JSON.parse(byPrefix.body)]).toEqual([200, { purged: 2 }]);
    expect(await status('/b1')).toBe('MISS');
    const bad = await send(a.url, { method: 'DELETE', path: '/api/9/http/caches/app/keys', headers: auth });
    expect([bad.status, JSON.parse(bad.body).error.code]).toEqual([400, 'CacheBadPurge']);
  });

  it("keys a page by the Host it forwards: one client's Host cannot poison another's page", async () => {
    const b = await startBackend((req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.end(`page for ${req.headers.host}`);
    });
    closers.push(() => b.close());
    const preserve = createProxy({
      upstream: { name: 'app', servers: [b.url] },
      cache: createCache({ store: memoryStore() }),
    });
    const peer = createProxy({
      upstream: { name: 'app', servers: [b.url] },
      host: 'peer',
      cache: createCache({ store: memoryStore() }),
    });
    const [p, q] = [await frontFor(preserve), await frontFor(peer)];
    closers.push(
      () => p.close(),
      () => preserve.close(),
      () => q.close(),
      () => peer.close(),
    );
    const get = async (url: string, host: string) => {
      const r = await send(url, { path: '/home', headers: { host } });
      return [r.body, r.headers['x-cache-status']];
    };
    expect(await get(p.url, 'evil.example')).toEqual(['page for evil.example', 'MISS']);
    expect(await get(p.url, 'shop.example')).toEqual(['page for shop.example', 'MISS']);
    expect(await get(p.url, 'shop.example')).toEqual(['page for shop.example', 'HIT']);
    // With the peer's own Host sent (nginx's default), the client's Host changes nothing.
    const own = new URL(b.url).host;
    expect(await get(q.url, 'evil.example')).toEqual([`page for ${own}`, 'MISS']);
    expect(await get(q.url, 'shop.example')).toEqual([`page for ${own}`, 'HIT']);
  });

  it('rejects a cache without lookup()', () => {
    expect(() =>
      createProxy({ upstream: { name: 'x', servers: ['http://127.0.0.1:9'] }, cache: {} as never }),
    ).toThrow('cache: expected a cache with lookup() (createCache from @switchyard/cache), got {}');
  });
});

describe('a cache and sticky sessions together', () => {
  it('stores the response without the sticky Set-Cookie, which only its own client gets', async () => {
    const { stickyCookie } = await import('@switchyard/balancers');
    const b = await startBackend((_req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.end('shared page');
    });
    const proxy = createProxy({
      upstream: { name: 'app', servers: [b.url], persistence: stickyCookie({ name: 'srv' }) },
      cache: createCache({ store: memoryStore() }),
    });
    const f = await frontFor(proxy);
    try {
      const first = await send(f.url, { path: '/p' });
      const second = await send(f.url, { path: '/p' });
      expect([first.headers['x-cache-status'], second.headers['x-cache-status']]).toEqual(['MISS', 'HIT']);
      expect(String(first.headers['set-cookie'])).toMatch(/^srv=/);
      expect(second.headers['set-cookie']).toBeUndefined();
    } finally {
      await f.close();
      await proxy.close();
      await b.close();
    }
  });
});
