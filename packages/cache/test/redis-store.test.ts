import { randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { type Listening, manualClock, waitFor } from '@switchyard/testkit';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { type CacheOptions, createCache } from '../src/cache/index.js';
import type { CacheStoreError } from '../src/errors.js';
import { redisStore } from '../src/redis-store/index.js';
import type { CacheEntry } from '../src/types.js';
import { type Client, client, serve } from './helpers.js';

type RedisClient = ReturnType<typeof createClient>;

/** A TCP relay to the test redis-server that can refuse and cut connections: Redis "going away". */
interface Relay {
  url: string;
  /** Refuses new connections and cuts the open ones. */
  down(): void;
  /** Accepts connections again. */
  up(): void;
  /** Holds Redis's replies back, connections open: a Redis that stopped answering. */
  stall(): void;
  /** Lets the held replies through. */
  flow(): void;
  close(): Promise<void>;
}

async function relay(target: URL): Promise<Relay> {
  const pairs = new Set<[Socket, Socket]>();
  let refusing = false;
  let stalled = false;
  const held: [Socket, Buffer][] = [];
  // No Nagle on either side: small replies held back by it would look like a slow Redis.
  const server: Server = createServer({ noDelay: true }, (inbound) => {
    if (refusing) {
      inbound.destroy();
      return;
    }
    const outbound = connect({ port: Number(target.port), host: target.hostname, noDelay: true });
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    const drop = () => {
      inbound.destroy();
      outbound.destroy();
      pairs.delete(pair);
    };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
    inbound.pipe(outbound);
    outbound.on('data', (chunk: Buffer) => {
      if (stalled) held.push([inbound, chunk]);
      else inbound.write(chunk);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `redis://127.0.0.1:${port}`,
    down() {
      refusing = true;
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      pairs.clear();
    },
    up() {
      refusing = false;
    },
    stall() {
      stalled = true;
    },
    flow() {
      stalled = false;
      for (const [socket, chunk] of held.splice(0)) if (!socket.destroyed) socket.write(chunk);
    },
    close: () =>
      new Promise((r) => {
        for (const [a, b] of pairs) {
          a.destroy();
          b.destroy();
        }
        server.close(() => r());
      }),
  };
}

const entry = (body: string, tags: string[] = []): CacheEntry => ({
  status: 200,
  headers: ['content-type', 'text/plain'],
  body: Buffer.from(body),
  storedAt: 1_000,
  expiresAt: 61_000,
  updatingMs: 0,
  errorMs: 0,
  etag: undefined,
  lastModified: undefined,
  vary: undefined,
  variant: undefined,
  tags,
});

describe('redisStore against a real redis-server', () => {
  const url = inject('redisUrl');
  const prefix = `test:${randomUUID()}:`;
  let redis: RedisClient;
  let servers: Listening[] = [];
  let clients: Client[] = [];

  beforeAll(async () => {
    if (url === '') throw new Error(inject('redisProblem'));
    redis = createClient({ url });
    await redis.connect();
  });

  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all(clients.map((c) => c.close()));
    servers = [];
    clients = [];
  });

  afterAll(async () => {
    if (redis?.isOpen) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(keys);
      redis.destroy();
    }
  });

  /** A cache around a counting handler, on a loopback server. */
  async function site(options: CacheOptions, body = (n: number) => `page ${n}`) {
    const clock = manualClock(Date.UTC(2030, 0, 1));
    const cache = createCache({ now: clock, valid: { 200: '1m' }, ...options });
    let calls = 0;
    const server = await serve(
      cache.handler((req, res) => {
        calls++;
        if (req.url?.startsWith('/tagged')) res.setHeader('surrogate-key', 'news');
        res.end(body(calls));
      }),
    );
    const c = client();
    servers.push(server);
    clients.push(c);
    return { cache, clock, server, calls: () => calls, get: (path: string) => c.get(`${server.url}${path}`) };
  }

  it('stores an entry with its binary body and a millisecond TTL that each read restarts', async () => {
    const store = redisStore({ client: redis, prefix, inactiveMs: 60_000 });
    const e = { ...entry(''), body: Buffer.from([0, 255, 10, 13]) };
    await store.set('/bin', e);
    expect(await redis.pTTL(`${prefix}e:/bin`)).toBeGreaterThan(59_000);
    await redis.pExpire(`${prefix}e:/bin`, 1_000);
    expect(await store.get('/bin')).toEqual(e);
    expect(await redis.pTTL(`${prefix}e:/bin`)).toBeGreaterThan(59_000);
    expect(await store.get('/none')).toBeUndefined();
    expect(await store.delete('/bin')).toBe(true);
    expect(await store.delete('/bin')).toBe(false);
  });

  it('deletes by prefix, taking glob characters literally', async () => {
    const store = redisStore({ client: redis, prefix });
    for (const k of ['/p*/1', '/p*/2', '/px/3', '/q/1']) await store.set(k, entry(k));
    expect(await store.deletePrefix('/p*/')).toBe(2);
    expect(await store.get('/px/3')).toBeDefined();
    expect(await store.deletePrefix('/p')).toBe(1);
    expect(await store.get('/q/1')).toBeDefined();
  });

  it('deletes by tag, with the tag set living as long as its entries may', async () => {
    const store = redisStore({ client: redis, prefix, inactiveMs: 10_000 });
    await store.set('/t/1', entry('1', ['red', 'blue']));
    await store.set('/t/2', entry('2', ['red']));
    expect(await redis.pTTL(`${prefix}t:red`)).toBeGreaterThan(69_000);
    expect(await store.deleteTag('red')).toBe(2);
    expect(await store.get('/t/1')).toBeUndefined();
    expect(await store.deleteTag('red')).toBe(0);
    expect(await store.deleteTag('blue')).toBe(0);
  });

  it('is shared by two cache instances: one stores, the other hits', async () => {
    const a = await site({ store: redisStore({ client: redis, prefix }), key: '$request_uri' });
    const b = await site({ store: redisStore({ client: redis, prefix }), key: '$request_uri' });
    expect((await a.get('/shared')).cache).toBe('MISS');
    const hit = await b.get('/shared');
    expect([hit.cache, hit.body]).toEqual(['HIT', 'page 1']);
    expect([a.calls(), b.calls()]).toEqual([1, 0]);
  });

  it('purges by key, prefix and tag through the cache', async () => {
    const s = await site({ store: redisStore({ client: redis, prefix }), key: '$request_uri' });
    for (const p of ['/k', '/dir/1', '/dir/2', '/tagged/1', '/tagged/2']) await s.get(p);
    expect(await s.cache.purge('/k')).toBe(1);
    expect(await s.cache.purge('/dir/*')).toBe(2);
    expect(await s.cache.purgeTag('news')).toBe(2);
    const again = [];
    for (const p of ['/k', '/dir/1', '/tagged/2']) again.push((await s.get(p)).cache);
    expect(again).toEqual(['MISS', 'MISS', 'MISS']);
  });

  it('goes upstream (MISS), never 5xx, when the client is gone', async () => {
    const dead = createClient({ url, disableOfflineQueue: true });
    await dead.connect();
    dead.destroy();
    const errors: string[] = [];
    const s = await site({
      store: redisStore({ client: dead, prefix }),
      onStoreError: (e) => errors.push(e.code),
    });
    const r = await s.get('/gone');
    const r2 = await s.get('/gone');
    expect([r.status, r.cache, r2.status, r2.cache, s.calls()]).toEqual([200, 'MISS', 200, 'MISS', 2]);
    expect(errors.length).toBeGreaterThan(0);
    expect(new Set(errors)).toEqual(new Set(['SWY_ERR_CACHE_STORE']));
  });

  it('goes upstream when Redis is too slow, within timeoutMs', async () => {
    const r = await relay(new URL(url));
    const slow = createClient({ url: r.url });
    slow.on('error', () => {});
    await slow.connect();
    try {
      const errors: CacheStoreError[] = [];
      const store = redisStore({ client: slow, prefix, timeoutMs: 100 });
      const s = await site({ store, key: '$request_uri', onStoreError: (e) => errors.push(e) });
      expect((await s.get('/slow')).cache).toBe('MISS');
      expect((await s.get('/slow')).cache).toBe('HIT');
      r.stall();
      const started = Date.now();
      const during = await s.get('/slow');
      expect([during.status, during.cache, during.body]).toEqual([200, 'MISS', 'page 2']);
      expect(Date.now() - started).toBeLessThan(1000);
      expect([errors[0]?.code, errors[0]?.operation, errors[0]?.message]).toEqual([
        'SWY_ERR_CACHE_STORE',
        'get',
        'cache store get: no reply from Redis within 100 ms',
      ]);
      r.flow();
      const after = await s.get('/slow');
      expect([after.status, after.cache]).toEqual([200, 'HIT']);
    } finally {
      slow.destroy();
      await r.close();
    }
  });

  it('recovers when Redis goes away mid-test and comes back', async () => {
    const r = await relay(new URL(url));
    const flaky = createClient({ url: r.url, socket: { reconnectStrategy: () => 5 } });
    flaky.on('error', () => {});
    await flaky.connect();
    try {
      const errors: string[] = [];
      const s = await site({
        store: redisStore({ client: flaky, prefix, timeoutMs: 200 }),
        key: '$request_uri',
        onStoreError: (e) => errors.push(e.code),
      });
      expect((await s.get('/flaky')).cache).toBe('MISS');
      expect((await s.get('/flaky')).cache).toBe('HIT');
      r.down();
      const during = await s.get('/flaky');
      expect([during.status, during.cache, during.body]).toEqual([200, 'MISS', 'page 2']);
      expect(errors[0]).toBe('SWY_ERR_CACHE_STORE');
      r.up();
      await waitFor(() => flaky.isReady);
      const after = await s.get('/flaky');
      expect([after.status, after.cache]).toEqual([200, 'HIT']);
      expect(s.calls()).toBe(2);
    } finally {
      flaky.destroy();
      await r.close();
    }
  });
});
