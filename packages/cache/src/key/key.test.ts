import { describe, expect, it } from 'vitest';
import { compileKey } from './index.js';

const req = {
  method: 'GET',
  url: '/a/b?x=1&y=two',
  headers: { host: 'Example.com:8080', cookie: 'sid=abc; lang=fr', 'accept-language': 'de' },
};

describe('compileKey', () => {
  it('builds nginx default key from scheme, proxy host and request uri', () => {
    expect(compileKey()(req)).toBe('httpExample.com:8080/a/b?x=1&y=two');
    expect(compileKey()({ ...req, scheme: 'https', proxyHost: 'backend' })).toBe(
      'httpsbackend/a/b?x=1&y=two',
    );
  });

  it('ends the default key with the Host a proxy forwards as the client sent it, and only that one', () => {
    const forwarded = { ...req, proxyHost: 'backend', upstreamHost: 'evil.example' };
    expect(compileKey()(forwarded)).toBe('httpbackend/a/b?x=1&y=two evil.example');
    expect(compileKey('$scheme$proxy_host$request_uri')(forwarded)).toBe('httpbackend/a/b?x=1&y=two');
  });

  it('reads every supported variable', () => {
    const key = compileKey(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an nginx template, not a JS one
      '$request_method|$host|$uri|$is_args|$args|$query_string|${arg_y}|$arg_z|$cookie_lang|$http_accept_language|x',
    );
    expect(key(req)).toBe('GET|example.com|/a/b|?|x=1&y=two|x=1&y=two|two||fr|de|x');
    expect(compileKey('$uri$is_args$args')({ ...req, url: '/p' })).toBe('/p');
  });

  it('takes a function as it is', () => {
    const fn = () => 'k';
    expect(compileKey(fn)).toBe(fn);
  });

  it('refuses an unknown variable or an empty template when built', () => {
    expect(() => compileKey('$nope')).toThrow('key: expected known variables only, got "$nope"');
    expect(() => compileKey('')).toThrow('key: expected a template string');
  });
});
