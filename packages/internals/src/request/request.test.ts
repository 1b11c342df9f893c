import { describe, expect, it } from 'vitest';
import { argOf, argsOf, asciiLower, cookieOf, originalUrlOf, pathOf, schemeOf } from './index.js';

describe('request helpers', () => {
  it('reads the scheme from the socket', () => {
    expect(schemeOf({ socket: { encrypted: true } })).toBe('https');
    expect(schemeOf({ socket: {} })).toBe('http');
    expect(schemeOf({ socket: null })).toBe('http');
  });

  it('prefers the URL before a router stripped its mount path', () => {
    const req = { url: '/x', originalUrl: '/api/x' };
    expect(originalUrlOf(req)).toBe('/api/x');
    expect(originalUrlOf({ url: '/x' })).toBe('/x');
    expect(originalUrlOf({})).toBe('/');
  });

  it('splits a request-target at its first "?" into the path and $args', () => {
    expect([pathOf('/a/b?x=1?y'), argsOf('/a/b?x=1?y')]).toEqual(['/a/b', 'x=1?y']);
    expect([pathOf('/a?'), argsOf('/a?')]).toEqual(['/a', '']);
    expect([pathOf('/a'), argsOf('/a')]).toEqual(['/a', '']);
  });

  it('lower-cases ASCII letters only, keeping the length', () => {
    expect(asciiLower('AbC-İ')).toBe('abc-İ');
  });
});

describe('cookieOf ($cookie_NAME)', () => {
  it('finds the first cookie of that name on any Cookie line', () => {
    expect(cookieOf('a=1; sid=abc; b=2', 'sid')).toBe('abc');
    expect(cookieOf(['a=1', 'sid=first', 'sid=second'], 'sid')).toBe('first');
    expect(cookieOf('sid = spaced ;x=1', 'sid')).toBe('spaced ');
  });

  it('matches the name without ASCII case and keeps the value as sent', () => {
    expect(cookieOf('SID=a%20b', 'sid')).toBe('a%20b');
    expect(cookieOf('sid=x', 'SID')).toBe('x');
  });

  it('answers undefined when there is no such cookie', () => {
    expect(cookieOf(undefined, 'sid')).toBeUndefined();
    expect(cookieOf('xsid=1; sidx=2', 'sid')).toBeUndefined();
    expect(cookieOf('sid', 'sid')).toBeUndefined();
  });
});

describe('argOf ($arg_NAME)', () => {
  it('gives the first NAME= argument, the name matched without case', () => {
    expect(argOf('a=1&b=2&b=3', 'b')).toBe('2');
    expect(argOf('Page=4', 'page')).toBe('4');
    expect(argOf('a=x=y', 'a')).toBe('x=y');
    expect(argOf('a=', 'a')).toBe('');
  });

  it('skips a bare name, a longer name and a name ending the string', () => {
    expect(argOf('b&b=2', 'b')).toBe('2');
    expect(argOf('bb=1&ab=2', 'b')).toBeUndefined();
    expect(argOf('x=1&b', 'b')).toBeUndefined();
    expect(argOf('', 'b')).toBeUndefined();
  });
});
