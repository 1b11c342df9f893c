import { describe, expect, it } from 'vitest';
import { leastConn } from '../least-conn/index.js';
import { leastTime } from '../least-time/index.js';
import { random } from '../random/index.js';
import { roundRobin } from '../round-robin/index.js';
import type { Balancer } from '../types.js';
import { simulate } from './index.js';
import { mulberry32 } from './prng.js';

describe('mulberry32', () => {
  it('gives the reference sequence for a seed', () => {
    const r = mulberry32(1);
    expect(r()).toBe(0.6270739405881613);
    const a = mulberry32(99);
    const b = mulberry32(99);
    expect(Array.from({ length: 5 }, a)).toEqual(Array.from({ length: 5 }, b));
  });
});

describe('simulate', () => {
  it('runs round robin at a fixed interval and counts what stays in flight', () => {
    const result = simulate({
      balancer: roundRobin(),
      peers: [{ id: 'a', weight: 5 }, { id: 'b' }, { id: 'c' }],
      requests: { count: 7, intervalMs: 10 },
      latencyMs: 25,
    });
    // a at 0, 10, 30, 50, 60: each overlaps the one before it only.
    expect(result).toEqual({
      decisions: ['a', 'a', 'b', 'a', 'c', 'a', 'a'],
      counts: { a: 5, b: 1, c: 1 },
      maxInflight: { a: 2, b: 1, c: 1 },
      load: {
        a: { share: 5 / 7, busyMs: 125, meanInflight: 125 / 85 },
        b: { share: 1 / 7, busyMs: 25, meanInflight: 25 / 85 },
        c: { share: 1 / 7, busyMs: 25, meanInflight: 25 / 85 },
      },
      durationMs: 85,
    });
  });

  it('sends a burst at t = 0 by least_conn in proportion to the weights', () => {
    const result = simulate({
      balancer: leastConn(),
      peers: [{ id: 'a', weight: 2 }, { id: 'b' }],
      requests: 6,
      latencyMs: { a: 30, b: 10 },
    });
    // 0/2 ~ 0/1 → a (round robin 2,1); b; a; 2/2 ~ 1/1 → b (round robin); a; a.
    expect(result.decisions).toEqual(['a', 'b', 'a', 'b', 'a', 'a']);
    expect(result.maxInflight).toEqual({ a: 4, b: 2 });
    expect(result.durationMs).toBe(30);
  });

  it('frees a peer when its requests complete', () => {
    const result = simulate({
      balancer: leastConn(),
      peers: [{ id: 'a' }, { id: 'b' }],
      requests: { count: 6, intervalMs: 10 },
      latencyMs: { a: 10, b: 25 },
    });
    // a's requests end as the next arrives, b's take 25 ms. At 0, 10, 40 and 50 both are
    // idle and take turns by round robin (a, b, a, b); at 20 and 30 b is still busy → a.
    expect(result.decisions).toEqual(['a', 'b', 'a', 'a', 'a', 'b']);
    expect(result.maxInflight).toEqual({ a: 1, b: 1 });
  });

  it('keeps a failed peer out for its window, then slow-starts it', () => {
    const run = (slowStartMs: number) =>
      simulate({
        balancer: roundRobin(),
        peers: [{ id: 'a' }, { id: 'b', slowStartMs }],
        requests: { count: 10, intervalMs: 10 },
        latencyMs: 1,
        failures: [{ id: 'b', fromMs: 0, toMs: 50 }],
      }).decisions;
    // b is back at 50 and ramps 0.01, 0.1, 0.2, 0.3, 0.4: it first wins at 90.
    expect(run(100)).toEqual(['a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'b']);
    expect(run(0)).toEqual(['a', 'a', 'a', 'a', 'a', 'a', 'b', 'a', 'b', 'a']);
  });

  it('records null when no peer can take a request', () => {
    const result = simulate({
      balancer: roundRobin(),
      peers: [{ id: 'a' }],
      requests: { count: 4, intervalMs: 10 },
      latencyMs: 5,
      failures: [{ id: 'a', fromMs: 10, toMs: 30 }],
    });
    expect(result.decisions).toEqual(['a', null, null, 'a']);
    expect(result.counts).toEqual({ a: 2 });
  });

  it('gives the seeded strategy and latency the same numbers for the same seed', () => {
    const options = () => ({
      balancer: random(),
      peers: [{ id: 'a' }, { id: 'b', weight: 2 }, { id: 'c' }],
      requests: 12,
      latencyMs: 5,
      seed: 11,
    });
    const first = simulate(options());
    expect(first.decisions).toEqual(['b', 'b', 'b', 'b', 'c', 'b', 'a', 'b', 'b', 'b', 'b', 'c']);
    expect(first.counts).toEqual({ a: 1, b: 9, c: 2 });
    expect(first.maxInflight).toEqual({ a: 1, b: 9, c: 2 });
    expect(simulate(options())).toEqual(first);
    expect(simulate({ ...options(), seed: 12 }).decisions).not.toEqual(first.decisions);
  });

  it('runs random two least_conn deterministically', () => {
    const result = simulate({
      balancer: random({ two: 'leastConn' }),
      peers: [{ id: 'a' }, { id: 'b' }, { id: 'c' }],
      requests: { count: 12, intervalMs: 5 },
      latencyMs: 20,
      seed: 3,
    });
    expect(result.decisions).toEqual(['a', 'b', 'c', 'a', 'b', 'c', 'c', 'a', 'a', 'b', 'c', 'c']);
    expect(result.maxInflight).toEqual({ a: 2, b: 2, c: 2 });
  });

  it('feeds completed latencies to least_time, and an unmeasured peer draws traffic until measured', () => {
    const result = simulate({
      balancer: leastTime({ measure: 'lastByte' }),
      peers: [{ id: 'fast' }, { id: 'slow' }],
      requests: { count: 16, intervalMs: 10 },
      latencyMs: (id, _i, rnd) => (id === 'slow' ? 60 : 10 + Math.floor(rnd() * 20)),
      seed: 5,
    });
    // slow scores 0 until its first response, at 70 ms; from then on fast wins.
    expect(result.decisions).toEqual([
      'fast',
      'slow',
      'slow',
      'slow',
      'slow',
      'slow',
      'slow',
      'fast',
      'fast',
      'fast',
      'fast',
      'fast',
      'fast',
      'fast',
      'fast',
      'fast',
    ]);
    expect(result.maxInflight).toEqual({ fast: 3, slow: 6 });
    expect(result.load.fast).toEqual({ share: 0.625, busyMs: 168, meanInflight: 0.96 });
    expect(result.durationMs).toBe(175);
  });

  it('calls a latency function with the peer, the request index and a seeded random', () => {
    const seen: [string, number, number][] = [];
    simulate({
      balancer: roundRobin(),
      peers: [{ id: 'a' }, { id: 'b' }],
      requests: 3,
      latencyMs: (id, i, rnd) => {
        seen.push([id, i, rnd()]);
        return 1;
      },
      seed: 1,
    });
    const rnd = mulberry32(1 ^ 0x5bd1e995);
    expect(seen).toEqual([
      ['a', 0, rnd()],
      ['b', 1, rnd()],
      ['a', 2, rnd()],
    ]);
  });

  it('handles no requests', () => {
    expect(simulate({ balancer: roundRobin(), peers: [{ id: 'a' }], requests: 0, latencyMs: 1 })).toEqual({
      decisions: [],
      counts: { a: 0 },
      maxInflight: { a: 0 },
      load: { a: { share: 0, busyMs: 0, meanInflight: 0 } },
      durationMs: 0,
    });
  });

  it('rejects bad options, naming them', () => {
    const base = { balancer: roundRobin(), peers: [{ id: 'a' }], requests: 1, latencyMs: 1 };
    const bad = (over: object, message: string) =>
      expect(() => simulate({ ...base, ...over })).toThrow(
        expect.objectContaining({ code: 'SWY_ERR_INVALID_OPTION', message }),
      );
    bad({ requests: -1 }, 'simulate.requests: expected an integer >= 0, got -1');
    bad(
      { requests: { count: 2, intervalMs: -5 } },
      'simulate.requests.intervalMs: expected a finite number >= 0, got -5',
    );
    bad({ peers: [] }, 'simulate.peers: expected a non-empty array, got []');
    bad(
      { peers: [{ id: 'a' }, { id: 'a' }] },
      'simulate.peers[1].id: expected an id not used before, got "a"',
    );
    bad({ peers: [{ id: 'a', weight: 0 }] }, 'simulate.peers[0].weight: expected a positive number, got 0');
    bad({ latencyMs: { b: 1 } }, 'simulate.latencyMs.a: expected a finite number >= 0, got undefined');
    bad(
      { failures: [{ id: 'x', fromMs: 0, toMs: 1 }] },
      'simulate.failures[0].id: expected the id of one of the peers, got "x"',
    );
    bad({ seed: 0.5 }, 'simulate.seed: expected an integer, got 0.5');
    const stranger: Balancer = {
      pick: () => ({ id: 'z', weight: 1, active: 0, responseTimeMs: 0, available: true }),
    };
    bad(
      { balancer: stranger },
      'simulate.balancer: expected a strategy that picks one of the given peers, got "z"',
    );
  });
});
