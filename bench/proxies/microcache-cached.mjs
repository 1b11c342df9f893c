// cache.mjs: examples/microcache as it is: the 50 ms page cached for 1 s (lock, stale while updating).
import { microcacheContender } from '../lib/microcache.mjs';

export const start = async () => microcacheContender(true);
