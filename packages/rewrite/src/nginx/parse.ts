import { RewriteSyntaxError } from '../errors.js';
import type {
  LocationModifier,
  RewriteCondition,
  RewriteConfig,
  RewriteFlag,
  RewriteHeaderDirectives,
  RewriteLocation,
  RewriteRule,
  SourcePosition,
} from '../types.js';
import { readStatements, type Statement, type Word } from './tokenize.js';

type Context = 'server' | 'location' | 'server if' | 'location if';

const HEADERS = ['add_header', 'proxy_set_header', 'proxy_hide_header', 'proxy_pass_header'];

// Where nginx allows each directive: add_header also in "if in location"; the proxy_*
// header directives in http, server and location only.
const SUPPORTED: Record<Context, readonly string[]> = {
  server: ['rewrite', 'return', 'if', 'set', 'break', 'location', ...HEADERS],
  location: ['rewrite', 'return', 'if', 'set', 'break', 'proxy_pass', ...HEADERS],
  'server if': ['rewrite', 'return', 'set', 'break'],
  'location if': ['rewrite', 'return', 'set', 'break', 'proxy_pass', 'add_header'],
};

const FLAGS: readonly string[] = ['last', 'break', 'redirect', 'permanent'];

function at(w: SourcePosition): SourcePosition {
  return { line: w.line, column: w.column };
}

function fail(message: string, where: SourcePosition, directive?: string, hint?: string): never {
  throw new RewriteSyntaxError(message, where, directive, hint);
}

/**
 * Reads the body of an nginx `server {}` block into a {@link RewriteConfig}: `rewrite`,
 * `return`, `if`, `set`, `break`, the header directives (`add_header`, `proxy_set_header`,
 * `proxy_hide_header`, `proxy_pass_header`) and `location` blocks holding the same plus
 * `proxy_pass`; an `if` in a location may hold `proxy_pass` and `add_header`. Any other directive is a {@link RewriteSyntaxError} naming it, its line and column, and
 * the directives supported there. Regexes, variables and URLs are checked when the config
 * is compiled ({@link compileNginx}, {@link createEngine}).
 *
 * @example
 * ```ts
 * const config = parseNginx('rewrite ^/old/(.*)$ /new/$1 permanent;\nlocation / { proxy_pass http://app; }');
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_rewrite_module.html
 */
export function parseNginx(text: string): RewriteConfig {
  const config: RewriteConfig = { rules: [], locations: [] };
  for (const st of readStatements(text)) {
    const name = (st.words[0] as Word).text;
    if (name === 'location') {
      config.locations.push(location(st));
      continue;
    }
    if (HEADERS.includes(name)) {
      header(st, config);
      continue;
    }
    config.rules.push(rule(st, 'server'));
  }
  return config;
}

function noBlock(st: Statement, name: string): void {
  if (st.block !== undefined) fail(`directive "${name}" has no block; unexpected "{"`, at(st), name);
}

function argCount(st: Statement, name: string, min: number, max: number): void {
  const n = st.words.length - 1;
  if (n < min || n > max) fail(`invalid number of arguments in "${name}" directive`, at(st), name);
}

function unsupported(st: Statement, context: Context): never {
  const name = (st.words[0] as Word).text;
  const known = Object.values(SUPPORTED).some((list) => list.includes(name));
  const why = known ? `"${name}" directive is not allowed in a ${context}` : `unknown directive "${name}"`;
  fail(why, at(st), name, `supported in a ${context}: ${SUPPORTED[context].join(', ')}`);
}

/** Reads a header directive into the lists of its level. */
function header(st: Statement, level: RewriteHeaderDirectives): void {
  const name = (st.words[0] as Word).text;
  noBlock(st, name);
  const w = st.words.slice(1).map((x) => x.text);
  switch (name) {
    case 'add_header': {
      argCount(st, name, 2, 3);
      if (w[2] !== undefined && w[2] !== 'always') {
        fail(`invalid parameter "${w[2]}"`, at(st.words[3] as Word), name);
      }
      level.addHeaders ??= [];
      level.addHeaders.push(
        w[2] === undefined
          ? { name: w[0] as string, value: w[1] as string, at: at(st) }
          : { name: w[0] as string, value: w[1] as string, always: true, at: at(st) },
      );
      return;
    }
    case 'proxy_set_header':
      argCount(st, name, 2, 2);
      level.proxySetHeaders ??= [];
      level.proxySetHeaders.push({ name: w[0] as string, value: w[1] as string, at: at(st) });
      return;
    case 'proxy_hide_header':
      argCount(st, name, 1, 1);
      level.proxyHideHeaders ??= [];
      level.proxyHideHeaders.push(w[0] as string);
      return;
    default:
      // proxy_pass_header
      argCount(st, name, 1, 1);
      level.proxyPassHeaders ??= [];
      level.proxyPassHeaders.push(w[0] as string);
  }
}

function rule(st: Statement, context: Context): RewriteRule {
  const name = (st.words[0] as Word).text;
  if (
    !SUPPORTED[context].includes(name) ||
    name === 'location' ||
    name === 'proxy_pass' ||
    HEADERS.includes(name)
  ) {
    unsupported(st, context);
  }
  const w = st.words.slice(1).map((x) => x.text);
  switch (name) {
    case 'rewrite': {
      noBlock(st, name);
      argCount(st, name, 2, 3);
      const r: RewriteRule = {
        type: 'rewrite',
        regex: w[0] as string,
        replacement: w[1] as string,
        at: at(st),
      };
      if (w[2] !== undefined) {
        if (!FLAGS.includes(w[2])) fail(`invalid parameter "${w[2]}"`, at(st.words[3] as Word), name);
        r.flag = w[2] as RewriteFlag;
      }
      if (r.replacement === '') fail('empty replacement', at(st.words[2] as Word), name);
      return r;
    }
    case 'return': {
      noBlock(st, name);
      argCount(st, name, 1, 2);
      const first = w[0] as string;
      if (/^\d+$/.test(first)) {
        const code = Number(first);
        if (code > 999) fail(`invalid return code "${first}"`, at(st.words[1] as Word), name);
        return w[1] === undefined
          ? { type: 'return', code, at: at(st) }
          : { type: 'return', code, text: w[1], at: at(st) };
      }
      if (w.length === 1 && /^(?:http:\/\/|https:\/\/|\$scheme)/.test(first)) {
        return { type: 'return', text: first, at: at(st) };
      }
      return fail(`invalid return code "${first}"`, at(st.words[1] as Word), name);
    }
    case 'set': {
      noBlock(st, name);
      argCount(st, name, 2, 2);
      if (!(w[0] as string).startsWith('$')) {
        fail(`invalid variable name "${w[0]}"`, at(st.words[1] as Word), name);
      }
      return { type: 'set', variable: w[0] as string, value: w[1] as string, at: at(st) };
    }
    case 'break':
      noBlock(st, name);
      argCount(st, name, 0, 0);
      return { type: 'break', at: at(st) };
    default: {
      // "if"
      if (st.block === undefined) fail('directive "if" has no opening "{"', at(st), name);
      if (st.words.length < 2) fail('invalid number of arguments in "if" directive', at(st), name);
      const condition = parseCondition(st);
      const inner: Context = context === 'server' ? 'server if' : 'location if';
      const node: RewriteRule & { type: 'if' } = { type: 'if', condition, rules: [], at: at(st) };
      for (const s of st.block ?? []) {
        if ((s.words[0] as Word).text === 'proxy_pass' && inner === 'location if') {
          node.proxyPass = proxyPass(s, node.proxyPass);
          continue;
        }
        if ((s.words[0] as Word).text === 'add_header' && inner === 'location if') {
          header(s, node);
          continue;
        }
        node.rules.push(rule(s, inner));
      }
      return node;
    }
  }
}

function proxyPass(st: Statement, previous: string | undefined): string {
  noBlock(st, 'proxy_pass');
  argCount(st, 'proxy_pass', 1, 1);
  if (previous !== undefined) fail('"proxy_pass" directive is duplicate', at(st), 'proxy_pass');
  return (st.words[1] as Word).text;
}

/** `if (…)` as ngx_http_rewrite_if_condition reads its words. */
function parseCondition(st: Statement): RewriteCondition {
  const words = st.words.slice(1);
  const v = words.map((x) => x.text);
  const bad = (i: number): never => fail(`invalid condition "${v[i]}"`, at(words[i] as Word), 'if');
  if (!(v[0] as string).startsWith('(')) bad(0);
  let cur = 0;
  if (v[0] === '(') cur = 1;
  else v[0] = (v[0] as string).slice(1);
  let last = v.length - 1;
  if (!(v[last] as string).endsWith(')')) bad(last);
  if (v[last] === ')') last--;
  else v[last] = (v[last] as string).slice(0, -1);
  if (cur > last) bad(0);
  const p = v[cur] as string;
  if (p.length > 1 && p[0] === '$') {
    if (cur !== last && cur + 2 !== last) bad(cur);
    if (cur === last) return { variable: p };
    const op = v[cur + 1] as string;
    const operand = v[last] as string;
    if (op === '=' || op === '!=') return { variable: p, operator: op, value: operand };
    if (op === '~' || op === '~*' || op === '!~' || op === '!~*') {
      return { variable: p, operator: op, regex: operand };
    }
    return fail(`unexpected "${op}" in condition`, at(words[cur + 1] as Word), 'if');
  }
  if (/^!?-[fdex]$/.test(p)) {
    return fail(`file test "${p}" is not supported (no file system)`, at(words[cur] as Word), 'if');
  }
  return bad(cur);
}

function location(st: Statement): RewriteLocation {
  if (st.block === undefined) fail('directive "location" has no opening "{"', at(st), 'location');
  argCount(st, 'location', 1, 2);
  let modifier: LocationModifier = '';
  let path: string;
  if (st.words.length === 3) {
    const mod = (st.words[1] as Word).text;
    if (mod !== '=' && mod !== '^~' && mod !== '~' && mod !== '~*') {
      fail(`invalid location modifier "${mod}"`, at(st.words[1] as Word), 'location');
    }
    modifier = mod as LocationModifier;
    path = (st.words[2] as Word).text;
  } else {
    path = (st.words[1] as Word).text;
    if (path.startsWith('=')) {
      modifier = '=';
      path = path.slice(1);
    } else if (path.startsWith('^~')) {
      modifier = '^~';
      path = path.slice(2);
    } else if (path.startsWith('~*')) {
      modifier = '~*';
      path = path.slice(2);
    } else if (path.startsWith('~')) {
      modifier = '~';
      path = path.slice(1);
    } else if (path.startsWith('@')) {
      fail('named locations are not supported', at(st.words[1] as Word), 'location');
    }
  }
  const loc: RewriteLocation = { modifier, path, rules: [], at: at(st) };
  for (const s of st.block ?? []) {
    const name = (s.words[0] as Word).text;
    if (name === 'proxy_pass') {
      loc.proxyPass = proxyPass(s, loc.proxyPass);
      continue;
    }
    if (HEADERS.includes(name)) {
      header(s, loc);
      continue;
    }
    if (name === 'location') {
      fail(
        'nested locations are not supported',
        at(s),
        'location',
        `supported in a location: ${SUPPORTED.location.join(', ')}`,
      );
    }
    loc.rules.push(rule(s, 'location'));
  }
  return loc;
}
