import { describe, expect, it } from 'vitest';
import { formatHttpDate } from '../headers/index.js';
import {
  etagListMatches,
  freshness,
  type HeaderRules,
  resolveHeaderRules,
  resolveValid,
  tagsOf,
  type ValidOption,
  type ValidTable,
  validFor,
  varyNames,
} from './index.js';

// The boundaries of the freshness arithmetic, one rule at a time (nginx
// ngx_http_upstream_process_cache_control, _process_expires, _process_accel_expires).

const now = 1_800_000_000_000; // a whole second
// Built inside each test, not at import nor in beforeAll: the mutation runner counts only
// failed tests, so a mutant that breaks a file's setup would pass as "survived" (see
// docs/mutation.md).
const all = (): HeaderRules => resolveHeaderRules(undefined);
const none = (): ValidTable => resolveValid(undefined);
const tenMinutes = (): ValidTable => resolveValid({ 200: '10m' });

/** Expiry in seconds from `at`, or undefined when not cached. */
function ttl(headers: string[], valid = none(), at = now, status = 200): number | undefined {
  const f = freshness(status, headers, at, valid, all());
  return f === undefined ? undefined : (f.expiresAt - at) / 1000;
}

describe('Cache-Control seconds, read as nginx does', () => {
  it('reads every digit, 0 to 9', () => {
    expect(ttl(['Cache-Control', 'max-age=90'])).toBe(90);
    expect(ttl(['Cache-Control', 'max-age=10'])).toBe(10);
    expect(ttl(['Cache-Control', 'max-age=1234567890'])).toBe(1_234_567_890);
    expect(ttl(['Cache-Control', 's-maxage=09'])).toBe(9);
  });

  it('stops at a comma, a semicolon or a space', () => {
    expect(ttl(['Cache-Control', 'max-age=60,public'])).toBe(60);
    expect(ttl(['Cache-Control', 'max-age=60;x'])).toBe(60);
    expect(ttl(['Cache-Control', 'max-age=60 public'])).toBe(60);
    expect(ttl(['Cache-Control', 's-maxage=30; max-age=60'])).toBe(30);
  });

  it('does not cache at all when a value holds anything else, a sign included', () => {
    for (const cc of [
      'max-age=-1',
      'max-age=+60',
      'max-age=6O',
      'max-age=60s',
      'max-age=60\t',
      'max-age=1.5',
    ]) {
      expect(ttl(['Cache-Control', cc], tenMinutes()), cc).toBeUndefined();
    }
    expect(ttl(['Cache-Control', 's-maxage=/'], tenMinutes())).toBeUndefined();
    expect(ttl(['Cache-Control', 's-maxage=:'], tenMinutes())).toBeUndefined();
  });

  it('reads an empty value as 0, which is not cached', () => {
    expect(ttl(['Cache-Control', 'max-age='], tenMinutes())).toBeUndefined();
    expect(ttl(['Cache-Control', 'max-age=, public'], tenMinutes())).toBeUndefined();
  });

  it('takes the last line that gives a lifetime', () => {
    expect(ttl(['Cache-Control', 'max-age=60', 'Cache-Control', 'max-age=30'])).toBe(30);
    expect(ttl(['Cache-Control', 'max-age=60', 'Cache-Control', 'public'])).toBe(60);
  });

  it('lets max-age=0 in one line refuse the entry even when a later line gives a lifetime', () => {
    expect(ttl(['Cache-Control', 'max-age=0', 'Cache-Control', 'max-age=60'], tenMinutes())).toBeUndefined();
  });

  it('finds no-cache, no-store and private in any case and anywhere in the line', () => {
    for (const cc of ['max-age=60, No-Cache', 'max-age=60, NO-STORE', 'public, Private="set-cookie"']) {
      expect(ttl(['Cache-Control', cc], tenMinutes()), cc).toBeUndefined();
    }
  });
});

describe('the stale windows', () => {
  const windows = (cc: string) => {
    const f = freshness(200, ['Cache-Control', cc], now, tenMinutes(), all());
    return f === undefined ? undefined : [f.updatingMs, f.errorMs];
  };

  it('refuses the entry for a malformed stale-while-revalidate or stale-if-error', () => {
    expect(windows('max-age=5, stale-while-revalidate=abc')).toBeUndefined();
    expect(windows('max-age=5, stale-while-revalidate=-1')).toBeUndefined();
    expect(windows('stale-while-revalidate=1x')).toBeUndefined();
    expect(windows('stale-if-error=1x')).toBeUndefined();
  });

  it('gives stale windows to an entry whose lifetime comes from valid or Expires', () => {
    expect(windows('stale-while-revalidate=30')).toEqual([30_000, 30_000]);
    expect(windows('stale-if-error=60')).toEqual([0, 60_000]);
    const f = freshness(
      200,
      ['Cache-Control', 'stale-if-error=60', 'Expires', formatHttpDate(now + 10_000)],
      now,
      none(),
      all(),
    );
    expect(f).toEqual({ expiresAt: now + 10_000, updatingMs: 0, errorMs: 60_000, fromHeaders: true });
  });

  it('gives no stale window to a line without one, however long', () => {
    expect(windows('max-age=60, public, must-revalidate, proxy-revalidate')).toEqual([0, 0]);
    expect(ttl(['Cache-Control', 'max-age=60, public, must-revalidate'])).toBe(60);
  });

  it('reads stale-if-error after stale-while-revalidate whichever comes first', () => {
    expect(windows('stale-if-error=60, stale-while-revalidate=30')).toEqual([30_000, 60_000]);
    expect(windows('max-age=5;stale-while-revalidate=9')).toEqual([9000, 9000]);
  });
});

describe('Expires', () => {
  it('still counts an Expires of this very second, as nginx compares whole seconds', () => {
    const thisSecond = formatHttpDate(now);
    expect(freshness(200, ['Expires', thisSecond], now, tenMinutes(), all())).toEqual({
      expiresAt: now,
      updatingMs: 0,
      errorMs: 0,
      fromHeaders: true,
    });
    expect(freshness(200, ['Expires', thisSecond], now + 999, tenMinutes(), all())?.expiresAt).toBe(now);
    expect(freshness(200, ['Expires', thisSecond], now + 1000, tenMinutes(), all())).toBeUndefined();
    expect(ttl(['Expires', formatHttpDate(now - 1000)], tenMinutes())).toBeUndefined();
    expect(ttl(['Expires', formatHttpDate(now + 1000)], tenMinutes())).toBe(1);
  });
});

describe('X-Accel-Expires', () => {
  it('ignores a value that is not all digits, letting Cache-Control or valid decide', () => {
    for (const xae of ['60abc', 'abc60', '6 0', '-60', '+60', '']) {
      expect(ttl(['X-Accel-Expires', xae], tenMinutes()), xae).toBe(600);
      expect(ttl(['X-Accel-Expires', xae, 'Cache-Control', 'max-age=5']), xae).toBe(5);
    }
    for (const xae of ['@60abc', '@abc60', '@', '@-5']) {
      expect(ttl(['X-Accel-Expires', xae], tenMinutes()), xae).toBe(600);
    }
  });

  it('reads seconds from now and an epoch, with no stale windows', () => {
    expect(freshness(200, ['X-Accel-Expires', '90'], now, none(), all())).toEqual({
      expiresAt: now + 90_000,
      updatingMs: 0,
      errorMs: 0,
      fromHeaders: true,
    });
    expect(
      freshness(
        200,
        ['X-Accel-Expires', '@1800000090', 'Cache-Control', 'stale-if-error=60'],
        now,
        none(),
        all(),
      ),
    ).toEqual({ expiresAt: 1_800_000_090_000, updatingMs: 0, errorMs: 0, fromHeaders: true });
  });

  it('never caches X-Accel-Expires: 0, even with a lifetime from valid', () => {
    expect(ttl(['X-Accel-Expires', '0'], tenMinutes())).toBeUndefined();
    expect(ttl(['X-Accel-Expires', '00'], tenMinutes())).toBeUndefined();
  });

  it('reads a value with spaces around it', () => {
    expect(ttl(['X-Accel-Expires', ' 60 '], tenMinutes())).toBe(60);
    expect(ttl(['X-Accel-Expires', ' 0'], tenMinutes())).toBeUndefined();
  });

  it('reads only the first X-Accel-Expires line', () => {
    expect(ttl(['X-Accel-Expires', '30', 'X-Accel-Expires', '60'])).toBe(30);
  });
});

describe('Vary length', () => {
  it('caches Vary lines of 128 characters together, and not of 129', () => {
    // Two lines read together: 62 + ', ' + 64 = 128.
    expect(ttl(['Vary', 'A'.repeat(62), 'Vary', 'B'.repeat(64)], tenMinutes())).toBe(600);
    expect(ttl(['Vary', 'A'.repeat(63), 'Vary', 'B'.repeat(64)], tenMinutes())).toBeUndefined();
    expect(ttl(['Vary', 'A'.repeat(128)], tenMinutes())).toBe(600);
  });
});

describe('valid', () => {
  it('takes milliseconds as a number, for 200, 301 and 302', () => {
    const t = resolveValid(90_000);
    expect([200, 301, 302, 304, 404].map((s) => validFor(t, s))).toEqual([90_000, 90_000, 90_000, 0, 0]);
    expect(t.anyMs).toBeUndefined();
    expect(validFor(resolveValid({ 404: 5000 }), 404)).toBe(5000);
  });

  it('gives a lifetime from valid that is not from headers', () => {
    expect(freshness(404, [], now, resolveValid({ 404: '1m' }), all())).toEqual({
      expiresAt: now + 60_000,
      updatingMs: 0,
      errorMs: 0,
      fromHeaders: false,
    });
    expect(freshness(500, [], now, resolveValid({ any: '5s' }), all())?.expiresAt).toBe(now + 5000);
    expect(freshness(200, [], now, resolveValid({ 200: 0 }), all())).toBeUndefined();
  });

  it('accepts status keys 100 to 599 and any', () => {
    const t = resolveValid({ 100: '1s', 599: '2s', any: '3s' });
    expect([validFor(t, 100), validFor(t, 599), validFor(t, 600)]).toEqual([1000, 2000, 3000]);
  });

  it('refuses status keys outside 100-599 or not three digits', () => {
    for (const key of ['099', '600', '999', '1000', '20', '2xx', ' 200', '200 ', 'ANY']) {
      expect(() => resolveValid({ [key]: '1m' } as ValidOption), key).toThrow(
        `valid.${key}: expected a status code 100-599 or "any" as the key, got "${key}"`,
      );
    }
  });

  it('refuses a bad time, naming the option path given', () => {
    expect(() => resolveValid('soon', 'cache.valid')).toThrow(
      'cache.valid: expected an nginx time such as "10m", or ms, got "soon"',
    );
    expect(() => resolveValid({ any: 'x' }, 'cache.valid')).toThrow(
      'cache.valid.any: expected an nginx time',
    );
    expect(() => resolveValid(null as unknown as ValidOption)).toThrow(
      'valid: expected a time, or an object of status → time, got null',
    );
    expect(() => resolveValid(true as unknown as ValidOption)).toThrow('valid: expected a time');
  });
});

describe('ignoreHeaders', () => {
  it('switches off only the headers named, in any case', () => {
    expect(resolveHeaderRules(['EXPIRES'])).toEqual({
      xAccelExpires: true,
      expires: false,
      cacheControl: true,
      setCookie: true,
      vary: true,
    });
    expect(resolveHeaderRules([])).toEqual(all());
  });

  it('refuses what is not an array of known names, naming the entry', () => {
    expect(() => resolveHeaderRules('Expires' as unknown as string[])).toThrow(
      'ignoreHeaders: expected an array of header names, got "Expires"',
    );
    expect(() => resolveHeaderRules(['Vary', 5 as unknown as string], 'cache.ignoreHeaders')).toThrow(
      'cache.ignoreHeaders[1]: expected one of X-Accel-Expires, Expires, Cache-Control, Set-Cookie, Vary, got 5',
    );
  });
});

describe('entity tags, walked as nginx does', () => {
  it('matches a member only when a comma, spaces or tabs, or the end follow it', () => {
    expect(etagListMatches('"e1" , "a"', '"e1"')).toBe(true);
    expect(etagListMatches('"e1",', '"e1"')).toBe(true);
    expect(etagListMatches('"e1"\t', '"e1"')).toBe(true);
    expect(etagListMatches('"e1"\t, "a"', '"e1"')).toBe(true);
    expect(etagListMatches('"e1"x', '"e1"')).toBe(false);
    expect(etagListMatches('"e1"x, "a"', '"e1"')).toBe(false);
    expect(etagListMatches('"e1" x', '"e1"')).toBe(false);
  });

  it('takes W/ as a weak prefix only when something follows it', () => {
    // nginx (ngx_http_test_if_match): `len > 2` before it skips "W/", in the ETag and in the list.
    expect(etagListMatches('W/', 'W/')).toBe(true);
    expect(etagListMatches('"a", W/', 'W/')).toBe(true);
    expect(etagListMatches('W/"x"', 'W/"x"')).toBe(true);
  });
});

describe('Vary names and tags', () => {
  it('drops the empty names around commas and spaces', () => {
    expect(varyNames(['Vary', 'Accept,'])).toEqual(['accept']);
    expect(varyNames(['Vary', ', Cookie'])).toEqual(['cookie']);
    expect(varyNames(['Vary', ', '])).toBeUndefined();
  });

  it('drops the empty tags around commas and spaces', () => {
    expect(tagsOf(['Cache-Tag', 'a, b,', 'Surrogate-Key', ' c '], ['cache-tag', 'surrogate-key'])).toEqual([
      'a',
      'b',
      'c',
    ]);
  });
});
