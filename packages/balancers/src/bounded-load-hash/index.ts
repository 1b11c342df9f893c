import { isObject, knownKeys } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import { skipped, skipReason } from '../explain/lines.js';
import { crc32 } from '../hash/crc32.js';
import { type KetamaRing, ringFor, ringPoint, ringsVersion } from '../hash/ketama.js';
import { explainFallback, pointsOn } from '../hash/walk.js';
import { roundRobin } from '../round-robin/index.js';
import { LastTable } from '../tables.js';
import type { Balancer, CandidateReport, Explanation, PeerView, PickContext } from '../types.js';

/** Options of {@link boundedLoadHash}. */
export interface BoundedLoadHashOptions {
  /**
   * `c` in the paper: no peer takes a request while it has `ceil(c × average load)`
   * requests in flight. Closer to 1 spreads load more evenly and moves more keys off
   * their home peer; larger keeps keys home longer. Must be ≥ 1.
   * @default 1.25
   */
  balanceFactor?: number;
}

/** Every key of {@link BoundedLoadHashOptions}: any other is refused. */
const BOUNDED_LOAD_HASH_KEYS = Object.keys({
  balanceFactor: true,
} satisfies Record<keyof BoundedLoadHashOptions, true>);

/**
 * The load bound: a peer takes a new request only while its `active` is below
 * `ceil(balanceFactor × (activeSum + 1) / available)`, the average load counting the new
 * request. A hair comes off before rounding so that floating-point error in an exact
 * product (10 × 1.1 = 11.000000000000002) does not raise the bound by one.
 *
 * @param activeSum - requests in flight over the available peers.
 * @param available - how many peers are available (> 0).
 * @param balanceFactor - `c`, ≥ 1.
 * @example
 * ```ts
 * loadBound(5, 3, 1.25); // 3: ceil(6 / 3 × 1.25)
 * ```
 */
export function loadBound(activeSum: number, available: number, balanceFactor: number): number {
  return Math.ceil(((activeSum + 1) / available) * balanceFactor - 1e-9);
}

/**
 * Points a pick walks without meeting a candidate before it works out the bound anyway,
 * to learn whether any peer is available at all (if none is, the answer is `undefined`
 * without a turn of the whole ring).
 */
const LOOKAHEAD = 64;

// The last bound computed, by its inputs: `loadBound` is a pure function, and while the load
// holds still picks ask for the same one again (a division and a rounding saved per pick).
let memoSum = Number.NaN;
let memoCount = 0;
let memoFactor = Number.NaN;
let memoBound = 0;

/** The bound for this pick: the sum of `active` over available peers, and their count. */
function boundOf(peers: readonly PeerView[], balanceFactor: number): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < peers.length; i++) {
    const p = peers[i] as PeerView;
    const available = p.available;
    if (available !== true && !available) continue;
    sum += p.active;
    count++;
  }
  if (count === 0) return 0;
  if (sum !== memoSum || count !== memoCount || balanceFactor !== memoFactor) {
    memoSum = sum;
    memoCount = count;
    memoFactor = balanceFactor;
    memoBound = loadBound(sum, count, balanceFactor);
  }
  return memoBound;
}

/**
 * The one walk of `boundedLoadHash`: from `keyHash` round the ring, the first available,
 * untried peer whose `active` is below the bound. Every peer owns points all around the
 * ring, so one turn sees them all. The bound (an O(n) scan of `active`) is worked out only
 * once the walk meets its first candidate, or after {@link LOOKAHEAD} points without one;
 * nothing changes during a pick, so it is the bound of the moment. A bound of 0 (no peer
 * available) answers -1.
 *
 * With `out`, each peer's first sighting is reported (`reported` holds who has been), and
 * the chosen one.
 */
function walk(
  ring: KetamaRing,
  peers: readonly PeerView[],
  keyHash: number,
  tried: ReadonlySet<string> | undefined,
  balanceFactor: number,
  out: CandidateReport[] | undefined,
  reported: Set<number> | undefined,
): number {
  const owners = ring.owners;
  const sameId = ring.sameId;
  const repeats = ring.repeats;
  const size = owners.length;
  const checkTried = tried !== undefined && tried.size > 0;
  let bound = Number.NaN;
  let known = false;
  let at = ringPoint(ring, keyHash);
  for (let step = 0; step < size; step++, at++) {
    if (at >= size) at -= size;
    // One peer per point unless ids repeat; then every peer with the point's id, in order.
    for (let j = owners[at] as number; j >= 0; j = repeats ? (sameId[j] as number) : -1) {
      const p = peers[j] as PeerView;
      const first = reported !== undefined && !reported.has(j);
      if (first) reported.add(j);
      // `available === true` first, as isAvailable (tables.ts) does.
      const available = p.available;
      if ((available !== true && !available) || (checkTried && tried.has(p.id))) {
        if (first) {
          const why = skipReason(p, tried);
          out?.push({
            id: p.id,
            score: ring.hashes[at],
            skipped: why,
            reason: `ring point ${ring.hashes[at]}: ${why === 'tried' ? 'already tried' : 'unavailable'}`,
          });
        }
        continue;
      }
      if (!known) {
        bound = boundOf(peers, balanceFactor);
        known = true;
        if (bound === 0) return -1;
      }
      if (p.active < bound) {
        out?.push({
          id: p.id,
          score: ring.hashes[at],
          reason: `ring point ${ring.hashes[at]}${step === 0 ? ' (first ≥ crc32(key))' : `, ${pointsOn(step)}`}: ${p.active} in flight < bound ${bound}`,
        });
        return j;
      }
      if (first) {
        out?.push({
          id: p.id,
          score: ring.hashes[at],
          skipped: 'over-bound',
          reason: `ring point ${ring.hashes[at]}: ${p.active} in flight, bound ${bound}`,
        });
      }
    }
    if (step === LOOKAHEAD && !known) {
      bound = boundOf(peers, balanceFactor);
      known = true;
      if (bound === 0) return -1;
    }
  }
  return -1;
}

/**
 * Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, 2018) on
 * `ctx.key`: the key's home is found on the same ketama ring as `hash({ consistent: true })`
 * (so with light load it maps exactly like nginx's `hash $key consistent`), and the walk
 * goes on past any peer that already has `ceil(balanceFactor × average load)` requests
 * in flight, where the average is (the sum of `active` over available peers + 1) / their
 * number. No peer ever exceeds that bound, and keys leave home only while it is busy.
 *
 * Unavailable and already-tried peers are walked past. An empty key falls back to round
 * robin, as nginx's hash does. Not an nginx directive: the nearest is `hash … consistent`.
 *
 * Cost: the ring is built once per `peers` array and trusted afterwards (the array keeps
 * its identity until membership or a weight changes, see `Balancer.pick`). The bound needs
 * the current `active` of every available peer, so a pick still reads them all once, but
 * only when the walk has met a candidate (an available, untried peer), not before.
 *
 * @param options - {@link BoundedLoadHashOptions}.
 * @returns a {@link Balancer}; it reads `active`, which the caller keeps up to date.
 * @throws InvalidOptionError (`SWY_ERR_INVALID_OPTION`) when `balanceFactor` is not a number ≥ 1.
 * @example
 * ```ts
 * const cacheAffine = boundedLoadHash({ balanceFactor: 1.25 });
 * cacheAffine.pick(peers, { key: req.url });
 * ```
 * @see https://arxiv.org/abs/1608.01350
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#hash
 */
export function boundedLoadHash(options: BoundedLoadHashOptions = {}): Balancer {
  if (isObject(options)) knownKeys('', options, BOUNDED_LOAD_HASH_KEYS);
  const balanceFactor = options?.balanceFactor ?? 1.25;
  if (typeof balanceFactor !== 'number' || !Number.isFinite(balanceFactor) || balanceFactor < 1) {
    throw new InvalidOptionError('balanceFactor', 'a finite number ≥ 1', balanceFactor);
  }
  const rr = roundRobin();
  const rings = new LastTable(ringFor, ringsVersion);

  return {
    pick(peers: readonly PeerView[], ctx: PickContext): PeerView | undefined {
      const key = ctx.key;
      if (!key) return rr.pick(peers, ctx);
      const i = walk(rings.get(peers), peers, crc32(key), ctx.tried, balanceFactor, undefined, undefined);
      return i < 0 ? undefined : peers[i];
    },
    failed(peer: PeerView, peers: readonly PeerView[]): void {
      rr.failed?.(peer, peers);
    },
    explain(peers: readonly PeerView[], ctx: PickContext): Explanation {
      const candidates: CandidateReport[] = [];
      const key = ctx.key;
      if (!key) return explainFallback('bounded-load-hash', rr, peers, ctx, candidates);
      const reported = new Set<number>();
      const i = walk(ringFor(peers), peers, crc32(key), ctx.tried, balanceFactor, candidates, reported);
      if (i < 0) {
        // No peer taken: say why of every peer the walk did not reach.
        for (let j = 0; j < peers.length; j++) {
          if (!reported.has(j)) candidates.push(skipped(peers[j] as PeerView, ctx.tried));
        }
      }
      return { strategy: 'bounded-load-hash', chosen: i < 0 ? undefined : peers[i], candidates };
    },
  };
}
