import type { PeerView } from '../types.js';
import { crc32, crc32Word } from './crc32.js';

/** Points on the ring per unit of weight, as nginx (`peer->weight * 160`). */
export const POINTS_PER_WEIGHT = 160;

/**
 * A ketama ring built from one tier of peers, as nginx builds it in
 * `ngx_http_upstream_init_chash` (`ngx_http_upstream_update_chash` in later versions).
 * Immutable once built.
 */
export interface KetamaRing {
  /** The points' hashes, ascending, duplicates removed. */
  readonly hashes: Uint32Array;
  /**
   * For each point, the index of the first peer (config order) whose id made it. nginx
   * stores the server text and matches every peer with that text; `sameId` links them.
   */
  readonly owners: Uint32Array;
  /** For each peer index, the next index with the same id, or -1. */
  readonly sameId: Int32Array;
  /** Whether any id appears more than once (then points are shared by smooth weighting). */
  readonly repeats: boolean;
  /** The ids the ring was built from, for {@link ketamaRing}'s check. */
  readonly ids: readonly string[];
  /** The weights the ring was built from, for {@link ketamaRing}'s check. */
  readonly weights: Float64Array;
  /**
   * The point index: `index[b]` is the first point whose hash, shifted right by `shift`,
   * is ≥ `b`; one entry more than there are buckets, the last `hashes.length`.
   */
  readonly index: Uint32Array;
  /** `32 - ` the bits of a hash that pick its bucket in `index` (1 to 16 bits). */
  readonly shift: number;
}

/**
 * The text nginx hashes for a server: `HOST \0 PORT`, split at the last colon when only
 * digits follow it (`"[::1]:80"` → `"[::1]"`, `"80"`); `unix:PATH` hashes PATH and an
 * empty port; a name with no port hashes the whole name and an empty port.
 * (Cache::Memcached::Fast's `crc32(HOST \0 PORT PREV_HASH)`.)
 */
export function serverHashText(id: string): string {
  if (id.length >= 5 && id.slice(0, 5).toLowerCase() === 'unix:') return `${id.slice(5)}\0`;
  for (let j = id.length - 1; j >= 0; j--) {
    const c = id.charCodeAt(j);
    if (c === 0x3a /* : */) return `${id.slice(0, j)}\0${id.slice(j + 1)}`;
    if (c < 0x30 || c > 0x39) break;
  }
  return `${id}\0`;
}

function pointsOf(weight: number): number {
  // nginx weights are positive integers; anything else gets what its share rounds down to.
  return Number.isFinite(weight) && weight > 0 ? Math.floor(weight * POINTS_PER_WEIGHT) : 0;
}

/**
 * Sorts the points by hash with a stable LSD radix sort (11, 11 and 10 bits), carrying
 * each point's owner along: among equal hashes the points stay in build order, i.e. the
 * earlier peer first, as glibc's stable `qsort` leaves them in nginx. Linear time, no
 * comparator calls; `keys` and `vals` serve as scratch space, the sorted arrays are returned.
 */
function sortPoints(keys: Uint32Array, vals: Uint32Array): { keys: Uint32Array; vals: Uint32Array } {
  const n = keys.length;
  const c0 = new Int32Array(2048);
  const c1 = new Int32Array(2048);
  const c2 = new Int32Array(1024);
  for (let i = 0; i < n; i++) {
    const k = keys[i] as number;
    c0[k & 2047] = (c0[k & 2047] as number) + 1;
    c1[(k >>> 11) & 2047] = (c1[(k >>> 11) & 2047] as number) + 1;
    c2[k >>> 22] = (c2[k >>> 22] as number) + 1;
  }
  exclusiveSums(c0);
  exclusiveSums(c1);
  exclusiveSums(c2);
  let ak: Uint32Array = keys;
  let av: Uint32Array = vals;
  let bk: Uint32Array = new Uint32Array(n);
  let bv: Uint32Array = new Uint32Array(n);
  for (let pass = 0; pass < 3; pass++) {
    const counts = pass === 0 ? c0 : pass === 1 ? c1 : c2;
    const shift = pass * 11;
    const mask = pass === 2 ? 1023 : 2047;
    for (let i = 0; i < n; i++) {
      const k = ak[i] as number;
      const d = (k >>> shift) & mask;
      const at = counts[d] as number;
      counts[d] = at + 1;
      bk[at] = k;
      bv[at] = av[i] as number;
    }
    const tk = ak;
    const tv = av;
    ak = bk;
    av = bv;
    bk = tk;
    bv = tv;
  }
  return { keys: ak, vals: av };
}

function exclusiveSums(counts: Int32Array): void {
  let sum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] as number;
    counts[i] = sum;
    sum += c;
  }
}

/**
 * Bits of a hash the point index of a ring of `size` points looks up: about one point
 * per bucket, at most 16 (65,537 entries, a quarter of the size of a 1000-peer ring).
 */
function indexBits(size: number): number {
  let bits = 1;
  while (bits < 16 && 1 << bits < size) bits++;
  return bits;
}
/** Builds the ring; {@link ringFor} and {@link ketamaRing} cache it per peers array. */
export function buildKetamaRing(peers: readonly PeerView[]): KetamaRing {
  const n = peers.length;
  const ids: string[] = [];
  const weights = new Float64Array(n);
  const sameId = new Int32Array(n).fill(-1);
  const head = new Uint32Array(n);
  const firstById = new Map<string, number>();
  const lastById = new Map<string, number>();
  let repeats = false;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const p = peers[i] as PeerView;
    ids.push(p.id);
    weights[i] = p.weight;
    total += pointsOf(p.weight);
    const first = firstById.get(p.id);
    if (first === undefined) {
      firstById.set(p.id, i);
      head[i] = i;
    } else {
      head[i] = first;
      repeats = true;
      sameId[lastById.get(p.id) as number] = i;
    }
    lastById.set(p.id, i);
  }

  const raw = new Uint32Array(total);
  const rawOwner = new Uint32Array(total);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const p = peers[i] as PeerView;
    const base = crc32(serverHashText(p.id));
    const owner = head[i] as number;
    // Each point: crc32(HOST \0 PORT PREV_HASH), PREV_HASH the previous point as 4
    // little-endian bytes (0 for the first), as nginx writes it on any byte order.
    let prev = 0;
    const count = pointsOf(p.weight);
    for (let j = 0; j < count; j++) {
      prev = crc32Word(prev, base);
      raw[k] = prev;
      rawOwner[k] = owner;
      k++;
    }
  }

  // Sort by hash; on equal hashes the earlier peer comes first (glibc's qsort, a merge
  // sort, is stable) and nginx keeps only the first point of each hash.
  const sorted = sortPoints(raw, rawOwner);
  const sk = sorted.keys;
  const sv = sorted.vals;
  let unique = 0;
  for (let i = 0; i < total; i++) {
    if (i === 0 || sk[i] !== sk[i - 1]) unique++;
  }
  const hashes = new Uint32Array(unique);
  const owners = new Uint32Array(unique);
  let u = -1;
  for (let i = 0; i < total; i++) {
    const h = sk[i] as number;
    if (u >= 0 && hashes[u] === h) continue;
    u++;
    hashes[u] = h;
    owners[u] = sv[i] as number;
  }

  const bits = indexBits(unique);
  const shift = 32 - bits;
  const buckets = 1 << bits;
  const index = new Uint32Array(buckets + 1);
  let at = 0;
  for (let b = 0; b < buckets; b++) {
    while (at < unique && (hashes[at] as number) >>> shift < b) at++;
    index[b] = at;
  }
  index[buckets] = unique;
  return { hashes, owners, sameId, repeats, ids, weights, index, shift };
}

const rings = new WeakMap<readonly PeerView[], KetamaRing>();

/** Bumped whenever {@link ketamaRing} replaces the ring of an array (see {@link ringsVersion}). */
let replaced = 0;

/**
 * A number that changes whenever {@link ketamaRing} replaced the cached ring of an array
 * (an id or weight changed in place): strategies that remember the last ring they used
 * then look it up again, so that they and `ketamaRing` keep agreeing.
 */
export function ringsVersion(): number {
  return replaced;
}

/**
 * The ring for a peers array, built on the first call for that array and then trusted:
 * `peers` keeps its identity until membership or a weight changes (see `Balancer.pick`),
 * so a pick costs no check of the array against the ring. The ring holds no per-strategy
 * state, so every strategy shares it.
 */
export function ringFor(peers: readonly PeerView[]): KetamaRing {
  let ring = rings.get(peers);
  if (ring === undefined) {
    ring = buildKetamaRing(peers);
    rings.set(peers, ring);
  }
  return ring;
}

function stillMatches(ring: KetamaRing, peers: readonly PeerView[]): boolean {
  const n = peers.length;
  if (ring.ids.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const p = peers[i] as PeerView;
    if (p.weight !== ring.weights[i] || p.id !== ring.ids[i]) return false;
  }
  return true;
}

/**
 * The ring for a peers array, checked against the array first (O(n)): built once per array
 * identity, and rebuilt if an id or a weight was changed in place. For callers outside
 * the `Balancer` contract (tools, tests); the strategies use {@link ringFor}, which trusts
 * the array. Both share one cache, so a rebuild here is what the strategies see next.
 */
export function ketamaRing(peers: readonly PeerView[]): KetamaRing {
  let ring = rings.get(peers);
  if (ring === undefined || !stillMatches(ring, peers)) {
    if (ring !== undefined) replaced++;
    ring = buildKetamaRing(peers);
    rings.set(peers, ring);
  }
  return ring;
}

/**
 * The index of the first point whose hash is ≥ `hash`, or `hashes.length` when there is
 * none (the caller wraps to 0), as `ngx_http_upstream_find_chash_point`.
 */
export function findPoint(hashes: Uint32Array, hash: number): number {
  return searchPoints(hashes, hash, 0, hashes.length);
}

/**
 * {@link findPoint} on a ring, through its bucket index: the top bits of `hash` give the
 * few points to search, so a lookup in a 320,000-point ring touches two or three cache
 * lines instead of binary-searching 1.25 MB. Same answer as `findPoint(ring.hashes, hash)`.
 */
export function ringPoint(ring: KetamaRing, hash: number): number {
  const b = hash >>> ring.shift;
  return searchPoints(ring.hashes, hash, ring.index[b] as number, ring.index[b + 1] as number);
}

/** The first index in `[from, to)` whose hash is ≥ `hash`, or `to`; `hashes` ascending. */
function searchPoints(hashes: Uint32Array, hash: number, from: number, to: number): number {
  let i = from;
  let j = to;
  while (i < j) {
    const k = (i + j) >>> 1;
    const h = hashes[k] as number;
    if (hash > h) i = k + 1;
    else if (hash < h) j = k;
    else return k;
  }
  return i;
}
