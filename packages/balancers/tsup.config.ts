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
  // @switchyard/internals is private, never published: its code and its types go into this
  // build. tsconfig.json maps it to its sources (not a dependency, so neither package.json
  // nor any built file names it, and the .d.ts bundler inlines it as its own source).
  noExternal: ['@switchyard/internals'],
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
});
