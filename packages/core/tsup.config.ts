import { defineConfig } from 'tsup';

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
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
  external: ['@switchyard/balancers', 'fastify', 'undici', 'proxy-addr', 'prom-client'],
});
