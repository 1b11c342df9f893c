/**
 * nginx's passive health (`max_fails`, `fail_timeout`) as a pure reducer: the state of one
 * peer, an event and the time in, the next state out. No clock, no I/O; `Upstream` keeps
 * the state and applies the events.
 *
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#max_fails
 */

/** One peer's passive-health state (the fields of nginx's `ngx_http_upstream_rr_peer_t`). */
export interface PassiveHealth {
  /** nginx `fails`: failures since the peer last recovered. */
  readonly fails: number;
  /** nginx `accessed`: time of the last failure, ms. */
  readonly accessed: number;
  /** nginx `checked`: time of the last failure, or of the last probe after `failTimeoutMs`, ms. */
  readonly checked: number;
  /** The peer was picked to probe whether it recovered, after resting `failTimeoutMs`. */
  readonly probing: boolean;
}

/** The parameters passive health reads (a `Peer` has them). */
export interface PassiveLimits {
  /** nginx `max_fails`; 0 disables passive health. */
  readonly maxFails: number;
  /** nginx `fail_timeout`, ms. */
  readonly failTimeoutMs: number;
}

/**
 * What happened to the peer: it was picked for an attempt (`select`), an attempt failed
 * (`fail`, nginx `NGX_PEER_FAILED`) or succeeded (`succeed`).
 */
export type PassiveEvent = 'select' | 'fail' | 'succeed';

/** The state of a peer that never failed. */
export const PASSIVE_START: PassiveHealth = Object.freeze({
  fails: 0,
  accessed: 0,
  checked: 0,
  probing: false,
});

/**
 * The next passive-health state. Returns `state` itself when nothing changes (the usual
 * success), so the request path allocates nothing then.
 */
export function passiveStep(
  state: PassiveHealth,
  event: PassiveEvent,
  now: number,
  limits: PassiveLimits,
): PassiveHealth {
  if (event === 'select') {
    // nginx: a peer picked after fail_timeout is being probed from now on.
    if (now - state.checked <= limits.failTimeoutMs) return state;
    const probing = limits.maxFails !== 0 && state.fails >= limits.maxFails;
    return { fails: state.fails, accessed: state.accessed, checked: now, probing };
  }
  if (event === 'fail') return { fails: state.fails + 1, accessed: now, checked: now, probing: false };
  // A success after the last failure (or after a probe began) clears the failures.
  const fails = state.accessed < state.checked ? 0 : state.fails;
  if (fails === state.fails && !state.probing) return state;
  return { fails, accessed: state.accessed, checked: state.checked, probing: false };
}

/** nginx: `max_fails && fails >= max_fails && now - checked <= fail_timeout`. */
export function passiveFailed(state: PassiveHealth, now: number, limits: PassiveLimits): boolean {
  return (
    limits.maxFails !== 0 && state.fails >= limits.maxFails && now - state.checked <= limits.failTimeoutMs
  );
}

/**
 * Whether a `fail` from `before` made the peer unavailable: on reaching `maxFails`, and
 * again when a probe fails.
 */
export function wentUnavailable(before: PassiveHealth, after: PassiveHealth, limits: PassiveLimits): boolean {
  return (
    limits.maxFails !== 0 &&
    after.fails > before.fails &&
    (after.fails === limits.maxFails || (before.probing && after.fails > limits.maxFails))
  );
}

/** Whether a `succeed` from `before` was a successful probe: the resting peer is back. */
export function cameBack(before: PassiveHealth): boolean {
  return before.probing && before.accessed < before.checked;
}
