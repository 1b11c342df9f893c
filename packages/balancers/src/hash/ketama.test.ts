import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PeerView } from '../types.js';
import { hash } from './index.js';
import {
  buildKetamaRing,
  ketamaRing,
  POINTS_PER_WEIGHT,
  ringFor,
  ringsVersion,
  serverHashText,
} from './ketama.js';

const view = (id: string, weight: number, available = true): PeerView => ({
  id,
  weight,
  active: 0,
  responseTimeMs: 0,
  available,
});

/**
 * The text `ngx_http_upstream_init_chash` hashes for a server, written after nginx's C:
 * `unix:` (any case) hashes the rest and no port; else, scanning back from the end, the
 * first `:` met before any non-digit splits host and port; else the whole name, no port.
 */
function nginxServerText(server: string): string {
  if (server.length >= 5 && server.slice(0, 5).toLowerCase() === 'unix:') return `${server.slice(5)}\0`;
  for (let j = 0; j < server.length; j++) {
    const c = server[server.length - j - 1] as string;
    if (c === ':') return `${server.slice(0, server.length - j - 1)}\0${server.slice(server.length - j)}`;
    if (c < '0' || c > '9') break;
  }
  return `${server}\0`;
}

interface Point {
  hash: number;
  owner: number;
}

/**
 * nginx's ring, written plainly: 160 points per unit of weight, each the native CRC of the
 * server text and the previous point's 4 little-endian bytes; sorted by hash, the earlier
 * peer first on equal hashes; the first point of each hash kept. The owner is the first
 * peer with the point's server text.
 */
function nginxRing(peers: readonly PeerView[]): Point[] {
  const points: (Point & { at: number })[] = [];
  peers.forEach((p) => {
    const owner = peers.findIndex((q) => q.id === p.id);
    const base = zlib.crc32(nginxServerText(p.id));
    const prev = Buffer.alloc(4);
    const count = Number.isFinite(p.weight) && p.weight > 0 ? Math.floor(p.weight * 160) : 0;
    for (let j = 0; j < count; j++) {
      const h = zlib.crc32(prev, base);
      points.push({ hash: h, owner, at: points.length });
      prev.writeUInt32LE(h, 0);
    }
  });
  points.sort((a, b) => a.hash - b.hash || a.at - b.at);
  const ring: Point[] = [];
  for (const { hash: h, owner } of points) {
    if (ring.length > 0 && (ring[ring.length - 1] as Point).hash === h) continue;
    ring.push({ hash: h, owner });
  }
  return ring;
}

/**
 * `ngx_http_upstream_get_chash_peer` for peers with distinct ids: the first point whose
 * hash is ≥ crc32(key) (the first point when there is none), then the next points while
 * the owner is unusable, 20 more at most; `undefined` where nginx falls back.
 */
function nginxChashPeer(ring: Point[], peers: readonly PeerView[], key: string, tried: ReadonlySet<string>) {
  const h = zlib.crc32(key);
  let at = ring.findIndex((p) => p.hash >= h);
  if (at < 0) at = 0;
  for (let tries = 0; tries <= 20; tries++, at++) {
    const p = peers[(ring[at % ring.length] as Point).owner] as PeerView;
    if (p.available && !tried.has(p.id)) return p;
  }
  return undefined;
}

describe('ketama server text', () => {
  it('splits host and port at a colon followed only by digits, 0 to 9 included', () => {
    for (const id of ['h:0', 'h:9', 'h:10', 'h:90', 'h:09', '10.0.0.1:8080']) {
      expect(serverHashText(id)).toBe(nginxServerText(id));
    }
    expect(serverHashText('h:10')).toBe('h\u000010');
    expect(serverHashText('h:09')).toBe('h\u000009');
  });

  it('hashes a name whose tail has a non-digit next to the digits whole, with no port', () => {
    // '/' and ';' sit just below '0' and just above '9'.
    for (const id of ['h:1/', 'h:/1', 'h:1;', 'h:;1', 'h:a', 'h:9a']) {
      expect(serverHashText(id)).toBe(`${id}\u0000`);
      expect(serverHashText(id)).toBe(nginxServerText(id));
    }
  });

  it('splits at a colon in the first character and after an empty port', () => {
    expect(serverHashText(':80')).toBe('\u000080');
    expect(serverHashText('host:')).toBe('host\u0000');
    expect(serverHashText(':')).toBe('\u0000');
  });

  it('hashes "unix:" with nothing after it as an empty path, and a shorter name whole', () => {
    expect(serverHashText('unix:')).toBe('\u0000');
    expect(serverHashText('Unix:x')).toBe('x\u0000');
    expect(serverHashText('unix')).toBe('unix\u0000');
    expect(serverHashText('uni:5')).toBe('uni\u00005');
    for (const id of ['unix:', 'unix', 'uni:5', 'xunix:/a', 'unix:/a:80']) {
      expect(serverHashText(id)).toBe(nginxServerText(id));
    }
  });
});

describe('ketama ring', () => {
  it('gives 160 points per unit of weight, rounded down, and none to a weight that is not positive and finite', () => {
    const points = (weight: number) => buildKetamaRing([view('a:1', weight)]).hashes.length;
    expect(points(1)).toBe(POINTS_PER_WEIGHT);
    expect(points(1.5)).toBe(240);
    expect(points(0.8)).toBe(128);
    expect(points(0.001)).toBe(0);
    for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(points(weight)).toBe(0);
      // Beside another peer, such a peer owns nothing.
      const ring = buildKetamaRing([view('a:1', weight), view('b:1', 1)]);
      expect(ring.hashes.length).toBe(160);
      expect([...ring.owners].every((o) => o === 1)).toBe(true);
    }
  });

  it('builds the ring nginx builds, with shared ids, unix sockets and zero weights', () => {
    const ids = fc.constantFrom('10.0.0.1:80', '10.0.0.2:80', 'unix:/a.sock', 'h', ':80', 'h:0', 'h:9');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(ids, fc.constantFrom(0, 0.5, 1, 2, 3)), { minLength: 1, maxLength: 8 }),
        (spec) => {
          const peers = spec.map(([id, weight]) => view(id, weight));
          const ring = buildKetamaRing(peers);
          const want = nginxRing(peers);
          expect([...ring.hashes]).toEqual(want.map((p) => p.hash));
          expect([...ring.owners]).toEqual(want.map((p) => p.owner));
        },
      ),
      { seed: 2022, numRuns: 120 },
    );
  });

  it('keeps the lowest point once when two peers with one id both make it', () => {
    const twins = [view('h:1', 1), view('h:1', 1)];
    const ring = buildKetamaRing(twins);
    expect(ring.hashes.length).toBe(160);
    const want = nginxRing(twins);
    expect([...ring.hashes]).toEqual(want.map((p) => p.hash));
    for (let i = 1; i < ring.hashes.length; i++) {
      expect(ring.hashes[i] as number).toBeGreaterThan(ring.hashes[i - 1] as number);
    }
  });

  it('indexes the ring with the first power of two ≥ its points, 2 to 65,536 buckets', () => {
    const buckets = (peers: PeerView[]) => {
      const ring = buildKetamaRing(peers);
      expect(ring.index.length).toBe(2 ** (32 - ring.shift) + 1);
      expect(ring.index[ring.index.length - 1]).toBe(ring.hashes.length);
      return 2 ** (32 - ring.shift);
    };
    expect(buckets([view('a:1', 0.8)])).toBe(128); // 128 points: exactly 2^7
    expect(buckets([view('a:1', 0.75)])).toBe(128); // 120 points
    expect(buckets([view('a:1', 1)])).toBe(256); // 160 points
    expect(buckets([view('a:1', 0.005)])).toBe(2); // no point: the least, 2 buckets
    expect(buckets([view('a:1', 410)])).toBe(65536); // 65,600 points: at most 2^16
    expect(buckets([view('a:1', 409.6)])).toBe(65536); // 65,536 points
  });

  it('sends every key to the peer of the first usable point ≥ crc32(key), as nginx', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 65535 }), { minLength: 2, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 6, maxLength: 6 }),
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 30 }),
        (ports, weights, up, keys) => {
          const peers = ports.map((p, i) => view(`10.0.0.1:${p}`, weights[i] as number, up[i] as boolean));
          const ring = nginxRing(peers);
          const h = hash({ consistent: true });
          for (const key of [...keys, 'k', '/item/3']) {
            const want = nginxChashPeer(ring, peers, key, new Set());
            if (want === undefined) continue; // round robin's business
            expect(h.pick(peers, { key })).toBe(want);
          }
        },
      ),
      { seed: 1722, numRuns: 60 },
    );
  });

  it('wraps a key past the last point to the first point', () => {
    const peers = [view('10.0.0.1:80', 1), view('10.0.0.2:80', 1)];
    const ring = nginxRing(peers);
    const last = (ring[ring.length - 1] as Point).hash;
    const past = Array.from({ length: 20_000 }, (_, i) => `/w/${i}`).filter((k) => zlib.crc32(k) > last);
    expect(past.length).toBeGreaterThan(0);
    const first = peers[(ring[0] as Point).owner];
    const h = hash({ consistent: true });
    for (const key of past) expect(h.pick(peers, { key })).toBe(first);
    // With the first point's peer down, the walk goes on from the second point.
    const down = [view('10.0.0.1:80', 1, peers[0] !== first), view('10.0.0.2:80', 1, peers[1] !== first)];
    const second = ring.slice(1).find((p) => p.owner !== (ring[0] as Point).owner) as Point;
    for (const key of past) expect(h.pick(down, { key })).toBe(down[second.owner]);
  });
});

describe('ketama ring cache', () => {
  it('rebuilds when a peer is removed from the array in place', () => {
    const peers = [view('a:1', 1), view('b:1', 1), view('c:1', 1)];
    expect(ketamaRing(peers).hashes.length).toBe(480);
    peers.pop();
    const ring = ketamaRing(peers);
    expect(ring.hashes.length).toBe(320);
    expect([...ring.hashes]).toEqual(nginxRing(peers).map((p) => p.hash));
  });

  it('rebuilds when an id changes in place, the weight staying', () => {
    const peers = [view('a:1', 1), view('b:1', 1)];
    const first = ketamaRing(peers);
    peers[1] = view('c:1', 1);
    const second = ketamaRing(peers);
    expect(second).not.toBe(first);
    expect([...second.hashes]).toEqual(nginxRing(peers).map((p) => p.hash));
    expect(second.ids).toEqual(['a:1', 'c:1']);
  });

  it('changes ringsVersion only when it replaces a ring, not when it builds one', () => {
    const peers = [view('a:1', 1), view('b:1', 1)];
    const before = ringsVersion();
    ketamaRing(peers);
    ringFor([view('x:1', 1)]);
    ketamaRing(peers);
    expect(ringsVersion()).toBe(before);
    (peers[0] as { weight: number }).weight = 2;
    ketamaRing(peers);
    expect(ringsVersion()).not.toBe(before);
    const after = ringsVersion();
    ketamaRing(peers);
    expect(ringsVersion()).toBe(after);
  });

  it('makes a strategy drop the ring it remembered when ketamaRing replaces it', () => {
    const peers = [view('a:1', 1), view('b:1', 1), view('c:1', 1)];
    const h = hash({ consistent: true });
    const keys = Array.from({ length: 300 }, (_, i) => `/k/${i}`);
    for (const key of keys) h.pick(peers, { key });
    (peers[0] as { weight: number }).weight = 5;
    ketamaRing(peers);
    const ring = nginxRing(peers);
    for (const key of keys) {
      expect(h.pick(peers, { key })).toBe(nginxChashPeer(ring, peers, key, new Set()));
    }
  });
});
