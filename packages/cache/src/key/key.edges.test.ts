import { describe, expect, it } from 'vitest';
import type { CacheRequest } from '../types.js';
import { compileKey, DEFAULT_KEY } from './index.js';

const get = (url: string, headers: CacheRequest['headers'] = {}): CacheRequest => ({
  method: 'GET',
  url,
  headers,
});

const keyOf = (template: string, req: CacheRequest) => compileKey(template)(req);

describe('compileKey: each variable at its edges', () => {
  it('reads $host lowercased without its port, and empty without a Host', () => {
    expect(keyOf('$host', get('/', { host: 'WWW.Example.COM:8080' }))).toBe('www.example.com');
    expect(keyOf('$host', get('/', { host: 'example.com:' }))).toBe('example.com');
    expect(keyOf('$host', get('/', { host: 'example.com' }))).toBe('example.com');
    expect(keyOf('$host', get('/', { host: '[::1]:80' }))).toBe('[::1]');
    expect(keyOf('$host', get('/', {}))).toBe('');
    expect(keyOf('<$host>', get('/', {}))).toBe('<>');
  });

  it('reads $proxy_host as the proxied host, else the Host as sent', () => {
    expect(keyOf('$proxy_host', get('/', { host: 'A.example:81' }))).toBe('A.example:81');
    expect(keyOf('$proxy_host', { ...get('/', { host: 'a' }), proxyHost: 'up' })).toBe('up');
    expect(keyOf('$proxy_host|', get('/', {}))).toBe('|');
  });

  it('reads $scheme, http unless the request says otherwise', () => {
    expect(keyOf('$scheme', get('/'))).toBe('http');
    expect(keyOf('$scheme', { ...get('/'), scheme: 'https' })).toBe('https');
  });

  it('splits $uri and $args at the first ?', () => {
    const r = get('/p?a=1?b=2');
    expect(keyOf('$uri|$args|$query_string|$is_args|$request_uri', r)).toBe(
      '/p|a=1?b=2|a=1?b=2|?|/p?a=1?b=2',
    );
    expect(keyOf('$uri|$args|$is_args', get('/p?'))).toBe('/p||?');
    expect(keyOf('$uri|$args|$is_args', get('/p'))).toBe('/p||');
  });

  it('reads $arg_NAME as nginx: the first NAME= argument, the name without case, a bare name skipped', () => {
    const r = get('/?a=1&ab=2&b&c=x=y');
    expect(keyOf('[$arg_a][$arg_ab][$arg_b][$arg_c][$arg_d]', r)).toBe('[1][2][][x=y][]');
    expect(keyOf('[$arg_b]', get('/?bb=1&b=2'))).toBe('[2]');
    expect(keyOf('[$arg_a]', get('/a=1'))).toBe('[]');
    // ngx_http_arg: a bare `b` is not `b=`, so the next one gives the value.
    expect(keyOf('[$arg_b]', get('/?b&b=2'))).toBe('[2]');
    expect(keyOf('[$arg_page]', get('/?PAGE=3'))).toBe('[3]');
  });

  it('reads $cookie_NAME by its whole name', () => {
    const r = get('/', { cookie: 'sidx=no; sid=abc; lang=fr' });
    expect(keyOf('[$cookie_sid][$cookie_lang][$cookie_none]', r)).toBe('[abc][fr][]');
    expect(keyOf('[$cookie_sid]', get('/'))).toBe('[]');
    expect(keyOf('[$cookie_a]', get('/', { cookie: 'a=1=2' }))).toBe('[1=2]');
  });

  it('reads $http_NAME with underscores as dashes, in any case', () => {
    const r = get('/', { 'x-api-version': '3' });
    expect(keyOf('[$http_x_api_version][$http_X_API_VERSION][$http_accept]', r)).toBe('[3][3][]');
  });

  it('refuses a prefix with no name after it', () => {
    for (const v of ['$http_', '$cookie_', '$arg_', '$http', '$cookie', '$arg', '$unknown_x']) {
      expect(() => compileKey(v), v).toThrow(`key: expected known variables only, got "${v}"`);
    }
  });

  it('keeps the text around and between variables, and reads the braced form as the plain one', () => {
    const r = { ...get('/x?q=1'), method: 'HEAD' };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an nginx template, not a JS one
    expect(keyOf('a ${request_method}b$uri c', r)).toBe('a HEADb/x c');
    expect(keyOf('$request_method$uri', r)).toBe('HEAD/x');
    expect(keyOf('plain', r)).toBe('plain');
    expect(keyOf('$request_method', r)).toBe('HEAD');
  });

  it('refuses a template that is not a non-empty string, under the path given', () => {
    expect(() => compileKey(5 as unknown as string, 'cache.key')).toThrow(
      'cache.key: expected a template string such as "$scheme$proxy_host$request_uri" or a function, got 5',
    );
    expect(() => compileKey('$nope', 'cache.key')).toThrow('cache.key: expected known variables only');
  });

  it('is nginx default proxy_cache_key', () => {
    expect(DEFAULT_KEY).toBe('$scheme$proxy_host$request_uri');
    expect(compileKey()({ ...get('/a?b'), proxyHost: 'up' })).toBe('httpup/a?b');
  });
});
