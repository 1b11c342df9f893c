/**
 * `@switchyard/core/metrics`: Prometheus metrics of the upstreams, cache zones, limit zones
 * and client traffic ({@link createMetrics}), named as the NGINX Prometheus exporter names
 * them. Needs prom-client installed; the main entry never loads it.
 *
 * @packageDocumentation
 * @module @switchyard/core/metrics
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { isObject, knownKeys, objectAt } from '@switchyard/internals';
import { Counter, Gauge, Registry } from 'prom-client';
import { InvalidOptionError } from '../errors.js';
import type { Peer, PeerState } from '../peer/index.js';
import { type LimitTable, limitsAt } from '../stats/limits.js';
import { cacheMap, type Groups, groupsAt, type Tracking } from '../stats/track.js';
import { trafficFrom } from '../stats/traffic.js';
import type {
  AdminMetrics,
  CacheOutcome,
  CacheZone,
  LimitConnCounts,
  LimitReqCounts,
  LimitZones,
  TrafficStats,
  UpstreamList,
  UpstreamSource,
} from '../stats/types.js';

/**
 * The members of a prom-client `Registry` the metrics use. A `Registry` of prom-client 14
 * or 15 has them, from whichever copy of prom-client the application loads.
 */
export interface MetricsRegistry extends Pick<Registry, 'registerMetric' | 'metrics'> {
  /** The exposition format's content type. */
  readonly contentType: string;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions<R extends MetricsRegistry = Registry> {
  /**
   * The upstream groups to report: by `upstream.name` (a list) or by key (a map), or the
   * groups an {@link UpstreamSource} such as a `ReverseProxy` gives, asked again on each
   * scrape so groups it makes later show up (by `upstream.name`; of two with one name, the
   * first listed).
   */
  upstreams: UpstreamList | UpstreamSource;
  /** Cache zones to report, by zone name. */
  caches?: Readonly<Record<string, CacheZone>>;
  /**
   * Request-rate and connection limits to report (`nginxplus_limit_request_*`,
   * `nginxplus_limit_connection_*`): a `Limiter` from `createLimits()` of
   * `@switchyard/limit`, or a list of them, their zones merged by name (of two with one
   * zone name, the first listed). Read on each scrape. @default none
   */
  limits?: LimitZones | readonly LimitZones[];
  /** Count client connections and requests on these servers (`nginxplus_connections_*`, `nginxplus_http_requests_*`). */
  servers?: readonly Server[];
  /** Or read them from here; without `servers` and `stats` they are 0. */
  stats?: TrafficStats;
  /**
   * The registry to add the metrics to, e.g. prom-client's global `register` to serve
   * them beside the default process metrics. A `Registry` of prom-client 14 or 15 works,
   * from whichever copy of prom-client the application has. @default a new Registry
   */
  registry?: R;
}

/**
 * Prometheus metrics of the upstreams, collected when scraped. `createAdminApi` serves them
 * at `/metrics` when given as its `metrics` option.
 */
export interface Metrics<R extends MetricsRegistry = Registry> extends AdminMetrics {
  /** The registry holding the metrics: the one given as `registry`, or a new one. */
  readonly registry: R;
  /** The exposition format's content type. */
  readonly contentType: string;
  /** The metrics in the Prometheus text format, read from the counters now. */
  metrics(): Promise<string>;
  /** A `node:http` request listener that answers every request with the metrics. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Stops counting on `servers`. */
  close(): void;
}

/**
 * The values of `nginxplus_upstream_server_state`, as the NGINX Prometheus exporter maps
 * the NGINX Plus states.
 */
export const STATE_VALUES: Readonly<Record<PeerState, number>> = {
  up: 1,
  draining: 2,
  down: 3,
  unavail: 4,
  checking: 5,
  unhealthy: 6,
};

const KEYS = ['upstreams', 'caches', 'limits', 'servers', 'stats', 'registry'] as const;

type Labels = Record<string, string>;
type Sample = readonly [Labels, number];

interface Source {
  /** Read on each scrape (by each family), so groups a source makes later show up. */
  groups: Groups;
  caches: ReadonlyArray<readonly [string, CacheZone]>;
  /** Read on each scrape (by each family), so zones a limiter adds later show up. */
  limits: LimitTable;
  stats: TrafficStats;
}

/**
 * Registers one metric family whose samples are read from the counters when scraped:
 * nothing is recorded on the request path.
 */
function family(
  registry: Registry,
  type: 'counter' | 'gauge',
  name: string,
  help: string,
  labelNames: readonly string[],
  read: () => Iterable<Sample>,
): void {
  if (type === 'counter') {
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect(this: Counter<string>) {
        this.reset();
        for (const [labels, value] of read()) this.inc(labels, value);
      },
    });
  } else {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect(this: Gauge<string>) {
        this.reset();
        for (const [labels, value] of read()) this.set(labels, value);
      },
    });
  }
}

function* perPeer(src: Source, value: (peer: Peer, t: Tracking) => number): Iterable<Sample> {
  for (const [name, t] of src.groups()) {
    for (const peer of t.upstream.peers) yield [{ upstream: name, server: peer.id }, value(peer, t)];
  }
}

function* perCode(src: Source, classes: boolean): Iterable<Sample> {
  for (const [name, t] of src.groups()) {
    for (const peer of t.upstream.peers) {
      const r = peer.stats().responses;
      if (classes) {
        for (const code of ['1xx', '2xx', '3xx', '4xx', '5xx'] as const) {
          yield [{ upstream: name, server: peer.id, code }, r[code]];
        }
      } else {
        for (const [code, n] of Object.entries(r.codes)) yield [{ upstream: name, server: peer.id, code }, n];
      }
    }
  }
}

function* perCache(src: Source, value: (zone: CacheZone) => number): Iterable<Sample> {
  for (const [name, zone] of src.caches) yield [{ zone: name }, value(zone)];
}

/**
 * The NGINX Prometheus exporter's limit families: `nginxplus_limit_request_*` and
 * `nginxplus_limit_connection_*`, labelled `zone`, with its help texts.
 *
 * @see https://github.com/nginx/nginx-prometheus-exporter/blob/main/collector/nginx_plus.go
 */
const LIMIT_REQUEST: ReadonlyArray<readonly [keyof LimitReqCounts, string]> = [
  ['passed', 'Total number of requests that were neither limited nor accounted as limited'],
  ['delayed', 'Total number of requests that were delayed'],
  ['rejected', 'Total number of requests that were rejected'],
  ['delayed_dry_run', 'Total number of requests accounted as delayed in the dry run mode'],
  ['rejected_dry_run', 'Total number of requests accounted as rejected in the dry run mode'],
];
const LIMIT_CONNECTION: ReadonlyArray<readonly [keyof LimitConnCounts, string]> = [
  ['passed', 'Total number of connections that were neither limited nor accounted as limited'],
  ['rejected', 'Total number of connections that were rejected'],
  ['rejected_dry_run', 'Total number of connections accounted as rejected in the dry run mode'],
];

function register(registry: Registry, src: Source): void {
  const ns = 'nginxplus';
  family(registry, 'gauge', `${ns}_up`, 'Status of the last metric scrape', [], () => [[{}, 1]]);

  const conn = (k: 'accepted' | 'dropped' | 'active' | 'idle') => (): Sample[] => [
    [{}, src.stats.connections()[k]],
  ];
  family(
    registry,
    'counter',
    `${ns}_connections_accepted`,
    'Accepted client connections',
    [],
    conn('accepted'),
  );
  family(registry, 'counter', `${ns}_connections_dropped`, 'Dropped client connections', [], conn('dropped'));
  family(registry, 'gauge', `${ns}_connections_active`, 'Active client connections', [], conn('active'));
  family(registry, 'gauge', `${ns}_connections_idle`, 'Idle client connections', [], conn('idle'));
  family(registry, 'counter', `${ns}_http_requests_total`, 'Total http requests', [], () => [
    [{}, src.stats.requests().total],
  ]);
  family(registry, 'gauge', `${ns}_http_requests_current`, 'Current http requests', [], () => [
    [{}, src.stats.requests().current],
  ]);

  family(registry, 'gauge', `${ns}_upstream_keepalive`, 'Idle keepalive connections', ['upstream'], () =>
    Array.from(src.groups().keys(), (name) => [{ upstream: name }, 0] as const),
  );
  family(
    registry,
    'gauge',
    `${ns}_upstream_zombies`,
    'Servers removed from the group but still processing active client requests',
    ['upstream'],
    () => Array.from(src.groups(), ([name, t]) => [{ upstream: name }, t.zombies()] as const),
  );

  const server = ['upstream', 'server'];
  const us = `${ns}_upstream_server`;
  const peerFamily = (
    type: 'counter' | 'gauge',
    metric: string,
    help: string,
    value: (peer: Peer, t: Tracking) => number,
  ) => family(registry, type, `${us}_${metric}`, help, server, () => perPeer(src, value));

  peerFamily('gauge', 'state', 'Current state', (p, t) => STATE_VALUES[t.upstream.stateOf(p)]);
  peerFamily('gauge', 'active', 'Active connections', (p) => p.active);
  peerFamily('gauge', 'limit', 'Limit for connections (max_conns); 0 means no limit', (p) => p.maxConns);
  peerFamily('counter', 'requests', 'Total client requests', (p) => p.requests);
  family(registry, 'counter', `${us}_responses`, 'Total responses sent to clients', [...server, 'code'], () =>
    perCode(src, true),
  );
  family(
    registry,
    'counter',
    `${us}_responses_codes`,
    'Total responses sent to clients, by status code',
    [...server, 'code'],
    () => perCode(src, false),
  );
  peerFamily('counter', 'sent', 'Bytes sent to this server', (p) => p.sent);
  peerFamily('counter', 'received', 'Bytes received from this server', (p) => p.received);
  peerFamily(
    'counter',
    'fails',
    'Number of unsuccessful attempts to communicate with the server',
    (p) => p.failsTotal,
  );
  peerFamily(
    'counter',
    'unavail',
    'How many times the server became unavailable (state "unavail") after max_fails failures',
    (p) => p.unavailCount,
  );
  peerFamily('gauge', 'header_time', 'Average time to get the response header from the server, ms', (p) =>
    Math.round(p.headerTimeMs),
  );
  peerFamily('gauge', 'response_time', 'Average time to get the full response from the server, ms', (p) =>
    Math.round(p.responseTimeMs),
  );
  peerFamily(
    'counter',
    'health_checks_checks',
    'Total health check requests',
    (p) => p.stats().healthChecks.checks,
  );
  peerFamily('counter', 'health_checks_fails', 'Failed health checks', (p) => p.stats().healthChecks.fails);
  peerFamily(
    'counter',
    'health_checks_unhealthy',
    'How many times the server became unhealthy (state "unhealthy")',
    (p) => p.stats().healthChecks.unhealthy,
  );

  const cache = (
    type: 'counter' | 'gauge',
    metric: string,
    help: string,
    value: (zone: CacheZone) => number,
  ) => family(registry, type, `${ns}_cache_${metric}`, help, ['zone'], () => perCache(src, value));
  cache('gauge', 'size', 'Total size of the cache', (z) => z.stats().size ?? 0);
  cache('gauge', 'max_size', 'Maximum size of the cache', (z) => z.stats().maxSize ?? 0);
  cache('gauge', 'cold', 'Is the cache considered cold', (z) => (z.stats().cold ? 1 : 0));
  const outcomes = [
    ['hit', 'cache hits'],
    ['stale', 'stale cache hits'],
    ['updating', 'cache hits while the cache is updating'],
    ['revalidated', 'cache revalidations'],
    ['miss', 'cache misses'],
    ['expired', 'cache hits with expired TTL'],
    ['bypass', 'cache bypasses'],
  ] as const;
  for (const [o, what] of outcomes) {
    const get = (z: CacheZone): CacheOutcome | undefined => z.stats()[o];
    cache('counter', `${o}_responses`, `Total number of ${what}`, (z) => get(z)?.responses ?? 0);
    cache('counter', `${o}_bytes`, `Total number of bytes of ${what}`, (z) => get(z)?.bytes ?? 0);
  }
  for (const o of ['expired', 'bypass'] as const) {
    cache('counter', `${o}_responses_written`, `Total number of ${o} responses written to the cache`, (z) => {
      return z.stats()[o]?.responsesWritten ?? 0;
    });
    cache('counter', `${o}_bytes_written`, `Total number of ${o} bytes written to the cache`, (z) => {
      return z.stats()[o]?.bytesWritten ?? 0;
    });
  }

  for (const [field, help] of LIMIT_REQUEST) {
    family(registry, 'counter', `${ns}_limit_request_${field}`, help, ['zone'], () =>
      Array.from(src.limits.reqs(), ([zone, z]) => [{ zone }, z.counts[field]] as const),
    );
  }
  for (const [field, help] of LIMIT_CONNECTION) {
    family(registry, 'counter', `${ns}_limit_connection_${field}`, help, ['zone'], () =>
      Array.from(src.limits.conns(), ([zone, z]) => [{ zone }, z.counts[field]] as const),
    );
  }
}

/**
 * Checks a registry by the members used, not with `instanceof`: a Registry from another copy
 * of prom-client (another major, or a second install) fails that test but works. prom-client's
 * Counter and Gauge constructors call `registerMetric` on each of their `registers`; scraping
 * calls `metrics()` and reads `contentType`.
 */
function registryAt(path: string, value: unknown): Registry {
  if (
    !isObject(value) ||
    typeof value.registerMetric !== 'function' ||
    typeof value.metrics !== 'function' ||
    typeof value.contentType !== 'string'
  ) {
    throw new InvalidOptionError(path, 'a prom-client Registry', value);
  }
  return value as unknown as Registry;
}

/**
 * Prometheus metrics for upstream groups, named after the NGINX Prometheus exporter's
 * (`nginxplus_upstream_server_requests{upstream,server}`, `…_responses{code="2xx"}`,
 * `…_state`, …), through prom-client. Every value is read from the peers' plain counters
 * when scraped: there is no per-request cost.
 *
 * Import it from `@switchyard/core/metrics`; it needs `prom-client` (14 or 15) installed
 * beside `@switchyard/core`.
 *
 * @example
 * ```ts
 * import { createMetrics } from '@switchyard/core/metrics';
 *
 * const metrics = createMetrics({ upstreams: proxy, servers: [server] }); // proxy.groups(), per scrape
 * http.createServer(metrics.handler).listen(9113, '127.0.0.1');
 * ```
 * @see https://github.com/nginx/nginx-prometheus-exporter#metrics-for-nginx-plus
 */
export function createMetrics<R extends MetricsRegistry = Registry>(options: MetricsOptions<R>): Metrics<R> {
  const o = objectAt('options', options);
  knownKeys('', o, KEYS);
  const groups = groupsAt('upstreams', o.upstreams);
  const caches = cacheMap('caches', o.caches);
  const limits = limitsAt('limits', o.limits);
  const traffic = trafficFrom(o.servers, o.stats);
  const registry = o.registry === undefined ? new Registry() : registryAt('registry', o.registry);
  const src: Source = {
    groups,
    caches: [...caches],
    limits,
    stats: traffic.stats,
  };
  register(registry, src);

  function handler(_req: IncomingMessage, res: ServerResponse): void {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, {
          'content-type': registry.contentType,
          'content-length': Buffer.byteLength(text),
        });
        res.end(text);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('metrics collection failed\n');
      },
    );
  }

  return {
    registry: registry as unknown as R,
    contentType: registry.contentType,
    metrics: () => registry.metrics(),
    handler,
    close: () => traffic.counter?.close(),
  };
}
