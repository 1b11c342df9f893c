import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, it } from 'vitest';
import { repoRoot } from '../src/index.js';

// Not the repository's: installed, built or generated folders (a mutation run's sandbox copies the tests).
const SKIP = new Set(['node_modules', 'dist', '.git', 'fixtures', 'api', '.stryker-tmp', 'reports']);

/** Every file under `dir` named like a test (`*.test.*`, `*.spec.*`), relative to the root. */
function testFilesOnDisk(dir: string, found: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP.has(entry.name)) testFilesOnDisk(join(dir, entry.name), found);
    } else if (/\.(test|spec)\.[cm]?[jt]sx?$/.test(entry.name)) {
      found.push(relative(repoRoot, join(dir, entry.name)));
    }
  }
  return found;
}

it('runs every test file in the repository: none sits where the suite does not look', () => {
  const list = spawnSync(
    process.execPath,
    ['node_modules/vitest/vitest.mjs', 'list', '--filesOnly', '--json'],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  expect(list.status).toBe(0);
  const collected = (JSON.parse(list.stdout) as Array<{ file: string }>).map((f) =>
    relative(repoRoot, f.file),
  );
  const onDisk = testFilesOnDisk(repoRoot);
  expect(onDisk.length).toBeGreaterThan(50);
  expect(onDisk.filter((f) => !collected.includes(f))).toEqual([]);
});
