import { describe, expect, it } from 'vitest';
import type { CacheStoreError } from '../errors.js';
import { entrySize, memoryStore } from '../memory-store/index.js';
import type { CacheEntry, CacheForward, CacheLookup, CacheRequest, CacheStore } from '../types.js';
import { type CacheOptions, createCache } from './index.js';

function clock(start = Date.UTC(2030, 0, 1)) {
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

/** Plays the proxy's part for one upstream response. */
function upstream(f: CacheForward, status: number, headers: string[], body = 'body'): string[] {
  const list = headers.slice();
  const replaced = f.head(status, list);
  expect(replaced).toBeUndefined();
  f.data(Buffer.from(body));
  f.end();
  return list;
}

function setup(options: CacheOptions = {}) {
  const now = clock();
  const cache = createCache({ now, store: memoryStore({ now }), ...options });
  return { cache, now };
}

describe('createCache as a ProxyCache: the calls the proxy makes', () => {
  it('answers a miss synchronously with the exchange to perform, then a hit from the stored entry', () => {
    const { cache } = setup({ valid: { 200: '1m' } });
    const miss = sync(cache.lookup(req('/a', { 'if-none-match': '"x"' })));
    expect(miss.response).toBeUndefined();
    const f = miss.forward as CacheForward;
    expect([f.cacheStatus, f.method, f.background]).toEqual(['MISS', 'GET', false]);
    expect(f.requestHeaders).toEqual([['if-none-match', undefined]]);
    const sent = upstream(f, 200, ['Content-Type', 'text/plain', 'Connection', 'keep-alive']);
    expect(sent).toEqual([
      'Content-Type',
      'text/plain',
      'Connection',
      'keep-alive',
      'X-Cache-Status',
      'MISS',
      'Cache-Status',
      'switchyard; fwd=uri-miss; stored',
    ]);

    const hit = sync(cache.lookup(req('/a')));
    expect(hit.forward).toBeUndefined();
    expect(hit.response).toEqual({
      status: 200,
      headers: [
        'content-type',
        'text/plain',
        'content-length',
        '4',
        'X-Cache-Status',
        'HIT',
        'Cache-Status',
        'switchyard; hit; ttl=60',
      ],
      body: Buffer.from('body'),
      bodyLength: 4,
      cacheStatus: 'HIT',
    });
  });

  it('fetches a HEAD as GET and answers a HEAD with no body', () => {
    const { cache } = setup({ valid: { 200: '1m' } });
    const f = sync(cache.lookup(req('/h', {}, 'HEAD'))).forward as CacheForward;
    expect(f.method).toBe('GET');
    upstream(f, 200, [], 'hello');
    const head = sync(cache.lookup(req('/h', {}, 'HEAD'))).response;
    expect([head?.body, head?.headers]).toEqual([
      null,
      ['content-length', '5', 'X-Cache-Status', 'HIT', 'Cache-Status', 'switchyard; hit; ttl=60'],
    ]);
  });

  it('leaves other methods alone: no status, no header changes, hooks do nothing', () => {
    const { cache } = setup({ valid: { 200: '1m' } });
    const f = sync(cache.lookup(req('/p', { range: 'bytes=0-1' }, 'POST'))).forward as CacheForward;
    expect([f.cacheStatus, f.method, f.requestHeaders]).toEqual([undefined, 'POST', []]);
    const list: string[] = [];
    expect(f.head(200, list)).toBeUndefined();
    expect(list).toEqual([]);
  });

  it('ignores hooks after the exchange ended', () => {
    const { cache } = setup({ valid: { 200: '1m' } });
    const f = sync(cache.lookup(req())).forward as CacheForward;
    f.abort();
    upstream(f, 200, []);
    expect(sync(cache.lookup(req())).forward?.cacheStatus).toBe('MISS');
  });

  it('serves a stale entry when the proxy gives up (useStale error, timeout)', () => {
    const { cache, now } = setup({ valid: { 200: '1s' }, useStale: ['timeout'] });
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [], 'old');
    now.advance(1000);
    const f = sync(cache.lookup(req())).forward as CacheForward;
    expect(f.cacheStatus).toBe('EXPIRED');
    const r = f.fail('timeout');
    expect([r?.status, r?.cacheStatus, String(r?.body)]).toEqual([200, 'STALE', 'old']);
    const g = sync(cache.lookup(req())).forward as CacheForward;
    expect(g.fail('error')).toBeUndefined();
  });

  it('serves a stale entry instead of a listed upstream status', () => {
    const { cache, now } = setup({ valid: { 200: '1s' }, useStale: ['http_502'] });
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [], 'old');
    now.advance(1000);
    const f = sync(cache.lookup(req())).forward as CacheForward;
    const r = f.head(502, []);
    expect([r?.status, r?.cacheStatus]).toEqual([200, 'STALE']);
    const g = sync(cache.lookup(req())).forward as CacheForward;
    expect(g.head(503, [])).toBeUndefined();
  });

  it('serves stale on error within stale-if-error without useStale', () => {
    const { cache, now } = setup();
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=1, stale-if-error=10',
    ]);
    now.advance(5000);
    expect((sync(cache.lookup(req())).forward as CacheForward).fail('error')?.cacheStatus).toBe('STALE');
    now.advance(10_000);
    expect((sync(cache.lookup(req())).forward as CacheForward).fail('error')).toBeUndefined();
  });

  it('passes an upstream 500 through within stale-if-error when useStale does not name it', () => {
    const { cache, now } = setup();
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'cache-control',
      'max-age=1, stale-if-error=30',
    ]);
    now.advance(2000);
    const f = sync(cache.lookup(req())).forward as CacheForward;
    expect(f.cacheStatus).toBe('EXPIRED');
    const sent = ['content-type', 'text/plain'];
    expect(f.head(500, sent)).toBeUndefined();
    expect(sent).toEqual([
      'content-type',
      'text/plain',
      'X-Cache-Status',
      'EXPIRED',
      'Cache-Status',
      'switchyard; fwd=stale',
    ]);
  });

  it('answers 304 only when If-Modified-Since and If-None-Match both match, as nginx does', () => {
    const { cache } = setup({ valid: { 200: '1m' } });
    const lm = 'Tue, 01 Jan 2030 00:00:00 GMT';
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, ['ETag', '"e1"', 'Last-Modified', lm]);
    const status = (h: CacheRequest['headers']) => sync(cache.lookup(req('/a', h))).response?.status;
    expect(status({ 'if-none-match': '"e1"', 'if-modified-since': lm })).toBe(304);
    expect(status({ 'if-none-match': '"e1"', 'if-modified-since': 'Wed, 02 Jan 2030 00:00:00 GMT' })).toBe(
      200,
    );
    expect(status({ 'if-none-match': '"zz", *' })).toBe(200);
  });

  it('serves one Accept-Encoding variant to values that differ in spacing only', () => {
    const { cache } = setup({ valid: { 200: '1m' } });
    const f = sync(cache.lookup(req('/v', { 'accept-encoding': 'gzip, br' }))).forward as CacheForward;
    upstream(f, 200, ['vary', 'accept-encoding']);
    expect(sync(cache.lookup(req('/v', { 'accept-encoding': 'gzip,br' }))).response?.cacheStatus).toBe('HIT');
    expect(sync(cache.lookup(req('/v', { 'accept-encoding': 'br, gzip' }))).forward?.cacheStatus).toBe(
      'MISS',
    );
  });

  it('stores a response to a request with Authorization and serves it to the next client, as nginx does', () => {
    const { cache } = setup({ valid: { 200: '1m' } });
    const f = sync(cache.lookup(req('/me', { authorization: 'Bearer alice' }))).forward as CacheForward;
    upstream(f, 200, [], 'alice');
    const anonymous = sync(cache.lookup(req('/me'))).response;
    expect([anonymous?.cacheStatus, String(anonymous?.body)]).toEqual(['HIT', 'alice']);
  });

  it('keeps requests with credentials away from the cache with the README setting', () => {
    const personal = (r: CacheRequest) =>
      r.headers.authorization !== undefined || r.headers.cookie !== undefined;
    const { cache } = setup({ valid: { 200: '1m' }, bypass: personal, noCache: personal });
    upstream(sync(cache.lookup(req('/me'))).forward as CacheForward, 200, [], 'anonymous');
    const signedIn = sync(cache.lookup(req('/me', { cookie: 'session=1' }))).forward as CacheForward;
    expect(signedIn.cacheStatus).toBe('BYPASS');
    upstream(signedIn, 200, [], 'alice');
    const next = sync(cache.lookup(req('/me'))).response;
    expect([next?.cacheStatus, String(next?.body)]).toEqual(['HIT', 'anonymous']);
  });

  it('revalidates with the stored validators and refreshes the entry on 304', () => {
    const { cache, now } = setup({ valid: { 200: '1s' }, revalidate: true });
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [
      'ETag',
      '"e1"',
      'Last-Modified',
      'Tue, 01 Jan 2030 00:00:00 GMT',
    ]);
    now.advance(1000);
    const f = sync(cache.lookup(req('/a', { 'if-modified-since': 'x' }))).forward as CacheForward;
    expect(f.requestHeaders).toEqual([
      ['if-modified-since', undefined],
      ['if-none-match', '"e1"'],
      ['if-modified-since', 'Tue, 01 Jan 2030 00:00:00 GMT'],
    ]);
    const r = f.head(304, ['cache-control', 'max-age=60']);
    expect([r?.status, r?.cacheStatus, String(r?.body)]).toEqual([200, 'REVALIDATED', 'body']);
    now.advance(59_000);
    expect(sync(cache.lookup(req())).response?.cacheStatus).toBe('HIT');
  });

  it('starts a background update beside the stale response', () => {
    const { cache, now } = setup({ valid: { 200: '1s' }, useStale: ['updating'], backgroundUpdate: true });
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, [], 'old');
    now.advance(1000);
    const l = sync(cache.lookup(req()));
    expect([l.response?.cacheStatus, String(l.response?.body), l.forward?.background]).toEqual([
      'STALE',
      'old',
      true,
    ]);
    // While it runs, others are told UPDATING.
    expect(sync(cache.lookup(req())).response?.cacheStatus).toBe('UPDATING');
    upstream(l.forward as CacheForward, 200, [], 'new');
    const hit = sync(cache.lookup(req())).response;
    expect([hit?.cacheStatus, String(hit?.body)]).toEqual(['HIT', 'new']);
  });

  it('lets another request refresh once the updating one is older than lockAgeMs', () => {
    const { cache, now } = setup({ valid: { 200: '1s' }, useStale: ['updating'], lockAgeMs: 2000 });
    upstream(sync(cache.lookup(req())).forward as CacheForward, 200, []);
    now.advance(1000);
    expect(sync(cache.lookup(req())).forward?.cacheStatus).toBe('EXPIRED');
    expect(sync(cache.lookup(req())).response?.cacheStatus).toBe('UPDATING');
    now.advance(2000);
    expect(sync(cache.lookup(req())).forward?.cacheStatus).toBe('EXPIRED');
  });
});

describe('createCache: lock', () => {
  it('makes later lookups of a new key wait, then answers them HIT from the first response', async () => {
    const { cache } = setup({ valid: { 200: '1m' }, lock: true });
    const first = sync(cache.lookup(req())).forward as CacheForward;
    const waiting = cache.lookup(req());
    expect(waiting).toBeInstanceOf(Promise);
    upstream(first, 200, [], 'one');
    const l = await waiting;
    expect([l.response?.cacheStatus, String(l.response?.body)]).toEqual(['HIT', 'one']);
  });

  it('sends waiters upstream when the first exchange breaks off', async () => {
    const { cache } = setup({ valid: { 200: '1m' }, lock: true });
    const first = sync(cache.lookup(req())).forward as CacheForward;
    const waiting = cache.lookup(req());
    first.abort();
    const l = await waiting;
    expect([l.response, l.forward?.cacheStatus]).toEqual([undefined, 'MISS']);
  });

  it('does not hand a waiter a variant of another request', async () => {
    const { cache } = setup({ valid: { 200: '1m' }, lock: true });
    const first = sync(cache.lookup(req('/v', { 'accept-language': 'de' }))).forward as CacheForward;
    const waiting = cache.lookup(req('/v', { 'accept-language': 'fr' }));
    upstream(first, 200, ['vary', 'accept-language'], 'de');
    const l = await waiting;
    expect(l.forward?.cacheStatus).toBe('MISS');
  });
});

describe('createCache: store failures', () => {
  const entry = (): CacheEntry => ({
    status: 200,
    headers: [],
    body: Buffer.from('x'),
    storedAt: 0,
    expiresAt: Number.MAX_SAFE_INTEGER,
    updatingMs: 0,
    errorMs: 0,
    etag: undefined,
    lastModified: undefined,
    vary: undefined,
    variant: undefined,
    tags: [],
  });

  function failing(mode: 'throw' | 'reject'): CacheStore {
    const fail = (): never => {
      throw new Error('store down');
    };
    const reject = () => Promise.reject(new Error('store down'));
    const f = mode === 'throw' ? fail : reject;
    return { get: f, set: f, delete: f, deletePrefix: f, deleteTag: f };
  }

  for (const mode of ['throw', 'reject'] as const) {
    it(`goes upstream (MISS) and reports when the store ${mode}s`, async () => {
      const errors: CacheStoreError[] = [];
      const cache = createCache({
        valid: { 200: '1m' },
        store: failing(mode),
        onStoreError: (e) => errors.push(e),
      });
      const l = await cache.lookup(req());
      expect(l.forward?.cacheStatus).toBe('MISS');
      upstream(l.forward as CacheForward, 200, []);
      await Promise.resolve();
      expect(errors.map((e) => [e.code, e.operation, e.message])).toEqual([
        ['SWY_ERR_CACHE_STORE', 'get', 'cache store get: store down'],
        ['SWY_ERR_CACHE_STORE', 'set', 'cache store set: store down'],
      ]);
      await expect(cache.purge('k')).rejects.toMatchObject({ code: 'SWY_ERR_CACHE_STORE' });
      await expect(cache.purgeTag('t')).rejects.toMatchObject({ code: 'SWY_ERR_CACHE_STORE' });
    });
  }

  it('answers with a promise when the store does', async () => {
    const stored = entry();
    const store: CacheStore = {
      get: async () => stored,
      set: async () => {},
      delete: async () => true,
      deletePrefix: async () => 0,
      deleteTag: async () => 0,
    };
    const l = createCache({ store }).lookup(req());
    expect(l).toBeInstanceOf(Promise);
    expect((await l).response?.cacheStatus).toBe('HIT');
  });
});

describe('createCache: purge', () => {
  it('purges an exact key with its variants, a prefix, and a tag', async () => {
    const { cache } = setup({ valid: { 200: '1m' } });
    const put = (url: string, headers: string[], reqHeaders: CacheRequest['headers'] = {}) => {
      const f = sync(cache.lookup(req(url, reqHeaders))).forward as CacheForward;
      upstream(f, 200, headers);
    };
    put('/v', ['vary', 'accept-language'], { 'accept-language': 'de' });
    put('/v', ['vary', 'accept-language'], { 'accept-language': 'fr' });
    put('/p/1', []);
    put('/p/2', []);
    put('/t/1', ['surrogate-key', 'news sport']);
    put('/t/2', ['cache-tag', 'news']);
    put('/t/3', ['cache-tag', 'weather']);
    expect(cache.keyOf(req('/v'))).toBe('httpexample.com/v');
    expect(await cache.purge('httpexample.com/v')).toBe(2);
    expect(await cache.purge('httpexample.com/p/*')).toBe(2);
    expect(await cache.purgeTag('news')).toBe(2);
    const status = (url: string, h: CacheRequest['headers'] = {}) => {
      const l = sync(cache.lookup(req(url, h)));
      l.forward?.abort();
      return l.response?.cacheStatus ?? l.forward?.cacheStatus;
    };
    expect([
      status('/v', { 'accept-language': 'fr' }),
      status('/p/1'),
      status('/t/1'),
      status('/t/2'),
      status('/t/3'),
    ]).toEqual(['MISS', 'MISS', 'MISS', 'MISS', 'HIT']);
    await expect(cache.purge('')).rejects.toThrow('pattern: expected a key, or a prefix ending in *');
  });
});

describe('createCache: stats', () => {
  it('counts responses and bytes by cache status, as NGINX Plus reports a zone', () => {
    const { cache, now } = setup({
      valid: { 200: '1s' },
      useStale: ['error'],
      bypass: (r) => r.url === '/b',
    });
    const f = sync(cache.lookup(req())).forward as CacheForward;
    upstream(f, 200, [], 'four');
    sync(cache.lookup(req()));
    sync(cache.lookup(req('/a', {}, 'HEAD')));
    upstream(sync(cache.lookup(req('/b'))).forward as CacheForward, 200, ['set-cookie', 'x=1'], 'bypassed');
    now.advance(1000);
    (sync(cache.lookup(req())).forward as CacheForward).fail('error');
    const entry = sync(cache.lookup(req())).forward;
    upstream(entry as CacheForward, 200, [], 'fresh');
    const size = entrySize('httpexample.com/a', {
      status: 200,
      headers: [],
      body: Buffer.from('fresh'),
      storedAt: 0,
      expiresAt: 0,
      updatingMs: 0,
      errorMs: 0,
      etag: undefined,
      lastModified: undefined,
      vary: undefined,
      variant: undefined,
      tags: [],
    });
    expect(cache.stats()).toEqual({
      size,
      maxSize: 64 * 1024 * 1024,
      cold: false,
      hit: { responses: 2, bytes: 4 },
      stale: { responses: 1, bytes: 4 },
      updating: { responses: 0, bytes: 0 },
      revalidated: { responses: 0, bytes: 0 },
      miss: { responses: 1, bytes: 4, responsesWritten: 1, bytesWritten: 4 },
      expired: { responses: 1, bytes: 5, responsesWritten: 1, bytesWritten: 5 },
      bypass: { responses: 1, bytes: 8, responsesWritten: 0, bytesWritten: 0 },
    });
    cache.resetStats();
    expect(cache.stats().hit).toEqual({ responses: 0, bytes: 0 });
    expect(cache.stats().miss).toEqual({ responses: 0, bytes: 0, responsesWritten: 0, bytesWritten: 0 });
  });
});

describe('createCache: options', () => {
  it('names the bad option and its value', () => {
    const bad: [CacheOptions, string][] = [
      [{ minUses: 0 }, 'minUses: expected a positive integer, got 0'],
      [{ useStale: ['stale' as 'error'] }, 'useStale[0]: expected one of "error", "timeout", "updating"'],
      [{ lockTimeoutMs: -1 }, 'lockTimeoutMs: expected a positive integer, got -1'],
      [{ maxEntryBytes: 1.5 }, 'maxEntryBytes: expected a positive integer, got 1.5'],
      [{ methods: ['G ET'] }, 'methods[0]: expected a method name, got "G ET"'],
      [{ statusHeader: 'X Cache' }, 'statusHeader: expected a header name or false, got "X Cache"'],
      [{ store: {} as CacheStore }, 'store: expected a CacheStore (with get())'],
      [{ valid: { 200: 'soon' } }, 'valid.200: expected an nginx time'],
      [{ key: '$nope' }, 'key: expected known variables only, got "$nope"'],
      [{ bypass: 'yes' as unknown as () => boolean }, 'bypass: expected a function, got "yes"'],
      [{ lock: 'yes' as unknown as boolean }, 'lock: expected a boolean, got "yes"'],
    ];
    for (const [options, message] of bad) {
      expect(() => createCache(options), message).toThrow(message);
      try {
        createCache(options);
      } catch (err) {
        expect((err as { code: string }).code).toBe('SWY_ERR_INVALID_OPTION');
      }
    }
  });
});
