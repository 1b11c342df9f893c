// cache.mjs, disk section: the 100 KiB page cached in diskStore({ levels: '1:2' }) in a
// fresh temporary directory, removed when the contender closes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diskStore } from '@switchyard/cache';
import { startWithStore } from './cache-disk-common.mjs';

export function start() {
  const path = mkdtempSync(join(tmpdir(), 'swy-bench-disk-'));
  const store = diskStore({ path, levels: '1:2' });
  return startWithStore(store, async () => {
    await store.close();
    rmSync(path, { recursive: true, force: true });
  });
}
