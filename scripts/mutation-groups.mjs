// The module groups `pnpm mutation` mutates, each with the unit tests that cover it. Only
// pure modules (no network, no timers of their own), so a group runs in minutes.
export const groups = {
  balancers: {
    mutate: ['packages/balancers/src/least-conn/index.ts', 'packages/balancers/src/hash/walk.ts'],
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
