/**
 * `import text from './file?raw'`: a file's text, as a string. Vite (so vitest) answers
 * such imports itself; the build inlines them with the `rawText` plugin of
 * `packages/core/tsup.config.ts`.
 */
declare module '*?raw' {
  const text: string;
  export default text;
}
