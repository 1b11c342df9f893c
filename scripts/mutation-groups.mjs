// The module groups `pnpm mutation` mutates, each with the unit tests that cover it. Only
// pure modules (no network, no timers of their own), so a group runs in minutes.
export const groups = {
  // The pure strategies, in two groups so that each runs in under 25 minutes at concurrency 1.
  // persistence/, simulate/ and moved-keys/ (tooling, I/O) are left out.
  balancers: {
    mutate: [
      'packages/balancers/src/least-conn/index.ts',
      'packages/balancers/src/hash/walk.ts',
      'packages/balancers/src/round-robin/*.ts',
      '!packages/balancers/src/round-robin/*.test.ts',
      'packages/balancers/src/random/index.ts',
      'packages/balancers/src/ip-hash/index.ts',
      'packages/balancers/src/least-time/index.ts',
      'packages/balancers/src/weight.ts',
      'packages/balancers/src/tables.ts',
    ],
    tests: ['packages/balancers/src/**/*.test.ts'],
  },
  'balancers-more': {
    mutate: [
      'packages/balancers/src/bounded-load-hash/index.ts',
      'packages/balancers/src/hash/index.ts',
      'packages/balancers/src/hash/ketama.ts',
      'packages/balancers/src/hash/crc32.ts',
      'packages/balancers/src/explain/*.ts',
      '!packages/balancers/src/explain/*.test.ts',
    ],
    tests: ['packages/balancers/src/**/*.test.ts'],
  },
  'cache-policy': {
    mutate: ['packages/cache/src/policy/index.ts', 'packages/cache/src/key/index.ts'],
    tests: ['packages/cache/src/policy/*.test.ts', 'packages/cache/src/key/*.test.ts'],
  },
  'health-match': {
    mutate: ['packages/core/src/health/match.ts'],
    tests: ['packages/core/src/health/*.test.ts'],
  },
  'passive-health': {
    mutate: ['packages/core/src/peer/passive.ts'],
    tests: ['packages/core/src/peer/*.test.ts'],
  },
  rewrite: {
    mutate: ['packages/rewrite/src/engine/*.ts', '!packages/rewrite/src/engine/*.test.ts'],
    // The property tests (thousands of runs each) are left out: minutes per mutant.
    tests: ['packages/rewrite/src/**/*.test.ts', 'packages/rewrite/test/conformance.test.ts'],
  },
};
