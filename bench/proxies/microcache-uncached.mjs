// cache.mjs: examples/microcache with its cache off: every request renders the 50 ms page.
import { microcacheContender } from '../lib/microcache.mjs';

export const start = async () => microcacheContender(false);
