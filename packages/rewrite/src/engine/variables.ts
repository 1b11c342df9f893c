import { argOf, cookieOf } from '@switchyard/internals';
import type { Req } from './request.js';

/** Reads a variable for a request; `undefined` is nginx's "not found" (an empty value). */
export type VarGetter = (r: Req) => string | undefined;

const builtins: Record<string, VarGetter> = {
  uri: (r) => r.uri,
  document_uri: (r) => r.uri,
  request_uri: (r) => r.unparsed,
  args: (r) => r.args,
  query_string: (r) => r.args,
  is_args: (r) => (r.args.length > 0 ? '?' : ''),
  host: (r) => r.host(),
  scheme: (r) => r.scheme,
  https: (r) => (r.scheme === 'https' ? 'on' : ''),
  request_method: (r) => r.method,
  remote_addr: (r) => r.remoteAddr,
  server_port: (r) => String(r.port),
  server_addr: (r) => r.serverAddr,
  server_name: (r) => r.serverName,
  content_type: (r) => r.headerLines('content_type')?.[0],
  content_length: (r) => r.headerLines('content_length')?.[0],
  // The proxy module's: known once the request goes upstream (in proxy_set_header and
  // add_header of a pass), not found before, as nginx's are without a proxy context.
  proxy_host: (r) => (r.proxyOrigin === undefined ? undefined : proxyAuthority(r.proxyOrigin).host),
  proxy_port: (r) => (r.proxyOrigin === undefined ? undefined : proxyAuthority(r.proxyOrigin).port),
  proxy_add_x_forwarded_for: (r) => {
    const lines = r.headerLines('x_forwarded_for');
    if (lines === undefined || lines.length === 0) return r.remoteAddr;
    return `${lines.join(', ')}, ${r.remoteAddr}`;
  },
};

/**
 * `$proxy_host` and `$proxy_port` of a `proxy_pass` origin, as ngx_http_proxy_set_vars
 * makes them: the port is left out of the host when it is the scheme's default; a
 * unix-domain socket gives `localhost` and an empty port.
 */
function proxyAuthority(origin: string): { host: string; port: string } {
  const defaultPort = origin.startsWith('https') ? '443' : '80';
  const authority = origin.slice(origin.indexOf('://') + 3);
  if (/^unix:/i.test(authority)) return { host: 'localhost', port: '' };
  const m = /^(\[[^\]]*\]|[^:]*):(\d+)$/.exec(authority);
  if (m === null) return { host: authority, port: defaultPort };
  if (Number(m[2]) === Number(defaultPort)) return { host: m[1] as string, port: defaultPort };
  return { host: authority, port: m[2] as string };
}

/** The built-in variable names (none of them may be `set`, except `$args`). */
export const BUILTIN: ReadonlySet<string> = new Set(Object.keys(builtins));

/**
 * `$http_NAME`: the first line of the header (nginx 1.22); `Cookie` lines are joined with
 * `; ` and `X-Forwarded-For` lines with `, `, as nginx 1.22 joins those two.
 */
function header(name: string): VarGetter {
  const sep = name === 'cookie' ? '; ' : name === 'x_forwarded_for' ? ', ' : undefined;
  return (r) => {
    const lines = r.headerLines(name);
    if (lines === undefined || lines.length === 0) return undefined;
    return sep === undefined ? lines[0] : lines.join(sep);
  };
}

/** `$cookie_NAME`, read from every Cookie line as ngx_http_parse_multi_header_lines does. */
function cookie(name: string): VarGetter {
  return (r) => cookieOf(r.headerLines('cookie'), name);
}

/** `$arg_NAME`, the first `NAME=` argument, the name matched without case (ngx_http_arg). */
function argument(name: string): VarGetter {
  return (r) => argOf(r.args, name);
}

/** The getter of a built-in or prefix variable (name lower-cased), or `undefined`. */
export function variableGetter(name: string): VarGetter | undefined {
  const b = builtins[name];
  if (b !== undefined) return b;
  if (name.startsWith('http_') && name.length > 5) return header(name.slice(5));
  if (name.startsWith('cookie_') && name.length > 7) return cookie(name.slice(7));
  if (name.startsWith('arg_') && name.length > 4) return argument(name.slice(4));
  return undefined;
}
