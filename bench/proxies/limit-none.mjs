// bench/limit.mjs: the bare switchyard proxy without limits (as switchyard-bare.mjs, with stats()).
import { startLimitProxy } from './limit-common.mjs';

export async function start(targets) {
  return startLimitProxy(targets, null);
}
