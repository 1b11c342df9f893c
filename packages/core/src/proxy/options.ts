import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { boolAt, intAt, isObject, knownKeys, objectAt } from '../config/validate.js';
import { InvalidOptionError, type SwitchyardError } from '../errors.js';
import { Upstream, type UpstreamOptions } from '../upstream/index.js';

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
  evaluate(request: {
    method?: string;
    uri: string;
    headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
    scheme?: 'http' | 'https';
    port?: number;
    remoteAddr?: string;
  }):
    | { action: 'pass'; uri: string; location?: string; target?: string }
    | { action: 'redirect'; status: number; location: string }
    | { action: 'return'; status: number; body?: string };
}

/** A response a cache answers with (see `@switchyard/cache`'s `CachedResponse`). */
export interface ProxyCachedResponse {
  readonly status: number;
  /** Flat `[name, value, …]` list, `Content-Length` included. */
  readonly headers: string[];
  /** `null`: send no body (HEAD). */
  readonly body: Buffer | null;
}

/** One upstream exchange a cache follows (see `@switchyard/cache`'s `CacheForward`). */
export interface ProxyCacheForward {
  readonly method: string;
  readonly requestHeaders: ReadonlyArray<readonly [name: string, value: string | undefined]>;
  readonly background: boolean;
  head(status: number, headers: string[]): ProxyCachedResponse | undefined;
  data(chunk: Buffer): void;
  end(): void;
  fail(kind: 'error' | 'timeout'): ProxyCachedResponse | undefined;
  abort(): void;
}

/**
 * What the proxy needs of a cache; `createCache()` from `@switchyard/cache` returns one.
 * Declared here, structurally, so core does not depend on the cache package. The call
 * sequence is the one `@switchyard/cache` documents on its `ProxyCache`.
 */
export interface ProxyCache {
  lookup(req: {
    readonly method: string;
    readonly url: string;
    readonly headers: IncomingMessage['headers'];
    readonly scheme?: string;
    readonly proxyHost?: string;
  }):
    | { readonly response: ProxyCachedResponse | undefined; readonly forward: ProxyCacheForward | undefined }
    | Promise<{
        readonly response: ProxyCachedResponse | undefined;
        readonly forward: ProxyCacheForward | undefined;
      }>;
}

/** Options of {@link createProxy}. */
export interface ProxyOptions {
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
   * URI to the group its location's `proxy_pass` names. WebSocket upgrades
   * (`proxy.upgrade`) are not rewritten: they go to `upstream` with their own URI.
   */
  rewrite?: ProxyRewriter;
  /**
   * Groups that `proxy_pass http://<name>` can name, by name. A `proxy_pass` to an address
   * (`http://127.0.0.1:9211`) that names no group gets a group of that one server.
   */
  upstreams?: Record<string, Upstream | UpstreamOptions>;
  /** nginx `proxy_connect_timeout`, in ms. @default 60000 */
  connectTimeoutMs?: number;
  /** Time to wait for the response head after the request was sent (nginx `proxy_read_timeout`). @default 60000 */
  headersTimeoutMs?: number;
  /** Longest pause between two reads of the response body (nginx `proxy_read_timeout`). @default 60000 */
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
  /** Upstream connections kept per peer at most (undici `connections`); 0 = no limit. @default 0 */
  connectionsPerPeer?: number;
  /** How long an idle upstream connection is kept (nginx `keepalive_timeout`). @default 4000 */
  keepAliveTimeoutMs?: number;
  /** Told of every upstream failure and of requests the proxy answered itself with 5xx. */
  onError?: (error: SwitchyardError, req: IncomingMessage) => void;
}

/** Options after validation, with defaults filled in. */
export interface ResolvedProxyOptions {
  upstream: Upstream;
  cache: ProxyCache | undefined;
  rewrite: ProxyRewriter | undefined;
  /** Named groups for `proxy_pass`, by name. */
  upstreams: Map<string, Upstream>;
  ownsUpstream: boolean;
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
  connectionsPerPeer: number;
  keepAliveTimeoutMs: number;
  onError: ((error: SwitchyardError, req: IncomingMessage) => void) | undefined;
}

const KEYS = [
  'upstream',
  'cache',
  'rewrite',
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
  'connectionsPerPeer',
  'keepAliveTimeoutMs',
  'onError',
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
    for (const [i, c] of o.nextUpstream.entries()) {
      if (!CONDITIONS.includes(c)) {
        throw new InvalidOptionError(`nextUpstream[${i}]`, `one of ${CONDITIONS.join(', ')}`, c);
      }
    }
    conditions = o.nextUpstream as NextUpstreamCondition[];
  }
  const nextStatuses = new Set<number>();
  for (const c of conditions) if (c.startsWith('http_')) nextStatuses.add(Number(c.slice(5)));

  const host = o.host ?? 'preserve';
  if (host !== 'preserve' && host !== 'peer') {
    throw new InvalidOptionError('host', '"preserve" or "peer"', host);
  }

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
  const upstreams = new Map<string, Upstream>();
  if (o.upstreams !== undefined) {
    for (const [name, u] of Object.entries(objectAt('upstreams', o.upstreams))) {
      if (u instanceof Upstream) upstreams.set(name, u);
      else if (isObject(u))
        upstreams.set(name, new Upstream(u as unknown as UpstreamOptions, `upstreams.${name}`));
      else throw new InvalidOptionError(`upstreams.${name}`, 'an Upstream or upstream options', u);
    }
  }
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    throw new InvalidOptionError('onError', 'a function', o.onError);
  }

  return {
    upstream,
    cache: o.cache as ProxyCache | undefined,
    rewrite,
    upstreams,
    ownsUpstream,
    connectTimeoutMs: intAt('connectTimeoutMs', o.connectTimeoutMs, 60_000, 1),
    headersTimeoutMs: intAt('headersTimeoutMs', o.headersTimeoutMs, 60_000, 1),
    bodyTimeoutMs: intAt('bodyTimeoutMs', o.bodyTimeoutMs, 60_000, 1),
    nextOnError: conditions.includes('error'),
    nextOnTimeout: conditions.includes('timeout'),
    nextStatuses,
    tries: intAt('tries', o.tries, 0, 0),
    tryTimeoutMs: intAt('tryTimeoutMs', o.tryTimeoutMs, 0, 0),
    nonIdempotent: boolAt('nonIdempotent', o.nonIdempotent, false),
    hostFromPeer: host === 'peer',
    trust,
    connectionsPerPeer: intAt('connectionsPerPeer', o.connectionsPerPeer, 0, 0),
    keepAliveTimeoutMs: intAt('keepAliveTimeoutMs', o.keepAliveTimeoutMs, 4_000, 1),
    onError: o.onError as ResolvedProxyOptions['onError'],
  };
}
