import type { PeerView } from '@switchyard/balancers';
import { boolAt, intAt, isObject, knownKeys, stringAt } from '../config/validate.js';
import { InvalidOptionError } from '../errors.js';

/**
 * A peer's state, as NGINX Plus reports it.
 * - `up`: takes requests; `down`: switched off by configuration or the API;
 * - `unavail`: `maxFails` failures within `failTimeoutMs` (passive health);
 * - `unhealthy`: failed its active health checks; `checking`: new, waiting for its first check;
 * - `draining`: takes only requests bound to it by session persistence.
 */
export type PeerState = 'up' | 'down' | 'unavail' | 'unhealthy' | 'checking' | 'draining';

/** One upstream server, as written in an `upstream` block. */
export interface ServerOptions {
  /** `http://host:port`; the peer's id is `host:port` as written (port 80 when omitted). */
  url: string;
  /** nginx `weight`. @default 1 */
  weight?: number;
  /** nginx `max_conns`: requests in flight at most; 0 = no limit. @default 0 */
  maxConns?: number;
  /** nginx `max_fails`: failures within `failTimeoutMs` that make the peer unavailable; 0 disables. @default 1 */
  maxFails?: number;
  /** nginx `fail_timeout`: the window for `maxFails`, and how long the peer then rests. @default 10000 */
  failTimeoutMs?: number;
  /** nginx `backup`: used only when no primary peer can take the request. @default false */
  backup?: boolean;
  /** nginx `down`: never used. @default false */
  down?: boolean;
  /** nginx `route`: the route id that `stickyRoute` matches. */
  route?: string;
  /**
   * NGINX Plus `slow_start`: after the peer comes back, its weight ramps up from 0 over
   * this many ms (round robin, least_conn, least_time). @default 0
   */
  slowStartMs?: number;
}

/** A server given as its URL alone, or with parameters. */
export type ServerConfig = string | ServerOptions;

/** The parameters that may change at run time (NGINX Plus API `PATCH`). */
export interface PeerPatch {
  /** New `weight`. */
  weight?: number;
  /** New `max_conns`. */
  maxConns?: number;
  /** New `max_fails`. */
  maxFails?: number;
  /** New `fail_timeout`, in ms. */
  failTimeoutMs?: number;
  /** Switch the peer off (`true`) or back on. */
  down?: boolean;
  /** New `route`. */
  route?: string;
  /** New `slow_start`, in ms. */
  slowStartMs?: number;
}

/** Active health-check counters of a peer, as in the NGINX Plus API. */
export interface HealthCheckCounts {
  /** Checks made. */
  checks: number;
  /** Checks failed. */
  fails: number;
  /** Times the peer became unhealthy. */
  unhealthy: number;
  /** Whether the last check passed; `undefined` before the first. */
  lastPassed: boolean | undefined;
}

/** Responses by status class, as in the NGINX Plus API. */
export interface ResponseCounts {
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
  /** All responses. */
  total: number;
  /** Count per status code. */
  codes: Record<number, number>;
}

const SERVER_KEYS = [
  'url',
  'weight',
  'maxConns',
  'maxFails',
  'failTimeoutMs',
  'backup',
  'down',
  'route',
  'slowStartMs',
] as const;
const PATCH_KEYS = [
  'weight',
  'maxConns',
  'maxFails',
  'failTimeoutMs',
  'down',
  'route',
  'slowStartMs',
] as const;

/** Moving averages weigh the newest sample by 1/8, like a TCP RTT estimate. */
const EWMA_SHIFT = 1 / 8;

/**
 * The live object for one upstream server: parameters, passive-health bookkeeping and
 * counters. It is a {@link PeerView}, so strategies read it directly.
 */
export class Peer implements PeerView {
  /** `host:port` as configured. */
  readonly id: string;
  /** The origin requests go to, `http://host:port`. */
  readonly origin: string;
  /** `host:port`, for a `Host` header naming the peer. */
  readonly hostHeader: string;
  /** nginx `backup`: used only when no primary can take the request. */
  readonly backup: boolean;
  /** nginx `weight`. */
  weight: number;
  /** nginx `max_conns`; 0 = no limit. */
  maxConns: number;
  /** nginx `max_fails`; 0 disables passive health. */
  maxFails: number;
  /** nginx `fail_timeout`, in ms. */
  failTimeoutMs: number;
  /** nginx `route`, for `stickyRoute`. */
  route: string | undefined;
  /** NGINX Plus `slow_start`, in ms; 0 = none. */
  slowStartMs: number;
  /**
   * When the peer last came back (down → up, healthy again, or a successful probe after
   * resting), ms; `undefined` until then, so slow start applies only to a return.
   */
  upSince: number | undefined = undefined;

  /** Whether strategies may hand this peer a new, unbound request; refreshed on each selection. */
  available = true;
  /** Requests in flight. */
  active = 0;
  /** Moving average of the time to the response head, in ms. */
  headerTimeMs = 0;
  /** Moving average of the time to the last byte, in ms. */
  responseTimeMs = 0;

  /** Requests sent to this peer (NGINX Plus `requests`). */
  requests = 0;
  /** Failed attempts counted for passive health, all time (NGINX Plus `fails`). */
  failsTotal = 0;
  /** Times the peer became unavailable through passive health (NGINX Plus `unavail`). */
  unavailCount = 0;
  /** Request bytes sent to the peer (headers estimated, bodies when their length is known). */
  sent = 0;
  /** Response body bytes received from the peer. */
  received = 0;
  /** When the peer was last selected, ms since the epoch (0 = never). */
  selected = 0;
  /** Responses by status class and code (NGINX Plus `responses`). */
  readonly responses: ResponseCounts = {
    '1xx': 0,
    '2xx': 0,
    '3xx': 0,
    '4xx': 0,
    '5xx': 0,
    total: 0,
    codes: {},
  };

  /** Configured `down`, or set through the API. */
  down: boolean;
  /** Set by active health checks. */
  unhealthy = false;
  /** Active health-check counters (NGINX Plus `health_checks`). */
  readonly healthChecks: HealthCheckCounts = { checks: 0, fails: 0, unhealthy: 0, lastPassed: undefined };
  /** Set by active health checks for a new peer until its first check passes. */
  checking = false;
  /** Set by `Upstream.drain`. */
  draining = false;

  /** nginx's `fails`: failures since the peer last recovered. */
  fails = 0;
  /** nginx's `accessed`: time of the last failure. */
  accessed = 0;
  /** nginx's `checked`: time of the last failure, or of the last probe after `failTimeoutMs`. */
  checked = 0;
  /** This peer was picked to probe whether it recovered, after resting `failTimeoutMs`. */
  probing = false;

  constructor(config: ServerConfig, path = 'server') {
    const o: ServerOptions = typeof config === 'string' ? { url: config } : parseServer(config, path);
    const url = parseUrl(`${path}${typeof config === 'string' ? '' : '.url'}`, o.url);
    this.id = url.id;
    this.origin = url.origin;
    this.hostHeader = url.id;
    this.weight = intAt(`${path}.weight`, o.weight, 1, 1);
    this.maxConns = intAt(`${path}.maxConns`, o.maxConns, 0, 0);
    this.maxFails = intAt(`${path}.maxFails`, o.maxFails, 1, 0);
    this.failTimeoutMs = intAt(`${path}.failTimeoutMs`, o.failTimeoutMs, 10_000, 1);
    this.backup = boolAt(`${path}.backup`, o.backup, false);
    this.down = boolAt(`${path}.down`, o.down, false);
    this.route = o.route === undefined ? undefined : stringAt(`${path}.route`, o.route);
    this.slowStartMs = intAt(`${path}.slowStartMs`, o.slowStartMs, 0, 0);
  }

  /** The state as NGINX Plus reports it, at time `now`. */
  stateAt(now: number): PeerState {
    if (this.down) return 'down';
    if (this.draining) return 'draining';
    if (this.checking) return 'checking';
    if (this.unhealthy) return 'unhealthy';
    if (this.failedAt(now)) return 'unavail';
    return 'up';
  }

  /** nginx: `max_fails && fails >= max_fails && now - checked <= fail_timeout`. */
  failedAt(now: number): boolean {
    return this.maxFails !== 0 && this.fails >= this.maxFails && now - this.checked <= this.failTimeoutMs;
  }

  /** Records a response's status in the counters. */
  countResponse(status: number): void {
    const r = this.responses;
    const cls = (status / 100) | 0;
    if (cls === 2) r['2xx']++;
    else if (cls === 3) r['3xx']++;
    else if (cls === 4) r['4xx']++;
    else if (cls === 5) r['5xx']++;
    else r['1xx']++;
    r.total++;
    r.codes[status] = (r.codes[status] ?? 0) + 1;
  }

  /** Folds one timing sample into the moving averages. */
  countTimes(headerMs: number, responseMs: number): void {
    if (this.headerTimeMs === 0) this.headerTimeMs = headerMs;
    else this.headerTimeMs += (headerMs - this.headerTimeMs) * EWMA_SHIFT;
    if (this.responseTimeMs === 0) this.responseTimeMs = responseMs;
    else this.responseTimeMs += (responseMs - this.responseTimeMs) * EWMA_SHIFT;
  }

  /** Applies a validated runtime change. */
  apply(patch: PeerPatch, path = 'patch'): void {
    if (!isObject(patch)) throw new InvalidOptionError(path, 'an object', patch);
    knownKeys(path, patch as Record<string, unknown>, PATCH_KEYS);
    const weight = intAt(`${path}.weight`, patch.weight, this.weight, 1);
    const maxConns = intAt(`${path}.maxConns`, patch.maxConns, this.maxConns, 0);
    const maxFails = intAt(`${path}.maxFails`, patch.maxFails, this.maxFails, 0);
    const failTimeoutMs = intAt(`${path}.failTimeoutMs`, patch.failTimeoutMs, this.failTimeoutMs, 1);
    const down = boolAt(`${path}.down`, patch.down, this.down);
    const route = patch.route === undefined ? this.route : stringAt(`${path}.route`, patch.route);
    const slowStartMs = intAt(`${path}.slowStartMs`, patch.slowStartMs, this.slowStartMs, 0);
    this.weight = weight;
    this.maxConns = maxConns;
    this.maxFails = maxFails;
    this.failTimeoutMs = failTimeoutMs;
    this.down = down;
    this.route = route;
    this.slowStartMs = slowStartMs;
  }
}

function parseServer(config: unknown, path: string): ServerOptions {
  if (!isObject(config)) throw new InvalidOptionError(path, 'a URL string or an object with url', config);
  knownKeys(path, config, SERVER_KEYS);
  return config as unknown as ServerOptions;
}

function parseUrl(path: string, raw: unknown): { id: string; origin: string } {
  if (typeof raw !== 'string') throw new InvalidOptionError(path, 'an http:// URL string', raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidOptionError(path, 'an http:// URL', raw);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidOptionError(path, 'an http:// or https:// URL', raw);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '') {
    throw new InvalidOptionError(path, 'a URL with no path, query or credentials (scheme://host:port)', raw);
  }
  const port = url.port === '' ? (url.protocol === 'https:' ? '443' : '80') : url.port;
  // The id keeps the host as written (nginx hashes the configured text), e.g. "127.0.0.1:9211".
  const id = `${url.hostname}:${port}`;
  return { id, origin: `${url.protocol}//${url.hostname}:${port}` };
}
