import type { Balancer, Explanation, PeerView, PickContext } from '../types.js';
import { weightAt } from '../weight.js';
import { contribution, explainSwrr, type SwrrState, SwrrTable, sync } from './swrr.js';

/**
 * nginx's smooth weighted round robin (`ngx_http_upstream_get_peer`): each pick adds
 * every candidate's effective weight to its current weight, takes the highest and
 * lowers it by the total. For weights 5,1,1 the order is a a b a c a a.
 *
 * A failure lowers the peer's effective weight by `weight / maxFails`; it then climbs
 * back by one on each pick, as in nginx.
 *
 * Slow start (NGINX Plus `slow_start`): while a peer ramps up, what it adds on each pick
 * is its effective weight capped by {@link weightAt}`(peer, ctx.now)`, a fraction of its
 * weight. Without `ctx.now`, `slowStartMs` or `upSince` nothing changes.
 *
 * `explain()` reports each candidate's current weight after this pick's addition (higher
 * wins) without changing any state.
 *
 * @example
 * ```ts
 * const rr = roundRobin();
 * rr.pick(peers, {}); // the next peer in nginx's order
 * rr.pick(peers, { now: Date.now() }); // with slow start honoured
 * rr.explain?.(peers, {}); // why, without moving the order on
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#upstream
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#slow_start
 */
export function roundRobin(): Balancer {
  const table = new SwrrTable();

  return {
    pick(peers: readonly PeerView[], ctx: PickContext): PeerView | undefined {
      const states = table.states(peers);
      const tried = ctx.tried;
      const now = ctx.now;
      let best = -1;
      let bestState: SwrrState | undefined;
      let total = 0;
      for (let i = 0; i < peers.length; i++) {
        const peer = peers[i] as PeerView;
        if (!peer.available || tried?.has(peer.id)) continue;
        const s = states[i] as SwrrState;
        sync(s, peer);
        const add = contribution(s.effectiveWeight, weightAt(peer, now));
        s.currentWeight += add;
        total += add;
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
      table.failed(peer, peers);
    },

    explain(peers: readonly PeerView[], ctx: PickContext): Explanation {
      return explainSwrr('round-robin', table, peers, ctx);
    },
  };
}
