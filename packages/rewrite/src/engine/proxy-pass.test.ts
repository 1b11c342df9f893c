import { describe, expect, it } from 'vitest';
import { RewriteSyntaxError } from '../errors.js';
import { compileNginx } from '../nginx/index.js';
import type { RewriteRequest } from '../types.js';
import { splitProxyUrl } from './compile.js';

const req = (uri: string): RewriteRequest => ({ uri, headers: { host: 'example.com' } });

describe('proxy_pass to a unix-domain socket (ngx_parse_unix_domain_url)', () => {
  it('runs the authority to the colon after the socket path', () => {
    expect(splitProxyUrl('http://unix:/tmp/app.sock:/uri')).toEqual({
      origin: 'http://unix:/tmp/app.sock:',
      uri: '/uri',
    });
    expect(splitProxyUrl('HTTPS://unix:/run/a b.sock:/x/y?z=1')).toEqual({
      origin: 'https://unix:/run/a b.sock:',
      uri: '/x/y?z=1',
    });
    expect(splitProxyUrl('http://unix:/tmp/app.sock:')).toEqual({
      origin: 'http://unix:/tmp/app.sock:',
      uri: '',
    });
  });

  it('takes the whole rest as the socket path when no colon follows it', () => {
    expect(splitProxyUrl('http://unix:/tmp/app.sock')).toEqual({
      origin: 'http://unix:/tmp/app.sock',
      uri: '',
    });
  });

  it('still ends a host:port authority at the first slash', () => {
    expect(splitProxyUrl('http://127.0.0.1:8080/api/')).toEqual({
      origin: 'http://127.0.0.1:8080',
      uri: '/api/',
    });
    expect(splitProxyUrl('http://backend')).toEqual({ origin: 'http://backend', uri: '' });
    expect(splitProxyUrl('http:///x')).toBe(undefined);
    expect(splitProxyUrl('http://unix:')).toBe(undefined);
    expect(splitProxyUrl('http://unix::/x')).toBe(undefined);
  });

  it('passes a location to the socket, replacing the location prefix with the URI part', () => {
    const e = compileNginx(`
      location /app/ { proxy_pass http://unix:/tmp/app.sock:/v2/; }
      location /raw/ { proxy_pass http://unix:/tmp/raw.sock:; }
    `);
    expect(e.evaluate(req('/app/users?id=1'))).toEqual({
      action: 'pass',
      uri: '/v2/users?id=1',
      location: '/app/',
      target: 'http://unix:/tmp/app.sock:',
    });
    expect(e.evaluate(req('/raw/x'))).toEqual({
      action: 'pass',
      uri: '/raw/x',
      location: '/raw/',
      target: 'http://unix:/tmp/raw.sock:',
    });
  });

  it('refuses unix: with no socket path when the rules are built', () => {
    expect(() => compileNginx('location / { proxy_pass http://unix:; }')).toThrow(RewriteSyntaxError);
    expect(() => compileNginx('location / { proxy_pass http://unix:; }')).toThrow(
      /expected a URL with a host or a unix socket path, got "http:\/\/unix:"/,
    );
  });
});

describe('the port of a proxy_pass URL (ngx_parse_inet_url, ngx_parse_inet6_url)', () => {
  it.each([
    'http://h:0',
    'http://h:65536',
    'http://h:80x',
    'http://h:',
    'http://a:b:81',
    'http://h:1e3',
    'http://h:0x50',
    'http://myunix:0',
    'http://[::1]x',
    'http://[::1]x80',
    'http://[::1]:',
    'http://[::1',
  ])('refuses %s when the rules are built, as nginx -t does ("invalid port")', (url) => {
    expect(() => compileNginx(`location / { proxy_pass ${url}; }`)).toThrow(
      `expected a URL whose port, if any, is 1 to 65535, got "${url}"`,
    );
  });

  it('names the directive and its location in the refusal', () => {
    expect(() => compileNginx('\nlocation / { proxy_pass http://h:0; }')).toThrow(
      '"proxy_pass": expected a URL whose port, if any, is 1 to 65535, got "http://h:0" at line 2, column 1',
    );
  });

  it.each([
    ['http://h:65535/x/', 'http://h:65535'],
    ['http://h:80?a/x/', 'http://h:80?a'],
    ['http://h:080/x/', 'http://h:080'],
    ['http://[::1]:8080/x/', 'http://[::1]:8080'],
    ['http://[::1]/x/', 'http://[::1]'],
    ['http://h/x/', 'http://h'],
  ])('takes %s', (url, target) => {
    const e = compileNginx(`location /a/ { proxy_pass ${url}; }`);
    expect(e.evaluate(req('/a/b'))).toEqual({ action: 'pass', uri: '/x/b', location: '/a/', target });
  });

  it('answers 500 when a URL made of variables has a port nginx refuses', () => {
    const e = compileNginx('location / { proxy_pass http://$arg_to; }');
    expect(e.evaluate(req('/x?to=h:8080'))).toMatchObject({ action: 'pass', target: 'http://h:8080' });
    for (const to of ['h:0', 'h:80x', 'a:b:81', '[::1]x']) {
      expect(e.evaluate(req(`/x?to=${to}`))).toEqual({ action: 'return', status: 500 });
    }
    // A host whose arguments hold "unix:" is no socket: the authority ends at the `?`.
    expect(e.evaluate(req('/x?to=h?unix:'))).toMatchObject({ uri: '/?unix:', target: 'http://h' });
  });

  it('cuts a URL made of variables at the colon after a socket path, as a fixed one', () => {
    const e = compileNginx('location / { proxy_pass http://unix:$arg_s:/v2$uri; }');
    expect(e.evaluate(req('/x?s=/tmp/a.sock'))).toEqual({
      action: 'pass',
      uri: '/v2/x',
      location: '/',
      target: 'http://unix:/tmp/a.sock:',
    });
    // No socket path: nginx's own 500, not an internal error.
    expect(e.trace(req('/x?s='))).toMatchObject({ result: { action: 'return', status: 500 } });
    expect(e.trace(req('/x?s=')).steps.map((s) => s.kind)).not.toContain('error');
  });
});
