#!/usr/bin/env node
// `pnpm mutation [group…] [--stryker-flag…]`: runs Stryker over each named group (all when
// none), one after another, with reports in reports/mutation/; flags such as
// `--incremental` or `--concurrency=1` go to Stryker. Run on demand; CI and `pnpm test`
// never do.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { groups } from './mutation-groups.mjs';

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const asked = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const unknown = asked.filter((g) => !(g in groups));
if (unknown.length > 0) {
  console.error(`unknown group ${unknown.join(', ')}; the groups are ${Object.keys(groups).join(', ')}`);
  process.exit(2);
}
const names = asked.length > 0 ? asked : Object.keys(groups);
const scores = [];
let status = 0;
for (const name of names) {
  console.log(`\n== mutation: ${name} ==`);
  const run = spawnSync('pnpm', ['exec', 'stryker', 'run', 'stryker.config.mjs', ...flags], {
    stdio: 'inherit',
    env: { ...process.env, SWY_MUTATION_GROUP: name, SWY_MUTATION_TESTS: groups[name].tests.join(',') },
  });
  if (run.status !== 0) status = 1;
  scores.push([name, run.status === 0 ? score(name) : 'failed']);
}
console.log('\nmutation score, (killed + timeout) / (killed + timeout + survived + no coverage):');
for (const [name, s] of scores) console.log(`  ${name.padEnd(16)} ${s}`);
process.exit(status);

/** The mutation score of a group's JSON report, as Stryker computes it (covered and uncovered). */
function score(name) {
  const report = JSON.parse(readFileSync(`reports/mutation/${name}.json`, 'utf8'));
  let detected = 0;
  let valid = 0;
  for (const file of Object.values(report.files)) {
    for (const m of file.mutants) {
      if (m.status === 'Killed' || m.status === 'Timeout') detected++;
      if (m.status !== 'Ignored' && m.status !== 'CompileError' && m.status !== 'RuntimeError') valid++;
    }
  }
  return `${((100 * detected) / valid).toFixed(2)} % (${detected}/${valid})`;
}
