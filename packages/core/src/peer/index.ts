import type { PeerView } from '@switchyard/balancers';
import { boolAt, intAt, isObject, knownKeys, stringAt } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import { PASSIVE_START, type PassiveHealth, passiveFailed } from './passive.js';

export type { PassiveEvent, PassiveHealth, PassiveLimits } from './passive.js';

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
  /**
   * `http://host:port` or `https://host:port`; the peer's id is `host:port` as written
   * (port 80, or 443 for https, when omitted). A unix-domain socket is written as nginx
   * writes it, `unix:/path/to/app.sock` (or `http://unix:/path/to/app.sock:`), and its id
   * is `unix:/path/to/app.sock`.
   */
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
  /** New `route`; `null` clears it. */
  route?: string | null;
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

/** A snapshot of a peer's counters, as the NGINX Plus API and the metrics show them. */
export interface PeerStats {
  /** Requests in flight. */
  active: number;
  /** Requests sent to the peer (NGINX Plus `requests`). */
  requests: number;
  /** Responses by status class and code (NGINX Plus `responses`). */
  responses: ResponseCounts;
  /** Request bytes sent to the peer (headers estimated, bodies when their length is known). */
  sent: number;
  /** Response body bytes received from the peer. */
  received: number;
  /** Failed attempts counted for passive health, all time (NGINX Plus `fails`). */
  failsTotal: number;
  /** Times the peer became unavailable through passive health (NGINX Plus `unavail`). */
  unavailCount: number;
  /** Active health-check counters (NGINX Plus `health_checks`). */
  healthChecks: HealthCheckCounts;
  /** Moving average of the time to the response head, in ms. */
  headerTimeMs: number;
  /** Moving average of the time to the last byte, in ms. */
  responseTimeMs: number;
  /** When the peer was last selected, ms since the epoch (0 = never). */
  selected: number;
}

/**
 * The mutable state of a peer. Only `Upstream` (and this module) write it, through
 * {@link peerFields}; everyone else reads the peer's getters and `stats()`.
 *
 * @internal
 */
export interface PeerFields {
  weight: number;
  maxConns: number;
  maxFails: number;
  failTimeoutMs: number;
  route: string | undefined;
  slowStartMs: number;
  down: boolean;
  upSince: number | undefined;
  available: boolean;
  active: number;
  headerTimeMs: number;
  responseTimeMs: number;
  requests: number;
  failsTotal: number;
  unavailCount: number;
  sent: number;
  received: number;
  selected: number;
  responses: ResponseCounts;
  unhealthy: boolean;
  checking: boolean;
  draining: boolean;
  healthChecks: HealthCheckCounts;
  /** Active health checks passed in a row. */
  checkPasses: number;
  /** Active health checks failed in a row. */
  checkFails: number;
  passive: PassiveHealth;
}

let fieldsOf: (peer: Peer) => PeerFields;

/**
 * The writable state of a peer: for `Upstream` only, which is its one writer.
 *
 * @internal
 */
export function peerFields(peer: Peer): PeerFields {
  return fieldsOf(peer);
}

const emptyResponses = (): ResponseCounts => ({
  '1xx': 0,
  '2xx': 0,
  '3xx': 0,
  '4xx': 0,
  '5xx': 0,
  total: 0,
  codes: {},
});

/**
 * The live object for one upstream server: its parameters, state and counters, read-only.
 * It is a {@link PeerView}, so strategies read it directly. Its state changes only inside
 * its `Upstream` (selection, `release`, `observeHealth`, `patch`, `drain`…).
 */
export class Peer implements PeerView {
  /** `host:port` as configured, or `unix:/path` for a unix-domain socket. */
  readonly id: string;
  /** The origin requests go to, `http://host:port`; `http://localhost` for a unix socket. */
  readonly origin: string;
  /** `host:port`, for a `Host` header naming the peer; `localhost` for a unix socket, as nginx sends. */
  readonly hostHeader: string;
  /** The path of a `unix:` peer's socket, which the proxy connects to; `undefined` for a TCP peer. */
  readonly socketPath: string | undefined;
  /** nginx `backup`: used only when no primary can take the request. */
  readonly backup: boolean;
  readonly #s: PeerFields;

  static {
    fieldsOf = (peer) => peer.#s;
  }

  constructor(config: ServerConfig, path = 'server') {
    const o: ServerOptions = typeof config === 'string' ? { url: config } : parseServer(config, path);
    const url = parseUrl(`${path}${typeof config === 'string' ? '' : '.url'}`, o.url);
    this.id = url.id;
    this.origin = url.origin;
    this.hostHeader = url.socketPath === undefined ? url.id : 'localhost';
    this.socketPath = url.socketPath;
    this.backup = boolAt(`${path}.backup`, o.backup, false);
    this.#s = {
      weight: intAt(`${path}.weight`, o.weight, 1, 1),
      maxConns: intAt(`${path}.maxConns`, o.maxConns, 0, 0),
      maxFails: intAt(`${path}.maxFails`, o.maxFails, 1, 0),
      failTimeoutMs: intAt(`${path}.failTimeoutMs`, o.failTimeoutMs, 10_000, 1),
      route: o.route === undefined ? undefined : stringAt(`${path}.route`, o.route),
      slowStartMs: intAt(`${path}.slowStartMs`, o.slowStartMs, 0, 0),
      down: boolAt(`${path}.down`, o.down, false),
      upSince: undefined,
      available: true,
      active: 0,
      headerTimeMs: 0,
      responseTimeMs: 0,
      requests: 0,
      failsTotal: 0,
      unavailCount: 0,
      sent: 0,
      received: 0,
      selected: 0,
      responses: emptyResponses(),
      unhealthy: false,
      checking: false,
      draining: false,
      healthChecks: { checks: 0, fails: 0, unhealthy: 0, lastPassed: undefined },
      checkPasses: 0,
      checkFails: 0,
      passive: PASSIVE_START,
    };
  }

  /** nginx `weight`. */
  get weight(): number {
    return this.#s.weight;
  }
  /** nginx `max_conns`; 0 = no limit. */
  get maxConns(): number {
    return this.#s.maxConns;
  }
  /** nginx `max_fails`; 0 disables passive health. */
  get maxFails(): number {
    return this.#s.maxFails;
  }
  /** nginx `fail_timeout`, in ms. */
  get failTimeoutMs(): number {
    return this.#s.failTimeoutMs;
  }
  /** nginx `route`, for `stickyRoute`. */
  get route(): string | undefined {
    return this.#s.route;
  }
  /** NGINX Plus `slow_start`, in ms; 0 = none. */
  get slowStartMs(): number {
    return this.#s.slowStartMs;
  }
  /** Configured `down`, or set through the API. */
  get down(): boolean {
    return this.#s.down;
  }
  /**
   * When the peer last came back (down → up, healthy again, or a successful probe after
   * resting), ms; `undefined` until then, so slow start applies only to a return.
   */
  get upSince(): number | undefined {
    return this.#s.upSince;
  }
  /** Whether strategies may hand this peer a new, unbound request; refreshed on each selection. */
  get available(): boolean {
    return this.#s.available;
  }
  /** Requests in flight. */
  get active(): number {
    return this.#s.active;
  }
  /** Moving average of the time to the response head, in ms. */
  get headerTimeMs(): number {
    return this.#s.headerTimeMs;
  }
  /** Moving average of the time to the last byte, in ms. */
  get responseTimeMs(): number {
    return this.#s.responseTimeMs;
  }
  /** Requests sent to this peer (NGINX Plus `requests`). */
  get requests(): number {
    return this.#s.requests;
  }
  /** Failed attempts counted for passive health, all time (NGINX Plus `fails`). */
  get failsTotal(): number {
    return this.#s.failsTotal;
  }
  /** Times the peer became unavailable through passive health (NGINX Plus `unavail`). */
  get unavailCount(): number {
    return this.#s.unavailCount;
  }
  /** Request bytes sent to the peer, counted when each attempt ends. */
  get sent(): number {
    return this.#s.sent;
  }
  /** Response body bytes received from the peer, counted when each attempt ends. */
  get received(): number {
    return this.#s.received;
  }
  /** When the peer was last selected, ms since the epoch (0 = never). */
  get selected(): number {
    return this.#s.selected;
  }
  /** Set by active health checks. */
  get unhealthy(): boolean {
    return this.#s.unhealthy;
  }
  /** Set by active health checks for a new peer until its first check passes. */
  get checking(): boolean {
    return this.#s.checking;
  }
  /** Set by `Upstream.drain`, cleared by `Upstream.undrain`. */
  get draining(): boolean {
    return this.#s.draining;
  }
  /** nginx's passive-health state (`fails`, `accessed`, `checked`, probing). */
  get passive(): PassiveHealth {
    return this.#s.passive;
  }

  /** A copy of the counters, for the API and the metrics. */
  stats(): PeerStats {
    const s = this.#s;
    return {
      active: s.active,
      requests: s.requests,
      responses: { ...s.responses, codes: { ...s.responses.codes } },
      sent: s.sent,
      received: s.received,
      failsTotal: s.failsTotal,
      unavailCount: s.unavailCount,
      healthChecks: { ...s.healthChecks },
      headerTimeMs: s.headerTimeMs,
      responseTimeMs: s.responseTimeMs,
      selected: s.selected,
    };
  }

  /** The state as NGINX Plus reports it, at time `now`. */
  stateAt(now: number): PeerState {
    const s = this.#s;
    if (s.down) return 'down';
    if (s.draining) return 'draining';
    if (s.checking) return 'checking';
    if (s.unhealthy) return 'unhealthy';
    if (passiveFailed(s.passive, now, s)) return 'unavail';
    return 'up';
  }

  /** nginx: `max_fails && fails >= max_fails && now - checked <= fail_timeout`. */
  failedAt(now: number): boolean {
    return passiveFailed(this.#s.passive, now, this.#s);
  }
}

/**
 * Records a response's status in the counters.
 *
 * @internal
 */
export function countResponse(r: ResponseCounts, status: number): void {
  const cls = (status / 100) | 0;
  if (cls === 2) r['2xx']++;
  else if (cls === 3) r['3xx']++;
  else if (cls === 4) r['4xx']++;
  else if (cls === 5) r['5xx']++;
  else r['1xx']++;
  r.total++;
  r.codes[status] = (r.codes[status] ?? 0) + 1;
}

/**
 * Folds one timing sample into the moving averages.
 *
 * @internal
 */
export function countTimes(s: PeerFields, headerMs: number, responseMs: number): void {
  if (s.headerTimeMs === 0) s.headerTimeMs = headerMs;
  else s.headerTimeMs += (headerMs - s.headerTimeMs) * EWMA_SHIFT;
  if (s.responseTimeMs === 0) s.responseTimeMs = responseMs;
  else s.responseTimeMs += (responseMs - s.responseTimeMs) * EWMA_SHIFT;
}

/**
 * Zeroes the statistics NGINX Plus `DELETE /http/upstreams/{name}` resets: requests,
 * responses, bytes, fails, unavail and health-check counts. Kept: what balancing and
 * passive health read, `selected` and `last_passed`.
 *
 * @internal
 */
export function resetCounters(s: PeerFields): void {
  s.requests = 0;
  s.sent = 0;
  s.received = 0;
  s.failsTotal = 0;
  s.unavailCount = 0;
  s.responses = emptyResponses();
  s.healthChecks = { checks: 0, fails: 0, unhealthy: 0, lastPassed: s.healthChecks.lastPassed };
}

/**
 * Validates a runtime change and applies it whole, or throws `InvalidOptionError` and
 * changes nothing. `route: null` clears the route.
 *
 * @internal
 */
export function applyPatch(s: PeerFields, patch: PeerPatch, path = 'patch'): void {
  if (!isObject(patch)) throw new InvalidOptionError(path, 'an object', patch);
  knownKeys(path, patch as Record<string, unknown>, PATCH_KEYS);
  const weight = intAt(`${path}.weight`, patch.weight, s.weight, 1);
  const maxConns = intAt(`${path}.maxConns`, patch.maxConns, s.maxConns, 0);
  const maxFails = intAt(`${path}.maxFails`, patch.maxFails, s.maxFails, 0);
  const failTimeoutMs = intAt(`${path}.failTimeoutMs`, patch.failTimeoutMs, s.failTimeoutMs, 1);
  const down = boolAt(`${path}.down`, patch.down, s.down);
  const route =
    patch.route === undefined
      ? s.route
      : patch.route === null
        ? undefined
        : stringAt(`${path}.route`, patch.route);
  const slowStartMs = intAt(`${path}.slowStartMs`, patch.slowStartMs, s.slowStartMs, 0);
  s.weight = weight;
  s.maxConns = maxConns;
  s.maxFails = maxFails;
  s.failTimeoutMs = failTimeoutMs;
  s.down = down;
  s.route = route;
  s.slowStartMs = slowStartMs;
}

function parseServer(config: unknown, path: string): ServerOptions {
  if (!isObject(config)) throw new InvalidOptionError(path, 'a URL string or an object with url', config);
  knownKeys(path, config, SERVER_KEYS);
  return config as unknown as ServerOptions;
}

function parseUrl(path: string, raw: unknown): ParsedServer {
  if (typeof raw !== 'string') throw new InvalidOptionError(path, 'an http:// URL string', raw);
  const unix = UNIX.exec(raw);
  if (unix !== null) return unixServer(path, raw, (unix[1] ?? 'http:').toLowerCase(), unix[2] as string);
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
  return { id, origin: `${url.protocol}//${url.hostname}:${port}`, socketPath: undefined };
}

/** A server as `Peer` keeps it: its id, the origin undici is given, and a unix socket's path. */
interface ParsedServer {
  id: string;
  origin: string;
  socketPath: string | undefined;
}

/**
 * nginx's unix-domain socket address: `unix:PATH`, or in a URL `http://unix:PATH:` (the
 * path ends at the next colon; nginx's `ngx_parse_unix_domain_url`).
 */
const UNIX = /^(?:(https?:)\/\/)?unix:([\s\S]*)$/i;

function unixServer(path: string, raw: string, scheme: string, rest: string): ParsedServer {
  const colon = rest.indexOf(':');
  const socketPath = colon === -1 ? rest : rest.slice(0, colon);
  const after = colon === -1 ? '' : rest.slice(colon + 1);
  if (socketPath === '' || socketPath.includes('\0') || (after !== '' && after !== '/')) {
    throw new InvalidOptionError(path, 'a unix socket as unix:/path/to/app.sock', raw);
  }
  // nginx names a unix peer `unix:PATH` and sends `Host: localhost` to it.
  return { id: `unix:${socketPath}`, origin: `${scheme}//localhost`, socketPath };
}
