import { describe, expect, it } from 'vitest';
import { leastConn } from '../least-conn/index.js';
import { leastTime } from '../least-time/index.js';
import { mulberry32 } from '../simulate/prng.js';
import type { Balancer, PeerView, PickContext } from '../types.js';
import { weightAt } from '../weight.js';
import { roundRobin } from './index.js';

// The strategies share one smooth weighted round robin state table per peers array, and
// leastConn and leastTime list their ties during their one scan. These tests hold them to
// the plain algorithms, written here as nginx writes them: per-peer state objects, every
// peer every pick, a second scan for the ties.

interface State {
  weight: number;
  current: number;
  effective: number;
}

/** Per-peer state by id, one table per peers array, as nginx's round robin keeps it. */
class Reference {
  private readonly tables = new WeakMap<readonly PeerView[], State[]>();
  private readonly byId = new Map<string, State>();

  states(peers: readonly PeerView[]): State[] {
    let states = this.tables.get(peers);
    if (states === undefined) {
      states = peers.map((p) => {
        const old = this.byId.get(p.id);
        if (old !== undefined && old.weight === p.weight) return old;
        const fresh = { weight: p.weight, current: 0, effective: p.weight };
        this.byId.set(p.id, fresh);
        return fresh;
      });
      this.tables.set(peers, states);
    }
    return states;
  }

  failed(peer: PeerView, peers: readonly PeerView[]): void {
    const maxFails = peer.maxFails ?? 1;
    if (maxFails === 0) return;
    const states = this.states(peers);
    const i = peers.findIndex((p) => p.id === peer.id);
    const s = states[i];
    if (s === undefined) return;
    s.effective -= Math.floor(s.weight / maxFails);
    if (s.effective < 0) s.effective = 0;
  }

  /** One round among the peers `usable(i)` says take part, from `first`; the chosen index. */
  round(
    peers: readonly PeerView[],
    now: number | undefined,
    usable: (i: number) => boolean,
    from = 0,
  ): number {
    const states = this.states(peers);
    let best = -1;
    let total = 0;
    for (let i = from; i < peers.length; i++) {
      if (!usable(i)) continue;
      const s = states[i] as State;
      const add = Math.min(s.effective, weightAt(peers[i] as PeerView, now));
      s.current += add;
      total += add;
      if (s.effective < s.weight) s.effective++;
      if (best < 0 || s.current > (states[best] as State).current) best = i;
    }
    if (best >= 0) (states[best] as State).current -= total;
    return best;
  }
}

const skip = (peer: PeerView, ctx: PickContext) => !peer.available || ctx.tried?.has(peer.id) === true;

function referenceRoundRobin(): Balancer {
  const ref = new Reference();
  return {
    pick: (peers, ctx) => peers[ref.round(peers, ctx.now, (i) => !skip(peers[i] as PeerView, ctx))],
    failed: (peer, peers) => ref.failed(peer, peers),
  };
}

function referenceLeastConn(): Balancer {
  const ref = new Reference();
  return {
    pick(peers, ctx) {
      let best = -1;
      let many = false;
      const w = (i: number) => weightAt(peers[i] as PeerView, ctx.now);
      const a = (i: number) => (peers[i] as PeerView).active;
      for (let i = 0; i < peers.length; i++) {
        if (skip(peers[i] as PeerView, ctx)) continue;
        if (best < 0 || a(i) * w(best) < a(best) * w(i)) {
          best = i;
          many = false;
        } else if (a(i) * w(best) === a(best) * w(i)) {
          many = true;
        }
      }
      if (best < 0 || !many) return peers[best];
      const b = best;
      const tied = (i: number) => !skip(peers[i] as PeerView, ctx) && a(i) * w(b) === a(b) * w(i);
      return peers[ref.round(peers, ctx.now, tied, b)];
    },
    failed: (peer, peers) => ref.failed(peer, peers),
  };
}

function referenceLeastTime(): Balancer {
  const ref = new Reference();
  return {
    pick(peers, ctx) {
      const w = (i: number) => weightAt(peers[i] as PeerView, ctx.now);
      const p = (i: number) => peers[i] as PeerView;
      const score = (i: number) => ((p(i).headerTimeMs ?? p(i).responseTimeMs) * (p(i).active + 1)) / w(i);
      const compare = (i: number, j: number) => {
        if (score(i) !== score(j)) return score(i) < score(j) ? -1 : 1;
        const x = p(i).active * w(j);
        const y = p(j).active * w(i);
        return x < y ? -1 : x > y ? 1 : 0;
      };
      let best = -1;
      let many = false;
      for (let i = 0; i < peers.length; i++) {
        if (skip(p(i), ctx)) continue;
        const c = best < 0 ? -1 : compare(i, best);
        if (c < 0) {
          best = i;
          many = false;
        } else if (c === 0) {
          many = true;
        }
      }
      if (best < 0 || !many) return peers[best];
      const b = best;
      return peers[ref.round(peers, ctx.now, (i) => !skip(p(i), ctx) && compare(i, b) === 0, b)];
    },
    failed: (peer, peers) => ref.failed(peer, peers),
  };
}

interface Mutable {
  id: string;
  weight: number;
  active: number;
  responseTimeMs: number;
  available: boolean;
  maxFails?: number;
  slowStartMs?: number;
  upSince?: number;
}

/**
 * Drives a strategy and its reference through the same long run: calm stretches (every
 * peer up, nothing tried: a fixed cycle) broken by the things that change the order — a
 * peer going down or slow-starting, a tried peer, a failure, a new array (a membership or
 * weight change), a load change — and compares every pick.
 */
function compareRuns(make: () => Balancer, makeReference: () => Balancer, seed: number): number {
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const peer = (i: number): Mutable => ({
    id: `10.0.0.${i}:80`,
    weight: 1 + int(rnd() < 0.2 ? 9 : 3),
    active: int(3),
    responseTimeMs: 10 * (1 + int(3)),
    available: true,
  });
  let peers: Mutable[] = Array.from({ length: 1 + int(9) }, (_, i) => peer(i));
  let next = peers.length;
  const strategy = make();
  const reference = makeReference();
  let picks = 0;
  let now = 1_000_000;
  for (let step = 0; step < 3000; step++) {
    now += 7;
    const calm = step % 400 < 300; // 300 quiet steps, then 100 busy ones
    const disturb = rnd() < (calm ? 0.004 : 0.25);
    if (disturb) {
      const p = peers[int(peers.length)] as Mutable;
      switch (int(7)) {
        case 0:
          p.available = !p.available;
          break;
        case 1:
          p.slowStartMs = 10_000;
          p.upSince = now - int(12_000);
          break;
        case 2:
          strategy.failed?.(p, peers);
          reference.failed?.(p, peers);
          break;
        case 3:
          peers = rnd() < 0.5 && peers.length > 1 ? peers.filter((x) => x !== p) : [...peers, peer(next++)];
          break;
        case 4:
          peers = peers.map((x) => (x === p ? { ...x, weight: 1 + int(4) } : x));
          break;
        case 5:
          p.active = int(4);
          break;
        default:
          peers = peers.slice();
      }
    }
    const tried = !calm && rnd() < 0.3 ? new Set([(peers[int(peers.length)] as Mutable).id]) : undefined;
    const ctx: PickContext = { now, tried };
    const got = strategy.pick(peers, ctx);
    const want = reference.pick(peers, { now, tried });
    expect(got, `seed ${seed}, step ${step}`).toBe(want);
    if (got !== undefined) picks++;
  }
  return picks;
}

describe('smooth weighted round robin against the per-peer reference', () => {
  it('picks exactly as the per-peer algorithm does, through calm and busy stretches (roundRobin)', () => {
    for (let seed = 1; seed <= 24; seed++) {
      expect(compareRuns(roundRobin, referenceRoundRobin, seed)).toBeGreaterThan(0);
    }
  });

  it('picks exactly as the two-scan algorithm does (leastConn)', () => {
    for (let seed = 1; seed <= 24; seed++) {
      expect(compareRuns(leastConn, referenceLeastConn, seed)).toBeGreaterThan(0);
    }
  });

  it('picks exactly as the two-scan algorithm does (leastTime)', () => {
    for (let seed = 1; seed <= 24; seed++) {
      expect(compareRuns(() => leastTime(), referenceLeastTime, seed)).toBeGreaterThan(0);
    }
  });

  it('keeps one order through a cycle broken and resumed: the same before, during and after', () => {
    const peers: Mutable[] = [5, 1, 1, 3].map((weight, i) => ({
      id: `p${i}`,
      weight,
      active: 0,
      responseTimeMs: 0,
      available: true,
    }));
    const rr = roundRobin();
    const ref = referenceRoundRobin();
    const order = (n: number) =>
      Array.from({ length: n }, () => {
        const got = rr.pick(peers, {})?.id;
        expect(got).toBe(ref.pick(peers, {})?.id);
        return got;
      });
    // Two turns of the 10-pick cycle.
    expect(order(20).join(' ')).toBe([...'0301032030', ...'0301032030'].map((d) => `p${d}`).join(' '));
    order(3); // part way into the cycle
    // explain() reads the state the picks left, and changes nothing.
    const said = rr.explain?.(peers, {});
    expect(rr.pick(peers, {})).toBe(said?.chosen);
    expect(ref.pick(peers, {})).toBe(said?.chosen);
    // A peer goes down and comes back: the arithmetic takes over, then records again.
    (peers[1] as Mutable).available = false;
    order(7);
    (peers[1] as Mutable).available = true;
    order(40);
    rr.failed?.(peers[0] as Mutable, peers);
    ref.failed?.(peers[0] as Mutable, peers);
    order(40);
  });

  it('runs the round among tied peers exactly while the ties change', () => {
    const peers: Mutable[] = [3, 1, 2, 4, 2].map((weight, i) => ({
      id: `p${i}`,
      weight,
      active: i === 3 ? 5 : 0,
      responseTimeMs: 0,
      available: true,
    }));
    const lc = leastConn();
    const ref = referenceLeastConn();
    const run = (n: number) => {
      for (let i = 0; i < n; i++) expect(lc.pick(peers, {})).toBe(ref.pick(peers, {}));
    };
    run(30); // four idle peers tie
    (peers[2] as Mutable).active = 1; // the ties change
    run(30);
    (peers[2] as Mutable).active = 0; // and change back, part way into the old cycle
    run(30);
    expect(lc.explain?.(peers, {}).chosen).toBe(ref.pick(peers, {}));
  });

  it('keeps the order with some peers down, and when the set of peers down changes', () => {
    const peers: Mutable[] = [2, 3, 1, 4, 2, 1].map((weight, i) => ({
      id: `p${i}`,
      weight,
      active: 0,
      responseTimeMs: 0,
      available: true,
    }));
    const rr = roundRobin();
    const ref = referenceRoundRobin();
    const run = (n: number) => {
      for (let i = 0; i < n; i++) expect(rr.pick(peers, {})).toBe(ref.pick(peers, {}));
    };
    run(25);
    (peers[1] as Mutable).available = false;
    run(60); // the five peers up take turns
    (peers[4] as Mutable).available = false;
    run(60);
    (peers[1] as Mutable).available = true;
    run(60);
    (peers[4] as Mutable).available = true;
    run(60);
    for (const p of peers) p.available = false;
    expect(rr.pick(peers, {})).toBeUndefined();
    expect(ref.pick(peers, {})).toBeUndefined();
  });
});
