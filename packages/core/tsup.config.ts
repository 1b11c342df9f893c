import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { defineConfig, type Options } from 'tsup';

type EsbuildPlugin = NonNullable<Options['esbuildPlugins']>[number];

/**
 * `import text from './file?raw'` inlines the file's text, as Vite's raw import does in the
 * tests: the dashboard's script is a real source file (type-checked and linted) that the
 * page carries as a string.
 */
export const rawText: EsbuildPlugin = {
  name: 'raw-text',
  setup(build) {
    build.onResolve({ filter: /\?raw$/ }, (args) => ({
      path: resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)),
      namespace: 'raw-text',
    }));
    build.onLoad({ filter: /.*/, namespace: 'raw-text' }, async (args) => ({
      contents: await readFile(args.path, 'utf8'),
      loader: 'text',
      watchFiles: [args.path],
    }));
  },
};

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    'adapters/fastify': 'src/adapters/fastify.ts',
    // A subpath of its own, so that only its users need prom-client.
    metrics: 'src/metrics/index.ts',
  },
  // Both: `import` gets ESM, `require()` gets CommonJS (Node < 20.19 has no require(esm)).
  format: ['esm', 'cjs'],
  // Shared chunks in the CommonJS build too: every entry then sees one Upstream class and
  // one tracking record per upstream, as in the ESM build.
  splitting: true,
  // @switchyard/internals is private, never published: its code and its types go into this
  // build. tsconfig.json maps it to its sources (not a dependency, so neither package.json
  // nor any built file names it, and the .d.ts bundler inlines it as its own source).
  noExternal: ['@switchyard/internals'],
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
  external: ['@switchyard/balancers', 'fastify', 'undici', 'proxy-addr', 'prom-client'],
  esbuildPlugins: [rawText],
});
