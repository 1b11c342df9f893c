import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { intAt, isObject, knownKeys, objectAt, stringAt } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import { limitsAt } from '../stats/limits.js';
import { cacheMap, groupsAt } from '../stats/track.js';
import { trafficFrom } from '../stats/traffic.js';
import type {
  AdminMetrics,
  CacheZone,
  LimitZones,
  TrafficStats,
  UpstreamList,
  UpstreamSource,
} from '../stats/types.js';
import { type AdminAuth, type Gate, gateAt, hostAllowed, writeDenied } from './auth.js';
import { DASHBOARD_HEADERS, DASHBOARD_HTML, DASHBOARD_PATHS } from './dashboard/index.js';
import { ApiError, methodNotSupported, pathNotFound, unknownVersion } from './errors.js';
import { ok, type Result, type Route } from './reply.js';
import { sendError, sendJson } from './responses.js';
import { type AdminContext, findRoute } from './routes.js';

export type { AdminAuth } from './auth.js';
export type { CacheJson, CacheWriteJson, PeerJson, ServerJson, UpstreamJson } from './json.js';
export type { AdminErrorBody } from './responses.js';

/** Options of {@link createAdminApi}. */
export interface AdminApiOptions {
  /**
   * The upstream groups to show and manage: by `upstream.name` (a list) or by key (a map),
   * or the groups an {@link UpstreamSource} such as a `ReverseProxy` gives, asked again on
   * each request so groups it makes later show up (by `upstream.name`; of two with one
   * name, the first listed).
   */
  upstreams: UpstreamList | UpstreamSource;
  /** Cache zones for `/http/caches`, by zone name. @default none: `{}` */
  caches?: Readonly<Record<string, CacheZone>>;
  /**
   * Request-rate and connection limits for `/http/limit_reqs` and `/http/limit_conns`: a
   * `Limiter` from `createLimits()` of `@switchyard/limit`, or a list of them, their zones
   * merged by name (of two with one zone name, the first listed). Read on each request.
   * @default none: `{}`
   */
  limits?: LimitZones | readonly LimitZones[];
  /** Who may write. Without it every write is refused (`405 MethodDisabled`, as nginx's `api write=off`). */
  auth?: AdminAuth;
  /**
   * Where the handler is mounted, stripped from `req.url` first: with `prefix: '/admin'` the
   * API answers at `/admin/api/` and the metrics at `/admin/metrics`. Connect/Express strip
   * their mount path themselves, so there it stays `''`. @default ''
   */
  prefix?: string;
  /** Count client connections and requests on these servers, for `/connections` and `/http/requests`. */
  servers?: readonly Server[];
  /** Or read those counts from here; without `servers` or `stats` they are 0. */
  stats?: TrafficStats;
  /**
   * The metrics to serve at `/metrics`: `createMetrics()` of `@switchyard/core/metrics`
   * (which needs prom-client installed). Without it `/metrics` is not served. @default none
   */
  metrics?: AdminMetrics;
  /** `/nginx` `version`. @default the Node.js version */
  version?: string;
  /** `/nginx` `build`. @default 'switchyard' */
  build?: string;
  /** The wall clock for `/nginx` timestamps, ms. @default Date.now */
  now?: () => number;
  /** Makes the `request_id` of error bodies. @default 32 random hex digits, as nginx's `$request_id` */
  requestId?: () => string;
  /** The largest write body read, in bytes; larger ones answer 413. @default 65536 */
  maxBodyBytes?: number;
  /**
   * Origins besides the API's own (`Origin` equal to `http(s)://` + the request's `Host`)
   * whose pages may write, e.g. `https://ops.example.com` when a proxy in front changes
   * `Host`. Writes from any other origin, or that a browser marks `Sec-Fetch-Site:
   * cross-site`/`same-site`, answer 403 `CrossSiteRequest`, so a page elsewhere cannot
   * write with the ambient credentials an `authorize` hook may trust. @default none
   */
  trustedOrigins?: readonly string[];
  /**
   * The host names (`Host` without the port, any case) the API, the dashboard and the
   * metrics answer for; others answer 403 `HostNotAllowed`. Set it when the API is reached
   * by name, against DNS rebinding: a site whose name is made to resolve to the API's
   * address would otherwise read it (and, with an `authorize` hook that trusts the
   * network, write to it) from a browser behind the firewall. @default any host
   */
  allowedHosts?: readonly string[];
}

/** The management API: request listeners to mount where you choose. */
export interface AdminApi {
  /** A `node:http` request listener; paths outside the API, the metrics and the dashboard answer 404 `PathNotFound`. */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Connect/Express middleware; paths outside the API, the metrics and the dashboard go to `next()`. */
  readonly middleware: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
  /** The metrics served at `/metrics`, if any. */
  readonly metrics: AdminMetrics | undefined;
  /** Stops counting traffic on `servers`. */
  close(): void;
}

/** The API versions served: NGINX Plus 8 and 9. */
export const API_VERSIONS: readonly number[] = [8, 9];

const KEYS = [
  'upstreams',
  'caches',
  'limits',
  'auth',
  'prefix',
  'servers',
  'stats',
  'metrics',
  'version',
  'build',
  'now',
  'requestId',
  'maxBodyBytes',
  'trustedOrigins',
  'allowedHosts',
] as const;

const WRITES = new Set(['POST', 'PATCH', 'DELETE']);

/**
 * The live stats and management API in the shape of the NGINX Plus API, versions 8 and 9,
 * so tools written for it work unchanged: `GET /api/` lists the versions, and
 * `/api/9/http/upstreams[/{name}[/servers[/{id}]]]` reads and changes upstream groups;
 * `/api/9/http/caches[/{name}]`, `/api/9/http/limit_reqs[/{zone}]` and
 * `/api/9/http/limit_conns[/{zone}]` read the cache and limit zones it is given (`DELETE`
 * on a zone zeroes its counters); `/metrics` serves the Prometheus `metrics` it is given,
 * if any, and `/dashboard` a live dashboard page that reads the API every second and, for
 * a user allowed to write, drains, marks down or reweights servers. Reads are open;
 * writes need `auth` (a bearer token compared in constant time, or a hook) and are
 * refused without it.
 *
 * Server ids: configuration order (primaries, then backups), then each added server takes
 * the next number; ids are not reused.
 *
 * Differs from NGINX Plus: no `fields` argument, `/license`, keyvals, server and location
 * zones, stream limits, TLS or `service` data (those endpoints answer valid empty
 * objects); `keepalive` is 0; writes are authorised by `auth`, not by nginx's `api
 * write=on` plus `allow`/`deny`; a group keeps at least one server; `drain: false` ends
 * draining.
 *
 * @example
 * ```ts
 * import { createMetrics } from '@switchyard/core/metrics'; // needs prom-client
 *
 * const traffic = countTraffic([server]);
 * const admin = createAdminApi({
 *   upstreams: proxy, // every group proxy.groups() gives, read on each request
 *   auth: { token: process.env.ADMIN_TOKEN },
 *   stats: traffic,
 *   metrics: createMetrics({ upstreams: proxy, stats: traffic }), // for /metrics
 * });
 * http.createServer(admin.handler).listen(8081, '127.0.0.1');
 * // curl -X PATCH -H "Authorization: Bearer $ADMIN_TOKEN" \
 * //   -d '{"drain":true}' http://127.0.0.1:8081/api/9/http/upstreams/app/servers/0
 * // open http://127.0.0.1:8081/dashboard
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html
 */
export function createAdminApi(options: AdminApiOptions): AdminApi {
  const o = objectAt('options', options);
  knownKeys('', o, KEYS);
  const groups = groupsAt('upstreams', o.upstreams);
  const caches = cacheMap('caches', o.caches);
  const limits = limitsAt('limits', o.limits);
  const gate: Gate = gateAt(o.auth, o.trustedOrigins, o.allowedHosts);
  const prefix = o.prefix === undefined ? '' : stringAt('prefix', o.prefix);
  if (prefix !== '' && (!prefix.startsWith('/') || prefix.endsWith('/'))) {
    throw new InvalidOptionError('prefix', 'a path like "/admin" (a leading slash, no trailing one)', prefix);
  }
  const traffic = trafficFrom(o.servers, o.stats);
  for (const k of ['now', 'requestId'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'function') throw new InvalidOptionError(k, 'a function', o[k]);
  }
  const now = (o.now as (() => number) | undefined) ?? Date.now;
  const requestId = (o.requestId as (() => string) | undefined) ?? (() => randomBytes(16).toString('hex'));
  const cx: AdminContext = {
    groups,
    caches,
    limits,
    stats: traffic.stats,
    nginxVersion: o.version === undefined ? process.versions.node : stringAt('version', o.version),
    build: o.build === undefined ? 'switchyard' : stringAt('build', o.build),
    now,
    loadedAt: now(),
    maxBodyBytes: intAt('maxBodyBytes', o.maxBodyBytes, 65_536, 1),
  };
  const metrics = o.metrics === undefined ? undefined : metricsAt('metrics', o.metrics);

  /** Answers a request under the prefix; `false` when the path is not the API's. */
  function dispatch(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q === -1 ? url : url.slice(0, q);
    if (prefix !== '') {
      if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
      path = path.slice(prefix.length);
    }
    if (!hostAllowed(gate, req)) {
      sendError(res, new ApiError('HostNotAllowed'), requestId());
      return true;
    }
    if (path === '/metrics') {
      if (metrics === undefined) return false;
      void serveMetrics(req, res, metrics);
      return true;
    }
    if (DASHBOARD_PATHS.has(path)) {
      serveDashboard(req, res);
      return true;
    }
    if (path !== '/api' && !path.startsWith('/api/')) return false;
    void serveApi(req, res, path.slice(4));
    return true;
  }

  async function serveMetrics(req: IncomingMessage, res: ServerResponse, m: AdminMetrics): Promise<void> {
    const id = requestId();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, methodNotSupported(['GET', 'HEAD']), id);
      return;
    }
    try {
      const text = await m.metrics();
      res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    } catch {
      sendError(res, new ApiError('InternalError', 'metrics collection failed'), id);
    }
  }

  /**
   * The live dashboard (NGINX Plus serves its own at `/dashboard.html`): a static page that
   * reads the API beside it, so it shows nothing the open reads do not.
   */
  function serveDashboard(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(res, methodNotSupported(['GET', 'HEAD']), requestId());
      return;
    }
    res.writeHead(200, DASHBOARD_HEADERS);
    res.end(req.method === 'HEAD' ? undefined : DASHBOARD_HTML);
  }

  async function serveApi(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const id = requestId();
    try {
      const result = await answer(req, path);
      if (result instanceof ApiError) sendError(res, result, id);
      else sendJson(res, result.status, result.body);
    } catch {
      sendError(res, new ApiError('InternalError'), id);
    }
  }

  async function answer(req: IncomingMessage, path: string): Promise<Result> {
    let segs: string[];
    try {
      segs = path
        .split('/')
        .filter((s) => s !== '')
        .map((s) => decodeURIComponent(s));
    } catch {
      return pathNotFound();
    }
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    let route: Route | ApiError;
    if (segs.length === 0) {
      route = { GET: () => ok(API_VERSIONS) };
    } else {
      const v = segs[0] as string;
      if (!/^\d+$/.test(v) || !API_VERSIONS.includes(Number(v))) return unknownVersion();
      route = findRoute(cx, Number(v), segs.slice(1));
    }
    if (route instanceof ApiError) {
      // A missing resource is missing for every method, but writes still need authority.
      if (WRITES.has(method) && route.status === 404) {
        const denied = await writeDenied(gate, req);
        if (denied !== undefined) return denied;
      }
      return route;
    }
    const action = route[method as keyof Route];
    if (action === undefined) {
      return methodNotSupported(Object.keys(route).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])));
    }
    if (WRITES.has(method)) {
      const denied = await writeDenied(gate, req);
      if (denied !== undefined) return denied;
    }
    return action(req);
  }

  function handler(req: IncomingMessage, res: ServerResponse): void {
    if (!dispatch(req, res)) sendError(res, pathNotFound(), requestId());
  }

  function middleware(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void {
    if (!dispatch(req, res)) next();
  }

  return {
    handler,
    middleware,
    metrics,
    close() {
      traffic.counter?.close();
    },
  };
}

/** Checks the `metrics` option by the members served, so any copy of core's metrics passes. */
function metricsAt(path: string, value: unknown): AdminMetrics {
  if (!isObject(value) || typeof value.metrics !== 'function' || typeof value.contentType !== 'string') {
    throw new InvalidOptionError(
      path,
      'a Metrics object from createMetrics() of @switchyard/core/metrics',
      value,
    );
  }
  return value as unknown as AdminMetrics;
}
