import { describe, expect, it } from 'vitest';
import type { PeerView } from '../types.js';
import { leastTime, leastTimeScore } from './index.js';

type Timed = {
  id: string;
  weight: number;
  active: number;
  responseTimeMs: number;
  headerTimeMs?: number;
  available: boolean;
  slowStartMs?: number;
  upSince?: number;
};

const peer = (
  id: string,
  responseTimeMs: number,
  active = 0,
  weight = 1,
  extra: Partial<Timed> = {},
): Timed => ({
  id,
  weight,
  active,
  responseTimeMs,
  available: true,
  ...extra,
});

describe('leastTime', () => {
  it('picks the lowest time × (active + 1) / weight', () => {
    // a 10 × 4 / 1 = 40, b 30 × 1 / 1 = 30, c 20 × 2 / 2 = 20
    const peers = [peer('a', 10, 3), peer('b', 30, 0), peer('c', 20, 1, 2)];
    expect(leastTime().pick(peers, {})?.id).toBe('c');
  });

  it('without inflight, compares time / weight alone', () => {
    // inflight: a 40, b 30, c 40 → b.   without: a 10, b 30, c 20 → a.
    const peers = [peer('a', 10, 3), peer('b', 30, 0), peer('c', 20, 1)];
    expect(leastTime().pick(peers, {})?.id).toBe('b');
    expect(leastTime({ inflight: false }).pick(peers, {})?.id).toBe('a');
  });

  it("reads headerTimeMs for 'header' and responseTimeMs for 'lastByte'", () => {
    const peers = [peer('a', 50, 0, 1, { headerTimeMs: 5 }), peer('b', 20, 0, 1, { headerTimeMs: 10 })];
    expect(leastTime().pick(peers, {})?.id).toBe('a');
    expect(leastTime({ measure: 'header' }).pick(peers, {})?.id).toBe('a');
    expect(leastTime({ measure: 'lastByte' }).pick(peers, {})?.id).toBe('b');
    // A view without headerTimeMs is compared by responseTimeMs.
    expect(leastTime({ measure: 'header' }).pick([peer('a', 50), peer('b', 20)], {})?.id).toBe('b');
  });

  it('breaks score ties by active / weight, then by weighted round robin', () => {
    // No measurement yet: every score is 0, so it balances like least_conn.
    expect(leastTime().pick([peer('a', 0, 1), peer('b', 0, 0)], {})?.id).toBe('b');
    // Same score 20 (10 × 2 / 1 and 20 × 1 / 1): b has fewer active requests.
    expect(leastTime().pick([peer('a', 10, 1), peer('b', 20, 0)], {})?.id).toBe('b');
    const lt = leastTime();
    const peers = [peer('a', 0, 0, 5), peer('b', 0, 0, 1), peer('c', 0, 0, 1)];
    const seq = Array.from({ length: 7 }, () => lt.pick(peers, {})?.id);
    expect(seq).toEqual(['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  });

  it('scores time × (active + 1) / weight, or time / weight without inflight', () => {
    const p = peer('a', 12, 2, 3, { headerTimeMs: 6 });
    expect(leastTimeScore(p, 3, false, true)).toBe(12); // 12 × 3 / 3
    expect(leastTimeScore(p, 3, true, true)).toBe(6); // 6 × 3 / 3
    expect(leastTimeScore(p, 3, false, false)).toBe(4); // 12 / 3
    expect(leastTimeScore(p, 1.5, true, false)).toBe(4); // 6 / 1.5
  });

  it('takes turns among more tied peers than its first scratch list holds', () => {
    const lt = leastTime();
    const peers = Array.from({ length: 10 }, (_, i) => peer(`p${i}`, 0));
    const seq = Array.from({ length: 10 }, () => lt.pick(peers, {})?.id);
    expect(seq).toEqual(peers.map((p) => p.id));
  });

  it('counts any truthy available as available, as !!available', () => {
    const peers = [
      peer('a', 30, 0, 1, { available: 1 as unknown as boolean }),
      peer('b', 20, 0, 1, { available: 0 as unknown as boolean }),
    ];
    expect(leastTime().pick(peers, {})?.id).toBe('a');
  });

  it('divides by the ramped weight of a slow-starting peer', () => {
    // At 500 ms b's weight 2 counts as 1: 10 / 1 against a's 10 / 2.
    const peers = [peer('b', 10, 0, 2, { slowStartMs: 1000, upSince: 0 }), peer('a', 10, 0, 2)];
    expect(leastTime().pick(peers, { now: 500 })?.id).toBe('a');
    expect(leastTime().pick(peers, {})?.id).toBe('b');
  });

  it('skips unavailable and tried peers, and returns undefined when none is left', () => {
    const lt = leastTime();
    const peers = [peer('a', 1, 0, 1, { available: false }), peer('b', 30), peer('c', 20)];
    expect(lt.pick(peers, {})?.id).toBe('c');
    expect(lt.pick(peers, { tried: new Set(['c']) })?.id).toBe('b');
    expect(lt.pick(peers, { tried: new Set(['b', 'c']) })).toBeUndefined();
  });

  it('lowers the effective weight of a failed peer in the round among ties', () => {
    const lt = leastTime();
    const peers = [
      { ...peer('a', 0, 0, 4), maxFails: 2 },
      { ...peer('b', 0, 0, 4), maxFails: 2 },
    ];
    lt.failed?.(peers[0] as PeerView, peers);
    const seq = Array.from({ length: 4 }, () => lt.pick(peers, {})?.id);
    expect(seq).toEqual(['b', 'a', 'b', 'a']);
  });

  it('explains each score', () => {
    const lt = leastTime({ measure: 'lastByte' });
    const peers = [
      peer('a', 10, 3),
      peer('b', 12.5, 1, 2, { slowStartMs: 1000, upSince: 0 }),
      peer('c', 5, 0, 1, { available: false }),
    ];
    expect(lt.explain?.(peers, { now: 500 })).toEqual({
      strategy: 'least-time',
      chosen: peers[1],
      candidates: [
        {
          id: 'a',
          score: 40,
          reason: 'score 40 = last-byte time 10 ms × (3 active + 1) / weight 1; worse than b',
        },
        {
          id: 'b',
          score: 25,
          reason:
            'score 25 = last-byte time 12.5 ms × (1 active + 1) / weight 1 (slow start: 1 of 2); the lowest: chosen',
        },
        { id: 'c', skipped: 'unavailable', reason: 'skipped: not available now' },
      ],
    });
  });

  it('explains the round among ties and agrees with pick', () => {
    const lt = leastTime({ inflight: false });
    const peers = [peer('a', 10, 0, 2), peer('b', 5, 0, 1)];
    expect(lt.explain?.(peers, {})?.candidates.map((c) => c.reason)).toEqual([
      'score 5 = header time 10 ms / weight 2; tied for the lowest, round robin current weight 2, the highest: chosen',
      'score 5 = header time 5 ms / weight 1; tied for the lowest, round robin current weight 1, not higher than a',
    ]);
    for (let i = 0; i < 6; i++) {
      const told = lt.explain?.(peers, {});
      expect(told?.chosen).toBe(lt.pick(peers, {}));
    }
  });

  it('rejects unknown options when built', () => {
    expect(() => leastTime({ measure: 'first_byte' as 'header' })).toThrow(
      expect.objectContaining({
        code: 'SWY_ERR_INVALID_OPTION',
        message: `leastTime.measure: expected one of "header", "lastByte", got "first_byte"`,
      }),
    );
    expect(() => leastTime({ inflight: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({
        code: 'SWY_ERR_INVALID_OPTION',
        message: 'leastTime.inflight: expected a boolean, got "yes"',
      }),
    );
  });
});
