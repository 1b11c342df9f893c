import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RateResult, RateTake } from '../types.js';
import { memoryRateStore } from './index.js';

/**
 * A line-by-line port of nginx 1.22's ngx_http_limit_req_handler / _lookup / _account /
 * _unlock (BigInt for C's integers, nodes with `count` and the zone's locked `node`),
 * against which random request sequences must give the memory store's answers exactly.
 */
interface RefNode {
  excess: bigint;
  last: bigint;
  count: number;
}
interface RefZone {
  rate: bigint;
  nodes: Map<string, RefNode>;
  node: RefNode | null;
}
interface RefLimit {
  zone: RefZone;
  burst: bigint;
  delay: bigint;
}
const NGX_OK = 0;
const NGX_DECLINED = -5;
const NGX_AGAIN = -2;
const NGX_BUSY = -3;
const NODELAY = 9223372036854775807n / 1000n; // NGX_MAX_INT_T_VALUE / 1000

function lookup(limit: RefLimit, key: string, ep: { v: bigint }, account: boolean, now: bigint): number {
  const ctx = limit.zone;
  const lr = ctx.nodes.get(key);
  if (lr !== undefined) {
    let ms = now - lr.last;
    if (ms < -60000n) ms = 1n;
    else if (ms < 0n) ms = 0n;
    let excess = lr.excess - (ctx.rate * ms) / 1000n + 1000n;
    if (excess < 0n) excess = 0n;
    ep.v = excess;
    if (excess > limit.burst) return NGX_BUSY;
    if (account) {
      lr.excess = excess;
      if (ms !== 0n) lr.last = now;
      return NGX_OK;
    }
    lr.count++;
    ctx.node = lr;
    return NGX_AGAIN;
  }
  ep.v = 0n;
  const node: RefNode = { excess: 0n, last: 0n, count: 0 };
  ctx.nodes.set(key, node);
  if (account) {
    node.last = now;
    node.count = 0;
    return NGX_OK;
  }
  node.last = 0n;
  node.count = 1;
  ctx.node = node;
  return NGX_AGAIN;
}

function accountAll(
  limits: RefLimit[],
  n: number,
  ep: { v: bigint },
  lim: { i: number },
  now: bigint,
): bigint {
  let excess = ep.v;
  const first = limits[lim.i] as RefLimit;
  let maxDelay = excess <= first.delay ? 0n : ((excess - first.delay) * 1000n) / first.zone.rate;
  while (n--) {
    const ctx = (limits[n] as RefLimit).zone;
    const lr = ctx.node;
    if (lr === null) continue;
    let ms = now - lr.last;
    if (ms < -60000n) ms = 1n;
    else if (ms < 0n) ms = 0n;
    excess = lr.excess - (ctx.rate * ms) / 1000n + 1000n;
    if (excess < 0n) excess = 0n;
    if (ms !== 0n) lr.last = now;
    lr.excess = excess;
    lr.count--;
    ctx.node = null;
    const l = limits[n] as RefLimit;
    if (excess <= l.delay) continue;
    const delay = ((excess - l.delay) * 1000n) / ctx.rate;
    if (delay > maxDelay) {
      maxDelay = delay;
      ep.v = excess;
      lim.i = n;
    }
  }
  return maxDelay;
}

/** ngx_http_limit_req_handler; `zone` is the index among all limits. */
function handler(
  limits: RefLimit[],
  keys: string[],
  now: bigint,
): { declined: true } | { busy: true; zone: number; excess: bigint } | { delay: bigint; zone: number } {
  const ep = { v: 0n };
  let rc = NGX_DECLINED;
  let n = 0;
  for (n = 0; n < limits.length; n++) {
    if (keys[n] === '') continue;
    rc = lookup(limits[n] as RefLimit, keys[n] as string, ep, n === limits.length - 1, now);
    if (rc !== NGX_AGAIN) break;
  }
  if (rc === NGX_DECLINED) return { declined: true };
  if (rc === NGX_BUSY) {
    // ngx_http_limit_req_unlock(limits, n)
    for (let j = n; j-- > 0; ) {
      const ctx = (limits[j] as RefLimit).zone;
      if (ctx.node === null) continue;
      ctx.node.count--;
      ctx.node = null;
    }
    return { busy: true, zone: n, excess: ep.v };
  }
  if (rc === NGX_AGAIN) ep.v = 0n;
  const lim = { i: Math.min(n, limits.length - 1) };
  const delay = accountAll(limits, n, ep, lim, now);
  return { delay, zone: lim.i };
}

const RATES = [16, 116, 500, 1000, 2000, 10000];
const zoneArb = fc.record({
  rate: fc.constantFrom(...RATES),
  burst: fc.integer({ min: 0, max: 6 }),
  delay: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constant(-1)), // -1: nodelay
});
const stepArb = fc.record({
  dt: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 1500 }) },
    { weight: 1, arbitrary: fc.integer({ min: -70000, max: -1 }) },
    { weight: 1, arbitrary: fc.integer({ min: 50000, max: 200000 }) },
  ),
  keys: fc.array(fc.constantFrom('', 'a', 'b', 'c'), { minLength: 3, maxLength: 3 }),
});

describe('memoryRateStore against a port of nginx 1.22', () => {
  it('gives nginx answers for random multi-zone sequences, clock jumps included', () => {
    fc.assert(
      fc.property(
        fc.array(zoneArb, { minLength: 1, maxLength: 3 }),
        fc.array(stepArb, { minLength: 1, maxLength: 60 }),
        (zones, steps) => {
          let t = 1_000_000_000; // nginx's clock is monotonic ms since boot: large
          const store = memoryRateStore({ now: () => t });
          const ref: RefLimit[] = zones.map((z) => ({
            zone: { rate: BigInt(z.rate), nodes: new Map(), node: null },
            burst: BigInt(z.burst) * 1000n,
            delay: z.delay === -1 ? NODELAY * 1000n : BigInt(z.delay) * 1000n,
          }));
          for (const step of steps) {
            t += step.dt;
            const keys = zones.map((_, i) => step.keys[i] as string);
            const expected = handler(ref, keys, BigInt(t));
            const index: number[] = [];
            const takes: RateTake[] = [];
            zones.forEach((z, i) => {
              if (keys[i] === '') return;
              index.push(i);
              takes.push({
                zone: `z${i}`,
                key: keys[i] as string,
                rate: z.rate / 1000,
                burst: z.burst,
                delay: z.delay === -1 ? Number.POSITIVE_INFINITY : z.delay,
                maxKeys: 100,
              });
            });
            if ('declined' in expected) {
              expect(takes).toHaveLength(0);
              continue;
            }
            const got = store.take(takes) as RateResult;
            if ('busy' in expected) {
              expect(got.action).toBe('reject');
              expect([index[got.zone], got.excess]).toEqual([expected.zone, Number(expected.excess)]);
            } else {
              if (got.action !== 'pass') throw new Error(`expected a pass, got ${JSON.stringify(got)}`);
              expect(got.delayMs).toBe(Number(expected.delay));
              if (got.delayMs > 0) expect(index[got.zone]).toBe(expected.zone);
            }
          }
        },
      ),
      { seed: 1322, numRuns: 400 },
    );
  });
});
