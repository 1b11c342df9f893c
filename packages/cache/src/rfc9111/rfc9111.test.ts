import { describe, expect, it } from 'vitest';
import { type CacheOptions, createCache } from '../cache/index.js';
import { InvalidOptionError } from '../errors.js';
import { formatHttpDate } from '../headers/index.js';
import { memoryStore } from '../memory-store/index.js';
import { resolveHeaderRules, resolveValid } from '../policy/index.js';
import type { CachedResponse, CacheForward, CacheLookup, CacheRequest } from '../types.js';
import {
  cacheStatusValue,
  invalidatedTargets,
  parseCacheControl,
  requestDirectives,
  rfcFreshness,
  usable,
} from './index.js';

const T0 = Date.UTC(2030, 0, 1);

function clock(start = T0) {
  let t = start;
  const now = () => t;
  return Object.assign(now, { advance: (ms: number) => (t += ms) });
}

const req = (url = '/a', headers: CacheRequest['headers'] = {}, method = 'GET'): CacheRequest => ({
  method,
  url,
  headers: { host: 'example.com', ...headers },
});

function sync(l: CacheLookup | Promise<CacheLookup>): CacheLookup {
  if (l instanceof Promise) throw new Error('expected a synchronous answer');
  return l;
}

function setup(options: CacheOptions = {}) {
  const now = clock();
  const cache = createCache({ now, store: memoryStore({ now }), semantics: 'rfc9111', ...options });
  return { cache, now };
}

/** Plays the proxy's part for one upstream response; the header list as sent. */
function upstream(f: CacheForward, status: number, headers: string[], body = 'body'): string[] {
  const list = headers.slice();
  expect(f.head(status, list)).toBeUndefined();
  f.data(Buffer.from(body));
  f.end();
  return list;
}

const header = (r: CachedResponse | undefined, name: string) => {
  const h = r?.headers ?? [];
  for (let i = 0; i < h.length; i += 2) if (h[i]?.toLowerCase() === name) return h[i + 1];
  return undefined;
};

const settings = {
  valid: resolveValid(undefined),
  rules: resolveHeaderRules(undefined),
  heuristicMaxMs: 86_400_000,
};
const times = { requestTime: T0, responseTime: T0 };

describe('rfc9111 rules (pure)', () => {
  it('parses Cache-Control directives, values quoted or not, the first occurrence winning', () => {
    const d = parseCacheControl(['Max-Age=60, no-cache="set-cookie", private', 'max-age=5, s-maxage="10"']);
    expect([...d]).toEqual([
      ['max-age', '60'],
      ['no-cache', 'set-cookie'],
      ['private', true],
      ['s-maxage', '10'],
    ]);
  });

  it('takes s-maxage over max-age over Expires - Date', () => {
    const date = formatHttpDate(T0);
    const life = (cc: string) =>
      rfcFreshness(
        200,
        ['date', date, 'expires', formatHttpDate(T0 + 30_000), 'cache-control', cc],
        false,
        times,
        settings,
      );
    expect(life('max-age=10, s-maxage=20')?.expiresAt).toBe(T0 + 20_000);
    expect(life('max-age=10')?.expiresAt).toBe(T0 + 10_000);
    expect(life('public')?.expiresAt).toBe(T0 + 30_000);
  });

  it('counts Age, the response delay and the apparent age (§4.2.3)', () => {
    // Sent 5 s before it came (clock skew), took 2 s, and an upstream cache says Age: 10.
    const f = rfcFreshness(
      200,
      ['date', formatHttpDate(T0 - 5000), 'age', '10', 'cache-control', 'max-age=60'],
      false,
      { requestTime: T0 - 2000, responseTime: T0 },
      settings,
    );
    expect(f?.storedAt).toBe(T0 - 12_000);
    expect(f?.expiresAt).toBe(T0 + 48_000);
  });

  it('gives a heuristic lifetime of 10 % of Date - Last-Modified, capped at a day', () => {
    const date = formatHttpDate(T0);
    const lm = (ms: number) => ['date', date, 'last-modified', formatHttpDate(T0 - ms)];
    expect(rfcFreshness(200, lm(100_000_000), false, times, settings)?.expiresAt).toBe(T0 + 10_000_000);
    expect(rfcFreshness(200, lm(100 * 86_400_000), false, times, settings)?.expiresAt).toBe(T0 + 86_400_000);
    // 302 is not heuristically cacheable.
    expect(rfcFreshness(302, lm(100_000_000), false, times, settings)).toBeUndefined();
  });

  it('refuses no-store, private, 206, and Authorization without public, s-maxage or must-revalidate', () => {
    const ok = ['cache-control', 'max-age=60'];
    expect(
      rfcFreshness(200, ['cache-control', 'max-age=60, no-store'], false, times, settings),
    ).toBeUndefined();
    expect(
      rfcFreshness(200, ['cache-control', 'private, max-age=60'], false, times, settings),
    ).toBeUndefined();
    expect(rfcFreshness(206, ok, false, times, settings)).toBeUndefined();
    expect(rfcFreshness(200, ok, true, times, settings)).toBeUndefined();
    for (const cc of ['public, max-age=60', 's-maxage=60', 'must-revalidate, max-age=60']) {
      expect(rfcFreshness(200, ['cache-control', cc], true, times, settings)).toBeDefined();
    }
  });

  it('stores a no-cache response with a validator already stale, and refuses one without', () => {
    const f = rfcFreshness(
      200,
      ['cache-control', 'no-cache, max-age=60', 'etag', '"x"'],
      false,
      times,
      settings,
    );
    expect(f?.expiresAt).toBe(T0);
    expect(
      rfcFreshness(200, ['cache-control', 'no-cache, max-age=60'], false, times, settings),
    ).toBeUndefined();
  });

  it('reads request directives and judges an entry by them', () => {
    const entry = { storedAt: T0, expiresAt: T0 + 60_000, headers: [] };
    const at = (cc: string, now: number) => usable(entry, requestDirectives({ 'cache-control': cc }), now);
    expect(at('max-age=30', T0 + 20_000)).toBe('fresh');
    expect(at('max-age=30', T0 + 40_000)).toBe('no');
    expect(at('min-fresh=30', T0 + 40_000)).toBe('no');
    expect(at('max-stale=10', T0 + 65_000)).toBe('stale');
    expect(at('max-stale', T0 + 600_000)).toBe('stale');
    expect(at('max-stale=10', T0 + 75_000)).toBe('no');
    expect(at('no-cache', T0)).toBe('no');
    const strict = { ...entry, headers: ['cache-control', 'max-age=60, must-revalidate'] };
    expect(usable(strict, requestDirectives({ 'cache-control': 'max-stale' }), T0 + 65_000)).toBe('no');
  });

  it('invalidates Location and Content-Location of the same origin only', () => {
    const h = ['location', '/b?x=1', 'content-location', 'https://other.example/c'];
    expect(invalidatedTargets('/a', 'http://example.com', h)).toEqual(['/a', '/b?x=1']);
  });

  it('writes Cache-Status members as RFC 9211 does', () => {
    expect(cacheStatusValue('s', { hit: true, ttlMs: 1500 })).toBe('s; hit; ttl=1');
    expect(cacheStatusValue('s', { fwd: 'stale', fwdStatus: 304, stored: true })).toBe(
      's; fwd=stale; fwd-status=304; stored',
    );
  });
});

describe("createCache({ semantics: 'rfc9111' })", () => {
  it('refuses a bad semantics or cacheStatusName, naming the option', () => {
    expect(() => createCache({ semantics: 'squid' as never })).toThrow(InvalidOptionError);
    expect(() => createCache({ semantics: 'squid' as never })).toThrow(/semantics/);
    expect(() => createCache({ cacheStatusName: 'a b' })).toThrow(/cacheStatusName/);
  });

  it('sends Cache-Status on a miss, a hit and not at all when turned off', () => {
    const { cache, now } = setup();
    const sent = upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=60',
    ]);
    expect(sent.slice(-2)).toEqual(['Cache-Status', 'switchyard; fwd=uri-miss; stored']);
    now.advance(10_000);
    const hit = sync(cache.lookup(req())).response;
    expect(header(hit, 'cache-status')).toBe('switchyard; hit; ttl=50');
    expect(header(hit, 'age')).toBe('10');
    const off = createCache({ cacheStatusName: false, valid: '1m' });
    const list = upstream(sync(off.lookup(req())).forward as CacheForward, 200, []);
    expect(list).toEqual(['X-Cache-Status', 'MISS']);
  });

  it('uses a custom cache name and keeps an upstream Cache-Status in the entry', () => {
    const { cache } = setup({ cacheStatusName: 'edge' });
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=60',
      'cache-status',
      'origin-cache; hit',
    ]);
    const hit = sync(cache.lookup(req())).response;
    expect(hit?.headers.filter((_, i, h) => h[i - 1]?.toLowerCase() === 'cache-status')).toEqual([
      'origin-cache; hit',
      'edge; hit; ttl=60',
    ]);
  });

  it('counts a received Age: an entry already 50 s old of 60 is fresh for 10 s more', () => {
    const { cache, now } = setup();
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=60',
      'age',
      '50',
    ]);
    expect(header(sync(cache.lookup(req())).response, 'age')).toBe('50');
    now.advance(10_000);
    expect(sync(cache.lookup(req())).forward?.cacheStatus).toBe('EXPIRED');
  });

  it('caches heuristically from Last-Modified only in this mode', () => {
    const lm = ['date', formatHttpDate(T0), 'last-modified', formatHttpDate(T0 - 1_000_000)];
    const { cache, now } = setup();
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, lm);
    now.advance(99_000);
    expect(sync(cache.lookup(req())).response?.cacheStatus).toBe('HIT');
    const nginx = createCache({ now, store: memoryStore({ now }) });
    upstream(sync(nginx.lookup(req())).forward as CacheForward, 200, lm);
    expect(sync(nginx.lookup(req())).response).toBeUndefined();
  });

  it('revalidates a no-cache response on every use and updates its headers from the 304', () => {
    const { cache, now } = setup();
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'no-cache',
      'etag',
      '"v1"',
      'x-version',
      '1',
    ]);
    const f = sync(cache.lookup(req())).forward as CacheForward;
    expect(f.cacheStatus).toBe('EXPIRED');
    expect(f.requestHeaders).toEqual([['if-none-match', '"v1"']]);
    now.advance(1000);
    const r = f.head(304, ['x-version', '2', 'cache-control', 'max-age=30']);
    expect(r?.cacheStatus).toBe('REVALIDATED');
    expect(header(r, 'x-version')).toBe('2');
    // The 1 s the 304 took counts as age (§4.2.3 response_delay).
    expect(header(r, 'cache-status')).toBe('switchyard; fwd=stale; fwd-status=304; ttl=29; stored');
    expect(header(sync(cache.lookup(req())).response, 'x-version')).toBe('2');
  });

  it('serves no stale entry after must-revalidate, even on an upstream error', () => {
    const { cache, now } = setup({ useStale: ['error', 'updating'] });
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=1, must-revalidate, stale-if-error=60',
    ]);
    now.advance(2000);
    const f = sync(cache.lookup(req())).forward as CacheForward;
    expect(f.fail('error')).toBeUndefined();
  });

  it('caches an Authorization request only when the response allows it (§3.5)', () => {
    const { cache } = setup();
    const auth = req('/a', { authorization: 'Bearer x' });
    upstream(sync(cache.lookup(auth)).forward as CacheForward, 200, ['cache-control', 'max-age=60']);
    expect(sync(cache.lookup(req())).response).toBeUndefined();
    upstream(sync(cache.lookup(auth)).forward as CacheForward, 200, ['cache-control', 'public, max-age=60']);
    expect(sync(cache.lookup(req())).response?.cacheStatus).toBe('HIT');
  });

  it('follows request no-cache, no-store, max-age and only-if-cached', () => {
    const { cache, now } = setup();
    const cc = (v: string) => req('/a', { 'cache-control': v });
    expect(sync(cache.lookup(cc('only-if-cached'))).response?.status).toBe(504);
    upstream(sync(cache.lookup(cc('no-store'))).forward as CacheForward, 200, [
      'cache-control',
      'max-age=60',
    ]);
    expect(sync(cache.lookup(cc('only-if-cached'))).response?.status).toBe(504);
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, ['cache-control', 'max-age=60']);
    now.advance(20_000);
    expect(sync(cache.lookup(cc('only-if-cached'))).response?.status).toBe(200);
    const nc = sync(cache.lookup(cc('no-cache'))).forward as CacheForward;
    expect(upstream(nc, 200, ['cache-control', 'max-age=60']).slice(-1)).toEqual([
      'switchyard; fwd=request; stored',
    ]);
    now.advance(20_000);
    expect(sync(cache.lookup(cc('max-age=10'))).forward?.cacheStatus).toBe('EXPIRED');
    expect(sync(cache.lookup(cc('max-age=10, only-if-cached'))).response?.status).toBe(504);
  });

  it('serves a stale entry to a request with max-stale', () => {
    const { cache, now } = setup();
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, ['cache-control', 'max-age=10']);
    now.advance(15_000);
    const r = sync(cache.lookup(req('/a', { 'cache-control': 'max-stale=10' })));
    expect([r.response?.cacheStatus, r.forward]).toEqual(['STALE', undefined]);
    expect(header(r.response, 'cache-status')).toBe('switchyard; hit; ttl=-5');
  });

  it('invalidates the target and a same-origin Location after a successful POST', async () => {
    const { cache } = setup();
    for (const url of ['/a', '/b', '/c']) {
      upstream(sync(cache.lookup(req(url))).forward as CacheForward, 200, ['cache-control', 'max-age=60']);
    }
    const post = sync(cache.lookup(req('/a', {}, 'POST'))).forward as CacheForward;
    expect(post.cacheStatus).toBeUndefined();
    post.head(201, ['location', 'http://example.com/b', 'content-location', 'http://elsewhere/c']);
    post.end();
    await new Promise((r) => setImmediate(r));
    expect(sync(cache.lookup(req('/a'))).response).toBeUndefined();
    expect(sync(cache.lookup(req('/b'))).response).toBeUndefined();
    expect(sync(cache.lookup(req('/c'))).response?.cacheStatus).toBe('HIT');
    const failed = sync(cache.lookup(req('/c', {}, 'DELETE'))).forward as CacheForward;
    failed.head(500, []);
    await new Promise((r) => setImmediate(r));
    expect(sync(cache.lookup(req('/c'))).response?.cacheStatus).toBe('HIT');
  });

  it('serves stale within stale-while-revalidate and refreshes in the background', () => {
    const { cache, now } = setup();
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=10, stale-while-revalidate=30',
    ]);
    now.advance(20_000);
    const l = sync(cache.lookup(req()));
    expect([l.response?.cacheStatus, l.forward?.background]).toEqual(['STALE', true]);
    upstream(l.forward as CacheForward, 200, ['cache-control', 'max-age=10'], 'new');
    expect(sync(cache.lookup(req())).response?.body).toEqual(Buffer.from('new'));
    now.advance(50_000);
    expect(sync(cache.lookup(req())).response).toBeUndefined();
  });

  it('serves stale-if-error for a 503 answer too, unlike nginx', () => {
    const { cache, now } = setup();
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=1, stale-if-error=60',
    ]);
    now.advance(5000);
    const f = sync(cache.lookup(req())).forward as CacheForward;
    const r = f.head(503, []);
    expect(r?.cacheStatus).toBe('STALE');
    expect(header(r, 'cache-status')).toBe('switchyard; fwd=stale; fwd-status=503; ttl=-4');
  });

  it('does not store a 206', () => {
    const { cache } = setup();
    const sent = upstream(sync(cache.lookup(req())).forward as CacheForward, 206, [
      'cache-control',
      'max-age=60',
      'content-range',
      'bytes 0-3/10',
    ]);
    expect(sent.slice(-1)).toEqual(['switchyard; fwd=uri-miss']);
    expect(sync(cache.lookup(req())).response).toBeUndefined();
  });
});

describe('Cache-Status in the default (nginx) mode', () => {
  const nginx = (options: CacheOptions = {}) => {
    const now = clock();
    return { cache: createCache({ now, store: memoryStore({ now }), ...options }), now };
  };

  it('names a revalidation, a stale answer for a 500, and a vary miss', () => {
    const { cache, now } = nginx({ revalidate: true, useStale: ['http_500'] });
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=10',
      'etag',
      '"a"',
    ]);
    now.advance(20_000);
    const r = (sync(cache.lookup(req())).forward as CacheForward).head(304, ['cache-control', 'max-age=10']);
    expect(header(r, 'cache-status')).toBe('switchyard; fwd=stale; fwd-status=304; ttl=10; stored');
    expect(header(r, 'age')).toBeUndefined();
    now.advance(20_000);
    const s = (sync(cache.lookup(req())).forward as CacheForward).head(500, []);
    expect(header(s, 'cache-status')).toBe('switchyard; fwd=stale; fwd-status=500; ttl=-10');

    upstream(sync(cache.lookup(req('/v', { 'accept-language': 'en' }))).forward as CacheForward, 200, [
      'cache-control',
      'max-age=10',
      'vary',
      'accept-language',
    ]);
    const other = sync(cache.lookup(req('/v', { 'accept-language': 'fr' }))).forward as CacheForward;
    expect(upstream(other, 200, []).slice(-1)).toEqual(['switchyard; fwd=vary-miss']);
  });

  it('marks a request that waited for the cache lock as collapsed', async () => {
    const { cache } = nginx({ lock: true, valid: '1m' });
    const first = sync(cache.lookup(req())).forward as CacheForward;
    const waiting = cache.lookup(req());
    expect(waiting).toBeInstanceOf(Promise);
    upstream(first, 200, []);
    const l = await waiting;
    expect(header(l.response, 'cache-status')).toBe('switchyard; hit; ttl=60; collapsed');
  });
});

describe('rfc9111 mode: stale use', () => {
  it('serves no UPDATING entry after must-revalidate while another request refreshes it', () => {
    const { cache, now } = setup({ useStale: ['updating'] });
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=1, must-revalidate',
    ]);
    now.advance(2000);
    expect(sync(cache.lookup(req())).forward?.cacheStatus).toBe('EXPIRED');
    const second = sync(cache.lookup(req()));
    expect([second.response, second.forward?.cacheStatus]).toEqual([undefined, 'EXPIRED']);
  });

  it('serves UPDATING from useStale, but not past s-maxage without its own window', () => {
    const plain = setup({ useStale: ['updating'] });
    upstream(sync(plain.cache.lookup(req())).forward as CacheForward, 200, ['cache-control', 'max-age=1']);
    plain.now.advance(2000);
    sync(plain.cache.lookup(req()));
    expect(sync(plain.cache.lookup(req())).response?.cacheStatus).toBe('UPDATING');

    const shared = setup({ useStale: ['updating'] });
    upstream(sync(shared.cache.lookup(req())).forward as CacheForward, 200, ['cache-control', 's-maxage=1']);
    shared.now.advance(2000);
    sync(shared.cache.lookup(req()));
    expect(sync(shared.cache.lookup(req())).response).toBeUndefined();
  });

  it('invalidates only the request target when the request has no Host', async () => {
    const { cache } = setup();
    const bare = (url: string, method = 'GET'): CacheRequest => ({
      method,
      url,
      headers: {},
      proxyHost: 'up',
    });
    for (const url of ['/a', '/b']) {
      upstream(sync(cache.lookup(bare(url))).forward as CacheForward, 200, ['cache-control', 'max-age=60']);
    }
    const put = sync(cache.lookup(bare('/a', 'PUT'))).forward as CacheForward;
    put.head(204, ['location', '/b']);
    await new Promise((r) => setImmediate(r));
    expect(sync(cache.lookup(bare('/a'))).response).toBeUndefined();
    expect(sync(cache.lookup(bare('/b'))).response?.cacheStatus).toBe('HIT');
  });
});
