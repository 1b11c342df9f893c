import type { PeerView } from './types.js';

/**
 * The least share of its weight a peer has while it slow-starts, so that a peer that just
 * came back is still chosen now and then (1 % of its weight at the first instant).
 *
 * A weight of exactly 0 would also break `least_conn`'s cross-multiplied comparison
 * (`conns × 0` ties with everything), which is why the ramp never starts at 0 itself.
 */
export const SLOW_START_MIN_FRACTION = 0.01;

/**
 * The weight of `peer` at time `now`, with NGINX Plus `slow_start` applied: for
 * `slowStartMs` after `upSince` the weight climbs linearly from 0 to `peer.weight`, then
 * stays at `peer.weight`.
 *
 * - The result is a real number, not rounded: the smooth weighted round robin and the
 *   `least_conn` comparison work on fractions as well as on integers, so even a peer of
 *   weight 1 ramps smoothly instead of jumping from 0 to 1.
 * - It is never below `peer.weight × SLOW_START_MIN_FRACTION` (see
 *   {@link SLOW_START_MIN_FRACTION}); an `upSince` in the future counts as "just came back".
 * - No ramp when `now` is undefined (no clock was injected), when `slowStartMs` is 0 or
 *   absent, or when `upSince` is absent.
 *
 * Strategies that honour it: `roundRobin`, `leastConn`, `leastTime`. nginx forbids
 * `slow_start` with `hash`, `ip_hash` and `random`, and those strategies ignore it.
 *
 * @param peer - the peer; reads `weight`, `slowStartMs` and `upSince`.
 * @param now - the current time in ms (`PickContext.now`).
 * @returns the weight to use for this pick, in `(0, peer.weight]` for a positive weight.
 * @example
 * ```ts
 * const peer = { id: 'a:80', weight: 4, active: 0, responseTimeMs: 0, available: true,
 *   slowStartMs: 30_000, upSince: 1_000 };
 * weightAt(peer, 16_000); // 2: half way through the ramp
 * weightAt(peer, 31_000); // 4: the ramp is over
 * weightAt(peer, undefined); // 4: no clock, no ramp
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#slow_start
 */
export function weightAt(peer: PeerView, now: number | undefined): number {
  const slowStartMs = peer.slowStartMs;
  const upSince = peer.upSince;
  if (now === undefined || upSince === undefined || slowStartMs === undefined || !(slowStartMs > 0)) {
    return peer.weight;
  }
  const elapsed = now - upSince;
  if (elapsed >= slowStartMs) return peer.weight;
  const fraction = elapsed / slowStartMs;
  return peer.weight * Math.max(fraction, SLOW_START_MIN_FRACTION);
}
