import type { IncomingMessage } from 'node:http';

/**
 * Hop-by-hop fields that never pass a proxy (RFC 9110 §7.6.1) and HTTP/2's list of
 * connection-specific ones (RFC 9113 §8.2.2, with `http2-settings`, RFC 7540 §3.2.1), plus
 * `expect`, which the proxy answers itself, and `host` / `x-forwarded-*`, which it sets.
 */
const REQUEST_DROP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'expect',
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);

/**
 * Hop-by-hop fields dropped from responses (RFC 9110 §7.6.1), which are also those an
 * HTTP/2 response must not carry (RFC 9113 §8.2.2): Node's HTTP/2 server refuses them.
 */
const RESPONSE_DROP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'te',
  'http2-settings',
]);

/** Lengths of the names in a set: most fields are told apart without lowercasing them. */
function lengthsOf(names: Set<string>): Uint8Array {
  const table = new Uint8Array(64);
  for (const n of names) table[n.length] = 1;
  return table;
}
const REQUEST_DROP_LENGTHS = lengthsOf(REQUEST_DROP);
const RESPONSE_DROP_LENGTHS = lengthsOf(RESPONSE_DROP);

/** The connection-options named in a `Connection` field, other than close / keep-alive. */
function connectionTokens(value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  // The usual values name no field: no need to split them.
  if ((value.length === 10 || value.length === 5) && /^(?:keep-alive|close)$/i.test(value)) return undefined;
  let tokens: Set<string> | undefined;
  for (const raw of value.split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === '' || t === 'close' || t === 'keep-alive') continue;
    tokens ??= new Set();
    tokens.add(t);
  }
  return tokens;
}

/** Forwarded fields as the proxy will set them. */
export interface Forwarded {
  host: string;
  forwardedFor: string;
  forwardedProto: string;
  forwardedHost: string;
}

/**
 * Builds the flat `[name, value, …]` request header list for undici in one pass over
 * `rawHeaders`: hop-by-hop fields, every field the `Connection` header names and HTTP/2's
 * pseudo-header fields (`:method`, `:path`, `:authority`, `:scheme`) are dropped, so are
 * names with `_` unless `underscores`, and Host / X-Forwarded-* are set from `fwd` (for
 * HTTP/2, Host is `:authority`, as `authorityAsHost` set it). An HTTP/2 request's Cookie
 * fields go out as one. `bodyLength`, when given, replaces the client's Content-Length
 * (a body re-serialised after a body parser). Upgrades use it too: undici sets their
 * `Connection` and `Upgrade` itself. Returns the list and an estimate of its size on the
 * wire, or `undefined` for a request with two Host fields, which nginx refuses (400).
 */
export function requestHeaders(
  req: IncomingMessage,
  fwd: Forwarded,
  bodyLength: number | undefined,
  underscores: boolean,
): { list: string[]; bytes: number } | undefined {
  const raw = req.rawHeaders;
  const extra = connectionTokens(req.headers.connection);
  const list: string[] = [];
  let bytes = 0;
  let hosts = 0;
  const h2 = req.httpVersionMajor === 2;
  /** Where the value of an HTTP/2 request's first Cookie field is in `list`. */
  let cookieAt = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // HTTP/2's pseudo-header fields are the request line, not fields: an HTTP/1.1 peer
    // cannot take them (RFC 9113 §8.3). No HTTP/1.x field name starts with a colon.
    if (name.charCodeAt(0) === 58 /* : */) continue;
    // nginx `underscores_in_headers off` with `ignore_invalid_headers on`: the line is
    // ignored, since CGI-style backends read `_` and `-` alike.
    if (!underscores && name.includes('_')) continue;
    if (extra !== undefined || bodyLength !== undefined || REQUEST_DROP_LENGTHS[name.length] === 1) {
      const lower = name.toLowerCase();
      if (REQUEST_DROP.has(lower) || extra?.has(lower)) {
        // nginx: "client sent duplicate host header" (ngx_http_process_host).
        if (lower === 'host' && ++hosts === 2) return undefined;
        continue;
      }
      if (bodyLength !== undefined && lower === 'content-length') continue;
    }
    const value = raw[i + 1] as string;
    if (h2 && name.length === 6 && name.toLowerCase() === 'cookie') {
      // An h2 client may split Cookie into one field per pair; for HTTP/1.1 they are
      // joined with "; " (RFC 9113 §8.2.3; nginx's ngx_http_v2_construct_cookie_header).
      if (cookieAt !== -1) {
        list[cookieAt] += `; ${value}`;
        bytes += value.length + 2;
        continue;
      }
      cookieAt = list.length + 1;
    }
    list.push(name, value);
    bytes += name.length + value.length + 4;
  }
  if (bodyLength !== undefined) list.push('content-length', String(bodyLength));
  list.push(
    'host',
    fwd.host,
    'x-forwarded-for',
    fwd.forwardedFor,
    'x-forwarded-proto',
    fwd.forwardedProto,
    'x-forwarded-host',
    fwd.forwardedHost,
  );
  bytes +=
    fwd.host.length + fwd.forwardedFor.length + fwd.forwardedProto.length + fwd.forwardedHost.length + 82;
  return { list, bytes };
}

/**
 * The response head as undici read it: `controller.rawHeaders` (names as the peer wrote
 * them, in its order), or a list rebuilt from the parsed `headers` (lowercase names)
 * when a dispatcher gives no raw list.
 */
export function rawHeadersOf(
  raw: unknown,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): ReadonlyArray<Buffer | string> {
  if (Array.isArray(raw)) return raw;
  const list: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (typeof value === 'string') list.push(name, value);
    else if (value !== undefined) for (const v of value) list.push(name, v);
  }
  return list;
}

/** A raw header name or value as the latin1 text Node writes back. */
export function latin1(x: Buffer | string): string {
  return typeof x === 'string' ? x : x.toString('latin1');
}

/**
 * Converts undici's raw response headers (Buffers) into the flat list Node's
 * `writeHead` takes, without hop-by-hop fields or fields the `Connection` header names.
 */
export function responseHeaders(raw: ReadonlyArray<Buffer | string>): string[] {
  const list: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = latin1(raw[i] as Buffer | string);
    if (RESPONSE_DROP_LENGTHS[name.length] === 1) {
      const lower = name.toLowerCase();
      if (RESPONSE_DROP.has(lower)) {
        if (lower === 'connection') connection = latin1(raw[i + 1] as Buffer | string);
        continue;
      }
    }
    list.push(name, latin1(raw[i + 1] as Buffer | string));
  }
  const extra = connectionTokens(connection);
  if (extra === undefined) return list;
  const kept: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    if (!extra.has((list[i] as string).toLowerCase())) kept.push(list[i] as string, list[i + 1] as string);
  }
  return kept;
}
