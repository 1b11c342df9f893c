import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestInfo, ResponseHead } from '@switchyard/balancers';
import { buildConnector, type Dispatcher, Pool } from 'undici';
import {
  BodyConsumedError,
  HookError,
  NoLiveUpstreamError,
  type SwitchyardError,
  UpstreamError,
  UpstreamTimeoutError,
} from '../errors.js';
import type { Peer } from '../peer/index.js';
import { type AttemptFailure, type AttemptOutcome, Upstream } from '../upstream/index.js';
import { type Forwarded, latin1, rawHeadersOf, requestHeaders, responseHeaders } from './headers.js';
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
  /**
   * An `upgrade` listener for WebSocket: `server.on('upgrade', proxy.upgrade)`. Upgrades
   * go through the same rules, locations and peer choice as other requests.
   */
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

/** Errors of a connection that broke: reset, closed by the peer, broken pipe. */
const RESET_ERRORS = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

type Failure = 'error' | 'timeout';

/**
 * Whether an attempt broke, before any byte of its response, on a kept-alive connection
 * that had already carried a response: the peer closed it while it was idle (nginx
 * `peer.cached`). undici's socket errors carry the bytes their socket had read.
 */
function staleConnection(err: Error, code: string): boolean {
  if (!RESET_ERRORS.has(code)) return false;
  const bytesRead = (err as { socket?: { bytesRead?: number } }).socket?.bytesRead;
  return bytesRead !== undefined && bytesRead > 0;
}

/** Gives a socket's own errors (ECONNRESET, EPIPE) what undici's `SocketError` carries. */
function tagSocketError(this: Socket, err: Error & { socket?: unknown }): void {
  err.socket ??= { bytesRead: this.bytesRead };
}

/**
 * The status nginx answers a request with before looking further, or 0. 431 when Node
 * kept only part of the header lines (its limit is `server.maxHeadersCount`, 1000 when
 * unset): the fields that frame the body may be among those dropped. 400 for
 * Transfer-Encoding in HTTP/1.0, 501 for one other than `chunked` (nginx 1.22,
 * `ngx_http_process_request_header`); Node already refuses it with Content-Length.
 */
function refusal(req: IncomingMessage): number {
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
 * Runs the rewrite rules on a request; `undefined` for one with two Host fields, which
 * nginx refuses before any rule (400).
 */
function evaluate(
  rewrite: ProxyRewriter,
  req: IncomingMessage,
  method: string,
  uri: string,
): ReturnType<ProxyRewriter['evaluate']> | undefined {
  // nginx reads the first line of a repeated header; headersDistinct keeps each line.
  const headers = req.headersDistinct;
  const host = headers.host;
  if (host !== undefined && host.length > 1) return undefined;
  return rewrite.evaluate({
    method,
    uri,
    headers,
    scheme: (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    port: req.socket.localPort,
    remoteAddr: req.socket.remoteAddress,
  });
}

/** The state shared by every handler of one proxy. */
class ProxyCore {
  readonly o: ResolvedProxyOptions;
  readonly upstream: Upstream;
  private pools = new Map<Peer, Pool>();
  /** Groups of one server made for `proxy_pass http://address` targets, by target. */
  private implicit = new Map<string, Upstream>();
  private closed = false;
  /** undici's connector, whose sockets tag their errors for `staleConnection`. */
  private readonly connect: buildConnector.connector;

  constructor(o: ResolvedProxyOptions) {
    this.o = o;
    this.upstream = o.upstream;
    this.upstream.on('peer:remove', this.onRemove);
    const base = buildConnector({ timeout: o.connectTimeoutMs });
    this.connect = (options, callback) =>
      base(options, (err, socket) => {
        // On a failed connect undici passes no socket at all, whatever its typings say.
        socket?.on('error', tagSocketError);
        (callback as (err: Error | null, socket: Socket | null) => void)(err, socket);
      });
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
        connect: this.connect,
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

function text(res: ServerResponse, status: number, message: string, close = false): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = `${message}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/** Refuses a request nginx would not read on (400, 431, 501), closing the connection as nginx does. */
function refuse(res: ServerResponse, status: number): void {
  text(res, status, STATUS_TEXT[status] as string, true);
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
  431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error',
  501: '501 Not Implemented',
  502: '502 Bad Gateway',
  504: '504 Gateway Timeout',
};

/**
 * What a proxied request and a relayed upgrade share: the request, the group it goes to,
 * the choice of a peer, and nginx's rules for passing it to the next one.
 */
abstract class Flow implements RequestInfo {
  readonly core: ProxyCore;
  readonly req: IncomingMessage;
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  readonly clientIp: string | undefined;
  /** The group this request goes to: the proxy's, or the one its location names. */
  upstream: Upstream;
  /** The request-target to send: the client's, or the rewritten one. */
  url: string;
  protected body: IncomingMessage | Buffer | null = null;
  protected tried: Set<string> | undefined;
  protected attempts = 0;
  /** Attempts sent again after a kept-alive connection broke; they count as none. */
  private resends = 0;
  /** When the first attempt started, for `tryTimeoutMs` only. */
  protected startedAt = 0;

  constructor(core: ProxyCore, req: IncomingMessage) {
    this.core = core;
    this.req = req;
    this.method = req.method ?? 'GET';
    this.url = targetOf(req) ?? '';
    this.upstream = core.upstream;
    this.headers = req.headers;
    this.clientIp = req.socket.remoteAddress;
  }

  /** Whether the client went away. */
  protected abstract gone(): boolean;

  /** Sends an attempt to the peer; without one, answers 502. */
  protected abstract send(peer: Peer | undefined): void;

  /** No attempt is left: answers 502, or 504 after a timeout. */
  protected abstract giveUp(kind: Failure): void;

  /** Answers 500 (a user hook failed), settling what the request opened. */
  protected abstract internalError(err: HookError): void;

  /** Refuses the request with this status (400, 431, 501) and closes the connection. */
  protected abstract refuse(status: number): void;

  /** Answers a rewrite rule's `return` (with its text) or redirect (with its `location`). */
  protected abstract answer(status: number, body: string, location: string | undefined): void;

  /**
   * Applies the rewrite rules: answers redirects and returns itself (444 closes the
   * connection), or takes the rewritten URI and the location's group. `false` when the
   * request was answered here.
   */
  protected rewrite(rewrite: ProxyRewriter): boolean {
    let result: ReturnType<typeof evaluate>;
    try {
      result = evaluate(rewrite, this.req, this.method, this.url);
    } catch (err) {
      this.hookFailed(err, 'rewrite.evaluate');
      return false;
    }
    if (result === undefined) {
      this.refuse(400);
      return false;
    }
    if (result.action === 'pass') {
      this.url = result.uri;
      if (result.target !== undefined) this.upstream = this.core.upstreamFor(result.target);
      return true;
    }
    if (result.action === 'return' && result.status === 444) {
      // nginx's 444: close the connection without a response.
      this.req.socket.destroy();
      return false;
    }
    if (result.action === 'redirect') this.answer(result.status, '', result.location);
    else this.answer(result.status, result.body ?? '', undefined);
    return false;
  }

  /**
   * A user hook threw or rejected: `onError` hears of it and the request gets a 500.
   * `hook` names it unless `err` already does.
   */
  hookFailed(err: unknown, hook: string): void {
    const e = err instanceof HookError ? err : new HookError(hook, err);
    this.core.report(e, this.req);
    this.internalError(e);
  }

  /** Selects a peer (persistence may answer asynchronously) and sends the attempt. */
  protected choose(): void {
    let picked: Peer | undefined | Promise<Peer | undefined>;
    try {
      picked = this.upstream.select({ tried: this.tried, clientIp: this.clientIp }, this);
    } catch (err) {
      this.hookFailed(err, 'upstream.select');
      return;
    }
    if (picked instanceof Promise) {
      picked.then(
        (peer) => this.send(peer),
        (err) => this.hookFailed(err, 'persistence.find'),
      );
    } else this.send(picked);
  }

  /** Whether a failed attempt may go to the next peer (nginx `ngx_http_upstream_next`). */
  canRetry(kind: Failure | number, requestSent: boolean): boolean {
    if (!this.mayRepeat(kind, requestSent)) return false;
    const o = this.core.o;
    const limit = o.tries === 0 ? this.upstream.maxTries() : Math.min(o.tries, this.upstream.maxTries());
    return this.attempts < limit;
  }

  /**
   * Whether the request may be sent again at all: the condition is listed in
   * `nextUpstream`, the client is still there, `tryTimeoutMs` has not passed, and the
   * method and the body allow it.
   */
  private mayRepeat(kind: Failure | number, requestSent: boolean): boolean {
    const o = this.core.o;
    if (
      kind === 'error' ? !o.nextOnError : kind === 'timeout' ? !o.nextOnTimeout : !o.nextStatuses.has(kind)
    ) {
      return false;
    }
    if (this.gone()) return false;
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

  /**
   * Whether the request may go again, on a new connection to the same peer, after a
   * kept-alive connection broke before any byte of the response.
   * nginx counts no try for a cached connection's error ("TODO: inform balancer
   * instead"); here it is no failure of the peer either. Each broken connection leaves
   * the pool, so a request is sent again at most once per pooled connection.
   */
  mayResend(peer: Peer): boolean {
    const max = this.core.o.connectionsPerPeer;
    if ((max !== 0 && this.resends >= max) || !this.mayRepeat('error', true)) return false;
    // A peer removed meanwhile has no pool any more: fail over as usual.
    return this.upstream.get(peer.id) === peer;
  }

  /** Sends the request again to the same peer, once `mayResend` said it may. */
  resend(peer: Peer): void {
    this.resends++;
    this.attempts--;
    this.send(peer);
  }

  /** The attempt failed before the response head: the next peer, or give up. */
  failed(peer: Peer, kind: Failure, err: Error): void {
    this.core.report(
      kind === 'timeout'
        ? new UpstreamTimeoutError(peer.id, err.message, err)
        : new UpstreamError(peer.id, err.message, err),
      this.req,
    );
    if (this.canRetry(kind, !CONNECT_ERRORS.has((err as { code?: string }).code ?? ''))) this.retry(peer);
    else this.giveUp(kind);
  }
}

/**
 * One client request on its way through the proxy, across its attempts.
 * The per-request state lives here, not in closures.
 */
class Exchange extends Flow {
  readonly res: ServerResponse;
  readonly next: NextFunction | undefined;
  /** The method sent upstream (a cache turns HEAD into GET). */
  upstreamMethod: string;
  /** The cache's hooks for this exchange, when a cache follows it. */
  forward: ProxyCacheForward | undefined;
  private headerList: string[] = [];
  private hostIndex = -1;
  private headerBytes = 0;
  /** A streamed body is counted, for the peer of the attempt that sends it (`countSent`). */
  private counting = false;
  attempt: Attempt | undefined;
  /** nginx `send_timeout`: runs while data waits for a client that takes none. */
  sendTimer: NodeJS.Timeout | undefined;
  clientGone = false;
  finished = false;

  constructor(core: ProxyCore, req: IncomingMessage, res: ServerResponse, next: NextFunction | undefined) {
    super(core, req);
    this.res = res;
    this.next = next;
    this.upstreamMethod = this.method;
  }

  protected gone(): boolean {
    return this.clientGone;
  }

  start(): void {
    const { req, res } = this;
    const refused = this.url === '' ? 400 : refusal(req);
    if (refused !== 0) {
      refuse(res, refused);
      return;
    }
    const rewrite = this.core.o.rewrite;
    if (rewrite !== undefined && !this.rewrite(rewrite)) return;
    const cache = this.core.o.cache;
    if (cache === undefined) {
      this.prepare();
      return;
    }
    let lookup: ReturnType<typeof cache.lookup>;
    try {
      lookup = cache.lookup({
        method: this.method,
        // nginx's cache key reads $request_uri: the client's, not the rewritten URI.
        url: targetOf(req) ?? this.url,
        headers: req.headers,
        scheme: (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
        proxyHost: this.upstream.name,
      });
    } catch (err) {
      // A cache's `key` function runs here.
      this.hookFailed(err, 'cache.lookup');
      return;
    }
    if (lookup instanceof Promise) {
      lookup.then(
        (l) => this.cached(l.response, l.forward),
        (err) => this.hookFailed(err, 'cache.lookup'),
      );
    } else this.cached(lookup.response, lookup.forward);
  }

  /** Acts on a cache lookup: answer from the cache, update it in the background, or go upstream. */
  private cached(response: ProxyCachedResponse | undefined, forward: ProxyCacheForward | undefined): void {
    if (response !== undefined) {
      this.reply(response);
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
          this.forward?.abort();
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
    let fwd: Forwarded;
    try {
      fwd = this.core.forwarded(req);
    } catch (err) {
      this.hookFailed(err, 'trustProxy');
      return;
    }
    const built = requestHeaders(req, fwd, bodyLength, this.core.o.underscores);
    if (built === undefined) {
      this.forward?.abort();
      refuse(res, 400);
      return;
    }
    this.headerList = built.list;
    const forward = this.forward;
    if (forward !== undefined) {
      this.upstreamMethod = forward.method;
      if (forward.requestHeaders.length > 0)
        this.headerList = withChanges(built.list, forward.requestHeaders);
    }
    // A body rebuilt from req.body goes out whole with the head; a streamed one is counted
    // as undici reads it (`countBody`).
    this.headerBytes = built.bytes + this.method.length + this.url.length + 12 + (bodyLength ?? 0);
    if (this.core.o.hostFromPeer || fwd.host === '') this.hostIndex = this.headerList.lastIndexOf('host') + 1;
    if (this.core.o.tryTimeoutMs !== 0) this.startedAt = performance.now();
    this.choose();
  }

  protected refuse(status: number): void {
    refuse(this.res, status);
  }

  protected answer(status: number, body: string, location: string | undefined): void {
    const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
    if (body !== '') headers['content-type'] = 'text/plain; charset=utf-8';
    if (location !== undefined) headers.location = location;
    this.res.writeHead(status, headers);
    this.res.end(body);
  }

  protected send(peer: Peer | undefined): void {
    if (this.clientGone) {
      this.forward?.abort();
      this.end();
      return;
    }
    if (peer === undefined) {
      const err = new NoLiveUpstreamError(this.upstream.name);
      this.core.report(err, this.req);
      const stale = this.forward?.fail('error');
      if (stale !== undefined) this.reply(stale);
      else text(this.res, 502, STATUS_TEXT[502] as string);
      this.end();
      return;
    }
    this.attempts++;
    this.upstream.begin(peer);
    if (this.hostIndex !== -1) this.headerList[this.hostIndex] = peer.hostHeader;
    const attempt = new Attempt(this, peer, this.headerBytes);
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

  /** Answers with the cache's stale response when it has one, else 502/504. */
  protected giveUp(kind: Failure): void {
    const stale = this.forward?.fail(kind);
    const status = kind === 'timeout' ? 504 : 502;
    if (stale !== undefined) this.reply(stale);
    else text(this.res, status, STATUS_TEXT[status] as string);
    this.end();
  }

  /** A hook failed: no cache fill; 500, or Express's `next(err)` under `middleware`. */
  protected internalError(err: HookError): void {
    this.forward?.abort();
    if (this.next !== undefined && !this.res.headersSent) this.next(err);
    else text(this.res, 500, STATUS_TEXT[500] as string);
    this.end();
  }

  /**
   * The attempt's request went out on a connection: the bytes of a streamed body count
   * for its peer from now on. The listener goes on before undici's own, in the same tick,
   * so it sees every chunk undici sends (undici 7 does not pass `onBodySent` on to a
   * handler of the controller API).
   */
  countBody(attempt: Attempt): void {
    const req = this.req;
    if (this.body !== req) return;
    (req as Counted)[kAttempt] = attempt;
    if (!this.counting) {
      this.counting = true;
      req.on('data', countSent);
    }
  }

  /** Sends a response the cache gave. */
  reply(r: ProxyCachedResponse): void {
    sendCached(this.res, r);
    this.watchTail();
  }

  /** The client takes no more for now: `send_timeout` runs until it does. */
  stalled(): void {
    const ms = this.core.o.sendTimeoutMs;
    if (ms !== 0 && this.sendTimer === undefined) this.sendTimer = setTimeout(onSendTimeout, ms, this);
  }

  /** The client took what was waiting: the body may flow again. */
  drained(): void {
    if (this.sendTimer !== undefined) {
      clearTimeout(this.sendTimer);
      this.sendTimer = undefined;
    }
    this.attempt?.resume();
  }

  /** After the last write: data still waiting for the client keeps `send_timeout` running. */
  watchTail(): void {
    if (this.res.writableLength > 0) this.stalled();
  }

  end(): void {
    // The close listener stays: it reads `finished`, which is cheaper than removing it.
    this.finished = true;
  }
}

const kExchange = Symbol('switchyard.exchange');

/**
 * Starts an exchange once its response owns the client connection. Node hands over
 * every pipelined request of a connection at once and queues their responses in order;
 * nginx reads a connection's next request only after answering the one before. So a
 * response still queued (no socket yet) starts its exchange when Node gives it the
 * socket, which is when the response before it has finished.
 */
function admit(ex: Exchange): void {
  const res = ex.res;
  (res as { [kExchange]?: Exchange })[kExchange] = ex;
  res.on('close', onResponseClose);
  if (res.socket === null) res.on('socket', onTurn);
  else ex.start();
}

/** A queued response got the connection: its exchange starts. */
function onTurn(this: ServerResponse): void {
  const ex = (this as { [kExchange]?: Exchange })[kExchange];
  if (ex !== undefined && !this.destroyed) ex.start();
}

/** The client connection closed: before the response ended, that is an abort. */
function onResponseClose(this: ServerResponse): void {
  const ex = (this as { [kExchange]?: Exchange })[kExchange];
  if (ex === undefined) return;
  if (ex.sendTimer !== undefined) {
    clearTimeout(ex.sendTimer);
    ex.sendTimer = undefined;
  }
  if (ex.finished) return;
  if (!this.writableFinished) {
    ex.clientGone = true;
    ex.attempt?.cancel();
    // Between attempts (a persistence lookup, a cache lookup in flight) no attempt would
    // settle the cache fill: give up its lock now.
    ex.forward?.abort();
  }
}

/** The client took the data that was waiting. */
function onResponseDrain(this: ServerResponse): void {
  (this as { [kExchange]?: Exchange })[kExchange]?.drained();
}

/**
 * nginx `send_timeout`: the client took nothing for that long. Its connection is closed,
 * which cuts the upstream request too (`onResponseClose`).
 */
function onSendTimeout(ex: Exchange): void {
  ex.sendTimer = undefined;
  if (!ex.res.writableFinished) ex.res.destroy();
}

const kAttempt = Symbol('switchyard.attempt');

/** A request whose streamed body is being counted: the attempt sending it. */
type Counted = IncomingMessage & { [kAttempt]?: Attempt };

/** A chunk of a streamed request body went to undici: it counts as sent to the peer. */
function countSent(this: Counted, chunk: Buffer): void {
  const attempt = this[kAttempt];
  if (attempt !== undefined) attempt.sent += chunk.length;
}

/**
 * Whether a response has no content whatever its framing says (RFC 9110 §6.4.1): 1xx,
 * 204, 304, or the answer to HEAD.
 */
function bodiless(status: number, method: string): boolean {
  return status < 200 || status === 204 || status === 304 || method === 'HEAD';
}

type Controller = Dispatcher.DispatchController;
type ResponseHeaders = Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2];

/**
 * One attempt against one peer: the undici dispatch handler (the controller API of
 * undici 7 and 8). A fresh one per attempt, so callbacks of an abandoned attempt are
 * told apart.
 */
class Attempt implements Dispatcher.DispatchHandler, AttemptOutcome {
  readonly ex: Exchange;
  readonly peer: Peer;
  /** How the attempt ended; set on release. */
  failure: AttemptFailure = 'abandoned';
  /** The status counted for the peer when released (0: none). */
  status = 0;
  /** Time to the response head, ms (with `responseMs`). */
  headerMs = -1;
  /** Time to the last byte, ms; -1: no timing sample. */
  responseMs = -1;
  /** Request bytes sent: the head, then a streamed body's chunks (`countSent`). */
  sent: number;
  /** Response body bytes received. */
  received = 0;
  /** undici's handle on this request: abort, pause and resume. */
  private controller: Controller | undefined;
  private readonly sentAt = performance.now();
  private headAt = 0;
  /** The status of the response head relayed. */
  private head = 0;
  /** A byte of the response came: a broken connection now is no stale one. */
  private started = false;
  /** The head went to the client and no content follows it (`bodiless`). */
  private headOnly = false;
  /** Abandoned, failed or complete: further callbacks are ignored. */
  private done = false;
  private released = false;

  constructor(ex: Exchange, peer: Peer, headerBytes: number) {
    this.ex = ex;
    this.peer = peer;
    this.sent = headerBytes;
  }

  cancel(): void {
    this.controller?.abort(new Error('client closed the connection'));
  }

  /** Lets the response body flow again after the client drained. */
  resume(): void {
    if (!this.done) this.controller?.resume();
  }

  /** The lease ends: the upstream records this attempt as its outcome. */
  private release(failure: AttemptFailure): void {
    if (this.released) return;
    this.released = true;
    this.failure = failure;
    this.ex.upstream.release(this.peer, this);
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    const ex = this.ex;
    if (ex.clientGone) controller.abort(new Error('client closed the connection'));
    else ex.countBody(this);
  }

  onResponseStarted(): void {
    this.started = true;
  }

  onResponseStart(
    controller: Controller,
    status: number,
    headers: ResponseHeaders,
    statusText?: string,
  ): void {
    // 1xx: Node already answered the client's Expect: 100-continue; others are not relayed.
    if (this.done || status < 200) return;
    const ex = this.ex;
    const up = ex.upstream;
    this.headAt = performance.now();
    if (ex.core.o.nextStatuses.has(status) && ex.canRetry(status, true)) {
      // nginx counts statuses listed in proxy_next_upstream as failures (not 403/404).
      this.drop(status !== 403 && status !== 404 ? 'status' : 'abandoned');
      ex.retry(this.peer);
      return;
    }
    this.head = status;
    const res = ex.res;
    // undici keeps the head as the peer wrote it (name case, order) on the controller.
    const list = responseHeaders(rawHeadersOf(controller.rawHeaders, headers));
    const forward = ex.forward;
    if (forward !== undefined) {
      const replaced = forward.head(status, list);
      if (replaced !== undefined) {
        // The cache answers instead (REVALIDATED after a 304, or STALE): drop the body.
        this.status = status;
        this.drop('none');
        ex.reply(replaced);
        ex.end();
        return;
      }
    }
    let sent = list;
    if (up.persistence !== undefined) {
      // A sticky Set-Cookie is for this client only: keep it out of what the cache stores.
      if (forward !== undefined) sent = list.slice();
      try {
        up.persistence.bind(ex, new Head(status, sent), this.peer);
      } catch (err) {
        // The peer answered; the hook failed.
        this.status = status;
        this.drop('none');
        ex.hookFailed(err, 'persistence.bind');
        return;
      }
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
      this.drop('error');
      text(res, 502, STATUS_TEXT[502] as string);
      ex.end();
      return;
    }
    this.headOnly = bodiless(status, ex.upstreamMethod);
    res.on('drain', onResponseDrain);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.done) return;
    this.received += chunk.length;
    const ex = this.ex;
    ex.forward?.data(chunk);
    if (ex.res.write(chunk)) return;
    controller.pause();
    ex.stalled();
  }

  onResponseEnd(): void {
    if (!this.done) this.complete();
  }

  /** The response is complete: the client's ends, the peer is released as a success. */
  private complete(): void {
    this.done = true;
    const ex = this.ex;
    ex.forward?.end();
    ex.res.end();
    ex.watchTail();
    this.status = this.head;
    this.headerMs = this.headAt - this.sentAt;
    this.responseMs = performance.now() - this.sentAt;
    this.release('none');
    ex.end();
  }

  /** `controller` is `null` (undici 8) or `undefined` (7) when the dispatch failed at once. */
  onResponseError(_controller: Controller | null | undefined, err: Error): void {
    if (this.done) return;
    const ex = this.ex;
    if (this.headOnly && !ex.clientGone) {
      // Nothing was to follow the head that went out: undici's complaint about the rest
      // (undici 7 holds a 204 or 304 to its Content-Length) changes nothing for the client.
      this.complete();
      return;
    }
    this.done = true;
    if (ex.clientGone) {
      this.release('abandoned');
      ex.forward?.abort();
      ex.end();
      return;
    }
    const code = (err as { code?: string }).code ?? '';
    if (code === 'UND_ERR_INVALID_ARG') {
      this.release('abandoned');
      ex.forward?.abort();
      text(ex.res, 400, STATUS_TEXT[400] as string);
      ex.end();
      return;
    }
    if (ex.res.headersSent) {
      this.release('abandoned');
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
    if (!this.started && staleConnection(err, code) && ex.mayResend(this.peer)) {
      // No failure of the peer: the connection was stale.
      this.release('abandoned');
      ex.resend(this.peer);
      return;
    }
    const kind = TIMEOUT_ERRORS.has(code) ? 'timeout' : 'error';
    this.release(kind);
    ex.failed(this.peer, kind, err);
  }

  private drop(failure: AttemptFailure): void {
    this.done = true;
    this.release(failure);
    this.controller?.abort(new Error('switchyard: attempt abandoned for the next upstream'));
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

/** `Upgrade` values that name h2c, which nginx does not relay. */
const H2C = /(?:^|,)\s*h2c\s*(?:,|$)/i;

/** Characters Node refuses in a header value. */
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * An upgrade request (WebSocket) on its way through the proxy: the same rules, refusals,
 * peer choice and next-upstream rules as any request, then both byte streams relayed.
 */
class Tunnel extends Flow {
  readonly socket: Duplex;
  readonly head: Buffer;
  private headerList: string[] = [];
  private hostIndex = -1;
  /** The protocol asked of the peer; `undefined`: an ordinary request (h2c). */
  private protocol: string | undefined;

  constructor(core: ProxyCore, req: IncomingMessage, socket: Duplex, head: Buffer) {
    super(core, req);
    this.socket = socket;
    this.head = head;
  }

  protected gone(): boolean {
    return this.socket.destroyed;
  }

  start(): void {
    const { req, socket } = this;
    socket.on('error', noop);
    const refused = this.url === '' ? 400 : refusal(req);
    if (refused !== 0) {
      rawText(socket, refused);
      return;
    }
    const rewrite = this.core.o.rewrite;
    if (rewrite !== undefined && !this.rewrite(rewrite)) return;
    let fwd: Forwarded;
    try {
      fwd = this.core.forwarded(req);
    } catch (err) {
      this.hookFailed(err, 'trustProxy');
      return;
    }
    const built = requestHeaders(req, fwd, undefined, this.core.o.underscores);
    if (built === undefined) {
      rawText(socket, 400);
      return;
    }
    this.headerList = built.list;
    if (this.core.o.hostFromPeer || fwd.host === '') this.hostIndex = this.headerList.lastIndexOf('host') + 1;
    const upgrade = req.headers.upgrade ?? 'websocket';
    // nginx does not take h2c upgrades, and relays none by default: the request goes as
    // an ordinary one. A peer switching to h2c would carry requests no rule sees.
    this.protocol = H2C.test(upgrade) ? undefined : upgrade;
    if (this.core.o.tryTimeoutMs !== 0) this.startedAt = performance.now();
    this.choose();
  }

  protected refuse(status: number): void {
    rawText(this.socket, status);
  }

  /** Answers on the socket and closes it. */
  protected answer(status: number, body: string, location: string | undefined): void {
    if (location === undefined) rawAnswer(this.socket, status, body);
    else if (INVALID_HEADER_VALUE.test(location)) rawText(this.socket, 500);
    else rawAnswer(this.socket, status, '', location);
  }

  protected send(peer: Peer | undefined): void {
    const { socket } = this;
    if (socket.destroyed) return;
    if (peer === undefined) {
      this.core.report(new NoLiveUpstreamError(this.upstream.name), this.req);
      rawText(socket, 502);
      return;
    }
    this.attempts++;
    this.upstream.begin(peer);
    if (this.hostIndex !== -1) this.headerList[this.hostIndex] = peer.hostHeader;
    this.core.pool(peer).dispatch(
      {
        path: this.url,
        method: this.method,
        headers: this.headerList,
        upgrade: this.protocol,
        body: null,
      },
      new UpgradeAttempt(this, peer),
    );
  }

  protected giveUp(kind: Failure): void {
    rawText(this.socket, kind === 'timeout' ? 504 : 502);
  }

  protected internalError(): void {
    rawText(this.socket, 500);
  }
}

/** One attempt of an upgrade against one peer: the undici dispatch handler. */
class UpgradeAttempt implements Dispatcher.DispatchHandler, AttemptOutcome {
  readonly tunnel: Tunnel;
  readonly peer: Peer;
  /** How the attempt ended; set on release. */
  failure: AttemptFailure = 'abandoned';
  /** The status of the answer relayed, counted for the peer when released (0: none). */
  status = 0;
  private controller: Controller | undefined;
  private released = false;
  /** The client got the peer's answer (or its first part). */
  private answered = false;
  /** The answer relayed has no content (`bodiless`). */
  private headOnly = false;
  /** A byte of the response came: a broken connection now is no stale one. */
  private started = false;
  /** Abandoned, failed or complete: further callbacks are ignored. */
  private done = false;

  constructor(tunnel: Tunnel, peer: Peer) {
    this.tunnel = tunnel;
    this.peer = peer;
  }

  /** The lease ends: the upstream records this attempt as its outcome. */
  private release(failure: AttemptFailure): void {
    if (this.released) return;
    this.released = true;
    this.failure = failure;
    this.tunnel.upstream.release(this.peer, this);
  }

  private drop(failure: AttemptFailure): void {
    this.done = true;
    this.release(failure);
    this.controller?.abort(new Error('switchyard: attempt abandoned for the next upstream'));
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.tunnel.socket.destroyed) controller.abort(new Error('client closed the connection'));
  }

  onResponseStarted(): void {
    this.started = true;
  }

  onRequestUpgrade(controller: Controller, status: number, headers: ResponseHeaders, upstream: Duplex): void {
    this.answered = true;
    this.done = true;
    const { socket, head: early } = this.tunnel;
    // The 101 head goes as the peer wrote it, Connection and Upgrade included.
    const raw = rawHeadersOf(controller.rawHeaders, headers);
    let head = `HTTP/1.1 ${status} Switching Protocols\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      head += `${latin1(raw[i] as Buffer | string)}: ${latin1(raw[i + 1] as Buffer | string)}\r\n`;
    }
    socket.write(`${head}\r\n`);
    if (early.length > 0) upstream.write(early);
    // The tunnel's lease ends when it closes: the 101 counts as a success then.
    this.status = status;
    const done = (): void => {
      upstream.destroy();
      socket.destroy();
      this.release('none');
    };
    upstream.on('error', done);
    socket.on('error', done);
    upstream.on('close', done);
    socket.on('close', done);
    upstream.pipe(socket);
    socket.pipe(upstream);
  }

  onResponseStart(
    controller: Controller,
    status: number,
    headers: ResponseHeaders,
    statusText?: string,
  ): void {
    if (this.done || status < 200) return;
    const t = this.tunnel;
    if (t.core.o.nextStatuses.has(status) && t.canRetry(status, true)) {
      // nginx counts statuses listed in proxy_next_upstream as failures (not 403/404).
      this.drop(status !== 403 && status !== 404 ? 'status' : 'abandoned');
      t.retry(this.peer);
      return;
    }
    // The peer declined the upgrade (or answered an h2c request): relay its answer, close.
    this.answered = true;
    this.headOnly = bodiless(status, t.method);
    const list = responseHeaders(rawHeadersOf(controller.rawHeaders, headers));
    let head = `HTTP/1.1 ${status} ${statusText ?? ''}\r\n`;
    for (let i = 0; i < list.length; i += 2) head += `${list[i]}: ${list[i + 1]}\r\n`;
    t.socket.write(`${head}connection: close\r\n\r\n`);
    this.status = status;
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.done) return;
    const { socket } = this.tunnel;
    if (socket.write(chunk)) return;
    controller.pause();
    socket.once('drain', () => controller.resume());
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.done = true;
    this.tunnel.socket.end();
    this.release('none');
  }

  onResponseError(_controller: Controller | null | undefined, err: Error): void {
    if (this.done) return;
    const t = this.tunnel;
    if (this.headOnly) {
      // As for `Attempt`: nothing was to follow the head that went out.
      this.onResponseEnd();
      return;
    }
    this.done = true;
    if (this.answered || t.socket.destroyed) {
      this.release('abandoned');
      if (this.answered) t.socket.destroy();
      return;
    }
    const code = (err as { code?: string }).code ?? '';
    if (!this.started && staleConnection(err, code) && t.mayResend(this.peer)) {
      this.release('abandoned');
      t.resend(this.peer);
      return;
    }
    const kind = TIMEOUT_ERRORS.has(code) ? 'timeout' : 'error';
    this.release(kind);
    t.failed(this.peer, kind, err);
  }
}

/** Answers on the raw socket of an upgrade request, and closes it. */
function rawAnswer(socket: Duplex, status: number, body: string, location?: string): void {
  if (socket.destroyed) return;
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n`;
  if (body !== '') head += 'content-type: text/plain; charset=utf-8\r\n';
  if (location !== undefined) head += `location: ${location}\r\n`;
  socket.end(`${head}content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** The proxy's own short answer (400, 502, 504…) on the raw socket of an upgrade request. */
function rawText(socket: Duplex, status: number): void {
  rawAnswer(socket, status, `${STATUS_TEXT[status]}\n`);
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
    admit(new Exchange(core, req, res, undefined));
  }

  function middleware(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    admit(new Exchange(core, req, res, next));
  }

  function upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    new Tunnel(core, req, socket, head).start();
  }

  return {
    upstream: core.upstream,
    handler,
    middleware,
    upgrade,
    close: () => core.close(),
  };
}
