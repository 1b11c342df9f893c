import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../errors.js';
import { parseNginx } from '../nginx/index.js';
import type { RewriteConfig } from '../types.js';
import { rewriteRules } from './index.js';

const withoutPositions = (c: RewriteConfig): RewriteConfig =>
  JSON.parse(JSON.stringify(c, (k, v) => (k === 'at' ? undefined : v)));

describe('rewriteRules', () => {
  it('builds the same rules as the nginx text', () => {
    const text = `
      rewrite ^(/download/.*)/media/(\\w+)\\.?.*$ $1/mp3/$2.mp3 last;
      set $srv on;
      if ($http_host ~* ^www\\.(.+)$) { return 301 $scheme://$1$request_uri; }
      location = /moved { return https://example.net/; }
      location = /exact { return 200 "exact"; }
      location ~* \\.(gif|jpg)$ { break; }
      location /api/ {
        if ($arg_beta = 1) { rewrite ^ /beta$uri break; proxy_pass http://beta; }
        proxy_pass http://127.0.0.1:9211/v1/;
      }
    `;
    const built = rewriteRules()
      .rewrite('^(/download/.*)/media/(\\w+)\\.?.*$', '$1/mp3/$2.mp3', 'last')
      .set('$srv', 'on')
      .if({ variable: '$http_host', operator: '~*', regex: '^www\\.(.+)$' }, (b) =>
        b.return(301, '$scheme://$1$request_uri'),
      )
      .location('= /moved', (l) => l.return('https://example.net/'))
      .location('= /exact', (l) => l.return(200, 'exact'))
      .location('~* \\.(gif|jpg)$', (l) => l.break())
      .location('/api/', (l) =>
        l
          .if({ variable: '$arg_beta', operator: '=', value: '1' }, (b) =>
            b.rewrite('^', '/beta$uri', 'break').proxyPass('http://beta'),
          )
          .proxyPass('http://127.0.0.1:9211/v1/'),
      );
    expect(built.config).toEqual(withoutPositions(parseNginx(text)));
    expect(built.build().evaluate({ uri: '/api/x?beta=1', headers: { host: 'h' } })).toEqual({
      action: 'pass',
      uri: '/beta/api/x?beta=1',
      location: '/api/',
      target: 'http://beta',
    });
  });

  it('names the path of an invalid rule when it is built', () => {
    const b = rewriteRules().location('/a/', (l) => l.rewrite('^/a/(', '/b'));
    expect(() => b.build()).toThrow(InvalidOptionError);
    expect(() => b.build()).toThrow(/^locations\[0\]\.rules\[0\]\.regex: expected a regex that compiles/);
  });

  it('refuses a return code Node cannot send when it is built, and keeps 444', () => {
    const b = rewriteRules().location('/a/', (l) => l.if({ variable: '$arg_x' }, (i) => i.return(0)));
    expect(() => b.build()).toThrow(InvalidOptionError);
    expect(() => b.build()).toThrow(
      'locations[0].rules[0].rules[0].code: expected a status code from 100 to 999 (Node cannot send one below 100), got 0',
    );
    expect(() => rewriteRules().return(99, 'x').build()).toThrow(/^rules\[0\]\.code: .*got 99$/);
    expect(() => rewriteRules().return(-1).build()).toThrow(/^rules\[0\]\.code: .*got -1$/);
    expect(rewriteRules().return(444).build().evaluate({ uri: '/' })).toEqual({
      action: 'return',
      status: 444,
    });
  });

  it('builds the header directives as the nginx text gives them', () => {
    const text = `
      add_header X-Frame-Options DENY always;
      proxy_set_header Host $host;
      location / {
        if ($arg_debug) { add_header X-Debug 1; }
        add_header X-Loc l;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_hide_header X-Powered-By;
        proxy_pass_header Server;
        proxy_pass http://127.0.0.1:9000;
      }
    `;
    const built = rewriteRules()
      .addHeader('X-Frame-Options', 'DENY', true)
      .proxySetHeader('Host', '$host')
      .location('/', (l) =>
        l
          .if({ variable: '$arg_debug' }, (i) => i.addHeader('X-Debug', '1'))
          .addHeader('X-Loc', 'l')
          .proxySetHeader('X-Real-IP', '$remote_addr')
          .proxyHideHeader('X-Powered-By')
          .proxyPassHeader('Server')
          .proxyPass('http://127.0.0.1:9000'),
      );
    expect(built.config).toEqual(withoutPositions(parseNginx(text)));
    expect(
      built.build().evaluate({ uri: '/?debug=1', headers: { host: 'h' }, remoteAddr: '10.0.0.1' }),
    ).toEqual({
      action: 'pass',
      uri: '/?debug=1',
      location: '/',
      target: 'http://127.0.0.1:9000',
      addHeaders: [{ name: 'X-Debug', value: '1', always: false, replace: false }],
      setHeaders: [{ name: 'X-Real-IP', value: '10.0.0.1' }],
      hideHeaders: ['x-powered-by'],
      passHeaders: ['server'],
    });
  });
});
