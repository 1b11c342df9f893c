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
