import { conformance } from '@switchyard/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PeerView } from '../types.js';
import { roundRobin } from './index.js';

interface RrCase {
  name: string;
  servers: string[];
  weights: number[];
  requests: number;
  sequence: number[];
}

function peersOf(c: RrCase): { primaries: PeerView[]; backups: PeerView[] } {
  const primaries: PeerView[] = [];
  const backups: PeerView[] = [];
  c.servers.forEach((line, i) => {
    const id = /server (\S+?)[\s;]/.exec(line)?.[1] ?? '';
    const peer = {
      id,
      weight: c.weights[i] ?? 1,
      active: 0,
      responseTimeMs: 0,
      available: !/\bdown\b/.test(line),
    };
    (/\bbackup\b/.test(line) ? backups : primaries).push(peer);
  });
  return { primaries, backups };
}

const port = (p: PeerView | undefined) => Number(p?.id.split(':')[1]);

describe('roundRobin', () => {
  const file = conformance<{ cases: RrCase[] }>('rr.json');
  // Cases whose peers all answer: the order comes from the strategy alone.
  const pure = file.cases.filter((c) => !c.servers.some((s) => /929[89]/.test(s)));

  it.each(pure.map((c) => [c.name, c] as const))('picks in nginx order: %s', (_name, c) => {
    const rr = roundRobin();
    const { primaries } = peersOf(c);
    const got = Array.from({ length: c.requests }, () => port(rr.pick(primaries, {})));
    expect(got).toEqual(c.sequence);
  });

  it('skips peers the request already tried', () => {
    const rr = roundRobin();
    const peers = ['a:1', 'b:1', 'c:1'].map((id) => ({
      id,
      weight: 1,
      active: 0,
      responseTimeMs: 0,
      available: true,
    }));
    expect(rr.pick(peers, { tried: new Set(['a:1', 'b:1']) })?.id).toBe('c:1');
    expect(rr.pick(peers, { tried: new Set(['a:1', 'b:1', 'c:1']) })).toBeUndefined();
  });

  it('lowers the effective weight of a failed peer and lets it climb back', () => {
    const rr = roundRobin();
    const peers = [
      { id: 'a:1', weight: 4, active: 0, responseTimeMs: 0, available: true, maxFails: 2 },
      { id: 'b:1', weight: 4, active: 0, responseTimeMs: 0, available: true, maxFails: 2 },
    ];
    // effective weight of a: 4 - 4/2 = 2, then +1 per pick back to 4.
    rr.failed?.(peers[0] as PeerView, peers);
    const seq = Array.from({ length: 8 }, () => rr.pick(peers, {})?.id);
    // Worked by hand from nginx's algorithm (cw = current weight, ew = effective):
    // 1: a cw 2 (ew 2->3), b cw 4 -> b, total 6, b cw -2
    // 2: a cw 5 (ew 3->4), b cw 2 -> a, total 7, a cw -2
    // then both at ew 4 alternate b, a, b, a …
    expect(seq).toEqual(['b:1', 'a:1', 'b:1', 'a:1', 'b:1', 'a:1', 'b:1', 'a:1']);
    const counts = { a: 0, b: 0 };
    rr.failed?.(peers[1] as PeerView, peers);
    rr.failed?.(peers[1] as PeerView, peers);
    for (let i = 0; i < 4; i++) {
      const id = rr.pick(peers, {})?.id;
      if (id === 'a:1') counts.a++;
      else counts.b++;
    }
    // b's effective weight fell to 0: a takes the next picks while b climbs back.
    expect(counts.a).toBeGreaterThan(counts.b);
  });

  it('ignores failures of a peer with maxFails 0, as nginx with max_fails=0', () => {
    const rr = roundRobin();
    const peers = [
      { id: 'a:1', weight: 1, active: 0, responseTimeMs: 0, available: true, maxFails: 0 },
      { id: 'b:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
    ];
    rr.failed?.(peers[0] as PeerView, peers);
    expect(Array.from({ length: 4 }, () => rr.pick(peers, {})?.id)).toEqual(['a:1', 'b:1', 'a:1', 'b:1']);
  });

  it('ignores a failure of a peer that is not in the array', () => {
    const rr = roundRobin();
    const peers = [
      { id: 'a:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
      { id: 'b:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
    ];
    const stranger = { id: 'c:1', weight: 1, active: 0, responseTimeMs: 0, available: true };
    expect(() => rr.failed?.(stranger, peers)).not.toThrow();
    expect(Array.from({ length: 2 }, () => rr.pick(peers, {})?.id)).toEqual(['a:1', 'b:1']);
  });

  it('starts a failed peer over at its new weight when the weight changed in place', () => {
    const rr = roundRobin();
    const peers = [
      { id: 'a:1', weight: 4, active: 0, responseTimeMs: 0, available: true, maxFails: 2 },
      { id: 'b:1', weight: 4, active: 0, responseTimeMs: 0, available: true, maxFails: 2 },
    ];
    rr.pick(peers, {}); // builds the table: a cw -4, b cw 4
    rr.pick(peers, {}); // b; a cw 0, b cw 0
    (peers[0] as { weight: number }).weight = 2;
    rr.failed?.(peers[0] as PeerView, peers);
    // a starts over: weight 2, effective 2 - 2/2 = 1, current 0. Worked by hand:
    // 1: a 1 (ew 1->2), b 4 -> b, b cw -1; 2: a 3, b 3 -> a (first), a cw -3;
    // 3: a -1, b 7 -> b, b cw 1; 4: a 1, b 5 -> b, b cw -1; 5: a 3, b 3 -> a; 6: b.
    expect(Array.from({ length: 6 }, () => rr.pick(peers, {})?.id)).toEqual([
      'b:1',
      'a:1',
      'b:1',
      'b:1',
      'a:1',
      'b:1',
    ]);
  });

  it('counts any truthy available as available, as !!available', () => {
    const rr = roundRobin();
    const peers = [
      { id: 'a:1', weight: 1, active: 0, responseTimeMs: 0, available: 1 as unknown as boolean },
      { id: 'b:1', weight: 1, active: 0, responseTimeMs: 0, available: 0 as unknown as boolean },
    ];
    expect(Array.from({ length: 2 }, () => rr.pick(peers, {})?.id)).toEqual(['a:1', 'a:1']);
  });

  it('returns undefined when no peer is available', () => {
    const rr = roundRobin();
    const peers = [{ id: 'a:1', weight: 1, active: 0, responseTimeMs: 0, available: false }];
    expect(rr.pick(peers, {})).toBeUndefined();
  });

  it('counts a peer half way through its slow start at half its weight', () => {
    const rr = roundRobin();
    const peers: PeerView[] = [
      { id: 'a', weight: 3, active: 0, responseTimeMs: 0, available: true },
      { id: 'b', weight: 4, active: 0, responseTimeMs: 0, available: true, slowStartMs: 1000, upSince: 0 },
    ];
    // b counts as 2: the order of weights 3,2 (worked by hand: cw a3 b2 → a; a1 b4 → b; …).
    const seq = Array.from({ length: 5 }, () => rr.pick(peers, { now: 500 })?.id);
    expect(seq).toEqual(['a', 'b', 'a', 'b', 'a']);
  });

  it('ignores slow start when no clock is given', () => {
    const rr = roundRobin();
    const peers: PeerView[] = [
      { id: 'a', weight: 3, active: 0, responseTimeMs: 0, available: true },
      { id: 'b', weight: 4, active: 0, responseTimeMs: 0, available: true, slowStartMs: 1000, upSince: 0 },
    ];
    const seq = Array.from({ length: 7 }, () => rr.pick(peers, {})?.id);
    expect(seq).toEqual(['b', 'a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('sends a peer that just came back 1 % of its share: once in the first 101 picks, the 51st', () => {
    const rr = roundRobin();
    const peers: PeerView[] = [
      { id: 'a', weight: 1, active: 0, responseTimeMs: 0, available: true },
      { id: 'b', weight: 1, active: 0, responseTimeMs: 0, available: true, slowStartMs: 60_000, upSince: 0 },
    ];
    // b adds 0.01 a pick, a loses 0.01: b first overtakes a when 0.01k > 1.01 - 0.01k, k = 51.
    const seq = Array.from({ length: 101 }, () => rr.pick(peers, { now: 0 })?.id);
    expect(seq.indexOf('b')).toBe(50);
    expect(seq.filter((id) => id === 'b')).toHaveLength(1);
  });

  it('returns to nginx order once the ramp is over', () => {
    const rr = roundRobin();
    const peers: PeerView[] = [
      { id: 'a', weight: 5, active: 0, responseTimeMs: 0, available: true },
      { id: 'b', weight: 1, active: 0, responseTimeMs: 0, available: true, slowStartMs: 100, upSince: 0 },
      { id: 'c', weight: 1, active: 0, responseTimeMs: 0, available: true },
    ];
    // After the ramp every peer adds its whole weight again: 7 picks give 5, 1, 1.
    for (let i = 0; i < 7; i++) rr.pick(peers, { now: 50 });
    const seq = Array.from({ length: 7 }, () => rr.pick(peers, { now: 100 })?.id);
    expect(seq.filter((id) => id === 'a')).toHaveLength(5);
    expect(seq.filter((id) => id === 'b')).toHaveLength(1);
    expect(seq.filter((id) => id === 'c')).toHaveLength(1);
  });

  describe('explain', () => {
    it('tells the next pick without moving the order on', () => {
      const rr = roundRobin();
      const c = pure.find((x) => x.name === 'rr-5-1-1') as RrCase;
      const { primaries } = peersOf(c);
      const got: number[] = [];
      for (let i = 0; i < c.requests; i++) {
        const told = rr.explain?.(primaries, {});
        const picked = rr.pick(primaries, {});
        expect(told?.chosen).toBe(picked);
        got.push(port(picked));
      }
      expect(got).toEqual(c.sequence);
    });

    it('reports current weights and skip reasons', () => {
      const rr = roundRobin();
      const peers: PeerView[] = [
        { id: 'a', weight: 5, active: 0, responseTimeMs: 0, available: true },
        { id: 'b', weight: 1, active: 0, responseTimeMs: 0, available: false },
        { id: 'c', weight: 1, active: 0, responseTimeMs: 0, available: true },
        { id: 'd', weight: 2, active: 0, responseTimeMs: 0, available: true, slowStartMs: 1000, upSince: 0 },
      ];
      rr.pick(peers, {}); // a; then cw a -3 (5 - 8), c 1, d 2
      expect(rr.explain?.(peers, { now: 250, tried: new Set(['c']) })).toEqual({
        strategy: 'round-robin',
        chosen: peers[3],
        candidates: [
          { id: 'a', score: 2, reason: 'current weight 2 = -3 + effective weight 5; lower than d' },
          { id: 'b', skipped: 'unavailable', reason: 'skipped: not available now' },
          { id: 'c', skipped: 'tried', reason: 'skipped: this request already tried it' },
          {
            id: 'd',
            score: 2.5,
            reason:
              'current weight 2.5 = 2 + effective weight 0.5 (slow start: 0.5 of weight 2); the highest, chosen, then lowered by the total 5.5',
          },
        ],
      });
    });

    it('says which peers tie with the chosen one', () => {
      const rr = roundRobin();
      const peers: PeerView[] = [
        { id: 'a', weight: 1, active: 0, responseTimeMs: 0, available: true },
        { id: 'b', weight: 1, active: 0, responseTimeMs: 0, available: true },
      ];
      expect(rr.explain?.(peers, {})?.candidates.map((c) => c.reason)).toEqual([
        'current weight 1 = 0 + effective weight 1; the highest, chosen, then lowered by the total 2',
        'current weight 1 = 0 + effective weight 1; ties with a, which comes first',
      ]);
    });

    it('chooses nothing when no peer can take the request', () => {
      const rr = roundRobin();
      const peers = [{ id: 'a', weight: 1, active: 0, responseTimeMs: 0, available: false }];
      expect(rr.explain?.(peers, {})).toEqual({
        strategy: 'round-robin',
        chosen: undefined,
        candidates: [{ id: 'a', skipped: 'unavailable', reason: 'skipped: not available now' }],
      });
    });
  });

  it('gives each peer exactly its weight in every window of Σweights picks (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 2, maxLength: 8 }),
        fc.integer({ min: 0, max: 20 }),
        (weights, warmup) => {
          const rr = roundRobin();
          const peers: PeerView[] = weights.map((weight, i) => ({
            id: `p${i}`,
            weight,
            active: 0,
            responseTimeMs: 0,
            available: true,
          }));
          const total = weights.reduce((a, b) => a + b, 0);
          for (let i = 0; i < warmup; i++) rr.pick(peers, {});
          const seq = Array.from({ length: 3 * total }, () => rr.pick(peers, {})?.id);
          for (let start = 0; start + total <= seq.length; start++) {
            const counts = new Map<string, number>();
            for (const id of seq.slice(start, start + total))
              counts.set(id ?? '', (counts.get(id ?? '') ?? 0) + 1);
            for (const p of peers) expect(counts.get(p.id) ?? 0).toBe(p.weight);
          }
        },
      ),
      { seed: 20261126, numRuns: 200 },
    );
  });
});
