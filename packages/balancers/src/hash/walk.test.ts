import { describe, expect, it } from 'vitest';
import { roundRobin } from '../round-robin/index.js';
import type { Balancer, PeerView } from '../types.js';
import {
  explainFallback,
  FALLBACK,
  FirstSight,
  giveUp,
  lineSlot,
  pointsOn,
  walkWeighted,
  weightLine,
  weightSlot,
} from './walk.js';

const peers = (...weights: number[]): PeerView[] =>
  weights.map((weight, i) => ({ id: `p${i}`, weight, active: 0, responseTimeMs: 0, available: true }));

/** Hash steps that yield `hashes` in turn, whatever came before. */
const scripted = (...hashes: number[]) => ({ start: 0, next: (n: number) => hashes[n] as number });

describe('the weight line', () => {
  it('gives the last peer whatever is left of w, as nginx never looks past it', () => {
    const ps = peers(1, 2);
    expect([0, 1, 2, 3, 7].map((w) => weightSlot(ps, w))).toEqual([0, 1, 1, 1, 1]);
    expect(weightSlot(peers(5), 9)).toBe(0);
    const line = weightLine(ps);
    expect([0, 1, 2, 3, 7].map((w) => lineSlot(line, ps, w))).toEqual([0, 1, 1, 1, 1]);
  });

  it('keeps cumulative ends only for non-negative whole weights with an exact sum', () => {
    expect(weightLine(peers(1, 2, 3)).ends).toEqual(new Float64Array([1, 3, 6]));
    expect(weightLine(peers(1, 2, 3)).total).toBe(6);
    expect(weightLine(peers(0, 2)).ends).toEqual(new Float64Array([0, 2]));
    expect(weightLine(peers(2, -1, 2)).ends).toBeUndefined();
    expect(weightLine(peers(1.5, 1)).ends).toBeUndefined();
    expect(weightLine(peers(2 ** 52, 2 ** 52)).ends).toBeUndefined();
    expect(weightLine(peers(2 ** 52, 2 ** 52 - 1)).ends).toBeDefined();
  });

  it('walks a line with a negative weight as nginx subtracts, not by a binary search', () => {
    // The ends would be [2, 1, 3]: a binary search for w = 1 would land on p2, nginx on p0.
    const ps = peers(2, -1, 2);
    expect([0, 1, 2, 3].map((w) => lineSlot(weightLine(ps), ps, w))).toEqual([0, 0, 2, 2]);
  });
});

describe('the words of the walk', () => {
  it('notes the fallback to round robin only on the 21st try', () => {
    expect(giveUp(0)).toBe('');
    expect(giveUp(19)).toBe('');
    expect(giveUp(20)).toBe('; 21 tries failed, falling back to round robin');
  });

  it('counts points in the singular and the plural', () => {
    expect([0, 1, 2].map(pointsOn)).toEqual(['0 points on', '1 point on', '2 points on']);
  });
});

describe('walkWeighted', () => {
  it('falls back to round robin at once when the total weight is not positive', () => {
    const ps = peers(0, 0);
    const out: unknown[] = [];
    expect(walkWeighted(weightLine(ps), ps, scripted(0, 1), undefined, new FirstSight(), out as never)).toBe(
      FALLBACK,
    );
    expect(out).toEqual([]);
  });

  it('passes a tried peer free the first time, then counts it as a failed try', () => {
    const ps = peers(1, 1, 1);
    ps[2] = { ...(ps[2] as PeerView), available: false };
    const out: unknown[] = [];
    const i = walkWeighted(
      weightLine(ps),
      ps,
      scripted(0, 3, 2, 1),
      new Set(['p0']),
      new FirstSight(),
      out as never,
    );
    expect(i).toBe(1);
    expect(out).toEqual([
      {
        id: 'p0',
        score: 0,
        skipped: 'tried',
        reason: 'hash 0 % total weight 3 = 0: taken by an earlier try of this request, not counted',
      },
      { id: 'p0', score: 3, skipped: 'tried', reason: 'hash 3 % total weight 3 = 0: already tried' },
      { id: 'p2', score: 2, skipped: 'unavailable', reason: 'hash 2 % total weight 3 = 2: unavailable' },
      { id: 'p1', score: 1, reason: 'hash 1 % total weight 3 = 1' },
    ]);
  });

  it('gives up after 20 counted tries, the 21st noted', () => {
    const ps = peers(1, 1);
    const out: Array<{ reason: string }> = [];
    const steps = { start: 7, next: (_n: number, prev: number) => prev };
    const i = walkWeighted(weightLine(ps), ps, steps, new Set(['p0', 'p1']), new FirstSight(), out as never);
    expect(i).toBe(FALLBACK);
    expect(out).toHaveLength(22); // one free pass, then 21 counted tries
    expect(out[20]?.reason).toBe('hash 7 % total weight 2 = 1: already tried');
    expect(out[21]?.reason).toBe(
      'hash 7 % total weight 2 = 1: already tried; 21 tries failed, falling back to round robin',
    );
  });
});

describe('FirstSight', () => {
  it('forgets what it saw on reset, however many peers there are', () => {
    const seen = new FirstSight();
    seen.reset(2);
    expect([seen.first(1), seen.first(1), seen.first(0)]).toEqual([true, false, true]);
    seen.reset(2);
    expect(seen.first(1)).toBe(true);
    seen.reset(40);
    expect([seen.first(39), seen.first(39), seen.first(1)]).toEqual([true, false, true]);
    seen.reset(3);
    expect([seen.first(1), seen.first(2)]).toEqual([true, true]);
  });
});

describe('explainFallback', () => {
  it('says what round robin would choose, its reports after the walk’s', () => {
    const ps = peers(1, 1);
    const out = [{ id: 'x', reason: 'before' }];
    const told = explainFallback('hash', roundRobin(), ps, {}, out);
    expect(told.strategy).toBe('hash');
    expect(told.chosen).toBe(ps[0]);
    expect(told.candidates[0]).toEqual({ id: 'x', reason: 'before' });
    expect(told.candidates).toHaveLength(3);
  });

  it('chooses nothing it cannot know, for a round robin without explain', () => {
    const rr: Balancer = { pick: (ps) => ps[0] };
    const out = [{ id: 'x', reason: 'before' }];
    expect(explainFallback('ip-hash', rr, peers(1), {}, out)).toEqual({
      strategy: 'ip-hash',
      chosen: undefined,
      candidates: [{ id: 'x', reason: 'before' }],
    });
  });
});
