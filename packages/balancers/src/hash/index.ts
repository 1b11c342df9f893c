import { isObject, knownKeys } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import { LastTable } from '../tables.js';
import type { Balancer, CandidateReport, PeerView } from '../types.js';
import { crc32 } from './crc32.js';
import { type KetamaRing, ringFor, ringPoint, ringsVersion } from './ketama.js';
import {
  FALLBACK,
  FirstSight,
  giveUp,
  type HashSteps,
  hashBalancer,
  MAX_TRIES,
  pointsOn,
  walkWeighted,
  weightLine,
} from './walk.js';

/** Options of {@link hash}: nginx `hash $key [consistent]`. */
export interface HashOptions {
  /**
   * `consistent`: ketama consistent hashing, so that adding or removing a peer moves
   * only about 1/N of the keys. Without it a key maps by `hash % total weight`, and a
   * membership change remaps most keys.
   * @default false
   */
  consistent?: boolean;
}

/** Every key of {@link HashOptions}: any other is refused. */
const HASH_KEYS = Object.keys({
  consistent: true,
} satisfies Record<keyof HashOptions, true>);

// crc32 of the decimal rehash counters nginx prefixes to the key ("1", "2", …), once.
const REHASH_PREFIX = /* @__PURE__ */ (() => {
  const t = new Uint32Array(64);
  for (let i = 0; i < t.length; i++) t[i] = crc32(String(i));
  return t;
})();

function rehashPrefix(n: number): number {
  return n < REHASH_PREFIX.length ? (REHASH_PREFIX[n] as number) : crc32(String(n));
}

/**
 * The hash steps of `ngx_http_upstream_get_hash_peer`: hash = ((crc32([REHASH] KEY) >> 16)
 * & 0x7fff) + PREV_HASH (Cache::Memcached), the rehash counter prefixed from the second
 * try on. Set `key` before each walk.
 */
class KeySteps implements HashSteps {
  readonly start = 0;
  key = '';

  next(n: number, prev: number): number {
    const c = n === 0 ? crc32(this.key) : crc32(this.key, rehashPrefix(n));
    return (prev + ((c >>> 16) & 0x7fff)) >>> 0;
  }
}

/**
 * `ngx_http_upstream_get_chash_peer`: from the first ring point ≥ crc32(key), the
 * peers whose id made the point (more than one only when ids repeat; then nginx's smooth
 * weighting picks among them), else the next point, up to {@link MAX_TRIES} points.
 * Returns the chosen index or {@link FALLBACK}; `current` is the smooth-weighting state
 * for repeated ids, changed only when given.
 */
function walkRing(
  ring: KetamaRing,
  peers: readonly PeerView[],
  keyHash: number,
  tried: ReadonlySet<string> | undefined,
  current: Float64Array | undefined,
  out: CandidateReport[] | undefined,
): number {
  const size = ring.hashes.length;
  if (size === 0) return FALLBACK;
  let at = ringPoint(ring, keyHash);
  for (let tries = 0; ; ) {
    const point = at % size;
    const i = pickAtPoint(ring, peers, point, tried, current, out, tries);
    if (i >= 0) return i;
    at++;
    if (++tries > MAX_TRIES) return FALLBACK;
  }
}

/** The peer for one ring point, or -1. */
function pickAtPoint(
  ring: KetamaRing,
  peers: readonly PeerView[],
  point: number,
  tried: ReadonlySet<string> | undefined,
  current: Float64Array | undefined,
  out: CandidateReport[] | undefined,
  tries: number,
): number {
  const hash = ring.hashes[point] as number;
  let best = -1;
  let bestScore = 0;
  let total = 0;
  for (let j = ring.owners[point] as number; j >= 0; j = ring.sameId[j] as number) {
    const p = peers[j] as PeerView;
    if (tried?.has(p.id)) {
      out?.push({
        id: p.id,
        score: hash,
        skipped: 'tried',
        reason: `ring point ${hash}: already tried${giveUp(tries)}`,
      });
      continue;
    }
    if (!p.available) {
      out?.push({
        id: p.id,
        score: hash,
        skipped: 'unavailable',
        reason: `ring point ${hash}: unavailable${giveUp(tries)}`,
      });
      continue;
    }
    const score = (current?.[j] ?? 0) + p.weight;
    total += p.weight;
    if (best < 0 || score > bestScore) {
      best = j;
      bestScore = score;
    }
  }
  if (best >= 0) {
    if (current !== undefined && ring.sameId[ring.owners[point] as number] !== -1) {
      // Several peers share the id: nginx's smooth weighting among them.
      for (let j = ring.owners[point] as number; j >= 0; j = ring.sameId[j] as number) {
        const p = peers[j] as PeerView;
        if (p.available && !tried?.has(p.id)) current[j] = (current[j] as number) + p.weight;
      }
      current[best] = (current[best] as number) - total;
    }
    out?.push({
      id: (peers[best] as PeerView).id,
      score: hash,
      reason:
        tries === 0 ? `first ring point ≥ crc32(key): ${hash}` : `ring point ${hash}, ${pointsOn(tries)}`,
    });
  }
  return best;
}

function plainHash(): Balancer {
  const seen = new FirstSight();
  const steps = new KeySteps();
  const lines = new LastTable(weightLine);
  return hashBalancer('hash', (peers, ctx, out) => {
    const key = ctx.key;
    // nginx: one peer, or an empty key, goes to round robin.
    if (peers.length < 2 || !key) return FALLBACK;
    if (out === undefined) {
      steps.key = key;
      return walkWeighted(lines.get(peers), peers, steps, ctx.tried, seen, undefined);
    }
    // explain() walks with state of its own, so that it changes nothing.
    const own = new KeySteps();
    own.key = key;
    return walkWeighted(weightLine(peers), peers, own, ctx.tried, new FirstSight(), out);
  });
}

function consistentHash(): Balancer {
  // Smooth-weighting state for peers that share an id, per ring; made only when ids repeat.
  const shared = new WeakMap<KetamaRing, Float64Array>();
  function currentOf(ring: KetamaRing): Float64Array {
    let c = shared.get(ring);
    if (c === undefined) {
      c = new Float64Array(ring.sameId.length);
      shared.set(ring, c);
    }
    return c;
  }
  const rings = new LastTable(ringFor, ringsVersion);
  return hashBalancer('hash-consistent', (peers, ctx, out) => {
    const key = ctx.key;
    if (peers.length < 2 || !key) return FALLBACK;
    if (out === undefined) {
      const ring = rings.get(peers);
      return walkRing(
        ring,
        peers,
        crc32(key),
        ctx.tried,
        ring.repeats ? currentOf(ring) : undefined,
        undefined,
      );
    }
    const ring = ringFor(peers);
    // A copy of the smooth-weighting state (ids that repeat): explain changes nothing.
    return walkRing(ring, peers, crc32(key), ctx.tried, shared.get(ring)?.slice(), out);
  });
}

/**
 * nginx's `hash $key` and `hash $key consistent` on `ctx.key`, as in nginx 1.22
 * (`ngx_http_upstream_hash_module`): the same key goes to the same peer, a peer that is
 * unavailable or already tried by the request is hashed past, and after 20 unusable
 * picks — or with an empty key, or a single peer — it falls back to round robin.
 *
 * - Plain: `((crc32([REHASH] key) >> 16) & 0x7fff)` summed over tries (Cache::Memcached),
 *   the peer at `sum % total weight` in config order; unavailable peers keep their
 *   share of the weight, so a peer going down moves only its own keys.
 * - Consistent: a ketama ring of 160 points per unit of weight, each
 *   `crc32(HOST \0 PORT PREV_HASH)` over the peer id (Cache::Memcached::Fast); a key goes
 *   to the first point ≥ `crc32(key)`. The ring is built once per `peers` array.
 *
 * Tables are built once per `peers` array (the ring, or the cumulative weights of plain
 * hashing) and trusted afterwards: the array keeps its identity until membership or a
 * weight changes (see `Balancer.pick`), so a pick never re-reads every peer. A weight
 * changed in place on the same array is not seen; pass a new array.
 *
 * A peer id must be the server text nginx would hash, `"127.0.0.1:9211"`. Keys are hashed
 * as UTF-8. Mappings match nginx's exactly (checked against recordings of nginx 1.22).
 *
 * @param options - {@link HashOptions}.
 * @returns a {@link Balancer}; `failed()` feeds the round-robin fallback.
 * @throws InvalidOptionError (`SWY_ERR_INVALID_OPTION`) when `consistent` is not a boolean.
 * @example
 * ```ts
 * const byUri = hash({ consistent: true });
 * byUri.pick(peers, { key: req.url }); // the same URI, the same peer
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#hash
 */
export function hash(options: HashOptions = {}): Balancer {
  if (isObject(options)) knownKeys('', options, HASH_KEYS);
  const consistent = options?.consistent;
  if (consistent !== undefined && typeof consistent !== 'boolean') {
    throw new InvalidOptionError('consistent', 'a boolean', consistent);
  }
  return consistent === true ? consistentHash() : plainHash();
}
