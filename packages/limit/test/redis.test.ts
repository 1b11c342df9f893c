import { randomUUID } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { deadPort, manualClock } from '@switchyard/testkit';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LimitStoreError } from '../src/errors.js';
import { createLimits } from '../src/limits/index.js';
import { type RedisCommandClient, redisConnStore, redisRateStore } from '../src/redis.js';
import type { ConnTake, RateResult, RateStore, RateTake } from '../src/types.js';
import { connZone, rateZone } from '../src/zone/index.js';

type RedisClient = ReturnType<typeof createClient>;

const T0 = 1_000_000;

/** A take of zone `zone` for key `k`; `rate` r/s, `delay` Infinity for `nodelay`. */
const req = (zone: string, rate: number, burst: number, delay = 0, key = 'k'): RateTake => ({
  zone,
  key,
  rate,
  burst,
  delay,
  maxKeys: 1000,
});

const conn = (zone: string, max: number, key = 'k'): ConnTake => ({ zone, key, max, maxKeys: 1000 });

const pass = (delayMs: number, zone: number, excess: number): RateResult => ({
  action: 'pass',
  delayMs,
  zone,
  excess,
});
const reject = (zone: number, excess: number): RateResult => ({ action: 'reject', zone, excess });

/** Runs `takes` at each of `times` (ms from T0) and collects the results. */
async function run(store: RateStore, clock: { set(ms: number): void }, steps: [number, RateTake[]][]) {
  const out: RateResult[] = [];
  for (const [at, takes] of steps) {
    clock.set(T0 + at);
    out.push(await store.take(takes));
  }
  return out;
}

describe('redisRateStore and redisConnStore against a real redis-server', () => {
  const url = inject('redisUrl');
  let redis: RedisClient;
  let prefix = '';
  const prefixes: string[] = [];

  beforeAll(async () => {
    if (url === '') throw new Error(inject('redisProblem'));
    redis = createClient({ url });
    await redis.connect();
  });

  afterAll(async () => {
    if (redis?.isOpen) {
      for (const p of prefixes) {
        const keys = await redis.keys(`${p}*`);
        if (keys.length > 0) await redis.del(keys);
      }
      redis.destroy();
    }
  });

  /** A fresh prefix per store set, so tests never see each other's keys. */
  function fresh(): string {
    prefix = `test:limit:${randomUUID()}:`;
    prefixes.push(prefix);
    return prefix;
  }

  function rateStore() {
    const clock = manualClock(T0);
    const store = redisRateStore({ client: redis, prefix: fresh(), now: clock });
    return { store, clock };
  }

  describe('limit_req parity with nginx 1.22 arithmetic', () => {
    it('delays a burst by (excess - delay) * 1000 / rate and refuses past it, storing nothing refused', async () => {
      const { store, clock } = rateStore();
      const z = [req('one', 1, 2)];
      expect(
        await run(store, clock, [
          [0, z],
          [0, z],
          [0, z],
          [0, z],
          [500, z],
          [1000, z],
        ]),
      ).toEqual([
        pass(0, -1, 0), // a new key starts at excess 0
        pass(1000, 0, 1000),
        pass(2000, 0, 2000),
        reject(0, 3000),
        reject(0, 2500), // 2000 - 1000 * 500 / 1000 + 1000: the refusals were not stored
        pass(2000, 0, 2000),
      ]);
    });

    it('lets a burst through at once with nodelay and refuses past it', async () => {
      const { store, clock } = rateStore();
      const z = [req('nd', 10, 5, Number.POSITIVE_INFINITY)];
      const steps: [number, RateTake[]][] = [0, 0, 0, 0, 0, 0, 0, 100, 150].map((t) => [t, z]);
      expect(await run(store, clock, steps)).toEqual([
        pass(0, -1, 0),
        pass(0, -1, 1000),
        pass(0, -1, 2000),
        pass(0, -1, 3000),
        pass(0, -1, 4000),
        pass(0, -1, 5000),
        reject(0, 6000),
        pass(0, -1, 5000), // 5000 - 10000 * 100 / 1000 + 1000
        reject(0, 5500), // 5000 - 10000 * 50 / 1000 + 1000
      ]);
    });

    it('lets delay= requests through at once and delays the rest, truncating to whole ms', async () => {
      const { store, clock } = rateStore();
      const z = [req('d', 2, 4, 2)];
      const steps: [number, RateTake[]][] = [0, 0, 0, 0, 0, 0, 250, 333, 501].map((t) => [t, z]);
      expect(await run(store, clock, steps)).toEqual([
        pass(0, -1, 0),
        pass(0, -1, 1000),
        pass(0, -1, 2000),
        pass(500, 0, 3000), // (3000 - 2000) * 1000 / 2000
        pass(1000, 0, 4000),
        reject(0, 5000),
        reject(0, 4500), // 4000 - 2000 * 250 / 1000 + 1000
        reject(0, 4334), // 4000 - floor(666.0) + 1000
        pass(999, 0, 3998), // 4000 - floor(1002) + 1000; (3998 - 2000) * 1000 / 2000 = 999
      ]);
    });

    it('keeps r/m rates in integer thousandths, 30r/m as 500 and 1r/m as 16', async () => {
      const { store, clock } = rateStore();
      const half = [req('m30', 0.5, 1)];
      expect(
        await run(store, clock, [
          [0, half],
          [1000, half],
          [2000, half],
          [2001, half],
        ]),
      ).toEqual([
        pass(0, -1, 0),
        pass(1000, 0, 500), // 0 - 500 + 1000; 500 * 1000 / 500
        pass(2000, 0, 1000),
        reject(0, 2000), // floor(500 * 1 / 1000) = 0 drained
      ]);
      // parseRate('1r/m') is 16 thousandths (1000 / 60 truncated), handed over as 0.016.
      const one = [req('m1', 0.016, 1)];
      expect(
        await run(store, clock, [
          [0, one],
          [60_000, one],
        ]),
      ).toEqual([pass(0, -1, 0), pass(2500, 0, 40)]); // 1000 - 16 * 60000 / 1000 = 40; 40 * 1000 / 16
    });

    it('stores no zone when a later zone refuses', async () => {
      const { store, clock } = rateStore();
      const a = req('a', 10, 10);
      const b = req('b', 1, 0);
      expect(
        await run(store, clock, [
          [0, [a, b]],
          [0, [a, b]],
          [0, [a, b]],
          [0, [a]],
        ]),
      ).toEqual([
        pass(0, -1, 0),
        reject(1, 1000),
        reject(1, 1000),
        pass(100, 0, 1000), // zone a went 0 → 1000 once, not three times
      ]);
      expect(await redis.get(`${prefix}r:a:k`)).toBe(`1000:${T0}`);
      expect(await redis.get(`${prefix}r:b:k`)).toBe(`0:${T0}`);
    });

    it('delays by the longest of the zones, a tie going to the later zone', async () => {
      const { store, clock } = rateStore();
      const slow = req('slow', 1, 5);
      const fast = req('fast', 2, 5);
      const same = req('same', 1, 5);
      expect(
        await run(store, clock, [
          [0, [slow, fast, same]],
          [0, [slow, fast, same]],
        ]),
      ).toEqual([pass(0, -1, 0), pass(1000, 2, 1000)]); // slow and same: 1000 ms each; fast: 500
      expect(
        await run(store, clock, [
          [0, [slow, fast]],
          [0, [fast]],
        ]),
      ).toEqual([pass(2000, 0, 2000), pass(1500, 0, 3000)]);
    });

    it('recovers once the excess has drained', async () => {
      const { store, clock } = rateStore();
      const z = [req('r', 1, 2)];
      const steps: [number, RateTake[]][] = [0, 0, 0, 0, 2999, 3000, 10_000].map((t) => [t, z]);
      expect(await run(store, clock, steps)).toEqual([
        pass(0, -1, 0),
        pass(1000, 0, 1000),
        pass(2000, 0, 2000),
        reject(0, 3000),
        pass(1, 0, 1), // 2000 - 2999 + 1000; 1 * 1000 / 1000
        pass(1000, 0, 1000), // 1 - 1 + 1000
        pass(0, -1, 0), // drained to 0
      ]);
    });

    it('drains nothing when the clock goes back up to a minute, and 1 ms further back', async () => {
      const { store, clock } = rateStore();
      const z = [req('c', 100, 100)];
      expect(
        await run(store, clock, [
          [0, z],
          [10, z],
          [5, z],
          [-100_000, z],
        ]),
      ).toEqual([
        pass(0, -1, 0),
        pass(0, -1, 0), // 0 - 100000 * 10 / 1000 + 1000 = 0
        pass(10, 0, 1000), // ms -5 → 0: nothing drained, `last` kept at 10
        pass(19, 0, 1900), // ms < -60000 → 1: 1000 - 100 + 1000
      ]);
      expect(await redis.get(`${prefix}r:c:k`)).toBe(`1900:${T0 - 100_000}`);
    });
  });

  it('runs a check in one round trip: one EVALSHA, reloading the script after SCRIPT FLUSH', async () => {
    const sent: string[] = [];
    const counting: RedisCommandClient = {
      sendCommand(args, options) {
        sent.push(String(args[0]));
        return redis.sendCommand(args, options);
      },
    };
    const store = redisRateStore({ client: counting, prefix: fresh() });
    const conns = redisConnStore({ client: counting, prefix });
    await redis.scriptFlush();
    await store.take([req('a', 10, 5), req('b', 1, 5)]);
    expect(sent).toEqual(['EVALSHA', 'EVAL']);
    const stats = async () => {
      const info = await redis.info('commandstats');
      return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0);
    };
    sent.length = 0;
    const before = await stats();
    for (let i = 0; i < 5; i++) await store.take([req('a', 10, 5), req('b', 1, 5)]);
    expect(sent).toEqual(['EVALSHA', 'EVALSHA', 'EVALSHA', 'EVALSHA', 'EVALSHA']);
    // Other test files may share this server: at least our five, and the client sent no more.
    expect((await stats()) - before).toBeGreaterThanOrEqual(5);
    sent.length = 0;
    await conns.acquire([conn('x', 1), conn('y', 1)]);
    await conns.acquire([conn('x', 1), conn('y', 1)]);
    await conns.release([conn('x', 1), conn('y', 1)]);
    expect(sent.filter((c) => c === 'EVALSHA').length).toBe(3);
    expect(sent.length).toBeLessThanOrEqual(5); // + one EVAL per script not yet cached
  });

  it('checks limit_req and limit_conn in one round trip when both stores share a client', async () => {
    const sent: string[] = [];
    const counting: RedisCommandClient = {
      sendCommand(args, options) {
        sent.push(String(args[0]));
        return redis.sendCommand(args, options);
      },
    };
    const clock = manualClock(T0);
    const rates = redisRateStore({ client: counting, prefix: fresh(), now: clock });
    const conns = redisConnStore({ client: counting, prefix });
    const limits = createLimits({
      req: [{ zone: rateZone({ name: 'perip', rate: '2r/s', store: rates }), burst: 1, nodelay: true }],
      conn: [{ zone: connZone({ name: 'addr', store: conns }), max: 1 }],
    });
    const client = { headers: {}, socket: { remoteAddress: '127.0.0.9' } };
    await limits.check(client); // loads the script (EVALSHA, then EVAL)
    sent.length = 0;
    await redis.del(`${prefix}c:addr:127.0.0.9`);
    clock.advance(10_000);
    const first = await limits.check(client);
    expect(sent).toEqual(['EVALSHA']);
    // The slot is held: the next request is refused by limit_conn, in one round trip too.
    const second = await limits.check(client);
    expect(sent).toEqual(['EVALSHA', 'EVALSHA']);
    expect([first.action, first.limitReq, first.limitConn]).toEqual(['pass', 'PASSED', 'PASSED']);
    expect([second.action, second.status, second.limitReq, second.limitConn]).toEqual([
      'reject',
      503,
      'PASSED',
      'REJECTED',
    ]);
    // A third at once passes the rate's burst: refused by limit_req, and no slot is taken.
    const third = await limits.check(client);
    expect([third.action, third.limitReq, third.limitConn]).toEqual(['reject', 'REJECTED', undefined]);
    expect(await redis.get(`${prefix}c:addr:127.0.0.9`)).toBe('1');
    first.release();
    for (let i = 0; i < 100 && (await redis.exists(`${prefix}c:addr:127.0.0.9`)) > 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await redis.exists(`${prefix}c:addr:127.0.0.9`)).toBe(0);
    // The first check, which loaded the script, passed too.
    expect(limits.limitConns()).toEqual({ addr: { passed: 2, rejected: 1, rejected_dry_run: 0 } });
  });

  it('keeps a rate key only until its excess would have drained, plus a margin', async () => {
    const { store } = rateStore();
    const z = [req('ttl', 1, 5)];
    for (let i = 0; i < 3; i++) await store.take(z);
    // excess 2000 at 1r/s: (2000 + 1000) * 1000 / 1000 ms to drain, + 1 + 1000 margin.
    const pttl = await redis.pTTL(`${prefix}r:ttl:k`);
    expect(pttl).toBeGreaterThan(3_500);
    expect(pttl).toBeLessThanOrEqual(4_001);
    await store.take([req('ttl', 1, 0)]); // refused: the key and its TTL stay as they were
    expect(await redis.pTTL(`${prefix}r:ttl:k`)).toBeLessThanOrEqual(pttl);
  });

  it('clears one zone or every zone', async () => {
    const { store } = rateStore();
    await store.take([req('a', 1, 1), req('b', 1, 1)]);
    await store.clear('a');
    expect(await redis.exists([`${prefix}r:a:k`, `${prefix}r:b:k`])).toBe(1);
    await store.clear();
    expect(await redis.exists([`${prefix}r:a:k`, `${prefix}r:b:k`])).toBe(0);
  });

  it('keeps zones apart whatever their names', async () => {
    const { store } = rateStore();
    await store.take([req('a:b', 1, 0, 0, 'c')]);
    expect(await store.take([req('a', 1, 0, 0, 'b:c')])).toEqual(pass(0, -1, 0));
  });

  describe('limit_conn', () => {
    it('takes slots up to max and refuses the next, answering the full zone', async () => {
      const store = redisConnStore({ client: redis, prefix: fresh() });
      const z = [conn('addr', 2)];
      expect([await store.acquire(z), await store.acquire(z), await store.acquire(z)]).toEqual([-1, -1, 0]);
      expect(await redis.get(`${prefix}c:addr:k`)).toBe('2');
    });

    it('gives back the earlier zones when a later one is full', async () => {
      const store = redisConnStore({ client: redis, prefix: fresh() });
      const z = [conn('a', 5), conn('b', 1)];
      expect(await store.acquire(z)).toBe(-1);
      expect(await store.acquire(z)).toBe(1);
      expect(await store.acquire(z)).toBe(1);
      expect([await redis.get(`${prefix}c:a:k`), await redis.get(`${prefix}c:b:k`)]).toEqual(['1', '1']);
    });

    it('frees a slot on release and deletes a counter at 0, even one its TTL removed', async () => {
      const store = redisConnStore({ client: redis, prefix: fresh() });
      const z = [conn('a', 1), conn('b', 1)];
      expect(await store.acquire(z)).toBe(-1);
      expect(await store.acquire(z)).toBe(0);
      await store.release(z);
      expect(await redis.exists([`${prefix}c:a:k`, `${prefix}c:b:k`])).toBe(0);
      expect(await store.acquire(z)).toBe(-1);
      await redis.del(`${prefix}c:a:k`); // as if its TTL had passed
      await store.release(z);
      expect(await redis.exists([`${prefix}c:a:k`, `${prefix}c:b:k`])).toBe(0);
    });

    it('sets the ttlMs safety on each acquire', async () => {
      const store = redisConnStore({ client: redis, prefix: fresh(), ttlMs: 60_000 });
      await store.acquire([conn('t', 3)]);
      await redis.pExpire(`${prefix}c:t:k`, 1_000);
      await store.acquire([conn('t', 3)]);
      const pttl = await redis.pTTL(`${prefix}c:t:k`);
      expect(pttl).toBeGreaterThan(59_000);
      expect(pttl).toBeLessThanOrEqual(60_000);
      await store.clear('t');
      expect(await redis.exists(`${prefix}c:t:k`)).toBe(0);
    });
  });

  it('shares one limit between two stores on two clients, at Redis clock', async () => {
    const other = createClient({ url });
    await other.connect();
    try {
      const p = fresh();
      const a = redisRateStore({ client: redis, prefix: p });
      const b = redisRateStore({ client: other, prefix: p });
      const z = [req('shared', 1, 1, Number.POSITIVE_INFINITY)];
      const results = [await a.take(z), await b.take(z), await a.take(z)];
      expect(results.map((r) => r.action)).toEqual(['pass', 'pass', 'reject']);
      const ca = redisConnStore({ client: redis, prefix: p });
      const cb = redisConnStore({ client: other, prefix: p });
      expect([await ca.acquire([conn('c', 1)]), await cb.acquire([conn('c', 1)])]).toEqual([-1, 0]);
      await ca.release([conn('c', 1)]);
      expect(await cb.acquire([conn('c', 1)])).toBe(-1);
      // Checks at once from both clients: each is atomic, so exactly burst + 1 pass at 1r/m.
      const burst = [req('burst', 0.016, 9, Number.POSITIVE_INFINITY)];
      const all = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take(burst)));
      expect(all.filter((r) => r.action === 'pass').length).toBe(10);
      const slots = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? ca : cb).acquire([conn('n', 7)])),
      );
      expect(slots.filter((r) => r === -1).length).toBe(7);
    } finally {
      other.destroy();
    }
  });

  describe('failures', () => {
    async function settles(promise: Promise<unknown>): Promise<{ error: LimitStoreError; ms: number }> {
      const started = Date.now();
      const error = (await promise.then(
        () => undefined,
        (e: unknown) => e,
      )) as LimitStoreError;
      return { error, ms: Date.now() - started };
    }

    it('rejects within timeoutMs while the client cannot connect', async () => {
      const port = await deadPort();
      const down = createClient({
        url: `redis://127.0.0.1:${port}`,
        socket: { reconnectStrategy: () => 20 },
      });
      down.on('error', () => {});
      const connecting = down.connect().catch(() => {});
      try {
        const rates = redisRateStore({ client: down, timeoutMs: 50 });
        const conns = redisConnStore({ client: down, timeoutMs: 50 });
        const r = await settles(rates.take([req('z', 1, 1)]));
        expect([r.error.code, r.error.operation, r.error.zones, r.error.message]).toEqual([
          'SWY_ERR_LIMIT_STORE',
          'take',
          ['z'],
          'limit store take (z): no reply from Redis within 50 ms',
        ]);
        expect(r.ms).toBeLessThan(500);
        const c = await settles(conns.acquire([conn('y', 1)]));
        expect([c.error.code, c.error.operation]).toEqual(['SWY_ERR_LIMIT_STORE', 'acquire']);
        const rel = await settles(conns.release([conn('y', 1)]));
        expect([rel.error.code, rel.error.operation]).toEqual(['SWY_ERR_LIMIT_STORE', 'release']);
      } finally {
        down.destroy();
        await connecting;
      }
    });

    it('rejects at once, never synchronously, when the client was closed', async () => {
      const closed = createClient({ url, disableOfflineQueue: true });
      await closed.connect();
      closed.destroy();
      const store = redisRateStore({ client: closed });
      let promise: Promise<unknown> | undefined;
      expect(() => {
        promise = Promise.resolve(store.take([req('z', 1, 1)]));
      }).not.toThrow();
      const r = await settles(promise as Promise<unknown>);
      expect(r.error.code).toBe('SWY_ERR_LIMIT_STORE');
      expect(r.error.cause).toBeInstanceOf(Error);
      expect(r.ms).toBeLessThan(100);
    });

    it('rejects within timeoutMs when Redis stops answering, gives back slots granted late, and works again', async () => {
      // A relay to the real redis-server that can hold Redis's replies back.
      let stalled = false;
      const held: [Socket, Buffer][] = [];
      const sockets = new Set<Socket>();
      const target = new URL(url);
      const relay = createServer({ noDelay: true }, (inbound) => {
        const outbound = connect({ port: Number(target.port), host: target.hostname, noDelay: true });
        sockets.add(inbound).add(outbound);
        inbound.on('error', () => outbound.destroy());
        outbound.on('error', () => inbound.destroy());
        inbound.pipe(outbound);
        outbound.on('data', (chunk: Buffer) => {
          if (stalled) held.push([inbound, chunk]);
          else inbound.write(chunk);
        });
      });
      await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
      const { port } = relay.address() as { port: number };
      const slow = createClient({ url: `redis://127.0.0.1:${port}` });
      slow.on('error', () => {});
      try {
        await slow.connect();
        const store = redisRateStore({ client: slow, prefix: fresh(), timeoutMs: 80 });
        const z = [req('z', 1, 5, Number.POSITIVE_INFINITY)];
        expect((await store.take(z)).action).toBe('pass');
        stalled = true;
        const r = await settles(store.take(z));
        expect([r.error.code, r.error.message]).toEqual([
          'SWY_ERR_LIMIT_STORE',
          'limit store take (z): no reply from Redis within 80 ms',
        ]);
        expect(r.ms).toBeGreaterThanOrEqual(70);
        expect(r.ms).toBeLessThan(500);
        const conns = redisConnStore({ client: slow, prefix, timeoutMs: 80 });
        const c = await settles(conns.acquire([conn('late', 1)]));
        expect(c.error.message).toBe('limit store acquire (late): no reply from Redis within 80 ms');
        expect(await redis.get(`${prefix}c:late:k`)).toBe('1'); // Redis did take the slot
        stalled = false;
        for (const [socket, chunk] of held.splice(0)) socket.write(chunk);
        expect((await store.take(z)).action).toBe('pass');
        // The late grant was given back: the caller was told the acquire failed.
        let left = 1;
        for (let i = 0; i < 100 && left > 0; i++) {
          left = await redis.exists(`${prefix}c:late:k`);
          if (left > 0) await new Promise((r) => setTimeout(r, 5));
        }
        expect(left).toBe(0);
      } finally {
        slow.destroy();
        for (const s of sockets) s.destroy();
        await new Promise((r) => relay.close(r));
      }
    });
  });

  it('refuses bad options when built', () => {
    expect(() => redisRateStore({ client: {} as RedisCommandClient })).toThrow(/^client: expected/);
    expect(() => redisRateStore({ client: redis, timeoutMs: 0 })).toThrow(/^timeoutMs: expected/);
    expect(() => redisConnStore({ client: redis, ttlMs: -1 })).toThrow(/^ttlMs: expected/);
    expect(() => redisConnStore({ client: redis, maxKeys: 3 } as never)).toThrow(/^maxKeys: unknown option/);
  });
});
