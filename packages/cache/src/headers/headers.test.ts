import { describe, expect, it } from 'vitest';
import { allHeaders, firstHeader, formatHttpDate, parseHttpDate, requestHeader } from './index.js';

describe('flat header lists', () => {
  const list = ['Cache-Control', 'public', 'X-A', '1', 'cache-control', 'max-age=60'];

  it('finds the first and every value of a header whatever its case', () => {
    expect(firstHeader(list, 'cache-control')).toBe('public');
    expect(allHeaders(list, 'cache-control')).toEqual(['public', 'max-age=60']);
    expect(firstHeader(list, 'vary')).toBeUndefined();
    expect(allHeaders(list, 'vary')).toEqual([]);
  });

  it('reads a request header joined when Node kept it as a list', () => {
    expect(requestHeader({ 'x-a': ['1', '2'] }, 'x-a')).toBe('1, 2');
    expect(requestHeader({ 'x-a': '1' }, 'x-a')).toBe('1');
    expect(requestHeader({}, 'x-a')).toBeUndefined();
  });
});

describe('parseHttpDate: nginx ngx_parse_http_time', () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);

  it('reads the three HTTP-date forms', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(t);
    expect(parseHttpDate('Sun Nov 06 08:49:37 1994')).toBe(t);
    expect(parseHttpDate('Sunday, 06-Nov-69 08:49:37 GMT')).toBe(Date.UTC(2069, 10, 6, 8, 49, 37));
  });

  it('refuses a two-digit year or dashes outside the RFC 850 form', () => {
    expect(parseHttpDate('Sun, 06 Nov 94 08:49:37 GMT')).toBeUndefined();
    expect(parseHttpDate('Sun, 06-Nov-1994 08:49:37 GMT')).toBeUndefined();
    expect(parseHttpDate('Sun, 06 Nov-1994 08:49:37 GMT')).toBeUndefined();
    expect(parseHttpDate('Sun, 06-Nov 94 08:49:37 GMT')).toBeUndefined();
    expect(parseHttpDate('Sun Nov 06 08:49:37 94')).toBeUndefined();
  });

  it('refuses what else nginx refuses, such as Expires: 0', () => {
    for (const bad of [
      '0',
      '-1',
      '',
      'tomorrow',
      'Sun, 6 Nov 1994 08:49:37 GMT',
      '06 Nov 1994 08:49:37 GMT',
      'Sun 06 Nov 1994 08:49:37 GMT',
      'Sun, 06 nov 1994 08:49:37 GMT',
      'Sun, 06 Nov 1994 8:49:37 GMT',
      'Sun, 06 Nov 1994 24:00:00 GMT',
      'Sun, 06 Nov 1994 08:49:60 GMT',
      'Sun, 31 Nov 1994 08:49:37 GMT',
      'Sun, 29 Feb 1900 08:49:37 GMT',
    ]) {
      expect(parseHttpDate(bad), bad).toBeUndefined();
    }
  });

  it('ignores what nginx ignores: weekday, zone name, month letters after the first', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 UTC')).toBe(t);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 gMT')).toBe(t);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37')).toBe(t);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37+0200')).toBe(t);
    expect(parseHttpDate('Xyz,06 Nov 1994 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sun, 06 NOV 1994 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sun, 06 Nxx 1994 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994 GMT')).toBe(t);
  });

  it('counts days as nginx does: 29 February in leap years, day 0 as the day before the 1st', () => {
    expect(parseHttpDate('Tue, 29 Feb 2028 00:00:00 GMT')).toBe(Date.UTC(2028, 1, 29));
    expect(parseHttpDate('Thu, 00 Mar 2001 00:00:00 GMT')).toBe(Date.UTC(2001, 1, 28));
    expect(parseHttpDate('Sat, 01 Jan 0050 00:00:00 GMT')).toBe(
      Date.UTC(2050, 0, 1) - 2000 * 365.2425 * 86_400_000,
    );
  });

  it('formats what it parses', () => {
    expect(formatHttpDate(t)).toBe('Sun, 06 Nov 1994 08:49:37 GMT');
    expect(parseHttpDate(formatHttpDate(t))).toBe(t);
  });
});
