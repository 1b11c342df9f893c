import { conformance } from '@switchyard/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PeerView } from '../types.js';
import { leastConn } from './index.js';

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

const peer = (id: string, weight: number, active = 0, extra: Partial<Mutable> = {}): Mutable => ({
  id,
  weight,
  active,
  responseTimeMs: 0,
  available: true,
  ...extra,
});

describe('leastConn', () => {
  it('picks the peer with the fewest active requests for its weight', () => {
    const lc = leastConn();
    // ratios 2, 1.5, 1
    const peers = [peer('a', 1, 2), peer('b', 2, 3), peer('c', 1, 1)];
    expect(lc.pick(peers, {})?.id).toBe('c');
    // 3 active at weight 4 (0.75) beats 1 active at weight 1.
    expect(lc.pick([peer('a', 1, 1), peer('b', 4, 3)], {})?.id).toBe('b');
  });

  it('follows nginx round robin order when no request is in flight', () => {
    const file = conformance<{ cases: { name: string; weights: number[]; sequence: number[] }[] }>('rr.json');
    for (const name of ['rr-1-1-1', 'rr-5-1-1', 'rr-3-2-1', 'rr-10-1']) {
      const c = file.cases.find((x) => x.name === name);
      if (c === undefined) throw new Error(`no case ${name}`);
      const peers = c.weights.map((w, i) => peer(`127.0.0.1:${9211 + i}`, w));
      const lc = leastConn();
      const got = c.sequence.map(() => Number(lc.pick(peers, {})?.id.split(':')[1]));
      expect(got).toEqual(c.sequence);
    }
  });

  it('takes turns by weighted round robin among the tied peers only', () => {
    const lc = leastConn();
    const peers = [peer('a', 1, 1), peer('b', 1), peer('c', 1), peer('d', 2)];
    // b, c, d tie at 0; weights 1,1,2: cw d2 → d; b2 c2 d0 → b; b-1 c3 d2 → c; b0 c0 d4 → d.
    const seq = Array.from({ length: 8 }, () => lc.pick(peers, {})?.id);
    expect(seq).toEqual(['d', 'b', 'c', 'd', 'd', 'b', 'c', 'd']);
  });

  it('balances requests as they start, as nginx counts conns', () => {
    const lc = leastConn();
    const peers = [peer('a', 1), peer('b', 1), peer('c', 2)];
    const seq: string[] = [];
    for (let i = 0; i < 6; i++) {
      const p = lc.pick(peers, {}) as Mutable;
      p.active++;
      seq.push(p.id);
    }
    // 1: all tie (0) → round robin 1,1,2 → c. 2: a, b tie → a. 3: b alone. 4: c (1/2).
    // 5: all at 1 per weight → round robin among all → b. 6: a and c tie (1/1, 2/2) → a.
    expect(seq).toEqual(['c', 'a', 'b', 'c', 'b', 'a']);
    expect(peers.map((p) => p.active)).toEqual([2, 2, 2]);
  });

  it('skips unavailable and tried peers, and returns undefined when none is left', () => {
    const lc = leastConn();
    const peers = [peer('a', 1, 0, { available: false }), peer('b', 1, 5), peer('c', 1, 3)];
    expect(lc.pick(peers, {})?.id).toBe('c');
    expect(lc.pick(peers, { tried: new Set(['c']) })?.id).toBe('b');
    expect(lc.pick(peers, { tried: new Set(['b', 'c']) })).toBeUndefined();
  });

  it('weighs a slow-starting peer by its ramped weight', () => {
    const peers = [peer('b', 2, 1, { slowStartMs: 1000, upSince: 0 }), peer('a', 2, 1)];
    // At 500 ms b counts as weight 1: 1/1 against a's 1/2 → a.
    expect(leastConn().pick(peers, { now: 500 })?.id).toBe('a');
    // Without a clock they tie, and the round robin among ties starts with b.
    expect(leastConn().pick(peers, {})?.id).toBe('b');
    // Idle, a ramping peer still ties at 0 and takes its (small) share of the round.
    const idle = [peer('a', 1), peer('b', 1, 0, { slowStartMs: 60_000, upSince: 0 })];
    const lc = leastConn();
    const seq = Array.from({ length: 101 }, () => lc.pick(idle, { now: 0 })?.id);
    expect(seq.indexOf('b')).toBe(50);
    expect(seq.filter((id) => id === 'b')).toHaveLength(1);
  });

  it('lowers the effective weight of a failed peer in the round among ties', () => {
    const lc = leastConn();
    const peers = [peer('a', 4, 0, { maxFails: 2 }), peer('b', 4, 0, { maxFails: 2 })];
    lc.failed?.(peers[0] as PeerView, peers);
    const seq = Array.from({ length: 6 }, () => lc.pick(peers, {})?.id);
    expect(seq).toEqual(['b', 'a', 'b', 'a', 'b', 'a']);
  });

  describe('explain', () => {
    it('reports each ratio and who wins', () => {
      const lc = leastConn();
      const peers = [peer('a', 2, 1), peer('b', 1, 2), peer('c', 1, 0, { available: false })];
      expect(lc.explain?.(peers, {})).toEqual({
        strategy: 'least-conn',
        chosen: peers[0],
        candidates: [
          { id: 'a', score: 0.5, reason: 'score 0.5 = 1 active / weight 2; the lowest: chosen' },
          { id: 'b', score: 2, reason: 'score 2 = 2 active / weight 1; higher than a' },
          { id: 'c', skipped: 'unavailable', reason: 'skipped: not available now' },
        ],
      });
    });

    it('reports the round among ties and agrees with pick without moving it on', () => {
      const lc = leastConn();
      const peers = [peer('x', 1, 3), peer('a', 5), peer('b', 1), peer('c', 1)];
      expect(lc.explain?.(peers, { tried: new Set(['c']) })).toEqual({
        strategy: 'least-conn',
        chosen: peers[1],
        candidates: [
          { id: 'x', score: 3, reason: 'score 3 = 3 active / weight 1; higher than a' },
          {
            id: 'a',
            score: 0,
            reason:
              'score 0 = 0 active / weight 5; tied for the lowest, round robin current weight 5, the highest: chosen',
          },
          {
            id: 'b',
            score: 0,
            reason:
              'score 0 = 0 active / weight 1; tied for the lowest, round robin current weight 1, not higher than a',
          },
          { id: 'c', skipped: 'tried', reason: 'skipped: this request already tried it' },
        ],
      });
      const seq: string[] = [];
      for (let i = 0; i < 7; i++) {
        const told = lc.explain?.(peers, {});
        const picked = lc.pick(peers, {});
        expect(told?.chosen).toBe(picked);
        seq.push(picked?.id ?? '');
      }
      expect(seq).toEqual(['a', 'a', 'b', 'a', 'c', 'a', 'a']);
    });
  });

  it('never picks a peer whose active/weight is above another available peer’s (property)', () => {
    const arbPeers = fc.array(
      fc.record({
        weight: fc.integer({ min: 1, max: 10 }),
        active: fc.integer({ min: 0, max: 20 }),
        available: fc.boolean(),
        tried: fc.boolean(),
      }),
      { minLength: 1, maxLength: 8 },
    );
    const arbSteps = fc.array(fc.integer({ min: -1, max: 7 }), { maxLength: 30 });
    fc.assert(
      fc.property(arbPeers, arbSteps, (specs, steps) => {
        const lc = leastConn();
        const peers = specs.map((s, i) => peer(`p${i}`, s.weight, s.active, { available: s.available }));
        const tried = new Set(specs.flatMap((s, i) => (s.tried ? [`p${i}`] : [])));
        const check = (chosen: PeerView | undefined, ctxTried: ReadonlySet<string>) => {
          const usable = peers.filter((p) => p.available && !ctxTried.has(p.id));
          if (usable.length === 0) return expect(chosen).toBeUndefined();
          expect(usable).toContain(chosen);
          const c = chosen as PeerView;
          for (const p of usable) expect(c.active * p.weight).toBeLessThanOrEqual(p.active * c.weight);
        };
        check(lc.pick(peers, { tried }), tried);
        // Then a run where picks start requests and some steps end one.
        const none = new Set<string>();
        for (const step of steps) {
          const done = peers[step];
          if (done !== undefined && done.active > 0) done.active--;
          const chosen = lc.pick(peers, {});
          check(chosen, none);
          if (chosen !== undefined) (chosen as Mutable).active++;
        }
      }),
      { seed: 20261126, numRuns: 300 },
    );
  });
});

describe('leastConn explain: the edges', () => {
  it('reports a round among busy peers tied at the same ratio, and the next picks follow it', () => {
    const lc = leastConn();
    // a and b both at 2 active per unit of weight; c is busier.
    const peers = [peer('a', 1, 2), peer('b', 2, 4), peer('c', 1, 3)];
    expect(lc.explain?.(peers, {})).toEqual({
      strategy: 'least-conn',
      chosen: peers[1],
      candidates: [
        {
          id: 'a',
          score: 2,
          reason:
            'score 2 = 2 active / weight 1; tied for the lowest, round robin current weight 1, not higher than b',
        },
        {
          id: 'b',
          score: 2,
          reason:
            'score 2 = 4 active / weight 2; tied for the lowest, round robin current weight 2, the highest: chosen',
        },
        { id: 'c', score: 3, reason: 'score 3 = 3 active / weight 1; higher than a' },
      ],
    });
    const seq: string[] = [];
    for (let i = 0; i < 6; i++) {
      const told = lc.explain?.(peers, {});
      const picked = lc.pick(peers, {});
      expect(told?.chosen).toBe(picked);
      seq.push(picked?.id ?? '');
    }
    expect(seq).toEqual(['b', 'a', 'b', 'b', 'a', 'b']);
  });

  it('names the ramped weight of a slow-starting peer in its reason', () => {
    const lc = leastConn();
    const peers = [
      peer('a', 10, 1, { slowStartMs: 1000, upSince: 0 }),
      peer('b', 1, 1),
      peer('c', 4, 2, { slowStartMs: 1000, upSince: 0 }),
    ];
    expect(lc.explain?.(peers, { now: 500 })?.candidates).toEqual([
      {
        id: 'a',
        score: 0.2,
        reason: 'score 0.2 = 1 active / weight 5 (slow start: 5 of 10); the lowest: chosen',
      },
      { id: 'b', score: 1, reason: 'score 1 = 1 active / weight 1; higher than a' },
      { id: 'c', score: 1, reason: 'score 1 = 2 active / weight 2 (slow start: 2 of 4); higher than a' },
    ]);
    // Once the ramp is over, the full weight and no slow-start note.
    expect(lc.explain?.(peers, { now: 1000 })?.candidates[0]).toEqual({
      id: 'a',
      score: 0.1,
      reason: 'score 0.1 = 1 active / weight 10; the lowest: chosen',
    });
  });

  it('counts any truthy `available` as available, as isAvailable does', () => {
    const lc = leastConn();
    const peers = [
      peer('a', 1, 5),
      peer('b', 1, 0, { available: 1 as unknown as boolean }),
      peer('c', 1, 0, { available: 0 as unknown as boolean }),
    ];
    expect(lc.pick(peers, {})?.id).toBe('b');
    expect(lc.explain?.(peers, {})?.candidates.map((c) => c.skipped)).toEqual([
      undefined,
      undefined,
      'unavailable',
    ]);
  });

  it('chooses nothing, and explains why, when every peer is down or tried', () => {
    const lc = leastConn();
    const peers = [peer('a', 1, 0, { available: false }), peer('b', 1)];
    expect(lc.pick(peers, { tried: new Set(['b']) })).toBeUndefined();
    expect(lc.explain?.(peers, { tried: new Set(['b']) })).toEqual({
      strategy: 'least-conn',
      chosen: undefined,
      candidates: [
        { id: 'a', skipped: 'unavailable', reason: 'skipped: not available now' },
        { id: 'b', skipped: 'tried', reason: 'skipped: this request already tried it' },
      ],
    });
    expect(lc.explain?.([], {})).toEqual({ strategy: 'least-conn', chosen: undefined, candidates: [] });
  });
});
