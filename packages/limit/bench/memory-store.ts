/**
 * Cost of one check in the memory stores (not a test): `node packages/limit/bench/run.mjs` (bundles this file with esbuild first).
 * Reports ns per call for the hot paths.
 */
import { connZone, createLimits, memoryConnStore, memoryRateStore, rateZone } from '../src/index.js';
import type { ConnTake, RateTake } from '../src/types.js';

function bench(name: string, n: number, fn: (i: number) => void): void {
  for (let i = 0; i < 200_000; i++) fn(i); // warm up
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  console.log(`${name.padEnd(48)} ${ns.toFixed(0).padStart(6)} ns/op`);
}

const N = 2_000_000;
let t = 0;
const rates = memoryRateStore({ now: () => t });
const keys = Array.from({ length: 1024 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
const takes: RateTake[][] = keys.map((key) => [
  { zone: 'z', key, rate: 100, burst: 50, delay: Number.POSITIVE_INFINITY, maxKeys: 100_000 },
]);
bench('memoryRateStore.take, 1 zone, 1024 keys', N, (i) => {
  t += 1;
  rates.take(takes[i & 1023] as RateTake[]);
});

const conns = memoryConnStore();
const ctakes: ConnTake[][] = keys.map((key) => [{ zone: 'c', key, max: 10, maxKeys: 100_000 }]);
bench('memoryConnStore.acquire + release', N, (i) => {
  const c = ctakes[i & 1023] as ConnTake[];
  conns.acquire(c);
  conns.release(c);
});

const limits = createLimits({
  req: [{ zone: rateZone({ name: 'r', rate: 100, store: rates }), burst: 50, nodelay: true }],
  conn: [{ zone: connZone({ name: 'c', store: conns }), max: 10 }],
});
const reqs = keys.map((remoteAddress) => ({ headers: {}, socket: { remoteAddress } }));
bench('createLimits().check + release (req + conn)', N, (i) => {
  t += 1;
  const d = limits.check(reqs[i & 1023] as (typeof reqs)[number]);
  if (!(d instanceof Promise)) d.release();
});
