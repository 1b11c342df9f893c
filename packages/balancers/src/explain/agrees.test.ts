import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { boundedLoadHash } from '../bounded-load-hash/index.js';
import { hash } from '../hash/index.js';
import { ipHash } from '../ip-hash/index.js';
import { leastConn } from '../least-conn/index.js';
import { leastTime } from '../least-time/index.js';
import { random } from '../random/index.js';
import { roundRobin } from '../round-robin/index.js';
import { mulberry32 } from '../simulate/prng.js';
import type { Balancer, PeerView, PickContext } from '../types.js';

// One algorithm per strategy: explain() reads the same walk that pick() takes, so what it
// says it would choose is what the next pick chooses, whatever came before.

interface MutablePeer {
  id: string;
  weight: number;
  active: number;
  responseTimeMs: number;
  headerTimeMs?: number;
  available: boolean;
  maxFails: number;
  slowStartMs?: number;
  upSince?: number;
}

const peerArb = fc.record({
  weight: fc.integer({ min: 1, max: 3 }),
  active: fc.integer({ min: 0, max: 3 }),
  responseTimeMs: fc.constantFrom(0, 10, 20),
  headerTimeMs: fc.option(fc.constantFrom(5, 10), { nil: undefined }),
  available: fc.boolean(),
  slowStartMs: fc.option(fc.constant(1000), { nil: undefined }),
  upSince: fc.option(fc.integer({ min: 0, max: 2000 }), { nil: undefined }),
});

/** One step: a pick context, then what changes before the next step. */
const stepArb = fc.record({
  key: fc.constantFrom('', '/a', '/b?x=1', '/c/d', '/e'),
  clientIp: fc.constantFrom('10.0.0.1', '10.0.1.1', '192.168.7.9', '::1', 'bad'),
  now: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined }),
  tried: fc.integer({ min: 0, max: 15 }),
  seed: fc.integer(),
  fail: fc.option(fc.nat(), { nil: undefined }),
  change: fc.option(
    fc.record({ at: fc.nat(), active: fc.integer({ min: 0, max: 3 }), available: fc.boolean() }),
    {
      nil: undefined,
    },
  ),
});

type Step = typeof stepArb extends fc.Arbitrary<infer T> ? T : never;
type Scenario = { peers: Omit<MutablePeer, 'id' | 'maxFails'>[]; steps: Step[] };

const scenarioArb = (minPeers: number, maxPeers: number) =>
  fc.record({
    peers: fc.array(peerArb, { minLength: minPeers, maxLength: maxPeers }),
    steps: fc.array(stepArb, { minLength: 1, maxLength: 30 }),
  });

function build(specs: readonly Omit<MutablePeer, 'id' | 'maxFails'>[]): MutablePeer[] {
  return specs.map((s, i) => ({ id: `10.0.0.${i + 1}:80`, maxFails: 1, ...s }));
}

function context(peers: readonly MutablePeer[], step: Step, random?: () => number): PickContext {
  const tried = new Set(peers.filter((_, i) => (step.tried >> i) & 1).map((p) => p.id));
  return { key: step.key, clientIp: step.clientIp, now: step.now, tried, random };
}

/**
 * Runs the steps on one balancer: at each, explain() then pick() on the same context
 * (the same draws for a random strategy), and the chosen peers must be the same one.
 */
function agrees(make: () => Balancer, scenario: Scenario, ownRandom: boolean): void {
  const balancer = make();
  const peers = build(scenario.peers);
  const view: readonly PeerView[] = peers;
  for (const step of scenario.steps) {
    const explained = balancer.explain?.(
      view,
      context(peers, step, ownRandom ? undefined : mulberry32(step.seed)),
    );
    const picked = balancer.pick(view, context(peers, step, ownRandom ? undefined : mulberry32(step.seed)));
    expect(explained?.chosen?.id).toBe(picked?.id);
    expect(explained?.chosen).toBe(picked);
    if (peers.length > 0) expect(explained?.candidates.length).toBeGreaterThan(0);
    if (step.fail !== undefined && peers.length > 0) {
      balancer.failed?.(peers[step.fail % peers.length] as PeerView, view);
    }
    if (step.change !== undefined && peers.length > 0) {
      const p = peers[step.change.at % peers.length] as MutablePeer;
      p.active = step.change.active;
      p.available = step.change.available;
    }
  }
}

const STRATEGIES: [string, () => Balancer, boolean][] = [
  ['roundRobin', () => roundRobin(), false],
  ['leastConn', () => leastConn(), false],
  ['leastTime (header, inflight)', () => leastTime(), false],
  ['leastTime (lastByte, no inflight)', () => leastTime({ measure: 'lastByte', inflight: false }), false],
  ['random', () => random({ seed: 7 }), false],
  ['random with its own generator', () => random({ seed: 7 }), true],
  ['random two leastConn', () => random({ two: 'leastConn' }), false],
  ['random two leastTime', () => random({ two: 'leastTime', measure: 'lastByte' }), false],
  ['hash', () => hash(), false],
  ['hash consistent', () => hash({ consistent: true }), false],
  ['ipHash', () => ipHash(), false],
  ['boundedLoadHash', () => boundedLoadHash(), false],
];

describe('explain().chosen is what pick() returns', () => {
  for (const [name, make, ownRandom] of STRATEGIES) {
    it(`agrees with pick() for ${name}, over any peers and history`, () => {
      fc.assert(
        fc.property(scenarioArb(0, 6), (scenario) => agrees(make, scenario, ownRandom)),
        { seed: 16, numRuns: 300 },
      );
    });
  }

  it('agrees for leastConn when busy peers tie, round after round', () => {
    // Every peer busy with the same ratio: the round among ties decides each pick.
    const busy = fc.record({
      weight: fc.constantFrom(1, 2),
      active: fc.constant(2),
      responseTimeMs: fc.constant(10),
      headerTimeMs: fc.constant(undefined),
      available: fc.constant(true),
      slowStartMs: fc.constant(undefined),
      upSince: fc.constant(undefined),
    });
    fc.assert(
      fc.property(
        fc
          .array(busy, { minLength: 2, maxLength: 6 })
          .map((peers) => peers.map((p) => ({ ...p, active: 2 * p.weight }))),
        fc.array(stepArb, { minLength: 5, maxLength: 30 }),
        (peers, steps) => {
          const lc = leastConn();
          const view = build(peers);
          for (const step of steps) {
            const ctx = { now: step.now };
            const why = lc.explain?.(view, ctx);
            expect(why?.candidates.filter((c) => c.reason.includes('tied for the lowest')).length).toBe(
              view.length,
            );
            expect(why?.chosen).toBe(lc.pick(view, ctx));
            if (step.fail !== undefined) lc.failed?.(view[step.fail % view.length] as PeerView, view);
          }
        },
      ),
      { seed: 17, numRuns: 300 },
    );
  });

  it("agrees for hash's single-peer and empty-key fallback to round robin", () => {
    for (const make of [() => hash(), () => hash({ consistent: true }), () => ipHash()]) {
      fc.assert(
        fc.property(scenarioArb(1, 1), (scenario) => agrees(make, scenario, false)),
        { seed: 18, numRuns: 200 },
      );
    }
    const h = hash();
    const one = build([{ weight: 1, active: 0, responseTimeMs: 0, available: false }]);
    expect(h.explain?.(one, { key: '/a' }).chosen).toBe(h.pick(one, { key: '/a' }));
    const only = one[0] as MutablePeer;
    only.available = true;
    expect(h.explain?.(one, { key: '/a', tried: new Set([only.id]) }).chosen).toBe(
      h.pick(one, { key: '/a', tried: new Set([only.id]) }),
    );
    expect(h.explain?.(one, { key: '/a' }).chosen).toBe(only);
    expect(h.pick(one, { key: '/a' })).toBe(only);
  });
});
