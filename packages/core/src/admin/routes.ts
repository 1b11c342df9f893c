import type { IncomingMessage } from 'node:http';
import type { LimitTable, LimitZoneEntry } from '../stats/limits.js';
import type { Groups } from '../stats/track.js';
import type { CacheZone, TrafficStats } from '../stats/types.js';
import { type AdminErrorCode, ApiError, pathNotFound } from './errors.js';
import { cacheJson, upstreamJson } from './json.js';
import { noContent, ok, type Reply, type Route } from './reply.js';
import { upstreamRoute } from './upstreams.js';

/** What the routes read and change: one admin API's checked options. */
export interface AdminContext {
  readonly groups: Groups;
  readonly caches: ReadonlyMap<string, CacheZone>;
  readonly limits: LimitTable;
  readonly stats: TrafficStats;
  /** `/nginx` `version` and `build`. */
  readonly nginxVersion: string;
  readonly build: string;
  readonly now: () => number;
  /** When the API was built (`/nginx` `load_timestamp`), ms. */
  readonly loadedAt: number;
  readonly maxBodyBytes: number;
}

/** Where a path matched a {@link RouteEntry}. */
interface Match {
  /** The API version asked for. */
  readonly version: number;
  /** The segments in the `{…}` places, in order. */
  readonly params: readonly string[];
  /** The segments a final `**` took (none included). */
  readonly rest: readonly string[];
}

/** One path of the API and how to answer it. */
interface RouteEntry {
  /**
   * The segments after `/api/{version}/`: a name, `{name}` for any one segment, or a last
   * `**` for any further segments (none included). The first entry that matches answers.
   */
  readonly path: string;
  /** The first API version that has the path. @default 8 */
  readonly since?: number;
  /** The route for a match: its methods, or the error every method answers. */
  readonly route: (cx: AdminContext, m: Match) => Route | ApiError;
}

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

/** Collections switchyard has nothing in: `{}`, and a named item (at any depth) is this 404. */
const EMPTY: Readonly<Record<string, AdminErrorCode>> = {
  slabs: 'SlabNotFound',
  resolvers: 'ResolverZoneNotFound',
  'http/server_zones': 'ServerZoneNotFound',
  'http/location_zones': 'LocationZoneNotFound',
  'http/keyvals': 'KeyvalNotFound',
  'stream/server_zones': 'ServerZoneNotFound',
  'stream/limit_conns': 'LimitConnNotFound',
  'stream/keyvals': 'KeyvalNotFound',
  'stream/upstreams': 'UpstreamNotFound',
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

/** A read-only route answering `body`. */
const read = (body: unknown): Route => ({ GET: () => ok(body) });

/**
 * The API's paths, in NGINX Plus's tree. `DELETE` on a statistics path zeroes it (204),
 * where its source can.
 */
const ROUTES: readonly RouteEntry[] = [
  { path: '', route: (_, m) => read(m.version === 9 ? ROOT_9 : ROOT_8) },
  { path: 'nginx', route: nginx },
  { path: 'processes', route: () => ({ GET: () => ok({ respawned: 0 }), DELETE: () => noContent }) },
  {
    path: 'connections',
    route: ({ stats }) => ({
      GET: () => ok(stats.connections()),
      DELETE: () => {
        stats.resetConnections?.();
        return noContent;
      },
    }),
  },
  { path: 'ssl', route: () => ({ GET: () => ok(SSL), DELETE: () => noContent }) },
  { path: 'workers', since: 9, route: (cx) => ({ GET: () => ok([worker(cx)]), DELETE: resetTraffic(cx) }) },
  {
    path: 'workers/{id}',
    since: 9,
    route: (cx, m) =>
      m.params[0] === '0'
        ? { GET: () => ok(worker(cx)), DELETE: resetTraffic(cx) }
        : new ApiError('WorkerNotFound'),
  },
  { path: 'http', route: () => read(HTTP) },
  {
    path: 'http/requests',
    route: ({ stats }) => ({
      GET: () => ok(stats.requests()),
      DELETE: () => {
        stats.resetRequests?.();
        return noContent;
      },
    }),
  },
  {
    path: 'http/upstreams',
    route: ({ groups }) => ({
      GET: () => ok(mapJson(groups(), (t, name) => upstreamJson(t, name))),
    }),
  },
  {
    path: 'http/upstreams/{name}/**',
    route: (cx, m) => {
      const name = m.params[0] as string;
      return upstreamRoute(cx.groups().get(name), [name, ...m.rest], cx.maxBodyBytes);
    },
  },
  { path: 'http/caches', route: ({ caches }) => ({ GET: () => ok(mapJson(caches, cacheJson)) }) },
  { path: 'http/caches/{name}', route: (cx, m) => cacheRoute(cx.caches.get(m.params[0] as string)) },
  { path: 'http/caches/{name}/keys', route: (cx, m) => purgeRoute(cx.caches.get(m.params[0] as string)) },
  { path: 'http/limit_reqs', route: ({ limits }) => zonesRoute(limits.reqs) },
  {
    path: 'http/limit_reqs/{zone}',
    route: ({ limits }, m) => zoneRoute(limits.reqs().get(m.params[0] as string), 'LimitReqNotFound'),
  },
  { path: 'http/limit_conns', route: ({ limits }) => zonesRoute(limits.conns) },
  {
    path: 'http/limit_conns/{zone}',
    route: ({ limits }, m) => zoneRoute(limits.conns().get(m.params[0] as string), 'LimitConnNotFound'),
  },
  { path: 'stream', route: () => read(STREAM) },
  ...Object.entries(EMPTY).flatMap(([path, code]): RouteEntry[] => [
    { path, route: () => read({}) },
    { path: `${path}/{item}/**`, route: () => new ApiError(code) },
  ]),
];

/** {@link ROUTES} with their paths split once, when the module loads. */
const TABLE = ROUTES.map((r) => ({ ...r, segs: r.path === '' ? [] : r.path.split('/') }));

/**
 * The route of `segs` (decoded, after `/api/{version}/`): the first entry of the table
 * that matches, or 404 `PathNotFound`.
 */
export function findRoute(cx: AdminContext, version: number, segs: readonly string[]): Route | ApiError {
  for (const entry of TABLE) {
    if (version < (entry.since ?? 8)) continue;
    const params: string[] = [];
    let i = 0;
    let matched = true;
    for (; i < entry.segs.length; i++) {
      const want = entry.segs[i] as string;
      if (want === '**') break;
      const seg = segs[i];
      if (seg === undefined) {
        matched = false;
        break;
      }
      if (want.startsWith('{')) params.push(seg);
      else if (want !== seg) {
        matched = false;
        break;
      }
    }
    if (!matched) continue;
    const rest = segs.slice(i);
    if (i === entry.segs.length && rest.length > 0) continue;
    return entry.route(cx, { version, params, rest });
  }
  return pathNotFound();
}

function nginx(cx: AdminContext): Route {
  return {
    GET: (req: IncomingMessage) =>
      ok({
        version: cx.nginxVersion,
        build: cx.build,
        address: req.socket.localAddress ?? '',
        generation: 0,
        load_timestamp: new Date(cx.loadedAt).toISOString(),
        timestamp: new Date(cx.now()).toISOString(),
        pid: process.pid,
        ppid: process.ppid,
      }),
  };
}

/** The one worker switchyard reports: this process. */
function worker({ stats }: AdminContext) {
  return { id: 0, pid: process.pid, connections: stats.connections(), http: { requests: stats.requests() } };
}

function resetTraffic({ stats }: AdminContext): () => Reply {
  return () => {
    stats.resetConnections?.();
    stats.resetRequests?.();
    return noContent;
  };
}

/** A map as a JSON object, each value as `json` gives it. */
function mapJson<T>(map: ReadonlyMap<string, T>, json: (value: T, name: string) => unknown) {
  const all: Record<string, unknown> = {};
  for (const [name, value] of map) all[name] = json(value, name);
  return all;
}

function cacheRoute(zone: CacheZone | undefined): Route | ApiError {
  if (zone === undefined) return new ApiError('CacheNotFound');
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
 * Purge, beyond the NGINX Plus API (nginx has `proxy_cache_purge` for this):
 * `DELETE …/caches/{name}/keys?key=/path` (or `?key=/prefix*`, or `?tag=t`) → `{ purged }`.
 */
function purgeRoute(zone: CacheZone | undefined): Route | ApiError {
  if (zone === undefined) return new ApiError('CacheNotFound');
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
      return new ApiError('CacheBadPurge');
    },
  };
}

/** `/http/limit_reqs` or `/http/limit_conns`: every zone's counts, by name. */
function zonesRoute(zones: () => ReadonlyMap<string, LimitZoneEntry<unknown>>): Route {
  return { GET: () => ok(mapJson(zones(), (z) => z.counts)) };
}

/** One limit zone, whose `DELETE` zeroes it (204) when its source can reset, as a cache zone's does. */
function zoneRoute(
  zone: LimitZoneEntry<unknown> | undefined,
  missing: 'LimitReqNotFound' | 'LimitConnNotFound',
): Route | ApiError {
  // NGINX Plus's codes for an unknown zone (its API's 404 for these paths).
  if (zone === undefined) return new ApiError(missing);
  const route: Route = { GET: () => ok(zone.counts) };
  const reset = zone.reset;
  if (reset !== undefined) {
    route.DELETE = () => {
      reset();
      return noContent;
    };
  }
  return route;
}
