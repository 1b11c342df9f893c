import { isObject, knownKeys } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import type { Balancer, PeerView, PickContext } from '../types.js';
import { mulberry32 } from './prng.js';

/** One upstream server in a simulation: its id and the parameters strategies read. */
export interface SimPeer {
  /** The peer's id, e.g. `"10.0.0.1:80"`. */
  id: string;
  /** nginx `weight`. @default 1 */
  weight?: number;
  /** nginx `max_fails`, as strategies read it for `failed()`. @default 1 */
  maxFails?: number;
  /** NGINX Plus `slow_start`, applied when the peer comes back after a failure window. @default 0 */
  slowStartMs?: number;
  /** The response-time average the peer starts with (`least_time`). @default 0 */
  responseTimeMs?: number;
}

/**
 * How long a request stays in flight at a peer, in virtual ms: one number for every
 * request, a number per peer id, or a function of the peer id, the request's index and
 * the simulation's seeded random.
 */
export type SimLatency =
  | number
  | Readonly<Record<string, number>>
  | ((peerId: string, i: number, random: () => number) => number);

/** A window of virtual time `[fromMs, toMs)` during which a peer is unavailable. */
export interface SimFailure {
  /** The peer's id. */
  id: string;
  /** Start of the window, inclusive, in virtual ms. */
  fromMs: number;
  /** End of the window, exclusive: from then on the peer is back (and slow-starts). */
  toMs: number;
}

/**
 * When requests arrive: a count, all at t = 0, or `{ count, intervalMs }`, request `i`
 * at `t = i × intervalMs`.
 */
export type SimRequests =
  | number
  | {
      /** How many requests arrive. */
      count: number;
      /** Virtual ms between two arrivals. */
      intervalMs: number;
    };

/** Options of {@link simulate}. */
export interface SimulateOptions {
  /** The strategy under test; the simulation calls its `pick`, nothing else. */
  balancer: Balancer;
  /** The peers, in configuration order: one tier. */
  peers: readonly SimPeer[];
  /** How many requests arrive, and when. */
  requests: SimRequests;
  /** How long each request stays in flight. */
  latencyMs: SimLatency;
  /** Windows in which peers are unavailable. @default [] */
  failures?: readonly SimFailure[];
  /**
   * Seeds the two mulberry32 generators: one is `ctx.random` for the strategy, the other
   * is passed to a `latencyMs` function, so that changing one does not shift the other.
   * @default 1
   */
  seed?: number;
}

/** Every key of {@link SimulateOptions}: any other is refused. */
const SIMULATE_KEYS = Object.keys({
  balancer: true,
  peers: true,
  requests: true,
  latencyMs: true,
  failures: true,
  seed: true,
} satisfies Record<keyof SimulateOptions, true>);

/** How busy one peer was over the simulation. */
export interface PeerLoad {
  /** Its share of all requests, 0..1 (`counts[id] / requests`). */
  share: number;
  /** The sum of the latencies of the requests it took, in virtual ms. */
  busyMs: number;
  /** Requests in flight at it on average over `durationMs` (`busyMs / durationMs`; 0 when 0). */
  meanInflight: number;
}

/** What a simulation saw. */
export interface SimulateResult {
  /** The id of the peer picked for each request in order, or `null` when none was. */
  decisions: (string | null)[];
  /** Requests per peer id (every peer listed, 0 included). */
  counts: Record<string, number>;
  /** The most requests in flight at each peer at any time. */
  maxInflight: Record<string, number>;
  /** Load per peer id. */
  load: Record<string, PeerLoad>;
  /** Virtual time from 0 until the last request completed (or arrived), in ms. */
  durationMs: number;
}

/** A `PeerView` the simulation owns and updates in place. */
interface SimView {
  readonly id: string;
  readonly weight: number;
  readonly maxFails: number;
  readonly slowStartMs: number;
  active: number;
  responseTimeMs: number;
  available: boolean;
  upSince: number | undefined;
}

interface Completion {
  endMs: number;
  seq: number;
  peer: number;
  latencyMs: number;
}

/** Moving averages weigh the newest sample by 1/8, as core's `Peer` does. */
const EWMA_SHIFT = 1 / 8;

/**
 * Runs a strategy over a stream of requests in virtual time, with no timers and no I/O,
 * and reports where each request went.
 *
 * - Request `i` arrives at `i × intervalMs` (all at 0 when `requests` is a number). Before
 *   each arrival, every request whose latency has elapsed (`end ≤ now`) completes, oldest
 *   first: its peer's `active` drops and its latency is folded into the peer's
 *   `responseTimeMs` (first sample as is, then a moving average weighing the newest by
 *   1/8, as core does).
 * - A peer is unavailable while `fromMs ≤ now < toMs` for one of its failure windows;
 *   requests already in flight there still complete. When a window ends the peer's
 *   `upSince` becomes `toMs`, so `slowStartMs` applies from then.
 * - The strategy sees one array of peer views for the whole run (so its tables are built
 *   once) and `ctx = { now, random }`, with `random` seeded from `seed`.
 * - A request no peer takes is recorded as `null` and is not retried.
 *
 * Deterministic: the same options and seed give the same result.
 *
 * @throws InvalidOptionError (`SWY_ERR_INVALID_OPTION`) for a bad option, naming it.
 * @example
 * ```ts
 * const result = simulate({
 *   balancer: leastConn(),
 *   peers: [{ id: 'a', weight: 2 }, { id: 'b' }],
 *   requests: { count: 100, intervalMs: 10 },
 *   latencyMs: { a: 30, b: 50 },
 *   failures: [{ id: 'b', fromMs: 200, toMs: 400 }],
 *   seed: 7,
 * });
 * result.counts; // { a: …, b: … }
 * ```
 */
export function simulate(options: SimulateOptions): SimulateResult {
  if (isObject(options)) knownKeys('', options, SIMULATE_KEYS);
  const { balancer, peers, failures = [], seed = 1 } = options;
  if (typeof balancer?.pick !== 'function') {
    throw new InvalidOptionError('simulate.balancer', 'an object with pick()', balancer);
  }
  if (!Number.isInteger(seed)) throw new InvalidOptionError('simulate.seed', 'an integer', seed);
  const { count, intervalMs } = parseRequests(options.requests);
  const views = parsePeers(peers);
  const index = new Map(views.map((v, i) => [v.id, i]));
  const windows = parseFailures(failures, index);
  const latencyOf = parseLatency(options.latencyMs, views);

  const ctx: PickContext = { now: 0, random: mulberry32(seed) };
  const latencyRandom = mulberry32(seed ^ 0x5bd1e995);
  const list: readonly PeerView[] = views;
  const heap: Completion[] = [];
  const decisions: (string | null)[] = [];
  const counts: Record<string, number> = {};
  const maxInflight: Record<string, number> = {};
  const busy: number[] = views.map(() => 0);
  for (const v of views) {
    counts[v.id] = 0;
    maxInflight[v.id] = 0;
  }
  let durationMs = 0;

  for (let i = 0; i < count; i++) {
    const now = i * intervalMs;
    while (heap.length > 0 && (heap[0] as Completion).endMs <= now) {
      const done = pop(heap);
      const v = views[done.peer] as SimView;
      v.active--;
      v.responseTimeMs =
        v.responseTimeMs === 0
          ? done.latencyMs
          : v.responseTimeMs + (done.latencyMs - v.responseTimeMs) * EWMA_SHIFT;
    }
    for (let p = 0; p < views.length; p++) {
      const own = windows[p];
      if (own === undefined) continue;
      const v = views[p] as SimView;
      v.available = true;
      for (const w of own) {
        if (w.fromMs <= now && now < w.toMs) v.available = false;
        else if (w.toMs <= now && (v.upSince === undefined || w.toMs > v.upSince)) v.upSince = w.toMs;
      }
    }
    ctx.now = now;
    durationMs = Math.max(durationMs, now);
    const picked = balancer.pick(list, ctx);
    if (picked === undefined) {
      decisions.push(null);
      continue;
    }
    const p = index.get(picked.id);
    if (p === undefined) {
      throw new InvalidOptionError(
        'simulate.balancer',
        'a strategy that picks one of the given peers',
        picked.id,
      );
    }
    const v = views[p] as SimView;
    const latencyMs = latencyOf(v.id, i, latencyRandom);
    if (!(latencyMs >= 0) || !Number.isFinite(latencyMs)) {
      throw new InvalidOptionError(
        `simulate.latencyMs (${v.id}, request ${i})`,
        'a finite number >= 0',
        latencyMs,
      );
    }
    decisions.push(v.id);
    counts[v.id] = (counts[v.id] ?? 0) + 1;
    v.active++;
    if (v.active > (maxInflight[v.id] ?? 0)) maxInflight[v.id] = v.active;
    busy[p] = (busy[p] ?? 0) + latencyMs;
    push(heap, { endMs: now + latencyMs, seq: i, peer: p, latencyMs });
    durationMs = Math.max(durationMs, now + latencyMs);
  }

  const load: Record<string, PeerLoad> = {};
  views.forEach((v, p) => {
    const busyMs = busy[p] ?? 0;
    load[v.id] = {
      share: count === 0 ? 0 : (counts[v.id] ?? 0) / count,
      busyMs,
      meanInflight: durationMs === 0 ? 0 : busyMs / durationMs,
    };
  });
  return { decisions, counts, maxInflight, load, durationMs };
}

function parseRequests(requests: SimRequests): { count: number; intervalMs: number } {
  if (typeof requests === 'number') {
    if (!Number.isInteger(requests) || requests < 0) {
      throw new InvalidOptionError('simulate.requests', 'an integer >= 0', requests);
    }
    return { count: requests, intervalMs: 0 };
  }
  if (requests === null || typeof requests !== 'object') {
    throw new InvalidOptionError('simulate.requests', 'a count or { count, intervalMs }', requests);
  }
  const { count, intervalMs } = requests;
  if (!Number.isInteger(count) || count < 0) {
    throw new InvalidOptionError('simulate.requests.count', 'an integer >= 0', count);
  }
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new InvalidOptionError('simulate.requests.intervalMs', 'a finite number >= 0', intervalMs);
  }
  return { count, intervalMs };
}

function parsePeers(peers: readonly SimPeer[]): SimView[] {
  if (!Array.isArray(peers) || peers.length === 0) {
    throw new InvalidOptionError('simulate.peers', 'a non-empty array', peers);
  }
  const seen = new Set<string>();
  return peers.map((p, i) => {
    const path = `simulate.peers[${i}]`;
    if (typeof p?.id !== 'string' || p.id === '')
      throw new InvalidOptionError(`${path}.id`, 'a string', p?.id);
    if (seen.has(p.id)) throw new InvalidOptionError(`${path}.id`, 'an id not used before', p.id);
    seen.add(p.id);
    const weight = p.weight ?? 1;
    if (typeof weight !== 'number' || !(weight > 0) || !Number.isFinite(weight)) {
      throw new InvalidOptionError(`${path}.weight`, 'a positive number', weight);
    }
    const slowStartMs = p.slowStartMs ?? 0;
    if (typeof slowStartMs !== 'number' || !(slowStartMs >= 0)) {
      throw new InvalidOptionError(`${path}.slowStartMs`, 'a number >= 0', slowStartMs);
    }
    const responseTimeMs = p.responseTimeMs ?? 0;
    if (typeof responseTimeMs !== 'number' || !(responseTimeMs >= 0)) {
      throw new InvalidOptionError(`${path}.responseTimeMs`, 'a number >= 0', responseTimeMs);
    }
    return {
      id: p.id,
      weight,
      maxFails: p.maxFails ?? 1,
      slowStartMs,
      active: 0,
      responseTimeMs,
      available: true,
      upSince: undefined,
    };
  });
}

function parseFailures(
  failures: readonly SimFailure[],
  index: Map<string, number>,
): (SimFailure[] | undefined)[] {
  if (!Array.isArray(failures)) throw new InvalidOptionError('simulate.failures', 'an array', failures);
  const byPeer: (SimFailure[] | undefined)[] = [];
  failures.forEach((f, i) => {
    const path = `simulate.failures[${i}]`;
    const p = index.get(f?.id);
    if (p === undefined) throw new InvalidOptionError(`${path}.id`, 'the id of one of the peers', f?.id);
    if (typeof f.fromMs !== 'number' || typeof f.toMs !== 'number' || !(f.fromMs <= f.toMs)) {
      throw new InvalidOptionError(path, 'fromMs <= toMs', f);
    }
    const list = byPeer[p] ?? [];
    list.push(f);
    byPeer[p] = list;
  });
  return byPeer;
}

function parseLatency(
  latency: SimLatency,
  views: readonly SimView[],
): (peerId: string, i: number, random: () => number) => number {
  if (typeof latency === 'function') return latency;
  if (typeof latency === 'number') {
    if (!(latency >= 0) || !Number.isFinite(latency)) {
      throw new InvalidOptionError('simulate.latencyMs', 'a finite number >= 0', latency);
    }
    return () => latency;
  }
  if (latency === null || typeof latency !== 'object') {
    throw new InvalidOptionError(
      'simulate.latencyMs',
      'a number, a record by peer id or a function',
      latency,
    );
  }
  for (const v of views) {
    const ms = latency[v.id];
    if (typeof ms !== 'number' || !(ms >= 0) || !Number.isFinite(ms)) {
      throw new InvalidOptionError(`simulate.latencyMs.${v.id}`, 'a finite number >= 0', ms);
    }
  }
  return (id) => latency[id] as number;
}

/** Orders completions by end time, then by arrival. */
function before(a: Completion, b: Completion): boolean {
  return a.endMs < b.endMs || (a.endMs === b.endMs && a.seq < b.seq);
}

function push(heap: Completion[], c: Completion): void {
  heap.push(c);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(heap[i] as Completion, heap[parent] as Completion)) break;
    [heap[i], heap[parent]] = [heap[parent] as Completion, heap[i] as Completion];
    i = parent;
  }
}

function pop(heap: Completion[]): Completion {
  const top = heap[0] as Completion;
  const last = heap.pop() as Completion;
  if (heap.length > 0) {
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && before(heap[l] as Completion, heap[m] as Completion)) m = l;
      if (r < heap.length && before(heap[r] as Completion, heap[m] as Completion)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m] as Completion, heap[i] as Completion];
      i = m;
    }
  }
  return top;
}
