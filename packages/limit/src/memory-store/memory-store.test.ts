import { describe, expect, it } from 'vitest';
import type { ConnTake, RateTake } from '../types.js';
import { memoryConnStore, memoryRateStore } from './index.js';

/** A take of zone `z` (or another), 2r/s unless said. */
function take(key: string, o: Partial<RateTake> = {}): RateTake {
  return { zone: 'z', key, rate: 2, burst: 0, delay: 0, maxKeys: 100, ...o };
}

function clocked(start = 1_000_000) {
  const clock = { t: start };
  const store = memoryRateStore({ now: () => clock.t });
  return { clock, store };
}

describe('memoryRateStore: nginx limit_req arithmetic', () => {
  it('passes the first request of a key at excess 0 and refuses the next within 1/rate without burst', () => {
    const { clock, store } = clocked();
    expect(store.take([take('a')])).toEqual({ action: 'pass', delayMs: 0, zone: -1, excess: 0 });
    clock.t += 100;
    // excess = 0 - 2000 * 100 / 1000 + 1000 = 800 > burst 0
    expect(store.take([take('a')])).toEqual({ action: 'reject', zone: 0, excess: 800 });
    clock.t += 400; // 500 ms after the last accepted request: drained
    expect(store.take([take('a')])).toMatchObject({ action: 'pass', delayMs: 0 });
  });

  it('does not store a refused request (the bucket is measured from the last accepted one)', () => {
    const { clock, store } = clocked();
    store.take([take('a')]);
    for (let i = 0; i < 4; i++) {
      clock.t += 100;
      expect(store.take([take('a')]).action).toBe('reject');
    }
    clock.t += 100; // 500 ms after the first
    expect(store.take([take('a')]).action).toBe('pass');
  });

  it('holds a burst for (excess - delay) * 1000 / rate ms, truncated', () => {
    const { clock, store } = clocked();
    const t = (key = 'a') => take(key, { burst: 5 });
    store.take([t()]);
    clock.t += 9;
    // 0 - floor(2000 * 9 / 1000) + 1000 = 982 → 982 * 1000 / 2000 = 491 ms
    expect(store.take([t()])).toEqual({ action: 'pass', delayMs: 491, zone: 0, excess: 982 });
    clock.t += 12;
    // 982 - 24 + 1000 = 1958 → 979 ms
    expect(store.take([t()])).toEqual({ action: 'pass', delayMs: 979, zone: 0, excess: 1958 });
  });

  it('refuses once the excess passes burst * 1000 and lets exactly burst + 1 through at once', () => {
    const { store } = clocked();
    const results = Array.from({ length: 8 }, () => store.take([take('a', { burst: 5 })]).action);
    expect(results).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'pass', 'reject', 'reject']);
  });

  it('never delays with nodelay (delay Infinity) but still fills the bucket', () => {
    const { clock, store } = clocked();
    const t = () => take('a', { burst: 2, delay: Number.POSITIVE_INFINITY });
    expect([store.take([t()]), store.take([t()]), store.take([t()])].map((r) => r)).toEqual([
      { action: 'pass', delayMs: 0, zone: -1, excess: 0 },
      { action: 'pass', delayMs: 0, zone: -1, excess: 1000 },
      { action: 'pass', delayMs: 0, zone: -1, excess: 2000 },
    ]);
    expect(store.take([t()])).toEqual({ action: 'reject', zone: 0, excess: 3000 });
    clock.t += 500; // one request drained
    expect(store.take([t()])).toMatchObject({ action: 'pass', excess: 2000 });
  });

  it('lets delay= requests through at once and holds the rest for the excess over delay', () => {
    const { store } = clocked();
    const t = () => take('a', { burst: 4, delay: 2 });
    const r = Array.from({ length: 5 }, () => store.take([t()]));
    expect(r.map((x) => (x.action === 'pass' ? x.delayMs : -1))).toEqual([0, 0, 0, 500, 1000]);
  });

  it('keeps r/m rates in truncated thousandths: 1r/m is 16/1000 r/s', () => {
    const { clock, store } = clocked();
    const t = () => take('a', { rate: 0.016, burst: 2 });
    store.take([t()]);
    clock.t += 1;
    // 0 - floor(16 * 1 / 1000) + 1000 = 1000 → delay 1000 * 1000 / 16 = 62500 ms
    expect(store.take([t()])).toEqual({ action: 'pass', delayMs: 62500, zone: 0, excess: 1000 });
    clock.t += 30_000;
    // 1000 - floor(16 * 30000 / 1000) + 1000 = 1520 → 95000 ms
    expect(store.take([t()])).toEqual({ action: 'pass', delayMs: 95000, zone: 0, excess: 1520 });
  });

  it('recovers at the rate: 1.34 requests drained after 670 ms at 2r/s', () => {
    const { clock, store } = clocked();
    const t = () => take('a', { burst: 4, delay: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 5; i++) store.take([t()]);
    clock.t += 670;
    // 4000 - 1340 + 1000 = 3660 <= 4000: passes; the next is 4660 > 4000.
    expect(store.take([t()])).toMatchObject({ action: 'pass', excess: 3660 });
    expect(store.take([t()])).toEqual({ action: 'reject', zone: 0, excess: 4660 });
  });

  it('drains nothing when the clock goes back up to a minute, and keeps last', () => {
    const { clock, store } = clocked();
    const t = () => take('a', { burst: 5 });
    store.take([t()]);
    clock.t -= 30_000;
    expect(store.take([t()])).toMatchObject({ excess: 1000 });
    clock.t += 30_000 + 500; // 500 ms after the stored last (kept at the first request)
    expect(store.take([t()])).toMatchObject({ excess: 1000 });
  });

  it('counts 1 ms when the clock went back more than a minute, and moves last there', () => {
    const { clock, store } = clocked();
    const t = () => take('a', { burst: 5 });
    store.take([t()]);
    clock.t -= 120_000;
    // ms = 1: 0 - floor(2000 / 1000) + 1000 = 998
    expect(store.take([t()])).toMatchObject({ excess: 998 });
    clock.t += 500;
    expect(store.take([t()])).toMatchObject({ excess: 998 });
  });

  it('keeps keys and zones apart', () => {
    const { store } = clocked();
    expect(store.take([take('a')]).action).toBe('pass');
    expect(store.take([take('b')]).action).toBe('pass');
    expect(store.take([take('a', { zone: 'other' })]).action).toBe('pass');
    expect(store.take([take('a')]).action).toBe('reject');
  });

  it('forgets the least recently used key when a zone is full', () => {
    const { store } = clocked();
    const t = (key: string) => take(key, { maxKeys: 2 });
    store.take([t('a')]);
    store.take([t('b')]);
    expect(store.take([t('a')]).action).toBe('reject'); // touches a: b is now the oldest
    store.take([t('c')]); // evicts b
    expect(store.size('z')).toBe(2);
    expect(store.take([t('b')]).action).toBe('pass'); // a fresh bucket
    expect(store.take([t('c')]).action).toBe('reject');
  });

  it('clears one zone or all', () => {
    const { store } = clocked();
    store.take([take('a')]);
    store.take([take('a', { zone: 'y' })]);
    store.clear('z');
    expect(store.take([take('a')]).action).toBe('pass');
    expect(store.take([take('a', { zone: 'y' })]).action).toBe('reject');
    store.clear();
    expect(store.take([take('a', { zone: 'y' })]).action).toBe('pass');
  });
});

describe('memoryRateStore: several zones (ngx_http_limit_req_handler)', () => {
  const ip = (key: string) => take(key, { zone: 'ip', rate: 1, burst: 3, delay: Number.POSITIVE_INFINITY });
  const all = () => take('global', { zone: 'all', rate: 1, burst: 5, delay: Number.POSITIVE_INFINITY });

  it('stores nothing in the earlier zones when a later zone refuses', () => {
    const { store } = clocked();
    for (let i = 0; i < 6; i++) expect(store.take([ip(`k${i}`), all()]).action).toBe('pass');
    // The global zone is full: k9's ip bucket must stay untouched (new, not even created).
    expect(store.take([ip('k9'), all()])).toEqual({ action: 'reject', zone: 1, excess: 6000 });
    expect(store.size('ip')).toBe(6);
    // k0 was accounted once: its second request is at excess 1000, within burst 3.
    const before = store.size('ip');
    expect(store.take([ip('k0')])).toMatchObject({ action: 'pass', excess: 1000 });
    expect(store.size('ip')).toBe(before);
  });

  it('does not count a request refused by the first zone in the second one', () => {
    const { store } = clocked();
    for (let i = 0; i < 4; i++) store.take([ip('a'), all()]);
    expect(store.take([ip('a'), all()])).toEqual({ action: 'reject', zone: 0, excess: 4000 });
    // 4 in the global zone: two more fit (burst 5 + 1), the third is refused.
    expect(store.take([ip('b'), all()]).action).toBe('pass');
    expect(store.take([ip('c'), all()]).action).toBe('pass');
    expect(store.take([ip('d'), all()])).toEqual({ action: 'reject', zone: 1, excess: 6000 });
  });

  it('holds for the longest delay any zone asks, a tie going to the later zone', () => {
    const { store } = clocked();
    const slow = (key: string) => take(key, { zone: 'slow', rate: 1, burst: 10 });
    const fast = (key: string) => take(key, { zone: 'fast', rate: 4, burst: 10 });
    store.take([slow('a'), fast('a')]);
    // slow: 1000 / 1 r/s = 1000 ms; fast: 1000 / 4 r/s = 250 ms.
    expect(store.take([slow('a'), fast('a')])).toEqual({
      action: 'pass',
      delayMs: 1000,
      zone: 0,
      excess: 1000,
    });
    const tie = (zone: string) => take('t', { zone, rate: 1, burst: 10 });
    store.take([tie('x'), tie('y')]);
    expect(store.take([tie('x'), tie('y')])).toEqual({
      action: 'pass',
      delayMs: 1000,
      zone: 1,
      excess: 1000,
    });
  });

  it('lets a nodelay zone fill while another zone delays', () => {
    const { store } = clocked();
    const held = (key: string) => take(key, { zone: 'held', rate: 1, burst: 10 });
    store.take([ip('a'), held('a')]);
    expect(store.take([ip('a'), held('a')])).toEqual({
      action: 'pass',
      delayMs: 1000,
      zone: 1,
      excess: 1000,
    });
    expect(store.take([held('a'), ip('a')])).toEqual({
      action: 'pass',
      delayMs: 2000,
      zone: 0,
      excess: 2000,
    });
  });
});

describe('memoryConnStore', () => {
  const c = (key: string, o: Partial<ConnTake> = {}): ConnTake => ({
    zone: 'z',
    key,
    max: 1,
    maxKeys: 100,
    ...o,
  });

  it('takes a slot per key up to max and forgets a key at 0', () => {
    const store = memoryConnStore();
    expect(store.acquire([c('a')])).toBe(-1);
    expect(store.acquire([c('a')])).toBe(0);
    expect(store.acquire([c('b')])).toBe(-1);
    store.release([c('a')]);
    expect(store.count('z', 'a')).toBe(0);
    expect(store.acquire([c('a')])).toBe(-1);
  });

  it('gives back the earlier zones slots when a later zone is full', () => {
    const store = memoryConnStore();
    const srv = (_key: string) => c('global', { zone: 'srv', max: 2 });
    const ip = (key: string) => c(key, { zone: 'ip', max: 1 });
    expect(store.acquire([srv('a'), ip('a')])).toBe(-1);
    expect(store.acquire([srv('a'), ip('a')])).toBe(1);
    expect(store.count('srv', 'global')).toBe(1);
    expect(store.acquire([srv('b'), ip('b')])).toBe(-1);
    expect(store.acquire([srv('c'), ip('c')])).toBe(0);
    expect(store.count('ip', 'c')).toBe(0);
  });

  it('refuses a new key when the zone holds maxKeys keys, as nginx when its zone is out of memory', () => {
    const store = memoryConnStore();
    expect(store.acquire([c('a', { maxKeys: 1, max: 5 })])).toBe(-1);
    expect(store.acquire([c('b', { maxKeys: 1, max: 5 })])).toBe(0);
    expect(store.acquire([c('a', { maxKeys: 1, max: 5 })])).toBe(-1);
  });

  it('ignores a release of slots it does not hold', () => {
    const store = memoryConnStore();
    store.release([c('a')]);
    expect(store.count('z', 'a')).toBe(0);
  });
});
