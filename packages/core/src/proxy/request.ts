import type { IncomingMessage } from 'node:http';
import { originalUrlOf, schemeOf } from '@switchyard/internals';
import type { ProxyRewriter } from './options.js';

/**
 * The request-target to send: origin-form, from `originalUrl` when Express set one;
 * `undefined` for one that is neither origin-form nor a valid absolute-form.
 */
export function targetOf(req: IncomingMessage): string | undefined {
  const url = originalUrlOf(req);
  if (url.charCodeAt(0) === 47 /* / */) return url;
  // absolute-form (RFC 9112 §3.2.2): keep path and query
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return undefined;
  }
}

/**
 * The status nginx answers a request with before looking further, or 0. 400 for a target
 * it cannot read. 431 when Node kept only part of the header lines (its limit is
 * `server.maxHeadersCount`, 1000 when unset): the fields that frame the body may be among
 * those dropped. 400 for Transfer-Encoding in HTTP/1.0, 501 for one other than `chunked`
 * (nginx 1.22, `ngx_http_process_request_header`); Node already refuses it with
 * Content-Length.
 */
export function refusal(req: IncomingMessage, target: string): number {
  if (target === '') return 400;
  const max = (req.socket as { server?: { maxHeadersCount?: number | null } }).server?.maxHeadersCount;
  // Node stops collecting lines once it holds this many names and values (maxHeaderPairs).
  const pairs = typeof max === 'number' ? max * 2 : 2000;
  if (pairs > 0 && req.rawHeaders.length >= pairs) return 431;
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) return 400;
    if (te.length !== 7 || te.toLowerCase() !== 'chunked') return 501;
  }
  return 0;
}

/**
 * Gives an HTTP/2 request the Host field its `:authority` stands for, when the client sent
 * no Host, so that every later stage (the rewrite rules, the limits, the header rules, the
 * cache key, the Host and X-Forwarded-Host sent upstream) reads `req.headers.host` as it
 * does for HTTP/1.1. Node's compatibility API leaves the pseudo-header fields in
 * `req.headers` and sets no Host. A Host the client sent stays. HTTP/1.x requests are left
 * as they are. Once per request, before any stage.
 * @see RFC 9113 §8.3.1: an intermediary that makes an HTTP/1.1 request uses `:authority`
 * for Host. nginx does the same (`ngx_http_v2_construct_host_header`).
 */
export function authorityAsHost(req: IncomingMessage): void {
  if (req.httpVersionMajor !== 2) return;
  const headers = req.headers;
  const authority = headers[':authority'];
  if (headers.host === undefined && typeof authority === 'string' && authority !== '') {
    headers.host = authority;
  }
}

/**
 * The request's fields, each line kept (`req.headersDistinct`). Node's HTTP/2 request has
 * no `headersDistinct` (Node 20): the list is built from its raw lines, without the
 * pseudo-header fields, and with the Host {@link authorityAsHost} gave it.
 */
function distinctHeaders(req: IncomingMessage): NodeJS.Dict<string[]> {
  if (req.httpVersionMajor !== 2) return req.headersDistinct;
  const out: NodeJS.Dict<string[]> = Object.create(null);
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const lower = name.toLowerCase();
    const value = raw[i + 1] as string;
    const had = out[lower];
    if (had === undefined) out[lower] = [value];
    else had.push(value);
  }
  const host = req.headers.host;
  if (out.host === undefined && typeof host === 'string') out.host = [host];
  return out;
}

/**
 * Runs the rewrite rules on a request; `undefined` for one with two Host fields, which
 * nginx refuses before any rule (400).
 */
export function evaluate(
  rewrite: ProxyRewriter,
  req: IncomingMessage,
  method: string,
  uri: string,
  remoteAddr: string | undefined,
): ReturnType<ProxyRewriter['evaluate']> | undefined {
  // nginx reads the first line of a repeated header; headersDistinct keeps each line.
  const headers = distinctHeaders(req);
  const host = headers.host;
  if (host !== undefined && host.length > 1) return undefined;
  return rewrite.evaluate({
    method,
    uri,
    headers,
    scheme: schemeOf(req),
    port: req.socket.localPort,
    remoteAddr,
  });
}

/**
 * Whether the request announces a body. An HTTP/2 request needs neither Content-Length
 * nor Transfer-Encoding: it has a body unless its HEADERS frame ended the stream
 * (RFC 9113 §8.1).
 */
export function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  if (req.httpVersionMajor === 2) {
    return (req as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders === false;
  }
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * The body to send for a request whose stream a body parser already read, from
 * `req.body`; `undefined` when it cannot be rebuilt faithfully.
 */
export function reserialise(req: IncomingMessage): Buffer | undefined {
  const body = (req as { body?: unknown }).body;
  if (Buffer.isBuffer(body)) return body;
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  // A JSON parser may yield any JSON value (strict: false gives strings, numbers, null).
  if (type.includes('json') && body !== undefined) return Buffer.from(JSON.stringify(body));
  if (typeof body === 'string') return Buffer.from(body);
  if (body !== null && typeof body === 'object') {
    if (type.startsWith('application/x-www-form-urlencoded')) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(body)) {
        if (typeof v === 'string') params.append(k, v);
        else if (Array.isArray(v) && v.every((x) => typeof x === 'string'))
          for (const x of v) params.append(k, x);
        else return undefined;
      }
      return Buffer.from(params.toString());
    }
  }
  return undefined;
}

/**
 * The header list with changes (a cache's, the header rules'): each named field removed
 * (names in any case), then set, as named, when given a value.
 */
export function withChanges(
  list: string[],
  changes: ReadonlyArray<readonly [name: string, value: string | undefined]>,
): string[] {
  const drop = new Set(changes.map(([name]) => name.toLowerCase()));
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    if (!drop.has((list[i] as string).toLowerCase())) out.push(list[i] as string, list[i + 1] as string);
  }
  for (const [name, value] of changes) if (value !== undefined) out.push(name, value);
  return out;
}

/**
 * Whether a response has no content whatever its framing says (RFC 9110 §6.4.1): 1xx,
 * 204, 304, or the answer to HEAD.
 */
export function bodiless(status: number, method: string): boolean {
  return status < 200 || status === 204 || status === 304 || method === 'HEAD';
}
