import { isObject, knownKeys, oneOf } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import { fmt, skipLine, skipReason } from '../explain/lines.js';
import { type LeastTimeMeasure, leastTimeScore, parseLeastTimeOptions } from '../least-time/index.js';
import { roundRobin } from '../round-robin/index.js';
import { isAvailable, LastTable } from '../tables.js';
import type { Balancer, CandidateReport, Explanation, PeerView, PickContext } from '../types.js';

/** How `random two` chooses between its two samples (nginx `random two least_conn`, NGINX Plus `least_time`). */
export type RandomTwoMethod = 'leastConn' | 'leastTime';

/** Options of {@link random}. */
export interface RandomOptions {
  /**
   * nginx `random two <method>`: draw two distinct available peers and send the request to
   * the better one by this method. Absent: plain weighted `random`.
   * @default undefined
   */
  two?: RandomTwoMethod;
  /**
   * With `two: 'leastTime'`, which average response time to compare (NGINX Plus
   * `least_time=header | last_byte`); see `LeastTimeOptions.measure`.
   * @default 'header'
   */
  measure?: LeastTimeMeasure;
  /**
   * Seeds the strategy's own xorshift32 generator, used only when a pick's `ctx.random`
   * is absent; any integer.
   * @default 1
   */
  seed?: number;
}

/** Every key of {@link RandomOptions}: any other is refused. */
const RANDOM_KEYS = Object.keys({
  two: true,
  measure: true,
  seed: true,
} satisfies Record<keyof RandomOptions, true>);

/** nginx draws until `++tries > 20`, i.e. 21 draws, then falls back to round robin. */
const MAX_TRIES = 20;

/**
 * Peers whose weight a pick compares with its ranges, in turn (see {@link checkSome}).
 * With up to this many peers every pick checks them all.
 */
const SPOT_CHECKS = 4;

/** Cumulative weight ranges, nginx's `ngx_http_upstream_random_range_t` array. */
interface Ranges {
  /** `start[i]`: the sum of the weights before peer `i`. */
  readonly start: Float64Array;
  /** The weights the ranges were built from, for {@link checkSome}. */
  readonly weight: Float64Array;
  total: number;
  /** The next peer {@link checkSome} compares. */
  next: number;
}

/** 0: plain random; 1: two, least_conn; 2: two, least_time (header); 3: two, least_time (last byte). */
type Mode = 0 | 1 | 2 | 3;

/**
 * nginx's `random`: a weighted random peer. As `ngx_http_upstream_random_module` does,
 * `x = random × total weight` falls in one peer's range (binary search over the cumulative
 * weights of every peer of the tier, unavailable ones included, so the ranges stay put);
 * an unavailable or already-tried peer is drawn again, and after 21 draws (nginx's
 * `tries > 20`), or with fewer than 2 peers, round robin chooses instead.
 *
 * `random({ two: 'leastConn' })` is nginx's `random two least_conn`: draws until it has two
 * distinct available peers, then takes the one with fewer active requests for its weight
 * (`a.active × b.weight` vs `b.active × a.weight`); on a tie, the second drawn, as nginx
 * does. `two: 'leastTime'` (NGINX Plus `least_time=`) compares the `leastTime` score
 * `time × (active + 1) / weight` instead, then `active / weight`.
 *
 * Randomness: `ctx.random` when the caller gives it (core passes one: `Math.random` at its
 * own call site unless configured otherwise). Without it the strategy draws from its own
 * xorshift32 generator seeded by `seed`, so a strategy alone is still deterministic; it
 * never calls `Math.random()` itself.
 *
 * Weights are the configured ones: nginx forbids `slow_start` with `random`, and this
 * strategy ignores `slowStartMs` in its draws. The ranges are built once per `peers` array
 * (the array keeps its identity until membership or a weight changes, see
 * `Balancer.pick`); a pick only spot-checks a few weights against them, so it costs a
 * binary search whatever the number of peers. `failed(peer)` affects only the round-robin
 * fallback, as in nginx. `explain()` replays the draws on a copy of the generator (or by
 * calling `ctx.random`, so pass a copy of a seeded one) and marks the peers it did not
 * draw `'not-sampled'`.
 *
 * @example
 * ```ts
 * const r = random({ two: 'leastConn' });
 * r.pick(peers, { random: Math.random });
 * const seeded = random({ seed: 42 }); // deterministic without ctx.random
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#random
 */
export function random(options: RandomOptions = {}): Balancer {
  if (isObject(options)) knownKeys('', options, RANDOM_KEYS);
  const mode = parseMode(options);
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed)) throw new InvalidOptionError('random.seed', 'an integer', seed);
  let state = seedState(seed);
  const own = (): number => {
    state = xorshift32(state);
    return state / 4294967296;
  };
  const tables = new WeakMap<readonly PeerView[], Ranges>();
  const last = new LastTable((peers: readonly PeerView[]): Ranges => {
    let r = tables.get(peers);
    if (r === undefined) {
      r = {
        start: new Float64Array(peers.length),
        weight: new Float64Array(peers.length),
        total: 0,
        next: 0,
      };
      build(r, peers);
      tables.set(peers, r);
    }
    return r;
  });
  const fallback = roundRobin();

  function ranges(peers: readonly PeerView[]): Ranges {
    const r = last.get(peers);
    checkSome(r, peers);
    return r;
  }

  return {
    pick(peers: readonly PeerView[], ctx: PickContext): PeerView | undefined {
      if (peers.length < 2) return fallback.pick(peers, ctx);
      const r = ranges(peers);
      const i = choose(peers, r, ctx.random ?? own, ctx.tried, mode, undefined);
      return i < 0 ? fallback.pick(peers, ctx) : peers[i];
    },

    failed(peer: PeerView, peers: readonly PeerView[]): void {
      fallback.failed?.(peer, peers);
    },

    explain(peers: readonly PeerView[], ctx: PickContext): Explanation {
      const name = mode === 0 ? 'random' : mode === 1 ? 'random-two-least-conn' : 'random-two-least-time';
      const r = peers.length < 2 ? undefined : ranges(peers);
      let copy = state;
      const rnd =
        ctx.random ??
        ((): number => {
          copy = xorshift32(copy);
          return copy / 4294967296;
        });
      const drawn: number[] = [];
      const i = r === undefined ? -1 : choose(peers, r, rnd, ctx.tried, mode, drawn);
      if (i < 0) {
        const rr = (fallback.explain as NonNullable<Balancer['explain']>)(peers, ctx);
        const why = r === undefined ? 'fewer than 2 peers' : `no usable peer in ${drawn.length} draws`;
        return {
          strategy: name,
          chosen: rr.chosen,
          candidates: rr.candidates.map((c) => ({ ...c, reason: `round robin (${why}): ${c.reason}` })),
        };
      }
      return {
        strategy: name,
        chosen: peers[i],
        candidates: report(peers, r as Ranges, ctx, mode, drawn, i),
      };
    },
  };
}

function parseMode(options: RandomOptions): Mode {
  const two = options.two;
  if (two === undefined) return 0;
  if (oneOf('random.two', two, ['leastConn', 'leastTime']) === 'leastConn') return 1;
  return parseLeastTimeOptions({ measure: options.measure }, 'random').header ? 2 : 3;
}

/**
 * Compares the weights of {@link SPOT_CHECKS} peers with the ranges, the next ones in
 * turn, and rebuilds the ranges if one differs. The contract (`Balancer.pick`: a new
 * array whenever a weight changes, as core does) makes this unnecessary; it is kept, at
 * a constant cost, so that a weight changed in place on the same array is still noticed:
 * at once with up to 4 peers, within ⌈n / 4⌉ picks with more. It used to compare every
 * weight on every pick, the most expensive part of a pick at 1000 peers.
 */
function checkSome(r: Ranges, peers: readonly PeerView[]): void {
  const n = peers.length;
  const weight = r.weight;
  let at = r.next;
  for (let k = 0; k < SPOT_CHECKS && k < n; k++) {
    if (weight[at] !== (peers[at] as PeerView).weight) {
      build(r, peers);
      break;
    }
    at = at + 1 === n ? 0 : at + 1;
  }
  r.next = at;
}

function build(r: Ranges, peers: readonly PeerView[]): void {
  let total = 0;
  for (let i = 0; i < peers.length; i++) {
    const w = (peers[i] as PeerView).weight;
    r.start[i] = total;
    r.weight[i] = w;
    total += w;
  }
  r.total = total;
}

/** nginx's `ngx_http_upstream_peek_random_peer`: the range that `u × total` falls in. */
function peek(r: Ranges, u: number): number {
  const x = u * r.total;
  let i = 0;
  let j = r.start.length;
  while (j - i > 1) {
    const k = (i + j) >>> 1;
    if (x < (r.start[k] as number)) j = k;
    else i = k;
  }
  return i;
}

/**
 * The draws of `ngx_http_upstream_get_random_peer` / `get_random2_peer`: the chosen index,
 * or -1 when round robin must choose. `drawn` (explain only) records every draw.
 */
function choose(
  peers: readonly PeerView[],
  r: Ranges,
  rnd: () => number,
  tried: ReadonlySet<string> | undefined,
  mode: Mode,
  drawn: number[] | undefined,
): number {
  if (!(r.total > 0)) return -1;
  let prev = -1;
  for (let tries = 0; ; ) {
    const i = peek(r, rnd());
    drawn?.push(i);
    const peer = peers[i] as PeerView;
    if (i !== prev && isAvailable(peer) && !tried?.has(peer.id)) {
      if (mode === 0) return i;
      if (prev >= 0) return worse(peer, peers[prev] as PeerView, mode) ? prev : i;
      prev = i;
    }
    if (++tries > MAX_TRIES) return -1;
  }
}

/** Whether `a` is strictly worse than `b`: on a tie nginx keeps the second drawn (`a`). */
function worse(a: PeerView, b: PeerView, mode: Mode): boolean {
  if (mode !== 1) {
    const header = mode === 2;
    const sa = leastTimeScore(a, a.weight, header, true);
    const sb = leastTimeScore(b, b.weight, header, true);
    if (sa !== sb) return sa > sb;
  }
  return a.active * b.weight > b.active * a.weight;
}

function report(
  peers: readonly PeerView[],
  r: Ranges,
  ctx: PickContext,
  mode: Mode,
  drawn: readonly number[],
  chosen: number,
): CandidateReport[] {
  const usable = (i: number) => skipReason(peers[i] as PeerView, ctx.tried) === undefined;
  const sampled = new Set(drawn.filter(usable));
  const draws = `${drawn.length} draw${drawn.length === 1 ? '' : 's'}`;
  const chosenId = (peers[chosen] as PeerView).id;
  return peers.map((peer, i) => {
    const skipped = skipReason(peer, ctx.tried);
    const range = `range [${fmt(r.start[i] as number)}, ${fmt((r.start[i] as number) + peer.weight)}) of ${fmt(r.total)}`;
    if (skipped !== undefined) {
      const hit = drawn.includes(i) ? ', drawn and passed over' : '';
      return { id: peer.id, skipped, reason: `${skipLine(skipped)}${hit}` };
    }
    if (!sampled.has(i)) {
      return { id: peer.id, skipped: 'not-sampled', reason: `not drawn in ${draws} (${range})` };
    }
    if (mode === 0) {
      return { id: peer.id, score: peer.weight / r.total, reason: `drawn (${range}): chosen` };
    }
    const score =
      mode === 1 ? peer.active / peer.weight : leastTimeScore(peer, peer.weight, mode === 2, true);
    const formula =
      mode === 1
        ? `score ${fmt(score)} = ${peer.active} active / weight ${peer.weight}`
        : `score ${fmt(score)} = time × (${peer.active} active + 1) / weight ${peer.weight}`;
    const verdict =
      i === chosen ? 'the better of the two: chosen' : `worse than ${chosenId}, or tied and drawn first`;
    return { id: peer.id, score, reason: `drawn (${range}), ${formula}; ${verdict}` };
  });
}

/** murmur3's finalizer: spreads a small seed over all 32 bits; never returns 0. */
function seedState(seed: number): number {
  let h = seed >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  return h === 0 ? 0x9e3779b9 : h;
}

/** Marsaglia's xorshift32: a full-period generator over the non-zero 32-bit states. */
function xorshift32(x: number): number {
  let s = x;
  s ^= s << 13;
  s ^= s >>> 17;
  s ^= s << 5;
  return s >>> 0;
}
