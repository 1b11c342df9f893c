import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import type { RunSummary } from '../src/closing-reporter.js';
import { repoRoot } from '../src/index.js';

const config = fileURLToPath(new URL('./fixtures/closing/vitest.config.ts', import.meta.url));

it('counts a test file that cannot load as a failure in the closing line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-closing-'));
  try {
    const summaryFile = join(dir, 'summary.json');
    const run = spawnSync(
      process.execPath,
      [join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', '--config', config],
      {
        cwd: repoRoot,
        encoding: 'utf8',
        env: { ...process.env, SWY_TEST_SUMMARY: summaryFile, NO_COLOR: '1', REDIS_URL: 'unused' },
        timeout: 60_000,
      },
    );
    expect(run.status).toBe(1);
    const lines = run.stdout.trim().split('\n');
    expect(lines.at(-1)).toBe('1 passed, 2 failed');
    expect(lines.filter((l) => l.startsWith('failed outside a test:'))).toEqual([
      expect.stringMatching(
        /^failed outside a test: breaks\.fixture\.ts: ENOENT: .*not-in-the-repository\.json/,
      ),
    ]);
    const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as RunSummary;
    summary.failed.sort();
    expect(summary).toEqual({
      passed: ['passes.fixture.ts > adds'],
      skipped: [],
      failed: ['breaks.fixture.ts (the file itself)', 'passes.fixture.ts > fails on purpose'],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

it('names the tests a filter left out as skipped, not as passed', () => {
  const run = spawnSync(
    process.execPath,
    [join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', '--config', config, '-t', 'adds'],
    { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 },
  );
  expect(run.stdout.trim().split('\n').at(-1)).toBe('1 passed, 1 failed, 1 skipped');
}, 60_000);
