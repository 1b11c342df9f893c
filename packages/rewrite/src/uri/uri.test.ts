import { describe, expect, it } from 'vitest';
import { parseTarget, validateHost } from './index.js';

describe('parseTarget', () => {
  it('keeps a plain path as it came, with its arguments apart', () => {
    expect(parseTarget('/a/b.html?x=1&y')).toEqual({
      uri: '/a/b.html',
      args: 'x=1&y',
      unparsed: '/a/b.html?x=1&y',
      quoted: false,
      plus: false,
      host: undefined,
    });
  });

  it('decodes escapes, merges slashes and resolves dot segments', () => {
    expect(parseTarget('/a//b///c')?.uri).toBe('/a/b/c');
    expect(parseTarget('/a/../b')?.uri).toBe('/b');
    expect(parseTarget('/a/b/.')?.uri).toBe('/a/b/');
    expect(parseTarget('/a%20b')?.uri).toBe('/a b');
    expect(parseTarget('/%7Euser')?.uri).toBe('/~user');
    expect(parseTarget('/a%2e%2e/b')?.uri).toBe('/a../b');
    expect(parseTarget('/a/%2e%2e/b')?.uri).toBe('/b');
    expect(parseTarget('/x/a%2Fb')?.uri).toBe('/x/a/b');
    expect(parseTarget('/%C3%A9')?.uri).toBe('/\u00c3\u00a9');
  });

  it('keeps %25, %23 and %3F as literal bytes', () => {
    expect(parseTarget('/a%25b%23c%3Fd?q')).toMatchObject({ uri: '/a%b#c?d', args: 'q', quoted: true });
  });

  it('sets plus_in_uri for a + or %2B in the path only', () => {
    expect(parseTarget('/a+b')?.plus).toBe(true);
    expect(parseTarget('/a%2Bb')?.plus).toBe(true);
    expect(parseTarget('/a?b+c')?.plus).toBe(false);
  });

  it('answers 400 for bad escapes, %00, spaces and climbing above the root', () => {
    expect(parseTarget('/a%zzb')).toBeUndefined();
    expect(parseTarget('/a%00b')).toBeUndefined();
    expect(parseTarget('/a%2')).toBeUndefined();
    expect(parseTarget('/a b')).toBeUndefined();
    expect(parseTarget('/../a')).toBeUndefined();
    expect(parseTarget('*')).toBeUndefined();
  });

  it('drops a fragment from the path and the arguments', () => {
    expect(parseTarget('/a#frag')).toMatchObject({ uri: '/a', args: '' });
    expect(parseTarget('/a?x=1#frag')).toMatchObject({ uri: '/a', args: 'x=1' });
  });

  it('reads the host of an absolute-form target', () => {
    expect(parseTarget('http://Example.COM:8080/p?q')).toMatchObject({
      uri: '/p',
      args: 'q',
      host: 'example.com',
    });
    expect(parseTarget('http://example.com')).toMatchObject({ uri: '/', unparsed: '/' });
  });
});

describe('validateHost', () => {
  it('lower-cases, drops the port and one trailing dot', () => {
    expect(validateHost('Mixed.Case.COM:8443')).toBe('mixed.case.com');
    expect(validateHost('example.com.')).toBe('example.com');
    expect(validateHost('[::1]:80')).toBe('[::1]');
  });

  it('rejects .., slashes, spaces and an empty host', () => {
    expect(validateHost('a..b')).toBeUndefined();
    expect(validateHost('a/b')).toBeUndefined();
    expect(validateHost('a b')).toBeUndefined();
    expect(validateHost('')).toBeUndefined();
    expect(validateHost(':80')).toBeUndefined();
  });
});
