import { describe, expect, it } from 'vitest';
import { compileNginx } from '../nginx/index.js';
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

// mod_rewrite's do_expand: "\\c" is c; "$N"/"%N" (one digit) read the rule's captures or the last
// matched RewriteCond's, and are empty when there are none; any other "$" or "%" is itself.
describe('fromApache: "$" and "%" in a substitution', () => {
  it('reports a literal "$", which nginx cannot write, and emits nothing broken', () => {
    for (const rule of [
      'RewriteRule ^a$ /b$/c [L]',
      'RewriteRule ^a$ /b$ [L]',
      'RewriteRule ^a$ /b\\$1 [L]',
    ]) {
      const c = fromApache(`${rule}\nRewriteRule ^z$ /y [L]`);
      expect(c.issues).toEqual([
        {
          line: 1,
          text: rule,
          kind: 'rule-dropped',
          reason: 'a literal "$" has no nginx equivalent (nginx reads every "$" as a variable)',
        },
      ]);
      expect(c.toNginx()).toBe('rewrite ^/z$ /y last;\n');
      const e = compileNginx(c.toNginx());
      expect(e.evaluate({ uri: '/a', headers: host('h') })).toEqual({ action: 'pass', uri: '/a' });
      expect(e.evaluate({ uri: '/z', headers: host('h') })).toEqual({ action: 'pass', uri: '/y' });
    }
  });

  it('reads %N with no condition as nothing: /x%20y is /x0y', () => {
    const c = fromApache('RewriteRule ^a$ /x%20y [L]\nRewriteRule ^b$ /p%0q [L]');
    expect(c.issues).toEqual([]);
    expect(c.toNginx()).toBe('rewrite ^/a$ /x0y last;\nrewrite ^/b$ /pq last;\n');
    const e = compileNginx(c.toNginx());
    expect(e.evaluate({ uri: '/a?k=v', headers: host('h') })).toEqual({ action: 'pass', uri: '/x0y?k=v' });
    expect(e.evaluate({ uri: '/b', headers: host('h') })).toEqual({ action: 'pass', uri: '/pq' });
  });

  it('reads %N past the last condition groups as nothing, and keeps an escaped "%"', () => {
    const c = fromApache('RewriteCond %{HTTP_HOST} ^([^.]+)\\.\nRewriteRule ^a$ /h/%1/%2/\\%1 [L]');
    expect(c.issues).toEqual([]);
    const e = compileNginx(c.toNginx());
    expect(e.evaluate({ uri: '/a', headers: host('shop.example') })).toEqual({
      action: 'pass',
      uri: '/h/shop//%251',
    });
    // The last condition to match is %{HTTPS}'s, whose pattern has no groups.
    const https = fromApache(
      'RewriteCond %{HTTP_HOST} ^(.+)$\nRewriteCond %{HTTPS} off\nRewriteRule ^a$ /h/%1 [L]',
    );
    expect(compileNginx(https.toNginx()).evaluate({ uri: '/a', headers: host('shop.example') })).toEqual({
      action: 'pass',
      uri: '/h/',
    });
  });

  it('reports $0 and a condition %0, the whole matches it does not convert', () => {
    const c = fromApache(`RewriteRule ^a$ /b$0 [L]
RewriteCond %{HTTP_HOST} ^(.+)$
RewriteRule ^c$ /d%0 [L]
RewriteRule !^e$ /f$0 [L]`);
    expect(c.issues.map((i) => [i.line, i.kind, i.reason])).toEqual([
      [1, 'rule-dropped', '$0 (the whole match of the pattern) is not converted'],
      [3, 'rule-dropped', '%0 (the whole match of a condition) is not converted'],
    ]);
    // A pattern with "!" has no captures: $0 is empty.
    expect(c.toNginx()).toBe('if ($uri !~ ^/e$) {\n    rewrite ^ /f last;\n}\n');
  });

  it('reports a rule whose converted regex nginx would refuse, with the reason', () => {
    const c = fromApache('RewriteRule ^a(?>b)$ /c [L]\nRewriteCond %{HTTP_HOST} ^(x\nRewriteRule ^d$ /e [L]');
    expect(c.issues.map((i) => [i.line, i.kind, i.reason])).toEqual([
      [
        1,
        'rule-dropped',
        'the converted rule does not compile: expected a regex that compiles (atomic groups are not supported), got "^/a(?>b)$"',
      ],
      [
        3,
        'rule-dropped',
        'the converted rule does not compile: expected a regex that compiles (Unterminated group), got "^(?<rc1>x"',
      ],
    ]);
    expect(c.toNginx()).toBe('\n');
  });
});
