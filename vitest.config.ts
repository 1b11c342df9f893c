import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string, file = 'index.ts') =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${file}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources, so no build is needed first.
    alias: [
      { find: /^@switchyard\/core\/fastify$/, replacement: src('core', 'adapters/fastify.ts') },
      { find: /^@switchyard\/core\/metrics$/, replacement: src('core', 'metrics/index.ts') },
      { find: /^@switchyard\/core$/, replacement: src('core') },
      { find: /^@switchyard\/balancers$/, replacement: src('balancers') },
      { find: /^@switchyard\/cache$/, replacement: src('cache') },
      { find: /^@switchyard\/rewrite$/, replacement: src('rewrite') },
      { find: /^@switchyard\/limit$/, replacement: src('limit') },
      { find: /^@switchyard\/testkit$/, replacement: src('testkit') },
      { find: /^@switchyard\/internals$/, replacement: src('internals') },
    ],
  },
  test: {
    // Two projects, both run by `vitest run`: the unit and integration tests, and the tests
    // that drive a real browser (`*.e2e.test.ts`: a system Chromium through playwright-core,
    // at CHROMIUM_PATH or Debian's /usr/bin/chromium). `--project unit` leaves the browser out.
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/*.e2e.test.ts'],
          // A redis-server for the Redis stores: REDIS_URL when CI started one, else our own.
          globalSetup: ['packages/testkit/src/redis-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: ['packages/*/test/**/*.e2e.test.ts'],
        },
      },
    ],
    testTimeout: 15_000,
    hookTimeout: 15_000,
    pool: 'forks',
    // The default report, then one closing line that counts a file that could not load
    // as a failure (`N passed, N failed`).
    reporters: ['default', './packages/testkit/src/closing-reporter.ts'],
  },
});
