import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Upstream } from '../upstream/index.js';
import { type CloseOptions, ProxyCore } from './core.js';
import { admit, Exchange } from './exchange.js';
import type { Flow, Step } from './flow.js';
import {
  type NextFunction,
  type ProxyCache,
  type ProxyLimiter,
  type ProxyOptions,
  type ProxyRewriter,
  resolveProxyOptions,
} from './options.js';
import { Tunnel } from './tunnel.js';

export type { CloseOptions } from './core.js';
export type { ErrorPage, ErrorPageHandler } from './error-pages.js';
export type {
  AddedHeader,
  HeaderOptions,
  HeaderValue,
  ReplaceRule,
  ResponseHeadView,
} from './header-rules.js';
export {
  type AccessLogFields,
  accessLogFields,
  accessLogLine,
  CHANNELS,
  type Logger,
  type ObserveOptions,
  type PeerChosenMessage,
  type RequestStartMessage,
  type ResponseEndMessage,
  type ResponseRecord,
  type RetryMessage,
  type RetryReason,
  type UpstreamTry,
  upstreamAddr,
  upstreamHeaderTime,
  upstreamResponseTime,
  upstreamStatus,
} from './observe.js';
export type {
  NextFunction,
  NextUpstreamCondition,
  ProxyAddedHeader,
  ProxyCache,
  ProxyCachedResponse,
  ProxyCacheForward,
  ProxyLimitDecision,
  ProxyLimiter,
  ProxyOptions,
  ProxyRewriter,
  ProxySetHeader,
} from './options.js';

/**
 * A reverse proxy in front of one upstream group, with an adapter for each kind of server.
 */
export interface ReverseProxy {
  /** The upstream group requests go to. */
  readonly upstream: Upstream;
  /**
   * A request listener for `http.createServer(proxy.handler)`, `https.createServer` and
   * `http2.createSecureServer({ allowHTTP1: true }, proxy.handler)`.
   */
  readonly handler: ((req: IncomingMessage, res: ServerResponse) => void) &
    ((req: Http2ServerRequest, res: Http2ServerResponse) => void);
  /** Connect/Express middleware: `app.use('/api', proxy.middleware)`. */
  readonly middleware: (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;
  /**
   * An `upgrade` listener for WebSocket: `server.on('upgrade', proxy.upgrade)`. Upgrades
   * go through the same rules, locations and peer choice as other requests.
   */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * Every group requests go to right now: `upstream`, the groups of `upstreams`, then those
   * made for `proxy_pass` addresses that name no group. `createAdminApi({ upstreams: proxy })`
   * and `createMetrics` read it on each request.
   */
  groups(): Upstream[];
  /**
   * Closes the proxy: new requests (and upgrades) get 503 with `Connection: close`. Without
   * `graceful`, requests in flight are cut at once; with it, they may finish within
   * `timeoutMs`. Then the upstream connections and open WebSocket tunnels close, and the
   * health checks of the groups the proxy made (from options) stop. Close the server too,
   * so it stops accepting: see the example on {@link createProxy}.
   */
  close(options?: CloseOptions): Promise<void>;
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
  const o = resolveProxyOptions(options);
  const core = new ProxyCore(o);
  // The pipeline, composed once: checks → rewrite → limits → cache → select and forward.
  // A stage that is not configured is not there at all. The limits come after the rewrite
  // rules as nginx's preaccess phase (limit_req, limit_conn) comes after its rewrite
  // phase: a location's `return` is never limited (conformance `req-return-not-limited`).
  const common: Step<Flow>[] = [CHECK];
  if (o.rewrite !== undefined) common.push(rewriteStep(o.rewrite));
  if (o.limits !== undefined) common.push(limitsStep(o.limits));
  const requestSteps: Step<Exchange>[] = [...common];
  // nginx reads a buffered body before the upstream module (and its cache) starts.
  if (o.requestBuffering) requestSteps.push(BUFFER);
  if (o.cache !== undefined) requestSteps.push(cacheStep(o.cache));
  requestSteps.push(FORWARD);
  core.requestSteps = requestSteps;
  core.upgradeSteps = [...common, FORWARD_UPGRADE];

  // Node's HTTP/2 compatibility request and response stand in for HTTP/1's.
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    admit(new Exchange(core, req, res, undefined));
  };
  return {
    upstream: core.upstream,
    handler: handler as ReverseProxy['handler'],
    middleware(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
      admit(new Exchange(core, req, res, next));
    },
    upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
      new Tunnel(core, req, socket, head).start();
    },
    groups: () => core.groups(),
    close: (closeOptions?: CloseOptions) => core.close(closeOptions),
  };
}

/** What nginx refuses before anything else: 400, 431, 501. */
const CHECK: Step<Flow> = { hook: 'request', run: (flow) => flow.checkRequest() };

/** nginx's rewrite phase and `location` choice. */
function rewriteStep(rewrite: ProxyRewriter): Step<Flow> {
  return { hook: 'rewrite.evaluate', run: (flow) => flow.rewrite(rewrite) };
}

/** nginx's preaccess phase: `limit_req` and `limit_conn`, for the location chosen. */
function limitsStep(limits: ProxyLimiter): Step<Flow> {
  return { hook: 'limits.check', run: (flow) => flow.checkLimits(limits) };
}

/** The cache: a hit answers, a miss goes on with the fill the cache follows. */
function cacheStep(cache: ProxyCache): Step<Exchange> {
  return { hook: 'cache.lookup', run: (ex) => ex.lookup(cache) };
}

/** Selects a peer and forwards the request, across its attempts. */
const FORWARD: Step<Exchange> = { hook: 'proxy.forward', run: (ex) => ex.prepare() };
const BUFFER: Step<Exchange> = { hook: 'proxy.buffer', run: (ex) => ex.bufferBody() };
const FORWARD_UPGRADE: Step<Tunnel> = { hook: 'proxy.forward', run: (tunnel) => tunnel.prepare() };
