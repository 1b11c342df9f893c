import { describe, expect, it } from 'vitest';
import { compileMatch, type MatchOptions } from './match.js';

type Headers = Record<string, string | string[] | undefined>;

/** The rule a response fails (`undefined`: it passes). */
const verdict = (match: MatchOptions | undefined, status: number, headers: Headers = {}, body = '') =>
  compileMatch(match).test(status, headers, body);

/** The statuses of `statuses` that pass `status`. */
const passing = (status: string | undefined, statuses: number[]) =>
  statuses.filter((s) => verdict(status === undefined ? undefined : { status }, s) === undefined);

/** What compiling `match` throws, as the fields callers read. */
function refusal(match: unknown, path?: string) {
  try {
    compileMatch(match as MatchOptions, path);
  } catch (err) {
    const e = err as { code: string; path: string; message: string };
    return { code: e.code, path: e.path, message: e.message };
  }
  throw new Error('compileMatch accepted it');
}

describe('match: statuses', () => {
  it('passes 200-399 by default, ranges inclusive, and names the failing status', () => {
    expect(passing(undefined, [100, 199, 200, 204, 301, 304, 399, 400, 404, 500])).toEqual([
      200, 204, 301, 304, 399,
    ]);
    expect(verdict({}, 500)).toBe('status 500');
    expect(verdict(undefined, 199)).toBe('status 199');
  });

  it('reads a single status, a list and ranges, with any spaces between and around them', () => {
    expect(passing('200', [199, 200, 201, 204])).toEqual([200]);
    expect(passing('200 204', [200, 201, 203, 204, 205])).toEqual([200, 204]);
    expect(passing('  200   204  ', [200, 201, 204])).toEqual([200, 204]);
    expect(passing('300-302 404', [299, 300, 301, 302, 303, 403, 404, 405])).toEqual([300, 301, 302, 404]);
    expect(passing('204-204', [203, 204, 205])).toEqual([204]);
  });

  it('negates the whole list after `!`, with or without a space', () => {
    expect(passing('! 500', [200, 204, 404, 499, 500, 501])).toEqual([200, 204, 404, 499, 501]);
    expect(passing('!500', [200, 500])).toEqual([200]);
    expect(passing('! 400-599', [200, 399, 400, 503, 599, 600])).toEqual([200, 399, 600]);
    expect(passing('! 301 302', [200, 301, 302, 303])).toEqual([200, 303]);
    expect(verdict({ status: '! 500' }, 500)).toBe('status 500');
  });

  it('refuses anything but three-digit statuses and ranges, naming the option', () => {
    for (const status of [
      '2xx',
      '20',
      '2000',
      '1200',
      'x200',
      '200x',
      '200-',
      '-200',
      '200-3000',
      '! ',
      '',
    ]) {
      expect(refusal({ status })).toEqual({
        code: 'SWY_ERR_INVALID_OPTION',
        path: 'match.status',
        message: `match.status: expected statuses like "200", "200 204", "200-399" or "! 500", got "${status}"`,
      });
    }
  });

  it('refuses a range that ends below its start, and accepts one that ends at it', () => {
    expect(refusal({ status: '399-200' })).toEqual({
      code: 'SWY_ERR_INVALID_OPTION',
      path: 'match.status',
      message: 'match.status: expected a range whose end is not below its start, got "399-200"',
    });
    expect(() => compileMatch({ status: '200-200' })).not.toThrow();
  });

  it('names the option under the path it was given', () => {
    expect(refusal({ status: '2xx' }, 'upstreams.api.check.match').path).toBe(
      'upstreams.api.check.match.status',
    );
  });
});

describe('match: headers', () => {
  it('requires a header present or absent, by its name in any case', () => {
    const present = { headers: [{ name: 'X-Ready', present: true }] };
    expect(verdict(present, 200, { 'x-ready': '' })).toBeUndefined();
    expect(verdict(present, 200, {})).toBe('header x-ready absent');
    const absent = { headers: [{ name: 'X-Maintenance', present: false }] };
    expect(verdict(absent, 200, {})).toBeUndefined();
    expect(verdict(absent, 200, { 'x-maintenance': '1' })).toBe('header x-maintenance present');
  });

  it('compares `=` and `!=` with the whole value, a repeated header joined by ", "', () => {
    const eq = { headers: [{ name: 'Content-Type', op: '=' as const, value: 'text/plain' }] };
    expect(verdict(eq, 200, { 'content-type': 'text/plain' })).toBeUndefined();
    expect(verdict(eq, 200, { 'content-type': 'text/plain; charset=utf-8' })).toBe(
      'header content-type = text/plain',
    );
    expect(verdict(eq, 200, {})).toBe('header content-type = text/plain');
    const joined = { headers: [{ name: 'X-Role', op: '=' as const, value: 'a, b' }] };
    expect(verdict(joined, 200, { 'x-role': ['a', 'b'] })).toBeUndefined();
    expect(verdict(joined, 200, { 'x-role': ['a,b'] })).toBe('header x-role = a, b');

    const ne = { headers: [{ name: 'X-Status', op: '!=' as const, value: 'draining' }] };
    expect(verdict(ne, 200, { 'x-status': 'up' })).toBeUndefined();
    expect(verdict(ne, 200, {})).toBeUndefined();
    expect(verdict(ne, 200, { 'x-status': 'draining' })).toBe('header x-status != draining');
    expect(verdict(ne, 200, { 'x-status': ['drain', 'ing'] })).toBeUndefined();
  });

  it('matches `~` and `!~` against a RegExp or its source; an absent header matches nothing', () => {
    for (const value of ['^up', /^up/]) {
      const has = { headers: [{ name: 'X-State', op: '~' as const, value }] };
      expect(verdict(has, 200, { 'x-state': 'up-since-10' })).toBeUndefined();
      expect(verdict(has, 200, { 'x-state': 'going up' })).toBe('header x-state ~ ^up');
      expect(verdict(has, 200, {})).toBe('header x-state ~ ^up');
      const hasNot = { headers: [{ name: 'X-State', op: '!~' as const, value }] };
      expect(verdict(hasNot, 200, { 'x-state': 'going up' })).toBeUndefined();
      expect(verdict(hasNot, 200, {})).toBeUndefined();
      expect(verdict(hasNot, 200, { 'x-state': 'up' })).toBe('header x-state !~ ^up');
    }
    const joined = { headers: [{ name: 'Via', op: '~' as const, value: /^a, b$/ }] };
    expect(verdict(joined, 200, { via: ['a', 'b'] })).toBeUndefined();
  });

  it('does not match an absent header against its pattern as the text "undefined"', () => {
    const m = { headers: [{ name: 'X-State', op: '~' as const, value: 'undefined|^$' }] };
    expect(verdict(m, 200, {})).toBe('header x-state ~ undefined|^$');
    expect(verdict(m, 200, { 'x-state': '' })).toBeUndefined();
  });

  it('keeps a RegExp object as given, flags included', () => {
    const m = { headers: [{ name: 'X-State', op: '~' as const, value: /^UP$/i }] };
    expect(verdict(m, 200, { 'x-state': 'up' })).toBeUndefined();
  });

  it('requires every header rule, reporting the first that fails, after the status', () => {
    const m: MatchOptions = {
      status: '200',
      headers: [
        { name: 'A', op: '=', value: '1' },
        { name: 'B', present: true },
        { name: 'C', op: '~', value: 'ok' },
      ],
    };
    expect(verdict(m, 200, { a: '1', b: 'x', c: 'ok' })).toBeUndefined();
    expect(verdict(m, 200, { a: '2', c: 'no' })).toBe('header a = 1');
    expect(verdict(m, 200, { a: '1', c: 'no' })).toBe('header b absent');
    expect(verdict(m, 200, { a: '1', b: 'x', c: 'no' })).toBe('header c ~ ok');
    expect(verdict(m, 503, { a: '2' })).toBe('status 503');
  });

  it('refuses a header rule without a name, with a wrong value or an unknown op', () => {
    expect(refusal({ headers: [{ name: '', present: true }] })).toEqual({
      code: 'SWY_ERR_INVALID_OPTION',
      path: 'match.headers[0].name',
      message: 'match.headers[0].name: expected a header name, got ""',
    });
    expect(refusal({ headers: [{ name: 'a', present: true }, {}] }).path).toBe('match.headers[1].name');
    expect(refusal({ headers: [null] }).path).toBe('match.headers[0].name');
    expect(refusal({ headers: [{ name: 'a', op: '=', value: /x/ }] })).toEqual({
      code: 'SWY_ERR_INVALID_OPTION',
      path: 'match.headers[0].value',
      message: 'match.headers[0].value: expected a string, got /x/',
    });
    expect(refusal({ headers: [{ name: 'a', op: '!=', value: 1 }] }).path).toBe('match.headers[0].value');
    expect(refusal({ headers: [{ name: 'a', op: '~', value: '(' }] })).toEqual({
      code: 'SWY_ERR_INVALID_OPTION',
      path: 'match.headers[0].value',
      message: 'match.headers[0].value: expected a valid regular expression, got "("',
    });
    expect(refusal({ headers: [{ name: 'a', op: '!~', value: 5 }] })).toEqual({
      code: 'SWY_ERR_INVALID_OPTION',
      path: 'match.headers[0].value',
      message: 'match.headers[0].value: expected a RegExp or its source, got 5',
    });
    expect(refusal({ headers: [{ name: 'a', op: '==', value: 'x' }] })).toEqual({
      code: 'SWY_ERR_INVALID_OPTION',
      path: 'match.headers[0].op',
      message: 'match.headers[0].op: expected one of "=", "!=", "~", "!~", got "=="',
    });
  });
});

describe('match: body', () => {
  it('reads the body only when a body rule is given', () => {
    expect(compileMatch(undefined).readsBody).toBe(false);
    expect(compileMatch({ status: '200', headers: [{ name: 'a', present: true }] }).readsBody).toBe(false);
    expect(compileMatch({ body: { op: '~', pattern: 'ok' } }).readsBody).toBe(true);
  });

  it('passes a body that matches `~`, or does not match `!~`, with a RegExp or its source', () => {
    for (const pattern of ['systems? go', /systems? go/]) {
      expect(verdict({ body: { op: '~', pattern } }, 200, {}, 'all systems go')).toBeUndefined();
      expect(verdict({ body: { op: '~', pattern } }, 200, {}, 'down')).toBe('body ~ systems? go');
      expect(verdict({ body: { op: '!~', pattern } }, 200, {}, 'down')).toBeUndefined();
      expect(verdict({ body: { op: '!~', pattern } }, 200, {}, 'system go')).toBe('body !~ systems? go');
    }
  });

  it('checks the body last, after the status and the headers', () => {
    const m: MatchOptions = { headers: [{ name: 'a', present: true }], body: { op: '~', pattern: 'ok' } };
    expect(verdict(m, 500, {}, 'no')).toBe('status 500');
    expect(verdict(m, 200, {}, 'no')).toBe('header a absent');
    expect(verdict(m, 200, { a: '' }, 'no')).toBe('body ~ ok');
  });

  it('refuses an unknown body op or a bad pattern', () => {
    expect(refusal({ body: { op: '=', pattern: 'x' } })).toEqual({
      code: 'SWY_ERR_INVALID_OPTION',
      path: 'match.body.op',
      message: 'match.body.op: expected one of "~", "!~", got "="',
    });
    expect(refusal({ body: { op: '~', pattern: '[' } }).path).toBe('match.body.pattern');
    expect(refusal({ body: { op: '!~', pattern: 1 } }).path).toBe('match.body.pattern');
  });
});
