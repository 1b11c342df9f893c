import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { redisSessionStore } from '../src/persistence/redis-session-store/index.js';
import { stickyLearn } from '../src/persistence/sticky-learn/index.js';
import type { PeerView, RequestInfo, ResponseHead } from '../src/types.js';

const peers = [1, 2].map(
  (i): PeerView => ({ id: `10.0.0.${i}:80`, weight: 1, active: 0, responseTimeMs: 0, available: true }),
);
const req = (sid: string): RequestInfo => ({ method: 'GET', url: '/', headers: { cookie: `SID=${sid}` } });
const created = (sid: string): ResponseHead => ({
  statusCode: 200,
  getHeader: () => undefined,
  getHeaders: (n) => (n === 'set-cookie' ? [`SID=${sid}; Path=/`] : []),
  appendHeader: () => {},
});

describe('redisSessionStore against a real redis-server', () => {
  const url = inject('redisUrl');
  let client: ReturnType<typeof createClient>;
  const prefix = `test:${randomUUID()}:`;

  beforeAll(async () => {
    if (url === '') throw new Error(inject('redisProblem'));
    client = createClient({ url });
    await client.connect();
  });
  afterAll(async () => {
    if (client?.isOpen) {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(keys);
      client.destroy();
    }
  });

  it('stores a session with a millisecond TTL and refreshes it on each lookup', async () => {
    const store = redisSessionStore({ client, prefix });
    await store.set('s1', '10.0.0.2:80', 60_000);
    const ttl1 = await client.pTTL(`${prefix}s1`);
    expect(ttl1).toBeGreaterThan(50_000);
    expect(ttl1).toBeLessThanOrEqual(60_000);
    expect(await store.get('s1', 120_000)).toBe('10.0.0.2:80');
    expect(await client.pTTL(`${prefix}s1`)).toBeGreaterThan(110_000);
    expect(await store.get('missing', 1_000)).toBeUndefined();
  });

  it('shares learned sessions between two proxy instances', async () => {
    const a = stickyLearn({
      create: { cookie: 'SID' },
      lookup: { cookie: 'SID' },
      store: redisSessionStore({ client, prefix }),
    });
    const b = stickyLearn({
      create: { cookie: 'SID' },
      lookup: { cookie: 'SID' },
      store: redisSessionStore({ client, prefix }),
    });
    a.bind(req('none'), created('shared'), peers[1] as PeerView);
    // bind writes in the background; wait until the key is there
    for (let i = 0; i < 100 && (await client.exists(`${prefix}shared`)) === 0; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(await b.find(req('shared'), peers)).toBe(peers[1]);
  });

  it('falls back to the balancer when Redis is unreachable', async () => {
    const dead = createClient({ url, disableOfflineQueue: true });
    await dead.connect();
    dead.destroy();
    const errors: string[] = [];
    const s = stickyLearn({
      create: { cookie: 'SID' },
      lookup: { cookie: 'SID' },
      store: redisSessionStore({ client: dead, prefix }),
      onStoreError: (e) => errors.push(e.code),
    });
    expect(await s.find(req('x'), peers)).toBeUndefined();
    expect(errors).toEqual(['SWY_ERR_SESSION_STORE']);
  });
});
