import { roundRobin } from '../round-robin/index.js';
import type { Balancer, CandidateReport, Explanation, PeerView, PickContext } from '../types.js';

/** nginx gives up hashing after this many unusable picks and uses round robin. */
export const MAX_TRIES = 20;

/** A walk's answer when nginx would fall back to round robin. */
export const FALLBACK = -1;

/** The sum of the weights of every peer, unavailable ones too (nginx's `total_weight`). */
export function totalWeight(peers: readonly PeerView[]): number {
  let total = 0;
  for (let i = 0; i < peers.length; i++) total += (peers[i] as PeerView).weight;
  return total;
}

/**
 * The peer at `w` on the weight line, as nginx's
 * `while (w >= peer->weight) { w -= peer->weight; peer = peer->next; }`.
 */
export function weightSlot(peers: readonly PeerView[], w: number): number {
  const last = peers.length - 1;
  let p = 0;
  while (p < last) {
    const weight = (peers[p] as PeerView).weight;
    if (w < weight) break;
    w -= weight;
    p++;
  }
  return p;
}

/**
 * The weight line of one peers array, built once per array and trusted afterwards
 * (`peers` keeps its identity until membership or a weight changes, see `Balancer.pick`).
 */
export interface WeightLine {
  /** {@link totalWeight} of the array. */
  readonly total: number;
  /**
   * `ends[p]`: the sum of the weights of peers `0…p`, when every weight is a
   * non-negative integer (as nginx's are) and the sums are exact; then the peer at `w` is
   * the first `p` with `w < ends[p]` (a binary search), which is exactly where nginx's
   * subtracting walk stops. `undefined` otherwise: {@link weightSlot} walks the array.
   */
  readonly ends: Float64Array | undefined;
}

const lines = new WeakMap<readonly PeerView[], WeightLine>();

/** The {@link WeightLine} of `peers`, built on the first call for this array. */
export function weightLine(peers: readonly PeerView[]): WeightLine {
  let line = lines.get(peers);
  if (line === undefined) {
    line = buildWeightLine(peers);
    lines.set(peers, line);
  }
  return line;
}

function buildWeightLine(peers: readonly PeerView[]): WeightLine {
  const n = peers.length;
  const ends = new Float64Array(n);
  let exact = true;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const weight = (peers[i] as PeerView).weight;
    if (!Number.isInteger(weight) || weight < 0) exact = false;
    total += weight;
    ends[i] = total;
  }
  if (!Number.isSafeInteger(total)) exact = false;
  return { total, ends: exact ? ends : undefined };
}

/** {@link weightSlot} through the array's {@link WeightLine}: O(log n) when it has `ends`. */
export function lineSlot(line: WeightLine, peers: readonly PeerView[], w: number): number {
  const ends = line.ends;
  if (ends === undefined) return weightSlot(peers, w);
  // The first p in [0, last) with w < ends[p], else the last peer (nginx never looks
  // past it: it takes whatever is left of w).
  let i = 0;
  let j = ends.length - 1;
  while (i < j) {
    const k = (i + j) >>> 1;
    if (w < (ends[k] as number)) j = k;
    else i = k + 1;
  }
  return i;
}

/** Why a weighted walk landed where it did: `hash 2053 % total weight 3 = 1`. */
export function slotReason(hash: number, total: number, w: number): string {
  return `hash ${hash} % total weight ${total} = ${w}`;
}

/** The note on the try after which nginx stops hashing (`tries` counted before it). */
export function giveUp(tries: number): string {
  return tries + 1 > MAX_TRIES ? `; ${MAX_TRIES + 1} tries failed, falling back to round robin` : '';
}

/** `3 points on`, `1 point on`: how far along the ring a walk went. */
export function pointsOn(steps: number): string {
  return `${steps} point${steps === 1 ? '' : 's'} on`;
}

/**
 * Remembers, per peer index, that the walk already passed a tried peer once.
 *
 * nginx keeps a request's hash state between its tries: the peer chosen by an earlier
 * try was taken where the walk met it, without counting a failed try, and the next try
 * goes on from there. A pick starts over from the key with `ctx.tried`, so it passes
 * each tried peer's first appearance for free and reaches the same peer after the same
 * number of counted tries as nginx. The marks are scratch space reused by every pick.
 */
export class FirstSight {
  private marks = new Uint8Array(0);

  reset(n: number): void {
    if (this.marks.length < n) this.marks = new Uint8Array(Math.max(n, this.marks.length * 2));
    else this.marks.fill(0, 0, n);
  }

  /** True the first time since `reset` that `i` is seen. */
  first(i: number): boolean {
    if (this.marks[i] === 1) return false;
    this.marks[i] = 1;
    return true;
  }
}

/**
 * How a weighted hash walk computes the hash of each try: nginx's `hash` and `ip_hash`
 * walk the same way and differ only in this step. One object per strategy, its input
 * (the key, the address bytes) set before each walk, so a pick allocates nothing.
 */
export interface HashSteps {
  /** The hash before the first try (nginx's initial `hash`). */
  readonly start: number;
  /** The hash of try `n` (0 for the first), from `prev`, the hash of the try before. */
  next(n: number, prev: number): number;
}

/**
 * The walk of `ngx_http_upstream_get_hash_peer` and `ngx_http_upstream_get_ip_hash_peer`:
 * the peer at `hash % total weight`, and on a tried or unavailable peer the same with
 * the next hash, up to {@link MAX_TRIES}. Returns the chosen index or {@link FALLBACK}.
 * Allocates nothing unless `out` is given; then each try's report is pushed to it.
 *
 * The total weight and the cumulative weights come from `line`, the array's
 * {@link weightLine}, built once per `peers` array (a binary search instead of nginx's
 * walk along the weights; the same peer).
 */
export function walkWeighted(
  line: WeightLine,
  peers: readonly PeerView[],
  steps: HashSteps,
  tried: ReadonlySet<string> | undefined,
  seen: FirstSight,
  out: CandidateReport[] | undefined,
): number {
  const total = line.total;
  if (!(total > 0)) return FALLBACK;
  const anyTried = tried !== undefined && tried.size > 0;
  if (anyTried) seen.reset(peers.length);
  let hash = steps.start;
  let tries = 0;
  for (let n = 0; ; n++) {
    hash = steps.next(n, hash);
    const w = hash % total;
    const i = lineSlot(line, peers, w);
    const peer = peers[i] as PeerView;
    if (anyTried && tried.has(peer.id)) {
      if (seen.first(i)) {
        out?.push({
          id: peer.id,
          score: hash,
          skipped: 'tried',
          reason: `${slotReason(hash, total, w)}: taken by an earlier try of this request, not counted`,
        });
        continue;
      }
      out?.push({
        id: peer.id,
        score: hash,
        skipped: 'tried',
        reason: `${slotReason(hash, total, w)}: already tried${giveUp(tries)}`,
      });
    } else if (peer.available) {
      out?.push({ id: peer.id, score: hash, reason: slotReason(hash, total, w) });
      return i;
    } else {
      out?.push({
        id: peer.id,
        score: hash,
        skipped: 'unavailable',
        reason: `${slotReason(hash, total, w)}: unavailable${giveUp(tries)}`,
      });
    }
    if (++tries > MAX_TRIES) return FALLBACK;
  }
}

/**
 * What round robin would do, for `explain()` when nginx falls back to it (one peer, no
 * key, or no usable peer in {@link MAX_TRIES} tries): round robin's own `explain`, the
 * walk its `pick` takes; `chosen` is unknown (`undefined`) for a balancer without one.
 */
/**
 * One walk of a hashing strategy: the chosen peer's index, or {@link FALLBACK} for round
 * robin. With `out` (explain) it changes no state of the balancer and pushes each peer's
 * report to `out`.
 */
export type HashWalk = (
  peers: readonly PeerView[],
  ctx: PickContext,
  out: CandidateReport[] | undefined,
) => number;

/**
 * A balancer around a hashing `walk` that falls back to round robin where nginx's `hash`
 * and `ip_hash` do (one peer, no key, nothing usable after {@link MAX_TRIES}); failures
 * reach the round robin, which keeps its own state.
 */
export function hashBalancer(strategy: string, walk: HashWalk): Balancer {
  const rr = roundRobin();
  return {
    pick(peers: readonly PeerView[], ctx: PickContext): PeerView | undefined {
      const i = walk(peers, ctx, undefined);
      return i === FALLBACK ? rr.pick(peers, ctx) : peers[i];
    },
    failed(peer: PeerView, peers: readonly PeerView[]): void {
      rr.failed?.(peer, peers);
    },
    explain(peers: readonly PeerView[], ctx: PickContext): Explanation {
      const candidates: CandidateReport[] = [];
      const i = walk(peers, ctx, candidates);
      if (i === FALLBACK) return explainFallback(strategy, rr, peers, ctx, candidates);
      return { strategy, chosen: peers[i], candidates };
    },
  };
}

export function explainFallback(
  strategy: string,
  rr: Balancer,
  peers: readonly PeerView[],
  ctx: PickContext,
  candidates: CandidateReport[],
): Explanation {
  const inner = rr.explain?.(peers, ctx);
  if (inner === undefined) return { strategy, chosen: undefined, candidates };
  for (const c of inner.candidates) candidates.push(c);
  return { strategy, chosen: inner.chosen, candidates };
}
