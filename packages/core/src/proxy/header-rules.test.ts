import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  addedFields,
  compileHeaderRules,
  locatedFields,
  requestChanges,
  responseFields,
} from './header-rules.js';

const req = {
  method: 'GET',
  url: '/a/b?x=1&y=2',
  headers: { host: 'Shop.Example:8080', cookie: 'sid=7; lang=fr', 'x-api-key': 'k1' },
  socket: { localPort: 8080 },
} as unknown as IncomingMessage;
/** A group named `app` of http peers. */
const app = { name: 'app', peers: [{ origin: 'http://10.0.0.5:80' }] };
const ruled = { req, groupName: 'app', clientAddress: '203.0.113.9', forwardedFor: '203.0.113.9, 10.0.0.1' };

describe('header rules, pure', () => {
  it('evaluates every request variable of a set rule once compiled', () => {
    const rules = compileHeaderRules({
      setRequestHeaders: {
        'X-All':
          '$remote_addr|$host|$scheme|$request_uri|$uri|$args|$request_method|$server_port|$proxy_host|$proxy_add_x_forwarded_for|$http_x_api_key|$cookie_lang|$arg_y',
        'X-Empty': '',
      },
    });
    expect(requestChanges(rules, ruled, [['if-none-match', undefined]])).toEqual([
      ['if-none-match', undefined],
      [
        'X-All',
        '203.0.113.9|shop.example|http|/a/b?x=1&y=2|/a/b|x=1&y=2|GET|8080|app|203.0.113.9, 10.0.0.1|k1|fr|2',
      ],
      ['X-Empty', undefined],
    ]);
  });

  it("reads $arg_NAME as nginx's ngx_http_arg: the first NAME= argument, the name without case, a bare NAME skipped", () => {
    const rules = compileHeaderRules({ setRequestHeaders: { 'X-B': '[$arg_B]' } });
    const at = (url: string) =>
      requestChanges(rules, { ...ruled, req: { ...req, url } as IncomingMessage }, []);
    expect([at('/p?b&b=2'), at('/p?ab=1&B=3'), at('/p?b'), at('/p')]).toEqual([
      [['X-B', '[2]']],
      [['X-B', '[3]']],
      [['X-B', '[]']],
      [['X-B', '[]']],
    ]);
  });

  it('gives back the very list when no field changes, and copies it once one does', () => {
    const rules = compileHeaderRules({});
    const list = ['Content-Type', 'text/plain', 'Location', '/here'];
    expect(responseFields(rules, req, 302, list, app, 'http://10.0.0.5:80')).toBe(list);
    const moved = ['Location', 'http://app/next', 'X-A', '1'];
    const out = responseFields(rules, req, 302, moved, app, 'http://10.0.0.5:80');
    expect([out, moved[1]]).toEqual([['Location', '/next', 'X-A', '1'], 'http://app/next']);
  });

  it('turns the group and the answering peer into / by default, in Location and Refresh, and nothing else', () => {
    const rules = compileHeaderRules({});
    const at = (list: string[]) => responseFields(rules, req, 302, list, app, 'http://10.0.0.5:80');
    expect(at(['Refresh', '0;URL=http://10.0.0.5:80/x'])).toEqual(['Refresh', '0;URL=/x']);
    expect(at(['Location', 'http://app/y'])).toEqual(['Location', '/y']);
    expect(at(['Location', 'http://10.0.0.6:80/z'])).toEqual(['Location', 'http://10.0.0.6:80/z']);
    // A cached answer names no peer: only the group's prefix is rewritten.
    const cached = (l: string) => responseFields(rules, req, 302, ['Location', l], app, undefined);
    expect([cached('http://app/y'), cached('http://10.0.0.5:80/z')]).toEqual([
      ['Location', '/y'],
      ['Location', 'http://10.0.0.5:80/z'],
    ]);
  });

  it('applies the first matching proxyRedirect rule only, a RegExp with its captures', () => {
    const rules = compileHeaderRules({
      proxyRedirect: [
        { from: /^http:\/\/([a-z]+)\.internal\//, to: 'https://$1.example/' },
        { from: 'http://api.internal/', to: '/never/' },
      ],
    });
    expect(responseFields(rules, req, 301, ['location', 'http://api.internal/v1'], app, undefined)).toEqual([
      'location',
      'https://api.example/v1',
    ]);
    expect(responseFields(rules, req, 301, ['location', 'http://10.0.0.5/v1'], app, undefined)).toEqual([
      'location',
      'http://10.0.0.5/v1',
    ]);
  });

  it('rewrites cookie domains whole and in any case, and cookie paths by prefix', () => {
    const rules = compileHeaderRules({
      cookieDomain: [{ from: /^(.+)\.internal$/, to: '$1.example' }],
      cookiePath: [{ from: '/app', to: '' }],
    });
    const out = responseFields(
      rules,
      req,
      200,
      ['Set-Cookie', 'a=1; Domain=shop.internal; Path=/app/cart', 'Set-Cookie', 'b=2; domain=x.internalz'],
      app,
      undefined,
    );
    expect(out).toEqual([
      'Set-Cookie',
      'a=1; Domain=shop.example; Path=/cart',
      'Set-Cookie',
      'b=2; domain=x.internalz',
    ]);
  });

  it("adds fields to nginx's statuses, always ones to every status, and leaves out empty values", () => {
    const rules = compileHeaderRules({
      addResponseHeaders: {
        'X-Listed': 'yes',
        'X-Always': { value: '$status via $upstream_addr', always: true },
        'X-Type': '$sent_http_content_type',
      },
    });
    expect(addedFields(rules, ruled, 206, ['Content-Type', 'video/mp4'], '10.0.0.5:80')).toEqual([
      'X-Listed',
      'yes',
      'X-Always',
      '206 via 10.0.0.5:80',
      'X-Type',
      'video/mp4',
    ]);
    expect(addedFields(rules, ruled, 404, [], undefined)).toEqual(['X-Always', '404 via ']);
  });

  it("replaces ETag or Last-Modified with a location's add_header, an empty value removing it", () => {
    const list = ['ETag', '"v1"', 'Last-Modified', 'Mon, 01 Jan 2024 00:00:00 GMT', 'X-A', '1'];
    const out = locatedFields(
      list.slice(),
      [
        { name: 'etag', value: '', always: false, replace: true },
        { name: 'Last-Modified', value: 'Tue, 02 Jan 2024 00:00:00 GMT', always: false, replace: true },
        { name: 'X-Only-Errors', value: 'e', always: false },
      ],
      200,
    );
    expect(out).toEqual(['X-A', '1', 'Last-Modified', 'Tue, 02 Jan 2024 00:00:00 GMT', 'X-Only-Errors', 'e']);
    expect(locatedFields([], [{ name: 'X-Only-Errors', value: 'e', always: false }], 500)).toEqual([]);
  });
});
