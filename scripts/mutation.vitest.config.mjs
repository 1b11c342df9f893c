// The vitest config that `pnpm mutation` hands to Stryker: the root config's aliases, one
// project, only the unit tests of the group being mutated (SWY_MUTATION_TESTS, set by
// scripts/mutation.mjs), no redis, no browser; and a reporter that turns a test file that
// fails to load into a failed test (see mutation-load-failures.mjs).
import { defineConfig } from 'vitest/config';
import base from '../vitest.config.ts';

const include = (process.env.SWY_MUTATION_TESTS ?? '').split(',').filter((glob) => glob !== '');
if (include.length === 0) throw new Error('SWY_MUTATION_TESTS is empty: run this through `pnpm mutation`');

export default defineConfig({
  resolve: base.resolve,
  test: {
    include,
    exclude: ['**/node_modules/**', '**/*.e2e.test.ts'],
    testTimeout: 15_000,
    reporters: ['default', './scripts/mutation-load-failures.mjs'],
  },
});
