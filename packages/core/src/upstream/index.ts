import { EventEmitter } from 'node:events';
import {
  type Balancer,
  type PeerView,
  type Persistence,
  type PickContext,
  type RequestInfo,
  roundRobin,
} from '@switchyard/balancers';
import { boolAt, isObject, knownKeys, objectAt, stringAt } from '@switchyard/internals';
import { HookError, InvalidOptionError, PeerExistsError, PeerNotFoundError } from '../errors.js';
import {
  applyPatch,
  countResponse,
  countTimes,
  Peer,
  type PeerFields,
  type PeerPatch,
  type PeerState,
  peerFields,
  resetCounters,
  type ServerConfig,
} from '../peer/index.js';
import { cameBack, passiveFailed, passiveStep, wentUnavailable } from '../peer/passive.js';
import { type ResolvedTls, resolveTls, type UpstreamTlsOptions } from './tls.js';

export type { PemInput, UpstreamTlsOptions } from './tls.js';

/** Options of {@link createUpstream}: the `upstream` block. */
export interface UpstreamOptions {
  /** The group's name (nginx `upstream <name>`). */
  name: string;
  /** The servers, in order; a server may be just its URL. */
  servers: ServerConfig[];
  /** The balancing strategy. @default roundRobin() */
  balancer?: Balancer;
  /** Session persistence (sticky cookie, route, learn). */
  persistence?: Persistence;
  /** The clock for passive health and slow start, in ms. @default Date.now */
  clock?: () => number;
  /**
   * The key for hashing strategies (nginx `hash $request_uri` → `(req) => req.url`).
   * Absent: strategies get no `ctx.key`.
   */
  hashKey?: (req: RequestInfo) => string;
  /** Randomness for random strategies, in [0, 1). @default Math.random */
  random?: () => number;
  /**
   * TLS to the group's `https://` peers: trusted CA, client certificate, server name,
   * verification (nginx `proxy_ssl_*`). The server name is each peer's own host, never
   * the client's `Host`. @default Node's root certificates, verification on
   * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ssl_trusted_certificate
   */
  tls?: UpstreamTlsOptions;
  /**
   * Offer HTTP/2 to the group's `https://` peers by ALPN (undici `allowH2`); a peer that
   * picks it carries many requests as streams of one connection, and the proxy's
   * `connectionsPerPeer` then counts connections, each with up to undici's
   * `maxConcurrentStreams` (100) streams. `http://` and `unix:` peers speak HTTP/1.1.
   * @default false
   */
  http2?: boolean;
}

/** Events an upstream emits. */
export interface UpstreamEvents {
  /** A server was added at run time. */
  'peer:add': [peer: Peer];
  /** A server was removed at run time. */
  'peer:remove': [peer: Peer];
  /** A server's parameters changed at run time (`patch`), or it stopped draining (`undrain`). */
  'peer:patch': [peer: Peer];
  /** A peer reached `maxFails` failures and rests for `failTimeoutMs`. */
  'peer:unavail': [peer: Peer];
  /** A server started draining. */
  'peer:draining': [peer: Peer];
  /** A draining peer has no request in flight any more: it can be removed safely. */
  'peer:drained': [peer: Peer];
  /** An active health check finished (passed or not). */
  'peer:checked': [peer: Peer, result: HealthCheckResult];
  /** A peer failed `fails` checks in a row and takes no requests. */
  'peer:unhealthy': [peer: Peer, result: HealthCheckResult];
  /** The group is done (`close()`): its health checks stop. */
  close: [];
  /** A peer passed `passes` checks in a row (or its first, when it was `checking`) and takes requests again. */
  'peer:healthy': [peer: Peer, result: HealthCheckResult];
}

/** The outcome of one active health check. */
export interface HealthCheckResult {
  /** Whether a response came in time and met the `match` conditions. */
  passed: boolean;
  /** The response status, when a response came. */
  status?: number;
  /** Why the check failed: a connection error, a timeout, or which `match` rule did not hold. */
  reason?: string;
}

/**
 * How an attempt ended, for passive health: `none`, the peer answered (a success);
 * `error` or `timeout`, and `status` (a status listed in `nextUpstream`, not 403/404), a
 * failure (nginx `NGX_PEER_FAILED`); `abandoned`, neither (the client left, a kept-alive
 * connection the peer had closed, a body cut after the head went out, a 403/404 passed on).
 */
export type AttemptFailure = 'none' | 'error' | 'timeout' | 'status' | 'abandoned';

/**
 * What one attempt against a peer did, given to {@link Upstream.release} when it ends. The
 * proxy's per-attempt handler is its own outcome: it accumulates these fields as it goes.
 */
export interface AttemptOutcome {
  /** How it ended, for passive health. */
  readonly failure: AttemptFailure;
  /** The response status to count in the peer's `responses`; 0 or absent: none. */
  readonly status?: number;
  /** Time to the response head, ms; counted with `responseMs`. */
  readonly headerMs?: number;
  /** Time to the last byte, ms; negative or absent: no timing sample. */
  readonly responseMs?: number;
  /** Request bytes sent to the peer. */
  readonly sent?: number;
  /** Response body bytes received from the peer. */
  readonly received?: number;
}

/**
 * One attempt's hold on a peer of a group, from {@link Upstream.lease} to its `release`:
 * the peer counts the attempt as in flight until then.
 */
export class Lease {
  /** The group the peer belongs to. */
  readonly upstream: Upstream;
  /** The peer leased. */
  readonly peer: Peer;
  #released = false;

  constructor(upstream: Upstream, peer: Peer) {
    this.upstream = upstream;
    this.peer = peer;
  }

  /** Whether the lease ended. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Ends the lease: the group records the attempt's outcome ({@link Upstream.release}).
   * Later calls do nothing. Throws, after recording, what `release` throws.
   */
  release(outcome: AttemptOutcome): void {
    if (this.#released) return;
    this.#released = true;
    this.upstream.release(this.peer, outcome);
  }
}

/** How an active health checker judges its results (nginx `health_check` parameters). */
export interface HealthPolicy {
  /** Consecutive failed checks that make a peer unhealthy. */
  readonly fails: number;
  /** Consecutive passed checks that make an unhealthy peer healthy. */
  readonly passes: number;
  /** Peers start `checking` until their first check passes. */
  readonly mandatory: boolean;
  /** With `mandatory`: a peer whose last check passed starts `up`. */
  readonly persistent: boolean;
}

const UPSTREAM_KEYS = [
  'name',
  'servers',
  'balancer',
  'persistence',
  'clock',
  'hashKey',
  'random',
  'tls',
  'http2',
] as const;

/** The group each peer belongs to: a peer is made by its group and never moves. */
const groups = new WeakMap<Peer, Upstream>();

/**
 * The group that made `peer`, for the proxy to connect to it with the group's settings.
 *
 * @internal
 */
export function groupOf(peer: Peer): Upstream | undefined {
  return groups.get(peer);
}

/**
 * A named group of servers (nginx `upstream`): its peers in configuration order, the
 * balancer that picks among them, passive health, and runtime changes.
 */
export class Upstream extends EventEmitter<UpstreamEvents> {
  /** The group's name. */
  readonly name: string;
  /** The strategy that picks among the peers of a tier. */
  readonly balancer: Balancer;
  /** Session persistence, if any. */
  readonly persistence: Persistence | undefined;
  /** The clock for passive health, in ms. */
  readonly clock: () => number;
  /** The hash key of a request, if configured. */
  readonly hashKey: ((req: RequestInfo) => string) | undefined;
  /** Randomness for random strategies. */
  readonly random: () => number;
  /** The `tls` option as given, checked; `undefined`: Node's defaults. */
  readonly tls: Readonly<UpstreamTlsOptions> | undefined;
  /** Whether HTTP/2 is offered to `https://` peers (`http2`). */
  readonly http2: boolean;
  /**
   * The `tls` option with its certificates parsed, for the proxy's connections.
   *
   * @internal
   */
  readonly tlsContext: ResolvedTls | undefined;
  /** Primary peers in configuration order; a new array whenever membership changes. */
  primaries: readonly Peer[] = [];
  /** Backup peers in configuration order; a new array whenever membership changes. */
  backups: readonly Peer[] = [];
  private byId = new Map<string, Peer>();
  /**
   * The availability index: each peer's `available` is kept current as its state changes,
   * rather than worked out for every peer on every request (O(1) per request instead of
   * O(peers)). Time alone changes it only for a peer resting after `maxFails` failures,
   * so those are looked at again on each pick. A health check, draining or an attempt
   * updates its one peer; a change of membership or a patch (which may change `down`, and
   * so `maxTries()`) marks the whole group `stale`, worked out again on the next pick.
   */
  private readonly resting = new Set<Peer>();
  private stale = true;
  /** Whether the group is one primary and no backup (nginx ignores its failures). */
  private single = false;
  /** `maxTries()`: the peers not `down`, counted when the group was last worked out. */
  private tries = 0;

  constructor(options: UpstreamOptions, path = '') {
    super();
    const at = (k: string) => (path === '' ? k : `${path}.${k}`);
    const o = objectAt(path === '' ? 'options' : path, options);
    knownKeys(path, o, UPSTREAM_KEYS);
    this.name = stringAt(at('name'), o.name);
    if (!Array.isArray(o.servers) || o.servers.length === 0) {
      throw new InvalidOptionError(at('servers'), 'a non-empty array of servers', o.servers);
    }
    if (o.balancer !== undefined && (!isObject(o.balancer) || typeof o.balancer.pick !== 'function')) {
      throw new InvalidOptionError(at('balancer'), 'an object with a pick(peers, ctx) method', o.balancer);
    }
    const p = o.persistence as Persistence | undefined;
    if (p !== undefined && (!isObject(p) || typeof p.find !== 'function' || typeof p.bind !== 'function')) {
      throw new InvalidOptionError(at('persistence'), 'an object with find() and bind() methods', p);
    }
    for (const k of ['clock', 'hashKey', 'random'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'function')
        throw new InvalidOptionError(at(k), 'a function', o[k]);
    }
    this.hashKey = o.hashKey as ((req: RequestInfo) => string) | undefined;
    this.random = (o.random as (() => number) | undefined) ?? Math.random;
    this.balancer = (o.balancer as Balancer | undefined) ?? roundRobin();
    this.persistence = p;
    this.clock = (o.clock as (() => number) | undefined) ?? Date.now;
    this.tlsContext = resolveTls(at('tls'), o.tls);
    this.tls = this.tlsContext?.options;
    this.http2 = boolAt(at('http2'), o.http2, false);
    const peers = o.servers.map((s, i) => new Peer(s as ServerConfig, at(`servers[${i}]`)));
    for (const [i, peer] of peers.entries()) {
      if (this.byId.has(peer.id)) {
        throw new InvalidOptionError(at(`servers[${i}].url`), 'a server not listed before', peer.id);
      }
      this.byId.set(peer.id, peer);
      groups.set(peer, this);
    }
    this.rebuild();
  }

  /**
   * Ends the group's use: emits `close`, on which its health checks stop. A proxy closes
   * the groups it made from options when it closes. Requests may still be sent to it.
   */
  close(): void {
    this.emit('close');
  }

  /** Every peer, primaries then backups. */
  get peers(): readonly Peer[] {
    return [...this.primaries, ...this.backups];
  }

  /** The peer with this id (`host:port`, or `unix:/path`), if any. */
  get(id: string): Peer | undefined {
    return this.byId.get(id);
  }

  /** The state of a peer now. */
  stateOf(peer: Peer): PeerState {
    return peer.stateAt(this.clock());
  }

  /**
   * How many attempts one request may make: nginx counts every peer that is not `down`,
   * primaries and backups.
   */
  maxTries(): number {
    if (this.stale) this.refresh(this.clock());
    return this.tries;
  }

  /**
   * Chooses the peer for one attempt: persistence first, then the balancer over the
   * primaries, then over the backups. `undefined` when no peer can take the request.
   * Marks the peer selected (counters and nginx's `checked` time). Throws a `HookError`
   * (`SWY_ERR_HOOK`) when `hashKey`, the persistence's `find` or the balancer's `pick`
   * throws; the promise rejects with one when an asynchronous `find` rejects. No peer's
   * state changed then.
   */
  select(ctx: PickContext, req?: RequestInfo): Peer | undefined | Promise<Peer | undefined> {
    const now = this.clock();
    ctx.now = now;
    ctx.random = this.random;
    if (this.hashKey !== undefined && req !== undefined) {
      try {
        ctx.key = this.hashKey(req);
      } catch (err) {
        throw new HookError('hashKey', err);
      }
    }
    if (this.stale) this.refresh(now);
    for (const p of this.resting) this.update(p, now);
    if (this.persistence !== undefined && req !== undefined) {
      let found: PeerView | undefined | Promise<PeerView | undefined>;
      try {
        found = this.persistence.find(req, this.primaries);
      } catch (err) {
        throw new HookError('persistence.find', err);
      }
      if (found instanceof Promise) {
        return found.then((view) => this.finishSelect(view, ctx, now), findRejected);
      }
      return this.finishSelect(found, ctx, now);
    }
    return this.finishSelect(undefined, ctx, now);
  }

  private finishSelect(bound: PeerView | undefined, ctx: PickContext, now: number): Peer | undefined {
    let peer = bound === undefined ? undefined : this.byId.get(bound.id);
    // A bound peer may be draining, but not down, failed, unhealthy or full.
    if (peer !== undefined && (ctx.tried?.has(peer.id) || !boundUsable(peer, now))) peer = undefined;
    if (peer === undefined) {
      try {
        peer = this.balancer.pick(this.primaries, ctx) as Peer | undefined;
        if (peer === undefined && this.backups.length > 0) {
          peer = this.balancer.pick(this.backups, ctx) as Peer | undefined;
        }
      } catch (err) {
        throw new HookError('balancer.pick', err);
      }
    }
    if (peer === undefined) return undefined;
    const f = peerFields(peer);
    f.passive = passiveStep(f.passive, 'select', now, f);
    f.selected = now;
    f.requests++;
    // A resting peer chosen to probe rests again meanwhile (nginx sets its `checked`).
    this.update(peer, now);
    return peer;
  }

  /** Works out `available` of every peer, and `maxTries()`. */
  private refresh(now: number): void {
    this.stale = false;
    this.single = this.primaries.length === 1 && this.backups.length === 0;
    this.resting.clear();
    let tries = 0;
    for (const tier of [this.primaries, this.backups]) {
      for (let i = 0; i < tier.length; i++) {
        const peer = tier[i] as Peer;
        this.update(peer, now);
        if (!peer.down) tries++;
      }
    }
    this.tries = tries;
  }

  /** Works out `available` of one peer from its state now (nginx `ngx_http_upstream_get_peer`'s checks). */
  private update(peer: Peer, now: number): void {
    const f = peerFields(peer);
    f.available =
      !f.down &&
      !f.draining &&
      !f.unhealthy &&
      !f.checking &&
      !(f.maxConns !== 0 && f.active >= f.maxConns) &&
      (this.single || !passiveFailed(f.passive, now, f));
    if (f.maxFails !== 0 && f.passive.fails >= f.maxFails) this.resting.add(peer);
    else this.resting.delete(peer);
  }

  /**
   * An attempt to `peer` starts: it counts as in flight until {@link Upstream.release}.
   * Call it once per attempt, after `select` chose the peer; {@link Upstream.lease} does
   * both halves for you.
   */
  begin(peer: Peer): void {
    const f = peerFields(peer);
    f.active++;
    if (f.maxConns !== 0) this.update(peer, this.clock());
  }

  /**
   * Takes `peer` for one attempt (`begin`): the lease's `release(outcome)` records the
   * attempt (`release`), once, however often it is called.
   */
  lease(peer: Peer): Lease {
    this.begin(peer);
    return new Lease(this, peer);
  }

  /**
   * An attempt to `peer` ended: records its outcome (bytes, response status, timings,
   * passive health and the balancer's feedback) and takes it out of flight. Emits
   * `peer:unavail` when the failure makes the peer unavailable, and `peer:drained` when a
   * draining peer has nothing in flight any more. Call it exactly once per `begin`.
   * Throws only after the outcome is recorded: a `HookError` when the balancer's `failed`
   * threw (the events still went out), or what a listener threw.
   */
  release(peer: Peer, outcome: AttemptOutcome): void {
    const f = peerFields(peer);
    f.sent += outcome.sent ?? 0;
    f.received += outcome.received ?? 0;
    const status = outcome.status ?? 0;
    if (status > 0) countResponse(f.responses, status);
    const responseMs = outcome.responseMs ?? -1;
    if (responseMs >= 0) countTimes(f, outcome.headerMs ?? responseMs, responseMs);
    f.active--;
    const failure = outcome.failure;
    let feedback: HookError | undefined;
    if (failure === 'none') this.succeed(peer, f);
    else if (failure !== 'abandoned') feedback = this.fail(peer, f);
    // Under `maxConns`, availability follows `active` (passive health updates it itself).
    if (f.maxConns !== 0) this.update(peer, this.clock());
    if (f.active === 0 && f.draining) this.emit('peer:drained', peer);
    if (feedback !== undefined) throw feedback;
  }

  /**
   * Counts a failed attempt (nginx `NGX_PEER_FAILED`): passive health and balancer
   * feedback. Returns what the balancer's `failed` threw, for `release` to throw last.
   */
  private fail(peer: Peer, f: PeerFields): HookError | undefined {
    f.failsTotal++;
    // nginx ignores failures of a lone server: there is nothing else to send to.
    if (this.primaries.length === 1 && this.backups.length === 0) return undefined;
    const before = f.passive;
    const now = this.clock();
    f.passive = passiveStep(before, 'fail', now, f);
    // Before the events: a listener sees the peer as the next pick will.
    this.update(peer, now);
    let thrown: HookError | undefined;
    try {
      this.balancer.failed?.(peer, peer.backup ? this.backups : this.primaries);
    } catch (err) {
      // Feedback only: the failing request's way to the next peer (or its 502) goes on.
      thrown = new HookError('balancer.failed', err);
    }
    if (wentUnavailable(before, f.passive, f)) {
      f.unavailCount++;
      this.emit('peer:unavail', peer);
    }
    return thrown;
  }

  /** Counts a successful attempt: a probe that succeeds clears the failures. */
  private succeed(peer: Peer, f: PeerFields): void {
    const before = f.passive;
    if (before.fails === 0 && !before.probing) return;
    const now = this.clock();
    // A successful probe brings a resting peer back: slow start begins now.
    if (cameBack(before)) f.upSince = now;
    f.passive = passiveStep(before, 'succeed', now, f);
    this.update(peer, now);
  }

  /**
   * Starts active health checks of a peer (a checker started, or the peer was added under
   * one): its run of passes and fails starts over, and under `mandatory` it is `checking`
   * until its first check passes, unless `persistent` and its last check passed.
   */
  watchHealth(peer: Peer, policy: HealthPolicy): void {
    const f = peerFields(peer);
    f.checkPasses = 0;
    f.checkFails = 0;
    if (policy.mandatory && !(policy.persistent && f.healthChecks.lastPassed === true)) f.checking = true;
    this.update(peer, this.clock());
  }

  /**
   * Records an active health check's result (NGINX Plus `health_check`): `policy.fails`
   * failures in a row make the peer `unhealthy`, `policy.passes` passes in a row (or the
   * first, when `checking`) make it healthy. Emits `peer:checked`, then `peer:unhealthy` or
   * `peer:healthy` on a change.
   */
  observeHealth(peer: Peer, result: HealthCheckResult, policy: HealthPolicy): void {
    const f = peerFields(peer);
    const hc = f.healthChecks;
    hc.checks++;
    hc.lastPassed = result.passed;
    if (result.passed) {
      f.checkFails = 0;
      f.checkPasses++;
      if ((f.unhealthy && f.checkPasses >= policy.passes) || f.checking) {
        f.unhealthy = false;
        f.checking = false;
        f.upSince = this.clock();
        this.update(peer, f.upSince);
        this.emit('peer:checked', peer, result);
        this.emit('peer:healthy', peer, result);
        return;
      }
    } else {
      hc.fails++;
      f.checkPasses = 0;
      f.checkFails++;
      if (!f.unhealthy && f.checkFails >= policy.fails) {
        f.unhealthy = true;
        f.checking = false;
        hc.unhealthy++;
        this.update(peer, this.clock());
        this.emit('peer:checked', peer, result);
        this.emit('peer:unhealthy', peer, result);
        return;
      }
    }
    this.emit('peer:checked', peer, result);
  }

  /**
   * Zeroes the statistics of one peer, or of every peer (NGINX Plus
   * `DELETE /http/upstreams/{name}`): requests, responses, bytes, fails, unavail and
   * health-check counts. Kept: what balancing and passive health read (`active`, the
   * response-time averages, nginx's `fails`), `selected` and `last_passed`.
   */
  resetStats(id?: string): void {
    if (id !== undefined) resetCounters(peerFields(this.need(id)));
    else for (const p of this.byId.values()) resetCounters(peerFields(p));
  }

  /** Adds a server at run time (NGINX Plus API `POST …/servers`). */
  add(server: ServerConfig): Peer {
    const peer = new Peer(server, 'server');
    if (this.byId.has(peer.id)) throw new PeerExistsError(this.name, peer.id);
    this.byId.set(peer.id, peer);
    groups.set(peer, this);
    this.rebuild();
    this.emit('peer:add', peer);
    return peer;
  }

  /** Removes a server at run time; requests in flight to it finish. */
  remove(id: string): Peer {
    const peer = this.need(id);
    if (this.primaries.length + this.backups.length === 1) {
      throw new InvalidOptionError('id', 'a server other than the last one', id);
    }
    this.byId.delete(id);
    this.rebuild();
    this.emit('peer:remove', peer);
    return peer;
  }

  /**
   * Changes a server's parameters at run time (NGINX Plus API `PATCH …/servers/{id}`):
   * validated, then applied whole or not at all; `route: null` clears the route.
   */
  patch(id: string, changes: PeerPatch): Peer {
    const peer = this.need(id);
    const f = peerFields(peer);
    const wasDown = f.down;
    const weight = f.weight;
    applyPatch(f, changes);
    if (wasDown && !f.down) f.upSince = this.clock();
    this.stale = true;
    // Strategies key their tables (hash rings, weight sums) by the peers array: a new
    // weight comes with new arrays, as a membership change does.
    if (peer.weight !== weight) this.rebuild();
    this.emit('peer:patch', peer);
    return peer;
  }

  /**
   * Starts draining a server: it takes no new unbound requests, bound sessions finish
   * on it, and `peer:drained` is emitted once nothing is in flight.
   */
  drain(id: string): Peer {
    const peer = this.need(id);
    peerFields(peer).draining = true;
    this.update(peer, this.clock());
    this.emit('peer:draining', peer);
    if (peer.active === 0) this.emit('peer:drained', peer);
    return peer;
  }

  /**
   * Ends draining: the server takes new requests again (NGINX Plus API `PATCH` with
   * `"drain": false`). Emits `peer:patch` when it was draining.
   */
  undrain(id: string): Peer {
    const peer = this.need(id);
    const f = peerFields(peer);
    if (f.draining) {
      f.draining = false;
      this.update(peer, this.clock());
      this.emit('peer:patch', peer);
    }
    return peer;
  }

  private need(id: string): Peer {
    const peer = this.byId.get(id);
    if (peer === undefined) throw new PeerNotFoundError(this.name, id);
    return peer;
  }

  private rebuild(): void {
    const all = [...this.byId.values()];
    this.primaries = all.filter((p) => !p.backup);
    this.backups = all.filter((p) => p.backup);
    this.stale = true;
  }
}

/** An asynchronous `Persistence.find` rejected. */
function findRejected(err: unknown): never {
  throw new HookError('persistence.find', err);
}

function boundUsable(p: Peer, now: number): boolean {
  const f = peerFields(p);
  return (
    !f.down &&
    !f.unhealthy &&
    !f.checking &&
    !(f.maxConns !== 0 && f.active >= f.maxConns) &&
    !passiveFailed(f.passive, now, f)
  );
}

/**
 * Builds an upstream group; validates every option now and throws
 * `InvalidOptionError` (`SWY_ERR_INVALID_OPTION`) naming the path and the value.
 *
 * @example
 * ```ts
 * const api = createUpstream({
 *   name: 'api',
 *   servers: ['http://127.0.0.1:9001', { url: 'http://127.0.0.1:9002', weight: 2 }],
 * });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#upstream
 */
export function createUpstream(options: UpstreamOptions): Upstream {
  return new Upstream(options);
}
