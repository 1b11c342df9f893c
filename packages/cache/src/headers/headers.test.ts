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

describe('parseHttpDate', () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);

  it('reads the three HTTP-date forms', () => {
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).toBe(t);
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).toBe(t);
  });

  it('refuses what nginx refuses, such as Expires: 0', () => {
    expect(parseHttpDate('0')).toBeUndefined();
    expect(parseHttpDate('-1')).toBeUndefined();
    expect(parseHttpDate('tomorrow')).toBeUndefined();
    expect(parseHttpDate('Sun, 06 Foo 1994 08:49:37 GMT')).toBeUndefined();
    expect(parseHttpDate('Sun, 06 Nov 1994 25:49:37 GMT')).toBeUndefined();
  });

  it('formats what it parses', () => {
    expect(formatHttpDate(t)).toBe('Sun, 06 Nov 1994 08:49:37 GMT');
    expect(parseHttpDate(formatHttpDate(t))).toBe(t);
  });
});
