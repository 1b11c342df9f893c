import type { Balancer, CandidateReport, Explanation, PeerView, PickContext } from '../types.js';
import { SwrrTable, walkRoundRobin } from './swrr.js';

/**
 * nginx's smooth weighted round robin (`ngx_http_upstream_get_peer`): each pick adds
 * every candidate's effective weight to its current weight, takes the highest and
 * lowers it by the total. For weights 5,1,1 the order is a a b a c a a.
 *
 * A failure lowers the peer's effective weight by `weight / maxFails`; it then climbs
 * back by one on each pick, as in nginx.
 *
 * Slow start (NGINX Plus `slow_start`): while a peer ramps up, what it adds on each pick
 * is its effective weight capped by `weightAt(peer, ctx.now)`, a fraction of its
 * weight. Without `ctx.now`, `slowStartMs` or `upSince` nothing changes.
 *
 * `explain()` reports each candidate's current weight after this pick's addition (higher
 * wins) without changing any state.
 *
 * Cost: nginx's algorithm looks at every peer on every pick (O(n)); the per-peer state
 * table is built once per `peers` array, and a pick does not re-check weights (the array
 * keeps its identity until membership or a weight changes, see `Balancer.pick`).
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
      const i = walkRoundRobin(table, peers, ctx, undefined);
      return i < 0 ? undefined : peers[i];
    },

    failed(peer: PeerView, peers: readonly PeerView[]): void {
      table.failed(peer, peers);
    },

    explain(peers: readonly PeerView[], ctx: PickContext): Explanation {
      const candidates: CandidateReport[] = [];
      const i = walkRoundRobin(table, peers, ctx, candidates);
      return { strategy: 'round-robin', chosen: i < 0 ? undefined : peers[i], candidates };
    },
  };
}
