import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    // Dev tooling (simulate, movedKeys, mulberry32) on a subpath of its own.
    tools: 'src/tools.ts',
  },
  // Both: `import` gets ESM, `require()` gets CommonJS (Node < 20.19 has no require(esm)).
  format: ['esm', 'cjs'],
  // Shared chunks in the CommonJS build too: both entries then see one set of error classes.
  splitting: true,
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
});
