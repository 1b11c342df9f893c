import { describe, expect, it } from 'vitest';
import { compileNginx } from '../nginx/index.js';
import type { RewriteRequest } from '../types.js';

const evaluate = (config: string, request: Partial<RewriteRequest> = {}) =>
  compileNginx(config).evaluate({ uri: '/', headers: { host: 'h' }, ...request });

describe('what a return answers, as ngx_http_script_return_code', () => {
  it('sends the text of a return, or an empty body below 400', () => {
    expect(evaluate('return 200 ok;')).toEqual({ action: 'return', status: 200, body: 'ok' });
    expect(evaluate('return 204;')).toEqual({ action: 'return', status: 204, body: '' });
    expect(evaluate('return 404 gone;')).toEqual({ action: 'return', status: 404, body: 'gone' });
  });

  it('leaves the body of a status from 400 to nginx when there is no text, or an empty one', () => {
    expect(evaluate('return 404;')).toEqual({ action: 'return', status: 404 });
    expect(evaluate('return 503 "";')).toEqual({ action: 'return', status: 503 });
  });

  it('sends no body to a HEAD request', () => {
    expect(evaluate('return 200 ok;', { method: 'HEAD' })).toEqual({ action: 'return', status: 200 });
  });

  it('closes the connection on 444: no body, no headers, even always ones', () => {
    expect(evaluate('add_header X-A 1 always; return 444 text;')).toEqual({ action: 'return', status: 444 });
    expect(evaluate('add_header X-A 1 always; return 404 text;')).toEqual({
      action: 'return',
      status: 404,
      body: 'text',
      addHeaders: [{ name: 'X-A', value: '1', always: true, replace: false }],
    });
  });

  it('redirects for 301, 302, 303, 307 and 308 with a text, and answers other codes with it', () => {
    for (const status of [301, 302, 303, 307, 308]) {
      expect(evaluate(`return ${status} /x;`)).toEqual({
        action: 'redirect',
        status,
        location: 'http://h/x',
      });
    }
    expect(evaluate('return 300 /x;')).toEqual({ action: 'return', status: 300, body: '/x' });
  });
});

describe('break', () => {
  it('keeps the rewritten URI in the same location, without a new search', () => {
    const config = `
      location / { rewrite ^/a$ /b; break; proxy_pass http://u; }
      location /b { return 200 b; }
    `;
    expect(evaluate(config, { uri: '/a' })).toEqual({
      action: 'pass',
      uri: '/b',
      location: '/',
      target: 'http://u',
    });
    // Without break, the new URI is searched again.
    expect(evaluate(config.replace(' break;', ''), { uri: '/a' })).toEqual({
      action: 'return',
      status: 200,
      body: 'b',
    });
  });
});

describe('the arguments of a rewrite, as the rewrite directive documents them', () => {
  const rewritten = (replacement: string, flag = '') =>
    evaluate(`location / { rewrite ^/a$ ${replacement}${flag}; proxy_pass http://u; }`, { uri: '/a?orig=1' });

  it('keeps the request arguments, after any the replacement gives', () => {
    expect(rewritten('/b')).toMatchObject({ action: 'pass', uri: '/b?orig=1' });
    expect(rewritten('/b?x=1')).toMatchObject({ action: 'pass', uri: '/b?x=1&orig=1' });
    expect(rewritten('/b?x=$arg_orig', ' break')).toMatchObject({ action: 'pass', uri: '/b?x=1&orig=1' });
    expect(rewritten('/b?x=1', ' redirect')).toEqual({
      action: 'redirect',
      status: 302,
      location: 'http://h/b?x=1&orig=1',
    });
  });

  it('drops them when the replacement ends with a question mark', () => {
    expect(rewritten('/b?')).toMatchObject({ action: 'pass', uri: '/b' });
    expect(rewritten('/b?', ' redirect')).toEqual({
      action: 'redirect',
      status: 302,
      location: 'http://h/b',
    });
  });
});

describe('what is passed upstream, as proxy_pass builds it', () => {
  it('uses the URI of a proxy_pass with variables as it is, the request URI when it has none', () => {
    const viaArg = (url: string, uri = '/a/x?h=u') =>
      evaluate(`location /a/ { proxy_pass ${url}; }`, { uri });
    expect(viaArg('http://$arg_h/p')).toEqual({
      action: 'pass',
      uri: '/p',
      location: '/a/',
      target: 'http://u',
    });
    expect(viaArg('http://$arg_h?q=1')).toEqual({
      action: 'pass',
      uri: '/?q=1',
      location: '/a/',
      target: 'http://u',
    });
    expect(viaArg('HTTPS://$arg_h')).toEqual({
      action: 'pass',
      uri: '/a/x?h=u',
      location: '/a/',
      target: 'https://u',
    });
    // No host once the variables are read: nginx answers 500.
    expect(viaArg('http://$arg_h', '/a/x')).toEqual({ action: 'return', status: 500 });
  });

  it('replaces the location prefix with the URI part of a fixed proxy_pass', () => {
    const config = 'location /a/ { proxy_pass http://u/b/; }';
    expect(evaluate(config, { uri: '/a/x?q=1' })).toEqual({
      action: 'pass',
      uri: '/b/x?q=1',
      location: '/a/',
      target: 'http://u',
    });
    expect(evaluate(config, { uri: '/a/%7Ex?q' })).toMatchObject({ uri: '/b/~x?q' });
    expect(evaluate('location /a/ { proxy_pass http://u; }', { uri: '/a/%7Ex?q' })).toMatchObject({
      uri: '/a/%7Ex?q',
    });
  });

  it('carries the header directives in force to the pass', () => {
    const config = `location /a/ {
      proxy_pass http://u/b/; proxy_hide_header X-A; proxy_pass_header Server;
      add_header X-U $uri; proxy_set_header X-S $uri;
    }`;
    expect(evaluate(config, { uri: '/a/x' })).toEqual({
      action: 'pass',
      uri: '/b/x',
      location: '/a/',
      target: 'http://u',
      addHeaders: [{ name: 'X-U', value: '/a/x', always: false, replace: false }],
      setHeaders: [{ name: 'X-S', value: '/a/x' }],
      hideHeaders: ['x-a'],
      passHeaders: ['server'],
    });
  });

  it('adds to an error status only the always headers, and nothing for an empty value', () => {
    const config =
      'location /a/ { add_header X-U $uri; add_header X-E "$arg_none"; add_header X-V v$uri always; return 404 no; }';
    expect(evaluate(config, { uri: '/a/x' })).toEqual({
      action: 'return',
      status: 404,
      body: 'no',
      addHeaders: [{ name: 'X-V', value: 'v/a/x', always: true, replace: false }],
    });
    expect(evaluate(config.replace('404', '200'), { uri: '/a/x' })).toEqual({
      action: 'return',
      status: 200,
      body: 'no',
      addHeaders: [
        { name: 'X-U', value: '/a/x', always: false, replace: false },
        { name: 'X-V', value: 'v/a/x', always: true, replace: false },
      ],
    });
  });
});
