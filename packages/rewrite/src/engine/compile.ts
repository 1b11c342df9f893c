import { show } from '@switchyard/internals';
import { escapeControls, utf8Bytes } from '../bytes/index.js';
import { InvalidOptionError, RewriteSyntaxError } from '../errors.js';
import { DuplicateLocationError, LocationTree } from '../locations/index.js';
import type { RegexDialect } from '../pcre/index.js';
import { type CompiledRegex, compileRegex } from '../pcre/regex.js';
import type {
  LocationModifier,
  RewriteCondition,
  RewriteConfig,
  RewriteHeaderDirectives,
  RewriteLocation,
  RewriteResponseHeader,
  RewriteRule,
  RewriteUpstreamHeader,
  SourcePosition,
} from '../types.js';
import { BUILTIN, type VarGetter, variableGetter } from './variables.js';

/** A piece of a value with variables: literal bytes, a variable, a capture, or the `?` that starts the arguments. */
export type Part =
  | { k: 'lit'; s: string }
  | { k: 'var'; name: string; get: VarGetter | undefined }
  | { k: 'cap'; n: number }
  | { k: 'args' };

/** A value as nginx's script compiler cuts it. */
export interface Template {
  parts: Part[];
  /** Set when the value has no variable, capture or argument mark. */
  literal: string | undefined;
  /** A `?` appeared in the literal text (`sc->args`). */
  question: boolean;
}

/** A `proxy_pass` URL: fixed, or with variables evaluated per request. */
export interface CompiledProxyPass {
  raw: string;
  /** `scheme://authority` of a fixed URL. */
  origin: string | undefined;
  /** The URI part of a fixed URL (`''` when none). */
  uri: string;
  /** Set when the URL has variables. */
  template: Template | undefined;
}

export type CRule =
  | {
      k: 'rewrite';
      src: RewriteRule;
      regex: CompiledRegex;
      replacement: Template;
      redirect: boolean;
      status: 301 | 302;
      breakCycle: boolean;
      stop: boolean;
      addArgs: boolean;
    }
  | { k: 'return'; src: RewriteRule; status: number; text: Template | undefined }
  | { k: 'set'; src: RewriteRule; name: string; value: Template }
  | { k: 'break'; src: RewriteRule }
  | {
      k: 'if';
      src: RewriteRule;
      variable: { name: string; get: VarGetter | undefined };
      op: '' | '=' | '!=' | '~' | '!~';
      value: Template | undefined;
      regex: CompiledRegex | undefined;
      rules: CRule[];
      proxy: CompiledProxyPass | undefined;
      /** The headers in force when this `if` (in a location) matched; `undefined`: the location's. */
      headers: HeaderConf | undefined;
    };

/** An `add_header` to evaluate per request. */
export interface CAddHeader {
  name: string;
  value: Template;
  always: boolean;
  replace: boolean;
}

/** A `proxy_set_header` to evaluate per request. */
export interface CSetHeader {
  name: string;
  value: Template;
}

/** A list of headers, with its result built once when no value has a variable. */
export interface HeaderList<C, R> {
  items: readonly C[];
  /** Every value is literal: the evaluated list (empty values already left out). */
  fixed: readonly R[] | undefined;
  /** The same, `always` entries only (`add_header`). */
  fixedAlways: readonly R[] | undefined;
}

/** The header directives in force at one level, after nginx's inheritance. */
export interface HeaderConf {
  add: HeaderList<CAddHeader, RewriteResponseHeader> | undefined;
  set: HeaderList<CSetHeader, RewriteUpstreamHeader> | undefined;
  hide: readonly string[] | undefined;
  pass: readonly string[] | undefined;
}

/** A compiled location. */
export interface Loc {
  src: RewriteLocation;
  /** As written after `location`: `/api/`, `= /`, `~* \.jpg$`. */
  text: string;
  modifier: LocationModifier;
  /** The path in bytes (the tree's key). */
  name: string;
  exact: boolean;
  noregex: boolean;
  autoRedirect: boolean;
  regex: CompiledRegex | undefined;
  rules: CRule[];
  proxy: CompiledProxyPass | undefined;
  /** The headers in force in the location (its own, or the server's). */
  headers: HeaderConf | undefined;
}

/** A compiled rule set. */
export interface Program {
  server: CRule[];
  /** The server level's headers: for server-level answers and requests no location takes. */
  headers: HeaderConf | undefined;
  tree: LocationTree<Loc>;
  regexLocations: Loc[];
}

interface Ctx {
  dialect: RegexDialect;
  /** Names declared by `set` or by a named capture anywhere: user variables. */
  declared: Set<string>;
}

/** Reports a problem: with its line and column for parsed text, with its path otherwise. */
function problem(
  at: SourcePosition | undefined,
  path: string,
  directive: string,
  message: string,
  value: unknown,
): never {
  if (at !== undefined) {
    throw new RewriteSyntaxError(`"${directive}": expected ${message}, got ${show(value)}`, at, directive);
  }
  throw new InvalidOptionError(path, message, value);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Compiles rules once: regexes, values, locations; every check that nginx -t makes. */
export function compileConfig(config: RewriteConfig, dialect: RegexDialect): Program {
  if (!isObject(config) || !Array.isArray(config.rules) || !Array.isArray(config.locations)) {
    throw new InvalidOptionError('config', 'an object with "rules" and "locations" arrays', config);
  }
  const ctx: Ctx = { dialect, declared: new Set() };
  // Variables are declared by any `set` or named group, wherever it is, as in nginx.
  declare(config.rules, 'rules', ctx);
  config.locations.forEach((loc, i) => {
    const path = `locations[${i}]`;
    if (!isObject(loc)) throw new InvalidOptionError(path, 'a location object', loc);
    if (loc.modifier === '~' || loc.modifier === '~*') {
      const r = regexOf(loc.path, loc.modifier === '~*', loc.at, `${path}.path`, 'location', ctx);
      declareNames(r, ctx);
    }
    declare(loc.rules, `${path}.rules`, ctx);
  });

  const serverHeaders = headerConf(config, '', ctx, undefined);
  const server = config.rules.map((r, i) => rule(r, `rules[${i}]`, ctx, 'server', undefined));
  const locations = config.locations.map((loc, i) => location(loc, `locations[${i}]`, ctx, serverHeaders));
  let tree: LocationTree<Loc>;
  try {
    tree = new LocationTree(locations.filter((l) => l.regex === undefined));
  } catch (e) {
    if (!(e instanceof DuplicateLocationError)) throw e;
    const loc = (e as DuplicateLocationError<Loc>).location;
    const i = locations.indexOf(loc);
    return problem(
      loc.src.at,
      `locations[${i}].path`,
      'location',
      'a location path not used twice',
      loc.src.path,
    );
  }
  return {
    server,
    headers: serverHeaders,
    tree,
    regexLocations: locations.filter((l) => l.regex !== undefined),
  };
}

function declare(rules: unknown, path: string, ctx: Ctx): void {
  if (!Array.isArray(rules)) throw new InvalidOptionError(path, 'an array of rules', rules);
  rules.forEach((r: unknown, i) => {
    const p = `${path}[${i}]`;
    if (!isObject(r)) throw new InvalidOptionError(p, 'a rule object', r);
    const rule = r as RewriteRule;
    if (rule.type === 'set' && typeof rule.variable === 'string') {
      ctx.declared.add(utf8Bytes(rule.variable.slice(1)).toLowerCase());
    }
    if (rule.type === 'rewrite' && typeof rule.regex === 'string') {
      declareNames(regexOf(rule.regex, false, rule.at, `${p}.regex`, 'rewrite', ctx), ctx);
    }
    if (rule.type === 'if') {
      const c = rule.condition as RewriteCondition | undefined;
      if (isObject(c) && 'regex' in c && typeof c.regex === 'string' && typeof c.operator === 'string') {
        declareNames(
          regexOf(c.regex, c.operator.endsWith('*'), rule.at, `${p}.condition.regex`, 'if', ctx),
          ctx,
        );
      }
      declare(rule.rules, `${p}.rules`, ctx);
    }
  });
}

function declareNames(r: CompiledRegex, ctx: Ctx): void {
  for (const name of r.names) {
    if (name !== undefined) ctx.declared.add(name.toLowerCase());
  }
}

const regexCache = new WeakMap<Ctx, Map<string, CompiledRegex>>();

function regexOf(
  pattern: unknown,
  caseless: boolean,
  at: SourcePosition | undefined,
  path: string,
  directive: string,
  ctx: Ctx,
): CompiledRegex {
  if (typeof pattern !== 'string' || pattern === '') {
    return problem(at, path, directive, 'a non-empty regex', pattern);
  }
  let cache = regexCache.get(ctx);
  if (cache === undefined) {
    cache = new Map();
    regexCache.set(ctx, cache);
  }
  const key = `${caseless ? 'i' : '-'}${pattern}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let r: CompiledRegex;
  try {
    r = compileRegex(utf8Bytes(pattern), caseless, ctx.dialect);
  } catch (e) {
    const why = (e instanceof Error ? e.message : String(e)).replace(
      /^Invalid regular expression: \/.*\/: /s,
      '',
    );
    return problem(at, path, directive, `a regex that compiles (${why})`, pattern);
  }
  for (const name of r.names) {
    if (name !== undefined && BUILTIN.has(name.toLowerCase())) {
      problem(at, path, directive, `capture names that are not built-in variables ("${name}")`, pattern);
    }
  }
  cache.set(key, r);
  return r;
}

/** Cuts a value into parts as ngx_http_script_compile does. */
function template(
  value: unknown,
  at: SourcePosition | undefined,
  path: string,
  directive: string,
  ctx: Ctx,
  compileArgs = false,
): Template {
  if (typeof value !== 'string') return problem(at, path, directive, 'a string', value);
  const s = utf8Bytes(value);
  const parts: Part[] = [];
  let question = false;
  let argsMarked = !compileArgs;
  let lit = '';
  const flush = () => {
    if (lit !== '') parts.push({ k: 'lit', s: lit });
    lit = '';
  };
  for (let i = 0; i < s.length; ) {
    const ch = s[i] as string;
    if (ch === '$') {
      i++;
      // At the end of the value `c` is undefined: no capture, no bracket, no name, refused below.
      const c = s[i] as string;
      if (c >= '1' && c <= '9') {
        flush();
        parts.push({ k: 'cap', n: c.charCodeAt(0) - 0x30 });
        i++;
        continue;
      }
      let bracket = false;
      if (c === '{') {
        bracket = true;
        i++;
      }
      let name = '';
      while (i < s.length && /[A-Za-z0-9_]/.test(s[i] as string)) name += s[i++];
      if (bracket) {
        if (s[i] !== '}') {
          return problem(at, path, directive, `a closing bracket after "\${${name}"`, value);
        }
        i++;
      }
      if (name === '') return problem(at, path, directive, 'a variable name after "$"', value);
      flush();
      parts.push(variable(name, at, path, directive, ctx));
      continue;
    }
    if (ch === '?') {
      question = true;
      if (!argsMarked) {
        argsMarked = true;
        flush();
        parts.push({ k: 'args' });
        i++;
        continue;
      }
    }
    lit += ch;
    i++;
  }
  flush();
  const plain = parts.every((p) => p.k === 'lit');
  return { parts, literal: plain ? parts.map((p) => (p as { s: string }).s).join('') : undefined, question };
}

/** Variables whose value comes from the upstream or the response: unknown when the engine decides. */
const RESPONSE_VARIABLE =
  /^(?:upstream_\w|sent_http_\w|sent_trailer_\w|(?:status|body_bytes_sent|bytes_sent|request_time)$)/;

function variable(
  rawName: string,
  at: SourcePosition | undefined,
  path: string,
  directive: string,
  ctx: Ctx,
): Part & { k: 'var' } {
  const name = rawName.toLowerCase();
  const get = variableGetter(name);
  if (get === undefined && !ctx.declared.has(name)) {
    if (RESPONSE_VARIABLE.test(name)) {
      problem(
        at,
        path,
        directive,
        'a variable known before the response (the engine decides before the upstream answers: $upstream_…, $sent_http_…, $status and the like are not available)',
        `$${rawName}`,
      );
    }
    problem(at, path, directive, 'a known variable', `$${rawName}`);
  }
  return { k: 'var', name, get };
}

function variableName(
  value: unknown,
  at: SourcePosition | undefined,
  path: string,
  directive: string,
): string {
  if (typeof value !== 'string' || !/^\$[A-Za-z0-9_]+$/.test(value)) {
    return problem(at, path, directive, 'a variable name such as "$name"', value);
  }
  return value.slice(1).toLowerCase();
}

function proxyPass(
  raw: unknown,
  at: SourcePosition | undefined,
  path: string,
  ctx: Ctx,
  uriAllowed: boolean,
): CompiledProxyPass {
  if (typeof raw !== 'string' || !/^https?:\/\//i.test(raw)) {
    return problem(at, path, 'proxy_pass', 'a URL starting with http:// or https://', raw);
  }
  if (raw.includes('$')) {
    return { raw, origin: undefined, uri: '', template: template(raw, at, path, 'proxy_pass', ctx) };
  }
  const split = splitProxyUrl(utf8Bytes(raw));
  if (split === undefined) {
    return problem(at, path, 'proxy_pass', 'a URL with a host or a unix socket path', raw);
  }
  const { origin, uri } = split;
  // A socket has no port; a host's ends at any `?` (nginx ends the authority there too).
  const authority = origin.slice(origin.indexOf('//') + 2);
  if (!/^unix:/i.test(authority) && !portIsValid(authority.split('?', 1)[0] as string)) {
    return problem(at, path, 'proxy_pass', 'a URL whose port, if any, is 1 to 65535', raw);
  }
  if (uri !== '' && !uriAllowed) {
    problem(
      at,
      path,
      'proxy_pass',
      'no URI part in a location given by a regular expression or inside "if"',
      raw,
    );
  }
  return { raw, origin, uri, template: undefined };
}

/**
 * A fixed `proxy_pass` URL cut into `scheme://authority` (the scheme lower-cased) and its
 * URI part, as nginx's `ngx_parse_url` cuts it: the authority ends at the first `/`; for a
 * unix-domain socket it runs to the colon after the socket path, so
 * `http://unix:/tmp/app.sock:/uri` gives `http://unix:/tmp/app.sock:` and `/uri`, and with
 * no colon after the path the whole rest is the path. `undefined` when there is no host
 * or no socket path.
 *
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_pass
 * @internal
 */
export function splitProxyUrl(url: string): { origin: string; uri: string } | undefined {
  const m = /^(https?:\/\/)([\s\S]*)$/i.exec(url);
  if (m === null) return undefined;
  const scheme = (m[1] as string).toLowerCase();
  const rest = m[2] as string;
  // ngx_parse_unix_domain_url: the path runs to the next ':' (a socket path holds none).
  if (/^unix:/i.test(rest)) {
    const colon = rest.indexOf(':', 5);
    const socketPath = colon === -1 ? rest.slice(5) : rest.slice(5, colon);
    if (socketPath === '') return undefined;
    const end = colon === -1 ? rest.length : colon + 1;
    return { origin: `${scheme}${rest.slice(0, end)}`, uri: rest.slice(end) };
  }
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  if (authority === '') return undefined;
  return { origin: `${scheme}${authority}`, uri: slash === -1 ? '' : rest.slice(slash) };
}

/**
 * Whether the port of a `proxy_pass` host (`host`, `host:port`, `[v6]`, `[v6]:port`) is
 * one nginx takes: none, or digits for 1 to 65535 after the host's colon (after the `]`
 * of an IPv6 literal, where only a port may follow). nginx refuses any other with
 * "invalid port" (`nginx -t` for a fixed URL, a 500 for one made of variables).
 *
 * @see ngx_parse_inet_url, ngx_parse_inet6_url (nginx src/core/ngx_inet.c)
 * @internal
 */
export function portIsValid(authority: string): boolean {
  let colon = authority.indexOf(':');
  if (authority.startsWith('[')) {
    // Without a `]`, colon is 0 and the `[` there is no colon: refused.
    colon = authority.indexOf(']') + 1;
    if (colon === authority.length) return true;
    if (authority[colon] !== ':') return false;
  } else if (colon === -1) {
    return true;
  }
  const port = authority.slice(colon + 1);
  return /^\d+$/.test(port) && Number(port) >= 1 && Number(port) <= 65535;
}

// RFC 9110 §5.6.2 token: Node refuses any other header name.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** nginx 1.22's add_header handlers that replace the header, and remove it on an empty value. */
const REPLACED = new Set(['last-modified', 'etag']);

function headerName(value: unknown, at: SourcePosition | undefined, path: string, directive: string): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    return problem(at, path, directive, "a header name (letters, digits and !#$%&'*+-.^_`|~)", value);
  }
  return value;
}

function headerNames(value: unknown, path: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === '')) {
    throw new InvalidOptionError(path, 'an array of header names', value);
  }
  // nginx compares these names without case; Node gives response header names lower-cased.
  return value.length === 0 ? undefined : Object.freeze(value.map((v: string) => v.toLowerCase()));
}

function addHeaders(
  value: unknown,
  path: string,
  ctx: Ctx,
): HeaderList<CAddHeader, RewriteResponseHeader> | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new InvalidOptionError(path, 'an array of headers', value);
  if (value.length === 0) return undefined;
  const items = value.map((h: unknown, i): CAddHeader => {
    const p = `${path}[${i}]`;
    if (!isObject(h)) throw new InvalidOptionError(p, 'a header object', h);
    const at = h.at as SourcePosition | undefined;
    const name = headerName(h.name, at, `${p}.name`, 'add_header');
    if (h.always !== undefined && typeof h.always !== 'boolean') {
      problem(at, `${p}.always`, 'add_header', 'a boolean', h.always);
    }
    return {
      name,
      value: template(h.value, at, `${p}.value`, 'add_header', ctx),
      always: h.always === true,
      replace: REPLACED.has(name.toLowerCase()),
    };
  });
  if (!items.every((h) => h.value.literal !== undefined))
    return { items, fixed: undefined, fixedAlways: undefined };
  const fixed = items
    .filter((h) => h.replace || h.value.literal !== '')
    .map((h) =>
      Object.freeze({
        name: h.name,
        value: escapeControls(h.value.literal as string),
        always: h.always,
        replace: h.replace,
      }),
    );
  return { items, fixed: Object.freeze(fixed), fixedAlways: Object.freeze(fixed.filter((h) => h.always)) };
}

function setHeaders(
  value: unknown,
  path: string,
  ctx: Ctx,
): HeaderList<CSetHeader, RewriteUpstreamHeader> | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new InvalidOptionError(path, 'an array of headers', value);
  if (value.length === 0) return undefined;
  const items = value.map((h: unknown, i): CSetHeader => {
    const p = `${path}[${i}]`;
    if (!isObject(h)) throw new InvalidOptionError(p, 'a header object', h);
    const at = h.at as SourcePosition | undefined;
    return {
      name: headerName(h.name, at, `${p}.name`, 'proxy_set_header'),
      value: template(h.value, at, `${p}.value`, 'proxy_set_header', ctx),
    };
  });
  if (!items.every((h) => h.value.literal !== undefined))
    return { items, fixed: undefined, fixedAlways: undefined };
  const fixed = items.map((h) =>
    Object.freeze({ name: h.name, value: escapeControls(h.value.literal as string) }),
  );
  return { items, fixed: Object.freeze(fixed), fixedAlways: undefined };
}

/**
 * The headers in force at a level: each list its own when it has one, else the outer
 * level's, independently (ngx_http_headers_merge_conf, ngx_http_proxy_merge_loc_conf,
 * ngx_http_upstream_hide_headers_hash).
 */
function headerConf(
  level: RewriteHeaderDirectives,
  path: string,
  ctx: Ctx,
  outer: HeaderConf | undefined,
): HeaderConf | undefined {
  const p = path === '' ? '' : `${path}.`;
  const conf: HeaderConf = {
    add: addHeaders(level.addHeaders, `${p}addHeaders`, ctx) ?? outer?.add,
    set: setHeaders(level.proxySetHeaders, `${p}proxySetHeaders`, ctx) ?? outer?.set,
    hide: headerNames(level.proxyHideHeaders, `${p}proxyHideHeaders`) ?? outer?.hide,
    pass: headerNames(level.proxyPassHeaders, `${p}proxyPassHeaders`) ?? outer?.pass,
  };
  if (
    conf.add === undefined &&
    conf.set === undefined &&
    conf.hide === undefined &&
    conf.pass === undefined
  ) {
    return undefined;
  }
  return conf;
}

const FLAGS = new Set(['last', 'break', 'redirect', 'permanent']);

function rule(
  r: RewriteRule,
  path: string,
  ctx: Ctx,
  context: 'server' | 'location' | 'if',
  outer: HeaderConf | undefined,
): CRule {
  const at = r.at;
  switch (r.type) {
    case 'rewrite': {
      const regex = regexOf(r.regex, false, at, `${path}.regex`, 'rewrite', ctx);
      if (typeof r.replacement !== 'string' || r.replacement === '') {
        return problem(at, `${path}.replacement`, 'rewrite', 'a non-empty replacement', r.replacement);
      }
      if (r.flag !== undefined && !FLAGS.has(r.flag)) {
        return problem(
          at,
          `${path}.flag`,
          'rewrite',
          'one of "last", "break", "redirect", "permanent"',
          r.flag,
        );
      }
      let replacement = r.replacement;
      let addArgs = true;
      if (replacement.endsWith('?')) {
        // The last "?" drops the original arguments.
        replacement = replacement.slice(0, -1);
        addArgs = false;
      }
      let redirect = /^(?:http:\/\/|https:\/\/|\$scheme)/.test(replacement);
      let status: 301 | 302 = 302;
      let stop = redirect;
      let breakCycle = false;
      if (r.flag === 'last') stop = true;
      else if (r.flag === 'break') {
        breakCycle = true;
        stop = true;
      } else if (r.flag === 'redirect' || r.flag === 'permanent') {
        redirect = true;
        status = r.flag === 'permanent' ? 301 : 302;
        stop = true;
      }
      const t = template(replacement, at, `${path}.replacement`, 'rewrite', ctx, !redirect);
      return { k: 'rewrite', src: r, regex, replacement: t, redirect, status, breakCycle, stop, addArgs };
    }
    case 'return': {
      let status = r.code;
      if (status === undefined) {
        if (typeof r.text !== 'string' || !/^(?:http:\/\/|https:\/\/|\$scheme)/.test(r.text)) {
          return problem(at, `${path}.code`, 'return', 'a status code, or a URL for "return URL"', r.code);
        }
        status = 302;
      } else if (!Number.isInteger(status) || status < 100 || status > 999) {
        // nginx takes 0–999 (ngx_http_rewrite_return) and sends a code below 100 as a
        // status line "HTTP/1.1 042 "; Node's writeHead throws on it, so it is refused here.
        return problem(
          at,
          `${path}.code`,
          'return',
          'a status code from 100 to 999 (Node cannot send one below 100)',
          r.code,
        );
      }
      const text = r.text === undefined ? undefined : template(r.text, at, `${path}.text`, 'return', ctx);
      return { k: 'return', src: r, status, text };
    }
    case 'set': {
      const name = variableName(r.variable, at, `${path}.variable`, 'set');
      if (name !== 'args' && BUILTIN.has(name)) {
        problem(at, `${path}.variable`, 'set', 'a variable that may be set (not a built-in)', r.variable);
      }
      return { k: 'set', src: r, name, value: template(r.value, at, `${path}.value`, 'set', ctx) };
    }
    case 'break':
      return { k: 'break', src: r };
    case 'if': {
      if (context === 'if') return problem(at, path, 'if', '"if" directive is not allowed inside "if"', r);
      const c = r.condition as RewriteCondition | undefined;
      if (!isObject(c)) return problem(at, `${path}.condition`, 'if', 'a condition object', c);
      const name = variableName(c.variable, at, `${path}.condition.variable`, 'if');
      const v = variable(name, at, `${path}.condition.variable`, 'if', ctx);
      let op: '' | '=' | '!=' | '~' | '!~' = '';
      let value: Template | undefined;
      let regex: CompiledRegex | undefined;
      if ('operator' in c) {
        if (c.operator === '=' || c.operator === '!=') {
          op = c.operator;
          value = template(c.value, at, `${path}.condition.value`, 'if', ctx);
        } else if (['~', '~*', '!~', '!~*'].includes(c.operator)) {
          op = c.operator.startsWith('!') ? '!~' : '~';
          const pattern = (c as { regex?: unknown }).regex;
          regex = regexOf(pattern, c.operator.endsWith('*'), at, `${path}.condition.regex`, 'if', ctx);
        } else {
          return problem(at, `${path}.condition.operator`, 'if', 'one of =, !=, ~, ~*, !~, !~*', c.operator);
        }
      }
      // The declaration pass has checked that every if's rules are an array.
      const rules = r.rules.map((x, i) => rule(x, `${path}.rules[${i}]`, ctx, 'if', undefined));
      const proxy =
        r.proxyPass === undefined
          ? undefined
          : context === 'location'
            ? proxyPass(r.proxyPass, at, `${path}.proxyPass`, ctx, false)
            : problem(
                at,
                `${path}.proxyPass`,
                'proxy_pass',
                'no "proxy_pass" in a server-level "if"',
                r.proxyPass,
              );
      let headers: HeaderConf | undefined;
      const own = r.addHeaders;
      if (own !== undefined && !(Array.isArray(own) && own.length === 0)) {
        // add_header is allowed in "if in location" only; the if's own list replaces the
        // location's when the if matches (its configuration becomes the request's).
        if (context !== 'location') {
          // The first header's position when it is a header object, else the if's.
          const first: unknown = Array.isArray(own) ? own[0] : undefined;
          return problem(
            (isObject(first) ? (first.at as SourcePosition | undefined) : undefined) ?? at,
            `${path}.addHeaders`,
            'add_header',
            'no "add_header" in a server-level "if"',
            own,
          );
        }
        headers = headerConf({ addHeaders: own }, path, ctx, outer);
      }
      return { k: 'if', src: r, variable: { name, get: v.get }, op, value, regex, rules, proxy, headers };
    }
    default:
      return problem(
        (r as { at?: SourcePosition }).at,
        `${path}.type`,
        String((r as { type?: unknown }).type),
        'one of "rewrite", "return", "set", "break", "if"',
        (r as { type?: unknown }).type,
      );
  }
}

function location(loc: RewriteLocation, path: string, ctx: Ctx, server: HeaderConf | undefined): Loc {
  const at = loc.at;
  if (!['', '=', '^~', '~', '~*'].includes(loc.modifier)) {
    return problem(at, `${path}.modifier`, 'location', 'one of "", "=", "^~", "~", "~*"', loc.modifier);
  }
  if (typeof loc.path !== 'string' || (loc.path === '' && loc.modifier !== '=')) {
    return problem(at, `${path}.path`, 'location', 'a location path', loc.path);
  }
  const isRegex = loc.modifier === '~' || loc.modifier === '~*';
  const regex = isRegex
    ? regexOf(loc.path, loc.modifier === '~*', at, `${path}.path`, 'location', ctx)
    : undefined;
  const name = utf8Bytes(loc.path);
  const headers = headerConf(loc, path, ctx, server);
  const proxy =
    loc.proxyPass === undefined
      ? undefined
      : proxyPass(loc.proxyPass, at, `${path}.proxyPass`, ctx, !isRegex);
  return {
    src: loc,
    text: loc.modifier === '' ? loc.path : `${loc.modifier} ${loc.path}`,
    modifier: loc.modifier,
    name,
    exact: loc.modifier === '=',
    noregex: loc.modifier === '^~',
    // proxy_pass sets auto_redirect when the location name ends with "/".
    autoRedirect: proxy !== undefined && name.endsWith('/'),
    regex,
    rules: loc.rules.map((r, i) => rule(r, `${path}.rules[${i}]`, ctx, 'location', headers)),
    proxy,
    headers,
  };
}
