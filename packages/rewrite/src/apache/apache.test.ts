import { describe, expect, it } from 'vitest';
import { fromApache } from './index.js';

const host = (h: string) => ({ host: h });

describe('fromApache', () => {
  it('writes the classic host canonicalisation as nginx does', () => {
    const c = fromApache(`RewriteEngine On
RewriteCond %{HTTP_HOST} ^example\\.org$ [NC]
RewriteRule ^(.*)$ http://www.example.org/$1 [R=301,L]`);
    expect(c.issues).toEqual([]);
    expect(c.toNginx()).toBe(
      'if ($http_host ~* ^example\\.org$) {\n    return 301 http://www.example.org$request_uri;\n}\n',
    );
    const e = c.compile();
    expect(e.evaluate({ uri: '/a/b?x=1', headers: host('Example.ORG') })).toEqual({
      action: 'redirect',
      status: 301,
      location: 'http://www.example.org/a/b?x=1',
    });
    expect(e.evaluate({ uri: '/a', headers: host('www.example.org') })).toEqual({
      action: 'pass',
      uri: '/a',
    });
  });

  it('forces HTTPS', () => {
    const c = fromApache(`RewriteEngine On
RewriteCond %{HTTPS} off
RewriteRule ^(.*)$ https://%{HTTP_HOST}%{REQUEST_URI} [L,R=301]`);
    expect(c.issues).toEqual([]);
    expect(c.toNginx()).toBe('if ($https != on) {\n    return 301 https://$http_host$request_uri;\n}\n');
    const e = c.compile();
    expect(e.evaluate({ uri: '/p?q', headers: host('shop.test') })).toEqual({
      action: 'redirect',
      status: 301,
      location: 'https://shop.test/p?q',
    });
    expect(e.evaluate({ uri: '/p?q', headers: host('shop.test'), scheme: 'https' })).toEqual({
      action: 'pass',
      uri: '/p?q',
    });
  });

  it('strips a trailing slash, and reports the directory test it cannot make', () => {
    const c = fromApache(`RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule ^(.+)/$ /$1 [R=301,L]`);
    expect(c.issues).toEqual([
      {
        line: 1,
        text: 'RewriteCond %{REQUEST_FILENAME} !-d',
        kind: 'condition-dropped',
        reason: '%{REQUEST_FILENAME} has no nginx equivalent',
      },
    ]);
    expect(c.toNginx()).toBe('rewrite ^/(.+)/$ /$1 permanent;\n');
    expect(c.compile().evaluate({ uri: '/blog/post/?a=1', headers: host('h.test') })).toEqual({
      action: 'redirect',
      status: 301,
      location: 'http://h.test/blog/post?a=1',
    });
  });

  it('sends pretty URLs to a front controller, keeping the query with [QSA]', () => {
    const c = fromApache(`<IfModule mod_rewrite.c>
RewriteEngine On
RewriteBase /
RewriteRule ^index\\.php$ - [L]
RewriteRule ^(.*)$ index.php?q=$1 [L,QSA]
</IfModule>`);
    expect(c.issues).toEqual([]);
    expect(c.toNginx()).toBe(
      'if ($uri ~ ^/index\\.php$) {\n    break;\n}\nrewrite ^/(.*)$ /index.php?q=$1 last;\n',
    );
    const e = c.compile();
    expect(e.evaluate({ uri: '/blog/42?page=2', headers: host('h') })).toEqual({
      action: 'pass',
      uri: '/index.php?q=blog/42&page=2',
    });
    expect(e.evaluate({ uri: '/index.php?q=x', headers: host('h') })).toEqual({
      action: 'pass',
      uri: '/index.php?q=x',
    });
  });

  it('combines [OR] and AND conditions, and %N reads the last condition captures', () => {
    const c = fromApache(`RewriteCond %{HTTP_HOST} ^(.+)\\.example\\.com$ [OR]
RewriteCond %{HTTP:X-Tenant} ^(.+)$
RewriteCond %{REQUEST_METHOD} =GET
RewriteRule ^app/(.*)$ /tenants/%1/$1 [L]`);
    expect(c.issues).toEqual([]);
    const e = c.compile();
    expect(e.evaluate({ uri: '/app/home', headers: host('acme.example.com') })).toEqual({
      action: 'pass',
      uri: '/tenants/acme/home',
    });
    expect(e.evaluate({ uri: '/app/home', method: 'POST', headers: host('acme.example.com') })).toEqual({
      action: 'pass',
      uri: '/app/home',
    });
    expect(e.evaluate({ uri: '/app/x', headers: { host: 'other.test', 'x-tenant': 'zeta' } })).toEqual({
      action: 'pass',
      uri: '/tenants/zeta/x',
    });
  });

  it('answers 403 and 410 for [F] and [G], and 307 with the query kept', () => {
    const c = fromApache(`RewriteRule \\.git - [F]
RewriteRule ^old$ - [G]
RewriteRule ^tmp/(.*)$ /new/$1 [R=307,L]`);
    expect(c.issues).toEqual([]);
    const e = c.compile();
    expect(e.evaluate({ uri: '/a/.git/config', headers: host('h') })).toEqual({
      action: 'return',
      status: 403,
    });
    expect(e.evaluate({ uri: '/old', headers: host('h') })).toEqual({ action: 'return', status: 410 });
    expect(e.evaluate({ uri: '/tmp/x?y=1', headers: host('h') })).toEqual({
      action: 'redirect',
      status: 307,
      location: 'http://h/new/x?y=1',
    });
  });

  it('reports each unsupported feature with its line, never silently', () => {
    const c = fromApache(`RewriteEngine On
Options +FollowSymLinks
RewriteMap lower int:tolower
RewriteCond %{REQUEST_FILENAME} !-f
RewriteRule ^api/(.*)$ http://backend/$1 [P]
RewriteRule ^u/(.*)$ /user/\${lower:$1} [L]
RewriteRule ^ok$ /fine [L]`);
    expect(c.issues.map((i) => [i.line, i.kind, i.reason])).toEqual([
      [2, 'directive-ignored', '"Options" is not a mod_rewrite rule directive'],
      [3, 'directive-ignored', '"RewriteMap" is not a mod_rewrite rule directive'],
      [5, 'rule-dropped', 'flags [P] are not supported'],
      [6, 'rule-dropped', 'RewriteMap lookups are not supported'],
    ]);
    expect(c.toNginx()).toBe('rewrite ^/ok$ /fine last;\n');
  });
});
