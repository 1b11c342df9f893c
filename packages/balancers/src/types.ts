import type { IncomingHttpHeaders } from 'node:http';

/**
 * What a strategy sees of one upstream server: read-only, and satisfied by a plain
 * object literal, so a strategy can be unit-tested with no upstream at all.
 *
 * Which fields may change in place, on the same object in the same `peers` array (see
 * {@link Balancer.pick}): `active`, `responseTimeMs`, `headerTimeMs`, `available`,
 * `maxFails`, `slowStartMs` and `upSince` — strategies read them on every pick. `id` and
 * `weight` do not: a different membership or a new weight comes as a new `peers` array
 * (core's `Upstream` builds one when `patch` changes a weight), so strategies derive
 * tables from them once per array.
 */
export interface PeerView {
  /** The server as configured, `"127.0.0.1:9211"`; nginx's hashes use this text. */
  readonly id: string;
  /** Relative weight. @default 1 */
  readonly weight: number;
  /** Requests in flight to this peer now (`least_conn`). */
  readonly active: number;
  /** Moving average of the response time (to the last byte) in milliseconds (`least_time last_byte`). */
  readonly responseTimeMs: number;
  /**
   * Moving average of the time to the response head in milliseconds (`least_time header`);
   * strategies fall back to `responseTimeMs` when absent.
   */
  readonly headerTimeMs?: number;
  /** Whether the peer may take a new, unbound request now. */
  readonly available: boolean;
  /** nginx `max_fails`: failures that make the peer unavailable; 0 disables. @default 1 */
  readonly maxFails?: number;
  /**
   * NGINX Plus `slow_start`: after the peer comes back, its weight ramps from 0 to
   * `weight` over this many ms. 0 or absent: no ramp.
   */
  readonly slowStartMs?: number;
  /** When the peer last came back (became available after being down/failed/unhealthy), ms. */
  readonly upSince?: number;
}

/** Per-request input to {@link Balancer.pick}; clock and randomness come in here. */
export interface PickContext {
  /** Hash key (URI, header, cookie…) for hashing strategies. */
  key?: string;
  /** The client address, for `ip_hash`. */
  clientIp?: string;
  /** Ids of the peers this request already tried (and failed on). */
  tried?: ReadonlySet<string>;
  /** The current time in milliseconds, from an injected clock. */
  now?: number;
  /** Injected randomness in [0, 1). */
  random?: () => number;
}

/**
 * A load-balancing strategy. It picks one peer of one tier, or `undefined` when none
 * of them can take the request. It never does I/O.
 *
 * @example
 * ```ts
 * const first: Balancer = { pick: (peers) => peers.find((p) => p.available) };
 * ```
 */
export interface Balancer {
  /**
   * Chooses a peer.
   *
   * The contract on `peers`: the array keeps its identity until membership or a weight
   * changes, and then a new array comes (core's `Upstream` builds new arrays on a
   * membership change and when `patch` changes a weight). The array is never mutated, and
   * neither are the `id` and `weight` of its peers. So a strategy may build tables from an
   * array's ids and weights — a hash ring, cumulative weights, totals, per-peer state
   * slots — once per array identity (a `WeakMap` keyed by the array) and trust them on
   * every later pick without checking them against the peers again. Everything else on a
   * peer (`available`, `active`, response times, slow start) may change between picks and
   * is read fresh. A caller that changes a weight in place, on the same array, breaks the
   * contract, and the strategies here may go on using the old weight: `roundRobin` and the
   * hash strategies keep it until a new array comes; `leastConn` and `leastTime` read the
   * new one for their scores but not for their round among ties; `random` notices it
   * within a few picks.
   */
  pick(peers: readonly PeerView[], ctx: PickContext): PeerView | undefined;
  /**
   * Told when a request to `peer` failed (nginx's `NGX_PEER_FAILED`), so that a
   * weighted strategy can lower the peer's effective weight.
   */
  failed?(peer: PeerView, peers: readonly PeerView[]): void;
  /**
   * Says what `pick` would choose now and why, without changing any state
   * (see `explain()`).
   */
  explain?(peers: readonly PeerView[], ctx: PickContext): Explanation;
}

/** Why one candidate was or was not chosen. */
export interface CandidateReport {
  /** The peer's id. */
  id: string;
  /** The strategy's score for the peer (lower or higher is better as `strategy` says), if it scores. */
  score?: number;
  /** Set when the peer was not considered. */
  skipped?: 'unavailable' | 'tried' | 'over-bound' | 'not-sampled';
  /** One line in words: "score 0.5 = 1 active / weight 2", "lower score than 10.0.0.2:80"… */
  reason: string;
}

/** What a strategy would pick, with each candidate's score or the reason it was skipped. */
export interface Explanation {
  /** The strategy's name, e.g. `round-robin`, `least-conn`. */
  strategy: string;
  /** The peer `pick` would return now. */
  chosen: PeerView | undefined;
  /** Every peer, in order, with its score or why it was skipped. */
  candidates: CandidateReport[];
}

/** The parts of a client request that a persistence policy reads. */
export interface RequestInfo {
  /** The request method. */
  readonly method: string;
  /** The request-target as received, path and query. */
  readonly url: string;
  /** The request headers, lowercased names as Node parses them. */
  readonly headers: IncomingHttpHeaders;
  /** The client address. */
  readonly clientIp?: string;
}

/** The response head as it goes to the client; a persistence policy may add headers. */
export interface ResponseHead {
  /** The upstream's status code. */
  readonly statusCode: number;
  /** The first value of a response header from the upstream (name in any case). */
  getHeader(name: string): string | undefined;
  /** Every value of a response header from the upstream, e.g. each `Set-Cookie`. */
  getHeaders(name: string): string[];
  /** Adds a header to the response sent to the client (e.g. `Set-Cookie`). */
  appendHeader(name: string, value: string): void;
}

/**
 * Session persistence (sticky cookie, route, learn): binds a client to a peer.
 * `find` answers the bound peer, or `undefined` to let the balancer choose.
 */
export interface Persistence {
  /** The peer this request is bound to, or `undefined` to let the balancer choose. */
  find(req: RequestInfo, peers: readonly PeerView[]): PeerView | undefined | Promise<PeerView | undefined>;
  /** Called with the response head from `peer`: binds the client to it (e.g. sets a cookie). */
  bind(req: RequestInfo, res: ResponseHead, peer: PeerView): void;
}
