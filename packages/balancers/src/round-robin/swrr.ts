import { currentLine, fmt, skipped } from '../explain/lines.js';
import type { CandidateReport, PeerView, PickContext } from '../types.js';
import { weightAt } from '../weight.js';

/**
 * Per-peer state of nginx's smooth weighted round robin (`ngx_http_upstream_rr_peer_t`):
 * `weight` as configured, `effective` lowered by failures and climbing back by one per
 * pick, `current` the running score. (Plain objects: while the numbers are integers V8
 * keeps them unboxed in the object, which a scan of every peer reads fastest.)
 */
export interface SwrrState {
  weight: number;
  current: number;
  effective: number;
}

/**
 * The smooth weighted round robin state of one strategy instance, a {@link SwrrState}
 * per peer id (and weight). A table per peers array, index for index, built on the first
 * use of the array; peers that keep their id and weight in a new array (a membership
 * change elsewhere) keep their state object, shared by every array they are in. A peer
 * whose weight differs from its state's starts over with a new one.
 *
 * Tables are trusted: the peers array keeps its identity until membership or a weight
 * changes (see `Balancer.pick`), so a pick does not compare weights with its table.
 *
 * Internal to the package: shared by `roundRobin`, `leastConn` (ties), `leastTime` (ties)
 * and `random` (its round-robin fallback).
 */
export class SwrrTable {
  readonly #tables = new WeakMap<readonly PeerView[], SwrrState[]>();
  readonly #byId = new Map<string, SwrrState>();
  #lastPeers: readonly PeerView[] | undefined = undefined;
  #lastStates: SwrrState[] = [];

  /** The states of `peers`, index for index; built on the first call for this array. */
  states(peers: readonly PeerView[]): SwrrState[] {
    if (peers === this.#lastPeers) return this.#lastStates;
    let states = this.#tables.get(peers);
    if (states === undefined) {
      states = [];
      for (const p of peers) {
        let s = this.#byId.get(p.id);
        if (s === undefined || s.weight !== p.weight) {
          s = { weight: p.weight, current: 0, effective: p.weight };
          this.#byId.set(p.id, s);
        }
        states.push(s);
      }
      this.#tables.set(peers, states);
    }
    this.#lastPeers = peers;
    this.#lastStates = states;
    return states;
  }

  /**
   * nginx's `NGX_PEER_FAILED` in `ngx_http_upstream_free_round_robin_peer`:
   * `effective_weight -= weight / max_fails` (integer division), floored at 0.
   */
  failed(peer: PeerView, peers: readonly PeerView[]): void {
    const maxFails = peer.maxFails ?? 1;
    if (maxFails === 0) return;
    const states = this.states(peers);
    for (let i = 0; i < states.length; i++) {
      if ((peers[i] as PeerView).id !== peer.id) continue;
      const s = states[i] as SwrrState;
      if (s.weight !== peer.weight) {
        // A weight changed under the table: the peer starts over at its new weight.
        s.weight = peer.weight;
        s.effective = peer.weight;
        s.current = 0;
      }
      s.effective -= Math.floor(s.weight / maxFails);
      if (s.effective < 0) s.effective = 0;
      return;
    }
  }
}

/**
 * nginx's smooth weighted round robin pick (`ngx_http_upstream_get_peer`): every
 * candidate adds its effective weight, capped by its slow-start weight
 * ({@link weightAt}`(peer, now)`), to its current weight; the highest (the first such)
 * wins and is lowered by the total; an effective weight below the weight climbs by one.
 * Returns the chosen index, or -1 when no peer is available and untried.
 *
 * The one walk of `roundRobin`: `pick` runs it with no `out` and it moves the state on;
 * `explain` passes `out`, and then nothing changes and each peer's report is pushed to it,
 * in array order (its current weight after the addition, or why it was skipped).
 */
export function walkRoundRobin(
  table: SwrrTable,
  peers: readonly PeerView[],
  ctx: PickContext,
  out: CandidateReport[] | undefined,
): number {
  const tried = ctx.tried;
  const checkTried = tried !== undefined && tried.size > 0;
  const now = ctx.now;
  const states = table.states(peers);
  const first = out?.length ?? 0;
  let best = -1;
  let bestCurrent = 0;
  let total = 0;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i] as PeerView;
    // `available === true` first (see isAvailable in tables.ts), written out: this loop
    // runs for every peer.
    const available = peer.available;
    if (available !== true && !available) {
      out?.push(skipped(peer, tried));
      continue;
    }
    if (checkTried && tried.has(peer.id)) {
      out?.push(skipped(peer, tried));
      continue;
    }
    const s = states[i] as SwrrState;
    const w = s.weight;
    const e = s.effective;
    // weightAt(peer, now), with the table's copy of the weight, asked only of a peer with
    // a slow start.
    const slowStartMs = now === undefined ? undefined : peer.slowStartMs;
    const ramped = slowStartMs === undefined || !(slowStartMs > 0) ? w : weightAt(peer, now as number);
    // What the peer adds: its effective weight, capped by its slow-start weight.
    const add = Math.min(e, ramped);
    const current = s.current + add;
    total += add;
    if (out === undefined) {
      s.current = current;
      if (e < w) s.effective = e + 1;
    } else {
      out.push({ id: peer.id, score: current, reason: currentLine(s.current, add, ramped, peer.weight) });
    }
    if (best < 0 || current > bestCurrent) {
      best = i;
      bestCurrent = current;
    }
  }
  if (best < 0) return -1;
  if (out === undefined) {
    (states[best] as SwrrState).current -= total;
    return best;
  }
  const bestId = (peers[best] as PeerView).id;
  for (let i = 0; i < peers.length; i++) {
    const c = out[first + i] as CandidateReport;
    if (c.skipped !== undefined) continue;
    if (i === best) c.reason += `; the highest, chosen, then lowered by the total ${fmt(total)}`;
    else if (c.score === bestCurrent) c.reason += `; ties with ${bestId}, which comes first`;
    else c.reason += `; lower than ${bestId}`;
  }
  return best;
}

/**
 * Scratch list of the peers tied for the best score (`leastConn`, `leastTime`), by index in
 * array order; reused by every pick of one strategy.
 */
export class Ties {
  /** The indices of the tied peers. */
  index: Int32Array = new Int32Array(8);

  /** Makes room for `n` entries. */
  fit(n: number): void {
    if (this.index.length < n) this.index = new Int32Array(n);
  }
}

/**
 * nginx's smooth weighted round robin among the tied peers `ties.index[0…count)` (the
 * round `least_conn` runs among the peers at the lowest ratio): each adds its effective
 * weight, capped by its slow-start weight (`weightAt(peer, now)`), to its current weight;
 * the highest current weight wins (the first such, starting from `first`, the best peer of
 * the scan) and is lowered by the total. Returns the chosen index.
 *
 * With `currents`, nothing changes: each tied peer's current weight after the addition
 * is written to `currents[i]` (for `explain()`).
 */
export function roundAmong(
  table: SwrrTable,
  peers: readonly PeerView[],
  first: number,
  ties: Ties,
  count: number,
  now: number | undefined,
  currents: number[] | undefined,
): number {
  const index = ties.index;
  const states = table.states(peers);
  let chosen = first;
  let chosenCurrent = (states[first] as SwrrState).current;
  let total = 0;
  for (let k = 0; k < count; k++) {
    const i = index[k] as number;
    const s = states[i] as SwrrState;
    const e = s.effective;
    const add = Math.min(e, weightAt(peers[i] as PeerView, now));
    const current = s.current + add;
    total += add;
    if (currents === undefined) {
      s.current = current;
      if (e < s.weight) s.effective = e + 1;
    } else {
      currents[i] = current;
    }
    if (i === chosen) chosenCurrent = current;
    else if (current > chosenCurrent) {
      chosen = i;
      chosenCurrent = current;
    }
  }
  if (currents === undefined) (states[chosen] as SwrrState).current -= total;
  return chosen;
}
