import { describe, expect, it } from 'vitest';
import { isAvailable, LastTable } from './tables.js';
import type { PeerView } from './types.js';

const with_ = (available: unknown): PeerView =>
  ({ id: 'a', weight: 1, active: 0, responseTimeMs: 0, available }) as unknown as PeerView;

describe('isAvailable', () => {
  it('is !!peer.available for any value', () => {
    for (const v of [true, false, undefined, null, 0, 1, -0, Number.NaN, '', 'yes', {}, [], 1n, 0n]) {
      expect(isAvailable(with_(v))).toBe(!!v);
    }
  });
});

describe('LastTable', () => {
  it('looks a table up once per array while the same array keeps coming, again when the version moves', () => {
    const calls: (readonly PeerView[])[] = [];
    let version = 0;
    const t = new LastTable(
      (peers) => {
        calls.push(peers);
        return { n: peers.length };
      },
      () => version,
    );
    const a: PeerView[] = [];
    const b: PeerView[] = [];
    const first = t.get(a);
    expect(t.get(a)).toBe(first);
    expect(calls).toEqual([a]);
    t.get(b);
    t.get(a);
    expect(calls).toEqual([a, b, a]);
    version++;
    t.get(a);
    expect(calls).toEqual([a, b, a, a]);
  });
});
