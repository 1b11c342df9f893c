import { randomUUID } from 'node:crypto';
import { manualClock } from '@switchyard/testkit';
import fc from 'fast-check';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { memoryRateStore } from '../src/memory-store/index.js';
import { redisRateStore } from '../src/redis.js';
import type { RateTake } from '../src/types.js';

type RedisClient = ReturnType<typeof createClient>;

/** Zones as `rateZone` hands them to a store: rates already in whole thousandths (`parseRate`). */
const ZONES = [
  { zone: 'perip', rate: 1, burst: 2, delay: 0 },
  { zone: 'api', rate: 10, burst: 5, delay: Number.POSITIVE_INFINITY },
  { zone: 'slow', rate: 0.5, burst: 3, delay: 1 },
  { zone: 'login', rate: 0.016, burst: 1, delay: 0 },
  { zone: 'zero', rate: 2.5, burst: 0, delay: 0 },
] as const;

/** One check: a clock step (mostly forward, sometimes back) and the zones and keys it takes. */
const step = fc.record({
  advanceMs: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 600 }),
    fc.integer({ min: 1_000, max: 120_000 }),
    fc.integer({ min: -70_000, max: -1 }),
  ),
  zones: fc.uniqueArray(fc.nat(ZONES.length - 1), { minLength: 1, maxLength: 3 }),
  key: fc.constantFrom('a', 'b'),
});

describe('redisRateStore against memoryRateStore', () => {
  const url = inject('redisUrl');
  const prefixes: string[] = [];
  let redis: RedisClient;

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

  it('gives the same result for every check of a sequence, at the same clock', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
        const prefix = `test:limit-parity:${randomUUID()}:`;
        prefixes.push(prefix);
        const clock = manualClock(10_000_000);
        const memory = memoryRateStore({ now: clock });
        const redisStore = redisRateStore({ client: redis, prefix, now: clock });
        for (const s of steps) {
          clock.advance(s.advanceMs);
          const takes: RateTake[] = s.zones.map(
            (i) => ({ ...ZONES[i], key: s.key, maxKeys: 1000 }) as RateTake,
          );
          const want = memory.take(takes);
          expect(await redisStore.take(takes)).toEqual(want);
          seen.add(want.action === 'reject' ? `reject ${want.zone}` : want.delayMs > 0 ? 'delay' : 'pass');
        }
      }),
      { seed: 13, numRuns: 60 },
    );
    // The sequences reached every outcome: refusals by a first and a later zone, delays.
    expect([...seen].sort()).toEqual(['delay', 'pass', 'reject 0', 'reject 1', 'reject 2']);
  });
});
