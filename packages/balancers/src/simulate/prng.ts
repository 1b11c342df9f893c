/**
 * mulberry32: a small, fast seeded generator of numbers in [0, 1), for simulations and
 * tests that must give the same result for the same seed. Not for anything secret.
 *
 * @param seed - any integer; only its low 32 bits are used.
 * @example
 * ```ts
 * const random = mulberry32(42);
 * random(); // the same first number on every run
 * ```
 * @see https://gist.github.com/tommyettinger/46a874533244883189143505d203312c
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return function next(): number {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
