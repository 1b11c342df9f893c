import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Listening, manualClock, waitFor } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type CacheOptions, createCache } from '../src/cache/index.js';
import type { CacheRequest } from '../src/types.js';
import { type Client, client, deferred, serve } from './helpers.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => unknown;

let servers: Listening[] = [];
let clients: Client[] = [];

afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(clients.map((c) => c.close()));
  servers = [];
  clients = [];
});

/** A cache around a handler on a loopback server, with a manual clock. */
async function setup(options: CacheOptions, handler: Handler) {
  const clock = manualClock(Date.UTC(2030, 0, 1));
  const cache = createCache({ now: clock, ...options });
  const calls: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
  const server = await serve(
    cache.handler((req, res) => {
      calls.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
      return handler(req, res);
    }),
  );
  const c = client();
  servers.push(server);
  clients.push(c);
  const get = (path: string, options?: { method?: string; headers?: Record<string, string> }) =>
    c.get(`${server.url}${path}`, options);
  return { cache, clock, calls, server, get };
}

const text =
  (body: string, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(200, {
      'content-type': 'text/plain',
      'content-length': String(Buffer.byteLength(body)),
      ...headers,
    });
    res.end(body);
  };

describe('cache.handler: microcaching a plain handler', () => {
  it('answers MISS, then HIT from the cache without calling the handler again', async () => {
    let n = 0;
    const { get, calls } = await setup({ valid: { 200: '1s' } }, (_req, res) => {
      n++;
      res.setHeader('content-type', 'text/plain');
      res.end(`page ${n}`);
    });
    const a = await get('/page');
    const b = await get('/page');
    expect([a.status, a.cache, a.body]).toEqual([200, 'MISS', 'page 1']);
    expect([b.status, b.cache, b.body]).toEqual([200, 'HIT', 'page 1']);
    expect(b.headers['content-type']).toBe('text/plain');
    expect(b.headers['content-length']).toBe('6');
    expect(calls.length).toBe(1);
  });

  it('goes upstream again once the entry expires', async () => {
    let n = 0;
    const { get, clock } = await setup({ valid: { 200: '1s' } }, (_req, res) => res.end(`v${++n}`));
    expect((await get('/')).cache).toBe('MISS');
    clock.advance(999);
    expect((await get('/')).cache).toBe('HIT');
    clock.advance(1);
    const c = await get('/');
    expect([c.cache, c.body]).toEqual(['EXPIRED', 'v2']);
    expect((await get('/')).body).toBe('v2');
  });

  it('does not consult the cache for other methods, and sends no status header', async () => {
    const { get, calls } = await setup({ valid: { 200: '1m' } }, text('ok'));
    const a = await get('/', { method: 'POST' });
    const b = await get('/', { method: 'POST' });
    expect([a.cache, b.cache, calls.length]).toEqual([null, null, 2]);
  });

  it('caches other methods listed in methods', async () => {
    const { get, calls } = await setup({ valid: { 200: '1m' }, methods: ['POST'] }, text('ok'));
    expect((await get('/', { method: 'POST' })).cache).toBe('MISS');
    expect((await get('/', { method: 'POST' })).cache).toBe('HIT');
    expect(calls.length).toBe(1);
  });

  it('fetches a HEAD as GET, and answers a HEAD from the GET entry', async () => {
    const { get, calls } = await setup({ valid: { 200: '1m' } }, text('hello'));
    const head = await get('/h', { method: 'HEAD' });
    expect([head.status, head.cache, head.body, head.headers['content-length']]).toEqual([
      200,
      'MISS',
      '',
      '5',
    ]);
    expect(calls.map((c) => c.method)).toEqual(['GET']);
    const full = await get('/h');
    expect([full.cache, full.body]).toEqual(['HIT', 'hello']);
    const again = await get('/h', { method: 'HEAD' });
    expect([again.cache, again.body, again.headers['content-length']]).toEqual(['HIT', '', '5']);
    expect(calls.length).toBe(1);
  });

  it('does not cache Set-Cookie, private or no-store responses', async () => {
    const { get, calls } = await setup({ valid: { 200: '1m' } }, (req, res) => {
      if (req.url === '/cookie') res.setHeader('set-cookie', 'a=1');
      if (req.url === '/private') res.setHeader('cache-control', 'private');
      if (req.url === '/nostore') res.setHeader('cache-control', 'no-store');
      res.end('x');
    });
    for (const path of ['/cookie', '/private', '/nostore']) {
      expect([(await get(path)).cache, (await get(path)).cache]).toEqual(['MISS', 'MISS']);
    }
    expect(calls.length).toBe(6);
  });

  it('keeps Vary variants apart under secondary keys', async () => {
    const { get, calls } = await setup({ valid: { 200: '1m' } }, (req, res) => {
      res.setHeader('vary', 'Accept-Language');
      res.end(`lang=${req.headers['accept-language']}`);
    });
    const de = { 'accept-language': 'de' };
    const fr = { 'accept-language': 'fr' };
    const seq = [de, fr, de, fr, de];
    const got: string[] = [];
    for (const headers of seq) {
      const r = await get('/v', { headers });
      got.push(`${r.cache} ${r.body}`);
    }
    expect(got).toEqual(['MISS lang=de', 'MISS lang=fr', 'HIT lang=de', 'HIT lang=fr', 'HIT lang=de']);
    expect(calls.length).toBe(2);
  });

  it('stores a response only after minUses requests', async () => {
    const { get, calls } = await setup({ valid: { 200: '1m' }, minUses: 2 }, text('x'));
    const seq = [];
    for (let i = 0; i < 3; i++) seq.push((await get('/m')).cache);
    expect(seq).toEqual(['MISS', 'MISS', 'HIT']);
    expect(calls.length).toBe(2);
  });

  it('bypasses the cache when bypass says so, and still stores the response', async () => {
    const { get, calls } = await setup(
      { valid: { 200: '1m' }, bypass: (req: CacheRequest) => req.headers['x-fresh'] === '1' },
      text('x'),
    );
    expect((await get('/b', { headers: { 'x-fresh': '1' } })).cache).toBe('BYPASS');
    expect((await get('/b')).cache).toBe('HIT');
    expect((await get('/b', { headers: { 'x-fresh': '1' } })).cache).toBe('BYPASS');
    expect(calls.length).toBe(2);
  });

  it('does not store what noCache refuses', async () => {
    const { get, calls } = await setup(
      { valid: { 200: '1m' }, noCache: (_req, res) => res.headers.includes('x-no-cache') },
      (req, res) => {
        if (req.url === '/no') res.setHeader('x-no-cache', '1');
        res.end('x');
      },
    );
    expect([(await get('/no')).cache, (await get('/no')).cache]).toEqual(['MISS', 'MISS']);
    expect([(await get('/yes')).cache, (await get('/yes')).cache]).toEqual(['MISS', 'HIT']);
    expect(calls.length).toBe(3);
  });

  it('answers 304 from a fresh entry whose validators the client holds', async () => {
    const { get } = await setup({ valid: { 200: '1m' } }, text('body', { etag: '"v1"' }));
    await get('/e');
    const r = await get('/e', { headers: { 'if-none-match': '"v1"' } });
    expect([r.status, r.cache, r.body]).toEqual([304, 'HIT', '']);
    const other = await get('/e', { headers: { 'if-none-match': '"v0"' } });
    expect([other.status, other.body]).toEqual([200, 'body']);
  });

  it('hides the client conditional and range headers from the handler', async () => {
    const { get, calls } = await setup({ valid: { 200: '1m' } }, text('body'));
    await get('/c', { headers: { 'if-none-match': '"x"', range: 'bytes=0-1', 'x-keep': '1' } });
    expect(calls[0]?.headers['if-none-match']).toBeUndefined();
    expect(calls[0]?.headers.range).toBeUndefined();
    expect(calls[0]?.headers['x-keep']).toBe('1');
  });

  it('uses another status header name, or none', async () => {
    const named = await setup({ valid: { 200: '1m' }, statusHeader: 'X-Microcache' }, text('x'));
    expect((await named.get('/')).headers['x-microcache']).toBe('MISS');
    const none = await setup({ valid: { 200: '1m' }, statusHeader: false }, text('x'));
    await none.get('/');
    const r = await none.get('/');
    expect([r.cache, r.headers['x-microcache'], r.body]).toEqual([null, undefined, 'x']);
  });
});

describe('cache.handler: streaming and entry size', () => {
  it('streams the body to the client while it is stored', async () => {
    const release = deferred();
    const { server, get } = await setup({ valid: { 200: '1m' } }, async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first ');
      await release.promise;
      res.end('second');
    });
    const c = client();
    clients.push(c);
    // Read the first chunk while the handler still holds the rest.
    const { request } = await import('undici');
    const r = await request(`${server.url}/s`);
    const it = r.body[Symbol.asyncIterator]();
    const first = await it.next();
    expect(String(first.value)).toBe('first ');
    release.resolve();
    let rest = '';
    for (let n = await it.next(); !n.done; n = await it.next()) rest += String(n.value);
    expect(rest).toBe('second');
    const hit = await get('/s');
    expect([hit.cache, hit.body]).toEqual(['HIT', 'first second']);
  });

  it('streams an entry larger than maxEntryBytes through uncached', async () => {
    const big = 'x'.repeat(5000);
    const { get, calls } = await setup({ valid: { 200: '1m' }, maxEntryBytes: 4096 }, (_req, res) => {
      res.write(big.slice(0, 3000));
      res.end(big.slice(3000));
    });
    const a = await get('/big');
    const b = await get('/big');
    expect([a.cache, a.body.length, b.cache, b.body.length]).toEqual(['MISS', 5000, 'MISS', 5000]);
    expect(calls.length).toBe(2);
  });

  it('does not record a body whose Content-Length exceeds maxEntryBytes', async () => {
    const { get, calls } = await setup(
      { valid: { 200: '1m' }, maxEntryBytes: 10 },
      text('more than ten bytes'),
    );
    expect([(await get('/cl')).body, (await get('/cl')).cache]).toEqual(['more than ten bytes', 'MISS']);
    expect(calls.length).toBe(2);
  });

  it('stores nothing when the client goes away mid-body', async () => {
    const release = deferred();
    const closed = deferred();
    let n = 0;
    const { server, get } = await setup({ valid: { 200: '1m' }, lock: true }, async (_req, res) => {
      n++;
      if (n > 1) {
        res.end('whole');
        return;
      }
      res.on('close', () => closed.resolve());
      res.write('part');
      await release.promise;
      res.end('rest');
    });
    const { request } = await import('undici');
    const ac = new AbortController();
    const r = await request(`${server.url}/abort`, { signal: ac.signal });
    const it = r.body[Symbol.asyncIterator]();
    await it.next();
    ac.abort();
    await closed.promise;
    release.resolve();
    const again = await get('/abort');
    expect([again.cache, again.body]).toEqual(['MISS', 'whole']);
  });
});

describe('cache.handler: lock', () => {
  it('collapses 100 concurrent misses of one key into one handler call', async () => {
    const arrived = deferred();
    let seen = 0;
    const clock = manualClock(Date.UTC(2030, 0, 1));
    const cache = createCache({ now: clock, valid: { 200: '1s' }, lock: true });
    let calls = 0;
    const handler = cache.handler(async (_req, res) => {
      calls++;
      await arrived.promise;
      res.end('slow page');
    });
    const server = await serve((req, res) => {
      if (++seen === 100) arrived.resolve();
      handler(req, res);
    });
    servers.push(server);
    const c = client();
    clients.push(c);
    const all = await Promise.all(Array.from({ length: 100 }, () => c.get(`${server.url}/burst`)));
    expect(calls).toBe(1);
    expect(all.every((r) => r.status === 200 && r.body === 'slow page')).toBe(true);
    const counts = { MISS: 0, HIT: 0 } as Record<string, number>;
    for (const r of all) counts[r.cache as string] = (counts[r.cache as string] ?? 0) + 1;
    expect(counts).toEqual({ MISS: 1, HIT: 99 });
  });

  it('lets waiters through after lockTimeoutMs, uncached', async () => {
    const release = deferred();
    let n = 0;
    const { get, calls } = await setup(
      { valid: { 200: '1m' }, lock: true, lockTimeoutMs: 5 },
      async (_req, res) => {
        const mine = ++n;
        if (mine === 1) await release.promise;
        res.end(`r${mine}`);
      },
    );
    const first = get('/slow');
    await waitFor(() => n === 1);
    const second = await get('/slow');
    expect([second.cache, second.body]).toEqual(['MISS', 'r2']);
    release.resolve();
    expect((await first).body).toBe('r1');
    const third = await get('/slow');
    expect([third.cache, third.body]).toEqual(['HIT', 'r1']);
    expect(calls.length).toBe(2);
  });

  it('lets waiters go upstream together when the response is not cacheable', async () => {
    const arrived = deferred();
    let seen = 0;
    const clock = manualClock(Date.UTC(2030, 0, 1));
    const cache = createCache({ now: clock, valid: { 200: '1s' }, lock: true });
    let calls = 0;
    const handler = cache.handler(async (_req, res) => {
      calls++;
      await arrived.promise;
      res.setHeader('cache-control', 'no-store');
      res.end('private');
    });
    const server = await serve((req, res) => {
      if (++seen === 5) arrived.resolve();
      handler(req, res);
    });
    servers.push(server);
    const c = client();
    clients.push(c);
    const all = await Promise.all(Array.from({ length: 5 }, () => c.get(`${server.url}/np`)));
    expect(all.map((r) => r.cache)).toEqual(['MISS', 'MISS', 'MISS', 'MISS', 'MISS']);
    expect(calls).toBe(5);
  });
});

describe('cache.handler: stale entries', () => {
  it('serves UPDATING while another request refreshes an expired entry (useStale updating)', async () => {
    const release = deferred();
    let n = 0;
    const { get, clock } = await setup(
      { valid: { 200: '1s' }, useStale: ['updating'] },
      async (_req, res) => {
        const mine = ++n;
        if (mine === 2) await release.promise;
        res.end(`v${mine}`);
      },
    );
    await get('/u');
    clock.advance(1000);
    const refreshing = get('/u');
    await waitFor(() => n === 2);
    const during = await get('/u');
    expect([during.cache, during.body]).toEqual(['UPDATING', 'v1']);
    release.resolve();
    const done = await refreshing;
    expect([done.cache, done.body]).toEqual(['EXPIRED', 'v2']);
    expect((await get('/u')).cache).toBe('HIT');
  });

  it('sends concurrent requests upstream without useStale updating (EXPIRED)', async () => {
    const release = deferred();
    let n = 0;
    const { get, clock } = await setup({ valid: { 200: '1s' } }, async (_req, res) => {
      const mine = ++n;
      if (mine === 2) await release.promise;
      res.end(`v${mine}`);
    });
    await get('/e');
    clock.advance(1000);
    const refreshing = get('/e');
    await waitFor(() => n === 2);
    const during = await get('/e');
    expect([during.cache, during.body]).toEqual(['EXPIRED', 'v3']);
    release.resolve();
    expect((await refreshing).body).toBe('v2');
  });

  it('serves UPDATING within stale-while-revalidate even without useStale', async () => {
    const release = deferred();
    let n = 0;
    const { get, clock } = await setup({}, async (_req, res) => {
      const mine = ++n;
      if (mine === 2) await release.promise;
      res.setHeader('cache-control', 'max-age=1, stale-while-revalidate=10');
      res.end(`v${mine}`);
    });
    await get('/swr');
    clock.advance(2000);
    const refreshing = get('/swr');
    await waitFor(() => n === 2);
    expect((await get('/swr')).cache).toBe('UPDATING');
    clock.advance(10_000);
    const late = await get('/swr');
    expect(late.cache).toBe('EXPIRED');
    release.resolve();
    await refreshing;
  });

  it('serves STALE at once and refreshes in the background (backgroundUpdate)', async () => {
    let n = 0;
    const refreshed = deferred();
    const { get, clock, calls } = await setup(
      { valid: { 200: '1s' }, useStale: ['updating'], backgroundUpdate: true },
      (_req, res) => {
        const mine = ++n;
        res.setHeader('content-type', 'text/plain');
        res.end(`v${mine}`, () => {
          if (mine === 2) refreshed.resolve();
        });
      },
    );
    await get('/bg');
    clock.advance(1000);
    const stale = await get('/bg');
    expect([stale.cache, stale.body]).toEqual(['STALE', 'v1']);
    await refreshed.promise;
    const fresh = await get('/bg');
    expect([fresh.cache, fresh.body, fresh.headers['content-type']]).toEqual(['HIT', 'v2', 'text/plain']);
    expect(calls.length).toBe(2);
  });

  it('serves STALE when the handler fails (useStale error) or answers 500 (http_500)', async () => {
    let mode = 'ok';
    const { get, clock } = await setup(
      { valid: { 200: '1s' }, useStale: ['error', 'http_500'] },
      (_req, res) => {
        if (mode === 'throw') throw new Error('boom');
        if (mode === '500') {
          res.statusCode = 500;
          res.end('down');
          return;
        }
        res.end('good');
      },
    );
    await get('/f');
    clock.advance(1000);
    mode = 'throw';
    const a = await get('/f');
    expect([a.status, a.cache, a.body]).toEqual([200, 'STALE', 'good']);
    mode = '500';
    const b = await get('/f');
    expect([b.status, b.cache, b.body]).toEqual([200, 'STALE', 'good']);
  });

  it('answers 500 for a failing handler when no stale entry may be used', async () => {
    const { get } = await setup({ valid: { 200: '1s' } }, async () => {
      throw new Error('boom');
    });
    const r = await get('/x');
    expect([r.status, r.body]).toEqual([500, '500 Internal Server Error\n']);
  });

  it('passes a 500 through when useStale does not list it', async () => {
    let mode = 'ok';
    const { get, clock } = await setup({ valid: { 200: '1s' }, useStale: ['error'] }, (_req, res) => {
      res.statusCode = mode === 'ok' ? 200 : 500;
      res.end(mode);
    });
    await get('/p');
    clock.advance(1000);
    mode = 'down';
    const r = await get('/p');
    expect([r.status, r.cache, r.body]).toEqual([500, 'EXPIRED', 'down']);
  });
});

describe('cache.handler: revalidate', () => {
  it('refreshes an expired entry with a conditional request and answers REVALIDATED', async () => {
    let n = 0;
    const { get, clock, calls } = await setup({ valid: { 200: '1s' }, revalidate: true }, (req, res) => {
      n++;
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, { etag: '"v1"' });
        res.end();
        return;
      }
      res.writeHead(200, { etag: '"v1"', 'last-modified': 'Tue, 01 Jan 2030 00:00:00 GMT' });
      res.end('body one');
    });
    await get('/r');
    clock.advance(1000);
    const r = await get('/r');
    expect([r.status, r.cache, r.body, r.headers.etag]).toEqual([200, 'REVALIDATED', 'body one', '"v1"']);
    expect(calls[1]?.headers['if-none-match']).toBe('"v1"');
    expect(calls[1]?.headers['if-modified-since']).toBe('Tue, 01 Jan 2030 00:00:00 GMT');
    const hit = await get('/r');
    expect([hit.cache, hit.body]).toEqual(['HIT', 'body one']);
    expect(n).toBe(2);
  });

  it('stores the new response when the upstream answers 200 to the revalidation', async () => {
    let n = 0;
    const { get, clock } = await setup({ valid: { 200: '1s' }, revalidate: true }, (_req, res) => {
      n++;
      res.writeHead(200, { etag: `"v${n}"` });
      res.end(`body ${n}`);
    });
    await get('/r2');
    clock.advance(1000);
    const r = await get('/r2');
    expect([r.cache, r.body]).toEqual(['EXPIRED', 'body 2']);
    expect((await get('/r2')).body).toBe('body 2');
  });
});

describe('cache.middleware in a Connect-style chain', () => {
  it('caches what the rest of the chain answers, keyed by the full original URL', async () => {
    const clock = manualClock(Date.UTC(2030, 0, 1));
    const cache = createCache({ now: clock, valid: { 200: '1m' } });
    const mw = cache.middleware();
    let calls = 0;
    const server = await serve((req, res) => {
      // An Express mount strips /api from req.url and keeps it in originalUrl.
      (req as { originalUrl?: string }).originalUrl = req.url;
      req.url = (req.url ?? '/').replace(/^\/api/, '') || '/';
      mw(req, res, (err) => {
        if (err !== undefined) throw err;
        calls++;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ path: req.url }));
      });
    });
    servers.push(server);
    const c = client();
    clients.push(c);
    const a = await c.get(`${server.url}/api/items`);
    const b = await c.get(`${server.url}/api/items`);
    expect([a.cache, b.cache, b.body]).toEqual(['MISS', 'HIT', '{"path":"/items"}']);
    expect(cache.keyOf({ method: 'GET', url: '/api/items', headers: { host: server.hostPort } })).toBe(
      `http${server.hostPort}/api/items`,
    );
    expect(await cache.purge(`http${server.hostPort}/api/items`)).toBe(1);
    expect((await c.get(`${server.url}/api/items`)).cache).toBe('MISS');
    expect(calls).toBe(2);
  });

  it('refreshes in the background even through next(), whose handler writes headers one by one', async () => {
    const clock = manualClock(Date.UTC(2030, 0, 1));
    const cache = createCache({
      now: clock,
      valid: { 200: '1s' },
      useStale: ['updating'],
      backgroundUpdate: true,
    });
    const mw = cache.middleware();
    let n = 0;
    const done = deferred();
    const server = await serve((req, res) => {
      mw(req, res, () => {
        const mine = ++n;
        res.statusCode = 200;
        res.setHeader('x-version', String(mine));
        res.appendHeader('x-list', 'a');
        res.appendHeader('x-list', 'b');
        expect(res.headersSent).toBe(false);
        res.write('v');
        res.end(String(mine), () => {
          if (mine === 2) done.resolve();
        });
      });
    });
    servers.push(server);
    const c = client();
    clients.push(c);
    await c.get(`${server.url}/bg`);
    clock.advance(1000);
    const stale = await c.get(`${server.url}/bg`);
    expect([stale.cache, stale.body, stale.headers['x-version']]).toEqual(['STALE', 'v1', '1']);
    await done.promise;
    const fresh = await c.get(`${server.url}/bg`);
    expect([fresh.cache, fresh.body, fresh.headers['x-version'], fresh.headers['x-list']]).toEqual([
      'HIT',
      'v2',
      '2',
      ['a', 'b'],
    ]);
  });
});
