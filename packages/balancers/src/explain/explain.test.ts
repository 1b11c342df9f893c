import { describe, expect, it } from 'vitest';
import { leastConn } from '../least-conn/index.js';
import { roundRobin } from '../round-robin/index.js';
import type { Balancer, PeerView } from '../types.js';
import { explain } from './index.js';

const peers: PeerView[] = [
  { id: 'a', weight: 1, active: 2, responseTimeMs: 0, available: true },
  { id: 'b', weight: 1, active: 1, responseTimeMs: 0, available: true },
  { id: 'c', weight: 1, active: 0, responseTimeMs: 0, available: false },
];

describe('explain', () => {
  it("asks the strategy's own explain()", () => {
    expect(explain(leastConn(), peers, {})).toEqual(leastConn().explain?.(peers, {}));
    expect(explain(leastConn(), peers).chosen).toBe(peers[1]);
  });

  it('leaves a stateful strategy where it was', () => {
    const rr = roundRobin();
    expect(explain(rr, peers).chosen?.id).toBe('a');
    expect(explain(rr, peers).chosen?.id).toBe('a');
    expect(rr.pick(peers, {})?.id).toBe('a');
    expect(explain(rr, peers).chosen?.id).toBe('b');
  });

  it('runs nothing for a strategy without explain(), and says so', () => {
    let picks = 0;
    const custom: Balancer = {
      pick: (ps) => {
        picks++;
        return ps[0];
      },
    };
    expect(explain(custom, peers, { tried: new Set(['b']) })).toEqual({
      strategy: 'custom',
      chosen: undefined,
      candidates: [
        { id: 'a', reason: 'strategy has no explain()' },
        { id: 'b', skipped: 'tried', reason: 'skipped: this request already tried it' },
        { id: 'c', skipped: 'unavailable', reason: 'skipped: not available now' },
      ],
    });
    expect(picks).toBe(0);
  });
});
