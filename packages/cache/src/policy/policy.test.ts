import { describe, expect, it } from 'vitest';
import { formatHttpDate } from '../headers/index.js';
import {
  etagListMatches,
  freshness,
  notModified,
  resolveHeaderRules,
  resolveValid,
  staleServes,
  tagsOf,
  type ValidOption,
  validFor,
  variantOf,
  varyNames,
} from './index.js';

const now = 1_800_000_000_000;
const all = resolveHeaderRules(undefined);
const nginxValid = resolveValid({ 200: '10m', 302: '10m', 404: '1m' });
const none = resolveValid(undefined);

/** Expiry in seconds from now, or undefined when not cached. */
function ttl(status: number, headers: string[], valid = none, rules = all): number | undefined {
  const f = freshness(status, headers, now, valid, rules);
  return f === undefined ? undefined : (f.expiresAt - now) / 1000;
}

describe('freshness: which header decides, as nginx ≥ 1.23', () => {
  it('takes max-age, and s-maxage over it', () => {
    expect(ttl(200, ['Cache-Control', 'max-age=60'])).toBe(60);
    expect(ttl(200, ['Cache-Control', 'max-age=60, s-maxage=30'])).toBe(30);
    expect(ttl(200, ['Cache-Control', 'MAX-AGE=60'])).toBe(60);
    expect(ttl(500, ['Cache-Control', 'max-age=60'])).toBe(60);
  });

  it('does not cache no-cache, no-store, private, max-age=0 or a malformed max-age, whatever valid says', () => {
    for (const cc of ['no-cache', 'no-store', 'private', 'private, max-age=60', 'max-age=0', 'max-age=abc']) {
      expect(ttl(200, ['Cache-Control', cc], nginxValid)).toBeUndefined();
    }
    expect(ttl(302, ['Cache-Control', 'no-cache'], nginxValid)).toBeUndefined();
  });

  it('reads every Cache-Control line, and no-cache in any of them wins', () => {
    expect(ttl(200, ['Cache-Control', 'public', 'Cache-Control', 'max-age=60'])).toBe(60);
    expect(ttl(200, ['Cache-Control', 'max-age=60', 'Cache-Control', 'no-store'])).toBeUndefined();
  });

  it('falls back to valid only when no header gives a lifetime', () => {
    expect(ttl(200, ['Cache-Control', 'public'], nginxValid)).toBe(600);
    expect(ttl(200, ['Cache-Control', 'public'])).toBeUndefined();
    expect(ttl(404, [], nginxValid)).toBe(60);
    expect(ttl(301, [], nginxValid)).toBeUndefined();
    expect(ttl(500, [], nginxValid)).toBeUndefined();
  });

  it('uses Expires when Cache-Control gives no lifetime, and refuses a bad or past one', () => {
    expect(ttl(200, ['Expires', formatHttpDate(now + 3_600_000)])).toBe(3600);
    expect(ttl(200, ['Expires', '0'], nginxValid)).toBeUndefined();
    expect(ttl(200, ['Expires', formatHttpDate(now - 3_600_000)], nginxValid)).toBeUndefined();
  });

  it('refuses an Expires date nginx cannot parse, and reads one whatever its zone name', () => {
    const inAnHour = formatHttpDate(now + 3_600_000); // Fri, 15 Jan 2027 09:00:00 GMT
    expect(inAnHour).toBe('Fri, 15 Jan 2027 09:00:00 GMT');
    // Recorded by hand from nginx 1.22.1: none of these is cached.
    for (const bad of [
      'Fri, 15 Jan 27 09:00:00 GMT',
      'Fri, 15-Jan-2027 09:00:00 GMT',
      'Fri, 15 Jan-2027 09:00:00 GMT',
      'Fri, 15 jan 2027 09:00:00 GMT',
    ]) {
      expect(ttl(200, ['Expires', bad]), bad).toBeUndefined();
    }
    // ...and all of these are, for an hour.
    for (const good of [
      'Fri, 15 Jan 2027 09:00:00 UTC',
      'Fri, 15 Jan 2027 09:00:00 gMT',
      'Fri, 15 Jan 2027 09:00:00',
      'Friday, 15-Jan-27 09:00:00 GMT',
    ]) {
      expect(ttl(200, ['Expires', good]), good).toBe(3600);
    }
  });

  it('lets Cache-Control win over Expires in either order', () => {
    const past = formatHttpDate(now - 3_600_000);
    const future = formatHttpDate(now + 3_600_000);
    expect(ttl(200, ['Expires', past, 'Cache-Control', 'max-age=60'])).toBe(60);
    expect(ttl(200, ['Cache-Control', 'max-age=60', 'Expires', past])).toBe(60);
    expect(ttl(200, ['Expires', future, 'Cache-Control', 'max-age=60'])).toBe(60);
    expect(ttl(200, ['Expires', future, 'Cache-Control', 'no-cache'])).toBeUndefined();
  });

  it('lets X-Accel-Expires win over Cache-Control and Expires in either order', () => {
    expect(ttl(200, ['X-Accel-Expires', '60', 'Cache-Control', 'no-cache'])).toBe(60);
    expect(ttl(200, ['Cache-Control', 'no-store', 'X-Accel-Expires', '60'])).toBe(60);
    expect(ttl(200, ['Cache-Control', 'max-age=abc', 'X-Accel-Expires', '60'])).toBe(60);
    expect(ttl(200, ['Expires', '0', 'X-Accel-Expires', '30'])).toBe(30);
    expect(ttl(200, ['X-Accel-Expires', '0', 'Cache-Control', 'max-age=60'])).toBeUndefined();
  });

  it('reads X-Accel-Expires @epoch as an absolute time, even a past one', () => {
    expect(ttl(200, ['X-Accel-Expires', `@${now / 1000 + 3600}`])).toBe(3600);
    expect(ttl(200, ['X-Accel-Expires', `@${now / 1000 - 3600}`])).toBe(-3600);
  });

  it('ignores a malformed X-Accel-Expires', () => {
    expect(ttl(200, ['X-Accel-Expires', 'soon', 'Cache-Control', 'max-age=5'])).toBe(5);
    expect(ttl(200, ['X-Accel-Expires', '@x'], nginxValid)).toBe(600);
    expect(ttl(200, ['X-Accel-Expires', '@0'], nginxValid)).toBe(600);
  });

  it('never caches a Vary: * line among other Vary lines, or a * inside a Vary list', () => {
    expect(ttl(200, ['Vary', 'Accept', 'Vary', '*'], nginxValid)).toBeUndefined();
    expect(ttl(200, ['Vary', '*', 'Vary', 'Accept'], nginxValid)).toBeUndefined();
    expect(ttl(200, ['Vary', 'Accept, *'], nginxValid)).toBeUndefined();
    expect(ttl(200, ['Vary', 'Accept', 'Vary', 'Cookie'], nginxValid)).toBe(600);
    expect(ttl(200, ['Vary', 'Accept', 'Vary', '*'], nginxValid, resolveHeaderRules(['Vary']))).toBe(600);
  });

  it('never caches Set-Cookie, Vary: * or an overlong Vary', () => {
    expect(ttl(200, ['Set-Cookie', 'a=1', 'Cache-Control', 'max-age=60'])).toBeUndefined();
    expect(ttl(200, ['X-Accel-Expires', '60', 'Set-Cookie', 'a=1'])).toBeUndefined();
    expect(ttl(200, ['Vary', '*'], nginxValid)).toBeUndefined();
    expect(ttl(200, ['Vary', 'X'.repeat(129)], nginxValid)).toBeUndefined();
    expect(ttl(200, ['Vary', 'Cookie'], nginxValid)).toBe(600);
  });

  it('switches each header rule off with ignoreHeaders', () => {
    const ignored = resolveHeaderRules(['Set-Cookie', 'cache-control', 'X-Accel-Expires', 'Expires', 'Vary']);
    expect(ttl(200, ['Set-Cookie', 'a=1'], nginxValid, ignored)).toBe(600);
    expect(ttl(200, ['Cache-Control', 'no-store'], nginxValid, ignored)).toBe(600);
    expect(ttl(200, ['X-Accel-Expires', '0'], nginxValid, ignored)).toBe(600);
    expect(ttl(200, ['Expires', '0'], nginxValid, ignored)).toBe(600);
    expect(ttl(200, ['Vary', '*'], nginxValid, ignored)).toBe(600);
  });

  it('reads the stale windows of stale-while-revalidate and stale-if-error', () => {
    const f = freshness(200, ['Cache-Control', 'max-age=5, stale-while-revalidate=30'], now, none, all);
    expect(f).toEqual({ expiresAt: now + 5000, updatingMs: 30_000, errorMs: 30_000, fromHeaders: true });
    const g = freshness(
      200,
      ['Cache-Control', 'max-age=5, stale-while-revalidate=30, stale-if-error=60'],
      now,
      none,
      all,
    );
    expect(g).toEqual({ expiresAt: now + 5000, updatingMs: 30_000, errorMs: 60_000, fromHeaders: true });
    expect(ttl(200, ['Cache-Control', 'max-age=5, stale-if-error=x'])).toBeUndefined();
  });
});

describe('staleServes: what may stand in for a failed upstream', () => {
  const entry = { expiresAt: now, errorMs: 30_000 };
  const none = new Set<string>();

  it('honours stale-if-error for a failure or a timeout, within its window only', () => {
    expect(staleServes('error', none, entry, now + 10_000)).toBe(true);
    expect(staleServes('timeout', none, entry, now + 10_000)).toBe(true);
    expect(staleServes('error', none, entry, now + 30_000)).toBe(false);
  });

  it('passes an upstream 500 through within stale-if-error, unless useStale names it', () => {
    expect(staleServes('http_500', none, entry, now + 10_000)).toBe(false);
    expect(staleServes('http_503', none, entry, now + 10_000)).toBe(false);
    expect(staleServes('http_500', new Set(['http_500']), entry, now + 10_000)).toBe(true);
    expect(staleServes('http_500', new Set(['error']), entry, now + 10_000)).toBe(false);
  });

  it('serves stale for any cause useStale names, however old the entry', () => {
    const old = { expiresAt: now, errorMs: 0 };
    expect(staleServes('timeout', new Set(['timeout']), old, now + 86_400_000)).toBe(true);
    expect(staleServes('error', new Set(['timeout']), old, now + 1)).toBe(false);
  });
});

describe('notModified: the 304 of a cached 200, in nginx order', () => {
  const lm = 'Tue, 01 Jan 2030 00:00:00 GMT';
  const other = 'Wed, 02 Jan 2030 00:00:00 GMT';
  const both = { etag: '"e1"', lastModified: lm };
  const etagOnly = { etag: '"e1"', lastModified: undefined };

  // [request headers, 304 with ETag and Last-Modified, 304 with ETag only]: recorded by
  // hand from nginx 1.22.1 (proxy_cache, a HIT), if_modified_since exact.
  const table: [Record<string, string>, boolean, boolean][] = [
    [{}, false, false],
    [{ 'if-none-match': '"e1"' }, true, true],
    [{ 'if-none-match': '"e1"', 'if-modified-since': other }, false, false],
    [{ 'if-none-match': '"zz"', 'if-modified-since': lm }, false, false],
    [{ 'if-none-match': '"e1"', 'if-modified-since': lm }, true, false],
    [{ 'if-none-match': '*' }, true, true],
    [{ 'if-none-match': '"zz", *' }, false, false],
    [{ 'if-none-match': 'W/"e1"' }, true, true],
    [{ 'if-modified-since': lm }, true, false],
    [{ 'if-modified-since': other }, false, false],
    [{ 'if-modified-since': 'garbage' }, false, false],
    [{ 'if-modified-since': 'Tue, 01 Jan 2030 00:00:00' }, true, false],
  ];

  it('needs both If-Modified-Since and If-None-Match to pass when both are sent', () => {
    for (const [headers, withDate, withoutDate] of table) {
      expect([notModified(headers, both), notModified(headers, etagOnly)], JSON.stringify(headers)).toEqual([
        withDate,
        withoutDate,
      ]);
    }
  });

  it('compares entity tags weakly, member by member', () => {
    expect(etagListMatches('"a", W/"e1"', '"e1"')).toBe(true);
    expect(etagListMatches('"e1"', 'W/"e1"')).toBe(true);
    expect(etagListMatches('"a" ,\t"e1"  ', '"e1"')).toBe(true);
    expect(etagListMatches('"e1x"', '"e1"')).toBe(false);
    expect(etagListMatches('"a,b"', '"a,b"')).toBe(true);
    expect(etagListMatches('*', undefined)).toBe(true);
    expect(etagListMatches('"e1"', undefined)).toBe(false);
  });
});

describe('resolveValid', () => {
  it('reads a time alone as 200, 301 and 302', () => {
    const t = resolveValid('5m');
    expect([200, 301, 302, 404].map((s) => validFor(t, s))).toEqual([300_000, 300_000, 300_000, 0]);
  });

  it('prefers a status of its own over any', () => {
    const t = resolveValid({ 404: 0, any: '1m' });
    expect(validFor(t, 404)).toBe(0);
    expect(validFor(t, 500)).toBe(60_000);
  });

  it('names the bad option path and value', () => {
    expect(() => resolveValid({ 200: 'soon' })).toThrow(
      'valid.200: expected an nginx time such as "10m", or ms, got "soon"',
    );
    expect(() => resolveValid({ 99: '1m' } as ValidOption)).toThrow('valid.99: expected a status code');
    expect(() => resolveValid([] as unknown as ValidOption)).toThrow('valid: expected a time');
    expect(() => resolveHeaderRules(['X-Accel-Redirect'])).toThrow('ignoreHeaders[0]: expected one of');
  });
});

describe('vary and tags', () => {
  it('reads Vary names lowercased, once each', () => {
    expect(varyNames(['Vary', 'Accept-Encoding, Cookie', 'vary', 'cookie'])).toEqual([
      'accept-encoding',
      'cookie',
    ]);
    expect(varyNames([])).toBeUndefined();
  });

  it('reads Vary names separated by spaces as nginx does', () => {
    expect(varyNames(['Vary', 'Accept-Language X-Foo,  Cookie'])).toEqual([
      'accept-language',
      'x-foo',
      'cookie',
    ]);
  });

  it('makes one variant of Accept-Encoding, -Language and -Charset values that differ in spacing only', () => {
    const ae = (v: string) => variantOf({ 'accept-encoding': v }, ['accept-encoding']);
    expect(ae('gzip, br')).toBe('accept-encoding:gzip,br\n');
    expect(ae('gzip,br')).toBe(ae('gzip, br'));
    expect(ae('gzip  br')).toBe(ae('gzip, br'));
    expect(ae(' gzip ,, br ')).toBe(ae('gzip, br'));
    expect(variantOf({ 'accept-encoding': ['gzip', 'br'] }, ['accept-encoding'])).toBe(ae('gzip, br'));
    // Recorded by hand from nginx 1.22.1: order, case and spaces inside a token still count.
    expect(ae('br, gzip')).not.toBe(ae('gzip, br'));
    expect(ae('GZIP')).not.toBe(ae('gzip'));
    expect(ae('gzip; q=1, br')).not.toBe(ae('gzip;q=1, br'));
    const al = (v: string) => variantOf({ 'accept-language': v }, ['accept-language']);
    expect(al('de, fr')).toBe(al('de,fr'));
    const ac = (v: string) => variantOf({ 'accept-charset': v }, ['accept-charset']);
    expect(ac('utf-8, x')).toBe(ac('utf-8,x'));
  });

  it('compares the values of other headers as they come', () => {
    const foo = (v: string) => variantOf({ 'x-foo': v }, ['x-foo']);
    expect(foo('a, b')).not.toBe(foo('a,b'));
    const accept = (v: string) => variantOf({ accept: v }, ['accept']);
    expect(accept('text/a, text/b')).not.toBe(accept('text/a,text/b'));
  });

  it('makes the same variant for the same values only', () => {
    const names = ['accept-encoding', 'cookie'];
    expect(variantOf({ 'accept-encoding': 'gzip' }, names)).toBe('accept-encoding:gzip\ncookie:\n');
    expect(variantOf({ 'accept-encoding': 'gzip' }, names)).not.toBe(
      variantOf({ 'accept-encoding': 'br' }, names),
    );
  });

  it('reads Surrogate-Key and Cache-Tag tags', () => {
    expect(
      tagsOf(['Surrogate-Key', 'a b  c', 'Cache-Tag', 'c,d, e'], ['surrogate-key', 'cache-tag']),
    ).toEqual(['a', 'b', 'c', 'd', 'e']);
  });
});
