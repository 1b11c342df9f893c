import { conformance } from '@switchyard/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileNginx,
  createEngine,
  fromApache,
  InvalidOptionError,
  parseNginx,
  type RewriteConfig,
  type RewriteEngine,
  type RewriteRule,
  RewriteSyntaxError,
} from '../src/index.js';

const file = conformance<{ cases: { config: string }[] }>('rewrite.json');
const configs = [...new Set(file.cases.map((c) => c.config))];

/** Request-targets made of the bytes that matter to nginx's parsers, and any others. */
const target = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        '/',
        '//',
        '.',
        '..',
        '/./',
        '/../',
        '%',
        '%2F',
        '%2e',
        '%00',
        '%0D%0A',
        '%C3%A9',
        '%zz',
        '?',
        '&',
        '=',
        '#',
        '+',
        '$',
        'a',
        'B',
        '1',
      ),
      fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
      fc.string({ maxLength: 4 }),
    ),
    { maxLength: 24 },
  )
  .map((parts) => `/${parts.join('')}`);

const headers = fc.record({
  host: fc.oneof(fc.constant('example.com'), fc.string({ maxLength: 12 })),
  cookie: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
  'x-probe': fc.option(fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), { nil: undefined }),
});

function assertNoInternalError(
  engine: RewriteEngine,
  uri: string,
  h: Record<string, unknown>,
  method: string,
): void {
  const t = engine.trace({ uri, method, headers: h as Record<string, string> });
  expect(t.steps.filter((s) => s.kind === 'error')).toEqual([]);
  expect(['pass', 'redirect', 'return']).toContain(t.result.action);
  expect(engine.evaluate({ uri, method, headers: h as Record<string, string> })).toEqual(t.result);
}

describe('properties', () => {
  const engines = configs.map((c) => compileNginx(c));

  it('evaluate never throws on any request-target, header or method, for every recorded config', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: engines.length - 1 }),
        target,
        headers,
        fc.constantFrom('GET', 'HEAD', 'POST'),
        (i, uri, h, method) => assertNoInternalError(engines[i] as RewriteEngine, uri, h, method),
      ),
      { numRuns: 3000 },
    );
  });

  const pattern = fc.constantFrom(
    '^/(.*)$',
    '^',
    '(?<n>[a-z]+)',
    '\\.(gif|jpg)$',
    '^/a/(\\w+)-(\\d+)',
    '(?i)^/X',
    '(a|b)+',
    'x?$',
  );
  const replacement = fc
    .array(
      fc.constantFrom('/', 'r', '$1', '$2', '$9', '$uri', '$args', '$n', '?', 'a=$1', '&', '%20', '$is_args'),
      {
        minLength: 1,
        maxLength: 6,
      },
    )
    .map((p) => p.join(''));
  const rule: fc.Arbitrary<RewriteRule> = fc.oneof(
    fc
      .record({
        type: fc.constant('rewrite' as const),
        regex: pattern,
        replacement,
        flag: fc.constantFrom(undefined, 'last', 'break', 'redirect', 'permanent'),
      })
      .map((r) =>
        r.flag === undefined
          ? { type: r.type, regex: r.regex, replacement: r.replacement }
          : (r as RewriteRule),
      ),
    fc.record({
      type: fc.constant('return' as const),
      code: fc.oneof(fc.constantFrom(200, 301, 404, 444), fc.integer({ min: 0, max: 999 })),
      text: replacement,
    }),
    fc.record({
      type: fc.constant('set' as const),
      variable: fc.constantFrom('$n', '$args', '$v'),
      value: replacement,
    }),
    fc.constant({ type: 'break' as const }),
  );
  const rules = fc.array(rule, { maxLength: 4 });
  const config: fc.Arbitrary<RewriteConfig> = fc.record({
    rules,
    locations: fc.array(
      fc
        .record({
          modifier: fc.constantFrom('' as const, '=' as const, '^~' as const, '~' as const, '~*' as const),
          path: fc.constantFrom('/', '/a/', '/a', '/ab', '/b/', '^/(.*)$', '\\.jpg$'),
          rules,
          proxyPass: fc.constantFrom(
            undefined,
            'http://u',
            'http://u/base/',
            'http://u$request_uri',
            'http://u$uri$is_args$args',
          ),
        })
        .map((l) => (l.proxyPass === undefined ? { modifier: l.modifier, path: l.path, rules: l.rules } : l)),
      { maxLength: 5 },
    ),
  });

  it('random rules either build or are refused with a switchyard error, and built ones never throw nor answer a status Node cannot send', () => {
    fc.assert(
      fc.property(config, fc.array(target, { minLength: 1, maxLength: 4 }), (c, uris) => {
        let engine: RewriteEngine;
        try {
          engine = createEngine(c);
        } catch (e) {
          expect(e instanceof RewriteSyntaxError || e instanceof InvalidOptionError).toBe(true);
          return;
        }
        for (const uri of uris) {
          assertNoInternalError(engine, uri, { host: 'h' }, 'GET');
          // Node's writeHead throws on a status outside 100–999.
          const { status } = engine.evaluate({ uri, headers: { host: 'h' } }) as { status?: number };
          if (status !== undefined) expect(status >= 100 && status <= 999).toBe(true);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('the parser ends on any text, with rules or a RewriteSyntaxError', () => {
    const piece = fc.constantFrom(
      'location',
      'rewrite',
      'if',
      '(',
      ')',
      '{',
      '}',
      ';',
      '"',
      "'",
      '\\',
      '$',
      '${',
      '#',
      '\n',
      ' ',
      'a',
      '=',
      '~*',
      '^~',
      'return',
      '200',
      'set',
      '$x',
      'break',
      'proxy_pass',
      'http://u',
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(piece, fc.string({ maxLength: 3 })), { maxLength: 40 }), (parts) => {
        const text = parts.join('');
        try {
          parseNginx(text);
        } catch (e) {
          expect(e).toBeInstanceOf(RewriteSyntaxError);
        }
      }),
      { numRuns: 5000 },
    );
  });
});

describe('fromApache properties', () => {
  const joined = (parts: fc.Arbitrary<string>, maxLength: number) =>
    fc.array(parts, { minLength: 1, maxLength }).map((p) => p.join(''));
  /** Substitutions with every "$", "%" and "\\" form mod_rewrite's do_expand reads. */
  const substitution = joined(
    fc.constantFrom(
      '/',
      'x',
      '0',
      '?',
      '&',
      'q=',
      '-',
      '.',
      '$',
      '$0',
      '$1',
      '$2',
      '$9',
      '%',
      '%0',
      '%1',
      '%2',
      '%20',
      '%{HTTP_HOST}',
      '%{HTTP:X-A}',
      '%{QUERY_STRING}',
      '%{NOPE}',
      '%{',
      '}',
      '{',
      `\${map:$1}`,
      '\\',
      '\\$',
      '\\%',
      '\\x',
      'http://h/',
      '"',
      "'",
      ';',
      '#',
    ),
    6,
  );
  const rulePattern = joined(
    fc.constantFrom(
      '^',
      '!',
      'a',
      '/',
      '(.*)',
      '(b|c)',
      '(?<n>d)',
      '\\.',
      '[0-9]+',
      '$',
      '(',
      ')',
      '?',
      '(?i)',
      '{2}',
    ),
    5,
  );
  const flags = fc.constantFrom(
    '',
    '[L]',
    '[END]',
    '[R]',
    '[R=301,L]',
    '[R=307]',
    '[R=200]',
    '[F]',
    '[G]',
    '[NC,L]',
    '[QSA,L]',
    '[QSD]',
    '[NE]',
    '[P]',
  );
  const cond = fc
    .tuple(
      fc.constantFrom(
        '%{HTTP_HOST}',
        '%{QUERY_STRING}',
        '%{HTTPS}',
        '%{REQUEST_FILENAME}',
        '%{HTTP:X-A}',
        '%{HTTP_HOST}x',
      ),
      fc.constantFrom(
        '^(.+)$',
        '^([^.]+)\\.(.*)$',
        '!^a',
        '=GET',
        'on',
        '-f',
        '!-d',
        '^(?<h>w+)(x)?$',
        '(',
        '>5',
        '^$',
      ),
      fc.constantFrom('', '[NC]', '[OR]', '[NC,OR]', '[X]'),
    )
    .map((t) => `RewriteCond ${t.join(' ')}`.trimEnd());
  const block = fc
    .tuple(fc.array(cond, { maxLength: 3 }), rulePattern, substitution, flags)
    .map(([conds, pattern, subst, f]) =>
      [...conds, `RewriteRule ${pattern} ${subst} ${f}`.trimEnd()].join('\n'),
    );
  const htaccess = fc
    .tuple(
      fc.constantFrom('', 'RewriteBase /b/\n', 'RewriteEngine On\n'),
      fc.array(block, { minLength: 1, maxLength: 3 }),
    )
    .map(([head, blocks]) => head + blocks.join('\n'));
  const options = fc.constantFrom(
    {},
    { context: 'server' as const },
    { directory: '/sub/' },
    { context: 'htaccess' as const, directory: '/a.b/' },
  );
  const strip = (c: RewriteConfig): RewriteConfig =>
    JSON.parse(JSON.stringify(c, (k, v) => (k === 'at' ? undefined : v)));

  it('emits only rules that compile, reporting the rest, and its text reads back to the same rules', () => {
    fc.assert(
      fc.property(htaccess, options, target, (text, opts, uri) => {
        const c = fromApache(text, opts);
        const nginx = c.toNginx();
        const engine = compileNginx(nginx);
        expect(strip(parseNginx(nginx))).toEqual(c.config);
        assertNoInternalError(engine, uri, { host: 'h', 'x-a': 'v' }, 'GET');
      }),
      { numRuns: 3000 },
    );
  });
});
