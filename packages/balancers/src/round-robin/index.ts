import type { Balancer, Explanation, PeerView, PickContext } from '../types.js';
import { weightAt } from '../weight.js';
import { explainSwrr, type SwrrState, SwrrTable } from './swrr.js';

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
 * Cost: nginx's algorithm looks at every peer on every pick (O(n)); the per-peer state
 * table is built once per `peers` array, and a pick does not re-check weights (the array
 * keeps its identity until membership or a weight changes, see `Balancer.pick`). While the
 * tier is plain — the same peers available (all, or all but some that stay down), none
 * tried, none slow-starting or weakened by a failure — the order is a fixed cycle of at
 * most `total weight` picks; once it has gone round once, picks replay it and only check
 * that the tier is still plain (`available` and slow start of each peer), with the same
 * result (see `SwrrTable.replayPick`).
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
  // The indices of the peers a pick found unavailable (for record and replay).
  let down = new Int32Array(8);

  return {
    pick(peers: readonly PeerView[], ctx: PickContext): PeerView | undefined {
      const tried = ctx.tried;
      const checkTried = tried !== undefined && tried.size > 0;
      const now = ctx.now;
      const replayed = table.replayPick(peers, checkTried, now);
      if (replayed >= 0) return peers[replayed];

      const states = table.states(peers);
      if (down.length < peers.length) down = new Int32Array(peers.length);
      let downCount = 0;
      // Plain: none tried, no available peer slow-starting or weakened by a failure; then
      // the pick can be recorded for replay (see SwrrTable.replayPick).
      let plain = !checkTried;
      let best = -1;
      let bestState: SwrrState | undefined;
      let total = 0;
      for (let i = 0; i < peers.length; i++) {
        const peer = peers[i] as PeerView;
        // `available === true` first (see isAvailable in tables.ts), written out: this loop
        // runs for every peer.
        const available = peer.available;
        if (available !== true && !available) {
          down[downCount++] = i;
          continue;
        }
        if (checkTried && tried.has(peer.id)) continue;
        const s = states[i] as SwrrState;
        const w = s.weight;
        const e = s.effective;
        // weightAt(peer, now), with the table's copy of the weight, asked only of a peer with
        // a slow start.
        const slowStartMs = now === undefined ? undefined : peer.slowStartMs;
        const ramped = slowStartMs === undefined || !(slowStartMs > 0) ? w : weightAt(peer, now as number);
        if (e !== w || ramped !== w) plain = false;
        // What the peer adds: its effective weight, capped by its slow-start weight.
        const add = Math.min(e, ramped);
        s.current += add;
        total += add;
        if (e < w) s.effective = e + 1;
        if (bestState === undefined || s.current > bestState.current) {
          best = i;
          bestState = s;
        }
      }
      if (bestState === undefined) return undefined;
      bestState.current -= total;
      table.record(peers, plain, best, down, downCount);
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
