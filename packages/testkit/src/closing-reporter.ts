import { writeFileSync } from 'node:fs';
import type { SerializedError } from 'vitest';
import type { Reporter, TestModule } from 'vitest/node';

/** What one run decided, test by test: written for `.ci/run` to add runs up. */
export interface RunSummary {
  /** `file > describe > test` of each test that passed. */
  passed: string[];
  /** The same for each failure; a file that could not load is one failure named by the file. */
  failed: string[];
  /** The tests a filter (`-t`, a file list) left out of this run. */
  skipped: string[];
}

/**
 * Ends the run with one line, `N passed, N failed` (`, N skipped` when a filter left
 * tests out), in which a test file that could not
 * load (or whose hooks failed outside any test) and each unhandled error count as a
 * failure. Without this, a file that throws while loading takes its tests out of the
 * count, and the closing line still reads as a pass with fewer tests.
 *
 * With `SWY_TEST_SUMMARY=path` it also writes the {@link RunSummary} there as JSON.
 */
export default class ClosingReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<SerializedError>): void {
    const summary: RunSummary = { passed: [], failed: [], skipped: [] };
    const broken: string[] = [];
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const name = `${m.relativeModuleId} > ${t.fullName}`;
        const state = t.result().state;
        if (state === 'passed') summary.passed.push(name);
        else if (state === 'skipped') summary.skipped.push(name);
        else summary.failed.push(name);
      }
      const errors = m.errors();
      if (errors.length > 0) {
        summary.failed.push(`${m.relativeModuleId} (the file itself)`);
        broken.push(`${m.relativeModuleId}: ${firstLine(errors[0])}`);
      }
    }
    for (const e of unhandled) {
      summary.failed.push(`unhandled error: ${firstLine(e)}`);
      broken.push(`unhandled error: ${firstLine(e)}`);
    }
    const out = process.env.SWY_TEST_SUMMARY;
    if (out !== undefined && out !== '') writeFileSync(out, JSON.stringify(summary));
    for (const line of broken) console.log(`failed outside a test: ${line}`);
    // The suite skips nothing by itself (biome refuses .skip and .only): skipped tests are
    // those a filter left out, and they are named in the count.
    const skipped = summary.skipped.length > 0 ? `, ${summary.skipped.length} skipped` : '';
    console.log(`${summary.passed.length} passed, ${summary.failed.length} failed${skipped}`);
  }
}

function firstLine(e: SerializedError | undefined): string {
  return String(e?.message ?? e?.name ?? 'unknown error').split('\n')[0] ?? '';
}
