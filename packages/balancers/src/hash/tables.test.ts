import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PeerView } from '../types.js';
import { hash } from './index.js';
import {
  buildKetamaRing,
  findPoint,
  type KetamaRing,
  ketamaRing,
  POINTS_PER_WEIGHT,
  ringFor,
  ringPoint,
  serverHashText,
} from './ketama.js';
import { lineSlot, totalWeight, weightLine, weightSlot } from './walk.js';

const view = (id: string, weight: number): PeerView => ({
  id,
  weight,
  active: 0,
  responseTimeMs: 0,
  available: true,
});

/**
 * The ring as nginx builds it, written plainly: each point the native CRC of the server
 * text and the previous point's 4 little-endian bytes, a comparator sort by hash (stable,
 * the earlier peer first), the first point of each hash kept.
 */
function referenceRing(peers: readonly PeerView[]): { hashes: number[]; owners: number[] } {
  const points: { hash: number; owner: number; at: number }[] = [];
  const firstById = new Map<string, number>();
  peers.forEach((p, i) => {
    if (!firstById.has(p.id)) firstById.set(p.id, i);
    const base = zlib.crc32(serverHashText(p.id));
    const prev = Buffer.alloc(4);
    const count = Number.isFinite(p.weight) && p.weight > 0 ? Math.floor(p.weight * POINTS_PER_WEIGHT) : 0;
    for (let j = 0; j < count; j++) {
      const h = zlib.crc32(prev, base);
      points.push({ hash: h, owner: firstById.get(p.id) as number, at: points.length });
      prev.writeUInt32LE(h, 0);
    }
  });
  points.sort((a, b) => a.hash - b.hash || a.at - b.at);
  const hashes: number[] = [];
  const owners: number[] = [];
  for (const p of points) {
    if (hashes.length > 0 && hashes[hashes.length - 1] === p.hash) continue;
    hashes.push(p.hash);
    owners.push(p.owner);
  }
  return { hashes, owners };
}

const ids = fc.oneof(
  fc.tuple(fc.nat(255), fc.integer({ min: 1, max: 65535 })).map(([a, port]) => `10.0.0.${a}:${port}`),
  fc.constantFrom('unix:/tmp/a.sock', '[::1]:80', 'backend.local', 'h:1'),
);
const weights = fc.oneof(fc.integer({ min: 0, max: 6 }), fc.constantFrom(0.5, 1.5, 2.25));

describe('ketama ring tables', () => {
  it('builds the same ring as the plain algorithm (CRC per point, comparator sort)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(ids, weights), { minLength: 1, maxLength: 12 }), (spec) => {
        const peers = spec.map(([id, weight]) => view(id, weight));
        const ring = buildKetamaRing(peers);
        const want = referenceRing(peers);
        expect([...ring.hashes]).toEqual(want.hashes);
        expect([...ring.owners]).toEqual(want.owners);
      }),
      { seed: 160, numRuns: 150 },
    );
  });

  it('finds the same point through its index as by a binary search of the whole ring', () => {
    const check = (ring: KetamaRing, h: number): void => {
      expect(ringPoint(ring, h)).toBe(findPoint(ring.hashes, h));
    };
    for (const n of [1, 2, 3, 40, 1000]) {
      const ring = buildKetamaRing(
        Array.from({ length: n }, (_, i) => view(`10.1.${i >> 8}.${i & 255}:80`, 1 + (i % 3))),
      );
      for (const h of [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]) check(ring, h);
      for (let k = 0; k < ring.hashes.length; k += Math.max(1, Math.floor(ring.hashes.length / 500))) {
        const point = ring.hashes[k] as number;
        check(ring, point);
        check(ring, Math.max(0, point - 1));
        check(ring, Math.min(0xffffffff, point + 1));
      }
      fc.assert(
        fc.property(fc.nat(), fc.nat(), (a, b) => {
          check(ring, ((a * 65536) ^ b) >>> 0);
        }),
        { seed: n, numRuns: 300 },
      );
    }
    const empty = buildKetamaRing([view('a:1', 0)]);
    expect(ringPoint(empty, 12345)).toBe(0);
  });

  it('shares one ring per array between ringFor and ketamaRing, and follows a rebuild by ketamaRing', () => {
    const peers = [view('127.0.0.1:9211', 1), view('127.0.0.1:9212', 1), view('127.0.0.1:9213', 1)];
    const h = hash({ consistent: true });
    const before = Array.from({ length: 200 }, (_, i) => h.pick(peers, { key: `/k/${i}` }));
    expect(ringFor(peers)).toBe(ketamaRing(peers));
    // Outside the contract: a weight changed in place. ketamaRing() checks and rebuilds…
    (peers[1] as { weight: number }).weight = 3;
    const rebuilt = ketamaRing(peers);
    expect(rebuilt.hashes.length).toBe(5 * POINTS_PER_WEIGHT);
    expect(ringFor(peers)).toBe(rebuilt);
    // …and a strategy that remembered the old ring looks it up again.
    const fresh = hash({ consistent: true });
    for (let i = 0; i < 200; i++) {
      expect(h.pick(peers, { key: `/k/${i}` })).toBe(fresh.pick(peers.slice(), { key: `/k/${i}` }));
    }
    expect(before.length).toBe(200);
  });
});

describe('weight lines', () => {
  it('lands on the peer nginx’s subtracting walk lands on, for every point of the line', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 40 }), (ws) => {
        const peers = ws.map((w, i) => view(`p${i}`, w));
        const line = weightLine(peers);
        expect(line.total).toBe(totalWeight(peers));
        expect(line.ends).toBeDefined();
        for (let w = 0; w < line.total; w++) expect(lineSlot(line, peers, w)).toBe(weightSlot(peers, w));
      }),
      { seed: 161, numRuns: 200 },
    );
  });

  it('walks the peers itself when a weight is not a whole number', () => {
    const peers = [view('a', 0.5), view('b', 1.5), view('c', 1)];
    const line = weightLine(peers);
    expect(line.ends).toBeUndefined();
    for (const w of [0, 0.25, 0.5, 1, 1.99, 2, 2.5])
      expect(lineSlot(line, peers, w)).toBe(weightSlot(peers, w));
  });

  it('is built once per array', () => {
    const peers = [view('a', 1), view('b', 2)];
    expect(weightLine(peers)).toBe(weightLine(peers));
    expect(weightLine(peers.slice())).not.toBe(weightLine(peers));
  });
});
