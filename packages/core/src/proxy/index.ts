import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestInfo, ResponseHead } from '@switchyard/balancers';
import { Pool } from 'undici';
import {
  BodyConsumedError,
  NoLiveUpstreamError,
  type SwitchyardError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../errors.js';
import type { Peer } from '../peer/index.js';
import { Upstream } from '../upstream/index.js';
import { type Forwarded, requestHeaders, responseHeaders, upgradeRequestHeaders } from './headers.js';
import {
  type ProxyCachedResponse,
  type ProxyCacheForward,
  type ProxyOptions,
  type ProxyRewriter,
  type ResolvedProxyOptions,
  resolveProxyOptions,
} from './options.js';

export type {
  NextUpstreamCondition,
  ProxyCache,
  ProxyCachedResponse,
  ProxyCacheForward,
  ProxyOptions,
  ProxyRewriter,
} from './options.js';

/** A Connect/Express `next`. */
export type NextFunction = (err?: unknown) => void;

/**
 * A reverse proxy in front of one upstream group, with an adapter for each kind of server.
 */
export interface ReverseProxy {
  /** The upstream group requests go to. */
  readonly upstream: Upstream;
  /** A `node:http` request listener: `http.createServer(proxy.handler)`. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Connect/Express middleware: `app.use('/api', proxy.middleware)`. */
  readonly middleware: (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;
  /** An `upgrade` listener for WebSocket: `server.on('upgrade', proxy.upgrade)`. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Closes the upstream connections; requests in flight are cut. */
  close(): Promise<void>;
}

/** Methods nginx will not resend once the request went out (`non_idempotent`). */
const NON_IDEMPOTENT = new Set(['POST', 'PATCH', 'LOCK']);

/** Errors raised before any byte of the request reached the peer. */
const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
]);

const TIMEOUT_ERRORS = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

type Failure = 'error' | 'timeout';

/** The state shared by every handler of one proxy. */
class ProxyCore {
  readonly o: ResolvedProxyOptions;
  readonly upstream: Upstream;
  private pools = new Map<Peer, Pool>();
  /** Groups of one server made for `proxy_pass http://address` targets, by target. */
  private implicit = new Map<string, Upstream>();
  private closed = false;

  constructor(o: ResolvedProxyOptions) {
    this.o = o;
    this.upstream = o.upstream;
    this.upstream.on('peer:remove', this.onRemove);
  }

  /**
   * The group a `proxy_pass` target names: a group of `upstreams` or the proxy's own by
   * name, else a group of that one address (nginx's implicit upstream), made once.
   */
  upstreamFor(target: string): Upstream {
    const name = target.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    const named = this.o.upstreams.get(name);
    if (named !== undefined) return named;
    if (name === this.upstream.name) return this.upstream;
    let up = this.implicit.get(target);
    if (up === undefined) {
      up = new Upstream({ name, servers: [target] });
      up.on('peer:remove', this.onRemove);
      this.implicit.set(target, up);
    }
    return up;
  }

  /** One keep-alive pool per peer, made on first use. */
  pool(peer: Peer): Pool {
    let pool = this.pools.get(peer);
    if (pool === undefined) {
      pool = new Pool(peer.origin, {
        connections: this.o.connectionsPerPeer === 0 ? null : this.o.connectionsPerPeer,
        connectTimeout: this.o.connectTimeoutMs,
        headersTimeout: this.o.headersTimeoutMs,
        bodyTimeout: this.o.bodyTimeoutMs,
        keepAliveTimeout: this.o.keepAliveTimeoutMs,
        pipelining: 1,
      });
      // A pool's own errors are reported through the requests it serves.
      pool.on('connectionError', noop);
      this.pools.set(peer, pool);
    }
    return pool;
  }

  private onRemove = (peer: Peer): void => {
    const pool = this.pools.get(peer);
    if (pool === undefined) return;
    this.pools.delete(peer);
    // Requests in flight finish; then the connections go.
    pool.close().catch(noop);
  };

  forwarded(req: IncomingMessage): Forwarded {
    const remote = req.socket.remoteAddress ?? '';
    const h = req.headers;
    const clientHost = h.host ?? '';
    const trusted = this.o.trust !== undefined && remote !== '' && this.o.trust(remote, 0);
    const xff = h['x-forwarded-for'];
    const xfp = h['x-forwarded-proto'];
    const xfh = h['x-forwarded-host'];
    const proto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    return {
      host: clientHost,
      forwardedFor: trusted && xff !== undefined && xff !== '' ? `${xff}, ${remote}` : remote,
      forwardedProto: trusted && typeof xfp === 'string' && xfp !== '' ? xfp : proto,
      forwardedHost: trusted && typeof xfh === 'string' && xfh !== '' ? xfh : clientHost,
    };
  }

  report(err: SwitchyardError, req: IncomingMessage): void {
    if (this.o.onError === undefined) return;
    try {
      this.o.onError(err, req);
    } catch {
      // A throwing error hook must not take the proxy down.
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.upstream.off('peer:remove', this.onRemove);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(noop)));
  }
}

function noop(): void {}

/** The request-target to send: origin-form, from `originalUrl` when Express set one. */
function targetOf(req: IncomingMessage): string | undefined {
  const url = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
  if (url.charCodeAt(0) === 47 /* / */) return url;
  // absolute-form (RFC 9112 §3.2.2): keep path and query
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return undefined;
  }
}

function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * The body to send for a request whose stream a body parser already read, from
 * `req.body`; `undefined` when it cannot be rebuilt faithfully.
 */
function reserialise(req: IncomingMessage): Buffer | undefined {
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

function text(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = `${message}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** The header list with a cache's changes: each named field removed, then set when given a value. */
function withChanges(
  list: string[],
  changes: ReadonlyArray<readonly [name: string, value: string | undefined]>,
): string[] {
  const drop = new Set(changes.map(([name]) => name));
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    if (!drop.has((list[i] as string).toLowerCase())) out.push(list[i] as string, list[i + 1] as string);
  }
  for (const [name, value] of changes) if (value !== undefined) out.push(name, value);
  return out;
}

function sendCached(res: ServerResponse, r: ProxyCachedResponse): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(r.status, r.headers);
  if (r.body === null) res.end();
  else res.end(r.body);
}

/**
 * Where a background cache update writes: nowhere. It has the few members of
 * ServerResponse an exchange uses.
 */
class Discard {
  headersSent = false;
  destroyed = false;
  writableFinished = false;
  writeHead(): this {
    this.headersSent = true;
    return this;
  }
  write(): boolean {
    return true;
  }
  end(): this {
    this.writableFinished = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
  on(): this {
    return this;
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: '400 Bad Request',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  504: '504 Gateway Timeout',
};

/**
 * One client request on its way through the proxy, across its attempts.
 * The per-request state lives here, not in closures.
 */
class Exchange implements RequestInfo {
  readonly core: ProxyCore;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  readonly clientIp: string | undefined;
  readonly next: NextFunction | undefined;
  /** The group this request goes to: the proxy's, or the one its location names. */
  upstream: Upstream;
  /** The request-target to send: the client's, or the rewritten one. */
  url: string;
  /** The method sent upstream (a cache turns HEAD into GET). */
  private upstreamMethod: string;
  /** The cache's hooks for this exchange, when a cache follows it. */
  forward: ProxyCacheForward | undefined;
  private headerList: string[] = [];
  private hostIndex = -1;
  private headerBytes = 0;
  private body: IncomingMessage | Buffer | null = null;
  private tried: Set<string> | undefined;
  private attempts = 0;
  /** When the first attempt started, for `tryTimeoutMs` only. */
  private readonly startedAt: number;
  attempt: Attempt | undefined;
  clientGone = false;
  finished = false;

  constructor(core: ProxyCore, req: IncomingMessage, res: ServerResponse, next: NextFunction | undefined) {
    this.core = core;
    this.req = req;
    this.res = res;
    this.next = next;
    this.method = req.method ?? 'GET';
    this.upstreamMethod = this.method;
    this.url = targetOf(req) ?? '';
    this.upstream = core.upstream;
    this.headers = req.headers;
    this.clientIp = req.socket.remoteAddress;
    this.startedAt = core.o.tryTimeoutMs === 0 ? 0 : performance.now();
  }

  start(): void {
    const { req, res } = this;
    if (this.url === '') {
      text(res, 400, STATUS_TEXT[400] as string);
      return;
    }
    const rewrite = this.core.o.rewrite;
    if (rewrite !== undefined && !this.rewrite(rewrite)) return;
    const cache = this.core.o.cache;
    if (cache === undefined) {
      this.prepare();
      return;
    }
    const lookup = cache.lookup({
      method: this.method,
      // nginx's cache key reads $request_uri: the client's, not the rewritten URI.
      url: targetOf(req) ?? this.url,
      headers: req.headers,
      scheme: (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
      proxyHost: this.upstream.name,
    });
    if (lookup instanceof Promise) {
      lookup.then(
        (l) => this.cached(l.response, l.forward),
        () => this.prepare(),
      );
    } else this.cached(lookup.response, lookup.forward);
  }

  /** Acts on a cache lookup: answer from the cache, update it in the background, or go upstream. */
  private cached(response: ProxyCachedResponse | undefined, forward: ProxyCacheForward | undefined): void {
    if (response !== undefined) {
      sendCached(this.res, response);
      if (forward !== undefined) {
        const update = new Exchange(
          this.core,
          this.req,
          new Discard() as unknown as ServerResponse,
          undefined,
        );
        update.upstream = this.upstream;
        update.url = this.url;
        update.forward = forward;
        update.prepare();
      }
      return;
    }
    this.forward = forward;
    this.prepare();
  }

  /** Builds the upstream request (body, headers) and sends the first attempt. */
  private prepare(): void {
    const { req, res } = this;
    let bodyLength: number | undefined;
    if (hasBody(req)) {
      if (req.readableEnded) {
        const rebuilt = reserialise(req);
        if (rebuilt === undefined) {
          const err = new BodyConsumedError();
          this.core.report(err, req);
          if (this.next !== undefined) this.next(err);
          else text(res, 500, `${STATUS_TEXT[500]}: ${err.message}`);
          return;
        }
        this.body = rebuilt;
        bodyLength = rebuilt.length;
      } else {
        this.body = req;
      }
    }
    const fwd = this.core.forwarded(req);
    const built = requestHeaders(req, fwd, bodyLength);
    this.headerList = built.list;
    const forward = this.forward;
    if (forward !== undefined) {
      this.upstreamMethod = forward.method;
      if (forward.requestHeaders.length > 0)
        this.headerList = withChanges(built.list, forward.requestHeaders);
    }
    this.headerBytes = built.bytes + this.method.length + this.url.length + 12;
    if (this.core.o.hostFromPeer || fwd.host === '') this.hostIndex = this.headerList.lastIndexOf('host') + 1;
    (res as { [kExchange]?: Exchange })[kExchange] = this;
    res.on('close', onResponseClose);
    this.choose();
  }

  /**
   * Applies the rewrite rules: answers redirects and returns itself (444 closes the
   * connection), or takes the rewritten URI and the location's group. `false` when the
   * request was answered here.
   */
  private rewrite(rewrite: ProxyRewriter): boolean {
    const { req, res } = this;
    const result = rewrite.evaluate({
      method: this.method,
      uri: this.url,
      // nginx reads the first line of a repeated header; headersDistinct keeps each line.
      headers: req.headersDistinct,
      scheme: (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
      port: req.socket.localPort,
      remoteAddr: req.socket.remoteAddress,
    });
    if (result.action === 'pass') {
      this.url = result.uri;
      if (result.target !== undefined) this.upstream = this.core.upstreamFor(result.target);
      return true;
    }
    if (result.action === 'return' && result.status === 444) {
      // nginx's 444: close the connection without a response.
      req.socket.destroy();
      return false;
    }
    const body = result.action === 'return' ? (result.body ?? '') : '';
    const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
    if (body !== '') headers['content-type'] = 'text/plain; charset=utf-8';
    if (result.action === 'redirect') headers.location = result.location;
    res.writeHead(result.status, headers);
    res.end(body);
    return false;
  }

  /** Selects a peer (persistence may answer asynchronously) and sends the attempt. */
  private choose(): void {
    const up = this.upstream;
    const picked = up.select({ tried: this.tried, clientIp: this.clientIp }, this);
    if (picked instanceof Promise) {
      picked.then(
        (peer) => this.send(peer),
        () => this.send(undefined),
      );
    } else this.send(picked);
  }

  private send(peer: Peer | undefined): void {
    if (this.clientGone) {
      this.end();
      return;
    }
    if (peer === undefined) {
      const err = new NoLiveUpstreamError(this.upstream.name);
      this.core.report(err, this.req);
      const stale = this.forward?.fail('error');
      if (stale !== undefined) sendCached(this.res, stale);
      else text(this.res, 502, STATUS_TEXT[502] as string);
      this.end();
      return;
    }
    this.attempts++;
    peer.active++;
    peer.sent += this.headerBytes;
    if (this.hostIndex !== -1) this.headerList[this.hostIndex] = peer.hostHeader;
    const attempt = new Attempt(this, peer);
    this.attempt = attempt;
    this.core.pool(peer).dispatch(
      {
        path: this.url,
        method: this.upstreamMethod,
        headers: this.headerList,
        body: this.body,
      },
      attempt,
    );
  }

  /** Whether a failed attempt may go to the next peer (nginx `ngx_http_upstream_next`). */
  canRetry(kind: Failure | number, requestSent: boolean): boolean {
    const o = this.core.o;
    if (
      kind === 'error' ? !o.nextOnError : kind === 'timeout' ? !o.nextOnTimeout : !o.nextStatuses.has(kind)
    ) {
      return false;
    }
    if (this.clientGone) return false;
    const limit = o.tries === 0 ? this.upstream.maxTries() : Math.min(o.tries, this.upstream.maxTries());
    if (this.attempts >= limit) return false;
    if (o.tryTimeoutMs !== 0 && performance.now() - this.startedAt >= o.tryTimeoutMs) return false;
    if (requestSent && !o.nonIdempotent && NON_IDEMPOTENT.has(this.method)) return false;
    // A streamed body that was partly read cannot be sent again (nginx: request_body_no_buffering).
    if (this.body === this.req && this.req.readableDidRead) return false;
    return true;
  }

  retry(peer: Peer): void {
    this.tried ??= new Set();
    this.tried.add(peer.id);
    this.choose();
  }

  /** The attempt failed before the response head: retry or answer 502/504. */
  failed(peer: Peer, kind: Failure, err: Error): void {
    const timeout = kind === 'timeout';
    const error = timeout
      ? new UpstreamTimeoutError(peer.id, err.message, err)
      : new UpstreamError(peer.id, err.message, err);
    this.core.report(error, this.req);
    if (this.canRetry(kind, !CONNECT_ERRORS.has((err as { code?: string }).code ?? ''))) {
      this.retry(peer);
      return;
    }
    const stale = this.forward?.fail(kind);
    if (stale !== undefined) sendCached(this.res, stale);
    else text(this.res, timeout ? 504 : 502, STATUS_TEXT[timeout ? 504 : 502] as string);
    this.end();
  }

  end(): void {
    // The close listener stays: it reads `finished`, which is cheaper than removing it.
    this.finished = true;
  }
}

const kExchange = Symbol('switchyard.exchange');

/** The client connection closed: before the response ended, that is an abort. */
function onResponseClose(this: ServerResponse): void {
  const ex = (this as { [kExchange]?: Exchange })[kExchange];
  if (ex === undefined || ex.finished) return;
  if (!this.writableFinished) {
    ex.clientGone = true;
    ex.attempt?.cancel();
  }
}

/**
 * One attempt against one peer: the undici dispatch handler. A fresh one per attempt, so
 * callbacks of an abandoned attempt are told apart.
 */
class Attempt {
  readonly ex: Exchange;
  readonly peer: Peer;
  private abortFn: ((err?: Error) => void) | undefined;
  private readonly sentAt = performance.now();
  private headAt = 0;
  private status = 0;
  /** Abandoned: further callbacks are ignored. */
  private dropped = false;
  private released = false;

  constructor(ex: Exchange, peer: Peer) {
    this.ex = ex;
    this.peer = peer;
  }

  cancel(): void {
    if (this.abortFn !== undefined) this.abortFn(new Error('client closed the connection'));
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.ex.upstream.release(this.peer);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.ex.clientGone) abort(new Error('client closed the connection'));
  }

  /** undici 7 passes the chunk (its typings say a size): count either. */
  onBodySent(chunk: Buffer | string | number): void {
    this.peer.sent += typeof chunk === 'number' ? chunk : chunk.length;
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.dropped) return false;
    // 1xx: Node already answered the client's Expect: 100-continue; others are not relayed.
    if (status < 200) return true;
    const ex = this.ex;
    const up = ex.upstream;
    this.headAt = performance.now();
    if (ex.core.o.nextStatuses.has(status) && ex.canRetry(status, true)) {
      // nginx counts statuses listed in proxy_next_upstream as failures (not 403/404).
      if (status !== 403 && status !== 404) up.fail(this.peer);
      this.drop();
      ex.retry(this.peer);
      return false;
    }
    this.status = status;
    const res = ex.res;
    const list = responseHeaders(raw);
    const forward = ex.forward;
    if (forward !== undefined) {
      const replaced = forward.head(status, list);
      if (replaced !== undefined) {
        // The cache answers instead (REVALIDATED after a 304, or STALE): drop the body.
        this.peer.countResponse(status);
        up.succeed(this.peer);
        this.drop();
        sendCached(res, replaced);
        ex.end();
        return false;
      }
    }
    let sent = list;
    if (up.persistence !== undefined) {
      // A sticky Set-Cookie is for this client only: keep it out of what the cache stores.
      if (forward !== undefined) sent = list.slice();
      up.persistence.bind(ex, new Head(status, sent), this.peer);
    }
    try {
      res.writeHead(status, statusText || undefined, sent);
    } catch (err) {
      // Headers Node refuses to write (invalid characters) make an invalid response.
      ex.core.report(
        new UpstreamError(this.peer.id, `invalid response header: ${(err as Error).message}`),
        ex.req,
      );
      ex.forward?.abort();
      this.drop();
      up.fail(this.peer);
      text(res, 502, STATUS_TEXT[502] as string);
      ex.end();
      return false;
    }
    res.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.dropped) return false;
    this.peer.received += chunk.length;
    this.ex.forward?.data(chunk);
    return this.ex.res.write(chunk);
  }

  onComplete(): void {
    if (this.dropped) return;
    const ex = this.ex;
    ex.forward?.end();
    ex.res.end();
    const peer = this.peer;
    peer.countResponse(this.status);
    peer.countTimes(this.headAt - this.sentAt, performance.now() - this.sentAt);
    ex.upstream.succeed(peer);
    this.release();
    ex.end();
  }

  onError(err: Error): void {
    if (this.dropped) return;
    this.dropped = true;
    this.release();
    const ex = this.ex;
    if (ex.clientGone) {
      ex.forward?.abort();
      ex.end();
      return;
    }
    const code = (err as { code?: string }).code ?? '';
    if (code === 'UND_ERR_INVALID_ARG') {
      ex.forward?.abort();
      text(ex.res, 400, STATUS_TEXT[400] as string);
      ex.end();
      return;
    }
    if (ex.res.headersSent) {
      // The head went out: a cut body must not look complete, so cut the client too.
      const e =
        code === 'UND_ERR_BODY_TIMEOUT'
          ? new UpstreamTimeoutError(this.peer.id, `response body: ${err.message}`, err)
          : new UpstreamError(this.peer.id, `response body: ${err.message}`, err);
      ex.core.report(e, ex.req);
      ex.forward?.abort();
      ex.res.destroy(err);
      ex.end();
      return;
    }
    ex.upstream.fail(this.peer);
    ex.failed(this.peer, TIMEOUT_ERRORS.has(code) ? 'timeout' : 'error', err);
  }

  private drop(): void {
    this.dropped = true;
    this.release();
    this.abortFn?.(new Error('switchyard: attempt abandoned for the next upstream'));
  }
}

/** The response head handed to `Persistence.bind`. */
class Head implements ResponseHead {
  readonly statusCode: number;
  private readonly list: string[];
  constructor(statusCode: number, list: string[]) {
    this.statusCode = statusCode;
    this.list = list;
  }
  getHeader(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.list.length; i += 2) {
      if ((this.list[i] as string).toLowerCase() === lower) return this.list[i + 1];
    }
    return undefined;
  }
  getHeaders(name: string): string[] {
    const lower = name.toLowerCase();
    const values: string[] = [];
    for (let i = 0; i < this.list.length; i += 2) {
      if ((this.list[i] as string).toLowerCase() === lower) values.push(this.list[i + 1] as string);
    }
    return values;
  }
  appendHeader(name: string, value: string): void {
    this.list.push(name, value);
  }
}

/** Relays an upgrade (WebSocket) handshake and then both byte streams. */
class UpgradeAttempt {
  readonly core: ProxyCore;
  readonly req: IncomingMessage;
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly peer: Peer;
  private released = false;
  private answered = false;

  constructor(core: ProxyCore, req: IncomingMessage, socket: Duplex, head: Buffer, peer: Peer) {
    this.core = core;
    this.req = req;
    this.socket = socket;
    this.head = head;
    this.peer = peer;
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    this.core.upstream.release(this.peer);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.socket.destroyed) abort(new Error('client closed the connection'));
  }

  onUpgrade(status: number, raw: Buffer[], upstream: Duplex): void {
    this.answered = true;
    const { socket } = this;
    let head = `HTTP/1.1 ${status} Switching Protocols\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      head += `${(raw[i] as Buffer).toString('latin1')}: ${(raw[i + 1] as Buffer).toString('latin1')}\r\n`;
    }
    socket.write(`${head}\r\n`);
    if (this.head.length > 0) upstream.write(this.head);
    this.peer.countResponse(status);
    this.core.upstream.succeed(this.peer);
    const done = (): void => {
      upstream.destroy();
      socket.destroy();
      this.release();
    };
    upstream.on('error', done);
    socket.on('error', done);
    upstream.on('close', done);
    socket.on('close', done);
    upstream.pipe(socket);
    socket.pipe(upstream);
  }

  onHeaders(status: number, raw: Buffer[], _resume: () => void, statusText: string): boolean {
    if (status < 200) return true;
    // The peer declined the upgrade: relay its answer and close.
    this.answered = true;
    const list = responseHeaders(raw);
    let head = `HTTP/1.1 ${status} ${statusText}\r\n`;
    for (let i = 0; i < list.length; i += 2) head += `${list[i]}: ${list[i + 1]}\r\n`;
    this.socket.write(`${head}connection: close\r\n\r\n`);
    this.peer.countResponse(status);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return this.socket.write(chunk);
  }

  onComplete(): void {
    this.socket.end();
    this.release();
  }

  onError(err: Error): void {
    this.release();
    const code = (err as { code?: string }).code ?? '';
    const timeout = TIMEOUT_ERRORS.has(code);
    if (!this.answered) {
      this.core.upstream.fail(this.peer);
      this.core.report(
        timeout
          ? new UpstreamTimeoutError(this.peer.id, err.message, err)
          : new UpstreamError(this.peer.id, err.message, err),
        this.req,
      );
      rawText(this.socket, timeout ? 504 : 502);
    } else this.socket.destroy();
  }
}

function rawText(socket: Duplex, status: number): void {
  if (socket.destroyed) return;
  const body = `${STATUS_TEXT[status]}\n`;
  socket.end(
    `HTTP/1.1 ${STATUS_TEXT[status]}\r\ncontent-type: text/plain; charset=utf-8\r\n` +
      `content-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/**
 * Builds a reverse proxy in front of an upstream group, forwarding through one undici
 * keep-alive `Pool` per peer and streaming both bodies with backpressure. Options are
 * validated now; a bad one throws `InvalidOptionError` naming its path and value.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createProxy } from '@switchyard/core';
 *
 * const proxy = createProxy({
 *   upstream: { name: 'app', servers: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002'] },
 * });
 * const server = createServer(proxy.handler);
 * server.on('upgrade', proxy.upgrade);
 * server.listen(8080);
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html
 */
export function createProxy(options: ProxyOptions): ReverseProxy {
  const core = new ProxyCore(resolveProxyOptions(options));

  function handler(req: IncomingMessage, res: ServerResponse): void {
    new Exchange(core, req, res, undefined).start();
  }

  function middleware(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    new Exchange(core, req, res, next).start();
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', noop);
    const url = targetOf(req);
    if (url === undefined) {
      rawText(socket, 400);
      return;
    }
    const picked = core.upstream.select(
      { clientIp: req.socket.remoteAddress },
      {
        method: req.method ?? 'GET',
        url,
        headers: req.headers,
        clientIp: req.socket.remoteAddress,
      },
    );
    const go = (peer: Peer | undefined): void => {
      if (peer === undefined) {
        core.report(new NoLiveUpstreamError(core.upstream.name), req);
        rawText(socket, 502);
        return;
      }
      const fwd = core.forwarded(req);
      const headers = upgradeRequestHeaders(req, fwd);
      if (core.o.hostFromPeer || fwd.host === '') headers[headers.lastIndexOf('host') + 1] = peer.hostHeader;
      peer.active++;
      core.pool(peer).dispatch(
        {
          path: url,
          method: req.method ?? 'GET',
          headers,
          upgrade: req.headers.upgrade ?? 'websocket',
          body: null,
        },
        new UpgradeAttempt(core, req, socket, head, peer),
      );
    };
    if (picked instanceof Promise) picked.then(go, () => go(undefined));
    else go(picked);
  }

  return {
    upstream: core.upstream,
    handler,
    middleware,
    upgrade,
    close: () => core.close(),
  };
}
