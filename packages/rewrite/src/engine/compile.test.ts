import { describe, expect, it } from 'vitest';
import { compileNginx } from '../nginx/index.js';
import type { RewriteConfig, RewriteLocation, RewriteRequest, RewriteRule } from '../types.js';
import { splitProxyUrl } from './compile.js';
import { createEngine } from './index.js';

// What compileConfig checks and builds, beyond config.test.ts: the exact words of each
// refusal (its path for a config given in code, its directive for one with positions), and
// the lists and flags it builds once for the request path.

/** What building `config` throws: the fields callers read. */
function refusal(config: unknown) {
  try {
    createEngine(config as RewriteConfig);
  } catch (err) {
    const e = err as { code: string; path?: string; message: string };
    return e.path === undefined
      ? { code: e.code, message: e.message }
      : { code: e.code, path: e.path, message: e.message };
  }
  throw new Error('createEngine accepted it');
}

const refused = (path: string, message: string) => ({ code: 'SWY_ERR_INVALID_OPTION', path, message });
const syntax = (message: string) => ({ code: 'SWY_ERR_REWRITE_SYNTAX', message });
const loc = (extra: Partial<RewriteLocation> = {}): RewriteLocation => ({
  modifier: '',
  path: '/',
  rules: [],
  ...extra,
});
const inServer = (rule: unknown) => refusal({ rules: [rule], locations: [] });
const inLocation = (rule: unknown) =>
  refusal({ rules: [], locations: [loc({ rules: [rule as RewriteRule] })] });
const req = (uri: string): RewriteRequest => ({ uri, headers: { host: 'h' } });

/** Where a parser would have recorded the directive. */
const L1 = { line: 1, column: 1 };
const uriCond = { variable: '$uri' };

describe('refusals of rules given in code name the option path', () => {
  it.each([
    [
      'a rewrite regex that is not text',
      { type: 'rewrite', regex: 5, replacement: '/x' },
      'rules[0].regex',
      'a non-empty regex, got 5',
    ],
    [
      'an unknown rewrite flag',
      { type: 'rewrite', regex: '^', replacement: '/x', flag: 'stop' },
      'rules[0].flag',
      'one of "last", "break", "redirect", "permanent", got "stop"',
    ],
    [
      'an unknown variable in a replacement',
      { type: 'rewrite', regex: '^', replacement: '/$nosuch' },
      'rules[0].replacement',
      'a known variable, got "$nosuch"',
    ],
    [
      'a return without a code whose text is not text',
      { type: 'return', text: ['http://x'] },
      'rules[0].code',
      'a status code, or a URL for "return URL", got undefined',
    ],
    [
      'a return text that is not text',
      { type: 'return', code: 200, text: 5 },
      'rules[0].text',
      'a string, got 5',
    ],
    [
      'a set of a name that is not text',
      { type: 'set', variable: ['$a'], value: '1' },
      'rules[0].variable',
      'a variable name such as "$name", got ["$a"]',
    ],
    [
      'an if inside an if',
      { type: 'if', condition: uriCond, rules: [{ type: 'if', condition: uriCond, rules: [] }] },
      'rules[0].rules[0]',
      '"if" directive is not allowed inside "if", got {"type":"if","condition":{"variable":"$uri"},"rules":[]}',
    ],
    [
      'an if condition that is not an object',
      { type: 'if', condition: 5, rules: [] },
      'rules[0].condition',
      'a condition object, got 5',
    ],
    [
      'an unknown variable in a condition',
      { type: 'if', condition: { variable: '$nosuch' }, rules: [] },
      'rules[0].condition.variable',
      'a known variable, got "$nosuch"',
    ],
    [
      'an unknown variable in a compared value',
      { type: 'if', condition: { variable: '$uri', operator: '=', value: '$nosuch' }, rules: [] },
      'rules[0].condition.value',
      'a known variable, got "$nosuch"',
    ],
    [
      'a condition regex that is not text',
      { type: 'if', condition: { variable: '$uri', operator: '~', regex: 5 }, rules: [] },
      'rules[0].condition.regex',
      'a non-empty regex, got 5',
    ],
    [
      'an unknown operator',
      { type: 'if', condition: { variable: '$uri', operator: '<', value: '1' }, rules: [] },
      'rules[0].condition.operator',
      'one of =, !=, ~, ~*, !~, !~*, got "<"',
    ],
    [
      'a proxy_pass in a server-level if',
      { type: 'if', condition: uriCond, rules: [], proxyPass: 'http://a' },
      'rules[0].proxyPass',
      'no "proxy_pass" in a server-level "if", got "http://a"',
    ],
    [
      'an add_header in a server-level if, even a list that is not an array',
      { type: 'if', condition: uriCond, rules: [], addHeaders: 5 },
      'rules[0].addHeaders',
      'no "add_header" in a server-level "if", got 5',
    ],
    [
      'an add_header in a server-level if, even a list that is null',
      { type: 'if', condition: uriCond, rules: [], addHeaders: null },
      'rules[0].addHeaders',
      'no "add_header" in a server-level "if", got null',
    ],
    [
      'an add_header in a server-level if given as text',
      { type: 'if', condition: uriCond, rules: [], addHeaders: 'X: 1' },
      'rules[0].addHeaders',
      'no "add_header" in a server-level "if", got "X: 1"',
    ],
    [
      'an unknown rule type',
      { type: 'nope' },
      'rules[0].type',
      'one of "rewrite", "return", "set", "break", "if", got "nope"',
    ],
  ])('refuses %s', (_, rule, path, expected) => {
    expect(inServer(rule)).toEqual(refused(path, `${path}: expected ${expected}`));
  });

  it('names the proxy_pass of an if in a location', () => {
    expect(inLocation({ type: 'if', condition: uriCond, rules: [], proxyPass: 'ftp://x' })).toEqual(
      refused(
        'locations[0].rules[0].proxyPass',
        'locations[0].rules[0].proxyPass: expected a URL starting with http:// or https://, got "ftp://x"',
      ),
    );
  });

  it.each([
    ['x$', 'a variable name after "$", got "x$"'],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an nginx value, not a JS template
    ['${}', 'a variable name after "$", got "${}"'],
    ['a$-b', 'a variable name after "$", got "a$-b"'],
    ['x${uri', 'a closing bracket after "${uri", got "x${uri"'],
  ])('refuses the value %j, saying what is missing', (value, expected) => {
    expect(inServer({ type: 'set', variable: '$a', value })).toEqual(
      refused('rules[0].value', `rules[0].value: expected ${expected}`),
    );
  });

  it.each([
    ['ftp://u', 'a URL starting with http:// or https://, got "ftp://u"'],
    [' http://u', 'a URL starting with http:// or https://, got " http://u"'],
    [['http://u'], 'a URL starting with http:// or https://, got ["http://u"]'],
    ['http:///x', 'a URL with a host or a unix socket path, got "http:///x"'],
  ])('refuses the proxy_pass %j', (proxyPass, expected) => {
    expect(refusal({ rules: [], locations: [loc({ proxyPass: proxyPass as string })] })).toEqual(
      refused('locations[0].proxyPass', `locations[0].proxyPass: expected ${expected}`),
    );
  });

  it('names the header list, name or value it refuses', () => {
    const token = "a header name (letters, digits and !#$%&'*+-.^_`|~)";
    expect(refusal({ rules: [], locations: [], proxySetHeaders: {} })).toEqual(
      refused('proxySetHeaders', 'proxySetHeaders: expected an array of headers, got {}'),
    );
    expect(refusal({ rules: [], locations: [], proxySetHeaders: [{ name: 'A B', value: '1' }] })).toEqual(
      refused('proxySetHeaders[0].name', `proxySetHeaders[0].name: expected ${token}, got "A B"`),
    );
    expect(refusal({ rules: [], locations: [], proxySetHeaders: [{ name: 'A', value: 5 }] })).toEqual(
      refused('proxySetHeaders[0].value', 'proxySetHeaders[0].value: expected a string, got 5'),
    );
    expect(refusal({ rules: [], locations: [], addHeaders: [{ name: ['X'], value: '1' }] })).toEqual(
      refused('addHeaders[0].name', `addHeaders[0].name: expected ${token}, got ["X"]`),
    );
    expect(refusal({ rules: [], locations: [], addHeaders: [{ name: 'A', value: 5 }] })).toEqual(
      refused('addHeaders[0].value', 'addHeaders[0].value: expected a string, got 5'),
    );
  });

  it("keeps a regex translation error's words whole, even when they quote a JavaScript error", () => {
    const regex = '(?<Invalid regular expression: /x/: y>a)';
    expect(inServer({ type: 'rewrite', regex, replacement: '/x' })).toEqual(
      refused(
        'rules[0].regex',
        `rules[0].regex: expected a regex that compiles (invalid group name "Invalid regular expression: /x/: y"), got ${JSON.stringify(regex)}`,
      ),
    );
  });

  it("checks the server's header lists before its rules", () => {
    expect(
      refusal({ rules: [{ type: 'rewrite', regex: 5, replacement: '/x' }], locations: [], addHeaders: 'x' }),
    ).toEqual(refused('addHeaders', 'addHeaders: expected an array of headers, got "x"'));
  });
});

describe('refusals of rules with positions name the directive', () => {
  // The nginx parser refuses these shapes itself; a config given in code with positions
  // (as a tool that parsed it would give) reaches the compiler's own checks.
  const at = (line: string) => `${line} at line 1, column 1`;

  it.each([
    [
      'a rewrite regex that is not text',
      { type: 'rewrite', regex: 5, replacement: '/x', at: L1 },
      '"rewrite": expected a non-empty regex, got 5',
    ],
    [
      'a rewrite replacement that is not text',
      { type: 'rewrite', regex: '^', replacement: 5, at: L1 },
      '"rewrite": expected a non-empty replacement, got 5',
    ],
    [
      'an unknown rewrite flag',
      { type: 'rewrite', regex: '^', replacement: '/x', flag: 'stop', at: L1 },
      '"rewrite": expected one of "last", "break", "redirect", "permanent", got "stop"',
    ],
    [
      'a return of a relative URI without a code',
      { type: 'return', text: '/x', at: L1 },
      '"return": expected a status code, or a URL for "return URL", got undefined',
    ],
    [
      'an if inside an if',
      { type: 'if', condition: uriCond, rules: [{ type: 'if', condition: uriCond, rules: [], at: L1 }] },
      '"if": expected "if" directive is not allowed inside "if", got {"type":"if","condition":{"variable":"$uri"},"rules":[],"at":{"line":1,"column":1}}',
    ],
    [
      'an if condition that is not an object',
      { type: 'if', condition: 5, rules: [], at: L1 },
      '"if": expected a condition object, got 5',
    ],
    [
      'a condition regex that is not text',
      { type: 'if', condition: { variable: '$uri', operator: '~' }, rules: [], at: L1 },
      '"if": expected a non-empty regex, got undefined',
    ],
    [
      'an unknown operator',
      { type: 'if', condition: { variable: '$uri', operator: '<', value: '1' }, rules: [], at: L1 },
      '"if": expected one of =, !=, ~, ~*, !~, !~*, got "<"',
    ],
    [
      'a proxy_pass in a server-level if',
      { type: 'if', condition: uriCond, rules: [], proxyPass: 'http://a', at: L1 },
      '"proxy_pass": expected no "proxy_pass" in a server-level "if", got "http://a"',
    ],
    [
      'an add_header in a server-level if, at the if when the header has no position',
      { type: 'if', condition: uriCond, rules: [], addHeaders: [{ name: 'A', value: '1' }], at: L1 },
      '"add_header": expected no "add_header" in a server-level "if", got [{"name":"A","value":"1"}]',
    ],
    [
      'an add_header in a server-level if given as text, at the if',
      { type: 'if', condition: uriCond, rules: [], addHeaders: ['X: 1'], at: L1 },
      '"add_header": expected no "add_header" in a server-level "if", got ["X: 1"]',
    ],
    [
      'an unknown rule type, named as the directive',
      { type: 'nope', at: L1 },
      '"nope": expected one of "rewrite", "return", "set", "break", "if", got "nope"',
    ],
  ])('refuses %s', (_, rule, message) => {
    expect(inServer(rule)).toEqual(syntax(at(message)));
  });

  it('refuses an add_header in a server-level if at the add_header', () => {
    const header = { name: 'A', value: '1', at: { line: 2, column: 3 } };
    expect(inServer({ type: 'if', condition: uriCond, rules: [], addHeaders: [header], at: L1 })).toEqual(
      syntax(
        `"add_header": expected no "add_header" in a server-level "if", got ${JSON.stringify([header])} at line 2, column 3`,
      ),
    );
  });

  it('refuses an add_header whose always is not a boolean, and an unknown location modifier', () => {
    expect(
      refusal({ rules: [], locations: [], addHeaders: [{ name: 'A', value: '1', always: 'yes', at: L1 }] }),
    ).toEqual(syntax(at('"add_header": expected a boolean, got "yes"')));
    expect(refusal({ rules: [], locations: [loc({ modifier: '!' as never, at: L1 })] })).toEqual(
      syntax(at('"location": expected one of "", "=", "^~", "~", "~*", got "!"')),
    );
  });
});

describe('refusals in nginx text name the directive', () => {
  it.each([
    ['location ~ ( {}', '"location": expected a regex that compiles (Unterminated group), got "("'],
    ['if ($uri ~ "(") { break; }', '"if": expected a regex that compiles (Unterminated group), got "("'],
    ['location "" {}', '"location": expected a location path, got ""'],
    [
      'location / { proxy_pass ftp://u; }',
      '"proxy_pass": expected a URL starting with http:// or https://, got "ftp://u"',
    ],
    ['location / { proxy_pass http://$nosuch; }', '"proxy_pass": expected a known variable, got "$nosuch"'],
    [
      'location / { proxy_pass http:///x; }',
      '"proxy_pass": expected a URL with a host or a unix socket path, got "http:///x"',
    ],
    [
      'proxy_set_header "A B" 1;',
      `"proxy_set_header": expected a header name (letters, digits and !#$%&'*+-.^_\`|~), got "A B"`,
    ],
    ['rewrite ^ /$nosuch;', '"rewrite": expected a known variable, got "$nosuch"'],
    ['set $a-b 1;', '"set": expected a variable name such as "$name", got "$a-b"'],
    ['set $a $nosuch;', '"set": expected a known variable, got "$nosuch"'],
    ['if ($a-b) { break; }', '"if": expected a variable name such as "$name", got "$a-b"'],
    ['if ($nosuch) { break; }', '"if": expected a known variable, got "$nosuch"'],
    ['if ($uri = $nosuch) { break; }', '"if": expected a known variable, got "$nosuch"'],
  ])('refuses %s', (text, message) => {
    expect(() => compileNginx(text)).toThrow(`${message} at line 1, column 1`);
  });

  it('refuses a proxy_pass with a URI inside an if, at the if', () => {
    expect(() => compileNginx('location / { if ($uri) { proxy_pass http://b/x; } }')).toThrow(
      '"proxy_pass": expected no URI part in a location given by a regular expression or inside "if", got "http://b/x" at line 1, column 14',
    );
  });
});

describe('variables only known after the response', () => {
  const why = {
    response:
      'a variable known before the response (the engine decides before the upstream answers: $upstream_…, $sent_http_…, $status and the like are not available)',
    unknown: 'a known variable',
  };

  it.each([
    ['$sent_trailer_x', 'response'],
    ['$upstream_addr', 'response'],
    ['$status', 'response'],
    ['$my_upstream_x', 'unknown'],
    ['$status_code', 'unknown'],
  ] as const)('refuses %s as a variable that is %s', (name, kind) => {
    expect(() => compileNginx(`return 200 ${name};`)).toThrow(
      `"return": expected ${why[kind]}, got "${name}" at line 1, column 1`,
    );
  });
});

describe('what declares a variable', () => {
  it('declares the named captures of a ~* location', () => {
    const engine = compileNginx('location ~* ^/(?<slug>.+)$ { return 200 $slug; }');
    expect(engine.evaluate(req('/Abc'))).toEqual({ action: 'return', status: 200, body: 'Abc' });
  });

  it('reads only the fields of a rule of its type: a stray variable or regex declares and checks nothing', () => {
    expect(inServer({ type: 'return', code: 200, text: '$v', variable: '$v' })).toEqual(
      refused('rules[0].text', 'rules[0].text: expected a known variable, got "$v"'),
    );
    expect(() =>
      createEngine({
        rules: [
          { type: 'return', code: 200, regex: '(' } as RewriteRule,
          {
            type: 'if',
            condition: { variable: '$uri', operator: '=', value: 'a', regex: undefined },
            rules: [],
          } as RewriteRule,
        ],
        locations: [],
      }),
    ).not.toThrow();
  });
});

describe('regexes compiled ahead, to find capture names', () => {
  // Inline options are taken inside a pattern only when they change nothing, so the pass
  // that reads capture names must compile each regex with or without case as it is used.
  it('compiles a ~* regex without case and a ~ regex with it, in locations and in if', () => {
    const engine = compileNginx(`
      location ~* ^/l(?i:x)$ { return 200 location-caseless; }
      location ~ ^/m(?-i:x)$ { return 200 location-with-case; }
      if ($uri ~* ^/i(?i:x)$) { return 200 if-caseless; }
    `);
    const body = (uri: string) => (engine.evaluate(req(uri)) as { body?: string }).body;
    expect([body('/LX'), body('/mx'), body('/IX')]).toEqual([
      'location-caseless',
      'location-with-case',
      'if-caseless',
    ]);
  });
});

describe('locations', () => {
  it('keeps a regex location apart from a prefix location of the same text', () => {
    const engine = compileNginx('location ~ /a$ { return 200 regex; }\nlocation /a$ { return 200 prefix; }');
    expect(engine.evaluate(req('/b/a'))).toEqual({ action: 'return', status: 200, body: 'regex' });
    expect(engine.evaluate(req('/a$b'))).toEqual({ action: 'return', status: 200, body: 'prefix' });
  });

  it('keeps a regex with case apart from one without case whose cache key is alike', () => {
    // With case the key is "-" and the text; "~* -x$" must not take the "~ x$" regex.
    const engine = compileNginx(
      'location ~ x$ { return 200 with-case; }\nlocation ~* -x$ { return 200 without-case; }',
    );
    expect(engine.evaluate(req('/a-X'))).toEqual({ action: 'return', status: 200, body: 'without-case' });
  });

  it('redirects to the slash only for a proxied location whose name ends with "/"', () => {
    const engine = compileNginx(
      'location /ab { proxy_pass http://b; }\nlocation /c/ { proxy_pass http://b; }',
    );
    expect(engine.evaluate(req('/a'))).toEqual({ action: 'pass', uri: '/a' });
    expect(engine.evaluate(req('/c'))).toMatchObject({ action: 'redirect', status: 301 });
  });
});

describe('rewrite replacements', () => {
  it('starts the arguments at the first "?" only', () => {
    const engine = compileNginx('location / { rewrite ^/a$ /b?x=1?y=2 break; proxy_pass http://u; }');
    expect(engine.evaluate(req('/a'))).toMatchObject({ action: 'pass', uri: '/b?x=1?y=2' });
  });

  it('redirects only for a replacement that starts with a scheme', () => {
    const engine = compileNginx('location / { rewrite ^/a$ /go/http://c break; proxy_pass http://u; }');
    expect(engine.evaluate(req('/a'))).toMatchObject({ action: 'pass', uri: '/go/http://c' });
  });
});

describe('header lists built once', () => {
  it('sends literal proxy_set_header values', () => {
    const engine = compileNginx(
      'location / { proxy_set_header X-A 1; proxy_set_header X-B ""; proxy_pass http://u; }',
    );
    expect(engine.evaluate(req('/'))).toMatchObject({
      setHeaders: [
        { name: 'X-A', value: '1' },
        { name: 'X-B', value: '' },
      ],
    });
  });

  it('leaves out an add_header with an empty literal value, unless it replaces the header', () => {
    const engine = compileNginx('add_header X-A ""; add_header X-B b; add_header ETag ""; return 200;');
    expect(engine.evaluate(req('/'))).toEqual({
      action: 'return',
      status: 200,
      body: '',
      addHeaders: [
        { name: 'X-B', value: 'b', always: false, replace: false },
        { name: 'ETag', value: '', always: false, replace: true },
      ],
    });
  });

  it('inherits the outer list through an empty list given in code', () => {
    const engine = createEngine({
      rules: [],
      locations: [loc({ proxyHideHeaders: [], proxySetHeaders: [], addHeaders: [] })],
      proxyHideHeaders: ['X-H'],
      proxySetHeaders: [{ name: 'X-S', value: '1' }],
    });
    expect(engine.evaluate(req('/'))).toMatchObject({
      hideHeaders: ['x-h'],
      setHeaders: [{ name: 'X-S', value: '1' }],
    });
  });

  it('keeps a level that has only proxy_hide_header or only proxy_pass_header', () => {
    expect(compileNginx('proxy_hide_header X-H;').evaluate(req('/'))).toEqual({
      action: 'pass',
      uri: '/',
      hideHeaders: ['x-h'],
    });
    expect(compileNginx('proxy_pass_header X-P;').evaluate(req('/'))).toEqual({
      action: 'pass',
      uri: '/',
      passHeaders: ['x-p'],
    });
  });

  it('takes an empty add_header list in a server-level if as none', () => {
    expect(() =>
      createEngine({ rules: [{ type: 'if', condition: uriCond, rules: [], addHeaders: [] }], locations: [] }),
    ).not.toThrow();
  });
});

describe('splitProxyUrl reads a unix socket only right after the scheme', () => {
  it('takes "unix:" later in the URL as part of the path', () => {
    expect(splitProxyUrl('http://host/unix:/x')).toEqual({ origin: 'http://host', uri: '/unix:/x' });
  });
});
