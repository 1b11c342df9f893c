import type { Balancer, PeerView, PickContext } from '../types.js';

/** Per-peer state of the smooth weighted round robin, as in nginx's `ngx_http_upstream_rr_peer_t`. */
interface RrState {
  id: string;
  weight: number;
  currentWeight: number;
  effectiveWeight: number;
}

/**
 * nginx's smooth weighted round robin (`ngx_http_upstream_get_peer`): each pick adds
 * every candidate's effective weight to its current weight, takes the highest and
 * lowers it by the total. For weights 5,1,1 the order is a a b a c a a.
 *
 * A failure lowers the peer's effective weight by `weight / maxFails`; it then climbs
 * back by one on each pick, as in nginx.
 *
 * @example
 * ```ts
 * const rr = roundRobin();
 * rr.pick(peers, {}); // the next peer in nginx's order
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#upstream
 */
export function roundRobin(): Balancer {
  // Tables keyed by the peers array: rebuilt only when membership changes.
  const tables = new WeakMap<readonly PeerView[], RrState[]>();
  const byId = new Map<string, RrState>();

  function table(peers: readonly PeerView[]): RrState[] {
    let states = tables.get(peers);
    if (states === undefined) {
      states = peers.map((p) => {
        const old = byId.get(p.id);
        if (old !== undefined && old.weight === p.weight) return old;
        const fresh = { id: p.id, weight: p.weight, currentWeight: 0, effectiveWeight: p.weight };
        byId.set(p.id, fresh);
        return fresh;
      });
      tables.set(peers, states);
    }
    return states;
  }

  return {
    pick(peers: readonly PeerView[], ctx: PickContext): PeerView | undefined {
      const states = table(peers);
      const tried = ctx.tried;
      let best = -1;
      let bestState: RrState | undefined;
      let total = 0;
      for (let i = 0; i < peers.length; i++) {
        const peer = peers[i] as PeerView;
        if (!peer.available || tried?.has(peer.id)) continue;
        const s = states[i] as RrState;
        if (s.weight !== peer.weight) {
          // A weight changed at run time: start the peer over at its new weight.
          s.weight = peer.weight;
          s.effectiveWeight = peer.weight;
          s.currentWeight = 0;
        }
        s.currentWeight += s.effectiveWeight;
        total += s.effectiveWeight;
        if (s.effectiveWeight < s.weight) s.effectiveWeight++;
        if (bestState === undefined || s.currentWeight > bestState.currentWeight) {
          best = i;
          bestState = s;
        }
      }
      if (bestState === undefined) return undefined;
      bestState.currentWeight -= total;
      return peers[best];
    },

    failed(peer: PeerView, peers: readonly PeerView[]): void {
      const maxFails = peer.maxFails ?? 1;
      if (maxFails === 0) return;
      const s = table(peers).find((x) => x.id === peer.id);
      if (s === undefined) return;
      // nginx: effective_weight -= weight / max_fails (integer division), floored at 0.
      s.effectiveWeight -= Math.floor(s.weight / maxFails);
      if (s.effectiveWeight < 0) s.effectiveWeight = 0;
    },
  };
}
