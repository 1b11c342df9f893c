import type { PeerView } from './types.js';

/**
 * A one-entry memo in front of a per-array table cache (`ringFor`, `weightLine`: tables
 * built once per `peers` array and kept in a `WeakMap`). A strategy keeps one, so the usual
 * pick — on the same array as the pick before — costs an identity comparison instead of a
 * `WeakMap` lookup (about 9 ns).
 *
 * Tables are trusted, never checked against the peers: `peers` keeps its identity until
 * membership or a weight changes (see `Balancer.pick`). The memo holds the last array
 * strongly until it is asked about another one.
 *
 * Internal to the package.
 */
export class LastTable<T> {
  readonly #lookup: (peers: readonly PeerView[]) => T;
  readonly #version: () => number;
  #peers: readonly PeerView[] | undefined = undefined;
  #table: T | undefined = undefined;
  #at = 0;

  /**
   * @param lookup - the cached table of an array (builds it on the first call).
   * @param version - a number the cache changes whenever it replaces the table of an array
   *   it already had (only `ketamaRing`'s in-place check does), so the memo lets go of it.
   */
  constructor(lookup: (peers: readonly PeerView[]) => T, version: () => number = () => 0) {
    this.#lookup = lookup;
    this.#version = version;
  }

  /** The table for `peers`. */
  get(peers: readonly PeerView[]): T {
    const at = this.#version();
    if (peers !== this.#peers || at !== this.#at) {
      this.#table = this.#lookup(peers);
      this.#peers = peers;
      this.#at = at;
    }
    return this.#table as T;
  }
}

/**
 * `peer.available` as a boolean, exactly as `!!peer.available`, but with `true` — what it
 * nearly always is — tested first: optimized code for a bare `!peer.available` runs the
 * generic truthiness test (false, "", undetectable objects, numbers, big integers) on
 * every peer of a scan; here only values other than `true` take that path.
 */
export function isAvailable(peer: PeerView): boolean {
  const available = peer.available;
  return available === true || !!available;
}
