import { functionAt, intAt, isObject, knownKeys } from '@switchyard/internals';
import { LRUCache } from 'lru-cache';
import type { CacheEntry, CacheStore } from '../types.js';

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /**
   * Bytes the entries may take in memory, as `entrySize` counts them (key, headers,
   * `Vary` values, tags, body, and the objects around them); the least recently used go
   * first (nginx `max_size`). @default 67108864 (64 MiB)
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

/** Every key of {@link MemoryStoreOptions}: any other is refused. */
const MEMORY_STORE_KEYS = Object.keys({
  maxSizeBytes: true,
  inactiveMs: true,
  now: true,
} satisfies Record<keyof MemoryStoreOptions, true>);

/*
 * What an entry really holds in a Node process, so that `maxSizeBytes` bounds the memory
 * the store keeps (heap and ArrayBuffers after GC), not only its bodies. Object sizes are
 * V8's on 64-bit Node without pointer compression (Node's own builds); the fixed part was
 * measured once with the `memory` section of bench/cache.mjs (Node 20.20, x64), the sums
 * of which are in bench/RESULTS-cache.md. A build with pointer compression takes less, so
 * it stays within the bound.
 */

/**
 * What every entry costs besides its strings, arrays and body bytes: the entry object with
 * its 12 fields and the boxed numbers of its times (152 B), the body's `Buffer` and
 * `ArrayBuffer` objects (144 B), the wrapper of the key, a concatenation that the `Map`
 * flattens (32 B), and lru-cache's slot in its seven per-slot arrays (key, value, next,
 * prev, ttl, start, size; grown by half when full) with the slot's entry in its `Map`
 * (table doubled when full), about 150 B. bench/cache.mjs measured 450–530 B in all, with
 * how full those tables happened to be; 480 B is the middle.
 */
const ENTRY_OVERHEAD_BYTES = 480;
/** A flat string's header: map, hash, length; its characters follow, rounded up to 8 bytes. */
const STRING_HEADER_BYTES = 16;
/** An array's object (map, properties, elements, length): all an empty array takes. */
const ARRAY_BYTES = 32;
/** The header of a non-empty array's elements (map, length). */
const ELEMENTS_HEADER_BYTES = 16;
/** One element of an array. */
const SLOT_BYTES = 8;
/** What the tag index spends per tag of an entry: the key in the tag's `Set`, with its table's slack. */
const TAG_MEMBER_BYTES = 32;
/**
 * What a tag new to the index costs (its `Set` and its slot in the index's `Map`); the
 * entry that brings the tag pays for it.
 */
const TAG_SET_BYTES = 165;

/** Any character beyond Latin-1: V8 then stores the string with 2 bytes a character, else 1. */
const TWO_BYTE = /[\u0100-\uffff]/;

function stringBytes(s: string): number {
  const chars = TWO_BYTE.test(s) ? 2 * s.length : s.length;
  return (STRING_HEADER_BYTES + chars + 7) & ~7;
}

/**
 * The elements an array filled by `push` has room for. V8 grows a full array to
 * `n + n / 2 + 16` elements for its new length `n`; header lists get two at a time (so
 * 19, 47, 89, …), which the one-at-a-time lists (vary, tags) come close to.
 */
function capacity(length: number): number {
  let room = 0;
  while (room < length) room += 2 + ((room + 2) >> 1) + 16;
  return room;
}

function stringsBytes(list: readonly string[]): number {
  let size = ARRAY_BYTES;
  if (list.length > 0) size += ELEMENTS_HEADER_BYTES + SLOT_BYTES * capacity(list.length);
  for (const s of list) size += stringBytes(s);
  return size;
}

/**
 * The bytes an entry stored under `key` is counted for: what it holds in memory — the key,
 * the header strings, the `Vary` names and the request's values stored with them, tags,
 * validators that are not among the headers, the body, and a measured overhead for the
 * objects around them and the store's own bookkeeping.
 */
export function entrySize(key: string, entry: CacheEntry): number {
  let size = ENTRY_OVERHEAD_BYTES + stringBytes(key) + entry.body.byteLength;
  size += stringsBytes(entry.headers);
  // The validators are usually the header strings themselves (a 304 may bring new ones).
  if (entry.etag !== undefined && !entry.headers.includes(entry.etag)) size += stringBytes(entry.etag);
  if (entry.lastModified !== undefined && !entry.headers.includes(entry.lastModified)) {
    size += stringBytes(entry.lastModified);
  }
  if (entry.vary !== undefined) size += stringsBytes(entry.vary);
  if (entry.variant !== undefined) size += stringBytes(entry.variant);
  size += stringsBytes(entry.tags) + TAG_MEMBER_BYTES * entry.tags.length;
  return size;
}

/**
 * The entry as the store keeps it: a body that is a view into a larger ArrayBuffer (a
 * slice of Node's 8 KiB Buffer pool, of a socket read) would keep all of it alive, so it
 * gets a buffer of its own.
 */
function owned(entry: CacheEntry): CacheEntry {
  const body = entry.body;
  if (body.byteLength === body.buffer.byteLength) return entry;
  const copy = Buffer.allocUnsafeSlow(body.byteLength);
  body.copy(copy);
  return { ...entry, body: copy };
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
  if (isObject(options)) knownKeys('', options, MEMORY_STORE_KEYS);
  const maxSize = intAt('maxSizeBytes', options.maxSizeBytes, 64 * 1024 * 1024, 1);
  const ttl = intAt('inactiveMs', options.inactiveMs, 600_000, 1);
  const now = functionAt('now', options.now);
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
    dispose: (entry, key) => untag(key, entry),
    // lru-cache reads a start time of 0 as "no ttl": keep an injected clock off 0.
    ...(now === undefined ? {} : { perf: { now: () => now() + 1 } }),
  });

  return {
    get: (key) => lru.get(key),
    set: (key, entry) => {
      const stored = owned(entry);
      let size = entrySize(key, stored);
      for (const tag of stored.tags) if (!byTag.has(tag)) size += TAG_SET_BYTES;
      lru.set(key, stored, { size });
      // Too large for the store: lru-cache refused it, so it gets no tags either.
      if (lru.peek(key) !== stored) return;
      for (const tag of stored.tags) {
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
