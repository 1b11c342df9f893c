// A vitest reporter for mutation runs only: a test file that fails to load (a throw at
// import or in a describe body) or whose setup hook fails reports no failed test, and
// Stryker's vitest runner (9.6.1) reads only failed tests, so the mutant that broke the
// file would count as survived (stryker-js#6150, #5492). This adds one failed test to each
// such file, carrying the file's error, so that mutant counts as killed.

/** @param {{ type: string, result?: { state?: string }, tasks?: unknown[] }} task */
function hasFailedTest(task) {
  if (task.type === 'test') return task.result?.state === 'fail';
  return (task.tasks ?? []).some((t) => hasFailedTest(/** @type {typeof task} */ (t)));
}

/** @param {{ type: string, result?: { state?: string }, tasks?: unknown[] }} task */
function failedSuite(task) {
  if (task.type !== 'suite' || task.result?.state !== 'fail') return false;
  return true;
}

export default class LoadFailures {
  /** @param {ReadonlyArray<{ task: any }>} testModules */
  onTestRunEnd(testModules) {
    for (const { task: file } of testModules) {
      if (file.result?.state !== 'fail' || hasFailedTest(file)) continue;
      const broken = [file, ...flatten(file)].find(failedSuite) ?? file;
      file.tasks.push({
        type: 'test',
        id: `${file.id}_load`,
        name: 'loads and sets up',
        mode: 'run',
        file,
        suite: undefined,
        meta: {},
        annotations: [],
        artifacts: [],
        context: {},
        result: {
          state: 'fail',
          errors: broken.result?.errors ?? [{ message: 'the test file failed to load' }],
        },
      });
    }
  }
}

/** @param {{ tasks?: any[] }} suite @returns {any[]} */
function flatten(suite) {
  return (suite.tasks ?? []).flatMap((t) => [t, ...flatten(t)]);
}
