import type { CandidateReport, Explanation, PeerView, PickContext } from '../types.js';
import { weightAt } from '../weight.js';

/**
 * Per-peer state of nginx's smooth weighted round robin (`ngx_http_upstream_rr_peer_t`):
 * `weight` as configured, `effectiveWeight` lowered by failures and climbing back by one
 * per pick, `currentWeight` the running score.
 *
 * Internal to the package: shared by `roundRobin`, `leastConn` (ties), `leastTime` (ties)
 * and `random` (its round-robin fallback).
 */
export interface SwrrState {
  readonly id: string;
  weight: number;
  currentWeight: number;
  effectiveWeight: number;
}

/** What `pick` would read as a peer's current and effective weight, for `explain()`. */
export interface SwrrSnapshot {
  currentWeight: number;
  effectiveWeight: number;
}

/**
 * The smooth weighted round robin state of one strategy instance, keyed by peer id.
 * Tables are keyed by the peers array, so they are rebuilt only when membership changes;
 * a peer keeps its state across rebuilds unless its weight changed.
 */
export class SwrrTable {
  readonly #tables = new WeakMap<readonly PeerView[], SwrrState[]>();
  readonly #byId = new Map<string, SwrrState>();

  /** The states for `peers`, index for index; built on the first call for this array. */
  states(peers: readonly PeerView[]): SwrrState[] {
    let states = this.#tables.get(peers);
    if (states === undefined) {
      states = peers.map((p) => {
        const old = this.#byId.get(p.id);
        if (old !== undefined && old.weight === p.weight) return old;
        const fresh: SwrrState = {
          id: p.id,
          weight: p.weight,
          currentWeight: 0,
          effectiveWeight: p.weight,
        };
        this.#byId.set(p.id, fresh);
        return fresh;
      });
      this.#tables.set(peers, states);
    }
    return states;
  }

  /**
   * The current and effective weight `pick` would start from for `peers[i]`, without
   * creating a table or changing any state.
   */
  snapshot(peers: readonly PeerView[], i: number): SwrrSnapshot {
    const peer = peers[i] as PeerView;
    const s = this.#tables.get(peers)?.[i] ?? this.#byId.get(peer.id);
    if (s === undefined || s.weight !== peer.weight) {
      return { currentWeight: 0, effectiveWeight: peer.weight };
    }
    return { currentWeight: s.currentWeight, effectiveWeight: s.effectiveWeight };
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
      const s = states[i] as SwrrState;
      if (s.id !== peer.id) continue;
      sync(s, peer);
      s.effectiveWeight -= Math.floor(s.weight / maxFails);
      if (s.effectiveWeight < 0) s.effectiveWeight = 0;
      return;
    }
  }
}

/** A weight changed at run time (the API's PATCH): the peer starts over at its new weight. */
export function sync(s: SwrrState, peer: PeerView): void {
  if (s.weight !== peer.weight) {
    s.weight = peer.weight;
    s.effectiveWeight = peer.weight;
    s.currentWeight = 0;
  }
}

/**
 * What one peer adds to its current weight on a pick: its effective weight, capped by its
 * slow-start weight (`weightAt`). Without slow start the cap is the configured weight,
 * which the effective weight never exceeds, so nginx's arithmetic is unchanged.
 */
export function contribution(effectiveWeight: number, rampedWeight: number): number {
  return Math.min(effectiveWeight, rampedWeight);
}

/** Whether the peer may be considered at all, and if not, why (for `explain()`). */
export function skipReason(
  peer: PeerView,
  tried: ReadonlySet<string> | undefined,
): 'unavailable' | 'tried' | undefined {
  if (!peer.available) return 'unavailable';
  if (tried?.has(peer.id)) return 'tried';
  return undefined;
}

/** A number for a reason line: integers as is, fractions to 3 significant decimals. */
export function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toFixed(3)));
}

/**
 * Simulates one smooth weighted round robin pick on copies of the state and reports it.
 * Shared with the strategies that fall back to round robin.
 */
export function explainSwrr(
  strategy: string,
  table: SwrrTable,
  peers: readonly PeerView[],
  ctx: PickContext,
): Explanation {
  const scores: (number | undefined)[] = [];
  const notes: string[] = [];
  let best = -1;
  let bestScore = 0;
  let total = 0;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i] as PeerView;
    if (skipReason(peer, ctx.tried) !== undefined) {
      scores.push(undefined);
      notes.push('');
      continue;
    }
    const snap = table.snapshot(peers, i);
    const ramped = weightAt(peer, ctx.now);
    const add = contribution(snap.effectiveWeight, ramped);
    const score = snap.currentWeight + add;
    total += add;
    scores.push(score);
    notes.push(
      `current weight ${fmt(score)} = ${fmt(snap.currentWeight)} + effective weight ${fmt(add)}` +
        (ramped < peer.weight ? ` (slow start: ${fmt(ramped)} of weight ${peer.weight})` : ''),
    );
    if (best < 0 || score > bestScore) {
      best = i;
      bestScore = score;
    }
  }
  const candidates: CandidateReport[] = [];
  const bestId = best < 0 ? '' : (peers[best] as PeerView).id;
  for (let i = 0; i < peers.length; i++) {
    const peer = peers[i] as PeerView;
    const skipped = skipReason(peer, ctx.tried);
    const score = scores[i];
    if (skipped !== undefined || score === undefined) {
      candidates.push({ id: peer.id, skipped, reason: skipLine(skipped) });
    } else if (i === best) {
      candidates.push({
        id: peer.id,
        score,
        reason: `${notes[i]}; the highest, chosen, then lowered by the total ${fmt(total)}`,
      });
    } else {
      candidates.push({
        id: peer.id,
        score,
        reason: `${notes[i]}; ${score === bestScore ? 'ties with' : 'lower than'} ${bestId}${
          score === bestScore ? ', which comes first' : ''
        }`,
      });
    }
  }
  return { strategy, chosen: best < 0 ? undefined : peers[best], candidates };
}

/** The reason line for a skipped peer. */
export function skipLine(skipped: 'unavailable' | 'tried' | undefined): string {
  return skipped === 'tried' ? 'skipped: this request already tried it' : 'skipped: not available now';
}
