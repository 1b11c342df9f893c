/**
 * The statistics the admin API and the metrics both read, declared by their shape: what
 * they are given (groups, cache zones, traffic counts) and what the API serves at
 * `/metrics`. Neither `admin/` nor `metrics/` imports the other; both import this.
 */
import type { Upstream } from '../upstream/index.js';

/** Upstream groups as the API and the metrics take them: a list (keyed by `upstream.name`) or a map. */
export type UpstreamList = readonly Upstream[] | Readonly<Record<string, Upstream>>;

/**
 * Anything that can say which upstream groups exist right now, such as a `ReverseProxy`
 * (its {@link ReverseProxy.groups | groups()} includes the one-server groups it makes for
 * `proxy_pass` addresses that name no group). The admin API calls `groups()` on each
 * request and the metrics on each scrape, so groups made later show up; each is named by
 * `upstream.name`, and when two share a name the first listed wins.
 *
 * @example
 * ```ts
 * const proxy = createProxy({ upstream, rewrite });
 * createAdminApi({ upstreams: proxy }); // or { groups: () => myGroups }
 * ```
 */
export interface UpstreamSource {
  /** The groups now, in the order shown. */
  groups(): Iterable<Upstream>;
}

/** Responses and bytes of one cache outcome (NGINX Plus `hit`, `stale`, `updating`, `revalidated`). */
export interface CacheOutcome {
  /** Responses with this outcome. @default 0 */
  responses?: number;
  /** Bytes of those responses. @default 0 */
  bytes?: number;
}

/** An outcome that may also write to the cache (NGINX Plus `miss`, `expired`, `bypass`). */
export interface CacheWriteOutcome extends CacheOutcome {
  /** Responses written to the cache. @default 0 */
  responsesWritten?: number;
  /** Bytes written to the cache. @default 0 */
  bytesWritten?: number;
}

/**
 * The statistics of one cache zone, read when the API or a scrape asks for them. Every
 * field is optional and counts as 0 (or `false`) when absent, so a cache that counts only
 * hits and misses fills in just those.
 *
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#def_nginx_http_cache
 */
export interface CacheZoneStats {
  /** The cache's current size, in bytes. */
  size?: number;
  /** Its size limit in bytes (nginx `max_size`). */
  maxSize?: number;
  /** Whether the cache is still being loaded (nginx's "cache loader"). */
  cold?: boolean;
  /** Served from the cache, fresh. */
  hit?: CacheOutcome;
  /** Served from the cache, stale (`proxy_cache_use_stale`). */
  stale?: CacheOutcome;
  /** Served stale while the entry was being updated. */
  updating?: CacheOutcome;
  /** Revalidated with the origin (`proxy_cache_revalidate`) and served from the cache. */
  revalidated?: CacheOutcome;
  /** Not in the cache. */
  miss?: CacheWriteOutcome;
  /** In the cache but expired, and fetched again. */
  expired?: CacheWriteOutcome;
  /** Not looked up (`proxy_cache_bypass`). */
  bypass?: CacheWriteOutcome;
}

/**
 * What the admin API and the metrics need from a cache zone: a tiny structural interface,
 * so `core` does not depend on `@switchyard/cache` (any object with `stats()` fits).
 *
 * @example
 * ```ts
 * const zone: CacheZone = { stats: () => ({ hit: { responses: hits }, miss: { responses: misses } }) };
 * createAdminApi({ upstreams, caches: { pages: zone } });
 * ```
 */
export interface CacheZone {
  /** The zone's statistics now. */
  stats(): CacheZoneStats;
  /** Zeroes the hit/miss statistics (NGINX Plus `DELETE /http/caches/{name}`); without it that `DELETE` is refused. */
  resetStats?(): void;
  /**
   * Removes entries by key, or by key prefix when `pattern` ends with `*`; how many went.
   * Enables `DELETE /http/caches/{name}/keys?key=…` (a switchyard extension).
   */
  purge?(pattern: string): number | Promise<number>;
  /** Removes the entries carrying a tag; enables `DELETE /http/caches/{name}/keys?tag=…`. */
  purgeTag?(tag: string): number | Promise<number>;
}

/** Client connections, as NGINX Plus `/connections` reports them. */
export interface ConnectionCounts {
  /** Connections accepted, all time. */
  accepted: number;
  /** Connections dropped (Node's `maxConnections` reached), all time. */
  dropped: number;
  /** Open connections with a request in progress. */
  active: number;
  /** Open connections waiting for their next request (keep-alive). */
  idle: number;
}

/** Client requests, as NGINX Plus `/http/requests` reports them. */
export interface RequestCounts {
  /** Requests received, all time. */
  total: number;
  /** Requests in progress. */
  current: number;
}

/**
 * Where `/connections`, `/http/requests` and the matching metrics come from. The proxy does
 * not count clients itself; pass `servers` to {@link createAdminApi} to have them counted,
 * or any object of this shape.
 */
export interface TrafficStats {
  /** Client connections now. */
  connections(): ConnectionCounts;
  /** Client requests now. */
  requests(): RequestCounts;
  /** Zeroes `accepted` and `dropped` (NGINX Plus `DELETE /connections`). */
  resetConnections?(): void;
  /** Zeroes `total` (NGINX Plus `DELETE /http/requests`). */
  resetRequests?(): void;
}

/**
 * What the admin API serves at `/metrics`; `createMetrics()` of `@switchyard/core/metrics`
 * gives one. Declared by its shape, so that `@switchyard/core` never loads prom-client.
 */
export interface AdminMetrics {
  /** The exposition format's content type. */
  readonly contentType: string;
  /** The metrics in the Prometheus text format, read now. */
  metrics(): Promise<string>;
}

/**
 * The counters of one `limit_req` zone, as NGINX Plus `/http/limit_reqs/{zone}` shows them.
 * The same shape as `LimitReqCounts` of `@switchyard/limit`, declared here so that core
 * does not depend on it.
 *
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#def_nginx_http_limit_req_zone
 */
export interface LimitReqCounts {
  /** Requests neither limited nor accounted as limited. */
  passed: number;
  /** Requests delayed. */
  delayed: number;
  /** Requests rejected. */
  rejected: number;
  /** Requests accounted as delayed in dry run mode (`limit_req_dry_run`). */
  delayed_dry_run: number;
  /** Requests accounted as rejected in dry run mode. */
  rejected_dry_run: number;
}

/**
 * The counters of one `limit_conn` zone, as NGINX Plus `/http/limit_conns/{zone}` shows them;
 * the shape of `LimitConnCounts` of `@switchyard/limit`.
 *
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#def_nginx_http_limit_conn_zone
 */
export interface LimitConnCounts {
  /** Requests neither limited nor accounted as limited. */
  passed: number;
  /** Requests rejected. */
  rejected: number;
  /** Requests accounted as rejected in dry run mode (`limit_conn_dry_run`). */
  rejected_dry_run: number;
}

/**
 * What the admin API and the metrics read from request-rate and connection limits: the
 * counters of their zones, by zone name, read on each request or scrape. A `Limiter` from
 * `createLimits()` of `@switchyard/limit` fits; so does any object of this shape, since
 * core does not depend on that package.
 *
 * @example
 * ```ts
 * import { createLimits } from '@switchyard/limit';
 *
 * const limits = createLimits({ … });
 * createAdminApi({ upstreams: proxy, limits }); // /api/9/http/limit_reqs, /limit_conns
 * createMetrics({ upstreams: proxy, limits }); // nginxplus_limit_request_*, …_connection_*
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#http_limit_reqs_
 */
export interface LimitZones {
  /** The counters of every `limit_req` zone now, by zone name. */
  limitReqs(): Readonly<Record<string, LimitReqCounts>>;
  /** The counters of every `limit_conn` zone now, by zone name. */
  limitConns(): Readonly<Record<string, LimitConnCounts>>;
  /** Zeroes one `limit_req` zone's counters (NGINX Plus `DELETE /http/limit_reqs/{zone}`); without it that `DELETE` is refused. */
  resetLimitReq?(zone?: string): void;
  /** Zeroes one `limit_conn` zone's counters (`DELETE /http/limit_conns/{zone}`); without it that `DELETE` is refused. */
  resetLimitConn?(zone?: string): void;
}
