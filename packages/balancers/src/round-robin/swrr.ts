import type { CandidateReport, Explanation, PeerView, PickContext } from '../types.js';
import { weightAt } from '../weight.js';

/** What `pick` would read as a peer's current and effective weight, for `explain()`. */
export interface SwrrSnapshot {
  currentWeight: number;
  effectiveWeight: number;
}

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
 * On top, record and replay (see {@link SwrrTable.replayPick}): while the picks are plain,
 * the order is a fixed cycle, recorded once and then replayed without the arithmetic.
 *
 * Internal to the package: shared by `roundRobin`, `leastConn` (ties), `leastTime` (ties)
 * and `random` (its round-robin fallback).
 */
export class SwrrTable {
  readonly #tables = new WeakMap<readonly PeerView[], SwrrState[]>();
  readonly #byId = new Map<string, SwrrState>();
  #lastPeers: readonly PeerView[] | undefined = undefined;
  #lastStates: SwrrState[] = [];

  // Record and replay (see `replayPick`): what is recorded or replayed — an array and the
  // peers of it that take part (all of them, or a list of indices) — their states, their
  // total weight, their current weights at the start of the cycle, the picks since then
  // (peer indices), how many, and where the replay is.
  /** Per array: its total weight when record and replay may serve it, else 0. */
  readonly #cycleTotal = new WeakMap<readonly PeerView[], number>();
  #mode: 0 | 1 | 2 = 0;
  #rPeers: readonly PeerView[] | undefined = undefined;
  #rAll = false;
  /** The ties (for a round among ties), or the peers down (round robin, which the rest take part). */
  #rIdx: Int32Array = new Int32Array(0);
  /** Round robin: how many peers were down when the recording started. */
  #rDownCount = 0;
  #rCount = 0;
  #rArrayStates: SwrrState[] = [];
  #rStates: SwrrState[] = [];
  #rTotal = 0;
  #rStart: Float64Array = new Float64Array(0);
  #rSeq: Int32Array = new Int32Array(0);
  #rLength = 0;
  #rPhase = 0;

  /** The states of `peers`, index for index; built on the first call for this array. */
  states(peers: readonly PeerView[]): SwrrState[] {
    if (this.#mode !== 0 && peers !== this.#rPeers) this.#settle();
    if (peers === this.#lastPeers) return this.#lastStates;
    let states = this.#tables.get(peers);
    if (states === undefined) {
      states = this.#build(peers);
      this.#tables.set(peers, states);
    }
    this.#lastPeers = peers;
    this.#lastStates = states;
    return states;
  }

  #build(peers: readonly PeerView[]): SwrrState[] {
    const states: SwrrState[] = [];
    const seen = new Set<SwrrState>();
    let total = 0;
    let replayable = peers.length > 0;
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i] as PeerView;
      if (!Number.isInteger(p.weight) || p.weight < 1) replayable = false;
      total += p.weight;
      let s = this.#byId.get(p.id);
      if (s === undefined || s.weight !== p.weight) {
        s = { weight: p.weight, current: 0, effective: p.weight };
        this.#byId.set(p.id, s);
      }
      if (seen.has(s)) replayable = false; // an id twice: two indices share a state
      seen.add(s);
      states.push(s);
    }
    this.#cycleTotal.set(peers, replayable && total <= MAX_CYCLE ? total : 0);
    return states;
  }

  /**
   * The current and effective weight `pick` would start from for `peers[i]`, without
   * creating a table or changing any state.
   */
  snapshot(peers: readonly PeerView[], i: number): SwrrSnapshot {
    if (this.#mode === 2) this.#settle();
    const peer = peers[i] as PeerView;
    const s = this.#tables.get(peers)?.[i] ?? this.#byId.get(peer.id);
    if (s === undefined || s.weight !== peer.weight) {
      return { currentWeight: 0, effectiveWeight: peer.weight };
    }
    return { currentWeight: s.current, effectiveWeight: s.effective };
  }

  /**
   * nginx's `NGX_PEER_FAILED` in `ngx_http_upstream_free_round_robin_peer`:
   * `effective_weight -= weight / max_fails` (integer division), floored at 0.
   */
  failed(peer: PeerView, peers: readonly PeerView[]): void {
    const maxFails = peer.maxFails ?? 1;
    if (maxFails === 0) return;
    if (this.#mode !== 0) this.#settle();
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

  /**
   * Round robin's pick without the arithmetic, when it can be replayed: returns the index
   * nginx's algorithm would pick, or -1 to say "run it" (after writing back the state).
   *
   * While the same peers are available (all, or all but a few that stay down), none is
   * tried, none slow-starts and every effective weight equals the weight, a pick adds each
   * available peer's weight to its current weight and takes their total off the highest:
   * a fixed map of those current weights alone (the others do not move), which comes back
   * to the state it starts from after at most `total weight` picks (a pure cycle; for
   * integer weights and current weights, where the arithmetic is exact). {@link record}
   * watches such picks until the current weights are exactly those it started from; from
   * then on, as long as the picks stay plain, this replays the recorded cycle: the same
   * peers in the same order, checking only `available` and slow start on each peer.
   *
   * The current weights are not updated while replaying; anything else that reads or
   * changes them (a pick that is not plain, `failed`, `snapshot`, another array) first
   * writes them back ({@link settle}): start + k × weight − k' × total, exactly.
   */
  replayPick(peers: readonly PeerView[], tried: boolean, now: number | undefined): number {
    if (this.#mode !== 2) return -1;
    if (peers !== this.#rPeers || !this.#rAll || tried) {
      this.#settle();
      return -1;
    }
    // The same peers must be down as when recording started, and no other.
    const down = this.#rIdx;
    const downCount = this.#rDownCount;
    let d = 0;
    let nextDown = downCount > 0 ? (down[0] as number) : -1;
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i] as PeerView;
      const available = peer.available;
      if (available !== true && !available) {
        if (i !== nextDown) {
          this.#settle();
          return -1;
        }
        d++;
        nextDown = d < downCount ? (down[d] as number) : -1;
        continue;
      }
      if (i === nextDown) {
        this.#settle();
        return -1;
      }
      if (now !== undefined) {
        const slowStartMs = peer.slowStartMs;
        if (slowStartMs !== undefined && slowStartMs > 0 && weightAt(peer, now) !== peer.weight) {
          this.#settle();
          return -1;
        }
      }
    }
    return this.#next();
  }

  /**
   * After a round robin pick that ran the arithmetic: `plain` says whether no peer was
   * tried and every available one was at its full weight (no slow start, no failure),
   * `down[0…downCount)` which peers were unavailable, `best` what it picked. Starts
   * recording a cycle after a plain pick, extends it after each further one with the same
   * peers down, and switches to replaying once the current weights are back where it
   * started.
   */
  record(
    peers: readonly PeerView[],
    plain: boolean,
    best: number,
    down: Int32Array,
    downCount: number,
  ): void {
    if (!plain || best < 0) {
      this.#mode = 0;
      return;
    }
    if (this.#mode === 1 && peers === this.#rPeers && this.#rAll && this.#sameDown(down, downCount)) {
      this.#extend(best);
    } else {
      this.#start(peers, true, down, downCount);
    }
  }

  /** Whether `down[0…downCount)` are the peers that were down when recording started. */
  #sameDown(down: Int32Array, downCount: number): boolean {
    if (downCount !== this.#rDownCount) return false;
    const recorded = this.#rIdx;
    for (let d = 0; d < downCount; d++) if (down[d] !== recorded[d]) return false;
    return true;
  }

  /**
   * {@link replayPick} for the round among tied peers (`least_conn`, `least_time`): the
   * same cycle, over the peers `index[0…count)` only, replayed while the ties are the
   * same peers as recorded (and still plain: full effective weights, and `ramping` false —
   * the scan saw no candidate below its weight for slow start), the first of them being
   * the best of the scan. Returns the chosen index or -1.
   */
  replayTies(
    peers: readonly PeerView[],
    index: Int32Array,
    count: number,
    first: number,
    ramping: boolean,
  ): number {
    if (this.#mode !== 2) return -1;
    if (peers !== this.#rPeers || this.#rAll || ramping || !this.#sameTies(index, count, first)) {
      this.#settle();
      return -1;
    }
    return this.#next();
  }

  /** {@link record} for a round among tied peers; `plain` as for {@link replayTies}. */
  recordTies(
    peers: readonly PeerView[],
    index: Int32Array,
    count: number,
    plain: boolean,
    chosen: number,
  ): void {
    if (!plain) {
      this.#mode = 0;
      return;
    }
    if (
      this.#mode === 1 &&
      peers === this.#rPeers &&
      !this.#rAll &&
      this.#sameTies(index, count, index[0] as number)
    ) {
      this.#extend(chosen);
    } else {
      this.#start(peers, false, index, count);
    }
  }

  /** Whether `index[0…count)`, led by `first`, are the recorded ties. */
  #sameTies(index: Int32Array, count: number, first: number): boolean {
    if (count !== this.#rCount || index[0] !== first) return false;
    const recorded = this.#rIdx;
    for (let k = 0; k < count; k++) if (index[k] !== recorded[k]) return false;
    return true;
  }

  /** The next pick of the cycle being replayed. */
  #next(): number {
    const phase = this.#rPhase;
    this.#rPhase = phase + 1 === this.#rLength ? 0 : phase + 1;
    return this.#rSeq[phase] as number;
  }

  /**
   * Starts recording from the current weights of the peers that take part: for round
   * robin (`all`) every peer but the `list[0…count)` that are down; for ties the
   * `list[0…count)` that tie.
   */
  #start(peers: readonly PeerView[], all: boolean, list: Int32Array, count: number): void {
    this.#mode = 0;
    if ((this.#cycleTotal.get(peers) ?? 0) === 0) return;
    const arrayStates = this.states(peers);
    const n = all ? peers.length - count : count;
    if (n <= 0) return;
    if (this.#rStart.length < n) this.#rStart = new Float64Array(n);
    if (this.#rIdx.length < count) this.#rIdx = new Int32Array(Math.max(count, 8));
    const start = this.#rStart;
    const members: SwrrState[] = [];
    let total = 0;
    const take = (i: number): boolean => {
      const s = arrayStates[i] as SwrrState;
      if (!Number.isInteger(s.current)) return false;
      start[members.length] = s.current;
      members.push(s);
      total += s.weight;
      return true;
    };
    if (all) {
      for (let i = 0, d = 0; i < peers.length; i++) {
        if (d < count && list[d] === i) d++;
        else if (!take(i)) return;
      }
    } else {
      for (let k = 0; k < count; k++) if (!take(list[k] as number)) return;
    }
    const copy = this.#rIdx;
    for (let j = 0; j < count; j++) copy[j] = list[j] as number;
    if (this.#rSeq.length < total) this.#rSeq = new Int32Array(total);
    this.#mode = 1;
    this.#rPeers = peers;
    this.#rAll = all;
    this.#rDownCount = all ? count : 0;
    this.#rCount = n;
    this.#rArrayStates = arrayStates;
    this.#rStates = members;
    this.#rTotal = total;
    this.#rLength = 0;
  }

  /**
   * Adds a recorded pick; replays from the next one if the weights are back at the start.
   * They are compared (O(n)) only when the recording's length divides the total weight:
   * the cycles of this map have the total weight, or a divisor of it, for length
   * (checked on thousands of random states; a state off every cycle comes back never,
   * and recording starts over from where it got to). Equality is what counts: a cycle
   * missed only means no replay.
   */
  #extend(chosen: number): void {
    this.#rSeq[this.#rLength++] = chosen;
    if (this.#rTotal % this.#rLength !== 0) return;
    const members = this.#rStates;
    const start = this.#rStart;
    for (let k = 0; k < this.#rCount; k++) {
      if ((members[k] as SwrrState).current !== start[k]) {
        // The cycle is at most `total` picks long: past that, give up.
        if (this.#rLength === this.#rTotal) this.#mode = 0;
        return;
      }
    }
    this.#mode = 2;
    this.#rPhase = 0;
  }

  /** Leaves record and replay, writing back the current weights a replay stands for. */
  #settle(): void {
    if (this.#mode === 2) {
      const members = this.#rStates;
      const start = this.#rStart;
      const seq = this.#rSeq;
      const arrayStates = this.#rArrayStates;
      const k = this.#rPhase;
      for (let j = 0; j < this.#rCount; j++) {
        const s = members[j] as SwrrState;
        s.current = (start[j] as number) + k * s.weight;
      }
      for (let j = 0; j < k; j++) (arrayStates[seq[j] as number] as SwrrState).current -= this.#rTotal;
    }
    this.#mode = 0;
  }
}

/** The longest cycle record and replay keeps (total weight of the peers), 1 MB of picks. */
const MAX_CYCLE = 1 << 18;

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
 * the scan) and is lowered by the total. Returns the chosen index. `ramping`: whether the
 * scan met a candidate whose slow-start weight was below its weight (then no replay).
 */
export function roundAmong(
  table: SwrrTable,
  peers: readonly PeerView[],
  first: number,
  ties: Ties,
  count: number,
  now: number | undefined,
  ramping: boolean,
): number {
  const index = ties.index;
  const replayed = table.replayTies(peers, index, count, first, ramping);
  if (replayed >= 0) return replayed;
  const states = table.states(peers);
  // Plain (see SwrrTable.replayTies): the best leads the ties, none slow-starts, all at
  // full effective weight; then the round can be recorded for replay.
  let plain = count > 0 && index[0] === first;
  let chosen = first;
  let chosenState = states[first] as SwrrState;
  let total = 0;
  for (let k = 0; k < count; k++) {
    const i = index[k] as number;
    const s = states[i] as SwrrState;
    const e = s.effective;
    const ramped = weightAt(peers[i] as PeerView, now);
    if (e !== s.weight || ramped !== s.weight) plain = false;
    const add = Math.min(e, ramped);
    s.current += add;
    total += add;
    if (e < s.weight) s.effective = e + 1;
    if (s.current > chosenState.current) {
      chosen = i;
      chosenState = s;
    }
  }
  chosenState.current -= total;
  table.recordTies(peers, index, count, plain, chosen);
  return chosen;
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
