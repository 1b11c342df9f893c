import { describe, expect, it } from 'vitest';
import { hash } from '../hash/index.js';
import { ipHash } from '../ip-hash/index.js';
import { roundRobin } from '../round-robin/index.js';
import type { Balancer, PeerView } from '../types.js';
import { movedKeys } from './index.js';

function local(ports: number[]): PeerView[] {
  return ports.map((port) => ({
    id: `127.0.0.1:${port}`,
    weight: 1,
    active: 0,
    responseTimeMs: 0,
    available: true,
  }));
}

const keys = Array.from({ length: 1000 }, (_, i) => `/item/${i}`);
const three = local([9211, 9212, 9213]);
const four = local([9211, 9212, 9213, 9214]);

describe('movedKeys', () => {
  it('lists nothing when nothing changes', () => {
    const consistent = () => hash({ consistent: true });
    expect(
      movedKeys({ peers: three, balancer: consistent }, { peers: three, balancer: consistent }, keys),
    ).toEqual([]);
  });

  it('shows plain hashing remapping most keys when a peer is added, consistent hashing only its share', () => {
    const plain = movedKeys({ peers: three, balancer: hash }, { peers: four, balancer: hash }, keys);
    const consistent = () => hash({ consistent: true });
    const ring = movedKeys(
      { peers: three, balancer: consistent },
      { peers: four, balancer: consistent },
      keys,
    );
    expect(plain.length).toBe(764);
    expect(ring.length).toBe(245);
    expect(ring.every((m) => m.to === '127.0.0.1:9214')).toBe(true);
    expect(ring[0]).toEqual({ key: '/item/5', from: '127.0.0.1:9211', to: '127.0.0.1:9214' });
    expect(new Set(ring.map((m) => m.from))).toEqual(
      new Set(['127.0.0.1:9211', '127.0.0.1:9212', '127.0.0.1:9213']),
    );
  });

  it('moves only the keys of a removed peer under consistent hashing', () => {
    const consistent = () => hash({ consistent: true });
    const moved = movedKeys(
      { peers: four, balancer: consistent },
      { peers: three, balancer: consistent },
      keys,
    );
    expect(moved.length).toBe(245);
    expect(moved.every((m) => m.from === '127.0.0.1:9214' && m.to !== '127.0.0.1:9214')).toBe(true);
  });

  it('compares client addresses for ipHash through the context option', () => {
    const clients = Array.from({ length: 256 }, (_, i) => `10.0.${i}.1`);
    const moved = movedKeys({ peers: three, balancer: ipHash }, { peers: four, balancer: ipHash }, clients, {
      context: (ip) => ({ clientIp: ip }),
    });
    expect(moved.length).toBe(192);
    expect(moved[0]).toEqual({ key: '10.0.0.1', from: '127.0.0.1:9211', to: '127.0.0.1:9212' });
  });

  it('asks a fresh balancer for every key and leaves live balancers alone', () => {
    let made = 0;
    const counted = (): Balancer => {
      made++;
      return roundRobin();
    };
    // A shared round robin would move on with each key; fresh ones all start at the first peer.
    const moved = movedKeys({ peers: three, balancer: counted }, { peers: three, balancer: counted }, keys);
    expect(moved).toEqual([]);
    expect(made).toBe(2 * keys.length);
    const live = roundRobin();
    const before = live.explain?.(three, {});
    movedKeys({ peers: three, balancer: hash }, { peers: four, balancer: hash }, keys);
    expect(live.explain?.(three, {})).toEqual(before);
  });
});
