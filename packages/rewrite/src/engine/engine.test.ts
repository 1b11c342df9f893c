import { describe, expect, it } from 'vitest';
import { InvalidOptionError, RewriteSyntaxError } from '../errors.js';
import { compileNginx } from '../nginx/index.js';
import type { RewriteRequest } from '../types.js';
import { createEngine } from './index.js';

const req = (uri: string, extra: Partial<RewriteRequest> = {}): RewriteRequest => ({
  uri,
  headers: { host: 'example.com' },
  ...extra,
});

describe('redirects', () => {
  const engine = compileNginx(`
    rewrite ^/r/(.*)$ /new/$1 permanent;
    location = /ret { return 302 /elsewhere; }
  `);

  it('makes a relative Location absolute from the Host and the port', () => {
    expect(engine.evaluate(req('/r/a?x=1', { port: 8080 }))).toEqual({
      action: 'redirect',
      status: 301,
      location: 'http://example.com:8080/new/a?x=1',
    });
    expect(engine.evaluate(req('/ret', { scheme: 'https', port: 443 }))).toEqual({
      action: 'redirect',
      status: 302,
      location: 'https://example.com/elsewhere',
    });
  });

  it('follows absoluteRedirect, portInRedirect and serverNameInRedirect', () => {
    const relative = compileNginx('return 302 /x;', { absoluteRedirect: false });
    expect(relative.evaluate(req('/', { port: 8080 }))).toEqual({
      action: 'redirect',
      status: 302,
      location: '/x',
    });
    const noPort = compileNginx('return 302 /x;', { portInRedirect: false });
    expect(noPort.evaluate(req('/', { port: 8080 }))).toEqual({
      action: 'redirect',
      status: 302,
      location: 'http://example.com/x',
    });
    const named = compileNginx('return 302 /x;', {
      serverName: 'canonical.test',
      serverNameInRedirect: true,
    });
    expect(named.evaluate(req('/'))).toEqual({
      action: 'redirect',
      status: 302,
      location: 'http://canonical.test/x',
    });
  });

  it('uses the server address when the request has no Host', () => {
    const e = compileNginx('return 302 /x;');
    expect(e.evaluate({ uri: '/', serverAddr: '10.0.0.1', port: 81 })).toEqual({
      action: 'redirect',
      status: 302,
      location: 'http://10.0.0.1:81/x',
    });
  });
});

describe('CR and LF from a capture', () => {
  it('never reach the Location header unescaped', () => {
    const e = compileNginx(`
      location /ret/ { if ($uri ~ ^/ret/([^/]*)) { return 302 http://a.test/$1; } }
      location /rw/ { rewrite ^/rw/([^/]*) http://a.test/$1 redirect; }
      location /hdr/ { return 302 http://a.test/$http_x_next; }
    `);
    expect(e.evaluate(req('/ret/x%0D%0ASet-Cookie:%20a=1'))).toEqual({
      action: 'redirect',
      status: 302,
      location: 'http://a.test/x%0D%0ASet-Cookie: a=1',
    });
    expect(e.evaluate(req('/rw/x%0D%0Ay'))).toEqual({
      action: 'redirect',
      status: 302,
      location: 'http://a.test/x%0D%0Ay',
    });
  });

  it('never reach the request line sent upstream', () => {
    const e = compileNginx('location / { proxy_pass http://127.0.0.1:1$uri; }');
    expect(e.evaluate(req('/a%0D%0Ab%20c'))).toEqual({
      action: 'pass',
      uri: '/a%0D%0Ab%20c',
      location: '/',
      target: 'http://127.0.0.1:1',
    });
  });
});

describe('returns', () => {
  const e = compileNginx(`
    location = /t { return 200 "hello $arg_n"; }
    location = /close { return 444; }
    location = /gone { return 410; }
  `);

  it("answers with the text, none for HEAD, nginx's own page without text", () => {
    expect(e.evaluate(req('/t?n=%C3%A9'))).toEqual({ action: 'return', status: 200, body: 'hello %C3%A9' });
    expect(e.evaluate(req('/t', { method: 'HEAD' }))).toEqual({ action: 'return', status: 200 });
    expect(e.evaluate(req('/gone'))).toEqual({ action: 'return', status: 410 });
    expect(e.evaluate(req('/close'))).toEqual({ action: 'return', status: 444 });
  });

  it('decodes the body bytes as UTF-8', () => {
    expect(compileNginx('return 200 "été $uri";').evaluate(req('/%C3%A9'))).toEqual({
      action: 'return',
      status: 200,
      body: 'été /é',
    });
  });

  it('answers 400 to a bad target or Host, as nginx does', () => {
    expect(e.evaluate(req('/a%zz'))).toEqual({ action: 'return', status: 400 });
    expect(e.evaluate(req('/t', { headers: { host: 'a..b' } }))).toEqual({ action: 'return', status: 400 });
    expect(e.evaluate(req('/t', { headers: { Host: ['a', 'b'] } }))).toEqual({
      action: 'return',
      status: 400,
    });
  });
});

describe('variables and captures', () => {
  it('resets $1 when a rewrite or if regex fails, but not when a location regex does', () => {
    const e = compileNginx(`
      location ~ ^/(keep)/ {
        rewrite ^/nomatch(.*)$ /x;
        return 200 "[$1]";
      }
      location ~ ^/(loc)/ { return 200 "[$1]"; }
    `);
    expect(e.evaluate(req('/keep/a'))).toEqual({ action: 'return', status: 200, body: '[]' });
    expect(e.evaluate(req('/loc/a'))).toEqual({ action: 'return', status: 200, body: '[loc]' });
  });

  it('keeps named captures as variables, and escapes captures in set as nginx does', () => {
    const e = compileNginx(`
      location ~ ^/n/(?<slug>[^/]+)/(.*)$ {
        set $raw $2;
        return 200 "$slug|$raw|$2";
      }
    `);
    expect(e.evaluate(req('/n/a%20b/c%20d'))).toEqual({
      action: 'return',
      status: 200,
      body: 'a b|c%20d|c d',
    });
  });

  it('reads cookies, the first header line, arguments without case', () => {
    const e = compileNginx('return 200 "$cookie_b|$http_x_a|$arg_key|$http_cookie";');
    const r = e.evaluate(
      req('/?KEY=v&key=w', { headers: { host: 'h', cookie: ['a=1; b = 2 ;c', 'b=3'], 'x-a': ['1', '2'] } }),
    );
    expect(r).toEqual({ action: 'return', status: 200, body: '2 |1|v|a=1; b = 2 ;c; b=3' });
  });

  it('sends the new arguments upstream after set $args', () => {
    const e = compileNginx('location / { set $args "a=1&$args"; proxy_pass http://u; }');
    expect(e.evaluate(req('/p?b=2'))).toEqual({
      action: 'pass',
      uri: '/p?a=1&b=2',
      location: '/',
      target: 'http://u',
    });
  });
});

describe('locations', () => {
  it('passes without a target where the location has no proxy_pass', () => {
    const e = compileNginx('location /static/ { rewrite ^/static/(.*)$ /files/$1 break; }');
    expect(e.evaluate(req('/static/a.css'))).toEqual({
      action: 'pass',
      uri: '/files/a.css',
      location: '/static/',
    });
    expect(e.evaluate(req('/none'))).toEqual({ action: 'pass', uri: '/none' });
  });

  it('uses the proxy_pass of an if block that matched', () => {
    const e = compileNginx(
      'location / { if ($arg_beta) { proxy_pass http://beta; } proxy_pass http://main; }',
    );
    expect(e.evaluate(req('/a?beta=1'))).toEqual({
      action: 'pass',
      uri: '/a?beta=1',
      location: '/',
      target: 'http://beta',
    });
    expect(e.evaluate(req('/a'))).toEqual({
      action: 'pass',
      uri: '/a',
      location: '/',
      target: 'http://main',
    });
  });

  it('stops after ten URI changes with a 500', () => {
    const e = compileNginx('location / { rewrite ^(.*)$ $1x; }');
    expect(e.evaluate(req('/a'))).toEqual({ action: 'return', status: 500 });
  });
});

describe('trace', () => {
  it('lists each phase, directive, regex and location that led to the decision', () => {
    const e = compileNginx(
      'location /a/ {\n  rewrite ^/a/(.*)$ /b/$1 last;\n}\nlocation /b/ { return 200 $1; }',
    );
    const t = e.trace(req('/a/x'));
    expect(t.result).toEqual({ action: 'return', status: 200, body: 'x' });
    expect(t.cycles).toBe(2);
    expect(t.steps).toEqual([
      { kind: 'request', uri: '/a/x', args: '', requestUri: '/a/x' },
      { kind: 'phase', phase: 'server-rewrite', cycle: 0 },
      { kind: 'phase', phase: 'find-location', cycle: 1 },
      { kind: 'location', location: '/a/', how: 'prefix' },
      { kind: 'phase', phase: 'location-rewrite', cycle: 1 },
      { kind: 'directive', text: 'rewrite ^/a/(.*)$ /b/$1 last;', line: 2, column: 3 },
      { kind: 'regex', pattern: '^/a/(.*)$', subject: '/a/x', matched: true, captures: ['/a/x', 'x'] },
      { kind: 'rewritten', uri: '/b/x', args: '' },
      { kind: 'cycle', cycle: 2, uriChangesLeft: 10 },
      { kind: 'phase', phase: 'find-location', cycle: 2 },
      { kind: 'location', location: '/b/', how: 'prefix' },
      { kind: 'phase', phase: 'location-rewrite', cycle: 2 },
      { kind: 'directive', text: 'return 200 $1;', line: 4, column: 16 },
    ]);
  });
});

describe('regexEngine: re2', () => {
  it('matches a pattern that makes a backtracking engine take exponential time, in linear time', () => {
    const e = compileNginx('if ($uri ~ "^/(a+)+$") { return 403; }\nreturn 200 ok;', { regexEngine: 're2' });
    expect(e.evaluate(req(`/${'a'.repeat(50_000)}b`))).toEqual({ action: 'return', status: 200, body: 'ok' });
    expect(e.evaluate(req(`/${'a'.repeat(50_000)}`))).toEqual({ action: 'return', status: 403 });
  });

  it('refuses look-arounds when the rules are built', () => {
    expect(() => compileNginx('rewrite ^/a(?=b) /c;', { regexEngine: 're2' })).toThrow(RewriteSyntaxError);
  });
});

describe('options', () => {
  it('are checked when the engine is built', () => {
    expect(() => createEngine({ rules: [], locations: [] }, { regexEngine: 'pcre' as 'js' })).toThrow(
      'regexEngine: expected one of "js", "re2", got "pcre"',
    );
    expect(() =>
      createEngine({ rules: [], locations: [] }, { portInRedirect: 'no' as unknown as boolean }),
    ).toThrow(InvalidOptionError);
  });

  it('name the path of a bad rule given in code', () => {
    expect(() =>
      createEngine({
        rules: [],
        locations: [{ modifier: '', path: '/', rules: [{ type: 'rewrite', regex: '(', replacement: '/' }] }],
      }),
    ).toThrow(/^locations\[0\]\.rules\[0\]\.regex: expected a regex that compiles/);
  });
});
