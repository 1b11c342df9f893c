import { conformance } from '@switchyard/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../errors.js';
import { crc32 } from '../hash/crc32.js';
import { hash } from '../hash/index.js';
import { ringFor, ringPoint } from '../hash/ketama.js';
import { roundRobin } from '../round-robin/index.js';
import type { PeerView } from '../types.js';
import { boundedLoadHash, loadBound } from './index.js';

interface Loaded {
  id: string;
  weight: number;
  active: number;
  responseTimeMs: number;
  available: boolean;
}

function local(ports: number[], weights: number[] = []): Loaded[] {
  return ports.map((port, i) => ({
    id: `127.0.0.1:${port}`,
    weight: weights[i] ?? 1,
    active: 0,
    responseTimeMs: 0,
    available: true,
  }));
}

interface HashCase {
  name: string;
  directive: string;
  servers: string[];
  mapping: { uri: string; backend: number }[];
}

describe('boundedLoadHash', () => {
  it('rounds c × average load up, counting the new request', () => {
    expect(loadBound(0, 3, 1.25)).toBe(1);
    expect(loadBound(5, 3, 1.25)).toBe(3); // 6/3 × 1.25 = 2.5
    expect(loadBound(39, 4, 1.1)).toBe(11); // 10 × 1.1, not 11.000000000000002 → 12
    expect(loadBound(11, 3, 1)).toBe(4);
  });

  it('rejects a balance factor below 1 or not a number', () => {
    expect(() => boundedLoadHash({ balanceFactor: 0.9 })).toThrow(InvalidOptionError);
    expect(() => boundedLoadHash({ balanceFactor: Number.NaN })).toThrow(
      'balanceFactor: expected a finite number ≥ 1',
    );
    expect(() => boundedLoadHash({ balanceFactor: '2' as unknown as number })).toThrow(InvalidOptionError);
    expect(() => boundedLoadHash({ balanceFactor: 1 })).not.toThrow();
  });

  it("maps like nginx's hash … consistent while nothing is busy", () => {
    const file = conformance<{ cases: HashCase[] }>('hash.json');
    const cases = file.cases.filter((c) => / consistent;/.test(c.directive));
    expect(cases.length).toBe(3);
    for (const c of cases) {
      const peers = c.servers.map((line) => ({
        id: /server (\S+?)[\s;]/.exec(line)?.[1] ?? '',
        weight: Number(/\bweight=(\d+)/.exec(line)?.[1] ?? 1),
        active: 0,
        responseTimeMs: 0,
        available: true,
      }));
      const b = boundedLoadHash();
      expect(c.mapping.map((m) => Number(b.pick(peers, { key: m.uri })?.id.split(':')[1]))).toEqual(
        c.mapping.map((m) => m.backend),
      );
    }
  });

  it('walks past a peer at its bound to the next peer on the ring', () => {
    const peers = local([9211, 9212, 9213]);
    // "/item/3" lives on 9211; its next ring point belongs to 9213.
    expect(boundedLoadHash().pick(peers, { key: '/item/3' })?.id).toBe('127.0.0.1:9211');
    (peers[0] as Loaded).active = 3; // bound = ceil(4/3 × 1.25) = 2
    const b = boundedLoadHash();
    expect(b.pick(peers, { key: '/item/3' })?.id).toBe('127.0.0.1:9213');
    // The same place hash … consistent goes when the home peer cannot take requests.
    const down = peers.map((p, i) => (i === 0 ? { ...p, available: false } : p));
    expect(hash({ consistent: true }).pick(down, { key: '/item/3' })?.id).toBe('127.0.0.1:9213');
    expect(b.explain?.(peers, { key: '/item/3' })).toEqual({
      strategy: 'bounded-load-hash',
      chosen: peers[2],
      candidates: [
        {
          id: '127.0.0.1:9211',
          score: 1713039792,
          skipped: 'over-bound',
          reason: 'ring point 1713039792: 3 in flight, bound 2',
        },
        {
          id: '127.0.0.1:9213',
          score: 1729678844,
          reason: 'ring point 1729678844, 1 point on: 0 in flight < bound 2',
        },
      ],
    });
  });

  it('averages the load over the available peers only', () => {
    const peers = local([9211, 9212, 9213]);
    (peers[0] as Loaded).active = 2;
    (peers[1] as Loaded).active = 9;
    (peers[1] as Loaded).available = false;
    // bound = ceil((2 + 0 + 1) / 2 × 1.25) = 2: "/item/3" leaves 9211 for 9213.
    expect(boundedLoadHash().pick(peers, { key: '/item/3' })?.id).toBe('127.0.0.1:9213');
  });

  it('works the bound out again when the count of available peers or the factor changes', () => {
    // 9211, the home of "/item/3", has 1 in flight. Over 3 peers: ceil(2/3 × 1) = 1, so it
    // is passed over; with factor 2, ceil(2/3 × 2) = 2, it is not.
    const three = local([9211, 9212, 9213]);
    (three[0] as Loaded).active = 1;
    expect(boundedLoadHash({ balanceFactor: 1 }).pick(three, { key: '/item/3' })?.id).toBe('127.0.0.1:9213');
    expect(boundedLoadHash({ balanceFactor: 2 }).pick(three, { key: '/item/3' })?.id).toBe('127.0.0.1:9211');
    expect(boundedLoadHash({ balanceFactor: 1 }).pick(three, { key: '/item/3' })?.id).toBe('127.0.0.1:9213');
    // The same sum over one available peer: ceil(2 × 1) = 2, so 9211 takes it.
    const alone = three.map((p, i) => (i === 0 ? p : { ...p, available: false }));
    expect(boundedLoadHash({ balanceFactor: 1 }).pick(alone, { key: '/item/3' })?.id).toBe('127.0.0.1:9211');
  });

  it('explains a home taken at once, and peers walked past as tried or unavailable', () => {
    const peers = local([9211, 9212, 9213]);
    const b = boundedLoadHash();
    // No load: bound = ceil(1/3 × 1.25) = 1.
    expect(b.explain?.(peers, { key: '/item/3' })?.candidates).toEqual([
      {
        id: '127.0.0.1:9211',
        score: 1713039792,
        reason: 'ring point 1713039792 (first ≥ crc32(key)): 0 in flight < bound 1',
      },
    ]);
    expect(b.explain?.(peers, { key: '/item/3', tried: new Set(['127.0.0.1:9211']) })?.candidates).toEqual([
      {
        id: '127.0.0.1:9211',
        score: 1713039792,
        skipped: 'tried',
        reason: 'ring point 1713039792: already tried',
      },
      {
        id: '127.0.0.1:9213',
        score: 1729678844,
        reason: 'ring point 1729678844, 1 point on: 0 in flight < bound 1',
      },
    ]);
    const down = peers.map((p, i) => (i === 0 ? { ...p, available: false } : p));
    // Two available: bound = ceil(1/2 × 1.25) = 1.
    expect(b.explain?.(down, { key: '/item/3' })?.candidates).toEqual([
      {
        id: '127.0.0.1:9211',
        score: 1713039792,
        skipped: 'unavailable',
        reason: 'ring point 1713039792: unavailable',
      },
      {
        id: '127.0.0.1:9213',
        score: 1729678844,
        reason: 'ring point 1729678844, 1 point on: 0 in flight < bound 1',
      },
    ]);
  });

  it('keeps a key home while its peer is under the bound', () => {
    const peers = local([9211, 9212, 9213]);
    (peers[0] as Loaded).active = 2;
    (peers[1] as Loaded).active = 2;
    (peers[2] as Loaded).active = 1; // bound = ceil(6/3 × 1.25) = 3
    expect(boundedLoadHash().pick(peers, { key: '/item/3' })?.id).toBe('127.0.0.1:9211');
  });

  it('never gives a peer more than its bound', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.double({ min: 1, max: 3, noNaN: true }),
        fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 300 }),
        (n, balanceFactor, keys) => {
          const peers = local(Array.from({ length: n }, (_, i) => 8000 + i));
          const b = boundedLoadHash({ balanceFactor });
          for (const key of keys) {
            const sum = peers.reduce((s, p) => s + p.active, 0);
            const bound = Math.ceil(((sum + 1) / n) * balanceFactor - 1e-9);
            const p = b.pick(peers, { key: `/${key}` }) as Loaded | undefined;
            expect(p).toBeDefined();
            expect((p as Loaded).active).toBeLessThan(bound);
            (p as Loaded).active++;
            expect(Math.max(...peers.map((x) => x.active))).toBeLessThanOrEqual(bound);
          }
        },
      ),
      { seed: 2018, numRuns: 200 },
    );
  });

  it('skips unavailable and tried peers, and answers undefined when none is left', () => {
    const peers = local([9211, 9212, 9213]);
    const b = boundedLoadHash();
    expect(b.pick(peers, { key: '/item/3', tried: new Set(['127.0.0.1:9211']) })?.id).toBe('127.0.0.1:9213');
    const tried = new Set(peers.map((p) => p.id));
    expect(b.pick(peers, { key: '/item/3', tried })).toBeUndefined();
    const none = peers.map((p) => ({ ...p, available: false }));
    expect(b.pick(none, { key: '/item/3' })).toBeUndefined();
    expect(b.explain?.(none, { key: '/item/3' })?.chosen).toBeUndefined();
  });

  it('uses round robin for an empty key', () => {
    const peers = local([1, 2, 3], [5, 1, 1]);
    const b = boundedLoadHash();
    expect(Array.from({ length: 7 }, () => b.pick(peers, {})?.id.split(':')[1])).toEqual([
      '1',
      '1',
      '2',
      '1',
      '3',
      '1',
      '1',
    ]);
  });

  it('explains without changing anything', () => {
    const peers: PeerView[] = local([9211, 9212, 9213]);
    const b = boundedLoadHash();
    for (let i = 0; i < 20; i++) {
      const key = `/k/${i}`;
      const said = b.explain?.(peers, { key });
      expect(b.explain?.(peers, { key })).toEqual(said);
      expect(b.pick(peers, { key })).toBe(said?.chosen);
    }
  });

  it('picks what the walk with the bound worked out first picks, whatever the loads (bound only once a candidate is met)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.boolean(), fc.boolean()), {
          minLength: 40,
          maxLength: 40,
        }),
        fc.array(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 25 }),
        fc.constantFrom(1, 1.1, 1.25, 2),
        (n, loads, keys, balanceFactor) => {
          const peers: PeerView[] = local(Array.from({ length: n }, (_, i) => 7000 + i)).map((p, i) => {
            const [active, down, triedToo] = loads[i] as [number, boolean, boolean];
            return { ...p, active, available: !down || i % 7 === 0, triedToo };
          });
          const tried = new Set(
            peers.filter((p) => (p as PeerView & { triedToo: boolean }).triedToo).map((p) => p.id),
          );
          const b = boundedLoadHash({ balanceFactor });
          for (const key of keys) {
            for (const ctx of [{ key: `/${key}` }, { key: `/${key}`, tried }]) {
              expect(b.pick(peers, ctx)).toBe(b.explain?.(peers, ctx)?.chosen);
            }
          }
        },
      ),
      { seed: 1608, numRuns: 150 },
    );
  });

  it('answers undefined at once when no peer is available, even on a large ring', () => {
    const peers = local(Array.from({ length: 300 }, (_, i) => 6000 + i)).map((p) => ({
      ...p,
      available: false,
    }));
    const b = boundedLoadHash();
    for (let i = 0; i < 50; i++) expect(b.pick(peers, { key: `/k/${i}` })).toBeUndefined();
  });

  it('refuses an unknown option, and takes null options as the defaults', () => {
    expect(() => boundedLoadHash({ balanceFator: 2 } as never)).toThrow(InvalidOptionError);
    expect(() => boundedLoadHash({ balanceFator: 2 } as never)).toThrow(
      /^balanceFator: unknown option \(known: balanceFactor\)/,
    );
    const peers = local([9211, 9212, 9213]);
    (peers[0] as Loaded).active = 1; // bound with 1.25 = ceil(2/3 × 1.25) = 1: "/item/3" leaves home
    const fromNull = boundedLoadHash(null as never);
    expect(fromNull.pick(peers, { key: '/item/3' })?.id).toBe('127.0.0.1:9213');
    expect(fromNull.pick(peers, { key: '/item/3' })).toBe(boundedLoadHash().pick(peers, { key: '/item/3' }));
  });

  it('takes any truthy `available` as available and any falsy one as not, as isAvailable does', () => {
    // Only 9211, the home of "/item/3", is available (as 1), with 1 in flight: over the one
    // available peer, bound = ceil(2 × 1) = 2, so it takes the key.
    const peers = local([9211, 9212, 9213]).map((p, i) => ({
      ...p,
      active: i === 0 ? 1 : 0,
      available: (i === 0 ? 1 : i === 1 ? 0 : '') as unknown as boolean,
    }));
    const b = boundedLoadHash({ balanceFactor: 1 });
    expect(b.pick(peers, { key: '/item/3' })?.id).toBe('127.0.0.1:9211');
    expect(b.explain?.(peers, { key: '/item/3' })?.chosen).toBe(peers[0]);
    const none = peers.map((p) => ({ ...p, available: (p.available ? 0 : '') as unknown as boolean }));
    expect(b.pick(none, { key: '/item/3' })).toBeUndefined();
  });

  it('hands a failure to its round robin, which an empty key then goes round by', () => {
    const peers = local([1, 2, 3], [5, 1, 1]);
    const b = boundedLoadHash();
    const rr = roundRobin();
    const order = (x: { pick: typeof rr.pick }) =>
      Array.from({ length: 7 }, () => x.pick(peers, {})?.id.split(':')[1]);
    b.failed?.(peers[0] as Loaded, peers);
    rr.failed?.(peers[0] as Loaded, peers);
    const afterFailure = order(rr);
    // The failure lowered 9211's effective weight: not the unfailed order 1 1 2 1 3 1 1.
    expect(afterFailure).not.toEqual(['1', '1', '2', '1', '3', '1', '1']);
    expect(order(b)).toEqual(afterFailure);
  });

  it('explains an empty key as round robin does, under its own name, without moving the order on', () => {
    const peers = local([1, 2, 3], [5, 1, 1]);
    const b = boundedLoadHash();
    for (const ctx of [{}, { key: '' }]) {
      const said = b.explain?.(peers, ctx);
      expect(said).toEqual({ ...roundRobin().explain?.(peers, ctx), strategy: 'bounded-load-hash' });
      expect(said?.candidates.length).toBe(3);
    }
    expect(b.pick(peers, {})).toBe(b.explain?.(peers, {})?.chosen);
  });

  it('goes from a key past the last ring point round to the first point', () => {
    const peers = local([9211, 9212, 9213]);
    const ring = ringFor(peers);
    const last = ring.hashes[ring.hashes.length - 1] as number;
    let key = '';
    for (let i = 0; key === ''; i++) if (crc32(`/wrap/${i}`) > last) key = `/wrap/${i}`;
    const first = ring.hashes[0] as number;
    const home = peers[ring.owners[0] as number] as Loaded;
    const b = boundedLoadHash();
    expect(b.pick(peers, { key })).toBe(home);
    expect(b.explain?.(peers, { key })?.candidates).toEqual([
      {
        id: home.id,
        score: first,
        reason: `ring point ${first} (first ≥ crc32(key)): 0 in flight < bound 1`,
      },
    ]);
  });

  it('finds the one peer left even when the walk meets it past the look-ahead', () => {
    const peers = local(Array.from({ length: 300 }, (_, i) => 6000 + i));
    const ring = ringFor(peers);
    const size = ring.owners.length;
    const one = peers[150] as Loaded;
    const tried = new Set(peers.filter((p) => p !== one).map((p) => p.id));
    const down = peers.map((p) => (p === one ? p : { ...p, available: false }));
    const b = boundedLoadHash();
    let farthest = 0;
    for (let i = 0; i < 30; i++) {
      const key = `/k/${i}`;
      let steps = 0;
      for (let at = ringPoint(ring, crc32(key)); ring.owners[at % size] !== 150; at++) steps++;
      farthest = Math.max(farthest, steps);
      expect(b.pick(peers, { key, tried })).toBe(one);
      expect(b.pick(down, { key })).toBe(one);
    }
    // Some of those walks passed more than the 64 points of the look-ahead first.
    expect(farthest).toBeGreaterThan(64);
  });

  it('stops after the look-ahead when no peer is available, and explains the peers it did not reach', () => {
    const peers = local(Array.from({ length: 300 }, (_, i) => 6000 + i)).map((p) => ({
      ...p,
      available: false,
    }));
    const ring = ringFor(peers);
    const size = ring.owners.length;
    const b = boundedLoadHash();
    for (const key of ['/k/1', '/k/2', '/k/3']) {
      // The walk sees the point at or after crc32(key) and the 64 after it, then works out
      // the bound: 0, no peer available.
      const met = new Map<number, number>();
      let at = ringPoint(ring, crc32(key));
      for (let step = 0; step <= 64; step++, at++) {
        if (at >= size) at -= size;
        const j = ring.owners[at] as number;
        if (!met.has(j)) met.set(j, ring.hashes[at] as number);
      }
      expect(met.size).toBeGreaterThan(1);
      expect(met.size).toBeLessThan(peers.length);
      const said = b.explain?.(peers, { key });
      expect(said?.chosen).toBeUndefined();
      expect(said?.candidates).toEqual([
        ...[...met].map(([j, point]) => ({
          id: (peers[j] as Loaded).id,
          score: point,
          skipped: 'unavailable',
          reason: `ring point ${point}: unavailable`,
        })),
        ...peers
          .filter((_, j) => !met.has(j))
          .map((p) => ({ id: p.id, skipped: 'unavailable', reason: 'skipped: not available now' })),
      ]);
    }
  });

  it('reports each peer at most once however often the walk meets it, and every peer when none is chosen', () => {
    const peers = local([9211, 9212, 9213]);
    (peers[0] as Loaded).active = 3;
    (peers[1] as Loaded).active = 3; // bound = ceil(7/3 × 1.25) = 3: both over it
    const ids = peers.map((p) => p.id);
    const b = boundedLoadHash();
    for (const tried of [undefined, new Set([ids[2] as string]), new Set(ids.slice(1)), new Set(ids)]) {
      for (let i = 0; i < 100; i++) {
        const said = b.explain?.(peers, { key: `/k/${i}`, tried });
        const seen = said?.candidates.map((c) => c.id) ?? [];
        expect(new Set(seen).size).toBe(seen.length);
        if (said?.chosen === undefined) expect([...seen].sort()).toEqual(ids);
        else expect(seen.at(-1)).toBe(said.chosen.id);
        expect(b.pick(peers, { key: `/k/${i}`, tried })).toBe(said?.chosen);
      }
    }
  });

  it('lets a peer that shares its id with an unavailable one take the keys of that id', () => {
    // nginx matches every server with a point's text: the two 127.0.0.1:9211 share points.
    const [a, c] = local([9211, 9213]) as [Loaded, Loaded];
    const twin = { ...a };
    const peers = [{ ...a, available: false }, twin, c];
    const b = boundedLoadHash();
    const picks = Array.from({ length: 40 }, (_, i) => b.pick(peers, { key: `/k/${i}` }));
    expect(picks).toEqual(Array.from({ length: 40 }, (_, i) => b.pick([twin, c], { key: `/k/${i}` })));
    expect(picks).toContain(twin);
    expect(picks).toContain(c);
  });
});
