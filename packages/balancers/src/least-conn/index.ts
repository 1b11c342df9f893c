import { contribution, fmt, roundAmong, SwrrTable, skipLine, skipReason, Ties } from '../round-robin/swrr.js';
import type { Balancer, CandidateReport, Explanation, PeerView, PickContext } from '../types.js';
import { weightAt } from '../weight.js';

/**
 * nginx's `least_conn`: the peer with the fewest active requests for its weight
 * (`active / weight`, compared by cross-multiplication as nginx does:
 * `a.active × b.weight < b.active × a.weight`). Peers tied at the lowest ratio take turns
 * by smooth weighted round robin, with the same current/effective weights nginx keeps
 * for round robin; only the tied peers take part in that round.
 *
 * - Slow start: the weight in the ratio and in the round among ties is
 *   {@link weightAt}`(peer, ctx.now)`, so a ramping peer looks busier for its weight.
 *   An idle peer (0 active) has ratio 0 whatever its weight.
 * - `failed(peer)` lowers the peer's effective weight by `weight / maxFails`, as round
 *   robin does; it matters only among tied peers, as in nginx.
 * - `explain()` reports each candidate's ratio (lower wins) and, among ties, the current
 *   weight of the round robin, without changing any state.
 * - Cost: one scan of the peers per pick (as nginx), which also lists the tied peers, so
 *   the round among ties does not scan again; its state table is built once per `peers`
 *   array and trusted without re-checking weights (see `Balancer.pick`). While the same
 *   peers keep tying, plainly (no slow start, no failure), the round's order is a cycle,
 *   recorded once and then replayed (as `roundRobin` does).
 *
 * @example
 * ```ts
 * const lc = leastConn();
 * const peer = lc.pick(peers, { now: Date.now() });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#least_conn
 */
export function leastConn(): Balancer {
  const table = new SwrrTable();
  const ties = new Ties();

  return {
    pick(peers: readonly PeerView[], ctx: PickContext): PeerView | undefined {
      const tried = ctx.tried;
      const checkTried = tried !== undefined && tried.size > 0;
      const now = ctx.now;
      ties.fit(peers.length);
      const index = ties.index;
      let best = -1;
      let bestActive = 0;
      let bestWeight = 0;
      // One scan: the best ratio, then the peers tied with it, by index, the best first.
      let count = 0;
      let ramping = false; // a candidate below its weight for slow start: no replay of the ties
      for (let i = 0; i < peers.length; i++) {
        const peer = peers[i] as PeerView;
        // `available === true` first (see isAvailable in tables.ts), and weightAt(peer, now)
        // only for a peer with a slow start: both written out, as this loop runs for every peer.
        const available = peer.available;
        if ((available !== true && !available) || (checkTried && tried.has(peer.id))) continue;
        const slowStartMs = now === undefined ? undefined : peer.slowStartMs;
        let w = peer.weight;
        if (slowStartMs !== undefined && slowStartMs > 0) {
          w = weightAt(peer, now as number);
          if (w !== peer.weight) ramping = true;
        }
        const active = peer.active;
        if (best < 0 || active * bestWeight < bestActive * w) {
          best = i;
          bestActive = active;
          bestWeight = w;
          index[0] = i;
          count = 1;
        } else if (active * bestWeight === bestActive * w) {
          index[count++] = i;
        }
      }
      if (best < 0) return undefined;
      if (count === 1) return peers[best];
      // Ties: a smooth weighted round robin among the tied peers, from the first of them.
      // The best takes part only when it ties with itself (its product is not NaN).
      if (Number.isNaN(bestActive * bestWeight)) {
        index.copyWithin(0, 1, count);
        count--;
      }
      return peers[roundAmong(table, peers, best, ties, count, now, ramping)];
    },

    failed(peer: PeerView, peers: readonly PeerView[]): void {
      table.failed(peer, peers);
    },

    explain(peers: readonly PeerView[], ctx: PickContext): Explanation {
      return explainLeastConn(table, peers, ctx);
    },
  };
}

function explainLeastConn(table: SwrrTable, peers: readonly PeerView[], ctx: PickContext): Explanation {
  const now = ctx.now;
  let best = -1;
  let bestActive = 0;
  let bestWeight = 0;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i] as PeerView;
    if (skipReason(peer, ctx.tried) !== undefined) continue;
    const w = weightAt(peer, now);
    if (best < 0 || peer.active * bestWeight < bestActive * w) {
      best = i;
      bestActive = peer.active;
      bestWeight = w;
    }
  }
  const tied: boolean[] = peers.map((peer, i) => {
    if (best < 0 || i < best || skipReason(peer, ctx.tried) !== undefined) return false;
    return peer.active * bestWeight === bestActive * weightAt(peer, now);
  });
  const ties = tied.filter(Boolean).length;

  // The round among ties, on copies of the current weights.
  const current: number[] = [];
  let chosen = best;
  if (ties > 1) {
    for (let i = best; i < peers.length; i++) {
      if (!tied[i]) continue;
      const snap = table.snapshot(peers, i);
      current[i] =
        snap.currentWeight + contribution(snap.effectiveWeight, weightAt(peers[i] as PeerView, now));
      if ((current[i] as number) > (current[chosen] as number)) chosen = i;
    }
  }

  const chosenId = chosen < 0 ? '' : (peers[chosen] as PeerView).id;
  const candidates: CandidateReport[] = peers.map((peer, i) => {
    const skipped = skipReason(peer, ctx.tried);
    if (skipped !== undefined) return { id: peer.id, skipped, reason: skipLine(skipped) };
    const w = weightAt(peer, now);
    const score = peer.active / w;
    let reason = `score ${fmt(score)} = ${peer.active} active / weight ${fmt(w)}`;
    if (w < peer.weight) reason += ` (slow start: ${fmt(w)} of ${peer.weight})`;
    if (tied[i] && ties > 1) {
      reason += `; tied for the lowest, round robin current weight ${fmt(current[i] as number)}`;
      reason += i === chosen ? ', the highest: chosen' : `, not higher than ${chosenId}`;
    } else if (i === chosen) {
      reason += '; the lowest: chosen';
    } else {
      reason += `; higher than ${(peers[best] as PeerView).id}`;
    }
    return { id: peer.id, score, reason };
  });
  return { strategy: 'least-conn', chosen: chosen < 0 ? undefined : peers[chosen], candidates };
}
