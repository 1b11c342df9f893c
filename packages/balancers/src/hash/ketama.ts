import type { PeerView } from '../types.js';
import { crc32 } from './crc32.js';

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
  /** The ids the ring was built from, to notice an array changed in place. */
  readonly ids: readonly string[];
  /** The weights the ring was built from, to notice a weight patched at run time. */
  readonly weights: Float64Array;
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

/** Builds the ring; {@link ketamaRing} caches it per peers array. */
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
  const prev = new Uint8Array(4);
  const prevView = new DataView(prev.buffer);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const p = peers[i] as PeerView;
    const base = crc32(serverHashText(p.id));
    // Each point: crc32(HOST \0 PORT PREV_HASH), PREV_HASH the previous point as 4
    // little-endian bytes (0 for the first), as nginx writes it on any byte order.
    prevView.setUint32(0, 0, true);
    const count = pointsOf(p.weight);
    for (let j = 0; j < count; j++) {
      const h = crc32(prev, base);
      raw[k] = h;
      rawOwner[k] = head[i] as number;
      k++;
      prevView.setUint32(0, h, true);
    }
  }

  // Sort by hash; on equal hashes the earlier peer comes first (glibc's qsort, a merge
  // sort, is stable) and nginx keeps only the first point of each hash.
  const order = new Uint32Array(total);
  for (let i = 0; i < total; i++) order[i] = i;
  order.sort((a, b) => (raw[a] as number) - (raw[b] as number) || a - b);
  let unique = 0;
  for (let i = 0; i < total; i++) {
    if (i === 0 || raw[order[i] as number] !== raw[order[i - 1] as number]) unique++;
  }
  const hashes = new Uint32Array(unique);
  const owners = new Uint32Array(unique);
  let u = -1;
  for (let i = 0; i < total; i++) {
    const at = order[i] as number;
    if (u >= 0 && hashes[u] === raw[at]) continue;
    u++;
    hashes[u] = raw[at] as number;
    owners[u] = rawOwner[at] as number;
  }
  return { hashes, owners, sameId, repeats, ids, weights };
}

const rings = new WeakMap<readonly PeerView[], KetamaRing>();

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
 * The ring for a peers array: built once per array identity and kept while the array
 * lives, rebuilt only if a weight was patched in place. The ring holds no per-strategy
 * state, so every strategy shares it.
 */
export function ketamaRing(peers: readonly PeerView[]): KetamaRing {
  let ring = rings.get(peers);
  if (ring === undefined || !stillMatches(ring, peers)) {
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
  let i = 0;
  let j = hashes.length;
  while (i < j) {
    const k = (i + j) >>> 1;
    const h = hashes[k] as number;
    if (hash > h) i = k + 1;
    else if (hash < h) j = k;
    else return k;
  }
  return i;
}
