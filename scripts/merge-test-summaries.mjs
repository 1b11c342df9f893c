#!/usr/bin/env node
// Adds up the runs of the suite on several Node versions (.ci/run) into the one closing
// line `N passed, N failed`, so that CI's count is the count `npm test` prints:
//   passed: the tests that passed in every run;
//   failed: the tests (or files that could not load) that failed or were skipped in any
//           run, or that some run did not report at all.
// Each argument is a summary written by packages/testkit/src/closing-reporter.ts
// (SWY_TEST_SUMMARY). A missing summary (a run that never reached its end) fails.
import { existsSync, readFileSync } from 'node:fs';

const runs = process.argv.slice(2).map((file) => {
  if (!existsSync(file)) {
    console.log(`${file}: this run wrote no summary (it did not finish)`);
    return undefined;
  }
  return JSON.parse(readFileSync(file, 'utf8'));
});

const all = new Set(runs.flatMap((r) => (r === undefined ? [] : [...r.passed, ...r.failed, ...r.skipped])));
let passed = 0;
let failed = runs.includes(undefined) ? 1 : 0;
for (const name of all) {
  if (runs.every((r) => r?.passed.includes(name))) passed++;
  else failed++;
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
