/**
 * @switchyard/cache — an HTTP cache with nginx `proxy_cache` semantics, for the
 * switchyard proxy (through the {@link ProxyCache} contract) and for any Node handler
 * (microcaching), with a memory store (lru-cache), a disk store and a Redis store.
 * @packageDocumentation
 */

export {
  type Cache,
  type CacheOptions,
  type CacheOutcomeStats,
  type CacheResponseHead,
  type CacheSemantics,
  type CacheStats,
  type CacheWriteStats,
  createCache,
  type UseStaleCondition,
} from './cache/index.js';
export { type DiskStore, type DiskStoreOptions, diskStore } from './disk-store/index.js';
export { parseDuration } from './duration/index.js';
export { CacheStoreError, InvalidOptionError, SwitchyardError } from './errors.js';
export { compileKey, DEFAULT_KEY, type KeyOption } from './key/index.js';
export { type MemoryStoreOptions, memoryStore } from './memory-store/index.js';
export {
  type CacheMiddleware,
  cacheHandler,
  cacheMiddleware,
  cacheRequestOf,
  type NextFunction,
  type RequestHandler,
} from './middleware/index.js';
export type { IgnorableHeader, ValidOption } from './policy/index.js';
export {
  type RedisCommandClient,
  type RedisCommandOptions,
  type RedisStoreOptions,
  redisStore,
} from './redis-store/index.js';
export type {
  CachedResponse,
  CacheEntry,
  CacheForward,
  CacheLookup,
  CacheRequest,
  CacheStatus,
  CacheStore,
  ProxyCache,
  StreamedBody,
} from './types.js';
