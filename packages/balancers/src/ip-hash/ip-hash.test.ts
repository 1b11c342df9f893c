import { conformance } from '@switchyard/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PeerView } from '../types.js';
import { ipHash, ipHashBytes } from './index.js';

interface IpHashCase {
  name: string;
  servers: string[];
  mapping: { client: string; remoteAddrSeen: string; backend: number }[];
}

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

function bytes(ip: string | undefined): number[] {
  const out = new Uint8Array(16);
  return [...out.subarray(0, ipHashBytes(ip, out))];
}

/** nginx's ip_hash value for one try over `addr`, from 89. */
function ipHashOnce(addr: number[], start = 89): number {
  let h = start;
  for (const b of addr) h = (h * 113 + b) % 6271;
  return h;
}

describe('ipHash', () => {
  const file = conformance<{ cases: IpHashCase[] }>('iphash.json');

  it('has conformance cases plain, weighted and with a down peer', () => {
    expect(file.cases.map((c) => c.name)).toEqual(['ip-hash-3', 'ip-hash-3-weighted', 'ip-hash-3-down']);
  });

  it.each(file.cases.map((c) => [c.name, c] as const))(
    'maps every client as nginx 1.22 did: %s',
    (_name, c) => {
      const balancer = ipHash();
      const peers = peersOf(c.servers);
      const got = c.mapping.map((m) => port(balancer.pick(peers, { clientIp: m.remoteAddrSeen })));
      expect(got).toEqual(c.mapping.map((m) => m.backend));
    },
  );

  it('hashes the first three octets of IPv4 and all 16 bytes of IPv6', () => {
    expect(bytes('10.1.2.3')).toEqual([10, 1, 2]);
    expect(bytes('255.255.255.255')).toEqual([255, 255, 255]);
    expect(bytes('2001:db8::1')).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(bytes('::1')).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(bytes('::')).toEqual(Array(16).fill(0));
    expect(bytes('fe80::1:2%eth0')).toEqual([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]);
    expect(bytes('[2001:db8:0:0:1:0:0:1]')).toEqual([
      0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1,
    ]);
    expect(bytes('1:2:3:4:5:6:7:8')).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    expect(bytes('1::')).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(bytes('64:ff9b::192.0.2.33')).toEqual([
      0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 33,
    ]);
  });

  it('counts an IPv4-mapped IPv6 address as the IPv4 client', () => {
    expect(bytes('::ffff:127.0.1.9')).toEqual([127, 0, 1]);
    expect(bytes('::FFFF:7f00:109')).toEqual([127, 0, 1]);
    const peers = peersOf(file.cases[0]?.servers ?? []);
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(ipHash().pick(peers, { clientIp: `::ffff:${ip}` })).toBe(
          ipHash().pick(peers, { clientIp: ip }),
        );
      }),
      { seed: 4, numRuns: 200 },
    );
  });

  it("hashes anything that is not an address as nginx's pseudo address, three zero bytes", () => {
    for (const bad of [
      undefined,
      '',
      'garbage',
      '1.2.3',
      '1.2.3.256',
      '1.2.3.4.5',
      '1:2:3',
      '1::2::3',
      ':1',
      '1:',
      '12345::',
    ]) {
      expect(bytes(bad)).toEqual([0, 0, 0]);
    }
  });

  it('reads hex digits of either case and only an exact ::ffff: prefix as IPv4-mapped', () => {
    expect(bytes('a::F')).toEqual([0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f]);
    expect(bytes('A::f')).toEqual([0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0f]);
    // Bytes 10 and 11 must both be 0xff, and bytes 0 to 9 all zero.
    expect(bytes('::ff00:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 1, 2, 3, 4]);
    expect(bytes('::ff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3, 4]);
    expect(bytes('1::ffff:1.2.3.4')).toEqual([0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]);
    // An IPv4 tail right after six groups fills the last four bytes.
    expect(bytes('1:2:3:4:5:6:1.2.3.4')).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]);
  });

  it('hashes malformed IPv4 and IPv6 text as the pseudo address too', () => {
    for (const bad of [
      '1.2.3.a', // not a digit
      '1,2,3,4', // not a dot
      '1..2.3', // an empty octet
      'g::1', // not a hex digit
      'G::1',
      '[::1', // an unclosed bracket
      '::1:2:3:4:5:6:7:8', // "::" standing for no group at all
      '1:2:3:4::5:6:7:8',
      '::1:2:3:4:5:6:7:8:9', // more than 16 bytes
      '1::2:3:4:5:6:7:1.2.3.4',
      '1:::2', // an empty group
      '1-2::', // a group ended by neither ':' nor '.'
      '::1::2', // two "::"
      '1:2:3:4:5:6:7:8:', // a trailing ':'
    ]) {
      expect(bytes(bad), bad).toEqual([0, 0, 0]);
    }
  });

  it('sends one /24 to one peer', () => {
    const peers = local([9211, 9212, 9213, 9214, 9215]);
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 255 }), (ip, last) => {
        const sameNet = ip.replace(/\.\d+$/, `.${last}`);
        expect(ipHash().pick(peers, { clientIp: sameNet })).toBe(ipHash().pick(peers, { clientIp: ip }));
      }),
      { seed: 24, numRuns: 200 },
    );
  });

  it('maps an IPv6 client by the formula over its 16 bytes', () => {
    const peers = local([9211, 9212, 9213, 9214, 9215]);
    const addr = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const h = ipHashOnce(addr);
    expect(h).toBe(2601);
    expect(ipHash().pick(peers, { clientIp: '2001:db8::2' })?.id).toBe(`127.0.0.1:${9211 + (h % 5)}`);
    expect(ipHash().pick(peers, { clientIp: '2001:db8::2' })?.id).toBe('127.0.0.1:9212');
  });

  it('hashes the address again on from the last value to pass an unavailable or tried peer', () => {
    // 127.0.0.x hashes the bytes 127, 0, 0 from 89, then again from each result:
    // 4040, 5510, 4957 → slots (mod 3) 2, 2, 1.
    expect([ipHashOnce([127, 0, 0]), ipHashOnce([127, 0, 0], 4040), ipHashOnce([127, 0, 0], 5510)]).toEqual([
      4040, 5510, 4957,
    ]);
    const down = local([9211, 9212, 9213], [], [9213]);
    const ex = ipHash().explain?.(down, { clientIp: '127.0.0.1' });
    expect(ex?.candidates.map((c) => [c.id, c.score, c.skipped])).toEqual([
      ['127.0.0.1:9213', 4040, 'unavailable'],
      ['127.0.0.1:9213', 5510, 'unavailable'],
      ['127.0.0.1:9212', 4957, undefined],
    ]);
    expect(ex?.chosen?.id).toBe('127.0.0.1:9212');
    expect(ipHash().pick(down, { clientIp: '127.0.0.1' })?.id).toBe('127.0.0.1:9212');
    // A retry after 9213 failed: nginx goes on from 4040, so the first sight of 9213 is free.
    const tried = new Set(['127.0.0.1:9213']);
    const retry = ipHash().explain?.(local([9211, 9212, 9213]), { clientIp: '127.0.0.1', tried });
    expect(retry?.candidates.map((c) => c.reason)).toEqual([
      'hash 4040 % total weight 3 = 2: taken by an earlier try of this request, not counted',
      'hash 5510 % total weight 3 = 2: already tried',
      'hash 4957 % total weight 3 = 1',
    ]);
    expect(ipHash().pick(local([9211, 9212, 9213]), { clientIp: '127.0.0.1', tried })?.id).toBe(
      '127.0.0.1:9212',
    );
  });

  it('falls back to round robin after 20 failed rehashes', () => {
    const lopsided: PeerView[] = [
      { id: 'a:1', weight: 1000, active: 0, responseTimeMs: 0, available: false },
      { id: 'b:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
    ];
    const ex = ipHash().explain?.(lopsided, { clientIp: '10.0.0.1' });
    const hashed = ex?.candidates.slice(0, 21) ?? [];
    expect(hashed.map((c) => [c.id, c.skipped])).toEqual(Array(21).fill(['a:1', 'unavailable']));
    expect(hashed[20]?.reason).toMatch(/; 21 tries failed, falling back to round robin$/);
    expect(ex?.chosen?.id).toBe('b:1');
    expect(ipHash().pick(lopsided, { clientIp: '10.0.0.1' })?.id).toBe('b:1');
  });

  it('sends everything to a single peer', () => {
    expect(ipHash().pick(local([9211]), { clientIp: '10.0.0.1' })?.id).toBe('127.0.0.1:9211');
    expect(ipHash().pick([], { clientIp: '10.0.0.1' })).toBeUndefined();
    // nginx hands a single peer to round robin without hashing; explain says so.
    expect(ipHash().explain?.(local([9211]), { clientIp: '10.0.0.1' })).toEqual({
      strategy: 'ip-hash',
      chosen: expect.objectContaining({ id: '127.0.0.1:9211' }),
      candidates: [
        {
          id: '127.0.0.1:9211',
          score: 1,
          reason:
            'current weight 1 = 0 + effective weight 1; the highest, chosen, then lowered by the total 1',
        },
      ],
    });
  });

  it('names itself in explain(), also when round robin chooses after 20 rehashes', () => {
    const lopsided: PeerView[] = [
      { id: 'a:1', weight: 1000, active: 0, responseTimeMs: 0, available: false },
      { id: 'b:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
    ];
    expect(ipHash().explain?.(lopsided, { clientIp: '10.0.0.1' })?.strategy).toBe('ip-hash');
    expect(ipHash().explain?.(local([9211, 9212]), { clientIp: '10.0.0.1' })?.strategy).toBe('ip-hash');
  });

  it('feeds failures to its round-robin fallback', () => {
    // a takes every hash but is down, so round robin chooses between b and c, in turn.
    const peers: PeerView[] = [
      { id: 'a:1', weight: 1000, active: 0, responseTimeMs: 0, available: false },
      { id: 'b:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
      { id: 'c:1', weight: 1, active: 0, responseTimeMs: 0, available: true },
    ];
    expect(ipHash().pick(peers, { clientIp: '10.0.0.1' })?.id).toBe('b:1');
    const h = ipHash();
    // One failure (max_fails 1) takes b's effective weight to 0: c goes first.
    h.failed?.(peers[1] as PeerView, peers);
    expect(h.pick(peers, { clientIp: '10.0.0.1' })?.id).toBe('c:1');
  });
});
