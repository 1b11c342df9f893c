import type { IncomingMessage } from 'node:http';
import { argOf, argsOf, cookieOf, isObject, pathOf, schemeOf } from '@switchyard/internals';
import { HookError, InvalidOptionError } from '../errors.js';
import { targetOf } from './request.js';

/**
 * A header value: text with nginx variables (`$host`, `$http_x_api_key`, `$remote_addr`…)
 * or a function. An empty result (or `undefined`) means "no such field", as in nginx.
 */
export type HeaderValue<Args extends unknown[]> = string | ((...args: Args) => string | undefined);

/** One `add_header name value [always]` value, when it needs `always`. */
export interface AddedHeader {
  /** The value, as for a plain entry. */
  value: HeaderValue<[req: IncomingMessage, head: ResponseHeadView]>;
  /**
   * nginx `always`: also on the proxy's own answers and error statuses. Without it the
   * field is added only to 200, 201, 204, 206, 301, 302, 303, 304, 307 and 308.
   * @default false
   */
  always?: boolean;
}

/** The response a header rule reads (`$status`, `$upstream_addr`, `$sent_http_NAME`). */
export interface ResponseHeadView {
  /** The status code going to the client. */
  readonly status: number;
  /** The peer that answered (`$upstream_addr`); absent for the proxy's own answers and cache hits. */
  readonly peer?: string;
  /** The first value of a response field as it stands, name in any case. */
  header(name: string): string | undefined;
}

/** One `proxy_redirect from to` (or `proxy_cookie_domain` / `proxy_cookie_path`) rule. */
export interface ReplaceRule {
  /**
   * A text prefix (cookie domains: the whole domain, any case), or a regular expression
   * whose `$1`… the replacement may use.
   */
  from: string | RegExp;
  /** The replacement. */
  to: string;
}

/** The header controls of the proxy, each nginx's directive of the same meaning. */
export interface HeaderOptions {
  /**
   * nginx `proxy_set_header`: fields to set on the request sent upstream, replacing every
   * line of that name the client sent; an empty value removes the field. Text values may
   * use `$remote_addr`, `$host`, `$http_NAME`, `$cookie_NAME`, `$arg_NAME`, `$scheme`,
   * `$request_uri`, `$uri`, `$args`, `$request_method`, `$server_port`, `$proxy_host`
   * and `$proxy_add_x_forwarded_for`.
   * @example { 'X-Real-IP': '$remote_addr', Authorization: '', 'X-Tenant': (req) => tenantOf(req) }
   */
  setRequestHeaders?: Readonly<Record<string, HeaderValue<[req: IncomingMessage]>>>;
  /**
   * nginx `proxy_hide_header`: response fields not passed to the client (names, any case).
   */
  hideResponseHeaders?: readonly string[];
  /**
   * nginx `add_header`: fields added to the response (beside the upstream's own of the
   * same name), on proxied, cached and, with `always`, the proxy's own answers. Values
   * may also use `$status`, `$upstream_addr` and `$sent_http_NAME`.
   * @example { 'Strict-Transport-Security': { value: 'max-age=63072000', always: true } }
   */
  addResponseHeaders?: Readonly<
    Record<string, HeaderValue<[req: IncomingMessage, head: ResponseHeadView]> | AddedHeader>
  >;
  /**
   * nginx `proxy_redirect`: rewrites `Location` and `Refresh` of upstream responses.
   * `'default'` (nginx's default) turns `http://<group>/…` and `http://<peer host:port>/…`
   * into `/…`, so an upstream's own address never reaches the client; `false` is nginx's
   * `proxy_redirect off`; rules apply in order, the first that matches.
   * @default 'default'
   */
  proxyRedirect?: false | 'default' | readonly ReplaceRule[];
  /** nginx `proxy_cookie_domain`: rewrites the `Domain` attribute of `Set-Cookie`. */
  cookieDomain?: readonly ReplaceRule[];
  /** nginx `proxy_cookie_path`: rewrites the `Path` attribute of `Set-Cookie`. */
  cookiePath?: readonly ReplaceRule[];
  /**
   * Last word on the request fields sent upstream (after every other rule): gets them
   * as an object (names as sent, a repeated field as an array) and returns the fields
   * to send. As @fastify/reply-from's hook of the same name.
   */
  rewriteRequestHeaders?: (
    req: IncomingMessage,
    headers: Record<string, string | string[]>,
  ) => Record<string, string | string[] | undefined>;
  /**
   * Last word on an upstream response's head before it goes out (after every other
   * rule): change `head.headers` in place.
   */
  onResponseHead?: (
    req: IncomingMessage,
    head: { readonly status: number; headers: Record<string, string | string[] | undefined> },
  ) => void;
}

/** The statuses nginx's `add_header` without `always` applies to. */
const ADD_STATUSES = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

/** What a rule reads of the request, from the proxy. */
export interface RuleRequest {
  readonly req: IncomingMessage;
  /** The group the request goes to (`$proxy_host`). */
  readonly groupName: string;
  /** The client address the proxy trusts (`$remote_addr`). */
  readonly clientAddress: string | undefined;
  /** `X-Forwarded-For` as the proxy sends it (`$proxy_add_x_forwarded_for`). */
  readonly forwardedFor: string;
}

type RequestPart = string | ((r: RuleRequest) => string);
type ResponsePart = string | ((r: RuleRequest, head: ResponseHeadView) => string);

interface SetRule {
  readonly name: string;
  readonly lower: string;
  readonly value: (r: RuleRequest) => string | undefined;
}

interface AddRule {
  readonly name: string;
  readonly always: boolean;
  readonly value: (r: RuleRequest, head: ResponseHeadView) => string | undefined;
}

/** The header controls, compiled once; a control not configured is `undefined`. */
export interface HeaderRules {
  readonly set: readonly SetRule[] | undefined;
  /** `setRequestHeaders` names `Host`: the peer's does not replace it. */
  readonly setsHost: boolean;
  readonly hide: ReadonlySet<string> | undefined;
  readonly add: readonly AddRule[] | undefined;
  /** `undefined`: `proxy_redirect off`; `[]`: `default` only. */
  readonly redirect: readonly ReplaceRule[] | undefined;
  readonly redirectDefault: boolean;
  readonly cookieDomain: readonly ReplaceRule[] | undefined;
  readonly cookiePath: readonly ReplaceRule[] | undefined;
  readonly rewriteRequestHeaders: HeaderOptions['rewriteRequestHeaders'];
  readonly onResponseHead: HeaderOptions['onResponseHead'];
  /** Any response rule at all: the head of an upstream response goes through `responseFields`. */
  readonly onResponse: boolean;
}

const VARIABLE = /\$(?:\{(\w+)\}|(\w+))/g;

function requestVariable(name: string): ((r: RuleRequest) => string) | undefined {
  switch (name) {
    case 'remote_addr':
      return (r) => r.clientAddress ?? '';
    case 'host':
      return (r) => hostOf(r.req);
    case 'scheme':
      return (r) => schemeOf(r.req);
    case 'request_uri':
      return (r) => targetOf(r.req) ?? '';
    case 'uri':
      return (r) => pathOf(targetOf(r.req) ?? '');
    case 'args':
    case 'query_string':
      return (r) => argsOf(targetOf(r.req) ?? '');
    case 'request_method':
      return (r) => r.req.method ?? '';
    case 'server_port':
      return (r) => String(r.req.socket.localPort ?? '');
    case 'proxy_host':
      return (r) => r.groupName;
    case 'proxy_add_x_forwarded_for':
      return (r) => r.forwardedFor;
  }
  if (name.startsWith('http_') && name.length > 5) {
    const header = name.slice(5).toLowerCase().replaceAll('_', '-');
    return (r) => first(r.req.headers[header]);
  }
  if (name.startsWith('cookie_') && name.length > 7) {
    const cookie = name.slice(7);
    return (r) => cookieOf(r.req.headers.cookie, cookie) ?? '';
  }
  if (name.startsWith('arg_') && name.length > 4) {
    const arg = name.slice(4);
    return (r) => argOf(argsOf(targetOf(r.req) ?? ''), arg) ?? '';
  }
  return undefined;
}

function responseVariable(name: string): ((r: RuleRequest, head: ResponseHeadView) => string) | undefined {
  if (name === 'status') return (_r, head) => String(head.status);
  if (name === 'upstream_addr') return (_r, head) => head.peer ?? '';
  if (name.startsWith('sent_http_') && name.length > 10) {
    const header = name.slice(10).toLowerCase().replaceAll('_', '-');
    return (_r, head) => head.header(header) ?? '';
  }
  const read = requestVariable(name);
  return read === undefined ? undefined : (r) => read(r);
}

/** Compiles text with variables once: the parts, or the text itself when it has none. */
function template<P>(text: string, path: string, lookup: (name: string) => P | undefined): (string | P)[] {
  const parts: (string | P)[] = [];
  let last = 0;
  for (const m of text.matchAll(VARIABLE)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    const name = (m[1] ?? m[2]) as string;
    const read = lookup(name);
    if (read === undefined) throw new InvalidOptionError(path, 'known variables only', `$${name}`);
    parts.push(read);
    last = m.index + m[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

function requestValue(value: unknown, path: string): (r: RuleRequest) => string | undefined {
  if (typeof value === 'function') {
    const fn = value as (req: IncomingMessage) => string | undefined;
    return (r) => fn(r.req);
  }
  if (typeof value !== 'string') throw new InvalidOptionError(path, 'a string or a function', value);
  const parts: RequestPart[] = template(value, path, requestVariable);
  if (parts.length === 0) return () => '';
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const text = parts[0];
    return () => text;
  }
  return (r) => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(r);
    return out;
  };
}

function responseValue(
  value: unknown,
  path: string,
): (r: RuleRequest, head: ResponseHeadView) => string | undefined {
  if (typeof value === 'function') {
    const fn = value as (req: IncomingMessage, head: ResponseHeadView) => string | undefined;
    return (r, head) => fn(r.req, head);
  }
  if (typeof value !== 'string') throw new InvalidOptionError(path, 'a string or a function', value);
  const parts: ResponsePart[] = template(value, path, responseVariable);
  return (r, head) => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(r, head);
    return out;
  };
}

/** A field name Node sends: RFC 9110 token characters. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function fieldName(name: string, path: string): string {
  if (!TOKEN.test(name)) throw new InvalidOptionError(path, 'a header field name', name);
  return name;
}

function replaceRules(value: unknown, path: string): ReplaceRule[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw new InvalidOptionError(path, 'an array of { from, to }', value);
  return value.map((rule, i) => {
    if (
      !isObject(rule) ||
      !(typeof rule.from === 'string' || rule.from instanceof RegExp) ||
      typeof rule.to !== 'string'
    ) {
      throw new InvalidOptionError(`${path}[${i}]`, '{ from: string | RegExp, to: string }', rule);
    }
    return { from: rule.from, to: rule.to };
  });
}

function hookAt<T>(path: string, value: unknown): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new InvalidOptionError(path, 'a function', value);
  return value as T;
}

/** Validates and compiles the header controls; throws `InvalidOptionError` naming the option. */
export function compileHeaderRules(o: Readonly<Record<string, unknown>>): HeaderRules {
  let set: SetRule[] | undefined;
  if (o.setRequestHeaders !== undefined) {
    if (!isObject(o.setRequestHeaders)) {
      throw new InvalidOptionError('setRequestHeaders', 'an object of header values', o.setRequestHeaders);
    }
    set = Object.entries(o.setRequestHeaders).map(([name, value]) => {
      const path = `setRequestHeaders.${name}`;
      fieldName(name, path);
      return { name, lower: name.toLowerCase(), value: requestValue(value, path) };
    });
  }
  let hide: Set<string> | undefined;
  if (o.hideResponseHeaders !== undefined) {
    if (!Array.isArray(o.hideResponseHeaders)) {
      throw new InvalidOptionError('hideResponseHeaders', 'an array of header names', o.hideResponseHeaders);
    }
    hide = new Set(
      o.hideResponseHeaders.map((name, i) => {
        if (typeof name !== 'string')
          throw new InvalidOptionError(`hideResponseHeaders[${i}]`, 'a header name', name);
        return fieldName(name, `hideResponseHeaders[${i}]`).toLowerCase();
      }),
    );
  }
  let add: AddRule[] | undefined;
  if (o.addResponseHeaders !== undefined) {
    if (!isObject(o.addResponseHeaders)) {
      throw new InvalidOptionError('addResponseHeaders', 'an object of header values', o.addResponseHeaders);
    }
    add = Object.entries(o.addResponseHeaders).map(([name, entry]) => {
      const path = `addResponseHeaders.${name}`;
      fieldName(name, path);
      if (isObject(entry)) {
        if (entry.always !== undefined && typeof entry.always !== 'boolean') {
          throw new InvalidOptionError(`${path}.always`, 'a boolean', entry.always);
        }
        return { name, always: entry.always === true, value: responseValue(entry.value, `${path}.value`) };
      }
      return { name, always: false, value: responseValue(entry, path) };
    });
  }
  const pr = o.proxyRedirect ?? 'default';
  let redirect: ReplaceRule[] | undefined;
  if (pr === false) redirect = undefined;
  else if (pr === 'default') redirect = [];
  else if (Array.isArray(pr)) redirect = replaceRules(pr, 'proxyRedirect');
  else throw new InvalidOptionError('proxyRedirect', 'false, "default" or an array of { from, to }', pr);
  const cookieDomain = replaceRules(o.cookieDomain, 'cookieDomain');
  const cookiePath = replaceRules(o.cookiePath, 'cookiePath');
  const onResponseHead = hookAt<HeaderOptions['onResponseHead']>('onResponseHead', o.onResponseHead);
  return {
    set,
    setsHost: set?.some((rule) => rule.lower === 'host') === true,
    hide,
    add,
    redirect,
    redirectDefault: pr === 'default',
    cookieDomain,
    cookiePath,
    rewriteRequestHeaders: hookAt('rewriteRequestHeaders', o.rewriteRequestHeaders),
    onResponseHead,
    onResponse:
      hide !== undefined ||
      redirect !== undefined ||
      cookieDomain !== undefined ||
      cookiePath !== undefined ||
      onResponseHead !== undefined,
  };
}

/**
 * The request-side changes of `setRequestHeaders`, as `[name, value]` pairs for
 * `withChanges` (`undefined` removes the field), after any the cache asked for.
 */
export function requestChanges(
  rules: HeaderRules,
  r: RuleRequest,
  before: ReadonlyArray<readonly [string, string | undefined]> | undefined,
): Array<readonly [string, string | undefined]> | undefined {
  const set = rules.set;
  if (set === undefined) return before === undefined ? undefined : [...before];
  const out: Array<readonly [string, string | undefined]> = before === undefined ? [] : [...before];
  for (const rule of set) {
    let value: string | undefined;
    try {
      value = rule.value(r);
    } catch (err) {
      throw new HookError(`setRequestHeaders.${rule.name}`, err);
    }
    out.push([rule.name, value === '' ? undefined : value]);
  }
  return out;
}

/** `rewriteRequestHeaders`: the flat list as an object for the hook, and back. */
export function rewriteRequestList(
  rules: HeaderRules,
  req: IncomingMessage,
  list: readonly string[],
): string[] {
  const hook = rules.rewriteRequestHeaders;
  if (hook === undefined) return list as string[];
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1] as string;
    const had = headers[name];
    headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  let out: Record<string, string | string[] | undefined>;
  try {
    out = hook(req, headers);
  } catch (err) {
    throw new HookError('rewriteRequestHeaders', err);
  }
  if (!isObject(out)) throw new HookError('rewriteRequestHeaders', new TypeError('it returned no object'));
  return flatten(out);
}

function flatten(headers: Readonly<Record<string, string | readonly string[] | undefined>>): string[] {
  const out: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (typeof value === 'string') out.push(name, value);
    else if (value !== undefined) for (const v of value) out.push(name, String(v));
  }
  return out;
}

/** A response head over a flat list, for the rules' variables. */
class ListHead implements ResponseHeadView {
  constructor(
    readonly status: number,
    private readonly list: readonly string[],
    readonly peer?: string,
  ) {}
  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.list.length; i += 2) {
      if ((this.list[i] as string).toLowerCase() === lower) return this.list[i + 1];
    }
    return undefined;
  }
}

/**
 * The response fields of an upstream answer as they go to the client: hidden ones out,
 * `Location` / `Refresh` and `Set-Cookie` rewritten, `onResponseHead` last.
 * `proxyRedirect: 'default'` turns `<scheme>://<group name>/` (nginx's `proxy_pass` text)
 * and `<origin>/` (the answering peer's, absent for a cached answer) into `/`; the
 * group's prefix is worked out only when a `Location` or `Refresh` is there.
 */
export function responseFields(
  rules: HeaderRules,
  req: IncomingMessage,
  status: number,
  list: readonly string[],
  group: RedirectGroup,
  origin: string | undefined,
): string[] {
  const hide = rules.hide;
  const cookies = rules.cookieDomain !== undefined || rules.cookiePath !== undefined;
  // The list is copied only once a field changes: most responses have nothing to rewrite.
  let out: string[] | undefined;
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i] as string;
    const value = list[i + 1] as string;
    const n = name.length;
    // Only `Refresh` (7), `Location` (8) and `Set-Cookie` (10) are rewritten.
    const lower = hide !== undefined || n === 7 || n === 8 || n === 10 ? name.toLowerCase() : '';
    if (hide?.has(lower)) {
      out ??= list.slice(0, i);
      continue;
    }
    let next = value;
    if ((lower === 'location' || lower === 'refresh') && rules.redirect !== undefined) {
      next =
        lower === 'location'
          ? redirected(rules, value, group, origin)
          : refreshed(rules, value, group, origin);
    } else if (lower === 'set-cookie' && cookies) {
      next = cookieRewritten(rules, value);
    }
    if (next !== value) out ??= list.slice(0, i);
    out?.push(name, next);
  }
  const hook = rules.onResponseHead;
  if (hook === undefined) return out ?? (list as string[]);
  out ??= list.slice();
  const head = { status, headers: {} as Record<string, string | string[] | undefined> };
  for (let i = 0; i < out.length; i += 2) {
    const name = out[i] as string;
    const had = head.headers[name];
    const value = out[i + 1] as string;
    head.headers[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  try {
    hook(req, head);
  } catch (err) {
    throw new HookError('onResponseHead', err);
  }
  return flatten(head.headers);
}

/** `add_header`: the fields to add to a response of `status` (beyond nginx's list, only those with `always`). */
export function addedFields(
  rules: HeaderRules,
  r: RuleRequest,
  status: number,
  list: readonly string[],
  peer: string | undefined,
): string[] | undefined {
  const add = rules.add;
  if (add === undefined) return undefined;
  const listed = ADD_STATUSES.has(status);
  const head = new ListHead(status, list, peer);
  let out: string[] | undefined;
  for (const rule of add) {
    if (!rule.always && !listed) continue;
    let value: string | undefined;
    try {
      value = rule.value(r, head);
    } catch (err) {
      throw new HookError(`addResponseHeaders.${rule.name}`, err);
    }
    if (value === undefined || value === '') continue;
    out ??= [];
    out.push(rule.name, value);
  }
  return out;
}

function replaceFirst(rules: readonly ReplaceRule[], value: string): string | undefined {
  for (const rule of rules) {
    if (typeof rule.from === 'string') {
      if (value.startsWith(rule.from)) return rule.to + value.slice(rule.from.length);
    } else {
      const m = rule.from.exec(value);
      if (m !== null && m.index === 0) return value.replace(rule.from, rule.to);
    }
  }
  return undefined;
}

/** What `proxyRedirect: 'default'` reads of the group: its name and its peers' scheme. */
export interface RedirectGroup {
  readonly name: string;
  readonly peers: ReadonlyArray<{ readonly origin: string }>;
}

function redirected(
  rules: HeaderRules,
  value: string,
  group: RedirectGroup,
  origin: string | undefined,
): string {
  const own = replaceFirst(rules.redirect ?? [], value);
  if (own !== undefined) return own;
  if (!rules.redirectDefault) return value;
  // nginx's `default` is the proxy_pass text (`http://<group>/`); the peer's address too.
  const scheme = group.peers[0]?.origin.startsWith('https:') === true ? 'https://' : 'http://';
  for (const prefix of [`${scheme}${group.name}/`, origin === undefined ? undefined : `${origin}/`]) {
    if (prefix !== undefined && value.startsWith(prefix)) return `/${value.slice(prefix.length)}`;
  }
  return value;
}

/** `Refresh: 5; url=http://…`: the URL part goes through the redirect rules. */
function refreshed(
  rules: HeaderRules,
  value: string,
  group: RedirectGroup,
  origin: string | undefined,
): string {
  const m = /^(\s*\d*\s*[;,]\s*url\s*=\s*)(.*)$/i.exec(value);
  if (m === null) return value;
  return (m[1] as string) + redirected(rules, m[2] as string, group, origin);
}

/** `proxy_cookie_domain` / `proxy_cookie_path` over one `Set-Cookie` value. */
function cookieRewritten(rules: HeaderRules, value: string): string {
  return value.replace(/(;\s*)(domain|path)(\s*=\s*)([^;]*)/gi, (all, sep, attr, eq, v: string) => {
    const isDomain = (attr as string).toLowerCase() === 'domain';
    const list = isDomain ? rules.cookieDomain : rules.cookiePath;
    if (list === undefined) return all;
    const replaced = isDomain ? domainReplaced(list, v) : replaceFirst(list, v);
    return replaced === undefined ? all : `${sep}${attr}${eq}${replaced}`;
  });
}

/** nginx compares a cookie domain whole and in any case, a leading dot ignored. */
function domainReplaced(rules: readonly ReplaceRule[], domain: string): string | undefined {
  const bare = domain.replace(/^\./, '');
  for (const rule of rules) {
    if (typeof rule.from === 'string') {
      if (rule.from.replace(/^\./, '').toLowerCase() === bare.toLowerCase()) return rule.to;
    } else if (rule.from.test(domain)) {
      return domain.replace(rule.from, rule.to);
    }
  }
  return undefined;
}

function first(value: string | string[] | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : (value[0] ?? '');
}

function hostOf(req: IncomingMessage): string {
  return first(req.headers.host).toLowerCase().replace(/:\d*$/, '');
}

/**
 * A location's `add_header` fields (from the rewrite rules) on a response of `status`:
 * those without `always` only on nginx's list of statuses; a `replace` field (`ETag`,
 * `Last-Modified`) takes the place of the response's own, and an empty one removes it.
 * Changes and returns `list`.
 */
export function locatedFields(
  list: string[],
  added: ReadonlyArray<{
    readonly name: string;
    readonly value: string;
    readonly always: boolean;
    readonly replace?: boolean;
  }>,
  status: number,
): string[] {
  const listed = ADD_STATUSES.has(status);
  let out = list;
  for (const h of added) {
    if (!h.always && !listed) continue;
    if (h.replace === true) {
      const lower = h.name.toLowerCase();
      out = out.filter(
        (_, i) => (i % 2 === 0 ? (out[i] as string) : (out[i - 1] as string)).toLowerCase() !== lower,
      );
    }
    if (h.value !== '') out.push(h.name, h.value);
  }
  return out;
}
