import type { Balancer, Explanation, PeerView, PickContext } from '../types.js';
import { skipLine, skipReason } from './lines.js';

/**
 * Says what `balancer` would pick from `peers` now and why, without changing its state:
 * each candidate's score, or why it was skipped (`'unavailable'`, `'tried'`,
 * `'not-sampled'`, `'over-bound'`).
 *
 * Explaining needs the strategy's help: a stateful strategy (round robin's current
 * weights, a seeded generator) can only say what its next pick would be from the inside,
 * and calling `pick` would move it on. So this calls `balancer.explain()` when the strategy
 * has one (every built-in strategy does). For a strategy without it, nothing is run:
 * the answer has `strategy: 'custom'`, `chosen: undefined`, and lists each peer with the
 * skip reason that can be read off the peer itself, or `'strategy has no explain()'`.
 *
 * Not for the hot path: it allocates the report.
 *
 * @param balancer - the strategy, as it is used by the upstream.
 * @param peers - one tier, as `pick` would receive it.
 * @param ctx - the request's context. A strategy that draws random numbers calls
 *   `ctx.random` if given, so pass a copy of a seeded generator to leave yours untouched.
 * @example
 * ```ts
 * const rr = roundRobin();
 * const why = explain(rr, peers, {});
 * why.chosen?.id; // what rr.pick(peers, {}) will return
 * for (const c of why.candidates) console.log(c.id, c.skipped ?? c.score, c.reason);
 * ```
 */
export function explain(balancer: Balancer, peers: readonly PeerView[], ctx: PickContext = {}): Explanation {
  if (typeof balancer.explain === 'function') return balancer.explain(peers, ctx);
  return {
    strategy: 'custom',
    chosen: undefined,
    candidates: peers.map((peer) => {
      const skipped = skipReason(peer, ctx.tried);
      return skipped === undefined
        ? { id: peer.id, reason: 'strategy has no explain()' }
        : { id: peer.id, skipped, reason: skipLine(skipped) };
    }),
  };
}
