import * as zlib from 'node:zlib';
import { conformance } from '@switchyard/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../errors.js';
import { movedKeys } from '../moved-keys/index.js';
import { roundRobin } from '../round-robin/index.js';
import type { PeerView } from '../types.js';
import { crc32 } from './crc32.js';
import { hash } from './index.js';
import { buildKetamaRing, findPoint, ketamaRing, serverHashText } from './ketama.js';

interface HashCase {
  name: string;
  directive: string;
  servers: string[];
  mapping: { uri: string; backend: number }[];
}

/** Peers as nginx read them from the case's `server` lines. */
function peersOf(servers: string[]): PeerView[] {
  return servers.map((line) => ({
    id: /server (\S+?)[\s;]/.exec(line)?.[1] ?? '',
    weight: Number(/\bweight=(\d+)/.exec(line)?.[1] ?? 1),
    active: 0,
    responseTimeMs: 0,
    available: !/\bdown\b/.test(line),
  }));
}

function local(ports: number[], weights: number[] = [], down: number[] = []): PeerView[] {
  return ports.map((port, i) => ({
    id: `127.0.0.1:${port}`,
    weight: weights[i] ?? 1,
    active: 0,
    responseTimeMs: 0,
    available: !down.includes(port),
  }));
}

const port = (p: PeerView | undefined) => Number(p?.id.split(':')[1]);

describe('hash', () => {
  const file = conformance<{ cases: HashCase[] }>('hash.json');

  it('has conformance cases for plain and consistent hashing, weighted and not', () => {
    expect(file.cases.map((c) => c.name).sort()).toEqual([
      'hash-consistent-3',
      'hash-consistent-3-weighted',
      'hash-consistent-5',
      'hash-plain-3',
      'hash-plain-3-weighted',
      'hash-plain-5',
    ]);
  });

  it.each(file.cases.map((c) => [c.name, c] as const))('maps every URI as nginx 1.22 did: %s', (_name, c) => {
    const balancer = hash({ consistent: / consistent;/.test(c.directive) });
    const peers = peersOf(c.servers);
    const got = c.mapping.map((m) => port(balancer.pick(peers, { key: m.uri })));
    expect(got).toEqual(c.mapping.map((m) => m.backend));
  });

  it('rejects a consistent option that is not a boolean', () => {
    expect(() => hash({ consistent: 'yes' as unknown as boolean })).toThrow(InvalidOptionError);
    expect(() => hash({ consistent: 1 as unknown as boolean })).toThrow(
      'consistent: expected a boolean, got 1',
    );
  });

  it('refuses an unknown option, naming the known one', () => {
    expect(() => hash({ consistant: true } as unknown as { consistent: boolean })).toThrow(
      'consistant: unknown option (known: consistent)',
    );
    expect(() => hash({ consistent: true, extra: 1 } as unknown as { consistent: boolean })).toThrow(
      InvalidOptionError,
    );
  });

  it('takes null options as the defaults: a plain hash', () => {
    const peers = local([9211, 9212, 9213]);
    const fromNull = hash(null as never);
    for (const key of ['/a', '/b', '/c', '/d']) {
      expect(fromNull.pick(peers, { key })).toBe(hash().pick(peers, { key }));
      expect(fromNull.explain?.(peers, { key })?.strategy).toBe('hash');
    }
  });

  describe('plain', () => {
    const peers = local([9211, 9212, 9213]);

    it('takes (crc32(key) >> 16) & 0x7fff modulo the total weight', () => {
      // crc32("/item/1") >> 16 & 0x7fff = 2053; 2053 % 3 = 1 → the second peer.
      expect((crc32('/item/1') >>> 16) & 0x7fff).toBe(2053);
      expect(hash().pick(peers, { key: '/item/1' })?.id).toBe('127.0.0.1:9212');
    });

    it('rehashes past an unavailable peer with the try number before the key', () => {
      const down = local([9211, 9212, 9213], [], [9212]);
      // Second try: 2053 + ((crc32("1/item/1") >> 16) & 0x7fff) = 2053 + 14636 = 16689; % 3 = 0.
      expect((crc32('1/item/1') >>> 16) & 0x7fff).toBe(14636);
      expect(hash().pick(down, { key: '/item/1' })?.id).toBe('127.0.0.1:9211');
      // "/item/2" lands on 9213 three times (4364, +8229, +11946: all ≡ 2 mod 3), then 9212.
      const down3 = local([9211, 9212, 9213], [], [9213]);
      const ex = hash().explain?.(down3, { key: '/item/2' });
      expect(ex?.candidates.map((c) => [c.id, c.score, c.skipped])).toEqual([
        ['127.0.0.1:9213', 4364, 'unavailable'],
        ['127.0.0.1:9213', 12593, 'unavailable'],
        ['127.0.0.1:9213', 24539, 'unavailable'],
        ['127.0.0.1:9212', 24539 + ((crc32('3/item/2') >>> 16) & 0x7fff), undefined],
      ]);
      expect(ex?.chosen?.id).toBe('127.0.0.1:9212');
      expect(hash().pick(down3, { key: '/item/2' })?.id).toBe('127.0.0.1:9212');
    });

    it('prefixes every rehash with its decimal counter, past 63 too', () => {
      // 200 peers, all tried: each one met for the first time is passed without counting a
      // try, so the walk rehashes far more than 20 times before it gives up.
      const many = local(Array.from({ length: 200 }, (_, i) => 10_000 + i));
      const tried = new Set(many.map((p) => p.id));
      const ex = hash().explain?.(many, { key: '/many', tried });
      // The hashed candidates; round robin's walk follows them.
      const scores = (ex?.candidates ?? []).filter((c) => c.reason?.startsWith('hash ')).map((c) => c.score);
      expect(scores.length).toBeGreaterThan(70);
      let sum = 0;
      const want = scores.map((_, n) => {
        sum += (zlib.crc32(n === 0 ? '/many' : `${n}/many`) >>> 16) & 0x7fff;
        return sum;
      });
      expect(scores).toEqual(want);
    });

    it("goes on from the tried peer's place on a retry, as nginx keeps the request's hash state", () => {
      const tried = new Set(['127.0.0.1:9212']);
      // The first try took 9212 at 2053; the retry continues with 16689 → 9211.
      expect(hash().pick(peers, { key: '/item/1', tried })?.id).toBe('127.0.0.1:9211');
      const ex = hash().explain?.(peers, { key: '/item/1', tried });
      expect(ex?.candidates.map((c) => [c.id, c.score, c.skipped])).toEqual([
        ['127.0.0.1:9212', 2053, 'tried'],
        ['127.0.0.1:9211', 16689, undefined],
      ]);
      expect(ex?.candidates[0]?.reason).toBe(
        'hash 2053 % total weight 3 = 1: taken by an earlier try of this request, not counted',
      );
    });

    it('keeps every other key in place when a peer goes down (its weight still counts)', () => {
      const c = file.cases.find((x) => x.name === 'hash-plain-5') as HashCase;
      const down = peersOf(c.servers).map((p) => (p.id.endsWith(':9213') ? { ...p, available: false } : p));
      const h = hash();
      for (const m of c.mapping) {
        const got = port(h.pick(down, { key: m.uri }));
        if (m.backend === 9213) expect(got).not.toBe(9213);
        else expect(got).toBe(m.backend);
      }
    });

    it('falls back to round robin after 20 failed rehashes', () => {
      const lopsided: PeerView[] = [
        { id: 'a:1', weight: 1000, active: 0, responseTimeMs: 0, available: false },
        { id: 'b:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
      ];
      const ex = hash().explain?.(lopsided, { key: '/k/0' });
      const hashed = ex?.candidates.slice(0, 21) ?? [];
      expect(hashed.map((c) => [c.id, c.skipped])).toEqual(Array(21).fill(['a:1', 'unavailable']));
      expect(hashed[20]?.reason).toMatch(/; 21 tries failed, falling back to round robin$/);
      expect(ex?.chosen?.id).toBe('b:1');
      expect(hash().pick(lopsided, { key: '/k/0' })?.id).toBe('b:1');
    });

    it('uses round robin for an empty key, as nginx does', () => {
      const weighted = local([1, 2, 3], [5, 1, 1]);
      const h = hash();
      const got = Array.from({ length: 7 }, () => port(h.pick(weighted, { key: '' })));
      expect(got).toEqual([1, 1, 2, 1, 3, 1, 1]);
      const h2 = hash();
      expect(Array.from({ length: 7 }, () => port(h2.pick(weighted, {})))).toEqual([1, 1, 2, 1, 3, 1, 1]);
    });

    it('sends everything to a single peer, and nothing when it is down or tried', () => {
      const one = local([9211]);
      expect(hash().pick(one, { key: '/a' })?.id).toBe('127.0.0.1:9211');
      expect(hash().pick(local([9211], [], [9211]), { key: '/a' })).toBeUndefined();
      expect(hash().pick(one, { key: '/a', tried: new Set(['127.0.0.1:9211']) })).toBeUndefined();
      expect(hash().pick([], { key: '/a' })).toBeUndefined();
    });

    it('is deterministic: fresh balancers and repeated picks agree', () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 2, maxLength: 12 }),
          fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 12, maxLength: 12 }),
          fc.array(fc.string(), { minLength: 1, maxLength: 20 }),
          (ports, weights, keys) => {
            const peers = local(ports, weights);
            const a = hash();
            const b = hash();
            for (const key of keys) {
              const first = a.pick(peers, { key: `k${key}` });
              expect(a.pick(peers, { key: `k${key}` })).toBe(first);
              expect(b.pick(peers, { key: `k${key}` })).toBe(first);
              expect(a.explain?.(peers, { key: `k${key}` }).chosen).toBe(first);
            }
          },
        ),
        { seed: 20221019, numRuns: 200 },
      );
    });
  });

  describe('consistent', () => {
    const peers = local([9211, 9212, 9213]);

    it('hashes "HOST \\0 PORT", split at the last colon followed only by digits', () => {
      expect(serverHashText('127.0.0.1:9211')).toBe('127.0.0.1\u00009211');
      expect(serverHashText('[::1]:8080')).toBe('[::1]\u00008080');
      expect(serverHashText('backend.local')).toBe('backend.local\u0000');
      expect(serverHashText('host:8a')).toBe('host:8a\u0000');
      expect(serverHashText('unix:/run/app.sock')).toBe('/run/app.sock\u0000');
      expect(serverHashText('UNIX:/run/app.sock')).toBe('/run/app.sock\u0000');
    });

    it('builds 160 points per unit of weight, each crc32 over the previous point as 4 little-endian bytes', () => {
      const ring = buildKetamaRing(peers);
      expect(ring.hashes.length).toBe(480);
      expect(buildKetamaRing(local([9211, 9212, 9213], [2, 1, 3])).hashes.length).toBe(960);
      for (let i = 1; i < ring.hashes.length; i++) {
        expect(ring.hashes[i] as number).toBeGreaterThan(ring.hashes[i - 1] as number);
      }
      const base = crc32('127.0.0.1\u00009211');
      const p0 = crc32(new Uint8Array(4), base);
      const p1 = crc32(new Uint8Array([p0 & 0xff, (p0 >>> 8) & 0xff, (p0 >>> 16) & 0xff, p0 >>> 24]), base);
      for (const point of [p0, p1]) {
        const at = findPoint(ring.hashes, point);
        expect(ring.hashes[at]).toBe(point);
        expect(ring.owners[at]).toBe(0);
      }
    });

    it('keeps one point per hash, the earlier peer’s, when two peers share an id', () => {
      const twin: PeerView[] = [
        { id: 'h:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
        { id: 'h:1', weight: 2, active: 0, responseTimeMs: 0, available: true },
      ];
      const ring = buildKetamaRing(twin);
      // The second peer's first 160 points repeat the first's; its last 160 are its own.
      expect(ring.hashes.length).toBe(320);
      expect([...ring.owners].every((o) => o === 0)).toBe(true);
      expect([...ring.sameId]).toEqual([1, -1]);
      expect(ring.repeats).toBe(true);
      expect(buildKetamaRing(local([9211, 9212])).repeats).toBe(false);
    });

    it('finds the first point ≥ the hash, or the end of the ring', () => {
      const hashes = new Uint32Array([10, 20, 30]);
      expect([0, 10, 11, 20, 30, 31].map((h) => findPoint(hashes, h))).toEqual([0, 0, 1, 1, 2, 3]);
    });

    it('builds the ring once per peers array, and again only when a weight changes in place', () => {
      const mutable = local([9211, 9212, 9213]).map((p) => ({ ...p }));
      const first = ketamaRing(mutable);
      const h = hash({ consistent: true });
      for (let i = 0; i < 50; i++) h.pick(mutable, { key: `/k/${i}` });
      expect(ketamaRing(mutable)).toBe(first);
      (mutable[1] as { weight: number }).weight = 2;
      const second = ketamaRing(mutable);
      expect(second).not.toBe(first);
      expect(second.hashes.length).toBe(640);
      expect(ketamaRing(local([9211, 9212, 9213]))).not.toBe(first);
    });

    it('walks on to the next point when the peer is unavailable or tried', () => {
      // crc32("/item/3") = 1712031919 → point 1713039792 (9211); next point 1729678844 (9213).
      const down = local([9211, 9212, 9213], [], [9211]);
      const h = hash({ consistent: true });
      expect(h.pick(peers, { key: '/item/3' })?.id).toBe('127.0.0.1:9211');
      expect(h.pick(down, { key: '/item/3' })?.id).toBe('127.0.0.1:9213');
      expect(h.pick(peers, { key: '/item/3', tried: new Set(['127.0.0.1:9211']) })?.id).toBe(
        '127.0.0.1:9213',
      );
      const ex = h.explain?.(down, { key: '/item/3' });
      expect(ex?.candidates).toEqual([
        {
          id: '127.0.0.1:9211',
          score: 1713039792,
          skipped: 'unavailable',
          reason: 'ring point 1713039792: unavailable',
        },
        { id: '127.0.0.1:9213', score: 1729678844, reason: 'ring point 1729678844, 1 point on' },
      ]);
    });

    it('moves only the keys of a peer that goes down', () => {
      const c = file.cases.find((x) => x.name === 'hash-consistent-5') as HashCase;
      const down = peersOf(c.servers).map((p) => (p.id.endsWith(':9214') ? { ...p, available: false } : p));
      const h = hash({ consistent: true });
      for (const m of c.mapping) {
        const got = port(h.pick(down, { key: m.uri }));
        if (m.backend === 9214) expect(got).not.toBe(9214);
        else expect(got).toBe(m.backend);
      }
    });

    it('falls back to round robin after 20 more points', () => {
      const lopsided: PeerView[] = [
        { id: 'a:1', weight: 1000, active: 0, responseTimeMs: 0, available: false },
        { id: 'b:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
      ];
      const h = hash({ consistent: true });
      const ex = h.explain?.(lopsided, { key: '/k/0' });
      const walked = ex?.candidates.slice(0, 21) ?? [];
      expect(walked.map((c) => [c.id, c.skipped])).toEqual(Array(21).fill(['a:1', 'unavailable']));
      expect(walked[20]?.reason).toMatch(/; 21 tries failed, falling back to round robin$/);
      expect(ex?.chosen?.id).toBe('b:1');
      expect(h.pick(lopsided, { key: '/k/0' })?.id).toBe('b:1');
    });

    it('shares a point among peers with the same id by smooth weighting, and explain leaves that alone', () => {
      const twins: PeerView[] = [
        { id: 'h:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
        { id: 'h:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
      ];
      const h = hash({ consistent: true });
      const seen: PeerView[] = [];
      for (let i = 0; i < 4; i++) {
        const said = h.explain?.(twins, { key: '/x' }).chosen;
        expect(h.explain?.(twins, { key: '/x' }).chosen).toBe(said);
        const got = h.pick(twins, { key: '/x' }) as PeerView;
        expect(got).toBe(said);
        seen.push(got);
      }
      expect(seen).toEqual([twins[0], twins[1], twins[0], twins[1]]);
      expect(seen[0]).toBe(twins[0]);
      expect(seen[1]).toBe(twins[1]);
    });

    it('explains the first ring point, a tried peer’s point and the points walked past', () => {
      const h = hash({ consistent: true });
      expect(h.explain?.(peers, { key: '/item/3' }).candidates).toEqual([
        { id: '127.0.0.1:9211', score: 1713039792, reason: 'first ring point ≥ crc32(key): 1713039792' },
      ]);
      expect(h.explain?.(peers, { key: '/item/3', tried: new Set(['127.0.0.1:9211']) }).candidates).toEqual([
        {
          id: '127.0.0.1:9211',
          score: 1713039792,
          skipped: 'tried',
          reason: 'ring point 1713039792: already tried',
        },
        { id: '127.0.0.1:9213', score: 1729678844, reason: 'ring point 1729678844, 1 point on' },
      ]);
      // 9211 and 9213 both out: the walk goes on to 9212's first point after them.
      const ring = buildKetamaRing(peers);
      const from = findPoint(ring.hashes, crc32('/item/3'));
      let at = from;
      while (ring.owners[at % ring.hashes.length] !== 1) at++;
      const point = ring.hashes[at % ring.hashes.length];
      const ex = h.explain?.(local([9211, 9212, 9213], [], [9213]), {
        key: '/item/3',
        tried: new Set(['127.0.0.1:9211']),
      });
      expect(ex?.chosen?.id).toBe('127.0.0.1:9212');
      expect(ex?.candidates.at(-1)).toEqual({
        id: '127.0.0.1:9212',
        score: point,
        reason: `ring point ${point}, ${at - from} points on`,
      });
      expect(at - from).toBeGreaterThan(1);
    });

    it('says when a tried peer’s point ends the walk and round robin takes over', () => {
      const lopsided: PeerView[] = [
        { id: 'a:1', weight: 1000, active: 0, responseTimeMs: 0, available: true },
        { id: 'b:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
      ];
      const ex = hash({ consistent: true }).explain?.(lopsided, { key: '/k/0', tried: new Set(['a:1']) });
      const walked = ex?.candidates.slice(0, 21) ?? [];
      expect(walked.map((c) => [c.id, c.skipped])).toEqual(Array(21).fill(['a:1', 'tried']));
      expect(walked[0]?.reason).toMatch(/^ring point \d+: already tried$/);
      expect(walked[20]?.reason).toMatch(
        /^ring point \d+: already tried; 21 tries failed, falling back to round robin$/,
      );
      expect(ex?.chosen?.id).toBe('b:1');
    });

    it('shares a point among same-id peers of unequal weight as nginx’s smooth weighted round robin', () => {
      const twins: PeerView[] = [
        { id: 'h:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
        { id: 'h:1', weight: 2, active: 0, responseTimeMs: 0, available: true },
        { id: 'h:1', weight: 3, active: 0, responseTimeMs: 0, available: true },
      ];
      // ngx_http_upstream_get_chash_peer over the peers with the point's server text:
      // current += weight for each usable one, the highest (the first on a tie) wins, and
      // it gives back the total.
      const current = [0, 0, 0];
      const swrr = (): PeerView => {
        let best = -1;
        let total = 0;
        twins.forEach((p, j) => {
          if (!p.available) return;
          current[j] = (current[j] as number) + p.weight;
          total += p.weight;
          if (best < 0 || (current[j] as number) > (current[best] as number)) best = j;
        });
        current[best] = (current[best] as number) - total;
        return twins[best] as PeerView;
      };
      const h = hash({ consistent: true });
      for (let i = 0; i < 12; i++) {
        const said = h.explain?.(twins, { key: '/x' }).chosen;
        const want = swrr();
        expect(said).toBe(want);
        expect(h.pick(twins, { key: '/x' })).toBe(want);
      }
      // A peer that is down meanwhile gains nothing, and comes back as nginx's does.
      (twins[2] as { available: boolean }).available = false;
      for (let i = 0; i < 5; i++) expect(h.pick(twins, { key: '/x' })).toBe(swrr());
      (twins[2] as { available: boolean }).available = true;
      for (let i = 0; i < 12; i++) expect(h.pick(twins, { key: '/x' })).toBe(swrr());
    });

    it('keeps a same-id peer whose weighted score fell to 0 when its twin went down, as nginx does', () => {
      const x1 = { id: 'x:1', weight: 1, active: 0, responseTimeMs: 0, available: true };
      const x2 = { id: 'x:1', weight: 1, active: 0, responseTimeMs: 0, available: true };
      const y = { id: 'y:1', weight: 1, active: 0, responseTimeMs: 0, available: true };
      const peers: PeerView[] = [x1, x2, y];
      const h = hash({ consistent: true });
      const keys = Array.from({ length: 50 }, (_, i) => `/k${i}`);
      const key = keys.find((k) => h.explain?.(peers, { key: k }).chosen === x1) as string;
      // Scores 1 and 1: the first wins and gives back the total (x1 -1, x2 +1).
      expect(h.pick(peers, { key })).toBe(x1);
      x2.available = false;
      // x1 alone scores -1 + 1 = 0, still the best of its point: the walk stays there.
      expect(h.pick(peers, { key })).toBe(x1);
    });

    it('moves about 1/N of the keys, all to the new peer, when one of N peers is added', () => {
      const keys = Array.from({ length: 10_000 }, (_, i) => `/object/${i}`);
      const consistent = () => hash({ consistent: true });
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.integer({ min: 1024, max: 65535 }), { minLength: 11, maxLength: 11 }),
          (ports) => {
            const ten = local(ports.slice(0, 10));
            const eleven = local(ports);
            const added = `127.0.0.1:${ports[10]}`;
            const moved = movedKeys(
              { peers: ten, balancer: consistent },
              { peers: eleven, balancer: consistent },
              keys,
            );
            const fraction = moved.length / keys.length;
            expect(fraction).toBeGreaterThanOrEqual(0.5 / 11);
            expect(fraction).toBeLessThanOrEqual(1.6 / 11);
            expect(moved.every((m) => m.to === added)).toBe(true);
          },
        ),
        { seed: 1608, numRuns: 8 },
      );
    });
  });

  describe.each([
    ['hash', false],
    ['hash-consistent', true],
  ] as const)('%s, either way', (strategy, consistent) => {
    const make = () => hash({ consistent });

    it('explains an empty key, a missing key or a single peer as round robin’s walk, under its own name', () => {
      const weighted = local([1, 2, 3], [5, 1, 1]);
      for (const [peers, ctx] of [
        [weighted, { key: '' }],
        [weighted, {}],
        [local([9211]), { key: '/a' }],
        [local([9211], [], [9211]), { key: '/a' }],
      ] as const) {
        const rr = roundRobin().explain?.(peers, ctx);
        const ex = make().explain?.(peers, ctx);
        expect(ex).toEqual({ strategy, chosen: rr?.chosen, candidates: rr?.candidates });
      }
    });

    it('round-robins an empty or missing key over the weights, as round robin alone does', () => {
      const weighted = local([1, 2, 3], [5, 1, 1]);
      const rr = roundRobin();
      const want = Array.from({ length: 14 }, () => rr.pick(weighted, {}));
      const h = make();
      expect(Array.from({ length: 7 }, () => h.pick(weighted, { key: '' }))).toEqual(want.slice(0, 7));
      expect(Array.from({ length: 7 }, () => h.pick(weighted, {}))).toEqual(want.slice(7));
    });

    it('hashes with two peers: the same key keeps its peer, and explain says why', () => {
      const two = local([9211, 9212]);
      const h = make();
      for (let i = 0; i < 20; i++) {
        const key = `/two/${i}`;
        const first = h.pick(two, { key });
        expect(h.pick(two, { key })).toBe(first);
        expect(h.pick(two, { key })).toBe(first);
        const ex = h.explain?.(two, { key });
        expect(ex?.strategy).toBe(strategy);
        expect(ex?.chosen).toBe(first);
        expect(ex?.candidates).toHaveLength(1);
        expect(ex?.candidates[0]?.reason).toMatch(
          consistent ? /^first ring point ≥ crc32\(key\): \d+$/ : /^hash \d+ %/,
        );
      }
    });

    it('feeds failures to the round-robin fallback, as round robin’s own failed()', () => {
      const weighted = local([1, 2, 3], [5, 1, 1]);
      const h = make();
      const rr = roundRobin();
      h.failed?.(weighted[0] as PeerView, weighted);
      rr.failed?.(weighted[0] as PeerView, weighted);
      const want = Array.from({ length: 10 }, () => rr.pick(weighted, {}));
      // The failure counts: round robin without it picks otherwise.
      const plain = roundRobin();
      expect(Array.from({ length: 10 }, () => plain.pick(weighted, {}))).not.toEqual(want);
      expect(Array.from({ length: 10 }, () => h.pick(weighted, { key: '' }))).toEqual(want);
    });

    it('chooses in explain what pick chooses, for any peers, keys and tried peers', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 3 }), fc.boolean()), {
            minLength: 0,
            maxLength: 6,
          }),
          fc.option(fc.string({ maxLength: 6 }), { nil: undefined }),
          fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 3 }),
          (spec, key, triedPorts) => {
            const peers = spec.map(([p, weight, available]) => ({
              id: `10.0.0.1:${p}`,
              weight,
              active: 0,
              responseTimeMs: 0,
              available,
            }));
            const tried = new Set(triedPorts.map((p) => `10.0.0.1:${p}`));
            const h = make();
            for (let i = 0; i < 3; i++) {
              const ex = h.explain?.(peers, { key, tried });
              expect(ex?.strategy).toBe(strategy);
              expect(h.pick(peers, { key, tried })).toBe(ex?.chosen);
            }
          },
        ),
        { seed: 4242, numRuns: 300 },
      );
    });
  });
});
