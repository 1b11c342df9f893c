import type { CandidateReport, Explanation, PeerView, PickContext } from '../types.js';
import { weightAt } from '../weight.js';

/** What `pick` would read as a peer's current and effective weight, for `explain()`. */
export interface SwrrSnapshot {
  currentWeight: number;
  effectiveWeight: number;
}

/** Numbers per slot in {@link SwrrTable.state}: weight, current weight, effective weight, and a pad to 32 bytes. */
export const STRIDE = 4;
/** Offset of the configured weight in a slot of {@link SwrrTable.state}. */
export const WEIGHT = 0;
/** Offset of the current weight in a slot of {@link SwrrTable.state}. */
export const CURRENT = 1;
/** Offset of the effective weight in a slot of {@link SwrrTable.state}. */
export const EFFECTIVE = 2;

/**
 * The smooth weighted round robin state of one strategy instance (nginx's
 * `ngx_http_upstream_rr_peer_t`: `weight` as configured, `effectiveWeight` lowered by
 * failures and climbing back by one per pick, `currentWeight` the running score).
 *
 * The state lives in one typed array, {@link SwrrTable.state}, a *slot* of
 * {@link STRIDE} numbers per peer id (and weight): `state[o + WEIGHT]`,
 * `state[o + CURRENT]`, `state[o + EFFECTIVE]` for the slot at offset `o`. (One array
 * rather than three: optimized code checks a typed array's map and bounds on every access
 * in a loop, and a pick's loop touches the three numbers of every peer.) A table maps
 * each index of a peers array to its slot's offset; it is built on the first use of the
 * array, so a pick does no map lookup, and peers that keep their id and weight in a new
 * array (a membership change elsewhere) keep their slot and so their state, shared by
 * every array they are in. A peer whose weight differs from its slot's starts over in a
 * new slot. Slots are never freed: 32 bytes per distinct id and per weight change over the
 * life of the strategy.
 *
 * Tables are trusted: the peers array keeps its identity until membership or a weight
 * changes (see `Balancer.pick`), so a pick does not compare weights with its table.
 *
 * Internal to the package: shared by `roundRobin`, `leastConn` (ties), `leastTime` (ties)
 * and `random` (its round-robin fallback). Read `state` after {@link SwrrTable.slots},
 * which may grow it.
 */
export class SwrrTable {
  readonly #tables = new WeakMap<readonly PeerView[], Int32Array>();
  readonly #byId = new Map<string, number>();
  #lastPeers: readonly PeerView[] | undefined = undefined;
  #lastSlots: Int32Array = new Int32Array(0);
  #used = 0;
  /** Every slot's numbers, {@link STRIDE} per slot. */
  state: Float64Array = new Float64Array(8 * STRIDE);

  // Record and replay (see `replayPick`): what is recorded or replayed — an array and the
  // peers of it that take part (all of them, or a list of indices) — their slots, their
  // total weight, their current weights at the start of the cycle, the picks since then
  // (peer indices), how many, and where the replay is.
  /** Per array: its total weight when record and replay may serve it, else 0. */
  readonly #cycleTotal = new WeakMap<readonly PeerView[], number>();
  #mode: 0 | 1 | 2 = 0;
  #rPeers: readonly PeerView[] | undefined = undefined;
  #rAll = false;
  #rIdx: Int32Array = new Int32Array(0);
  #rCount = 0;
  #rArraySlots: Int32Array = new Int32Array(0);
  #rSlots: Int32Array = new Int32Array(0);
  #rTotal = 0;
  #rStart: Float64Array = new Float64Array(0);
  #rSeq: Int32Array = new Int32Array(0);
  #rLength = 0;
  #rPhase = 0;

  /** The slot offsets of `peers`, index for index; built on the first call for this array. */
  slots(peers: readonly PeerView[]): Int32Array {
    if (this.#mode !== 0 && peers !== this.#rPeers) this.#settle();
    if (peers === this.#lastPeers) return this.#lastSlots;
    let slots = this.#tables.get(peers);
    if (slots === undefined) {
      slots = this.#build(peers);
      this.#tables.set(peers, slots);
    }
    this.#lastPeers = peers;
    this.#lastSlots = slots;
    return slots;
  }

  #build(peers: readonly PeerView[]): Int32Array {
    const slots = new Int32Array(peers.length);
    const seen = new Set<number>();
    let total = 0;
    let replayable = peers.length > 0;
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i] as PeerView;
      if (!Number.isInteger(p.weight) || p.weight < 1) replayable = false;
      total += p.weight;
      const old = this.#byId.get(p.id);
      if (old !== undefined && this.state[old + WEIGHT] === p.weight) {
        slots[i] = old;
        if (seen.has(old)) replayable = false; // an id twice: two indices share a slot
        seen.add(old);
        continue;
      }
      const o = this.#allocate();
      this.state[o + WEIGHT] = p.weight;
      this.state[o + CURRENT] = 0;
      this.state[o + EFFECTIVE] = p.weight;
      this.#byId.set(p.id, o);
      slots[i] = o;
      seen.add(o);
    }
    this.#cycleTotal.set(peers, replayable && total <= MAX_CYCLE ? total : 0);
    return slots;
  }

  /** A new slot's offset. */
  #allocate(): number {
    const o = this.#used;
    this.#used += STRIDE;
    if (this.#used > this.state.length) {
      const grown = new Float64Array(this.state.length * 2);
      grown.set(this.state);
      this.state = grown;
    }
    return o;
  }

  /**
   * The current and effective weight `pick` would start from for `peers[i]`, without
   * creating a table or changing any state.
   */
  snapshot(peers: readonly PeerView[], i: number): SwrrSnapshot {
    if (this.#mode === 2) this.#settle();
    const peer = peers[i] as PeerView;
    const table = this.#tables.get(peers);
    const o = table !== undefined ? table[i] : this.#byId.get(peer.id);
    if (o === undefined || this.state[o + WEIGHT] !== peer.weight) {
      return { currentWeight: 0, effectiveWeight: peer.weight };
    }
    return {
      currentWeight: this.state[o + CURRENT] as number,
      effectiveWeight: this.state[o + EFFECTIVE] as number,
    };
  }

  /**
   * nginx's `NGX_PEER_FAILED` in `ngx_http_upstream_free_round_robin_peer`:
   * `effective_weight -= weight / max_fails` (integer division), floored at 0.
   */
  failed(peer: PeerView, peers: readonly PeerView[]): void {
    const maxFails = peer.maxFails ?? 1;
    if (maxFails === 0) return;
    if (this.#mode !== 0) this.#settle();
    const slots = this.slots(peers);
    const state = this.state;
    for (let i = 0; i < slots.length; i++) {
      if ((peers[i] as PeerView).id !== peer.id) continue;
      const o = slots[i] as number;
      if (state[o + WEIGHT] !== peer.weight) {
        // A weight changed under the table: the peer starts over at its new weight.
        state[o + WEIGHT] = peer.weight;
        state[o + EFFECTIVE] = peer.weight;
        state[o + CURRENT] = 0;
      }
      let effective = (state[o + EFFECTIVE] as number) - Math.floor((state[o + WEIGHT] as number) / maxFails);
      if (effective < 0) effective = 0;
      state[o + EFFECTIVE] = effective;
      return;
    }
  }

  /**
   * Round robin's pick without the arithmetic, when it can be replayed: returns the index
   * nginx's algorithm would pick, or -1 to say "run it" (after writing back the state).
   *
   * While every peer is available, none is tried, none slow-starts and every effective
   * weight equals the weight, a pick adds each weight to its current weight and takes the
   * total off the highest: a fixed map of the current weights alone, which comes back to
   * the state it starts from after at most `total weight` picks (a pure cycle; for integer
   * weights and current weights, where the arithmetic is exact). {@link record} watches
   * such picks until the current weights are exactly those it started from; from then on,
   * as long as the picks stay plain, this replays the recorded cycle: the same peers in
   * the same order, checking only `available` and slow start on each peer.
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
    for (let i = 0; i < peers.length; i++) {
      const peer = peers[i] as PeerView;
      const available = peer.available;
      if (available !== true && !available) {
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
   * After a round robin pick that ran the arithmetic: `plain` says whether every peer was
   * available, untried, not slow-starting and at its full effective weight, `best` what it
   * picked. Starts recording a cycle after a plain pick, extends it after each further
   * one, and switches to replaying once the current weights are back where it started.
   */
  record(peers: readonly PeerView[], plain: boolean, best: number): void {
    if (!plain || best < 0) {
      this.#mode = 0;
      return;
    }
    if (this.#mode === 1 && peers === this.#rPeers && this.#rAll) this.#extend(best);
    else this.#start(peers, true, this.#rIdx, peers.length);
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

  /** Starts recording from the current weights of `peers` (all, or `index[0…count)`). */
  #start(peers: readonly PeerView[], all: boolean, index: Int32Array, count: number): void {
    this.#mode = 0;
    if ((this.#cycleTotal.get(peers) ?? 0) === 0 || count === 0) return;
    const arraySlots = this.slots(peers);
    const state = this.state;
    if (this.#rStart.length < count) {
      this.#rStart = new Float64Array(count);
      this.#rSlots = new Int32Array(count);
      this.#rIdx = new Int32Array(count);
    }
    const start = this.#rStart;
    const slots = this.#rSlots;
    let total = 0;
    for (let k = 0; k < count; k++) {
      const i = all ? k : (index[k] as number);
      const o = arraySlots[i] as number;
      const c = state[o + CURRENT] as number;
      if (!Number.isInteger(c)) return;
      start[k] = c;
      slots[k] = o;
      if (!all) this.#rIdx[k] = i;
      total += state[o + WEIGHT] as number;
    }
    if (this.#rSeq.length < total) this.#rSeq = new Int32Array(total);
    this.#mode = 1;
    this.#rPeers = peers;
    this.#rAll = all;
    this.#rCount = count;
    this.#rArraySlots = arraySlots;
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
    const state = this.state;
    const slots = this.#rSlots;
    const start = this.#rStart;
    for (let k = 0; k < this.#rCount; k++) {
      if (state[(slots[k] as number) + CURRENT] !== start[k]) {
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
      const slots = this.#rSlots;
      const start = this.#rStart;
      const seq = this.#rSeq;
      const arraySlots = this.#rArraySlots;
      const state = this.state;
      const k = this.#rPhase;
      for (let j = 0; j < this.#rCount; j++) {
        const o = slots[j] as number;
        state[o + CURRENT] = (start[j] as number) + k * (state[o + WEIGHT] as number);
      }
      for (let j = 0; j < k; j++) {
        const o = arraySlots[seq[j] as number] as number;
        state[o + CURRENT] = (state[o + CURRENT] as number) - this.#rTotal;
      }
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
  const slots = table.slots(peers);
  const state = table.state;
  // Plain (see SwrrTable.replayTies): the best leads the ties, none slow-starts, all at
  // full effective weight; then the round can be recorded for replay.
  let plain = count > 0 && index[0] === first;
  let chosen = first;
  let chosenAt = slots[first] as number;
  let total = 0;
  for (let k = 0; k < count; k++) {
    const i = index[k] as number;
    const o = slots[i] as number;
    const e = state[o + EFFECTIVE] as number;
    const w = state[o + WEIGHT] as number;
    const ramped = weightAt(peers[i] as PeerView, now);
    if (e !== w || ramped !== w) plain = false;
    const add = Math.min(e, ramped);
    const c = (state[o + CURRENT] as number) + add;
    state[o + CURRENT] = c;
    total += add;
    if (e < w) state[o + EFFECTIVE] = e + 1;
    if (c > (state[chosenAt + CURRENT] as number)) {
      chosen = i;
      chosenAt = o;
    }
  }
  state[chosenAt + CURRENT] = (state[chosenAt + CURRENT] as number) - total;
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
