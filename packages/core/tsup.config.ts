import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'adapters/fastify': 'src/adapters/fastify.ts' },
  format: ['esm'],
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
  external: ['@switchyard/balancers', 'fastify', 'fastify-plugin', 'undici', 'proxy-addr'],
});
