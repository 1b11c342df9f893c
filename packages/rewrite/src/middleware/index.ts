import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { schemeOf } from '@switchyard/internals';
import type { RewriteRequest, RewriteResponseHeader, RewriteResult, Rewriter } from '../types.js';

/** Options of {@link RewriteEngine.middleware}. */
export interface RewriteMiddlewareOptions {
  /**
   * Called with each decision before it is applied (for logging, or to route a `pass` by
   * its `location` or `target`).
   */
  onResult?: (req: IncomingMessage, result: RewriteResult) => void;
  /** The `Content-Type` of a `return` with text (nginx `default_type`). @default 'text/plain' */
  defaultType?: string;
}

/**
 * A Connect/Express middleware, also callable from a plain `node:http` handler: on `pass`
 * it rewrites `req.url` and calls `next` (when given); on a redirect or a `return` it
 * answers; on 444 it destroys the socket. It returns the decision either way.
 * `add_header` headers go on its own answers, and on the next handler's response when it
 * writes its head; `proxy_set_header`, `proxy_hide_header` and `proxy_pass_header` are
 * for a proxy, and left to it (they are in the decision).
 */
export type RewriteMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => RewriteResult;

/** The page nginx sends for a status it answers itself. */
function builtinPage(status: number): string {
  const title = `${status} ${STATUS_CODES[status] ?? ''}`.trim();
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>switchyard</center>\r\n</body>\r\n</html>\r\n`;
}

/** The request as the engine reads it, from Node's request and its socket. */
export function requestOf(req: IncomingMessage): RewriteRequest {
  const socket = req.socket as TLSSocket | undefined;
  const request: RewriteRequest = {
    method: req.method ?? 'GET',
    uri: req.url ?? '/',
    headers: (req as { headersDistinct?: RewriteRequest['headers'] }).headersDistinct ?? req.headers,
    scheme: schemeOf(req),
  };
  if (socket?.localPort !== undefined) request.port = socket.localPort;
  if (socket?.remoteAddress !== undefined) request.remoteAddr = socket.remoteAddress;
  if (socket?.localAddress !== undefined) request.serverAddr = socket.localAddress;
  return request;
}

/** ngx_http_headers_filter: the statuses that take an `add_header` without `always`. */
export const ADD_HEADER_STATUSES: ReadonlySet<number> = new Set([
  200, 201, 204, 206, 301, 302, 303, 304, 307, 308,
]);

/** Adds `add_header` headers to a response about to be sent with `status`. */
function addHeaders(res: ServerResponse, headers: readonly RewriteResponseHeader[], status: number): void {
  const all = ADD_HEADER_STATUSES.has(status);
  for (const h of headers) {
    if (!all && !h.always) continue;
    if (!h.replace) res.appendHeader(h.name, h.value);
    else if (h.value === '') res.removeHeader(h.name);
    else res.setHeader(h.name, h.value);
  }
}

/**
 * On a pass, the next handler decides the status: add the headers when it writes the head
 * (Node's implicit head also goes through `writeHead`).
 */
function addHeadersOnWrite(res: ServerResponse, headers: readonly RewriteResponseHeader[]): void {
  const writeHead = res.writeHead;
  res.writeHead = function addHeaderThenWriteHead(this: ServerResponse, ...args: unknown[]) {
    res.writeHead = writeHead;
    addHeaders(res, headers, Number(args[0]));
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

/** Builds the middleware for an engine (see {@link RewriteEngine.middleware}). */
export function rewriteMiddleware(
  engine: Rewriter,
  options: RewriteMiddlewareOptions = {},
): RewriteMiddleware {
  const defaultType = options.defaultType ?? 'text/plain';
  return function switchyardRewrite(req, res, next) {
    const result = engine.evaluate(requestOf(req));
    options.onResult?.(req, result);
    if (result.action === 'pass') {
      req.url = result.uri;
      if (result.addHeaders !== undefined) addHeadersOnWrite(res, result.addHeaders);
      next?.();
      return result;
    }
    if (result.action === 'return' && result.status === 444) {
      // nginx closes the connection without a response.
      req.socket.destroy();
      return result;
    }
    res.statusCode = result.status;
    if (result.addHeaders !== undefined) addHeaders(res, result.addHeaders, result.status);
    let body: Buffer | string = '';
    if (result.action === 'redirect') {
      res.setHeader('Location', result.location);
      body = builtinPage(result.status);
      res.setHeader('Content-Type', 'text/html');
    } else if (result.body !== undefined) {
      body = Buffer.from(result.body, 'utf8');
      res.setHeader('Content-Type', defaultType);
    } else if (result.status >= 300 && result.status !== 304) {
      body = builtinPage(result.status);
      res.setHeader('Content-Type', 'text/html');
    }
    const noBody =
      result.status === 204 || result.status === 304 || (result.status >= 100 && result.status < 200);
    if (noBody) {
      res.end();
      return result;
    }
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
    return result;
  };
}
