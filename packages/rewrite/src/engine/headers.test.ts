import { describe, expect, it } from 'vitest';
import { InvalidOptionError, RewriteSyntaxError } from '../errors.js';
import { compileNginx, parseNginx, toNginx } from '../nginx/index.js';
import type { RewritePass, RewriteRequest, RewriteResponseHeader, RewriteResult } from '../types.js';
import { createEngine } from './index.js';

const req = (uri: string, extra: Partial<RewriteRequest> = {}): RewriteRequest => ({
  uri,
  headers: { host: 'example.com' },
  remoteAddr: '10.0.0.9',
  ...extra,
});

const add = (name: string, value: string, always = false): RewriteResponseHeader => ({
  name,
  value,
  always,
  replace: false,
});

function passed(result: RewriteResult): RewritePass {
  if (result.action !== 'pass') throw new Error(`not a pass: ${JSON.stringify(result)}`);
  return result;
}

function syntaxError(text: string): RewriteSyntaxError {
  try {
    compileNginx(text);
  } catch (e) {
    if (e instanceof RewriteSyntaxError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('add_header', () => {
  it('adds server-level headers to a pass in any location that has none of its own', () => {
    const engine = compileNginx(`
      add_header X-Frame-Options DENY;
      add_header Strict-Transport-Security "max-age=63072000" always;
      location /api/ { proxy_pass http://127.0.0.1:9000; }
    `);
    const expected = [
      add('X-Frame-Options', 'DENY'),
      add('Strict-Transport-Security', 'max-age=63072000', true),
    ];
    expect(engine.evaluate(req('/api/x')).action).toBe('pass');
    expect(engine.evaluate(req('/api/x'))).toMatchObject({ addHeaders: expected });
    // No location matches: the server's configuration is the request's.
    expect(engine.evaluate(req('/other'))).toEqual({ action: 'pass', uri: '/other', addHeaders: expected });
  });

  it('adds location-level headers only in that location', () => {
    const engine = compileNginx(`
      location /a/ { add_header X-A 1; proxy_pass http://127.0.0.1:9000; }
      location /b/ { proxy_pass http://127.0.0.1:9000; }
    `);
    expect(engine.evaluate(req('/a/x')).addHeaders).toEqual([add('X-A', '1')]);
    expect(engine.evaluate(req('/b/x'))).toEqual({
      action: 'pass',
      uri: '/b/x',
      location: '/b/',
      target: 'http://127.0.0.1:9000',
    });
  });

  it('does not inherit the server list into a location that has its own add_header', () => {
    const engine = compileNginx(`
      add_header X-Server 1;
      add_header X-Server-Too 2 always;
      location /own/ { add_header X-Own 3; }
      location /inherits/ { set $x 1; }
    `);
    expect(engine.evaluate(req('/own/')).addHeaders).toEqual([add('X-Own', '3')]);
    expect(engine.evaluate(req('/inherits/')).addHeaders).toEqual([
      add('X-Server', '1'),
      add('X-Server-Too', '2', true),
    ]);
  });

  it('follows the location a rewrite ends in', () => {
    const engine = compileNginx(`
      location /old/ { add_header X-Old 1; rewrite ^/old/(.*)$ /new/$1 last; }
      location /new/ { add_header X-New 1; }
    `);
    expect(engine.evaluate(req('/old/a'))).toEqual({
      action: 'pass',
      uri: '/new/a',
      location: '/new/',
      addHeaders: [add('X-New', '1')],
    });
  });

  it('adds to a return only what nginx adds for its status; always adds everywhere', () => {
    const engine = compileNginx(`
      add_header X-Ok ok;
      add_header X-Always yes always;
      location = /ok { return 200 "fine"; }
      location = /gone { return 410; }
      location = /moved { return 301 /there; }
      location = /close { return 444; }
    `);
    expect(engine.evaluate(req('/ok'))).toEqual({
      action: 'return',
      status: 200,
      body: 'fine',
      addHeaders: [add('X-Ok', 'ok'), add('X-Always', 'yes', true)],
    });
    expect(engine.evaluate(req('/gone'))).toEqual({
      action: 'return',
      status: 410,
      addHeaders: [add('X-Always', 'yes', true)],
    });
    expect(engine.evaluate(req('/moved'))).toEqual({
      action: 'redirect',
      status: 301,
      location: 'http://example.com/there',
      addHeaders: [add('X-Ok', 'ok'), add('X-Always', 'yes', true)],
    });
    expect(engine.evaluate(req('/close'))).toEqual({ action: 'return', status: 444 });
  });

  it('leaves addHeaders out of a return when no entry fits its status', () => {
    const engine = compileNginx('add_header X-Ok ok;\nreturn 403;');
    expect(engine.evaluate(req('/'))).toEqual({ action: 'return', status: 403 });
  });

  it('adds server-level headers to server-level answers and to the add-slash redirect', () => {
    const engine = compileNginx(`
      add_header X-S s always;
      rewrite ^/legacy$ /new permanent;
      location /api/ { add_header X-Api a; proxy_pass http://127.0.0.1:9000; }
    `);
    expect(engine.evaluate(req('/legacy')).addHeaders).toEqual([add('X-S', 's', true)]);
    // nginx's 301 for "/api" is sent with the /api/ location's configuration.
    expect(engine.evaluate(req('/api'))).toEqual({
      action: 'redirect',
      status: 301,
      location: 'http://example.com/api/',
      addHeaders: [add('X-Api', 'a')],
    });
  });

  it('evaluates variables, set variables and captures for this request', () => {
    const engine = compileNginx(`
      location ~ ^/u/(?<user>\\w+)/(\\d+)$ {
        set $tier gold;
        add_header X-Host $host;
        add_header X-Req $request_uri;
        add_header X-Uri "$uri?$args";
        add_header X-Tier "$tier-$user-$1-$2";
        add_header X-Arg $arg_q;
        proxy_pass http://127.0.0.1:9000;
      }
    `);
    expect(
      engine.evaluate(req('/u/ann/42?q=7', { headers: { host: 'Shop.Example.com' } })).addHeaders,
    ).toEqual([
      add('X-Host', 'shop.example.com'),
      add('X-Req', '/u/ann/42?q=7'),
      add('X-Uri', '/u/ann/42?q=7'),
      add('X-Tier', 'gold-ann-ann-42'),
      add('X-Arg', '7'),
    ]);
  });

  it('adds nothing for a value that comes out empty', () => {
    const engine = compileNginx(`
      add_header X-Empty "";
      add_header X-Arg $arg_missing;
      add_header X-Kept k;
    `);
    expect(engine.evaluate(req('/')).addHeaders).toEqual([add('X-Kept', 'k')]);
    expect(compileNginx('add_header X-Arg $arg_a;').evaluate(req('/'))).toEqual({ action: 'pass', uri: '/' });
  });

  it('marks Last-Modified and ETag as replacing, keeping their empty values (nginx removes the header)', () => {
    const engine = compileNginx('add_header ETag "";\nadd_header last-modified $arg_lm;');
    expect(engine.evaluate(req('/?lm=x')).addHeaders).toEqual([
      { name: 'ETag', value: '', always: false, replace: true },
      { name: 'last-modified', value: 'x', always: false, replace: true },
    ]);
  });

  it('escapes control bytes that a decoded $uri could carry into a header', () => {
    const engine = compileNginx('add_header X-Uri $uri;');
    expect(engine.evaluate(req('/a%0D%0Ab')).addHeaders).toEqual([add('X-Uri', '/a%0D%0Ab')]);
  });

  it('lets a matching if in a location replace the location list, and inherit it otherwise', () => {
    const engine = compileNginx(`
      location / {
        add_header X-Loc l;
        if ($arg_debug) { add_header X-Debug on always; }
        if ($arg_other) { set $o 1; }
      }
    `);
    expect(engine.evaluate(req('/?debug=1')).addHeaders).toEqual([add('X-Debug', 'on', true)]);
    expect(engine.evaluate(req('/?other=1')).addHeaders).toEqual([add('X-Loc', 'l')]);
    expect(engine.evaluate(req('/')).addHeaders).toEqual([add('X-Loc', 'l')]);
  });

  it('returns one shared list when no value has a variable, and fresh ones otherwise', () => {
    const fixed = compileNginx('add_header X-A 1;');
    expect(fixed.evaluate(req('/')).addHeaders).toBe(fixed.evaluate(req('/b')).addHeaders);
    expect(Object.isFrozen(fixed.evaluate(req('/')).addHeaders)).toBe(true);
    const varied = compileNginx('add_header X-A $uri;');
    expect(varied.evaluate(req('/')).addHeaders).not.toBe(varied.evaluate(req('/')).addHeaders);
  });
});

describe('proxy_set_header', () => {
  const engine = compileNginx(`
    proxy_set_header Host $host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    location /api/ {
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header Accept-Encoding "";
      proxy_set_header X-Upstream "$proxy_host $proxy_port";
      proxy_pass http://127.0.0.1:9000;
    }
    location /web/ { proxy_pass http://backend:80; }
    location /tls/ { proxy_pass https://backend:8443; }
  `);

  it('sends the server list from a location that has none of its own', () => {
    expect(passed(engine.evaluate(req('/web/x'))).setHeaders).toEqual([
      { name: 'Host', value: 'example.com' },
      { name: 'X-Forwarded-For', value: '10.0.0.9' },
    ]);
    expect(
      passed(
        engine.evaluate(req('/web/x', { headers: { host: 'h', 'x-forwarded-for': ['1.1.1.1', '2.2.2.2'] } })),
      ).setHeaders,
    ).toEqual([
      { name: 'Host', value: 'h' },
      { name: 'X-Forwarded-For', value: '1.1.1.1, 2.2.2.2, 10.0.0.9' },
    ]);
  });

  it('replaces the server list in a location that has its own, with an empty value removing a header', () => {
    expect(passed(engine.evaluate(req('/api/x'))).setHeaders).toEqual([
      { name: 'X-Real-IP', value: '10.0.0.9' },
      { name: 'Accept-Encoding', value: '' },
      { name: 'X-Upstream', value: '127.0.0.1:9000 9000' },
    ]);
  });

  it('gives $proxy_host without the default port, and nothing before the request goes upstream', () => {
    const e = compileNginx(`
      proxy_set_header X-P "$proxy_host|$proxy_port";
      location /a/ { proxy_pass http://backend:80; }
      location /b/ { proxy_pass https://backend:8443; }
      location /c/ { proxy_pass https://[::1]; }
      location /d/ { return 200 "[$proxy_host]"; }
    `);
    expect(passed(e.evaluate(req('/a/'))).setHeaders).toEqual([{ name: 'X-P', value: 'backend|80' }]);
    expect(passed(e.evaluate(req('/b/'))).setHeaders).toEqual([{ name: 'X-P', value: 'backend:8443|8443' }]);
    expect(passed(e.evaluate(req('/c/'))).setHeaders).toEqual([{ name: 'X-P', value: '[::1]|443' }]);
    expect(e.evaluate(req('/d/'))).toEqual({ action: 'return', status: 200, body: '[]' });
  });

  it('gives localhost and no port for a unix-domain socket, as ngx_http_proxy_set_vars does', () => {
    const e = compileNginx(`
      proxy_set_header X-P "$proxy_host|$proxy_port";
      location /a/ { proxy_pass http://unix:/tmp/app.sock:/x/; }
      location /b/ { proxy_pass http://UNIX:/tmp/8080; }
      location /c/ { proxy_pass http://myunix:8080; }
    `);
    expect(passed(e.evaluate(req('/a/'))).setHeaders).toEqual([{ name: 'X-P', value: 'localhost|' }]);
    expect(passed(e.evaluate(req('/b/'))).setHeaders).toEqual([{ name: 'X-P', value: 'localhost|' }]);
    expect(passed(e.evaluate(req('/c/'))).setHeaders).toEqual([{ name: 'X-P', value: 'myunix:8080|8080' }]);
  });

  it('sends one shared list when no value has a variable, and fresh ones otherwise', () => {
    const fixed = compileNginx('proxy_set_header X-A 1; location / { proxy_pass http://u; }');
    const first = passed(fixed.evaluate(req('/'))).setHeaders;
    expect(first).toEqual([{ name: 'X-A', value: '1' }]);
    expect(passed(fixed.evaluate(req('/b'))).setHeaders).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    const varied = compileNginx('proxy_set_header X-A $uri; location / { proxy_pass http://u; }');
    expect(passed(varied.evaluate(req('/'))).setHeaders).not.toBe(
      passed(varied.evaluate(req('/'))).setHeaders,
    );
  });

  it('is not part of a redirect or a return', () => {
    const e = compileNginx('proxy_set_header X-A 1;\nproxy_hide_header X-B;\nreturn 302 /x;');
    expect(e.evaluate(req('/'))).toEqual({
      action: 'redirect',
      status: 302,
      location: 'http://example.com/x',
    });
  });
});

describe('proxy_hide_header and proxy_pass_header', () => {
  it('inherits each list on its own, lower-cased', () => {
    const engine = compileNginx(`
      proxy_hide_header X-Powered-By;
      proxy_hide_header Server-Timing;
      proxy_pass_header Server;
      location /a/ { proxy_hide_header X-Debug; }
      location /b/ { proxy_pass_header X-Accel-Redirect; }
      location /c/ { add_header X-C 1; }
    `);
    expect(engine.evaluate(req('/a/'))).toMatchObject({ hideHeaders: ['x-debug'], passHeaders: ['server'] });
    expect(engine.evaluate(req('/b/'))).toMatchObject({
      hideHeaders: ['x-powered-by', 'server-timing'],
      passHeaders: ['x-accel-redirect'],
    });
    expect(engine.evaluate(req('/c/'))).toEqual({
      action: 'pass',
      uri: '/c/',
      location: '/c/',
      addHeaders: [add('X-C', '1')],
      hideHeaders: ['x-powered-by', 'server-timing'],
      passHeaders: ['server'],
    });
  });
});

describe('header directives in nginx text', () => {
  it('reads them at each level and prints them back', () => {
    const text = `
      add_header X-S "a b" always;
      proxy_set_header Host $host;
      location / {
        add_header X-L l;
        if ($arg_x) { add_header X-If i; proxy_pass http://b; }
        proxy_hide_header X-H;
        proxy_pass_header Server;
        proxy_pass http://a;
      }
    `;
    const config = parseNginx(text);
    expect(config.addHeaders).toEqual([
      { name: 'X-S', value: 'a b', always: true, at: { line: 2, column: 7 } },
    ]);
    expect(config.proxySetHeaders).toEqual([{ name: 'Host', value: '$host', at: { line: 3, column: 7 } }]);
    const loc = config.locations[0];
    expect(loc?.proxyHideHeaders).toEqual(['X-H']);
    expect(loc?.proxyPassHeaders).toEqual(['Server']);
    const ifRule = loc?.rules[0];
    expect(ifRule?.type === 'if' ? ifRule.addHeaders : undefined).toEqual([
      { name: 'X-If', value: 'i', at: { line: 6, column: 23 } },
    ]);
    const strip = (c: unknown) => JSON.parse(JSON.stringify(c, (k, v) => (k === 'at' ? undefined : v)));
    expect(strip(parseNginx(toNginx(config)))).toEqual(strip(config));
  });

  it('refuses them where nginx does, naming the line', () => {
    expect(syntaxError('if ($a) {\n  add_header X 1;\n}').message).toMatch(
      /^"add_header" directive is not allowed in a server if at line 2, column 3/,
    );
    expect(syntaxError('location / {\n  if ($a) { proxy_set_header X 1; }\n}').message).toMatch(
      /^"proxy_set_header" directive is not allowed in a location if at line 2, column 13/,
    );
    expect(syntaxError('location / {\n  if ($a) { proxy_hide_header X; }\n}').message).toMatch(
      /^"proxy_hide_header" directive is not allowed in a location if at line 2/,
    );
  });

  it('checks arguments as nginx -t does', () => {
    expect(syntaxError('add_header X;').message).toBe(
      'invalid number of arguments in "add_header" directive at line 1, column 1',
    );
    expect(syntaxError('add_header X 1 sometimes;').message).toBe(
      'invalid parameter "sometimes" at line 1, column 16',
    );
    expect(syntaxError('\nproxy_set_header X;').message).toBe(
      'invalid number of arguments in "proxy_set_header" directive at line 2, column 1',
    );
    expect(syntaxError('proxy_hide_header;').message).toBe(
      'invalid number of arguments in "proxy_hide_header" directive at line 1, column 1',
    );
    expect(syntaxError('proxy_pass_header A B;').message).toBe(
      'invalid number of arguments in "proxy_pass_header" directive at line 1, column 1',
    );
  });

  it('refuses a header name Node cannot send, and unknown variables, naming the line', () => {
    const bad = syntaxError('location / {\n  add_header "X Y" 1;\n}');
    expect(bad.message).toMatch(/^"add_header": expected a header name .*, got "X Y" at line 2, column 3$/);
    expect([bad.line, bad.directive]).toEqual([2, 'add_header']);
    expect(syntaxError('\n\nproxy_set_header X $nope;').message).toBe(
      '"proxy_set_header": expected a known variable, got "$nope" at line 3, column 1',
    );
  });

  it('refuses variables only the response knows, saying why', () => {
    const e = syntaxError('location / {\n  add_header X-Cache $upstream_cache_status;\n}');
    expect(e.message).toMatch(/^"add_header": expected a variable known before the response/);
    expect(e.message).toMatch(/got "\$upstream_cache_status" at line 2, column 3$/);
    expect(syntaxError('add_header X $sent_http_etag;').message).toMatch(/known before the response/);
    expect(syntaxError('add_header X $status;').message).toMatch(/known before the response/);
  });
});

describe('header directives in code', () => {
  it('inherits an absent or empty list, and names the path of a bad entry', () => {
    const engine = createEngine({
      rules: [],
      addHeaders: [{ name: 'X-S', value: '1' }],
      locations: [{ modifier: '', path: '/', rules: [], addHeaders: [] }],
    });
    expect(engine.evaluate(req('/')).addHeaders).toEqual([add('X-S', '1')]);
    expect(() =>
      createEngine({
        rules: [],
        locations: [{ modifier: '', path: '/', rules: [], proxySetHeaders: [{ name: '', value: 'x' }] }],
      }),
    ).toThrow(InvalidOptionError);
    expect(() =>
      createEngine({
        rules: [
          { type: 'if', condition: { variable: '$uri' }, rules: [], addHeaders: [{ name: 'X', value: '1' }] },
        ],
        locations: [],
      }),
    ).toThrow(/rules\[0\]\.addHeaders: expected no "add_header" in a server-level "if"/);
  });
});

describe('an if in a location', () => {
  it('uses the location proxy_pass when the last if that matched has none (nginx inherits it)', () => {
    const engine = compileNginx(`
      location / {
        if ($arg_a) { proxy_pass http://a; }
        if ($arg_b) { set $b 1; }
        proxy_pass http://main;
      }
    `);
    expect(passed(engine.evaluate(req('/?a=1'))).target).toBe('http://a');
    expect(passed(engine.evaluate(req('/?a=1&b=1'))).target).toBe('http://main');
  });
});

describe('the README example', () => {
  it('gives what the README shows', () => {
    const engine = compileNginx(`
      add_header Strict-Transport-Security "max-age=63072000" always;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;

      location /api/ {
          add_header X-Served-By api;
          proxy_hide_header X-Powered-By;
          proxy_pass http://127.0.0.1:9000;
      }
    `);
    expect(
      engine.evaluate({ uri: '/api/x', headers: { host: 'example.com' }, remoteAddr: '10.0.0.9' }),
    ).toEqual({
      action: 'pass',
      uri: '/api/x',
      location: '/api/',
      target: 'http://127.0.0.1:9000',
      addHeaders: [{ name: 'X-Served-By', value: 'api', always: false, replace: false }],
      setHeaders: [
        { name: 'Host', value: 'example.com' },
        { name: 'X-Forwarded-For', value: '10.0.0.9' },
      ],
      hideHeaders: ['x-powered-by'],
    });
  });
});
