// bench/limit.mjs: the bare switchyard proxy with one limit_req and one limit_conn on memory stores.
import { benchLimits, startLimitProxy } from './limit-common.mjs';

export async function start(targets) {
  return startLimitProxy(targets, benchLimits());
}
