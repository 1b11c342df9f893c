import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../simulate/prng.js';
import type { PeerView } from '../types.js';
import { random } from './index.js';

type Mutable = {
  id: string;
  weight: number;
  active: number;
  responseTimeMs: number;
  available: boolean;
};

const peer = (id: string, weight = 1, active = 0, extra: Partial<Mutable> = {}): Mutable => ({
  id,
  weight,
  active,
  responseTimeMs: 0,
  available: true,
  ...extra,
});

/** A random() that returns the given values in order and counts its calls. */
function script(...values: number[]): (() => number) & { calls: number } {
  const fn = Object.assign(
    () => {
      const v = values[fn.calls++];
      if (v === undefined) throw new Error('script exhausted');
      return v;
    },
    { calls: 0 },
  );
  return fn;
}

describe('random', () => {
  // Ranges of weights 1, 2, 1 out of 4: a [0, 1), b [1, 3), c [3, 4).
  const abc = () => [peer('a'), peer('b', 2), peer('c')];

  it('picks the peer whose weight range random × total falls in', () => {
    const peers = abc();
    const r = random();
    const rnd = script(0.1, 0.3, 0.74, 0.75, 0.99, 0);
    const seq = Array.from({ length: 6 }, () => r.pick(peers, { random: rnd })?.id);
    expect(seq).toEqual(['a', 'b', 'b', 'c', 'c', 'a']);
    expect(rnd.calls).toBe(6);
  });

  it('draws again when it hits an unavailable or tried peer', () => {
    const peers = abc();
    (peers[1] as Mutable).available = false;
    const rnd = script(0.3, 0.5, 0.1);
    expect(random().pick(peers, { random: rnd })?.id).toBe('a');
    expect(rnd.calls).toBe(3);
    const again = script(0.9, 0.2);
    expect(random().pick(abc(), { random: again, tried: new Set(['c']) })?.id).toBe('a');
    expect(again.calls).toBe(2);
  });

  it('falls back to round robin after 21 draws, as nginx after tries > 20', () => {
    const peers = abc();
    (peers[1] as Mutable).available = false;
    const rnd = script(...Array.from({ length: 21 }, () => 0.5));
    const r = random();
    expect(r.pick(peers, { random: rnd })?.id).toBe('a');
    expect(rnd.calls).toBe(21);
    // Round robin between a and c goes on from where it is.
    expect(r.pick(peers, { random: script(...Array.from({ length: 21 }, () => 0.5)) })?.id).toBe('c');
  });

  it('uses round robin without drawing when the weights add up to 0', () => {
    const rnd = script();
    expect(random().pick([peer('a', 0), peer('b', 0)], { random: rnd })?.id).toBe('a');
    expect(rnd.calls).toBe(0);
  });

  it('feeds failures to its round-robin fallback', () => {
    const peers = abc();
    (peers[1] as Mutable).available = false;
    const r = random();
    // One failure (max_fails 1) takes a's effective weight to 0: round robin starts at c.
    r.failed?.(peers[0] as PeerView, peers);
    expect(r.pick(peers, { random: script(...Array.from({ length: 21 }, () => 0.5)) })?.id).toBe('c');
  });

  it('gives seed 0 a working generator (xorshift32 stays at a zero state)', () => {
    const r = random({ seed: 0 });
    const ids = new Set(Array.from({ length: 12 }, () => r.pick(abc(), {})?.id));
    expect(ids.size).toBeGreaterThan(1);
  });

  it('uses round robin without drawing when the tier has fewer than 2 peers', () => {
    const rnd = script();
    const only = [peer('a')];
    expect(random().pick(only, { random: rnd })?.id).toBe('a');
    expect(random().pick([peer('a', 1, 0, { available: false })], { random: rnd })).toBeUndefined();
    expect(random().pick([], { random: rnd })).toBeUndefined();
    expect(rnd.calls).toBe(0);
  });

  it('rebuilds its ranges when a weight changes in place', () => {
    const peers = [peer('a'), peer('b')];
    const r = random();
    expect(r.pick(peers, { random: script(0.6) })?.id).toBe('b');
    (peers[0] as Mutable).weight = 3; // a [0, 3), b [3, 4)
    expect(r.pick(peers, { random: script(0.6) })?.id).toBe('a');
  });

  it('without ctx.random draws from its own generator, seeded and deterministic', () => {
    const peers = abc();
    const run = (seed?: number) => {
      const r = random(seed === undefined ? {} : { seed });
      return Array.from({ length: 12 }, () => r.pick(peers, {})?.id).join('');
    };
    expect(run()).toBe(run(1));
    expect(run(42)).toBe(run(42));
    expect(run()).toBe('abbbcbbabbca');
    expect(run(42)).toBe('ccbabaacabba');
  });

  it('follows the weights over many draws (seeded)', () => {
    const peers = abc();
    const r = random();
    const rnd = mulberry32(7);
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 4000; i++) {
      const id = r.pick(peers, { random: rnd })?.id as string;
      counts[id] = (counts[id] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 1011, b: 2060, c: 929 });
  });

  describe('two least_conn', () => {
    it('takes the less loaded of two distinct drawn peers', () => {
      const peers = [peer('a', 1, 3), peer('b', 1, 1), peer('c', 1, 0)];
      const r = random({ two: 'leastConn' });
      // Ranges a [0,1), b [1,2), c [2,3) of 3.
      expect(r.pick(peers, { random: script(0.1, 0.5) })?.id).toBe('b');
      expect(r.pick(peers, { random: script(0.5, 0.1) })?.id).toBe('b');
      // The same peer twice is drawn again.
      const rnd = script(0.1, 0.2, 0.9);
      expect(r.pick(peers, { random: rnd })?.id).toBe('c');
      expect(rnd.calls).toBe(3);
    });

    it('compares active / weight and keeps the second drawn on a tie, as nginx', () => {
      const r = random({ two: 'leastConn' });
      const peers = [peer('a', 1, 1), peer('b', 2, 2)];
      expect(r.pick(peers, { random: script(0.1, 0.9) })?.id).toBe('b');
      expect(r.pick(peers, { random: script(0.9, 0.1) })?.id).toBe('a');
      const light = [peer('a', 1, 1), peer('b', 3, 2)]; // 1 against 2/3
      expect(r.pick(light, { random: script(0.9, 0.1) })?.id).toBe('b');
    });

    it('compares by active / weight alone, not by response time', () => {
      const peers = [peer('a', 1, 1), peer('b', 1, 0, { responseTimeMs: 100 })];
      expect(random({ two: 'leastConn' }).pick(peers, { random: script(0.1, 0.9) })?.id).toBe('b');
      expect(random({ two: 'leastConn' }).pick(peers, { random: script(0.9, 0.1) })?.id).toBe('b');
    });

    it('falls back to round robin when it cannot find two usable peers', () => {
      const peers = [peer('a'), peer('b', 1, 0, { available: false })];
      const rnd = script(...Array.from({ length: 21 }, (_, i) => (i % 2 === 0 ? 0.1 : 0.9)));
      expect(random({ two: 'leastConn' }).pick(peers, { random: rnd })?.id).toBe('a');
      expect(rnd.calls).toBe(21);
    });
  });

  describe('two least_time', () => {
    it('takes the lower time × (active + 1) / weight', () => {
      const peers = [
        { ...peer('a', 1, 0), responseTimeMs: 50, headerTimeMs: 5 },
        { ...peer('b', 1, 1), responseTimeMs: 20, headerTimeMs: 10 },
      ];
      // header: a 5, b 20 → a. last byte: a 50, b 40 → b.
      expect(random({ two: 'leastTime' }).pick(peers, { random: script(0.1, 0.9) })?.id).toBe('a');
      expect(
        random({ two: 'leastTime', measure: 'lastByte' }).pick(peers, { random: script(0.1, 0.9) })?.id,
      ).toBe('b');
    });

    it('counts the requests in flight and divides by the weight, in either draw order', () => {
      // a: 10 × (3 + 1) / 1 = 40; b: 20 × 1 / 1 = 20 → b, whichever is drawn first.
      const busy = [peer('a', 1, 3, { responseTimeMs: 10 }), peer('b', 1, 0, { responseTimeMs: 20 })];
      expect(random({ two: 'leastTime' }).pick(busy, { random: script(0.1, 0.9) })?.id).toBe('b');
      expect(random({ two: 'leastTime' }).pick(busy, { random: script(0.9, 0.1) })?.id).toBe('b');
      // a: 10 × 1 / 2 = 5; b: 8 × 1 / 1 = 8 → a. Ranges a [0, 2), b [2, 3).
      const heavy = [peer('a', 2, 0, { responseTimeMs: 10 }), peer('b', 1, 0, { responseTimeMs: 8 })];
      expect(random({ two: 'leastTime' }).pick(heavy, { random: script(0.1, 0.9) })?.id).toBe('a');
      expect(random({ two: 'leastTime' }).pick(heavy, { random: script(0.9, 0.1) })?.id).toBe('a');
    });

    it('breaks equal times by active / weight', () => {
      const peers = [peer('a', 1, 0), peer('b', 1, 2)]; // no measurement: both score 0
      expect(random({ two: 'leastTime' }).pick(peers, { random: script(0.1, 0.9) })?.id).toBe('a');
    });
  });

  describe('explain', () => {
    it('marks the peers it did not draw, without using up its own generator', () => {
      const peers = [...abc(), peer('d', 1, 0, { available: false })];
      const r = random({ seed: 3 });
      for (let i = 0; i < 10; i++) {
        const told = r.explain?.(peers, {});
        expect(told?.chosen).toBe(r.pick(peers, {}));
      }
      // Ranges of 5: a [0,1), b [1,3), c [3,4), d [4,5).
      expect(r.explain?.(peers, { random: script(0.9, 0.7) })).toEqual({
        strategy: 'random',
        chosen: peers[2],
        candidates: [
          { id: 'a', skipped: 'not-sampled', reason: 'not drawn in 2 draws (range [0, 1) of 5)' },
          { id: 'b', skipped: 'not-sampled', reason: 'not drawn in 2 draws (range [1, 3) of 5)' },
          { id: 'c', score: 0.2, reason: 'drawn (range [3, 4) of 5): chosen' },
          { id: 'd', skipped: 'unavailable', reason: 'skipped: not available now, drawn and passed over' },
        ],
      });
    });

    it('reports both samples of random two', () => {
      const peers = [peer('a', 1, 3), peer('b', 1, 1), peer('c', 1, 0)];
      const told = random({ two: 'leastConn' }).explain?.(peers, { random: script(0.1, 0.5) });
      expect(told).toEqual({
        strategy: 'random-two-least-conn',
        chosen: peers[1],
        candidates: [
          {
            id: 'a',
            score: 3,
            reason:
              'drawn (range [0, 1) of 3), score 3 = 3 active / weight 1; worse than b, or tied and drawn first',
          },
          {
            id: 'b',
            score: 1,
            reason: 'drawn (range [1, 2) of 3), score 1 = 1 active / weight 1; the better of the two: chosen',
          },
          { id: 'c', skipped: 'not-sampled', reason: 'not drawn in 2 draws (range [2, 3) of 3)' },
        ],
      });
    });

    it('reports both samples of random two least_time, by the measure asked for', () => {
      const peers = [
        { ...peer('a', 2, 1), responseTimeMs: 30, headerTimeMs: 10 },
        { ...peer('b', 1, 0), responseTimeMs: 40, headerTimeMs: 25 },
      ];
      // Ranges a [0, 2), b [2, 3). header: a 10 × 2 / 2 = 10, b 25 → a;
      // last byte: a 30 × 2 / 2 = 30, b 40 → a.
      const header = random({ two: 'leastTime' }).explain?.(peers, { random: script(0.1, 0.9) });
      expect(header?.strategy).toBe('random-two-least-time');
      expect(header?.chosen).toBe(peers[0]);
      expect(header?.candidates).toEqual([
        {
          id: 'a',
          score: 10,
          reason:
            'drawn (range [0, 2) of 3), score 10 = time × (1 active + 1) / weight 2; the better of the two: chosen',
        },
        {
          id: 'b',
          score: 25,
          reason:
            'drawn (range [2, 3) of 3), score 25 = time × (0 active + 1) / weight 1; worse than a, or tied and drawn first',
        },
      ]);
      const lastByte = random({ two: 'leastTime', measure: 'lastByte' }).explain?.(peers, {
        random: script(0.1, 0.9),
      });
      expect(lastByte?.candidates.map((c) => c.score)).toEqual([30, 40]);
    });

    it('scores a random two least_conn sample by active / weight', () => {
      const peers = [peer('a', 2, 1), peer('b', 1, 1)];
      const told = random({ two: 'leastConn' }).explain?.(peers, { random: script(0.1, 0.9) });
      expect(told?.candidates.map((c) => c.score)).toEqual([0.5, 1]);
    });

    it('counts a single draw in the singular, and an unavailable peer not drawn as just unavailable', () => {
      const peers = [peer('a'), peer('b'), peer('c', 1, 0, { available: false })];
      expect(random().explain?.(peers, { random: script(0.1) })?.candidates).toEqual([
        { id: 'a', score: 1 / 3, reason: 'drawn (range [0, 1) of 3): chosen' },
        { id: 'b', skipped: 'not-sampled', reason: 'not drawn in 1 draw (range [1, 2) of 3)' },
        { id: 'c', skipped: 'unavailable', reason: 'skipped: not available now' },
      ]);
    });

    it('says when round robin chose after 21 draws', () => {
      const peers = [peer('a'), peer('b', 1, 0, { available: false })];
      const told = random().explain?.(peers, { random: script(...Array.from({ length: 21 }, () => 0.9)) });
      expect(told?.chosen).toBe(peers[0]);
      expect(told?.candidates[0]?.reason).toMatch(/^round robin \(no usable peer in 21 draws\): /);
    });

    it('says when round robin chose', () => {
      const told = random().explain?.([peer('a')], {});
      expect(told).toEqual({
        strategy: 'random',
        chosen: expect.objectContaining({ id: 'a' }),
        candidates: [
          {
            id: 'a',
            score: 1,
            reason:
              'round robin (fewer than 2 peers): current weight 1 = 0 + effective weight 1; the highest, chosen, then lowered by the total 1',
          },
        ],
      });
    });
  });

  it('rejects unknown options when built', () => {
    expect(() => random({ two: 'least_conn' as 'leastConn' })).toThrow(
      expect.objectContaining({
        code: 'SWY_ERR_INVALID_OPTION',
        message: `random.two: expected one of "leastConn", "leastTime", got "least_conn"`,
      }),
    );
    expect(() => random({ seed: 1.5 })).toThrow(
      expect.objectContaining({
        code: 'SWY_ERR_INVALID_OPTION',
        message: 'random.seed: expected an integer, got 1.5',
      }),
    );
    expect(() => random({ two: 'leastTime', measure: 'x' as 'header' })).toThrow(
      expect.objectContaining({ message: `random.measure: expected one of "header", "lastByte", got "x"` }),
    );
  });

  it('is not confused by a PeerView that is a plain literal', () => {
    const peers: PeerView[] = [peer('a'), peer('b')];
    expect(random().pick(peers, { random: () => 0.99 })?.id).toBe('b');
  });

  it('checks every weight of a tier of up to 4 peers on every pick', () => {
    const peers = [peer('a'), peer('b')];
    const r = random();
    expect(r.pick(peers, { random: script(0.6) })?.id).toBe('b');
    (peers[1] as Mutable).weight = 3; // a [0, 1), b [1, 4): u = 0.4 → 1.6, b (not 0.8 of 2, a)
    expect(r.pick(peers, { random: script(0.4) })?.id).toBe('b');
  });

  it('reads 4 weights a pick once the ranges are built, also after picks on another array', () => {
    let reads = 0;
    const counted = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const p = peer(`p${i}`);
        return Object.defineProperty(p, 'weight', {
          get: () => {
            reads++;
            return 1;
          },
        });
      });
    const r = random();
    const ten = counted(10);
    r.pick(ten, { random: script(0.5) }); // builds: 10 reads, then checks 4
    expect(reads).toBe(14);
    reads = 0;
    r.pick(ten, { random: script(0.5) });
    expect(reads).toBe(4);
    r.pick(counted(10), { random: script(0.5) });
    reads = 0;
    r.pick(ten, { random: script(0.5) });
    expect(reads).toBe(4);
    // Fewer than 4 peers: each weight once.
    const three = counted(3);
    r.pick(three, { random: script(0.5) });
    reads = 0;
    r.pick(three, { random: script(0.5) });
    expect(reads).toBe(3);
  });

  it('builds its ranges once per array; a weight changed in place on a larger array is noticed within ⌈n / 4⌉ picks', () => {
    const peers = Array.from({ length: 10 }, (_, i) => peer(`p${i}`));
    const r = random();
    // u = 0.05 × total 10 → p0's range [0, 1).
    expect(r.pick(peers, { random: script(0.05) })?.id).toBe('p0');
    (peers[0] as Mutable).weight = 11; // p0 [0, 11) of 20: u = 0.5 → 10, p0 from the next rebuild on
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) seen.push(r.pick(peers, { random: script(0.5) })?.id as string);
    expect(seen).toContain('p0');
    expect(seen[seen.length - 1]).toBe('p0');
    // A new array (what core passes when a weight changes) gets its own ranges at once.
    expect(r.pick(peers.slice(), { random: script(0.5) })?.id).toBe('p0');
  });
});
