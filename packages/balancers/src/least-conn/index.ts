import { fmt, lowestLines, skipped } from '../explain/lines.js';
import { roundAmong, SwrrTable, Ties } from '../round-robin/swrr.js';
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
 *   array and trusted without re-checking weights (see `Balancer.pick`).
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
      const i = walkLeastConn(table, ties, peers, ctx, undefined);
      return i < 0 ? undefined : peers[i];
    },

    failed(peer: PeerView, peers: readonly PeerView[]): void {
      table.failed(peer, peers);
    },

    explain(peers: readonly PeerView[], ctx: PickContext): Explanation {
      const candidates: CandidateReport[] = [];
      const i = walkLeastConn(table, new Ties(), peers, ctx, candidates);
      return { strategy: 'least-conn', chosen: i < 0 ? undefined : peers[i], candidates };
    },
  };
}

/**
 * The one walk of `leastConn`: a scan for the lowest `active / weight` that also lists the
 * peers tied with it, then the round among them. Returns the chosen index, or -1. With
 * `out`, nothing changes and each peer's report is pushed to it, in array order.
 */
function walkLeastConn(
  table: SwrrTable,
  ties: Ties,
  peers: readonly PeerView[],
  ctx: PickContext,
  out: CandidateReport[] | undefined,
): number {
  const tried = ctx.tried;
  const checkTried = tried !== undefined && tried.size > 0;
  const now = ctx.now;
  ties.fit(peers.length);
  const index = ties.index;
  const first = out?.length ?? 0;
  let best = -1;
  let bestActive = 0;
  let bestWeight = 0;
  // One scan: the best ratio, then the peers tied with it, by index, the best first.
  let count = 0;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i] as PeerView;
    // `available === true` first (see isAvailable in tables.ts), and weightAt(peer, now)
    // only for a peer with a slow start: both written out, as this loop runs for every peer.
    const available = peer.available;
    if ((available !== true && !available) || (checkTried && tried.has(peer.id))) {
      out?.push(skipped(peer, tried));
      continue;
    }
    const slowStartMs = now === undefined ? undefined : peer.slowStartMs;
    const w = slowStartMs !== undefined && slowStartMs > 0 ? weightAt(peer, now as number) : peer.weight;
    const active = peer.active;
    if (out !== undefined) {
      const score = active / w;
      let reason = `score ${fmt(score)} = ${active} active / weight ${fmt(w)}`;
      if (w < peer.weight) reason += ` (slow start: ${fmt(w)} of ${peer.weight})`;
      out.push({ id: peer.id, score, reason });
    }
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
  if (best < 0) return -1;
  let chosen = best;
  const currents: number[] | undefined = out === undefined || count === 1 ? undefined : [];
  if (count > 1) {
    // Ties: a smooth weighted round robin among the tied peers, from the first of them.
    // The best takes part only when it ties with itself (its product is not NaN).
    if (Number.isNaN(bestActive * bestWeight)) {
      index.copyWithin(0, 1, count);
      count--;
    }
    chosen = roundAmong(table, peers, best, ties, count, now, currents);
  }
  if (out !== undefined) lowestLines(out, first, peers, chosen, best, currents, 'higher');
  return chosen;
}
