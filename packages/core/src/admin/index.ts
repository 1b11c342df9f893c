import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { intAt, isObject, knownKeys, objectAt, stringAt } from '../config/validate.js';
import { InvalidOptionError, PeerExistsError } from '../errors.js';
import { Peer, type PeerPatch } from '../peer/index.js';
import { limitsAt } from '../stats/limits.js';
import { cacheMap, groupsAt, type Tracking } from '../stats/track.js';
import { trafficFrom } from '../stats/traffic.js';
import type {
  AdminMetrics,
  CacheZone,
  LimitZones,
  TrafficStats,
  UpstreamList,
  UpstreamSource,
} from '../stats/types.js';
import type { Upstream } from '../upstream/index.js';
import { DASHBOARD_HEADERS, DASHBOARD_HTML, DASHBOARD_PATHS } from './dashboard/index.js';
import { cacheJson, serverJson, serversJson, upstreamJson } from './json.js';
import { parseServerBody, type ServerBody, serverOptions, serverUrl } from './params.js';
import {
  ApiError,
  badServerId,
  formatError,
  jsonError,
  methodDisabled,
  methodNotSupported,
  pathNotFound,
  sendError,
  sendJson,
  serverNotFound,
  unknownVersion,
  upstreamNotFound,
} from './responses.js';

export type { CacheJson, CacheWriteJson, PeerJson, ServerJson, UpstreamJson } from './json.js';
export type { AdminErrorBody } from './responses.js';

/** Who may write (`POST`, `PATCH`, `DELETE`). Reads are open. */
export interface AdminAuth {
  /** A bearer token: `Authorization: Bearer <token>` may write. Compared in constant time. */
  token?: string;
  /**
   * Decides for requests without the token (or for all, when there is no token): `true`
   * allows the write, `false` answers 403. A hook that throws counts as `false`.
   */
  authorize?: (req: IncomingMessage) => boolean | Promise<boolean>;
}

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

const ROOT_8 = ['nginx', 'processes', 'connections', 'slabs', 'http', 'stream', 'resolvers', 'ssl'];
/** Version 9 added `/workers` (and `/license`, which switchyard has no data for). */
const ROOT_9 = [...ROOT_8, 'workers'];
const HTTP = [
  'requests',
  'server_zones',
  'location_zones',
  'caches',
  'limit_conns',
  'limit_reqs',
  'keyvals',
  'upstreams',
];
const STREAM = ['server_zones', 'limit_conns', 'keyvals', 'upstreams'];

/** Collections switchyard has nothing in: `{}`, and a named item is this 404. */
const EMPTY: Record<string, readonly [code: string, text: string]> = {
  slabs: ['SlabNotFound', 'slab not found'],
  resolvers: ['ResolverZoneNotFound', 'resolver zone not found'],
  'http/server_zones': ['ServerZoneNotFound', 'server zone not found'],
  'http/location_zones': ['LocationZoneNotFound', 'location zone not found'],
  'http/keyvals': ['KeyvalNotFound', 'keyval not found'],
  'stream/server_zones': ['ServerZoneNotFound', 'server zone not found'],
  'stream/limit_conns': ['LimitConnNotFound', 'limit_conn not found'],
  'stream/keyvals': ['KeyvalNotFound', 'keyval not found'],
  'stream/upstreams': ['UpstreamNotFound', 'upstream not found'],
};

const SSL = {
  handshakes: 0,
  handshakes_failed: 0,
  session_reuses: 0,
  no_common_protocol: 0,
  no_common_cipher: 0,
  handshake_timeout: 0,
  peer_rejected_cert: 0,
  verify_failures: { no_cert: 0, expired_cert: 0, revoked_cert: 0, hostname_mismatch: 0, other: 0 },
};

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

/** `application/json`, or a JSON-based type such as `application/merge-patch+json`. */
const JSON_TYPE = /^\s*application\/(?:[\w.!#$&^-]+\+)?json\s*(?:;|$)/i;

/** A route's answer: a status and a JSON body (`undefined` = none). */
interface Reply {
  status: number;
  body?: unknown;
}
type Result = Reply | ApiError;
type Action = (req: IncomingMessage) => Result | Promise<Result>;
/** The methods a path supports. */
type Route = Partial<Record<'GET' | 'POST' | 'PATCH' | 'DELETE', Action>>;

const ok = (body: unknown): Reply => ({ status: 200, body });
const noContent: Reply = { status: 204 };

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
  const auth = parseAuth(o.auth);
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
  const nginxVersion = o.version === undefined ? process.versions.node : stringAt('version', o.version);
  const build = o.build === undefined ? 'switchyard' : stringAt('build', o.build);
  const maxBodyBytes = intAt('maxBodyBytes', o.maxBodyBytes, 65_536, 1);
  const metrics = o.metrics === undefined ? undefined : metricsAt('metrics', o.metrics);
  const trustedOrigins = new Set(stringsAt('trustedOrigins', o.trustedOrigins).map(originAt));
  const allowedHosts =
    o.allowedHosts === undefined
      ? undefined
      : new Set(stringsAt('allowedHosts', o.allowedHosts).map((h) => h.toLowerCase()));
  const loadedAt = now();
  const stats = traffic.stats;

  // ---- reads and writes, by path -------------------------------------------------------

  const connections = () => stats.connections();
  const requests = () => stats.requests();
  const worker = () => ({
    id: 0,
    pid: process.pid,
    connections: connections(),
    http: { requests: requests() },
  });
  const resetTraffic = (): Reply => {
    stats.resetConnections?.();
    stats.resetRequests?.();
    return noContent;
  };

  function upstreamRoute(segs: readonly string[]): Route | ApiError {
    const name = segs[0] as string;
    const t = groups().get(name);
    if (t === undefined) return upstreamNotFound();
    const up = t.upstream;
    if (segs.length === 1) {
      return {
        GET: () => ok(upstreamJson(t, name)),
        DELETE: () => {
          up.resetStats();
          for (const p of up.peers) t.resetDowntime(p);
          return noContent;
        },
      };
    }
    if (segs[1] !== 'servers' || segs.length > 3) return pathNotFound();
    if (segs.length === 2) {
      return {
        GET: () => ok(serversJson(t, up)),
        POST: async (req) => {
          const body = await readObject(req, maxBodyBytes);
          if (body instanceof ApiError) return body;
          return addServer(t, body);
        },
      };
    }
    const idText = segs[2] as string;
    const find = (): Peer | ApiError => {
      if (!/^\d{1,15}$/.test(idText)) return badServerId();
      return t.byId(Number(idText)) ?? serverNotFound(idText);
    };
    return {
      GET: () => {
        const peer = find();
        return peer instanceof ApiError ? peer : ok(serverJson(t, peer));
      },
      PATCH: async (req) => {
        const peer = find();
        if (peer instanceof ApiError) return peer;
        const body = await readObject(req, maxBodyBytes);
        if (body instanceof ApiError) return body;
        return patchServer(t, peer, body);
      },
      DELETE: () => {
        const peer = find();
        if (peer instanceof ApiError) return peer;
        try {
          up.remove(peer.id);
        } catch (err) {
          if (!(err instanceof InvalidOptionError)) throw err;
          // switchyard keeps at least one server in a group.
          return new ApiError(400, 'UpstreamServerImmutable', `server "${idText}" not removable`);
        }
        return ok(serversJson(t, up));
      },
    };
  }

  function cacheRoute(name: string): Route | ApiError {
    const zone = caches.get(name);
    if (zone === undefined) return new ApiError(404, 'CacheNotFound', 'cache not found');
    const route: Route = { GET: () => ok(cacheJson(zone)) };
    const reset = zone.resetStats;
    if (reset !== undefined) {
      route.DELETE = () => {
        reset.call(zone);
        return noContent;
      };
    }
    return route;
  }

  /**
   * `/http/limit_reqs[/{zone}]` and `/http/limit_conns[/{zone}]`: the collection, or one
   * zone, whose `DELETE` zeroes it (204) when its source can reset, as a cache zone's does.
   */
  function limitRoute(kind: 'limit_reqs' | 'limit_conns', zone: string | undefined): Route | ApiError {
    const read = kind === 'limit_reqs' ? limits.reqs : limits.conns;
    if (zone === undefined) {
      return {
        GET: () => {
          const all: Record<string, unknown> = {};
          for (const [name, z] of read()) all[name] = z.counts;
          return ok(all);
        },
      };
    }
    const found = read().get(zone);
    if (found === undefined) {
      // NGINX Plus's codes for an unknown zone (its API's 404 for these paths).
      return kind === 'limit_reqs'
        ? new ApiError(404, 'LimitReqNotFound', 'limit_req not found')
        : new ApiError(404, 'LimitConnNotFound', 'limit_conn not found');
    }
    const route: Route = { GET: () => ok(found.counts) };
    const reset = found.reset;
    if (reset !== undefined) {
      route.DELETE = () => {
        reset();
        return noContent;
      };
    }
    return route;
  }

  /**
   * Purge, beyond the NGINX Plus API (nginx has `proxy_cache_purge` for this):
   * `DELETE …/caches/{name}/keys?key=/path` (or `?key=/prefix*`, or `?tag=t`) → `{ purged }`.
   */
  function purgeRoute(name: string): Route | ApiError {
    const zone = caches.get(name);
    if (zone === undefined) return new ApiError(404, 'CacheNotFound', 'cache not found');
    return {
      DELETE: async (req) => {
        const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
        const key = query.get('key');
        const tag = query.get('tag');
        if (key !== null && key !== '' && zone.purge !== undefined) {
          return ok({ purged: await zone.purge.call(zone, key) });
        }
        if (tag !== null && tag !== '' && zone.purgeTag !== undefined) {
          return ok({ purged: await zone.purgeTag.call(zone, tag) });
        }
        return new ApiError(400, 'CacheBadPurge', 'give ?key=… (a key, or a prefix ending in *) or ?tag=…');
      },
    };
  }

  function resolve(version: number, segs: readonly string[], req: IncomingMessage): Route | ApiError {
    const [first, second] = segs;
    const n = segs.length;
    if (n === 0) return { GET: () => ok(version === 9 ? ROOT_9 : ROOT_8) };
    const rest = segs.slice(1);
    switch (first) {
      case 'nginx':
        if (n !== 1) break;
        return {
          GET: () =>
            ok({
              version: nginxVersion,
              build,
              address: req.socket.localAddress ?? '',
              generation: 0,
              load_timestamp: new Date(loadedAt).toISOString(),
              timestamp: new Date(now()).toISOString(),
              pid: process.pid,
              ppid: process.ppid,
            }),
        };
      case 'processes':
        if (n !== 1) break;
        return { GET: () => ok({ respawned: 0 }), DELETE: () => noContent };
      case 'connections':
        if (n !== 1) break;
        return {
          GET: () => ok(connections()),
          DELETE: () => {
            stats.resetConnections?.();
            return noContent;
          },
        };
      case 'ssl':
        if (n !== 1) break;
        return { GET: () => ok(SSL), DELETE: () => noContent };
      case 'workers':
        if (version < 9 || n > 2) break;
        if (n === 1) return { GET: () => ok([worker()]), DELETE: resetTraffic };
        if (second !== '0') return new ApiError(404, 'WorkerNotFound', 'worker not found');
        return { GET: () => ok(worker()), DELETE: resetTraffic };
      case 'http':
        if (n === 1) return { GET: () => ok(HTTP) };
        if (second === 'requests') {
          if (n !== 2) break;
          return {
            GET: () => ok(requests()),
            DELETE: () => {
              stats.resetRequests?.();
              return noContent;
            },
          };
        }
        if (second === 'upstreams') {
          if (n === 2) {
            return {
              GET: () => {
                const all: Record<string, unknown> = {};
                for (const [name, t] of groups()) all[name] = upstreamJson(t, name);
                return ok(all);
              },
            };
          }
          return upstreamRoute(segs.slice(2));
        }
        if (second === 'caches') {
          if (n === 2) {
            return {
              GET: () => {
                const all: Record<string, unknown> = {};
                for (const [name, zone] of caches) all[name] = cacheJson(zone);
                return ok(all);
              },
            };
          }
          if (n === 4 && segs[3] === 'keys') return purgeRoute(segs[2] as string);
          if (n !== 3) break;
          return cacheRoute(segs[2] as string);
        }
        if (second === 'limit_reqs' || second === 'limit_conns') {
          if (n > 3) break;
          return limitRoute(second, segs[2]);
        }
        return emptyRoute(`http/${second}`, rest.slice(1));
      case 'stream':
        if (n === 1) return { GET: () => ok(STREAM) };
        return emptyRoute(`stream/${second}`, rest.slice(1));
      default:
        if (first !== undefined) return emptyRoute(first, rest);
    }
    return pathNotFound();
  }

  // ---- the request listener ------------------------------------------------------------

  /** Answers a request under the prefix; `false` when the path is not the API's. */
  function dispatch(req: IncomingMessage, res: ServerResponse): boolean {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    let path = q === -1 ? url : url.slice(0, q);
    if (prefix !== '') {
      if (path !== prefix && !path.startsWith(`${prefix}/`)) return false;
      path = path.slice(prefix.length);
    }
    if (allowedHosts !== undefined && !allowedHosts.has(hostName(req.headers.host))) {
      sendError(res, new ApiError(403, 'HostNotAllowed', 'host not allowed'), requestId());
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
      sendError(res, new ApiError(500, 'InternalError', 'metrics collection failed'), id);
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
      sendError(res, new ApiError(500, 'InternalError', 'internal error'), id);
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
      route = resolve(Number(v), segs.slice(1), req);
    }
    if (route instanceof ApiError) {
      // A missing resource is missing for every method, but writes still need authority.
      if (WRITES.has(method) && route.status === 404) {
        const denied = await authorized(req);
        if (denied !== undefined) return denied;
      }
      return route;
    }
    const action = route[method as keyof Route];
    if (action === undefined) {
      return methodNotSupported(Object.keys(route).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m])));
    }
    if (WRITES.has(method)) {
      const denied = await authorized(req);
      if (denied !== undefined) return denied;
    }
    return action(req);
  }

  /** `undefined` when the request may write; else the error to answer. */
  async function authorized(req: IncomingMessage): Promise<ApiError | undefined> {
    if (auth === undefined) return methodDisabled();
    if (crossSite(req, trustedOrigins)) {
      return new ApiError(403, 'CrossSiteRequest', 'cross-site write refused');
    }
    const header = req.headers.authorization;
    const presented = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    if (auth.digest !== undefined && presented !== undefined) {
      // Equal-length digests, so neither the length nor the content leaks through timing.
      if (timingSafeEqual(sha256(presented), auth.digest)) return undefined;
    }
    if (auth.authorize !== undefined) {
      let allowed = false;
      try {
        allowed = (await auth.authorize(req)) === true;
      } catch {
        allowed = false;
      }
      return allowed ? undefined : new ApiError(403, 'Forbidden', 'forbidden');
    }
    const challenge =
      presented === undefined
        ? 'Bearer realm="switchyard"'
        : 'Bearer realm="switchyard", error="invalid_token"';
    return new ApiError(401, 'Unauthorized', 'unauthorized', { 'www-authenticate': challenge });
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

/**
 * Whether a browser sent this write from another site's page: `Sec-Fetch-Site` says so,
 * or `Origin` is neither the API's own (`Host`) nor trusted. Requests without either
 * header come from outside a browser (curl, scripts) and are left to `auth`.
 */
function crossSite(req: IncomingMessage, trusted: ReadonlySet<string>): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  if (trusted.has(origin.toLowerCase())) return false;
  const host = req.headers.host?.toLowerCase();
  const own = origin.toLowerCase().replace(/^https?:\/\//, '');
  // 'null' (a sandboxed frame, a file: page) and any other scheme are never the API's own.
  return host === undefined || !/^https?:\/\//i.test(origin) || own !== host;
}

/** The host name of a `Host` header, lowercased, without the port (IPv6 keeps its brackets). */
function hostName(host: string | undefined): string {
  if (host === undefined) return '';
  const h = host.toLowerCase();
  return h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d*$/, '');
}

/** A list of strings, or the error naming the option. */
function stringsAt(path: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) {
    throw new InvalidOptionError(path, 'a list of non-empty strings', v);
  }
  return v as string[];
}

/** An origin as browsers send it (`scheme://host[:port]`, lowercase), or the error naming it. */
function originAt(origin: string, i: number): string {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    throw new InvalidOptionError(`trustedOrigins[${i}]`, 'an origin like "https://ops.example.com"', origin);
  }
  if (u.origin === 'null' || u.origin !== origin.toLowerCase().replace(/\/$/, '')) {
    throw new InvalidOptionError(`trustedOrigins[${i}]`, 'an origin like "https://ops.example.com"', origin);
  }
  return u.origin;
}

/** A collection switchyard has nothing in: `{}`; any item in it is not found. */
function emptyRoute(key: string, rest: readonly string[]): Route | ApiError {
  // Own keys only: a path segment like `constructor` is not a collection.
  const missing = Object.hasOwn(EMPTY, key) ? EMPTY[key] : undefined;
  if (missing === undefined) return pathNotFound();
  if (rest.length === 0) return { GET: () => ok({}) };
  return new ApiError(404, missing[0], missing[1]);
}

interface ParsedAuth {
  digest: Buffer | undefined;
  authorize: AdminAuth['authorize'];
}

function parseAuth(value: unknown): ParsedAuth | undefined {
  if (value === undefined) return undefined;
  const a = objectAt('auth', value);
  knownKeys('auth', a, ['token', 'authorize']);
  if (a.token === undefined && a.authorize === undefined) {
    throw new InvalidOptionError('auth', 'a token or an authorize hook', value);
  }
  const token = a.token === undefined ? undefined : stringAt('auth.token', a.token);
  if (a.authorize !== undefined && typeof a.authorize !== 'function') {
    throw new InvalidOptionError('auth.authorize', 'a function', a.authorize);
  }
  return {
    digest: token === undefined ? undefined : sha256(token),
    authorize: a.authorize as AdminAuth['authorize'],
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

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Reads a JSON object body: NGINX Plus answers 415 `JsonError` to anything else. */
async function readObject(req: IncomingMessage, max: number): Promise<Record<string, unknown> | ApiError> {
  // JSON only: a browser can send text/plain or a form to another site without asking
  // first (no CORS preflight), but not application/json.
  if (!JSON_TYPE.test(req.headers['content-type'] ?? '')) {
    return new ApiError(415, 'UnsupportedMediaType', 'writes take Content-Type: application/json');
  }
  let value: unknown;
  const parsed = (req as { body?: unknown }).body;
  if (req.readableEnded && parsed !== undefined && !Buffer.isBuffer(parsed) && typeof parsed !== 'string') {
    // A body parser (express.json()) got there first.
    value = parsed;
  } else {
    let text: string;
    if (req.readableEnded) {
      text = Buffer.isBuffer(parsed) ? parsed.toString('utf8') : typeof parsed === 'string' ? parsed : '';
    } else {
      const read = await readBody(req, max);
      if (read instanceof ApiError) return read;
      text = read;
    }
    try {
      value = JSON.parse(text);
    } catch {
      return jsonError();
    }
  }
  return isObject(value) ? value : jsonError();
}

function readBody(req: IncomingMessage, max: number): Promise<string | ApiError> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > max) {
        done = true;
        // Read (and drop) the rest, so the connection can carry the answer.
        resolve(new ApiError(413, 'RequestEntityTooLarge', 'request entity too large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolve(Buffer.concat(chunks).toString('utf8'));
      done = true;
    });
    req.on('error', () => {
      if (!done) resolve(new ApiError(400, 'BodyReadError', 'reading request body failed'));
      done = true;
    });
  });
}

/** `POST …/servers`: adds a server (NGINX Plus answers 201 with its configuration). */
function addServer(t: Tracking, body: Record<string, unknown>): Result {
  const parsed = parseServerBody(body);
  if (parsed instanceof ApiError) return parsed;
  if (parsed.server === undefined) return formatError('missing "server" argument');
  const up = t.upstream;
  let peer: Peer;
  try {
    peer = up.add(serverOptions(parsed as ServerBody & { server: string }));
  } catch (err) {
    if (err instanceof PeerExistsError) return new ApiError(409, 'EntryExists', 'entry exists');
    if (err instanceof InvalidOptionError) {
      return new ApiError(400, 'UpstreamBadAddress', `invalid address "${parsed.server}"`);
    }
    throw err;
  }
  if (parsed.drain === true) up.drain(peer.id);
  return { status: 201, body: serverJson(t, peer) };
}

/** `PATCH …/servers/{id}`: changes parameters, drains, or undrains. */
function patchServer(t: Tracking, peer: Peer, body: Record<string, unknown>): Result {
  const parsed = parseServerBody(body);
  if (parsed instanceof ApiError) return parsed;
  const id = t.idOf(peer);
  if (parsed.id !== undefined && parsed.id !== id) return formatError('invalid "id" value');
  if (parsed.server !== undefined && peerIdOf(parsed.server) !== peer.id) {
    return new ApiError(400, 'UpstreamServerImmutable', `server "${id}" address is immutable`);
  }
  if (parsed.backup !== undefined && parsed.backup !== peer.backup) {
    return formatError('"backup" cannot be changed');
  }
  const up: Upstream = t.upstream;
  // `route: ""` clears the route; the upstream applies a patch whole or not at all.
  const patch: PeerPatch =
    parsed.clearRoute && peer.route !== undefined ? { ...parsed.patch, route: null } : parsed.patch;
  try {
    if (Object.keys(patch).length > 0) up.patch(peer.id, patch);
  } catch (err) {
    if (err instanceof InvalidOptionError) return formatError(err.message);
    throw err;
  }
  if (parsed.drain === true && !peer.draining) up.drain(peer.id);
  if (parsed.drain === false) up.undrain(peer.id);
  return ok(serverJson(t, peer));
}

/**
 * The id of the peer a `server` value names, as the upstream names it (`host:port`, or
 * `unix:/path` for a unix socket); `undefined` when it does not parse.
 */
function peerIdOf(server: string): string | undefined {
  try {
    return new Peer(serverUrl(server)).id;
  } catch {
    return undefined;
  }
}
