import { argOf, argsOf, cookieOf, pathOf } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import { requestHeader } from '../headers/index.js';
import type { CacheRequest } from '../types.js';

/** A cache key: an nginx-style template over request variables, or a function. */
export type KeyOption = string | ((req: CacheRequest) => string);

/** The default key, as nginx's `proxy_cache_key`. */
export const DEFAULT_KEY = '$scheme$proxy_host$request_uri';

type Part = string | ((req: CacheRequest) => string);

function hostOf(req: CacheRequest): string {
  return requestHeader(req.headers, 'host') ?? '';
}

const VARIABLES: Record<string, (req: CacheRequest) => string> = {
  scheme: (req) => req.scheme ?? 'http',
  // nginx $host: the Host header lowercased, without its port.
  host: (req) => hostOf(req).toLowerCase().replace(/:\d*$/, ''),
  proxy_host: (req) => req.proxyHost ?? hostOf(req),
  request_uri: (req) => req.url,
  uri: (req) => pathOf(req.url),
  args: (req) => argsOf(req.url),
  query_string: (req) => argsOf(req.url),
  is_args: (req) => (req.url.includes('?') ? '?' : ''),
  request_method: (req) => req.method,
};

function prefixed(name: string): ((req: CacheRequest) => string) | undefined {
  if (name.startsWith('http_') && name.length > 5) {
    const header = name.slice(5).toLowerCase().replaceAll('_', '-');
    return (req) => requestHeader(req.headers, header) ?? '';
  }
  if (name.startsWith('cookie_') && name.length > 7) {
    const cookie = name.slice(7);
    return (req) => cookieOf(req.headers.cookie, cookie) ?? '';
  }
  if (name.startsWith('arg_') && name.length > 4) {
    const arg = name.slice(4);
    return (req) => argOf(argsOf(req.url), arg) ?? '';
  }
  return undefined;
}

const VARIABLE = /\$(?:\{(\w+)\}|(\w+))/g;

/**
 * Compiles a cache key once: a template such as `$scheme$proxy_host$request_uri` (nginx
 * `proxy_cache_key`; variables `$scheme $host $proxy_host $request_uri $uri $args
 * $query_string $is_args $request_method $http_NAME $cookie_NAME $arg_NAME`, also as
 * `${name}`), or a function of the request. An unknown variable throws now. Without an
 * option, the default key (`$scheme$proxy_host$request_uri`), followed by a space and
 * the request's `upstreamHost` when the proxy forwards the client's `Host`.
 * @example
 * ```ts
 * const key = compileKey('$host$uri$is_args$args');
 * key({ method: 'GET', url: '/a?b=1', headers: { host: 'example.com:8080' } }); // 'example.com/a?b=1'
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_key
 */
export function compileKey(option?: KeyOption, path = 'key'): (req: CacheRequest) => string {
  if (option === undefined) {
    const key = compileTemplate(DEFAULT_KEY, path);
    // A request-target holds no space, so `<key> <Host>` is unambiguous and a purge by
    // prefix (`httpapp/news/*`) still finds every Host's entry.
    return (req) => (req.upstreamHost === undefined ? key(req) : `${key(req)} ${req.upstreamHost}`);
  }
  if (typeof option === 'function') return option;
  return compileTemplate(option, path);
}

/** A key template, or a value given where one was expected (refused, naming `path`). */
function compileTemplate(option: unknown, path: string): (req: CacheRequest) => string {
  if (typeof option !== 'string' || option === '') {
    throw new InvalidOptionError(
      path,
      'a template string such as "$scheme$proxy_host$request_uri" or a function',
      option,
    );
  }
  const parts: Part[] = [];
  let last = 0;
  for (const m of option.matchAll(VARIABLE)) {
    if (m.index > last) parts.push(option.slice(last, m.index));
    const name = (m[1] ?? m[2]) as string;
    const read = VARIABLES[name] ?? prefixed(name);
    if (read === undefined) throw new InvalidOptionError(path, 'known variables only', `$${name}`);
    parts.push(read);
    last = m.index + m[0].length;
  }
  if (last < option.length) parts.push(option.slice(last));
  if (parts.length === 1 && typeof parts[0] === 'function') return parts[0];
  return (req) => {
    let key = '';
    for (const p of parts) key += typeof p === 'string' ? p : p(req);
    return key;
  };
}
