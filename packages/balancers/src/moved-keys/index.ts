import { isObject, knownKeys } from '@switchyard/internals';
import type { Balancer, PeerView, PickContext } from '../types.js';

/** One side of a {@link movedKeys} comparison: a tier of peers and how to build its balancer. */
export interface KeyMappingSetup {
  /** The peers, in config order. */
  readonly peers: readonly PeerView[];
  /**
   * Makes the balancer, e.g. `() => hash({ consistent: true })`. Each key is asked of a
   * balancer of its own, so no key's answer depends on the keys asked before it (a
   * round-robin fallback moves on with each pick) and no live balancer is touched.
   */
  readonly balancer: () => Balancer;
}

/** Options of {@link movedKeys}. */
export interface MovedKeysOptions {
  /**
   * Turns a key into the pick context.
   * @default (key) => ({ key }); use `(ip) => ({ clientIp: ip })` for `ipHash()`
   */
  context?: (key: string) => PickContext;
}

/** Every key of {@link MovedKeysOptions}: any other is refused. */
const MOVED_KEYS_KEYS = Object.keys({ context: true } satisfies Record<keyof MovedKeysOptions, true>);

/** A key that maps to a different peer after the change. */
export interface MovedKey {
  /** The key that moved. */
  key: string;
  /** The peer id before, or `undefined` if no peer took the key. */
  from: string | undefined;
  /** The peer id after, or `undefined` if no peer takes the key. */
  to: string | undefined;
}

const byKey = (key: string): PickContext => ({ key });

/**
 * The keys that a change of peers (or of strategy) sends to a different peer, with
 * where each went: how disruptive adding, removing or reweighting a server would be.
 * Pure: it builds fresh balancers from the setups' factories and only reads the peers.
 *
 * @param before - the setup as it is.
 * @param after - the setup after the change.
 * @param keys - the keys to map, e.g. a sample of request URIs.
 * @param options - {@link MovedKeysOptions}.
 * @returns the moved keys, in the order of `keys`.
 * @example
 * ```ts
 * const consistent = () => hash({ consistent: true });
 * const moved = movedKeys(
 *   { peers: tenPeers, balancer: consistent },
 *   { peers: elevenPeers, balancer: consistent },
 *   uris,
 * );
 * moved.length / uris.length; // about 1/11
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#hash
 */
export function movedKeys(
  before: KeyMappingSetup,
  after: KeyMappingSetup,
  keys: Iterable<string>,
  options: MovedKeysOptions = {},
): MovedKey[] {
  if (isObject(options)) knownKeys('options', options, MOVED_KEYS_KEYS);
  const context = options.context ?? byKey;
  const moved: MovedKey[] = [];
  for (const key of keys) {
    const ctx = context(key);
    const from = before.balancer().pick(before.peers, ctx)?.id;
    const to = after.balancer().pick(after.peers, ctx)?.id;
    if (from !== to) moved.push({ key, from, to });
  }
  return moved;
}
