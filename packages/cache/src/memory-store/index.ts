import { LRUCache } from 'lru-cache';
import { InvalidOptionError } from '../errors.js';
import type { CacheEntry, CacheStore } from '../types.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Bytes the entries may take (key, headers, body and a fixed overhead each); the least
   * recently used go first (nginx `max_size`). @default 67108864 (64 MiB)
   */
  maxSizeBytes?: number;
  /**
   * An entry not used for this long is removed, fresh or not (nginx `inactive`).
   * @default 600000
   */
  inactiveMs?: number;
  /** The clock, in ms; only differences are used. @default Date.now */
  now?: () => number;
}

/** What an entry costs beyond its bytes: the objects around it. */
const ENTRY_OVERHEAD_BYTES = 160;

/** The bytes an entry is counted for. */
export function entrySize(key: string, entry: CacheEntry): number {
  let size = ENTRY_OVERHEAD_BYTES + key.length * 2 + entry.body.length;
  for (const h of entry.headers) size += h.length;
  for (const t of entry.tags) size += t.length * 2;
  return size;
}

function positiveInteger(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidOptionError(path, 'a positive integer', value);
  }
  return value;
}

/**
 * An in-process cache store on lru-cache, bounded by bytes: least recently used entries
 * are evicted first, and entries unused for `inactiveMs` are dropped whatever their
 * freshness — nginx's `max_size` and `inactive` of `proxy_cache_path`. Answers
 * synchronously. Keeps a tag index for purge by tag.
 *
 * @example
 * ```ts
 * const cache = createCache({ store: memoryStore({ maxSizeBytes: 256 * 1024 * 1024, inactiveMs: 3_600_000 }) });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_path
 */
export function memoryStore(options: MemoryStoreOptions = {}): CacheStore {
  const maxSize = positiveInteger(options.maxSizeBytes ?? 64 * 1024 * 1024, 'maxSizeBytes');
  const ttl = positiveInteger(options.inactiveMs ?? 600_000, 'inactiveMs');
  const now = options.now;
  if (now !== undefined && typeof now !== 'function') throw new InvalidOptionError('now', 'a function', now);
  const byTag = new Map<string, Set<string>>();

  const untag = (key: string, entry: CacheEntry): void => {
    for (const tag of entry.tags) {
      const keys = byTag.get(tag);
      if (keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) byTag.delete(tag);
    }
  };

  const lru = new LRUCache<string, CacheEntry>({
    maxSize,
    ttl,
    updateAgeOnGet: true,
    ttlAutopurge: false,
    // Read the clock on every check: an injected clock may jump.
    ttlResolution: 0,
    sizeCalculation: (entry, key) => entrySize(key, entry),
    dispose: (entry, key) => untag(key, entry),
    // lru-cache reads a start time of 0 as "no ttl": keep an injected clock off 0.
    ...(now === undefined ? {} : { perf: { now: () => now() + 1 } }),
  });

  return {
    get: (key) => lru.get(key),
    set: (key, entry) => {
      lru.set(key, entry);
      // Too large for the store: lru-cache refused it, so it gets no tags either.
      if (lru.peek(key) !== entry) return;
      for (const tag of entry.tags) {
        let keys = byTag.get(tag);
        if (keys === undefined) {
          keys = new Set();
          byTag.set(tag, keys);
        }
        keys.add(key);
      }
    },
    delete: (key) => lru.delete(key),
    deletePrefix: (prefix) => {
      const doomed: string[] = [];
      for (const key of lru.keys()) if (key.startsWith(prefix)) doomed.push(key);
      let n = 0;
      for (const key of doomed) if (lru.delete(key)) n++;
      return n;
    },
    usage: () => ({ sizeBytes: lru.calculatedSize, maxSizeBytes: maxSize }),
    deleteTag: (tag) => {
      const keys = byTag.get(tag);
      if (keys === undefined) return 0;
      let n = 0;
      for (const key of [...keys]) if (lru.delete(key)) n++;
      byTag.delete(tag);
      return n;
    },
  };
}
