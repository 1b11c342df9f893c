// Bundles bench/memory-store.ts (with the package's sources) and runs it: `node packages/limit/bench/run.mjs`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const out = join(mkdtempSync(join(tmpdir(), 'limit-bench-')), 'bench.mjs');
const esbuild = fileURLToPath(new URL('../../../node_modules/.bin/esbuild', import.meta.url));
execFileSync(
  esbuild,
  [
    join(here, 'memory-store.ts'),
    '--bundle',
    '--platform=node',
    '--format=esm',
    `--outfile=${out}`,
    '--log-level=warning',
  ],
  {
    stdio: 'inherit',
    cwd: join(here, '..'),
  },
);
execFileSync(process.execPath, [out], { stdio: 'inherit', cwd: join(here, '..') });
