/**
 * @switchyard/cache — nginx `proxy_cache` semantics for the proxy and for any Node
 * handler. The cache itself arrives with its own issue; this entry declares the store
 * contract it will be built on.
 * @packageDocumentation
 */

/** One stored response. */
export interface CacheEntry {
  /** Status code of the stored response. */
  status: number;
  /** Response headers as a flat `[name, value, …]` list. */
  headers: string[];
  /** The body. */
  body: Buffer;
  /** When the entry stops being fresh, ms since the epoch. */
  expiresAt: number;
}

/** Where entries live; `get` may answer synchronously (memory) or not (Redis). */
export interface CacheStore {
  /** The entry for a key, if stored. */
  get(key: string): CacheEntry | undefined | Promise<CacheEntry | undefined>;
  /** Stores an entry. */
  set(key: string, entry: CacheEntry): void | Promise<void>;
  /** Removes an entry; `true` if there was one. */
  delete(key: string): boolean | Promise<boolean>;
}
