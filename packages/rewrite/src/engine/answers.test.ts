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
    expect(evaluate('return 404;')).toStrictEqual({ action: 'return', status: 404 });
    expect(evaluate('return 400;')).toStrictEqual({ action: 'return', status: 400 });
    expect(evaluate('return 399;')).toStrictEqual({ action: 'return', status: 399, body: '' });
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
    // A request without escapes is copied as it came (r->quoted_uri unset).
    expect(evaluate(config, { uri: '/a/x"y<é' })).toMatchObject({ uri: '/b/x"y<é' });
    expect(evaluate(config, { uri: '/a/x"y%20' })).toMatchObject({ uri: '/b/x%22y%20' });
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

describe('the fields of a result', () => {
  it('leaves out what the request has none of: body, headers, target', () => {
    expect(evaluate('return 302 /x;')).toStrictEqual({
      action: 'redirect',
      status: 302,
      location: 'http://h/x',
    });
    expect(evaluate('location / { }')).toStrictEqual({ action: 'pass', uri: '/', location: '/' });
    expect(evaluate('location / { proxy_pass http://u; proxy_set_header X-S 1; }')).toStrictEqual({
      action: 'pass',
      uri: '/',
      location: '/',
      target: 'http://u',
      setHeaders: [{ name: 'X-S', value: '1' }],
    });
  });
});

describe("nginx's own 500 answers", () => {
  const always = [{ name: 'X-A', value: '1', always: true, replace: false }];

  it.each([
    ['a rewrite cycle (the eleventh URI change)', 'rewrite ^ /again last;', '/', 11],
    ['a proxy_pass whose variables give no host', 'proxy_pass http://$arg_h;', '/', 1],
    [
      'a proxy_pass whose variables give an empty host before another URL',
      'proxy_pass http://$arg_h;',
      '/?h=/http://x',
      1,
    ],
  ])('answers 500 to %s, with the always headers of the location', (_, rules, uri, cycles) => {
    const engine = compileNginx(`location / { add_header X-A 1 always; ${rules} }`);
    const { result, steps, cycles: counted } = engine.trace({ uri, headers: { host: 'h' } });
    expect(result).toStrictEqual({ action: 'return', status: 500, addHeaders: always });
    expect(counted).toBe(cycles);
    expect(steps.filter((s) => s.kind === 'error')).toEqual([]);
  });

  it('answers 500 to a rewrite that leaves an empty URI ("the rewritten URI has a zero length")', () => {
    const config = 'location / { rewrite ^/(.*)$ $1 last; } location /q/ { rewrite ^/q/(.*)$ $1?a=1 last; }';
    for (const uri of ['/', '/q/']) {
      expect(evaluate(config, { uri })).toStrictEqual({ action: 'return', status: 500 });
    }
    const { steps } = compileNginx(config).trace({ uri: '/q/', headers: { host: 'h' } });
    expect(steps.at(-1)).toEqual({ kind: 'rewritten', uri: '', args: 'a=1' });
  });
});

describe('captures copied by set, as the script engine quotes them', () => {
  const set = 'if ($uri ~ ^/(.*)$) { set $v $1; } return 200 $v;';

  it('escapes a capture of an escaped request in the server rewrite phase', () => {
    expect(evaluate(set, { uri: '/a%20b' })).toEqual({ action: 'return', status: 200, body: 'a%20b' });
  });

  it('copies captures as they are once a rewrite has run, in the server and in a location', () => {
    const after = 'rewrite ^/(.*)$ /x/$1; if ($uri ~ ^/x/(.*)$) { set $v $1; } return 200 $v;';
    expect(evaluate(after, { uri: '/a%20b' })).toEqual({ action: 'return', status: 200, body: 'a b' });
    expect(evaluate(`location / { ${after} }`, { uri: '/a%20b' })).toEqual({
      action: 'return',
      status: 200,
      body: 'a b',
    });
  });

  it('gives an empty value for a named group that took no part in the match', () => {
    const config = 'if ($uri ~ ^/(?<a>x)?y$) { return 200 "[$a]"; }';
    expect(evaluate(config, { uri: '/y' })).toEqual({ action: 'return', status: 200, body: '[]' });
    expect(evaluate(config, { uri: '/xy' })).toEqual({ action: 'return', status: 200, body: '[x]' });
  });
});
