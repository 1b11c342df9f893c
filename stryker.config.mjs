// Mutation testing of the pure modules (StrykerJS with the vitest runner). On demand only,
// never in CI nor in `pnpm test`: `pnpm mutation` runs every group, `pnpm mutation cache-policy`
// one. The scores and the equivalent mutants that remain are in docs/mutation.md.
import { fileURLToPath } from 'node:url';
import { groups } from './scripts/mutation-groups.mjs';

const name = process.env.SWY_MUTATION_GROUP ?? '';
const group = groups[name];
if (group === undefined) {
  throw new Error(
    `SWY_MUTATION_GROUP must be one of ${Object.keys(groups).join(', ')}; run \`pnpm mutation\``,
  );
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // Named, since Stryker's own `@stryker-mutator/*` lookup does not see pnpm's layout.
  plugins: [fileURLToPath(import.meta.resolve('@stryker-mutator/vitest-runner'))],
  vitest: { configFile: 'scripts/mutation.vitest.config.mjs', related: false },
  mutate: group.mutate,
  coverageAnalysis: 'perTest',
  // Two cores are shared with other work: one or two test processes at most.
  concurrency: Number(process.env.SWY_MUTATION_CONCURRENCY ?? 2),
  timeoutMS: 10_000,
  ignorePatterns: ['/reports', '/docs/api', '/bench', '**/dist', '/.stryker-tmp'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  // `pnpm mutation <group> --incremental` re-tests only what changed since the last run.
  incrementalFile: `reports/mutation/${name}.incremental.json`,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${name}.html` },
  jsonReporter: { fileName: `reports/mutation/${name}.json` },
  clearTextReporter: { allowColor: false, reportTests: false, reportScoreTable: true },
  thresholds: { high: 90, low: 85, break: null },
};
