import type { IncomingMessage, OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { originalUrlOf, schemeOf } from '@switchyard/internals';
import { Invalidation } from '../cache/index.js';
import type { CachedResponse, CacheForward, CacheLookup, CacheRequest, ProxyCache } from '../types.js';

/** A Connect/Express `next`. */
export type NextFunction = (err?: unknown) => void;

/** Connect/Express middleware: `(req, res, next) => void`. */
export type CacheMiddleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/** A `node:http` request listener, possibly async. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => unknown;

/** The ServerResponse methods the cache wraps, typed loosely: Node overloads them. */
interface Patchable {
  writeHead(...args: unknown[]): ServerResponse;
  write(...args: unknown[]): boolean;
  end(...args: unknown[]): ServerResponse;
  setHeader(name: string, value: OutgoingHttpHeader): ServerResponse;
  appendHeader(name: string, value: OutgoingHttpHeader): ServerResponse;
  getHeader(name: string): OutgoingHttpHeader | undefined;
  getHeaders(): OutgoingHttpHeaders;
  getHeaderNames(): string[];
  hasHeader(name: string): boolean;
  removeHeader(name: string): void;
  flushHeaders(): void;
  statusCode: number;
}

/** What the cache reads of a Node request. */
export function cacheRequestOf(req: IncomingMessage): CacheRequest {
  return {
    method: req.method ?? 'GET',
    // Express strips a mount path from req.url; the key wants the whole request-target.
    url: originalUrlOf(req),
    headers: req.headers,
    scheme: schemeOf(req),
  };
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (chunk === undefined || chunk === null) return undefined;
  if (typeof chunk === 'string') {
    return chunk === ''
      ? undefined
      : Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  }
  if (Buffer.isBuffer(chunk)) return chunk.length === 0 ? undefined : chunk;
  if (chunk instanceof Uint8Array) {
    return chunk.length === 0 ? undefined : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
  return undefined;
}

/** writeHead's `(status, reason?, headers?)`. */
function headArgs(args: unknown[]): { reason: string | undefined; headers: unknown } {
  return typeof args[0] === 'string'
    ? { reason: args[0], headers: args[1] }
    : { reason: undefined, headers: args[0] };
}

/** Puts headers given to writeHead into the response, as Node itself does when setHeader was used. */
function mergeHeaders(res: Patchable, headers: unknown): void {
  if (headers === undefined || headers === null) return;
  if (Array.isArray(headers)) {
    const flat: unknown[] = Array.isArray(headers[0]) ? (headers as unknown[][]).flat() : headers;
    for (let i = 0; i < flat.length; i += 2) res.removeHeader(String(flat[i]));
    for (let i = 0; i < flat.length; i += 2)
      res.appendHeader(String(flat[i]), flat[i + 1] as OutgoingHttpHeader);
    return;
  }
  for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) {
    if (value !== undefined) res.setHeader(name, value);
  }
}

/** The response's headers as a flat list. */
function flatHeaders(res: Patchable): string[] {
  const list: string[] = [];
  for (const [name, value] of Object.entries(res.getHeaders())) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) list.push(name, v);
    else list.push(name, String(value));
  }
  return list;
}

function noBody(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}

/** Sends a response from the cache. */
function send(res: ServerResponse, r: CachedResponse): void {
  res.writeHead(r.status, r.headers);
  // 'finish': the body was handed to the kernel whole (not on 'close' after an abort).
  if (r.finished !== undefined) res.once('finish', r.finished);
  sendBody(res, r.body, res.write as Write, res.end as Write);
}

type Write = (...args: unknown[]) => unknown;

/**
 * Writes a cached body with the given `write`/`end` (the response's own, taken before a
 * background update or a replaced response patches them). A stream is piped with
 * backpressure, destroyed when the client goes first, and a stream that fails cuts the
 * response off (its Content-Length is already out).
 */
function sendBody(res: ServerResponse, body: Buffer | Readable | null, write: Write, end: Write): void {
  if (body === null || Buffer.isBuffer(body)) {
    end.call(res, body ?? undefined);
    return;
  }
  if (res.destroyed) {
    body.destroy();
    return;
  }
  const gone = (): void => {
    body.destroy();
  };
  res.once('close', gone);
  body.on('data', (chunk: Buffer) => {
    if (write.call(res, chunk) === false) {
      body.pause();
      res.once('drain', () => body.resume());
    }
  });
  body.once('end', () => {
    res.off('close', gone);
    end.call(res);
  });
  body.once('error', () => {
    res.off('close', gone);
    res.destroy();
  });
}

function applyRequest(req: IncomingMessage, f: CacheForward): void {
  if (req.method !== f.method) req.method = f.method;
  if (f.requestHeaders.length === 0) return;
  // A new object: the cache still reads the client's own headers (its validators).
  const headers = { ...req.headers };
  for (const [name, value] of f.requestHeaders) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  req.headers = headers;
}

/**
 * Follows a response on its way to the client: hands its head and body to the
 * exchange, and replaces it when the exchange answers from the cache instead.
 */
function tee(response: ServerResponse, f: CacheForward): void {
  const res = response as unknown as Patchable;
  const writeHead = res.writeHead;
  const write = res.write;
  const end = res.end;
  let replaced = false;
  let ended = false;

  res.writeHead = function cacheWriteHead(
    this: Patchable,
    status: unknown,
    ...rest: unknown[]
  ): ServerResponse {
    if (replaced) return response;
    const { reason, headers } = headArgs(rest);
    mergeHeaders(this, headers);
    const code = Number(status);
    const list = flatHeaders(this);
    const given = list.length;
    const r = f.head(code, list);
    if (r !== undefined) {
      replaced = true;
      for (const name of this.getHeaderNames()) this.removeHeader(name);
      writeHead.call(this, r.status, r.headers);
      sendBody(response, r.body, write, end);
      return response;
    }
    for (let i = given; i < list.length; i += 2) this.setHeader(list[i] as string, list[i + 1] as string);
    return reason === undefined ? writeHead.call(this, code) : writeHead.call(this, code, reason);
  };

  res.write = function cacheWrite(
    this: Patchable,
    chunk: unknown,
    encoding?: unknown,
    cb?: unknown,
  ): boolean {
    if (!response.headersSent && !replaced) this.writeHead(this.statusCode);
    if (replaced) {
      const done = typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') process.nextTick(done as () => void);
      return true;
    }
    const buf = toBuffer(chunk, encoding);
    if (buf !== undefined) f.data(buf);
    return write.call(this, chunk, encoding, cb);
  };

  res.end = function cacheEnd(
    this: Patchable,
    chunk?: unknown,
    encoding?: unknown,
    cb?: unknown,
  ): ServerResponse {
    let data = chunk;
    let enc = encoding;
    let done = cb;
    if (typeof data === 'function') {
      done = data;
      data = undefined;
      enc = undefined;
    } else if (typeof enc === 'function') {
      done = enc;
      enc = undefined;
    }
    if (!response.headersSent && !replaced) {
      // Keep Node's own Content-Length for a body given to end() alone.
      const buf = toBuffer(data, enc);
      if (
        !noBody(this.statusCode) &&
        !this.hasHeader('content-length') &&
        !this.hasHeader('transfer-encoding')
      ) {
        this.setHeader('content-length', buf === undefined ? 0 : buf.length);
      }
      this.writeHead(this.statusCode);
    }
    if (replaced) {
      if (typeof done === 'function') process.nextTick(done as () => void);
      return response;
    }
    if (!ended) {
      ended = true;
      const buf = toBuffer(data, enc);
      if (buf !== undefined) f.data(buf);
      f.end();
    }
    return end.call(this, data, enc, done);
  };

  response.once('close', () => {
    if (!ended && !replaced) f.abort();
  });
}

/**
 * Gives a response that already went to the client (a stale entry) a second life for a
 * background update: the handler's head and body go to the exchange only.
 */
function sink(response: ServerResponse, f: CacheForward): void {
  const res = response as unknown as Patchable;
  const headers = new Map<string, [string, OutgoingHttpHeader]>();
  let sent = false;
  let ended = false;
  res.statusCode = 200;
  Object.defineProperty(response, 'headersSent', { configurable: true, get: () => sent });
  res.setHeader = (name, value) => {
    headers.set(name.toLowerCase(), [name, value]);
    return response;
  };
  res.appendHeader = (name, value) => {
    const had = headers.get(name.toLowerCase());
    if (had === undefined) return res.setHeader(name, value);
    const before = Array.isArray(had[1]) ? had[1] : [String(had[1])];
    const more = Array.isArray(value) ? value : [String(value)];
    had[1] = [...before, ...more];
    return response;
  };
  res.getHeader = (name) => headers.get(name.toLowerCase())?.[1];
  res.getHeaders = () => {
    const out: OutgoingHttpHeaders = {};
    for (const [lower, [, value]] of headers) out[lower] = value;
    return out;
  };
  res.getHeaderNames = () => [...headers.keys()];
  res.hasHeader = (name) => headers.has(name.toLowerCase());
  res.removeHeader = (name) => {
    headers.delete(name.toLowerCase());
  };
  res.flushHeaders = () => {
    if (!sent) res.writeHead(res.statusCode);
  };
  res.writeHead = (status: unknown, ...rest: unknown[]) => {
    if (sent) return response;
    mergeHeaders(res, headArgs(rest).headers);
    sent = true;
    res.statusCode = Number(status);
    f.head(res.statusCode, flatHeaders(res));
    return response;
  };
  res.write = (chunk: unknown, encoding?: unknown, cb?: unknown) => {
    if (!sent) res.writeHead(res.statusCode);
    const buf = toBuffer(chunk, encoding);
    if (buf !== undefined && !ended) f.data(buf);
    const done = typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') process.nextTick(done as () => void);
    return true;
  };
  res.end = (chunk?: unknown, encoding?: unknown, cb?: unknown) => {
    const data = typeof chunk === 'function' ? undefined : chunk;
    const enc = typeof encoding === 'function' ? undefined : encoding;
    const done = [chunk, encoding, cb].find((x) => typeof x === 'function');
    if (!sent) res.writeHead(res.statusCode);
    if (!ended) {
      ended = true;
      const buf = toBuffer(data, enc);
      if (buf !== undefined) f.data(buf);
      f.end();
    }
    if (typeof done === 'function') process.nextTick(done as () => void);
    return response;
  };
}

function fallback(
  res: ServerResponse,
  r: CachedResponse | undefined,
  err: unknown,
  next: NextFunction | undefined,
): void {
  if (r !== undefined && !res.headersSent) {
    send(res, r);
    return;
  }
  if (next !== undefined) {
    next(err);
    return;
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = '500 Internal Server Error\n';
  res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length });
  res.end(body);
}

/**
 * Runs one request: answer from the cache, or let `run` produce the response while the
 * cache follows it.
 */
function serve(
  req: IncomingMessage,
  res: ServerResponse,
  l: CacheLookup,
  run: (f: CacheForward | undefined) => void,
): void {
  if (l.response !== undefined) {
    send(res, l.response);
    if (l.forward !== undefined) {
      sink(res, l.forward);
      applyRequest(req, l.forward);
      run(l.forward);
    }
    return;
  }
  const f = l.forward;
  if (f === undefined) {
    run(undefined);
    return;
  }
  if (f.cacheStatus === undefined) {
    // Not cached; the head of an unsafe method's answer still goes to the cache, which
    // invalidates what it names ('rfc9111', RFC 9111 §4.4). The lookup decided which.
    if (f instanceof Invalidation) tee(res, f);
    run(undefined);
    return;
  }
  applyRequest(req, f);
  tee(res, f);
  run(f);
}

function look(
  cache: ProxyCache,
  req: IncomingMessage,
  then: (l: CacheLookup) => void,
  fail: (err: unknown) => void,
): void {
  let l: CacheLookup | Promise<CacheLookup>;
  try {
    l = cache.lookup(cacheRequestOf(req));
  } catch (err) {
    fail(err);
    return;
  }
  if (l instanceof Promise) l.then(then, fail);
  else then(l);
}

/**
 * Connect/Express middleware that caches what the rest of the chain answers, with the
 * cache's nginx semantics: answered from the cache when it can, otherwise the response
 * streams to the client while it is recorded and stored at its end. A response larger
 * than `maxEntryBytes` streams through unrecorded.
 *
 * The request seen downstream may be changed: a `HEAD` becomes `GET` (its body still
 * does not reach the client), the client's conditional and range headers are removed,
 * and a revalidation adds `If-None-Match` / `If-Modified-Since`. With `semantics:
 * 'rfc9111'`, a 2xx or 3xx answer to an unsafe method (POST, PUT, DELETE, …) removes the
 * stored responses of its target and of a same-origin `Location` / `Content-Location`.
 *
 * @example
 * ```ts
 * const cache = createCache({ valid: { 200: '1s' }, lock: true });
 * app.use('/news', cacheMiddleware(cache), newsRouter);
 * ```
 */
export function cacheMiddleware(cache: ProxyCache): CacheMiddleware {
  return function switchyardCache(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    look(
      cache,
      req,
      (l) => serve(req, res, l, () => next()),
      (err) => next(err),
    );
  };
}

/**
 * Wraps a `node:http` handler so that its responses are cached (microcaching). A handler
 * that throws (or whose promise rejects) before answering gets a stale entry served when
 * `useStale` includes `error`, else a 500.
 *
 * @example
 * ```ts
 * const cache = createCache({ valid: { 200: '1s' }, lock: true, useStale: ['updating', 'error'] });
 * createServer(cacheHandler(cache, (req, res) => res.end(render()))).listen(8080);
 * ```
 */
export function cacheHandler(
  cache: ProxyCache,
  handler: RequestHandler,
): (req: IncomingMessage, res: ServerResponse) => void {
  return function switchyardCachedHandler(req: IncomingMessage, res: ServerResponse): void {
    const failed = (f: CacheForward | undefined, err: unknown) => {
      if (f?.background) {
        f.fail('error');
        return;
      }
      fallback(res, f?.fail('error'), err, undefined);
    };
    look(
      cache,
      req,
      (l) =>
        serve(req, res, l, (f) => {
          try {
            const out = handler(req, res);
            if (out instanceof Promise) out.catch((err: unknown) => failed(f, err));
          } catch (err) {
            failed(f, err);
          }
        }),
      (err) => fallback(res, undefined, err, undefined),
    );
  };
}
