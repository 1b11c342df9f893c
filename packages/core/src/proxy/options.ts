import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { boolAt, intAt, isObject, knownKeys, objectAt, oneOf } from '@switchyard/internals';
import proxyaddr from 'proxy-addr';
import { InvalidOptionError, type SwitchyardError } from '../errors.js';
import { Upstream, type UpstreamOptions } from '../upstream/index.js';
import { type ErrorPage, type ResolvedPage, resolveErrorPages } from './error-pages.js';
import { compileHeaderRules, type HeaderOptions, type HeaderRules } from './header-rules.js';
import { type ObserveOptions, type ResolvedObserveOptions, resolveObserveOptions } from './observe.js';

/** A Connect/Express `next`. */
export type NextFunction = (err?: unknown) => void;

/**
 * When to pass a request to the next peer (nginx `proxy_next_upstream`):
 * `error` (refused, reset, closed early), `timeout` (connect or response head), or a
 * response status.
 */
export type NextUpstreamCondition =
  | 'error'
  | 'timeout'
  | 'http_500'
  | 'http_502'
  | 'http_503'
  | 'http_504'
  | 'http_403'
  | 'http_404'
  | 'http_429';

const CONDITIONS: readonly NextUpstreamCondition[] = [
  'error',
  'timeout',
  'http_500',
  'http_502',
  'http_503',
  'http_504',
  'http_403',
  'http_404',
  'http_429',
];

/**
 * What the proxy needs of a rewrite engine; `compileNginx()` from `@switchyard/rewrite`
 * returns one. Declared here so core does not depend on the rewrite package.
 */
export interface ProxyRewriter {
  /**
   * Decides what to do with one request, before the cache and the peer choice; never
   * throws. The proxy passes the method, `req.url`, `req.headersDistinct`, the scheme,
   * the local port and the client address.
   */
  evaluate(request: {
    /** The request method. */
    method?: string;
    /** The request-target as received (`req.url`). */
    uri: string;
    /** The request headers; a list keeps each line of a repeated header. */
    headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
    /** `https` on a TLS socket (`$scheme`). */
    scheme?: 'http' | 'https';
    /** The port the request arrived on (`$server_port`). */
    port?: number;
    /** The client address (`$remote_addr`). */
    remoteAddr?: string;
  }):
    | {
        /** Proxy the request. */
        action: 'pass';
        /** The request-target to send upstream, in place of the client's. */
        uri: string;
        /** The location that matched, as written after `location`. */
        location?: string;
        /**
         * The scheme and authority of the location's `proxy_pass`: its host names a group of
         * `upstreams` (or `upstream`), else a group of that one server is made. Absent: the
         * request goes to `upstream`.
         */
        target?: string;
        /** The location's `add_header` fields; present, they replace `addResponseHeaders`. */
        addHeaders?: readonly ProxyAddedHeader[];
        /** The location's `proxy_set_header` fields; present, they replace `setRequestHeaders`. */
        setHeaders?: readonly ProxySetHeader[];
        /** The location's `proxy_hide_header` names; present, they replace `hideResponseHeaders`. */
        hideHeaders?: readonly string[];
      }
    | {
        /** Answer with a redirect. */
        action: 'redirect';
        /** The redirect status (301, 302, 303, 307 or 308). */
        status: number;
        /** The `Location` header to send. */
        location: string;
        /** The `add_header` fields for this answer; present, they replace `addResponseHeaders`. */
        addHeaders?: readonly ProxyAddedHeader[];
      }
    | {
        /** Answer directly; 444 closes the connection without a response. */
        action: 'return';
        /** The status to answer with. */
        status: number;
        /** The body, sent as `text/plain`; absent: an empty body. */
        body?: string;
        /** The `add_header` fields for this answer; present, they replace `addResponseHeaders`. */
        addHeaders?: readonly ProxyAddedHeader[];
      };
}

/** A response field a location adds (nginx `add_header`; `@switchyard/rewrite`'s `RewriteResponseHeader`). */
export interface ProxyAddedHeader {
  /** The field name. */
  readonly name: string;
  /** The value, evaluated for the request. */
  readonly value: string;
  /** Added whatever the status (`always`); else only to nginx's list of statuses. */
  readonly always: boolean;
  /** Replaces the response's own field of that name (`ETag`, `Last-Modified`); `''` removes it. */
  readonly replace?: boolean;
}

/** A request field a location sets (nginx `proxy_set_header`); `''` removes the field. */
export interface ProxySetHeader {
  /** The field name. */
  readonly name: string;
  /** The value, evaluated for the request. */
  readonly value: string;
}

/** A response a cache answers with (see `@switchyard/cache`'s `CachedResponse`). */
export interface ProxyCachedResponse {
  /** The status code to send. */
  readonly status: number;
  /** Flat `[name, value, …]` list, `Content-Length` included. */
  readonly headers: string[];
  /**
   * `null`: send no body (HEAD). A stream (a disk cache's file) is piped, destroyed if
   * the client goes first, and cuts the response off if it fails.
   */
  readonly body: Buffer | import('node:stream').Readable | null;
  /** The body's length in bytes, when `body` is a stream (a Buffer tells its own). */
  readonly bodyLength?: number;
  /** The cache status it is served with (`$upstream_cache_status`), for the observers. */
  readonly cacheStatus?: string;
  /** Called once the response has finished: the cache's store may reuse the body's memory. */
  readonly finished?: () => void;
}

/** One upstream exchange a cache follows (see `@switchyard/cache`'s `CacheForward`). */
export interface ProxyCacheForward {
  /** The method to send upstream (`GET` for a client's `HEAD`). */
  readonly method: string;
  /** Request headers to change before sending: the value to set, or `undefined` to remove it. */
  readonly requestHeaders: ReadonlyArray<readonly [name: string, value: string | undefined]>;
  /** The cache status of this exchange (`MISS`, `EXPIRED`, …), for the observers. */
  readonly cacheStatus?: string | undefined;
  /**
   * The fields (flat `[name, value, …]`) the proxy's own 502 or 504 for this exchange
   * carries: the cache status header and `Cache-Status` (nginx's `add_header
   * X-Cache-Status $upstream_cache_status always`).
   */
  readonly statusFields?: readonly string[];
  /**
   * Called with the final response head (status ≥ 200); the cache may append its status
   * header to `headers`. Returns a response to send instead, discarding the upstream body.
   */
  head(status: number, headers: string[]): ProxyCachedResponse | undefined;
  /** Called with each chunk of the upstream body, in order. */
  data(chunk: Buffer): void;
  /** Called when the upstream body is complete. */
  end(): void;
  /**
   * Called when the proxy gives up without a response head; returns a stale response to
   * send, or `undefined` for the proxy's own 502 (`error`) or 504 (`timeout`).
   */
  fail(kind: 'error' | 'timeout'): ProxyCachedResponse | undefined;
  /** Called when the exchange breaks off (upstream body cut, client gone). */
  abort(): void;
}

/**
 * What the proxy needs of a cache; `createCache()` from `@switchyard/cache` returns one.
 * Declared here, structurally, so core does not depend on the cache package. The call
 * sequence is the one `@switchyard/cache` documents on its `ProxyCache`.
 */
export interface ProxyCache {
  /**
   * Called for each request before a peer is chosen (after `rewrite`); answers now or
   * with a promise that never rejects.
   */
  lookup(req: {
    /** The request method. */
    readonly method: string;
    /** The client's request-target, `/path?query` (`$request_uri`, not the rewritten URI). */
    readonly url: string;
    /** The client's request headers. */
    readonly headers: IncomingMessage['headers'];
    /** `https` on a TLS socket, else `http`. */
    readonly scheme?: string;
    /** The name of the upstream group the request goes to (`$proxy_host`). */
    readonly proxyHost?: string;
    /** The client's `Host`, when the proxy sends it upstream as it came (`host: 'preserve'`). */
    readonly upstreamHost?: string;
  }):
    | {
        /** A response to send right away; `undefined`: go upstream. */
        readonly response: ProxyCachedResponse | undefined;
        /** The upstream exchange to perform; with a `response`, a background update. */
        readonly forward: ProxyCacheForward | undefined;
      }
    | Promise<{
        /** A response to send right away; `undefined`: go upstream. */
        readonly response: ProxyCachedResponse | undefined;
        /** The upstream exchange to perform; with a `response`, a background update. */
        readonly forward: ProxyCacheForward | undefined;
      }>;
}

/**
 * What a limiter decided for one request (see `@switchyard/limit`'s `LimitDecision`).
 * The proxy calls `release()` exactly once, when the exchange ends, whatever the ending.
 */
export interface ProxyLimitDecision {
  /** `pass`: go on now; `delay`: go on after `delayMs`; `reject`: answer `status`. */
  readonly action: 'pass' | 'delay' | 'reject';
  /** The status a rejected request is answered with (nginx `limit_req_status` / `limit_conn_status`). */
  readonly status: number;
  /** With `delay`: how long to hold the request, ms. */
  readonly delayMs: number;
  /** nginx `$limit_req_status` (`PASSED`, `DELAYED`, `REJECTED`, `…_DRY_RUN`); `undefined`: not limited. */
  readonly limitReq: string | undefined;
  /** nginx `$limit_conn_status` (`PASSED`, `REJECTED`, `REJECTED_DRY_RUN`); `undefined`: not limited. */
  readonly limitConn: string | undefined;
  /** Gives back the `limit_conn` slots taken for the request; safe to call twice. */
  release(): void;
}

/**
 * What the proxy needs of a limiter; `createLimits()` from `@switchyard/limit` returns
 * one. Declared here, structurally, so core does not depend on the limit package.
 *
 * Call sequence: for each request and upgrade, after the rewrite rules chose a location
 * and before the cache, `check(req, location)` once; then, whatever the decision,
 * `release()` once when the exchange ends (answered, refused, cut, or the client gone).
 */
export interface ProxyLimiter {
  /**
   * Decides for one request; answers now or with a promise that never rejects (a
   * rejection is reported as a `HookError` and answered 500). `req.socket.remoteAddress`
   * is the client address the proxy trusts: with `trustProxy`, the client named in
   * `X-Forwarded-For`. `location` is the location the rewrite rules chose, if any.
   */
  check(
    req: {
      /** The request method. */
      readonly method?: string;
      /** The client's request-target, as received. */
      readonly url?: string;
      /** The request headers, names in lower case. */
      readonly headers: IncomingHttpHeaders;
      /** `remoteAddress`: the client address (`$binary_remote_addr`, after `trustProxy`). */
      readonly socket?: { readonly remoteAddress?: string | undefined };
    },
    location?: string,
  ): ProxyLimitDecision | Promise<ProxyLimitDecision>;
}

/** Options of {@link createProxy}; `onResponse` and `logger` are described on {@link ObserveOptions}. */
export interface ProxyOptions extends ObserveOptions, HeaderOptions {
  /**
   * An HTTP cache in front of the upstream (`createCache()` from `@switchyard/cache`):
   * nginx `proxy_cache` with its `proxy_cache_*` settings.
   */
  cache?: ProxyCache;
  /**
   * The server group to forward to: an `Upstream`, or its options. With `rewrite`, the
   * group for locations whose `proxy_pass` names no other group.
   */
  upstream: Upstream | UpstreamOptions;
  /**
   * nginx rewrite rules and locations (`compileNginx(text)` from `@switchyard/rewrite`):
   * evaluated first; redirects and returns are answered, and a pass sends the rewritten
   * URI to the group its location's `proxy_pass` names. Upgrades (`proxy.upgrade`) go
   * through the same rules: a return or redirect is answered and the connection closed.
   */
  rewrite?: ProxyRewriter;
  /**
   * Request-rate and connection limits (`createLimits()` from `@switchyard/limit`): nginx's
   * `limit_req` and `limit_conn`. Checked after the rewrite rules, with the location they
   * chose, and before the cache, as nginx runs its preaccess phase after the rewrite
   * phase: a `return` or redirect is never limited. A refused request gets the
   * decision's status with nginx's short text; a delayed one goes on after `delayMs`.
   * Upgrades go through the same check.
   * @see https://nginx.org/en/docs/http/ngx_http_limit_req_module.html
   */
  limits?: ProxyLimiter;
  /**
   * nginx `client_max_body_size`, in bytes: a request whose `Content-Length` says more is
   * answered 413 before anything else; a chunked body is counted as it streams, and
   * answered 413 when it passes the size (or cut, if the response already began).
   * 0 = no limit. nginx's default is 1 MiB; the proxy streams bodies without buffering
   * them, so it sets no limit unless asked, and uploads keep working as before.
   * @default 0
   * @see https://nginx.org/en/docs/http/ngx_http_core_module.html#client_max_body_size
   */
  clientMaxBodySize?: number;
  /**
   * Groups that `proxy_pass http://<name>` can name, by name. A `proxy_pass` to an address
   * (`http://127.0.0.1:9211`) that names no group gets a group of that one server.
   */
  upstreams?: Record<string, Upstream | UpstreamOptions>;
  /** nginx `proxy_connect_timeout`, in ms. @default 60000 */
  connectTimeoutMs?: number;
  /** Time to wait for the response head after the request was sent (nginx `proxy_read_timeout`). @default 60000 */
  headersTimeoutMs?: number;
  /**
   * Longest pause between two reads of the response body (nginx `proxy_read_timeout`),
   * and of an upgraded connection; 0: no limit, for long-lived streams such as
   * server-sent events.
   * @default 60000
   */
  bodyTimeoutMs?: number;
  /**
   * nginx `proxy_next_upstream`: conditions on which the request goes to the next peer,
   * as long as nothing was sent to the client yet; `false` = `off`.
   * @default ['error', 'timeout']
   */
  nextUpstream?: false | NextUpstreamCondition[];
  /** nginx `proxy_next_upstream_tries`: attempts per request at most; 0 = every peer once. @default 0 */
  tries?: number;
  /** nginx `proxy_next_upstream_timeout`: no new attempt after this many ms; 0 = no limit. @default 0 */
  tryTimeoutMs?: number;
  /**
   * nginx `proxy_next_upstream non_idempotent`: also retry POST, PATCH and LOCK after
   * the request was sent. @default false
   */
  nonIdempotent?: boolean;
  /**
   * The `Host` sent upstream: `'preserve'` keeps the client's Host header as sent, port
   * included (nginx `proxy_set_header Host $http_host`); `'peer'` sends the chosen peer's
   * `host:port` (like nginx's default `$proxy_host` with `proxy_pass http://host:port`).
   * @default 'preserve'
   */
  host?: 'preserve' | 'peer';
  /**
   * Which client addresses are trusted proxies, as proxy-addr takes it (`true`, `'loopback'`,
   * CIDR lists, or a function). Only a trusted client's X-Forwarded-* are kept and appended to.
   * @default false
   */
  trustProxy?: boolean | string | string[] | ((addr: string, hop: number) => boolean);
  /**
   * nginx `real_ip_header`: where a trusted proxy puts the client address; every stage
   * then takes it as the client's (`$remote_addr`, `ip_hash`, the limits' keys).
   * @default 'x-forwarded-for'
   */
  realIpHeader?: string;
  /**
   * nginx `real_ip_recursive`: take the nearest address in `realIpHeader` that is not a
   * trusted proxy (on), or the last one (off). nginx's default is off; Express's
   * `req.ip` behaves as on.
   * @default true
   */
  realIpRecursive?: boolean;
  /**
   * nginx `error_page`: pages by status, sent in place of the proxy's own error answers
   * (502, 504, 413, a limit's 503 or 429, a rule's `return 404`) and, with
   * `interceptErrors`, of upstream answers of that status: a body, a redirect, or a
   * function that answers.
   * @example { 502: { body: '<h1>Back soon</h1>' }, 404: { redirect: 'https://example.com/' } }
   */
  errorPages?: Readonly<Record<number, ErrorPage>>;
  /**
   * nginx `proxy_intercept_errors on`: an upstream answer of 300 or more whose status has
   * an `errorPages` entry is replaced by that page (its body is dropped, not cached).
   * @default false
   */
  interceptErrors?: boolean;
  /**
   * nginx `proxy_request_buffering on`: read the request body before sending it, so that
   * when a peer fails the request can go to the next one (`error`, `timeout`; a POST with
   * `nonIdempotent`). Off by default, unlike nginx: an embedded proxy streams uploads and
   * holds no body in memory. @default false
   */
  requestBuffering?: boolean;
  /**
   * With `requestBuffering`, the most bytes of a body held in memory (nginx
   * `client_body_buffer_size`, which spills to a temp file beyond it): past it the rest
   * streams behind what was read. @default 1048576 (1 MiB)
   */
  requestBufferBytes?: number;
  /**
   * Upstream connections per peer at most (undici `connections`); requests beyond them
   * wait in the peer's queue. 0 = no limit. nginx has no per-peer cap, but one worker
   * holds at most `worker_connections` (512) connections, client and upstream together.
   * @default 128
   */
  connectionsPerPeer?: number;
  /** How long an idle upstream connection is kept (nginx `keepalive_timeout`). @default 4000 */
  keepAliveTimeoutMs?: number;
  /**
   * Longest wait, in ms, for the client to take more of a response it stopped reading
   * (nginx `send_timeout`); then the client connection is closed and the upstream request
   * cut. Counts only while data waits to go to the client. 0 = no limit.
   * @default 60000
   * @see https://nginx.org/en/docs/http/ngx_http_core_module.html#send_timeout
   */
  sendTimeoutMs?: number;
  /**
   * Pass request header fields whose names contain an underscore (nginx
   * `underscores_in_headers on`). Off, they are dropped, as nginx ignores them: CGI, WSGI,
   * Rack and PHP read `X_Forwarded_For` as `X-Forwarded-For`.
   * @default false
   * @see https://nginx.org/en/docs/http/ngx_http_core_module.html#underscores_in_headers
   */
  underscoresInHeaders?: boolean;
  /**
   * Told of every upstream failure and of requests the proxy answered itself with 5xx;
   * not of a kept-alive connection the peer had closed, whose request is sent again.
   */
  onError?: (error: SwitchyardError, req: IncomingMessage) => void;
}

/** Options after validation, with defaults filled in. */
export interface ResolvedProxyOptions {
  upstream: Upstream;
  cache: ProxyCache | undefined;
  rewrite: ProxyRewriter | undefined;
  limits: ProxyLimiter | undefined;
  /** `client_max_body_size` in bytes; 0: no limit. */
  clientMaxBodySize: number;
  /** Named groups for `proxy_pass`, by name. */
  upstreams: Map<string, Upstream>;
  /** `upstream` was built from options: the proxy owns it. */
  ownsUpstream: boolean;
  /** Names of the `upstreams` groups built from options. */
  ownedGroups: ReadonlySet<string>;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  nextOnError: boolean;
  nextOnTimeout: boolean;
  /** Statuses that send the request to the next peer. */
  nextStatuses: ReadonlySet<number>;
  tries: number;
  tryTimeoutMs: number;
  nonIdempotent: boolean;
  hostFromPeer: boolean;
  trust: ((addr: string, hop: number) => boolean) | undefined;
  /** `realIpHeader`, lower case. */
  realIpHeader: string;
  realIpRecursive: boolean;
  errorPages: ReadonlyMap<number, ResolvedPage> | undefined;
  interceptErrors: boolean;
  requestBuffering: boolean;
  requestBufferBytes: number;
  connectionsPerPeer: number;
  keepAliveTimeoutMs: number;
  sendTimeoutMs: number;
  /** Pass header names with `_` (`underscoresInHeaders`). */
  underscores: boolean;
  onError: ((error: SwitchyardError, req: IncomingMessage) => void) | undefined;
  /** `onResponse` and `logger`. */
  observe: ResolvedObserveOptions;
  /** The header controls (`setRequestHeaders`, `proxyRedirect`, …), compiled. */
  headers: HeaderRules;
}

const KEYS = [
  'upstream',
  'cache',
  'rewrite',
  'limits',
  'clientMaxBodySize',
  'upstreams',
  'connectTimeoutMs',
  'headersTimeoutMs',
  'bodyTimeoutMs',
  'nextUpstream',
  'tries',
  'tryTimeoutMs',
  'nonIdempotent',
  'host',
  'trustProxy',
  'realIpHeader',
  'realIpRecursive',
  'errorPages',
  'interceptErrors',
  'requestBuffering',
  'requestBufferBytes',
  'connectionsPerPeer',
  'keepAliveTimeoutMs',
  'sendTimeoutMs',
  'underscoresInHeaders',
  'onError',
  'onResponse',
  'logger',
  'setRequestHeaders',
  'hideResponseHeaders',
  'addResponseHeaders',
  'proxyRedirect',
  'cookieDomain',
  'cookiePath',
  'rewriteRequestHeaders',
  'onResponseHead',
] as const;

export function resolveProxyOptions(options: ProxyOptions): ResolvedProxyOptions {
  const o = objectAt('options', options);
  knownKeys('', o, KEYS);
  let upstream: Upstream;
  let ownsUpstream = false;
  if (o.upstream instanceof Upstream) upstream = o.upstream;
  else if (isObject(o.upstream)) {
    upstream = new Upstream(o.upstream as unknown as UpstreamOptions, 'upstream');
    ownsUpstream = true;
  } else throw new InvalidOptionError('upstream', 'an Upstream or upstream options', o.upstream);

  let conditions: readonly NextUpstreamCondition[] = ['error', 'timeout'];
  if (o.nextUpstream === false) conditions = [];
  else if (o.nextUpstream !== undefined) {
    if (!Array.isArray(o.nextUpstream)) {
      throw new InvalidOptionError('nextUpstream', 'false or an array of conditions', o.nextUpstream);
    }
    for (const [i, c] of o.nextUpstream.entries()) oneOf(`nextUpstream[${i}]`, c, CONDITIONS);
    conditions = o.nextUpstream as NextUpstreamCondition[];
  }
  const nextStatuses = new Set<number>();
  for (const c of conditions) if (c.startsWith('http_')) nextStatuses.add(Number(c.slice(5)));

  const host = oneOf('host', o.host, ['preserve', 'peer'], 'preserve');

  let trust: ResolvedProxyOptions['trust'];
  const tp = o.trustProxy;
  if (tp === undefined || tp === false) trust = undefined;
  else if (tp === true) trust = () => true;
  else if (typeof tp === 'function') trust = tp as (addr: string, hop: number) => boolean;
  else if (typeof tp === 'string' || (Array.isArray(tp) && tp.every((x) => typeof x === 'string'))) {
    try {
      trust = proxyaddr.compile(tp as string | string[]);
    } catch (err) {
      throw new InvalidOptionError(
        'trustProxy',
        `addresses proxy-addr accepts (${(err as Error).message})`,
        tp,
      );
    }
  } else {
    throw new InvalidOptionError('trustProxy', 'a boolean, an address list or a function', tp);
  }
  if (o.cache !== undefined && (!isObject(o.cache) || typeof o.cache.lookup !== 'function')) {
    throw new InvalidOptionError(
      'cache',
      'a cache with lookup() (createCache from @switchyard/cache)',
      o.cache,
    );
  }
  let rewrite: ProxyRewriter | undefined;
  if (o.rewrite !== undefined) {
    if (!isObject(o.rewrite) || typeof o.rewrite.evaluate !== 'function') {
      throw new InvalidOptionError(
        'rewrite',
        'an engine with evaluate() (compileNginx from @switchyard/rewrite)',
        o.rewrite,
      );
    }
    rewrite = o.rewrite as unknown as ProxyRewriter;
  }
  if (o.limits !== undefined && (!isObject(o.limits) || typeof o.limits.check !== 'function')) {
    throw new InvalidOptionError(
      'limits',
      'a limiter with check() (createLimits from @switchyard/limit)',
      o.limits,
    );
  }
  const upstreams = new Map<string, Upstream>();
  const ownedGroups = new Set<string>();
  if (o.upstreams !== undefined) {
    for (const [name, u] of Object.entries(objectAt('upstreams', o.upstreams))) {
      if (u instanceof Upstream) upstreams.set(name, u);
      else if (isObject(u)) {
        upstreams.set(name, new Upstream(u as unknown as UpstreamOptions, `upstreams.${name}`));
        ownedGroups.add(name);
      } else throw new InvalidOptionError(`upstreams.${name}`, 'an Upstream or upstream options', u);
    }
  }
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    throw new InvalidOptionError('onError', 'a function', o.onError);
  }

  return {
    upstream,
    cache: o.cache as ProxyCache | undefined,
    rewrite,
    limits: o.limits as ProxyLimiter | undefined,
    clientMaxBodySize: intAt('clientMaxBodySize', o.clientMaxBodySize, 0, 0),
    upstreams,
    ownsUpstream,
    ownedGroups,
    connectTimeoutMs: intAt('connectTimeoutMs', o.connectTimeoutMs, 60_000, 1),
    headersTimeoutMs: intAt('headersTimeoutMs', o.headersTimeoutMs, 60_000, 1),
    bodyTimeoutMs: intAt('bodyTimeoutMs', o.bodyTimeoutMs, 60_000, 0, 2_147_483_647),
    nextOnError: conditions.includes('error'),
    nextOnTimeout: conditions.includes('timeout'),
    nextStatuses,
    tries: intAt('tries', o.tries, 0, 0),
    tryTimeoutMs: intAt('tryTimeoutMs', o.tryTimeoutMs, 0, 0),
    nonIdempotent: boolAt('nonIdempotent', o.nonIdempotent, false),
    hostFromPeer: host === 'peer',
    trust,
    realIpHeader: realIpHeaderAt(o.realIpHeader),
    realIpRecursive: boolAt('realIpRecursive', o.realIpRecursive, true),
    errorPages: resolveErrorPages(o.errorPages),
    interceptErrors: boolAt('interceptErrors', o.interceptErrors, false),
    requestBuffering: boolAt('requestBuffering', o.requestBuffering, false),
    requestBufferBytes: intAt('requestBufferBytes', o.requestBufferBytes, 1_048_576, 1),
    connectionsPerPeer: intAt('connectionsPerPeer', o.connectionsPerPeer, 128, 0),
    keepAliveTimeoutMs: intAt('keepAliveTimeoutMs', o.keepAliveTimeoutMs, 4_000, 1),
    // A timer longer than 2^31 - 1 ms fires at once in Node.
    sendTimeoutMs: intAt('sendTimeoutMs', o.sendTimeoutMs, 60_000, 0, 2_147_483_647),
    underscores: boolAt('underscoresInHeaders', o.underscoresInHeaders, false),
    onError: o.onError as ResolvedProxyOptions['onError'],
    observe: resolveObserveOptions(o),
    headers: compileHeaderRules(o),
  };
}

function realIpHeaderAt(value: unknown): string {
  if (value === undefined) return 'x-forwarded-for';
  if (typeof value !== 'string' || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value)) {
    throw new InvalidOptionError('realIpHeader', 'a header field name', value);
  }
  return value.toLowerCase();
}
