import { describe, expect, it } from 'vitest';
import { RewriteSyntaxError } from '../errors.js';
import type { RewriteConfig } from '../types.js';
import { compileNginx, parseNginx, toNginx } from './index.js';

function stripPositions(config: RewriteConfig): RewriteConfig {
  return JSON.parse(JSON.stringify(config, (k, v) => (k === 'at' ? undefined : v)));
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

describe('parseNginx', () => {
  it('reads directives, quoting, escapes and comments as nginx does', () => {
    const config = parseNginx(`
      # a comment
      rewrite "^/a b/(.*)$" '/c\\'d/$1' last; # trailing
      set $v "x\\"y";
      if ($request_uri ~ "^/q/(\\d{3})$") { return 200 "three $1"; }
      location = /x { return 204; }
    `);
    expect(stripPositions(config)).toEqual({
      rules: [
        { type: 'rewrite', regex: '^/a b/(.*)$', replacement: "/c'd/$1", flag: 'last' },
        { type: 'set', variable: '$v', value: 'x"y' },
        {
          type: 'if',
          condition: { variable: '$request_uri', operator: '~', regex: '^/q/(\\d{3})$' },
          rules: [{ type: 'return', code: 200, text: 'three $1' }],
        },
      ],
      locations: [{ modifier: '=', path: '/x', rules: [{ type: 'return', code: 204 }] }],
    });
  });

  it('records where each directive starts', () => {
    const config = parseNginx('return 403;\n\n  location / {\n    proxy_pass http://a;\n  }');
    expect(config.rules[0]?.at).toEqual({ line: 1, column: 1 });
    expect(config.locations[0]?.at).toEqual({ line: 3, column: 3 });
  });

  it('accepts modifiers written against the path', () => {
    const config = parseNginx('location =/a {} location ^~/b {} location ~*\\.png$ {} location ~^/c {}');
    expect(config.locations.map((l) => [l.modifier, l.path])).toEqual([
      ['=', '/a'],
      ['^~', '/b'],
      ['~*', '\\.png$'],
      ['~', '^/c'],
    ]);
  });

  it('reads every condition form of if', () => {
    const config = parseNginx(`
      if ($a) { break; }
      if ( $b = "" ) { break; }
      if ($c != x) { break; }
      if ($d !~* "a b") { break; }
    `);
    expect(config.rules.map((r) => (r.type === 'if' ? r.condition : undefined))).toEqual([
      { variable: '$a' },
      { variable: '$b', operator: '=', value: '' },
      { variable: '$c', operator: '!=', value: 'x' },
      { variable: '$d', operator: '!~*', regex: 'a b' },
    ]);
  });
});

describe('syntax errors', () => {
  it('names an unknown directive, its line and column, and what is supported', () => {
    const e = syntaxError('location / {\n    root /var/www;\n}');
    expect(e.code).toBe('SWY_ERR_REWRITE_SYNTAX');
    expect(e.message).toBe(
      'unknown directive "root" at line 2, column 5; supported in a location: rewrite, return, if, set, break, proxy_pass, add_header, proxy_set_header, proxy_hide_header, proxy_pass_header',
    );
    expect([e.line, e.column, e.directive]).toEqual([2, 5, 'root']);
  });

  it('refuses a directive in the wrong block', () => {
    expect(syntaxError('proxy_pass http://a;').message).toBe(
      '"proxy_pass" directive is not allowed in a server at line 1, column 1; supported in a server: rewrite, return, if, set, break, location, add_header, proxy_set_header, proxy_hide_header, proxy_pass_header',
    );
    expect(syntaxError('if ($a) { if ($b) { break; } }').message).toMatch(
      /^"if" directive is not allowed in a server if at line 1, column 11/,
    );
    expect(syntaxError('location / { location /a {} }').message).toMatch(
      /^nested locations are not supported at line 1, column 14/,
    );
  });

  it('checks arguments as nginx -t does', () => {
    expect(syntaxError('rewrite ^/a;').message).toBe(
      'invalid number of arguments in "rewrite" directive at line 1, column 1',
    );
    expect(syntaxError('rewrite ^/a /b last2;').message).toBe(
      'invalid parameter "last2" at line 1, column 16',
    );
    expect(syntaxError('return abc;').message).toBe('invalid return code "abc" at line 1, column 8');
    expect(syntaxError('return 1000;').message).toBe('invalid return code "1000" at line 1, column 8');
    expect(syntaxError('set x 1;').message).toBe('invalid variable name "x" at line 1, column 5');
    expect(syntaxError('if ($a == b) { break; }').message).toBe(
      'unexpected "==" in condition at line 1, column 8',
    );
    expect(syntaxError('if (-f $uri) { break; }').message).toBe(
      'file test "-f" is not supported (no file system) at line 1, column 4',
    );
    expect(syntaxError('location @named { }').message).toBe(
      'named locations are not supported at line 1, column 10',
    );
  });

  it('reports unbalanced text', () => {
    expect(syntaxError('location / {').message).toBe(
      'unexpected end of file, expecting "}" at line 1, column 13',
    );
    expect(syntaxError('return 200').message).toBe(
      'unexpected end of file, expecting ";" or "}" at line 1, column 11',
    );
    expect(syntaxError('}').message).toBe('unexpected "}" at line 1, column 1');
    expect(syntaxError('return "a"b;').message).toBe('unexpected "b" at line 1, column 11');
  });

  it('reports regexes it cannot translate, unknown variables and duplicate locations at the directive', () => {
    expect(syntaxError('\n  rewrite (?>a) /b;').message).toBe(
      '"rewrite": expected a regex that compiles (atomic groups are not supported), got "(?>a)" at line 2, column 3',
    );
    expect(syntaxError('rewrite ^/a/( /b;').message).toBe(
      '"rewrite": expected a regex that compiles (Unterminated group), got "^/a/(" at line 1, column 1',
    );
    expect(syntaxError('return 200 $nosuch;').message).toBe(
      '"return": expected a known variable, got "$nosuch" at line 1, column 1',
    );
    expect(syntaxError('location /a {}\nlocation /a {}').message).toBe(
      '"location": expected a location path not used twice, got "/a" at line 2, column 1',
    );
    expect(syntaxError('location ~ ^/a { proxy_pass http://b/x; }').message).toBe(
      '"proxy_pass": expected no URI part in a location given by a regular expression or inside "if", got "http://b/x" at line 1, column 1',
    );
    expect(syntaxError('set $uri 1;').message).toBe(
      '"set": expected a variable that may be set (not a built-in), got "$uri" at line 1, column 1',
    );
  });

  it('refuses a return code below 100, which Node cannot send, naming its line, column and code', () => {
    // nginx accepts 0–999 and sends "HTTP/1.1 042 "; Node's writeHead throws on it.
    const e = syntaxError('location = /a {\n  return 42;\n}');
    expect(e.message).toBe(
      '"return": expected a status code from 100 to 999 (Node cannot send one below 100), got 42 at line 2, column 3',
    );
    expect([e.code, e.line, e.column, e.directive]).toEqual(['SWY_ERR_REWRITE_SYNTAX', 2, 3, 'return']);
    expect(syntaxError('return 0;').message).toMatch(/got 0 at line 1, column 1$/);
    expect(syntaxError('if ($arg_x) { return 99 "text"; }').message).toMatch(/got 99 at line 1, column 15$/);
    expect(compileNginx('return 100;').evaluate({ uri: '/' })).toEqual({
      action: 'return',
      status: 100,
      body: '',
    });
    expect(compileNginx('return 444;').evaluate({ uri: '/' })).toEqual({ action: 'return', status: 444 });
    expect(compileNginx('return 999 x;').evaluate({ uri: '/' })).toEqual({
      action: 'return',
      status: 999,
      body: 'x',
    });
  });

  it('knows variables declared by set or a named capture anywhere', () => {
    expect(() =>
      compileNginx('location /a { return 200 $later$slug; }\nset $later 1;\nlocation ~ ^/(?<slug>.+)$ {}'),
    ).not.toThrow();
  });
});

describe('toNginx', () => {
  it('prints text that parses back to the same rules', () => {
    const text = `rewrite "^/a b/(.*)$" /c/$1?x=1 last;
set $v "x\\"y";
if ($http_host ~* ^www\\.(.+)$) { return 301 $scheme://$1$request_uri; }
location = /x { return 200 "a; b"; }
location ~* \\.(gif|jpg)$ {
  if ($arg_x) { proxy_pass http://b; }
  proxy_pass http://a;
}`;
    const config = stripPositions(parseNginx(text));
    expect(stripPositions(parseNginx(toNginx(config)))).toEqual(config);
    expect(toNginx(config)).toBe(`rewrite "^/a b/(.*)$" /c/$1?x=1 last;
set $v "x\\"y";
if ($http_host ~* ^www\\.(.+)$) {
    return 301 $scheme://$1$request_uri;
}

location = /x {
    return 200 "a; b";
}

location ~* \\.(gif|jpg)$ {
    if ($arg_x) {
        proxy_pass http://b;
    }
    proxy_pass http://a;
}
`);
  });
});
