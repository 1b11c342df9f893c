import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';

/**
 * nginx's `$upstream_cache_status`, sent as `X-Cache-Status`.
 * - `MISS`: not in the cache; fetched (and stored when cacheable).
 * - `BYPASS`: the `bypass` predicate matched; fetched, the cache was not read.
 * - `EXPIRED`: in the cache but no longer fresh; fetched again.
 * - `STALE`: expired, served anyway: the upstream failed (`useStale`), or a background
 *   update was started.
 * - `UPDATING`: expired, served while another request refreshes it (`useStale: ['updating']`).
 * - `REVALIDATED`: expired, the upstream answered 304 to a conditional request (`revalidate`).
 * - `HIT`: fresh, served from the cache.
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#var_upstream_cache_status
 */
export type CacheStatus = 'MISS' | 'BYPASS' | 'EXPIRED' | 'STALE' | 'UPDATING' | 'REVALIDATED' | 'HIT';

/**
 * A stored body that stays where its store keeps it (the disk store's file) and is read
 * as a stream each time it is sent, never whole into memory.
 *
 * @example
 * ```ts
 * const entry = await store.get(key);
 * if (entry !== undefined && !Buffer.isBuffer(entry.body)) entry.body.stream().pipe(res);
 * ```
 */
export interface StreamedBody {
  /** The body's length in bytes (sent as `Content-Length`). */
  readonly length: number;
  /**
   * A new stream of the whole body. It opens its file on the first read, so a stream
   * that is never read holds nothing; one that is read must be read to its end or
   * destroyed. It fails (and is destroyed) when the stored body is gone or was replaced.
   */
  stream(): Readable;
}

/**
 * One stored response, as a {@link CacheStore} keeps it. Stores must treat it as immutable.
 * `Body` is `Buffer` for stores that hold bodies in memory (memory, Redis); a store that
 * streams them (disk) also gives {@link StreamedBody} bodies.
 */
export interface CacheEntry<Body extends Buffer | StreamedBody = Buffer> {
  /** Status code of the stored response. */
  readonly status: number;
  /**
   * Response headers as a flat `[name, value, …]` list, names lowercased, without
   * hop-by-hop headers, `Date`, `Content-Length` and the cache status header.
   */
  readonly headers: readonly string[];
  /** The whole body, or (from a streaming store) a way to read it. */
  readonly body: Body;
  /**
   * When it was stored (or last revalidated), ms since the epoch, from the cache's clock.
   * With `semantics: 'rfc9111'`, the moment its age was 0 (`response_time -
   * corrected_initial_age`, RFC 9111 §4.2.3), so that its age is `now - storedAt`.
   */
  readonly storedAt: number;
  /** Fresh while `now < expiresAt` (nginx `valid_sec`), ms since the epoch. */
  readonly expiresAt: number;
  /** After `expiresAt`, how long it may be served while being updated (`stale-while-revalidate`), ms. */
  readonly updatingMs: number;
  /** After `expiresAt`, how long it may be served when the upstream fails (`stale-if-error`), ms. */
  readonly errorMs: number;
  /** The `ETag` to revalidate with (nginx keeps validators of 200 and 206 responses only). */
  readonly etag: string | undefined;
  /** The `Last-Modified` to revalidate with. */
  readonly lastModified: string | undefined;
  /** Lowercased names from the response's `Vary`, when it had one. */
  readonly vary: readonly string[] | undefined;
  /** The request's values of the `vary` headers when the entry was stored. */
  readonly variant: string | undefined;
  /** Surrogate keys / cache tags of the response, for purge by tag. */
  readonly tags: readonly string[];
}

/**
 * Where entries live. `get` may answer synchronously (memory) or with a promise (Redis);
 * a promise that rejects means "the store is unavailable": the cache then goes upstream
 * and reports a `CacheStoreError`, it never fails the request.
 *
 * Entries stay in a store after they expire (they can still be served stale or
 * revalidated) until they sit unused for the store's inactivity time, like nginx's
 * `inactive`.
 *
 * `Body` is what the store's entries hold: `Buffer` (memory, Redis), or
 * `Buffer | StreamedBody` for a store that streams bodies from where it keeps them
 * (disk). A store only gets back entries it gave, or ones with `Buffer` bodies.
 */
export interface CacheStore<Body extends Buffer | StreamedBody = Buffer> {
  /** The entry stored under `key`, counting as a use; `undefined` when there is none. */
  get(key: string): CacheEntry<Body> | undefined | Promise<CacheEntry<Body> | undefined>;
  /** Stores (or replaces) the entry under `key`. */
  set(key: string, entry: CacheEntry<Body>): void | Promise<void>;
  /** Removes the entry under `key`; `true` when there was one. */
  delete(key: string): boolean | Promise<boolean>;
  /** Removes every entry whose key starts with `prefix`; how many were removed. */
  deletePrefix(prefix: string): number | Promise<number>;
  /** Removes every entry carrying `tag`; how many were removed. */
  deleteTag(tag: string): number | Promise<number>;
  /**
   * How many bytes the entries take now, and the limit, when the store knows them cheaply;
   * the cache reports them as `size` and `maxSize` in {@link CacheStats}.
   */
  usage?(): {
    /** Bytes the entries take now. */
    sizeBytes: number;
    /** The most the entries may take (nginx `max_size`); `undefined` without a limit. */
    maxSizeBytes: number | undefined;
    /** `true` while the store's cache loader is still indexing what it holds. @default false */
    cold?: boolean;
  };
}

/** What the cache reads of a request. */
export interface CacheRequest {
  /** The request method as received, e.g. `GET`. */
  readonly method: string;
  /** The request-target in origin form, `/path?query` (nginx `$request_uri`). */
  readonly url: string;
  /** The request headers, names lowercased (Node's `req.headers`). */
  readonly headers: IncomingHttpHeaders;
  /** `http` or `https` (`$scheme`). @default 'http' */
  readonly scheme?: string;
  /**
   * nginx `$proxy_host`: the upstream's name as the proxy knows it. @default the `Host`
   * request header
   */
  readonly proxyHost?: string;
  /**
   * The `Host` the proxy sends upstream when it is the client's own (the proxy's
   * `host: 'preserve'`): the upstream may answer by it, so the default key ends with it
   * (after a space), and one client's `Host` cannot fill another's page. Absent when the
   * proxy sends a Host of its own, as nginx does (`$proxy_host`).
   */
  readonly upstreamHost?: string;
}

/** A response the cache answers with, instead of (or before) the upstream's. */
export interface CachedResponse {
  /** The status code to send. */
  readonly status: number;
  /**
   * The headers to send, as a flat `[name, value, …]` list, `Content-Length` and the
   * cache status header included.
   */
  readonly headers: string[];
  /**
   * The body to send, or `null` when none must be sent (a `HEAD` request). A stream (from
   * a streaming store such as the disk store) must be piped to the client, and destroyed
   * if the client goes away first; it may fail midway (its file was replaced or broke),
   * and the client's response must then be cut off.
   */
  readonly body: Buffer | Readable | null;
  /** The length of `body` in bytes (`0` when it is `null`). */
  readonly bodyLength: number;
  /** The cache status it is served with. */
  readonly cacheStatus: CacheStatus;
  /**
   * Call it once the response has finished (its `'finish'` event), when the body was
   * written whole and nothing keeps it: the store reuses the body's memory for its next
   * read. Set only on a `HIT` whose body a store lent from its read buffers (the disk
   * store); a sender that does not call it leaves the body to the garbage collector.
   */
  readonly finished?: () => void;
}

/**
 * One upstream exchange the cache follows: the request to send, and hooks that receive
 * the response. Hooks after the exchange ended (by `end`, `abort`, `fail`, or a `head`
 * that returned a replacement) are ignored, so calling `abort` again is always safe.
 */
export interface CacheForward {
  /**
   * The cache status to report for this exchange; `undefined` when the cache was not
   * consulted (a method outside `methods`), in which case no status header is added.
   */
  readonly cacheStatus: CacheStatus | undefined;
  /**
   * The fields the caller's own answer for this exchange carries (a 502 or 504 when the
   * upstream failed and no stale entry served): the `statusHeader` option's field with
   * `cacheStatus`, and the RFC 9211 `Cache-Status` member; empty when the cache was not
   * consulted.
   */
  readonly statusFields?: readonly string[];
  /** The method to send upstream: `GET` for a `HEAD` request (nginx `proxy_cache_convert_head`). */
  readonly method: string;
  /**
   * Request headers to change before sending: lowercased name and the value to set, or
   * `undefined` to remove it. The cache removes the client's conditional and range
   * headers (nginx does so whenever it caches) and, to revalidate, sets
   * `If-None-Match` / `If-Modified-Since` from the stored entry.
   */
  readonly requestHeaders: ReadonlyArray<readonly [name: string, value: string | undefined]>;
  /**
   * `true` for a background update: the client was already answered (from the
   * {@link CacheLookup.response}); the upstream response goes only to these hooks.
   */
  readonly background: boolean;
  /**
   * The upstream's final response head (status ≥ 200). The cache may append its status
   * header to `headers` (a flat `[name, value, …]` list, which the caller then sends).
   * Returns a response to send *instead* — the stored entry after a 304 to a
   * revalidation (`REVALIDATED`) or a stale one for a status listed in `useStale`
   * (`STALE`) — in which case the exchange is over: the upstream body is discarded.
   */
  head(status: number, headers: string[]): CachedResponse | undefined;
  /** A chunk of the upstream body, in order. */
  data(chunk: Buffer): void;
  /** The upstream body is complete: the cache stores the response if it was cacheable. */
  end(): void;
  /**
   * The upstream could not be reached or answered no head in time, and the caller gives
   * up (after its own retries). Returns a stale response to send (`useStale` `error` or
   * `timeout`), or `undefined`: the caller answers with its own 502/504.
   */
  fail(kind: 'error' | 'timeout'): CachedResponse | undefined;
  /** The exchange broke off (upstream body cut, client gone): nothing is stored. */
  abort(): void;
}

/** The answer of {@link ProxyCache.lookup}. */
export interface CacheLookup {
  /** A response to send to the client right away; `undefined` when the request goes upstream. */
  readonly response: CachedResponse | undefined;
  /**
   * The upstream exchange to perform: always present when `response` is `undefined`; with
   * a `response` too for a background update (`forward.background` is then `true`).
   */
  readonly forward: CacheForward | undefined;
}

/**
 * The contract between a cache and a reverse proxy. `@switchyard/core` declares a
 * structurally identical interface, so it can use this cache without importing it.
 *
 * How the proxy calls it, for each client request:
 * 1. Before choosing a peer: `const l = cache.lookup(req)`; it answers synchronously
 *    when the store does (memory), else with a promise that never rejects.
 * 2. If `l.response` is set, send it: status, headers (as given, they include
 *    `Content-Length`), then the body unless it is `null` — piped when it is a stream,
 *    which is destroyed if the client goes first. Then, if `l.forward` is also
 *    set, this is a background update: send the upstream request described by
 *    `l.forward` and feed its response to the hooks, writing nothing to the client.
 * 3. Otherwise send the request upstream with `l.forward.method` (may differ from the
 *    client's: `GET` for `HEAD`) and the client's headers changed by
 *    `l.forward.requestHeaders`. Retries to other peers happen as usual; the hooks only
 *    see the final outcome:
 *    - on the final response head (status ≥ 200): `const r = forward.head(status, list)`,
 *      where `list` is the flat header list about to be sent (the cache may append its
 *      status header to it). If `r` is set, send `r` instead and discard the upstream
 *      body; otherwise send the head and, for each body chunk, `forward.data(chunk)`
 *      before or after writing it, then `forward.end()` when the body is complete;
 *    - when giving up without a response head: `const r = forward.fail('error' | 'timeout')`;
 *      send `r` when set, else the proxy's own 502/504;
 *    - when the body breaks off, or the client goes away and the upstream is cancelled:
 *      `forward.abort()`.
 *
 * Every exchange must end with exactly one of `end`, `abort`, `fail` or a `head` that
 * returned a response (extra calls are ignored), or a cache lock and an "updating" mark
 * stay held until `lockAgeMs`.
 *
 * @example
 * ```ts
 * const cache = createCache({ valid: { 200: '1s' }, lock: true });
 * const proxy = createProxy({ upstream, cache }); // core calls cache.lookup(...)
 * ```
 */
export interface ProxyCache {
  /** Looks the request up and says what to do with it. */
  lookup(req: CacheRequest): CacheLookup | Promise<CacheLookup>;
}
