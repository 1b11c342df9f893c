import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  // Both: `import` gets ESM, `require()` gets CommonJS (Node < 20.19 has no require(esm)).
  format: ['esm', 'cjs'],
  // The RE2 loader calls createRequire(import.meta.url); in the CommonJS build the shim
  // turns import.meta.url into the file URL of __filename.
  shims: true,
  // @switchyard/internals is private, never published: its code and its types go into this
  // build. tsconfig.json maps it to its sources (not a dependency, so neither package.json
  // nor any built file names it, and the .d.ts bundler inlines it as its own source).
  noExternal: ['@switchyard/internals'],
  dts: true,
  clean: true,
  target: 'node20',
  sourcemap: true,
});
