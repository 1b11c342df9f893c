import { describe, expect, it } from 'vitest';
import { compileNginx } from '../nginx/index.js';
import type { RewriteConfig, RewriteLocation } from '../types.js';
import { splitProxyUrl } from './compile.js';
import { createEngine } from './index.js';

// Rules given in code (not parsed from nginx text) are checked when the engine is built,
// each refusal naming the option path and the bad value.

/** What building `config` throws: the fields callers read. */
function refusal(config: unknown) {
  try {
    createEngine(config as RewriteConfig);
  } catch (err) {
    const e = err as { code: string; path: string; message: string };
    return { code: e.code, path: e.path, message: e.message };
  }
  throw new Error('createEngine accepted it');
}

const refused = (path: string, message: string) => ({ code: 'SWY_ERR_INVALID_OPTION', path, message });
const loc = (extra: Partial<RewriteLocation> = {}): RewriteLocation => ({
  modifier: '',
  path: '/',
  rules: [],
  ...extra,
});

describe('a rewrite config given in code', () => {
  it('must be an object with rules and locations arrays', () => {
    const expected = 'an object with "rules" and "locations" arrays';
    expect(refusal(null)).toEqual(refused('config', `config: expected ${expected}, got null`));
    expect(refusal({ rules: [] }).path).toBe('config');
    expect(refusal({ locations: [] }).path).toBe('config');
    expect(refusal([]).path).toBe('config');
  });

  it('refuses a location or a rule that is not an object, or rules that are not an array', () => {
    expect(refusal({ rules: [], locations: [5] })).toEqual(
      refused('locations[0]', 'locations[0]: expected a location object, got 5'),
    );
    expect(refusal({ rules: [], locations: [loc({ rules: 'x' as never })] })).toEqual(
      refused('locations[0].rules', 'locations[0].rules: expected an array of rules, got "x"'),
    );
    expect(refusal({ rules: [null], locations: [] })).toEqual(
      refused('rules[0]', 'rules[0]: expected a rule object, got null'),
    );
    expect(
      refusal({
        rules: [{ type: 'if', condition: { variable: '$uri' }, rules: [{ type: 'break' }, 7] }],
        locations: [],
      }),
    ).toEqual(refused('rules[0].rules[1]', 'rules[0].rules[1]: expected a rule object, got 7'));
  });

  it('names an if condition that is not an object, or whose operator is not text', () => {
    for (const condition of [5, null]) {
      expect(refusal({ rules: [{ type: 'if', condition, rules: [] }], locations: [] }).path).toBe(
        'rules[0].condition',
      );
    }
    const badOperator = { variable: '$uri', operator: 1, regex: 'x' };
    expect(refusal({ rules: [{ type: 'if', condition: badOperator, rules: [] }], locations: [] }).path).toBe(
      'rules[0].condition.operator',
    );
  });

  it('names the regex of an if or a location that does not compile', () => {
    expect(
      refusal({
        rules: [{ type: 'if', condition: { variable: '$uri', operator: '~', regex: '(' }, rules: [] }],
        locations: [],
      }).path,
    ).toBe('rules[0].condition.regex');
    expect(refusal({ rules: [], locations: [loc({ modifier: '~*', path: '(' })] }).path).toBe(
      'locations[0].path',
    );
  });

  it('refuses an unknown modifier, and a path that is empty unless exact', () => {
    expect(refusal({ rules: [], locations: [loc({ modifier: '!' as never })] })).toEqual(
      refused(
        'locations[0].modifier',
        'locations[0].modifier: expected one of "", "=", "^~", "~", "~*", got "!"',
      ),
    );
    expect(refusal({ rules: [], locations: [loc(), loc({ path: '' })] })).toEqual(
      refused('locations[1].path', 'locations[1].path: expected a location path, got ""'),
    );
    expect(refusal({ rules: [], locations: [loc({ modifier: '^~', path: '' })] }).path).toBe(
      'locations[0].path',
    );
    expect(refusal({ rules: [], locations: [loc({ path: 5 as never })] }).path).toBe('locations[0].path');
    expect(() => createEngine({ rules: [], locations: [loc({ modifier: '=', path: '' })] })).not.toThrow();
  });

  it('refuses the same location path twice, naming the second', () => {
    expect(
      refusal({ rules: [], locations: [loc({ path: '/a' }), loc({ path: '/b' }), loc({ path: '/a' })] }),
    ).toEqual(
      refused('locations[2].path', 'locations[2].path: expected a location path not used twice, got "/a"'),
    );
    expect(() =>
      createEngine({ rules: [], locations: [loc({ path: '/a' }), loc({ modifier: '=', path: '/a' })] }),
    ).not.toThrow();
  });

  it('refuses header lists that are not arrays of header objects or names', () => {
    expect(refusal({ rules: [], locations: [], addHeaders: 'X: 1' })).toEqual(
      refused('addHeaders', 'addHeaders: expected an array of headers, got "X: 1"'),
    );
    expect(refusal({ rules: [], locations: [], proxySetHeaders: {} }).path).toBe('proxySetHeaders');
    expect(refusal({ rules: [], locations: [], addHeaders: [{ name: 'A', value: '1' }, 5] })).toEqual(
      refused('addHeaders[1]', 'addHeaders[1]: expected a header object, got 5'),
    );
    expect(refusal({ rules: [], locations: [loc({ proxySetHeaders: [null as never] })] })).toEqual(
      refused(
        'locations[0].proxySetHeaders[0]',
        'locations[0].proxySetHeaders[0]: expected a header object, got null',
      ),
    );
    expect(
      refusal({ rules: [], locations: [], addHeaders: [{ name: 'A', value: '1', always: 'yes' }] }),
    ).toEqual(refused('addHeaders[0].always', 'addHeaders[0].always: expected a boolean, got "yes"'));
    expect(refusal({ rules: [], locations: [], addHeaders: [{ name: 'A B', value: '1' }] }).path).toBe(
      'addHeaders[0].name',
    );
    for (const names of ['X-A', [''], ['X-A', 5]]) {
      expect(refusal({ rules: [], locations: [], proxyHideHeaders: names })).toEqual(
        refused(
          'proxyHideHeaders',
          `proxyHideHeaders: expected an array of header names, got ${JSON.stringify(names)}`,
        ),
      );
    }
    expect(refusal({ rules: [], locations: [loc({ proxyPassHeaders: [''] })] }).path).toBe(
      'locations[0].proxyPassHeaders',
    );
  });
});

describe('regex locations and conditions without case', () => {
  it('matches ~* without case and ~ with it, in locations and in if', () => {
    const engine = compileNginx(`
      location ~* \\.PNG$ { return 200 image; }
      location ~ \\.Gif$ { return 200 gif; }
      location / {
        if ($uri ~* ^/UP) { return 200 up; }
        if ($uri ~ ^/Low) { return 200 low; }
        return 200 other;
      }
    `);
    const body = (uri: string) => {
      const r = engine.evaluate({ uri, headers: { host: 'h' } });
      return r.action === 'return' ? r.body : r.action;
    };
    expect([body('/a.png'), body('/a.PNG'), body('/a.Gif'), body('/a.gif')]).toEqual([
      'image',
      'image',
      'gif',
      'other',
    ]);
    expect([body('/up'), body('/UP'), body('/Low'), body('/low')]).toEqual(['up', 'up', 'low', 'other']);
  });
});

describe('rules given in code', () => {
  const inServer = (rule: unknown) => refusal({ rules: [rule], locations: [] });

  it('refuses a rewrite without a regex or a replacement, or with an unknown flag', () => {
    expect(inServer({ type: 'rewrite', regex: '', replacement: '/x' })).toEqual(
      refused('rules[0].regex', 'rules[0].regex: expected a non-empty regex, got ""'),
    );
    expect(inServer({ type: 'rewrite', regex: 5, replacement: '/x' }).path).toBe('rules[0].regex');
    expect(inServer({ type: 'rewrite', regex: '^/a', replacement: '' })).toEqual(
      refused('rules[0].replacement', 'rules[0].replacement: expected a non-empty replacement, got ""'),
    );
    expect(inServer({ type: 'rewrite', regex: '^/a', replacement: 5 }).path).toBe('rules[0].replacement');
    expect(inServer({ type: 'rewrite', regex: '^/a', replacement: '/b', flag: 'stop' }).path).toBe(
      'rules[0].flag',
    );
  });

  it('takes a return without a code only for a URL, and codes 100 to 999', () => {
    const urlOnly = 'rules[0].code: expected a status code, or a URL for "return URL", got undefined';
    for (const text of ['/relative', 'ftp://x', 'go http://x', undefined]) {
      expect(inServer({ type: 'return', text }), String(text)).toEqual(refused('rules[0].code', urlOnly));
    }
    for (const text of ['http://x', 'https://x', '$scheme://x']) {
      expect(() => createEngine({ rules: [{ type: 'return', text }], locations: [] }), text).not.toThrow();
    }
    for (const code of [99, 1000, 2.5]) {
      expect(inServer({ type: 'return', code }).path).toBe('rules[0].code');
    }
    for (const code of [100, 999]) {
      expect(() => createEngine({ rules: [{ type: 'return', code }], locations: [] })).not.toThrow();
    }
  });

  it('refuses a set of anything but a $name, or of a built-in other than $args', () => {
    for (const variable of ['x', '$', '$a b', 'x$y', '$a-', 5]) {
      expect(inServer({ type: 'set', variable, value: '1' }), String(variable)).toEqual(
        refused(
          'rules[0].variable',
          `rules[0].variable: expected a variable name such as "$name", got ${JSON.stringify(variable)}`,
        ),
      );
    }
    expect(inServer({ type: 'set', variable: '$uri', value: '1' }).path).toBe('rules[0].variable');
    expect(() =>
      createEngine({ rules: [{ type: 'set', variable: '$args', value: 'a=1' }], locations: [] }),
    ).not.toThrow();
  });

  it('refuses an if inside an if, an unknown operator, a bad variable and rules that are not an array', () => {
    const cond = { variable: '$uri' };
    const nested = { type: 'if', condition: cond, rules: [{ type: 'if', condition: cond, rules: [] }] };
    expect(inServer(nested).path).toBe('rules[0].rules[0]');
    expect(
      inServer({ type: 'if', condition: { variable: '$uri', operator: '<', value: '1' }, rules: [] }).path,
    ).toBe('rules[0].condition.operator');
    expect(inServer({ type: 'if', condition: { variable: 'uri' }, rules: [] }).path).toBe(
      'rules[0].condition.variable',
    );
    expect(
      refusal({
        rules: [],
        locations: [loc({ rules: [{ type: 'if', condition: cond, rules: 3 as never }] })],
      }).path,
    ).toBe('locations[0].rules[0].rules');
  });

  it('refuses a value with an unclosed ${ or a lone $', () => {
    expect(inServer({ type: 'set', variable: '$a', value: 'x${uri' }).path).toBe('rules[0].value');
    expect(inServer({ type: 'set', variable: '$a', value: 'x$' }).path).toBe('rules[0].value');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an nginx value, not a JS template
    expect(inServer({ type: 'set', variable: '$a', value: '${}' }).path).toBe('rules[0].value');
  });

  it('reads a braced variable in a value as the plain one, so that text may follow it', () => {
    const engine = createEngine({
      rules: [
        { type: 'set', variable: '$a', value: 'x' },
        // biome-ignore lint/suspicious/noTemplateCurlyInString: an nginx value, not a JS template
        { type: 'return', code: 200, text: '${a}y $a-z {b}' },
      ],
      locations: [],
    });
    expect(engine.evaluate({ uri: '/', headers: { host: 'h' } })).toEqual({
      action: 'return',
      status: 200,
      body: 'xy x-z {b}',
    });
  });

  it('refuses a proxy_pass that is not an http or https URL', () => {
    for (const proxyPass of ['ftp://u', ' http://u', 'u:80', 5]) {
      expect(
        refusal({ rules: [], locations: [loc({ proxyPass: proxyPass as string })] }).path,
        String(proxyPass),
      ).toBe('locations[0].proxyPass');
    }
    expect(() => createEngine({ rules: [], locations: [loc({ proxyPass: 'HTTPS://u' })] })).not.toThrow();
  });
});

describe('regexes and values when built', () => {
  it('refuses a capture named as a built-in variable, and says why a regex does not compile', () => {
    expect(() => compileNginx('rewrite ^/(?<uri>.*)$ /x;')).toThrow(
      '"rewrite": expected capture names that are not built-in variables ("uri"), got "^/(?<uri>.*)$" at line 1, column 1',
    );
    expect(() => compileNginx('rewrite ( /x;')).toThrow(
      '"rewrite": expected a regex that compiles (Unterminated group), got "(" at line 1, column 1',
    );
  });

  it('reads $1 to $9 as captures, and $0 as an unknown variable', () => {
    expect(() => compileNginx('return 200 $0;')).toThrow('"return": expected a known variable, got "$0"');
    const engine = compileNginx('location ~ ^/(a)(b)(c)(d)(e)(f)(g)(h)(i)$ { return 200 $9$1; }');
    expect(engine.evaluate({ uri: '/abcdefghi', headers: { host: 'h' } })).toEqual({
      action: 'return',
      status: 200,
      body: 'ia',
    });
  });

  it('refuses a value that is not a string', () => {
    expect(refusal({ rules: [{ type: 'set', variable: '$a', value: 5 }], locations: [] })).toEqual(
      refused('rules[0].value', 'rules[0].value: expected a string, got 5'),
    );
  });

  it('keeps a regex with case apart from the same text without case', () => {
    // Two patterns whose cache keys would meet if the case flag were not part of them.
    const engine = compileNginx(`
      location ~ ix$ { return 200 with-case; }
      location ~* x$ { return 200 without-case; }
    `);
    expect(engine.evaluate({ uri: '/aX', headers: { host: 'h' } })).toEqual({
      action: 'return',
      status: 200,
      body: 'without-case',
    });
  });
});

describe('splitProxyUrl, as ngx_parse_url cuts a proxy_pass URL', () => {
  it('cuts the origin, lower-casing the scheme, from the URI part', () => {
    expect(splitProxyUrl('http://u')).toEqual({ origin: 'http://u', uri: '' });
    expect(splitProxyUrl('HTTP://U:80/x')).toEqual({ origin: 'http://U:80', uri: '/x' });
  });

  it('runs a unix socket path to the colon after it', () => {
    expect(splitProxyUrl('http://unix:/tmp/a.sock')).toEqual({ origin: 'http://unix:/tmp/a.sock', uri: '' });
    expect(splitProxyUrl('http://unix:/tmp/a.sock:/uri')).toEqual({
      origin: 'http://unix:/tmp/a.sock:',
      uri: '/uri',
    });
    expect(splitProxyUrl('http://UNIX:/s')).toEqual({ origin: 'http://UNIX:/s', uri: '' });
    expect(splitProxyUrl('http://unix:/')).toEqual({ origin: 'http://unix:/', uri: '' });
  });

  it('finds nothing without a host or a socket path, or without an http scheme at the start', () => {
    for (const url of ['http://unix:', 'http://unix::/x', 'http:///x', 'ftp://u', ' http://u']) {
      expect(splitProxyUrl(url), url).toBeUndefined();
    }
  });
});

describe('engine options', () => {
  const empty = { rules: [], locations: [] };

  it('names each boolean option it refuses', () => {
    for (const name of ['absoluteRedirect', 'portInRedirect', 'serverNameInRedirect']) {
      expect(() => createEngine(empty, { [name]: 'yes' }), name).toThrow(`${name}: expected`);
    }
    expect(() => createEngine(empty, { serverName: 5 as unknown as string })).toThrow(
      'serverName: expected a string, got 5',
    );
  });

  it('has no server name unless given, and gives a middleware', () => {
    const engine = compileNginx('return 200 "[$server_name]";');
    expect(engine.evaluate({ uri: '/', headers: { host: 'h' } })).toEqual({
      action: 'return',
      status: 200,
      body: '[]',
    });
    expect(typeof engine.middleware()).toBe('function');
  });
});
