// cache.mjs, disk section: the reference, the 100 KiB page cached in memoryStore().
import { memoryStore } from '@switchyard/cache';
import { startWithStore } from './cache-disk-common.mjs';

export function start() {
  return startWithStore(memoryStore());
}
