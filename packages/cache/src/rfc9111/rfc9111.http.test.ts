import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Listening, manualClock } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, client, serve } from '../../test/helpers.js';
import { type CacheOptions, createCache } from '../cache/index.js';
import { formatHttpDate, isHttpDate } from '../headers/index.js';
import { byteRange, parseCacheControl, parseTargeted, rfcNotModified, withheldFields } from './index.js';

/** What the origin answers: status, header lines and body, decided per request. */
type Origin = (req: IncomingMessage) => { status?: number; headers?: [string, string][]; body?: string };

const T0 = Date.UTC(2030, 0, 1);

/** The servers and clients a test opened, closed after it. */
let opened: (Listening | Client)[] = [];

afterEach(async () => {
  await Promise.all(opened.map((o) => o.close()));
  opened = [];
});

/**
 * An rfc9111 cache in front of an origin on 127.0.0.1, through `handler()` or
 * `middleware()`. The origin dates its responses by the cache's clock.
 */
async function setup(origin: Origin, options: CacheOptions = {}, via: 'handler' | 'middleware' = 'handler') {
  const clock = manualClock(T0);
  const cache = createCache({ now: clock, semantics: 'rfc9111', ...options });
  const seen: { method: string; url: string; headers: IncomingMessage['headers'] }[] = [];
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers } });
    const r = origin(req);
    const lines: [string, string][] = [['date', formatHttpDate(clock())], ...(r.headers ?? [])];
    for (const [name, value] of lines) res.appendHeader(name, value);
    res.statusCode = r.status ?? 200;
    res.end(r.body ?? 'body');
  };
  const mw = cache.middleware();
  const server = await serve(
    via === 'handler'
      ? cache.handler(answer)
      : (req, res) => mw(req, res, (err) => (err === undefined ? answer(req, res) : res.destroy())),
  );
  const c = client();
  opened.push(server, c);
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    c.get(`${server.url}${path}`, { method, headers });
  return { cache, clock, seen, get };
}

const cacheStatus = (h: Record<string, string | string[] | undefined>) => String(h['cache-status']);

describe('rfc9111 mode over HTTP: invalidation (§4.4)', () => {
  for (const via of ['handler', 'middleware'] as const) {
    it(`drops the target after a successful POST through ${via}()`, async () => {
      const { get, seen } = await setup(() => ({ headers: [['cache-control', 'max-age=600']] }), {}, via);
      await get('/page');
      expect((await get('/page')).headers['cache-status']).toContain('hit');
      await get('/page', {}, 'POST');
      const after = await get('/page');
      expect(cacheStatus(after.headers)).toContain('fwd=uri-miss');
      expect(seen.map((r) => r.method)).toEqual(['GET', 'POST', 'GET']);
    });
  }

  it('keeps the target after a POST that failed with a 500', async () => {
    const { get } = await setup((req) =>
      req.method === 'POST' ? { status: 500 } : { headers: [['cache-control', 'max-age=600']] },
    );
    await get('/page');
    await get('/page', {}, 'POST');
    expect(cacheStatus((await get('/page')).headers)).toContain('hit');
  });

  it('treats a method of unknown safety (M-SEARCH) as unsafe', async () => {
    const { get } = await setup(() => ({ headers: [['cache-control', 'max-age=600']] }));
    await get('/page');
    await get('/page', {}, 'M-SEARCH');
    expect(cacheStatus((await get('/page')).headers)).toContain('fwd=uri-miss');
  });

  it('drops a same-origin Location and Content-Location named by a PUT answer, through middleware()', async () => {
    const { get } = await setup(
      (req) =>
        req.method === 'PUT'
          ? {
              status: 201,
              headers: [
                ['location', '/made'],
                ['content-location', '/described'],
              ],
            }
          : { headers: [['cache-control', 'max-age=600']] },
      {},
      'middleware',
    );
    await get('/made');
    await get('/described');
    await get('/other');
    await get('/form', {}, 'PUT');
    expect(cacheStatus((await get('/made')).headers)).toContain('fwd=uri-miss');
    expect(cacheStatus((await get('/described')).headers)).toContain('fwd=uri-miss');
    expect(cacheStatus((await get('/other')).headers)).toContain('hit');
  });
});

describe('rfc9111 mode over HTTP: what is stored of a response', () => {
  it('stores a response with no-cache="a" without the field a, and uses it fresh', async () => {
    const { get } = await setup(() => ({
      headers: [
        ['cache-control', 'no-cache="a, b", max-age=600'],
        ['a', '1'],
        ['b', '2'],
        ['c', '3'],
      ],
    }));
    const first = await get('/x');
    expect(first.headers.a).toBe('1');
    const hit = await get('/x');
    expect(cacheStatus(hit.headers)).toContain('hit');
    expect(hit.headers.a).toBeUndefined();
    expect(hit.headers.b).toBeUndefined();
    expect(hit.headers.c).toBe('3');
  });

  it('stores the rest of a private="a" response but nothing of a plain private one', async () => {
    const { get } = await setup((req) => ({
      headers: [
        ['cache-control', req.url === '/q' ? 'private="a", max-age=600' : 'private, max-age=600'],
        ['a', '1'],
        ['c', '3'],
      ],
    }));
    await get('/q');
    const hit = await get('/q');
    expect(cacheStatus(hit.headers)).toContain('hit');
    expect(hit.headers.a).toBeUndefined();
    expect(hit.headers.c).toBe('3');
    await get('/p');
    expect(cacheStatus((await get('/p')).headers)).toContain('fwd=uri-miss');
  });

  it('does not store the fields a Connection header lists, nor Proxy-Authenticate', async () => {
    const { get } = await setup(() => ({
      headers: [
        ['cache-control', 'max-age=600'],
        ['connection', 'a'],
        ['a', '1'],
        ['proxy-authenticate', 'Basic realm="hop"'],
        ['content-encoding', 'identity'],
        ['c', '3'],
      ],
    }));
    await get('/x');
    const hit = await get('/x');
    expect(hit.headers.a).toBeUndefined();
    expect(hit.headers['proxy-authenticate']).toBeUndefined();
    expect(hit.headers['content-encoding']).toBe('identity');
    expect(hit.headers.c).toBe('3');
  });

  it("sends the origin's Date from the cache, with an Age that grows", async () => {
    const { get, clock } = await setup(() => ({ headers: [['cache-control', 'max-age=600']] }));
    const first = await get('/x');
    clock.advance(30_000);
    const hit = await get('/x');
    expect(hit.headers.date).toBe(first.headers.date);
    expect(hit.headers.date).toBe(formatHttpDate(T0));
    expect(hit.headers.age).toBe('30');
  });

  it('stores a must-understand response of a known status despite no-store, and not an unknown status', async () => {
    const { get } = await setup((req) => ({
      status: req.url === '/odd' ? 299 : 200,
      headers: [['cache-control', 'must-understand, no-store, max-age=600']],
    }));
    await get('/ok');
    expect(cacheStatus((await get('/ok')).headers)).toContain('hit');
    await get('/odd');
    expect(cacheStatus((await get('/odd')).headers)).toContain('fwd=uri-miss');
  });

  it('ignores max-age written with whitespace around its =', async () => {
    const { get } = await setup((req) => ({
      headers: [['cache-control', req.url === '/before' ? 'max-age =600' : 'max-age= 600']],
    }));
    for (const path of ['/before', '/after']) {
      await get(path);
      expect(cacheStatus((await get(path)).headers)).not.toContain('hit');
    }
  });

  it('takes an Expires outside the three RFC 9110 date forms as already past', async () => {
    const future = new Date(T0 + 3_600_000).toUTCString();
    const { get } = await setup((req) => ({
      headers: [['expires', req.url === '/good' ? future : future.replace('GMT', 'UTC')]],
    }));
    await get('/good');
    expect(cacheStatus((await get('/good')).headers)).toContain('hit');
    await get('/utc');
    expect(cacheStatus((await get('/utc')).headers)).not.toContain('hit');
  });

  it('updates every stored field a 304 sends, Content-Type too', async () => {
    let round = 0;
    const { get, clock } = await setup((req) => {
      round++;
      if (req.headers['if-none-match'] === '"v1"') {
        return {
          status: 304,
          headers: [
            ['cache-control', 'max-age=600'],
            ['etag', '"v1"'],
            ['content-type', 'text/plain;charset=utf-8'],
            ['x-round', String(round)],
          ],
        };
      }
      return {
        headers: [
          ['cache-control', 'max-age=1'],
          ['etag', '"v1"'],
          ['content-type', 'text/plain'],
          ['x-round', String(round)],
        ],
      };
    });
    await get('/x');
    clock.advance(2_000);
    const revalidated = await get('/x');
    expect(revalidated.headers['content-type']).toBe('text/plain;charset=utf-8');
    expect(revalidated.headers['x-round']).toBe('2');
    const hit = await get('/x');
    expect(cacheStatus(hit.headers)).toContain('hit');
    expect(hit.headers['content-type']).toBe('text/plain;charset=utf-8');
    expect(hit.body).toBe('body');
  });
});

describe('rfc9111 mode over HTTP: CDN-Cache-Control (RFC 9213)', () => {
  const cases: [string, [string, string][], boolean][] = [
    [
      'a short CDN-Cache-Control max-age over a long Cache-Control',
      [
        ['cache-control', 'max-age=3600'],
        ['cdn-cache-control', 'max-age=1'],
      ],
      false,
    ],
    [
      'a CDN-Cache-Control max-age over Cache-Control: no-store',
      [
        ['cache-control', 'no-store'],
        ['cdn-cache-control', 'max-age=3600'],
      ],
      true,
    ],
    [
      'CDN-Cache-Control: no-store over a Cache-Control max-age',
      [
        ['cache-control', 'max-age=3600'],
        ['cdn-cache-control', 'no-store'],
      ],
      false,
    ],
    [
      'CDN-Cache-Control: private over a Cache-Control max-age',
      [
        ['cache-control', 'max-age=3600'],
        ['cdn-cache-control', 'private'],
      ],
      false,
    ],
    [
      'a CDN-Cache-Control max-age=0 over a future Expires',
      [
        ['cdn-cache-control', 'max-age=0'],
        ['expires', new Date(T0 + 3_600_000).toUTCString()],
      ],
      false,
    ],
    [
      'Cache-Control when CDN-Cache-Control is not a valid dictionary',
      [
        ['cache-control', 'no-store'],
        ['cdn-cache-control', 'max-age=3600, &&&'],
      ],
      false,
    ],
    [
      'no max-age from a quoted CDN-Cache-Control value',
      [
        ['cache-control', 'no-store'],
        ['cdn-cache-control', 'max-age="3600"'],
      ],
      false,
    ],
  ];
  for (const [name, headers, hit] of cases) {
    it(`follows ${name}`, async () => {
      const { get, clock } = await setup(() => ({ headers }));
      await get('/x');
      clock.advance(2_000);
      const again = await get('/x');
      expect(cacheStatus(again.headers).includes('hit')).toBe(hit);
    });
  }
});

describe('rfc9111 mode over HTTP: requests', () => {
  it('stores a response with Set-Cookie (§7.3), and noCache keeps such responses out when asked', async () => {
    const origin = () => ({
      headers: [
        ['cache-control', 'max-age=600'],
        ['set-cookie', 'a=1'],
      ] as [string, string][],
    });
    const { get } = await setup(origin);
    await get('/x');
    const hit = await get('/x');
    expect(cacheStatus(hit.headers)).toContain('hit');
    expect(String(hit.headers['set-cookie'])).toBe('a=1');

    const guarded = await setup(origin, {
      noCache: (_req, res) => res.headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === 'set-cookie'),
    });
    await guarded.get('/x');
    expect(cacheStatus((await guarded.get('/x')).headers)).toContain('fwd=uri-miss');
  });

  it('ignores Pragma: no-cache in a request (deprecated by RFC 9111 §5.4)', async () => {
    const { get } = await setup(() => ({ headers: [['cache-control', 'max-age=600']] }));
    await get('/x');
    expect(cacheStatus((await get('/x', { pragma: 'no-cache' })).headers)).toContain('hit');
  });

  it('answers If-None-Match before If-Modified-Since, with a 304 carrying ETag and Cache-Control', async () => {
    const lastModified = formatHttpDate(T0 - 3_600_000);
    const { get, seen } = await setup(() => ({
      headers: [
        ['cache-control', 'max-age=600'],
        ['etag', 'W/"v1"'],
        ['last-modified', lastModified],
      ],
    }));
    await get('/x');
    // The date is before Last-Modified: If-Modified-Since alone would be met, but is not looked at.
    const r = await get('/x', {
      'if-none-match': '"other", W/"v1"',
      'if-modified-since': formatHttpDate(T0 - 7_200_000),
    });
    expect(r.status).toBe(304);
    expect(r.headers.etag).toBe('W/"v1"');
    expect(r.headers['cache-control']).toBe('max-age=600');
    expect(r.headers.date).toBe(formatHttpDate(T0));
    // An If-None-Match that does not match sends the whole response, whatever the date says.
    const full = await get('/x', { 'if-none-match': '"other"', 'if-modified-since': lastModified });
    expect(full.status).toBe(200);
    expect(full.body).toBe('body');
    expect(seen).toHaveLength(1);
  });

  it('answers If-Modified-Since alone with a 304 when the stored response is not newer', async () => {
    const { get } = await setup(() => ({
      headers: [
        ['cache-control', 'max-age=600'],
        ['last-modified', formatHttpDate(T0 - 3_600_000)],
      ],
    }));
    await get('/x');
    expect((await get('/x', { 'if-modified-since': formatHttpDate(T0 - 1_800_000) })).status).toBe(304);
    expect((await get('/x', { 'if-modified-since': formatHttpDate(T0 - 7_200_000) })).status).toBe(200);
    expect((await get('/x', { 'if-modified-since': 'yesterday' })).status).toBe(200);
  });

  it('keeps nginx mode needing both validators to match', async () => {
    const lastModified = formatHttpDate(T0 - 3_600_000);
    const { get } = await setup(
      () => ({
        headers: [
          ['cache-control', 'max-age=600'],
          ['etag', '"v1"'],
          ['last-modified', lastModified],
        ],
      }),
      { semantics: 'nginx' },
    );
    await get('/x');
    const r = await get('/x', { 'if-none-match': '"v1"', 'if-modified-since': formatHttpDate(T0) });
    expect(r.status).toBe(200);
  });

  it('answers a single byte range of a stored response with a 206', async () => {
    const { get, seen } = await setup(() => ({
      headers: [
        ['cache-control', 'max-age=600'],
        ['etag', '"v1"'],
      ],
      body: '0123456789A',
    }));
    await get('/x');
    const head = await get('/x', { range: 'bytes=0-1' });
    expect([head.status, head.body, head.headers['content-range']]).toEqual([206, '01', 'bytes 0-1/11']);
    const tail = await get('/x', { range: 'bytes=-1' });
    expect([tail.status, tail.body]).toEqual([206, 'A']);
    const open = await get('/x', { range: 'bytes=1-', 'if-range': '"v1"' });
    expect([open.status, open.body]).toEqual([206, '123456789A']);
    // Several ranges, a stale If-Range, or a range past the end: the whole response.
    for (const headers of <Record<string, string>[]>[
      { range: 'bytes=0-1, 3-4' },
      { range: 'bytes=0-1', 'if-range': '"v0"' },
      { range: 'bytes=20-' },
    ]) {
      const r = await get('/x', headers);
      expect([r.status, r.body]).toEqual([200, '0123456789A']);
    }
    expect(seen).toHaveLength(1);
  });

  it('sends a Range miss upstream without its Range, and never stores a 206', async () => {
    const { get, seen } = await setup((req) =>
      req.url === '/partial'
        ? {
            status: 206,
            headers: [
              ['cache-control', 'max-age=600'],
              ['content-range', 'bytes 0-1/10'],
            ],
            body: '01',
          }
        : { headers: [['cache-control', 'max-age=600']], body: '0123456789' },
    );
    const miss = await get('/x', { range: 'bytes=0-1' });
    expect([miss.status, miss.body]).toEqual([200, '0123456789']);
    expect(seen[0]?.headers.range).toBeUndefined();
    await get('/partial');
    const again = await get('/partial');
    expect(cacheStatus(again.headers)).not.toContain('hit');
  });
});

describe('rfc9111 rules (pure): qualified directives, conditionals, ranges', () => {
  it('reads max-age only without whitespace around =', () => {
    expect(parseCacheControl(['max-age =5']).has('max-age')).toBe(false);
    expect(parseCacheControl(['max-age= 5']).get('max-age')).toBe(' 5');
    expect(parseCacheControl(['no-store , max-age=5']).get('no-store')).toBe(true);
  });

  it('reads CDN-Cache-Control as a Structured Field Dictionary', () => {
    expect([
      ...(parseTargeted(['max-age=60, no-cache;x=1, private=?0', 'must-revalidate=?1']) ?? []),
    ]).toEqual([
      ['max-age', '60'],
      ['no-cache', true],
      ['must-revalidate', true],
    ]);
    expect(parseTargeted(['max-age=60a'])).toBeUndefined();
    expect(parseTargeted(['Max-Age=60'])).toBeUndefined();
    expect(parseTargeted([''])).toBeUndefined();
  });

  it('withholds the fields of no-cache="…", private="…" and Connection', () => {
    const h = ['cache-control', 'no-cache="A, b", private="c"', 'connection', 'close, d'];
    expect([...(withheldFields(h) ?? [])].sort()).toEqual(['a', 'b', 'c', 'close', 'd']);
    expect(withheldFields(['cache-control', 'no-cache, private'])).toBeUndefined();
  });

  it('judges client conditionals by RFC 9110 precedence', () => {
    const entry = { status: 200, storedAt: T0, etag: '"a"', lastModified: formatHttpDate(T0 - 1000) };
    expect(rfcNotModified('GET', { 'if-none-match': 'W/"a"' }, entry)).toBe(true);
    expect(rfcNotModified('GET', { 'if-none-match': '*' }, entry)).toBe(true);
    expect(rfcNotModified('POST', { 'if-none-match': '"a"' }, entry)).toBe(false);
    expect(rfcNotModified('GET', { 'if-none-match': '"a"' }, { ...entry, status: 404 })).toBe(false);
    const noLm = { ...entry, lastModified: undefined };
    expect(rfcNotModified('HEAD', { 'if-modified-since': formatHttpDate(T0) }, noLm)).toBe(true);
    expect(rfcNotModified('HEAD', { 'if-modified-since': formatHttpDate(T0 - 5000) }, noLm)).toBe(false);
  });

  it('knows the three HTTP-date forms and nothing looser', () => {
    for (const ok of [
      'Sun, 06 Nov 1994 08:49:37 GMT',
      'Sunday, 06-Nov-94 08:49:37 GMT',
      'Sun Nov  6 08:49:37 1994',
      'THU, 18 AUG 2050 02:01:18 gmt',
    ]) {
      expect(isHttpDate(ok)).toBe(true);
    }
    for (const bad of [
      '0',
      'Thu, 18 Aug 2050 02:01:18 UTC',
      'Thu, 18 Aug 50 02:01:18 GMT',
      'Thu 18 Aug 2050 02:01:18 GMT',
      'Thu, 18  Aug  2050 02:01:18 GMT',
      'Thu, 18-Aug-2050 02:01:18 GMT',
      'Thu, 18 Aug 2050 02.01.18 GMT',
      'Thu, 18 Aug 2050 2:01:18 GMT',
    ]) {
      expect(isHttpDate(bad)).toBe(false);
    }
  });

  it('reads one byte range and refuses the rest', () => {
    const v = { etag: '"a"', lastModified: undefined };
    expect(byteRange({ range: 'bytes=2-4' }, 10, v)).toEqual({ start: 2, end: 4 });
    expect(byteRange({ range: 'bytes=8-20' }, 10, v)).toEqual({ start: 8, end: 9 });
    expect(byteRange({ range: 'bytes=-20' }, 10, v)).toEqual({ start: 0, end: 9 });
    for (const range of ['bytes=-0', 'bytes=4-2', 'bytes=10-', 'items=1-2', 'bytes=-']) {
      expect(byteRange({ range }, 10, v)).toBeUndefined();
    }
    expect(byteRange({ range: 'bytes=1-2', 'if-range': 'W/"a"' }, 10, v)).toBeUndefined();
  });
});
