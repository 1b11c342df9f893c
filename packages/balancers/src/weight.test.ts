import { describe, expect, it } from 'vitest';
import type { PeerView } from './types.js';
import { SLOW_START_MIN_FRACTION, weightAt } from './weight.js';

const peer = (extra: Partial<PeerView> = {}): PeerView => ({
  id: 'a:80',
  weight: 4,
  active: 0,
  responseTimeMs: 0,
  available: true,
  ...extra,
});

describe('weightAt', () => {
  const ramping = peer({ slowStartMs: 1000, upSince: 10_000 });

  it('climbs linearly from 0 to the weight over slowStartMs', () => {
    expect([10_250, 10_500, 10_750, 10_999].map((now) => weightAt(ramping, now))).toEqual([1, 2, 3, 3.996]);
  });

  it('is the full weight once the ramp is over', () => {
    expect(weightAt(ramping, 11_000)).toBe(4);
    expect(weightAt(ramping, 99_000)).toBe(4);
  });

  it('never falls below 1 % of the weight, so a peer just back still gets some traffic', () => {
    expect(SLOW_START_MIN_FRACTION).toBe(0.01);
    expect(weightAt(ramping, 10_000)).toBe(0.04);
    expect(weightAt(ramping, 10_001)).toBe(0.04);
    expect(weightAt(ramping, 10_040)).toBe(0.16);
    // A clock behind upSince counts as "just came back".
    expect(weightAt(ramping, 9_000)).toBe(0.04);
  });

  it('does not ramp without a clock, a slow-start time or an upSince', () => {
    expect(weightAt(ramping, undefined)).toBe(4);
    expect(weightAt(peer({ slowStartMs: 0, upSince: 10_000 }), 10_500)).toBe(4);
    // Even with a clock behind upSince: no ramp at all, not the 1 % floor.
    expect(weightAt(peer({ slowStartMs: 0, upSince: 10_000 }), 9_000)).toBe(4);
    expect(weightAt(peer({ upSince: 10_000 }), 10_500)).toBe(4);
    expect(weightAt(peer({ slowStartMs: 1000 }), 10_500)).toBe(4);
  });
});
