// run.mjs with BENCH_BASE: the `switchyard-bare` contender on the base checkout's build.
import { importBase } from '../lib/base.mjs';
import { startWith } from './switchyard-bare.mjs';

export async function start(targets) {
  return startWith(await importBase('core', 'index.js'), targets);
}
