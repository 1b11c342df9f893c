import { conformance } from '@switchyard/testkit';
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

  it('returns undefined when no peer is available', () => {
    const rr = roundRobin();
    const peers = [{ id: 'a:1', weight: 1, active: 0, responseTimeMs: 0, available: false }];
    expect(rr.pick(peers, {})).toBeUndefined();
  });
});
