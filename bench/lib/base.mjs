// BENCH_BASE: another checkout of switchyard, built (`pnpm install && pnpm run build` there),
// whose packages the base-* contenders run, for an A/B of two versions in one run.
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The module `file` of package `pkg`'s dist in the BENCH_BASE checkout. */
export function importBase(pkg, file) {
  const root = process.env.BENCH_BASE;
  if (!root) throw new Error('BENCH_BASE: the path of another built checkout is needed');
  return import(pathToFileURL(join(resolve(root), 'packages', pkg, 'dist', file)).href);
}

/** How the tables name the BENCH_BASE checkout: its path and, when git knows it, its commit. */
export function baseName() {
  const root = process.env.BENCH_BASE;
  try {
    const commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
    return `${root} (commit ${commit})`;
  } catch {
    return root;
  }
}
