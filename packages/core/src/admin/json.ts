import type { Peer, PeerState } from '../peer/index.js';
import type { Tracking } from '../stats/track.js';
import type { CacheOutcome, CacheWriteOutcome, CacheZone } from '../stats/types.js';
import type { Upstream } from '../upstream/index.js';
import { formatTime } from './params.js';

/**
 * One server of an upstream with its statistics, as NGINX Plus API versions 8 and 9 show
 * it (`ssl` and `service` are absent: switchyard has no upstream TLS statistics and no
 * `service` servers).
 *
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#def_nginx_http_upstream
 */
export interface PeerJson {
  /** The server's id in the group (stable; not reused). */
  id: number;
  /** `host:port`. */
  server: string;
  /** `host:port` as configured (the same: switchyard does not resolve names). */
  name: string;
  /** A backup server. */
  backup: boolean;
  /** `weight`. */
  weight: number;
  /** `up`, `draining`, `down`, `unavail`, `checking` or `unhealthy`. */
  state: PeerState;
  /** Requests in flight. */
  active: number;
  /** `max_conns`; 0 = no limit. */
  max_conns: number;
  /** Requests sent to the server. */
  requests: number;
  /** Moving average of the time to the response head, ms, rounded. */
  header_time: number;
  /** Moving average of the time to the last byte, ms, rounded. */
  response_time: number;
  /** Responses by class and by status code. */
  responses: {
    /** Informational responses. */
    '1xx': number;
    /** Successful responses. */
    '2xx': number;
    /** Redirections. */
    '3xx': number;
    /** Client errors. */
    '4xx': number;
    /** Server errors. */
    '5xx': number;
    /** Count per status code, keyed by the code (`"200"`). */
    codes: Record<string, number>;
    /** All responses. */
    total: number;
  };
  /** Bytes sent to the server. */
  sent: number;
  /** Bytes received from it. */
  received: number;
  /** Failed attempts, all time. */
  fails: number;
  /** Times it became unavail (max_fails reached). */
  unavail: number;
  /** Active health checks; `last_passed` once a check ran. */
  health_checks: {
    /** Checks made. */
    checks: number;
    /** Checks failed. */
    fails: number;
    /** Times the server became unhealthy. */
    unhealthy: number;
    /** Whether the last check passed. */
    last_passed?: boolean;
  };
  /** Time spent unavail, checking or unhealthy, ms. */
  downtime: number;
  /** ISO 8601; present while the server is unavail, checking or unhealthy. */
  downstart?: string;
  /** ISO 8601; present once the server was selected. */
  selected?: string;
}

/** An upstream group with its servers, as NGINX Plus shows it. */
export interface UpstreamJson {
  /** The servers, primaries then backups. */
  peers: PeerJson[];
  /** Idle keep-alive connections: not visible from here, always 0. */
  keepalive: number;
  /** Removed servers with requests still in flight. */
  zombies: number;
  /** nginx's shared memory zone; switchyard shows the group's name. */
  zone: string;
}

/** A server's configuration, as NGINX Plus `…/servers` shows it. */
export interface ServerJson {
  /** The server's id. */
  id: number;
  /** `host:port`. */
  server: string;
  /** `weight`. */
  weight: number;
  /** `max_conns`. */
  max_conns: number;
  /** `max_fails`. */
  max_fails: number;
  /** `fail_timeout`, e.g. `10s`, or `1500ms` when not whole seconds. */
  fail_timeout: string;
  /** `slow_start`, e.g. `0s`. */
  slow_start: string;
  /** `route`; `""` when none. */
  route: string;
  /** `backup`. */
  backup: boolean;
  /** `down`. */
  down: boolean;
  /** Present (and `true`) while the server drains. */
  drain?: boolean;
}

/** The statistics of a cache zone, as NGINX Plus shows them. */
export interface CacheJson {
  /** Bytes in the cache. */
  size: number;
  /** `max_size`. */
  max_size: number;
  /** Still loading. */
  cold: boolean;
  /** Fresh hits. */
  hit: {
    /** Responses served. */
    responses: number;
    /** Bytes of those responses. */
    bytes: number;
  };
  /** Stale hits. */
  stale: {
    /** Responses served. */
    responses: number;
    /** Bytes of those responses. */
    bytes: number;
  };
  /** Served while updating. */
  updating: {
    /** Responses served. */
    responses: number;
    /** Bytes of those responses. */
    bytes: number;
  };
  /** Revalidated. */
  revalidated: {
    /** Responses served. */
    responses: number;
    /** Bytes of those responses. */
    bytes: number;
  };
  /** Misses. */
  miss: CacheWriteJson;
  /** Expired entries fetched again. */
  expired: CacheWriteJson;
  /** Bypassed. */
  bypass: CacheWriteJson;
}

/** An outcome that may write to the cache. */
export interface CacheWriteJson {
  /** Responses with this outcome. */
  responses: number;
  /** Bytes of those responses. */
  bytes: number;
  /** Responses written to the cache. */
  responses_written: number;
  /** Bytes written to the cache. */
  bytes_written: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** A peer and its statistics, as in `GET /http/upstreams/{name}` `peers`. */
export function peerJson(t: Tracking, peer: Peer): PeerJson {
  const s = peer.stats();
  const r = s.responses;
  const hc = s.healthChecks;
  const codes: Record<string, number> = {};
  for (const [code, n] of Object.entries(r.codes)) codes[code] = n;
  const healthChecks: PeerJson['health_checks'] = {
    checks: hc.checks,
    fails: hc.fails,
    unhealthy: hc.unhealthy,
  };
  if (hc.lastPassed !== undefined) healthChecks.last_passed = hc.lastPassed;
  const json: PeerJson = {
    id: t.idOf(peer),
    server: peer.id,
    name: peer.id,
    backup: peer.backup,
    weight: peer.weight,
    state: t.upstream.stateOf(peer),
    active: s.active,
    max_conns: peer.maxConns,
    requests: s.requests,
    header_time: Math.round(s.headerTimeMs),
    response_time: Math.round(s.responseTimeMs),
    responses: {
      '1xx': r['1xx'],
      '2xx': r['2xx'],
      '3xx': r['3xx'],
      '4xx': r['4xx'],
      '5xx': r['5xx'],
      codes,
      total: r.total,
    },
    sent: s.sent,
    received: s.received,
    fails: s.failsTotal,
    unavail: s.unavailCount,
    health_checks: healthChecks,
    downtime: t.downtimeOf(peer),
  };
  const downstart = t.downstartOf(peer);
  if (downstart !== 0) json.downstart = iso(downstart);
  if (s.selected !== 0) json.selected = iso(s.selected);
  return json;
}

/** An upstream group (`GET /http/upstreams/{name}`); brings down-time records up to date first. */
export function upstreamJson(t: Tracking, name: string): UpstreamJson {
  t.observeAll();
  return {
    peers: t.upstream.peers.map((p) => peerJson(t, p)),
    keepalive: 0,
    zombies: t.zombies(),
    zone: name,
  };
}

/** A server's configuration (`GET …/servers/{id}`). */
export function serverJson(t: Tracking, peer: Peer): ServerJson {
  const json: ServerJson = {
    id: t.idOf(peer),
    server: peer.id,
    weight: peer.weight,
    max_conns: peer.maxConns,
    max_fails: peer.maxFails,
    fail_timeout: formatTime(peer.failTimeoutMs),
    slow_start: formatTime(peer.slowStartMs),
    route: peer.route ?? '',
    backup: peer.backup,
    down: peer.down,
  };
  if (peer.draining) json.drain = true;
  return json;
}

/** Every server's configuration (`GET …/servers`). */
export function serversJson(t: Tracking, upstream: Upstream): ServerJson[] {
  return upstream.peers.map((p) => serverJson(t, p));
}

const outcome = (o: CacheOutcome | undefined) => ({ responses: o?.responses ?? 0, bytes: o?.bytes ?? 0 });
const written = (o: CacheWriteOutcome | undefined): CacheWriteJson => ({
  responses: o?.responses ?? 0,
  bytes: o?.bytes ?? 0,
  responses_written: o?.responsesWritten ?? 0,
  bytes_written: o?.bytesWritten ?? 0,
});

/** A cache zone's statistics (`GET /http/caches/{name}`); absent fields count as 0. */
export function cacheJson(zone: CacheZone): CacheJson {
  const s = zone.stats();
  return {
    size: s.size ?? 0,
    max_size: s.maxSize ?? 0,
    cold: s.cold ?? false,
    hit: outcome(s.hit),
    stale: outcome(s.stale),
    updating: outcome(s.updating),
    revalidated: outcome(s.revalidated),
    miss: written(s.miss),
    expired: written(s.expired),
    bypass: written(s.bypass),
  };
}
