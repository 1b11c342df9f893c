import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { boolAt, functionAt, hasCode, intAt, knownKeys, objectAt, oneOf } from '@switchyard/internals';
import { CacheStoreError, InvalidOptionError } from '../errors.js';
import { firstHeader } from '../headers/index.js';
import { compileKey, type KeyOption } from '../key/index.js';
import { takeBack } from '../lent.js';
import { memoryStore } from '../memory-store/index.js';
import {
  type CacheMiddleware,
  cacheHandler,
  cacheMiddleware,
  type RequestHandler,
} from '../middleware/index.js';
import {
  freshness,
  type HeaderRules,
  type IgnorableHeader,
  notModified,
  resolveHeaderRules,
  resolveValid,
  type StaleCause,
  staleServes,
  tagsOf,
  type ValidOption,
  type ValidTable,
  validFor,
  variantOf,
  varyNames,
} from '../policy/index.js';
import {
  byteRange,
  type CacheStatusParams,
  cacheStatusValue,
  invalidatedTargets,
  invalidates,
  NO_REQUEST_DIRECTIVES,
  type RequestDirectives,
  type RfcSettings,
  requestDirectives,
  rfcFreshness,
  rfcNotModified,
  stalePermission,
  UNSTORED_FIELDS,
  usable,
  withheldFields,
} from '../rfc9111/index.js';
import type {
  CachedResponse,
  CacheEntry,
  CacheForward,
  CacheLookup,
  CacheRequest,
  CacheStatus,
  CacheStore,
  ProxyCache,
  StreamedBody,
} from '../types.js';

/** An entry as the cache handles it: a Buffer body, or a streamed one (disk store). */
type Entry = CacheEntry<Buffer | StreamedBody>;

/**
 * When an expired entry may be served instead of the upstream's answer (nginx
 * `proxy_cache_use_stale`): the upstream failed (`error`), timed out (`timeout`),
 * answered one of these statuses (`http_…`), or another request is already refreshing
 * the entry (`updating`).
 */
export type UseStaleCondition =
  | 'error'
  | 'timeout'
  | 'updating'
  | 'http_500'
  | 'http_502'
  | 'http_503'
  | 'http_504'
  | 'http_403'
  | 'http_404'
  | 'http_429';

const USE_STALE = new Set<string>([
  'error',
  'timeout',
  'updating',
  'http_500',
  'http_502',
  'http_503',
  'http_504',
  'http_403',
  'http_404',
  'http_429',
]);

/** Statuses nginx may replace with a stale entry (its `ngx_http_upstream_next_errors`). */
const STALE_STATUSES = new Set([500, 502, 503, 504, 403, 404, 429]);

/** What `noCache` sees of the upstream response. */
export interface CacheResponseHead {
  /** The status code. */
  readonly status: number;
  /** The headers, a flat `[name, value, …]` list. */
  readonly headers: readonly string[];
}

/** Responses and bytes served with one cache status. */
export interface CacheOutcomeStats {
  /** Responses sent with this status. */
  responses: number;
  /** Body bytes of those responses. */
  bytes: number;
}

/** Responses and bytes of a status that goes upstream, and what of it was stored. */
export interface CacheWriteStats extends CacheOutcomeStats {
  /** Responses stored in the cache. */
  responsesWritten: number;
  /** Body bytes stored in the cache. */
  bytesWritten: number;
}

/**
 * The statistics of a cache, shaped as NGINX Plus reports a cache zone
 * (`/api/9/http/caches/{zone}`), so a cache can be handed to core's admin API as a zone.
 * Counted per process; background updates count as written under `expired`.
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#def_nginx_http_cache
 */
export interface CacheStats {
  /** Bytes the entries take, when the store tells (the memory store does). */
  size?: number;
  /** The store's limit in bytes, when it has one. */
  maxSize?: number;
  /** `true` while the store's cache loader is still indexing what it holds (disk store). */
  cold: boolean;
  /** Served fresh from the cache (`HIT`). */
  hit: CacheOutcomeStats;
  /** Served expired: upstream failed, or a background update started (`STALE`). */
  stale: CacheOutcomeStats;
  /** Served expired while another request refreshes it (`UPDATING`). */
  updating: CacheOutcomeStats;
  /** Served after a 304 to a revalidation (`REVALIDATED`). */
  revalidated: CacheOutcomeStats;
  /** Not in the cache, fetched (`MISS`). */
  miss: CacheWriteStats;
  /** Expired, fetched again (`EXPIRED`). */
  expired: CacheWriteStats;
  /** Not looked up (`BYPASS`). */
  bypass: CacheWriteStats;
}

type Counted = 'hit' | 'stale' | 'updating' | 'revalidated' | 'miss' | 'expired' | 'bypass';

function zeroStats(): Omit<CacheStats, 'size' | 'maxSize'> {
  const o = () => ({ responses: 0, bytes: 0 });
  const w = () => ({ responses: 0, bytes: 0, responsesWritten: 0, bytesWritten: 0 });
  return {
    cold: false,
    hit: o(),
    stale: o(),
    updating: o(),
    revalidated: o(),
    miss: w(),
    expired: w(),
    bypass: w(),
  };
}

/**
 * Which caching rules a cache follows: nginx `proxy_cache` (`'nginx'`), or a standard
 * shared cache (`'rfc9111'`, RFC 9111 with RFC 5861).
 */
export type CacheSemantics = 'nginx' | 'rfc9111';

/** RFC 9211 `Cache-Status` parameters that say why a request went upstream. */
type Fwd = NonNullable<CacheStatusParams['fwd']>;

/** Cap of a Last-Modified heuristic lifetime in `'rfc9111'` mode (RFC 9111 §4.2.2). */
const HEURISTIC_MAX_MS = 24 * 3600 * 1000;

/** Options of {@link createCache}; each mirrors the nginx directive it names. */
export interface CacheOptions {
  /**
   * The caching rules: nginx's (`'nginx'`), or a standard shared cache's (`'rfc9111'`):
   * RFC 9111 freshness with Age and heuristics, request directives, invalidation by
   * unsafe methods, RFC 5861 stale windows. See the README's "RFC 9111 mode".
   * @default 'nginx'
   * @see https://www.rfc-editor.org/rfc/rfc9111
   */
  semantics?: CacheSemantics;
  /**
   * The cache's name in the RFC 9211 `Cache-Status` response header, added beside
   * `statusHeader` in both modes; `false` for no `Cache-Status`.
   * @default 'switchyard'
   * @see https://www.rfc-editor.org/rfc/rfc9211
   */
  cacheStatusName?: string | false;
  /** Where entries live. @default memoryStore({ now }) */
  store?: CacheStore<Buffer | StreamedBody>;
  /**
   * Lifetimes by status when the response gives none (`proxy_cache_valid`). Without it,
   * only responses that carry their own lifetime (X-Accel-Expires, Cache-Control,
   * Expires) are cached. @default {}
   */
  valid?: ValidOption;
  /** The cache key (`proxy_cache_key`). @default '$scheme$proxy_host$request_uri' */
  key?: KeyOption;
  /**
   * Methods whose responses are cached (`proxy_cache_methods`); GET and HEAD are always
   * added, as nginx does. A HEAD is answered from a GET entry, and fetched as GET.
   * @default ['GET', 'HEAD']
   */
  methods?: readonly string[];
  /** A response is stored once its key was requested this many times (`proxy_cache_min_uses`). @default 1 */
  minUses?: number;
  /** When it returns true, the cache is not read (X-Cache-Status `BYPASS`); the response may still be stored (`proxy_cache_bypass`). */
  bypass?: (req: CacheRequest) => boolean;
  /** When it returns true, the response is not stored (`proxy_no_cache`). */
  noCache?: (req: CacheRequest, res: CacheResponseHead) => boolean;
  /** When an expired entry may be served (`proxy_cache_use_stale`). @default [] */
  useStale?: readonly UseStaleCondition[];
  /**
   * Serve the expired entry at once (`STALE`) and refresh it in the background
   * (`proxy_cache_background_update`); needs `useStale: ['updating']` or a
   * `stale-while-revalidate` from the response. @default false
   */
  backgroundUpdate?: boolean;
  /**
   * One request per key populates a new entry; the others wait for it
   * (`proxy_cache_lock`). @default false
   */
  lock?: boolean;
  /** How long a request waits for the lock, then goes upstream and its response is not stored (`proxy_cache_lock_timeout`). @default 5000 */
  lockTimeoutMs?: number;
  /**
   * A request holding the lock (or refreshing an expired entry) for longer than this
   * lets one more request go upstream (`proxy_cache_lock_age`). @default 5000
   */
  lockAgeMs?: number;
  /** Refresh expired entries with a conditional request (`If-None-Match`, `If-Modified-Since`) (`proxy_cache_revalidate`). @default false (`true` with `semantics: 'rfc9111'`) */
  revalidate?: boolean;
  /** Response headers whose caching rule is switched off (`proxy_ignore_headers`). @default [] */
  ignoreHeaders?: readonly IgnorableHeader[];
  /** Bodies larger than this stream through uncached. @default 1048576 (1 MiB) */
  maxEntryBytes?: number;
  /** The response header that carries the cache status, or `false` for none. @default 'X-Cache-Status' */
  statusHeader?: string | false;
  /** Response headers that name the tags of an entry, for {@link Cache.purgeTag}. @default ['Surrogate-Key', 'Cache-Tag'] */
  tagHeaders?: readonly string[];
  /** The clock, ms since the epoch (Expires and `@epoch` times are compared with it). @default Date.now */
  now?: () => number;
  /** Told when the store fails; the request then goes upstream. */
  onStoreError?: (error: CacheStoreError) => void;
}

/**
 * A cache with nginx `proxy_cache` semantics: a {@link ProxyCache} for the proxy, a
 * middleware for any Node handler, and purge.
 */
export interface Cache extends ProxyCache {
  /** The store in use. */
  readonly store: CacheStore<Buffer | StreamedBody>;
  /**
   * Connect/Express middleware (also usable in a plain `node:http` listener) that caches
   * what the rest of the chain answers. See {@link cacheMiddleware}.
   */
  middleware(): CacheMiddleware;
  /** Wraps a `node:http` handler so that its responses are cached. See {@link cacheHandler}. */
  handler(fn: RequestHandler): (req: IncomingMessage, res: ServerResponse) => void;
  /** The key of a request, as the cache computes it. */
  keyOf(req: CacheRequest): string;
  /**
   * Removes entries by key: an exact key (with all its `Vary` variants), or every key
   * starting with a prefix when `pattern` ends with `*` (NGINX Plus `proxy_cache_purge`).
   * Resolves to how many entries went; rejects with a `CacheStoreError` if the store fails.
   */
  purge(pattern: string): Promise<number>;
  /** Removes every entry whose response named `tag` in a tag header (Surrogate-Key, Cache-Tag). */
  purgeTag(tag: string): Promise<number>;
  /** Hits, misses and the rest, with bytes, as NGINX Plus reports a cache zone (fits core's `CacheZone`). */
  stats(): CacheStats;
  /** Zeroes the counters of {@link Cache.stats}. */
  resetStats(): void;
}

/** Headers that describe one connection, not the stored response (RFC 9110 §7.6.1), and ours. */
const NOT_STORED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'date',
  'content-length',
]);

/** Request headers nginx clears when it caches (ngx_http_proxy_cache_headers). */
const CLIENT_CONDITIONALS = [
  'if-modified-since',
  'if-unmodified-since',
  'if-none-match',
  'if-match',
  'range',
  'if-range',
];

/** Separates a key from the variant part of a secondary (Vary) key. */
export const VARIANT_SEPARATOR = '\n';

const FAILED = Symbol('store failed');
type Got = Entry | undefined | typeof FAILED;

/** A request populating or refreshing a key; others wait on it or serve stale. */
class Pending {
  readonly since: number;
  private waiters: ((entry: Entry | undefined) => void)[] = [];
  constructor(since: number) {
    this.since = since;
  }
  wait(fn: (entry: Entry | undefined) => void): void {
    this.waiters.push(fn);
  }
  settle(entry: Entry | undefined): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w(entry);
  }
}

/**
 * Every option of {@link createCache}: a key not here is refused, as a typo must not pass
 * silently. A `Record` over `keyof CacheOptions`, so an option added to the type and not
 * here fails to compile.
 */
const OPTION_KEYS = Object.keys({
  semantics: true,
  cacheStatusName: true,
  store: true,
  valid: true,
  key: true,
  methods: true,
  minUses: true,
  bypass: true,
  noCache: true,
  useStale: true,
  backgroundUpdate: true,
  lock: true,
  lockTimeoutMs: true,
  lockAgeMs: true,
  revalidate: true,
  ignoreHeaders: true,
  maxEntryBytes: true,
  statusHeader: true,
  tagHeaders: true,
  now: true,
  onStoreError: true,
} satisfies Record<keyof CacheOptions, true>);

/** The settled options, shared by every exchange of one cache. */
class Engine implements Cache {
  readonly store: CacheStore<Buffer | StreamedBody>;
  readonly valid: ValidTable;
  readonly rules: HeaderRules;
  readonly keyFn: (req: CacheRequest) => string;
  readonly methods: ReadonlySet<string>;
  readonly minUses: number;
  readonly bypass: ((req: CacheRequest) => boolean) | undefined;
  readonly noCache: ((req: CacheRequest, res: CacheResponseHead) => boolean) | undefined;
  readonly useStale: ReadonlySet<string>;
  readonly backgroundUpdate: boolean;
  readonly lock: boolean;
  readonly lockTimeoutMs: number;
  readonly lockAgeMs: number;
  readonly revalidate: boolean;
  readonly maxEntryBytes: number;
  readonly statusHeader: string | undefined;
  /** `statusHeader` in lower case: a stored response drops a line of that name. */
  private readonly statusHeaderName: string | undefined;
  readonly tagHeaders: readonly string[];
  readonly now: () => number;
  readonly onStoreError: ((error: CacheStoreError) => void) | undefined;
  /** `semantics: 'rfc9111'`. */
  readonly rfc: boolean;
  /** The `Cache-Status` name, `undefined` when off. */
  readonly cacheStatusName: string | undefined;
  readonly rfcSettings: RfcSettings;
  /** Counters, by lowercased cache status. */
  counters = zeroStats();
  private readonly pending = new Map<string, Pending>();
  private readonly uses = new Map<string, number>();

  constructor(o: CacheOptions) {
    knownKeys('', objectAt('options', o), OPTION_KEYS);
    this.now = functionAt('now', o.now) ?? Date.now;
    this.rfc = oneOf('semantics', o.semantics, ['nginx', 'rfc9111'], 'nginx') === 'rfc9111';
    const csName = o.cacheStatusName ?? 'switchyard';
    // RFC 9211 §2: the cache's identifier is an sf-token (or string; we take tokens).
    if (
      csName !== false &&
      (typeof csName !== 'string' || !/^[A-Za-z*][!#$%&'*+.^_`|~\w:/-]*$/.test(csName))
    ) {
      throw new InvalidOptionError('cacheStatusName', 'a token such as "switchyard", or false', csName);
    }
    this.cacheStatusName = csName === false ? undefined : csName;
    const store = o.store ?? memoryStore({ now: this.now });
    for (const m of ['get', 'set', 'delete', 'deletePrefix', 'deleteTag'] as const) {
      if (typeof (store as unknown as Record<string, unknown>)?.[m] !== 'function') {
        throw new InvalidOptionError('store', `a CacheStore (with ${m}())`, store);
      }
    }
    this.store = store;
    this.valid = resolveValid(o.valid);
    this.rules = resolveHeaderRules(o.ignoreHeaders);
    this.keyFn = compileKey(o.key);
    const methods = new Set(['GET', 'HEAD']);
    if (o.methods !== undefined) {
      if (!Array.isArray(o.methods))
        throw new InvalidOptionError('methods', 'an array of method names', o.methods);
      for (const [i, m] of o.methods.entries()) {
        if (typeof m !== 'string' || !/^[A-Za-z]+$/.test(m)) {
          throw new InvalidOptionError(`methods[${i}]`, 'a method name', m);
        }
        methods.add(m.toUpperCase());
      }
    }
    this.methods = methods;
    this.minUses = intAt('minUses', o.minUses, 1, 1);
    this.bypass = functionAt('bypass', o.bypass);
    this.noCache = functionAt('noCache', o.noCache);
    const useStale = o.useStale ?? [];
    if (!Array.isArray(useStale)) throw new InvalidOptionError('useStale', 'an array', useStale);
    for (const [i, c] of useStale.entries()) {
      oneOf(`useStale[${i}]`, c, [...USE_STALE]);
    }
    this.useStale = new Set(useStale);
    this.backgroundUpdate = boolAt('backgroundUpdate', o.backgroundUpdate, false);
    this.lock = boolAt('lock', o.lock, false);
    this.lockTimeoutMs = intAt('lockTimeoutMs', o.lockTimeoutMs, 5000, 1);
    this.lockAgeMs = intAt('lockAgeMs', o.lockAgeMs, 5000, 1);
    this.revalidate = boolAt('revalidate', o.revalidate, this.rfc);
    this.maxEntryBytes = intAt('maxEntryBytes', o.maxEntryBytes, 1024 * 1024, 1);
    const statusHeader = o.statusHeader ?? 'X-Cache-Status';
    if (
      statusHeader !== false &&
      (typeof statusHeader !== 'string' || !/^[!#$%&'*+.^_`|~\w-]+$/.test(statusHeader))
    ) {
      throw new InvalidOptionError('statusHeader', 'a header name or false', statusHeader);
    }
    this.statusHeader = statusHeader === false ? undefined : statusHeader;
    this.statusHeaderName = this.statusHeader?.toLowerCase();
    const tagHeaders = o.tagHeaders ?? ['Surrogate-Key', 'Cache-Tag'];
    if (!Array.isArray(tagHeaders) || tagHeaders.some((h) => typeof h !== 'string' || h === '')) {
      throw new InvalidOptionError('tagHeaders', 'an array of header names', tagHeaders);
    }
    this.tagHeaders = tagHeaders.map((h) => h.toLowerCase());
    this.onStoreError = functionAt('onStoreError', o.onStoreError);
    this.rfcSettings = { valid: this.valid, rules: this.rules, heuristicMaxMs: HEURISTIC_MAX_MS };
  }

  /** Appends the `Cache-Status` member (RFC 9211) to a header list, when it is on. */
  cacheStatus(headers: string[], p: CacheStatusParams): void {
    if (this.cacheStatusName !== undefined)
      headers.push('Cache-Status', cacheStatusValue(this.cacheStatusName, p));
  }

  /** Whether a header line is our own `Cache-Status` member (never stored). */
  private ownCacheStatus(name: string, value: string): boolean {
    const own = this.cacheStatusName;
    return own !== undefined && name === 'cache-status' && (value === own || value.startsWith(`${own};`));
  }

  /**
   * RFC 9111 §4.4: a non-error response to an unsafe method invalidates the target URI
   * and a same-origin `Location` / `Content-Location` (their entries, all variants).
   */
  invalidate(req: CacheRequest, headers: readonly string[]): void {
    const host = typeof req.headers.host === 'string' ? req.headers.host : '';
    // Without a Host the origin is unknown: only the request's own target goes.
    const targets =
      host === '' ? [req.url] : invalidatedTargets(req.url, `${req.scheme ?? 'http'}://${host}`, headers);
    for (const url of targets) {
      const key = this.keyFn({ ...req, method: 'GET', url });
      this.purge(key).catch((err: unknown) => this.report('delete', err));
    }
  }

  /** RFC 9111 §5.2.1.7: `only-if-cached` with no usable entry is answered with 504. */
  private gatewayTimeout(): CachedResponse {
    const headers = ['content-length', '0'];
    if (this.statusHeader !== undefined) headers.push(this.statusHeader, 'MISS');
    this.cacheStatus(headers, { detail: 'only-if-cached' });
    this.counters.miss.responses++;
    return { status: 504, headers, body: null, bodyLength: 0, cacheStatus: 'MISS' };
  }

  /**
   * `'rfc9111'`: whether an expired entry may be served while it is refreshed. Not when
   * the client wants a fresh one, nor when the response forbids stale use (§4.2.4); with
   * `s-maxage` only in the response's own `stale-while-revalidate` window.
   */
  private rfcStaleWhileUpdating(entry: Entry, rd: RequestDirectives, now: number): boolean {
    if (rd.noCache || rd.maxAgeMs !== undefined || rd.minFreshMs !== undefined) return false;
    const p = stalePermission(entry.headers);
    if (p.never) return false;
    if (now < entry.expiresAt + entry.updatingMs) return true;
    return !p.ownWindowsOnly && this.useStale.has('updating');
  }

  keyOf(req: CacheRequest): string {
    return this.keyFn(req);
  }

  stats(): CacheStats {
    const c = this.counters;
    const copy = <T extends object>(v: T): T => ({ ...v });
    const out: CacheStats = {
      cold: false,
      hit: copy(c.hit),
      stale: copy(c.stale),
      updating: copy(c.updating),
      revalidated: copy(c.revalidated),
      miss: copy(c.miss),
      expired: copy(c.expired),
      bypass: copy(c.bypass),
    };
    const usage = this.store.usage?.();
    if (usage !== undefined) {
      out.cold = usage.cold === true;
      out.size = usage.sizeBytes;
      if (usage.maxSizeBytes !== undefined) out.maxSize = usage.maxSizeBytes;
    }
    return out;
  }

  resetStats(): void {
    this.counters = zeroStats();
  }

  /** The counters of a status that goes upstream. */
  upstreamCounter(status: CacheStatus): CacheWriteStats | undefined {
    if (status === 'MISS') return this.counters.miss;
    if (status === 'EXPIRED') return this.counters.expired;
    if (status === 'BYPASS') return this.counters.bypass;
    return undefined;
  }

  middleware(): CacheMiddleware {
    return cacheMiddleware(this);
  }

  handler(fn: RequestHandler): (req: IncomingMessage, res: ServerResponse) => void {
    if (typeof fn !== 'function') throw new InvalidOptionError('handler', 'a function', fn);
    return cacheHandler(this, fn);
  }

  report(operation: string, err: unknown): void {
    if (this.onStoreError === undefined) return;
    const message = (err as Error)?.message ?? String(err);
    try {
      this.onStoreError(
        hasCode<CacheStoreError>(err, 'SWY_ERR_CACHE_STORE')
          ? err
          : new CacheStoreError(operation, message, err),
      );
    } catch {
      // A throwing hook must not fail the request.
    }
  }

  /** Reads the store; a failure (thrown, rejected) becomes FAILED, never an error. */
  private read(key: string): Got | Promise<Got> {
    let got: Entry | undefined | Promise<Entry | undefined>;
    try {
      got = this.store.get(key);
    } catch (err) {
      this.report('get', err);
      return FAILED;
    }
    if (got instanceof Promise) {
      return got.then(
        (e) => e,
        (err: unknown) => {
          this.report('get', err);
          return FAILED;
        },
      );
    }
    return got;
  }

  write(key: string, entry: Entry): void {
    try {
      const done = this.store.set(key, entry);
      if (done instanceof Promise) done.catch((err: unknown) => this.report('set', err));
    } catch (err) {
      this.report('set', err);
    }
  }

  /** `bypass(req)`; a predicate that throws bypasses (the request goes upstream either way). */
  private bypasses(req: CacheRequest): boolean {
    try {
      return this.bypass?.(req) === true;
    } catch {
      return true;
    }
  }

  /** `noCache(req, res)`; a predicate that throws means "do not store". */
  refuses(req: CacheRequest, head: CacheResponseHead): boolean {
    if (this.noCache === undefined) return false;
    try {
      return this.noCache(req, head) === true;
    } catch {
      return true;
    }
  }

  /** The request-to-be is the `minUses`-th (or later) for its key. */
  private used(key: string): boolean {
    if (this.minUses === 1) return true;
    const n = (this.uses.get(key) ?? 0) + 1;
    // A bounded counter table: nginx keeps these in its keys zone.
    if (this.uses.size >= 100_000 && !this.uses.has(key)) this.uses.clear();
    this.uses.set(key, n);
    return n >= this.minUses;
  }

  lookup(req: CacheRequest): CacheLookup | Promise<CacheLookup> {
    const method = req.method.toUpperCase();
    if (!this.methods.has(method)) {
      if (this.rfc && invalidates(method)) {
        return { response: undefined, forward: new Invalidation(this, req) };
      }
      return {
        response: undefined,
        forward: new Forward(this, req, '', undefined, undefined, undefined, false),
      };
    }
    const key = this.keyFn(req);
    const storable = this.used(key);
    if (this.bypass !== undefined && this.bypasses(req)) {
      return {
        response: undefined,
        forward: new Forward(this, req, key, 'BYPASS', undefined, undefined, storable),
      };
    }
    const got = this.read(key);
    if (got instanceof Promise) return got.then((e) => this.found(req, key, e, storable));
    return this.found(req, key, got, storable);
  }

  /** The primary entry is known: follow its Vary to a secondary key if need be. */
  private found(
    req: CacheRequest,
    key: string,
    got: Got,
    storable: boolean,
  ): CacheLookup | Promise<CacheLookup> {
    if (got === FAILED) {
      return {
        response: undefined,
        forward: new Forward(this, req, key, 'MISS', undefined, undefined, storable, false, 'miss'),
      };
    }
    if (got?.vary !== undefined) {
      const variant = variantOf(req.headers, got.vary);
      if (variant !== got.variant) {
        // nginx ngx_http_file_cache_vary: another variant lives under key + variant.
        const secondary = key + VARIANT_SEPARATOR + variant;
        const other = this.read(secondary);
        if (other instanceof Promise)
          return other.then((e) => this.resolved(req, secondary, e, storable, 'vary-miss'));
        return this.resolved(req, secondary, other, storable, 'vary-miss');
      }
    }
    return this.resolved(req, key, got, storable);
  }

  /** A live request holding `key`, if any (one held longer than `lockAgeMs` no longer counts). */
  private holder(key: string, now: number): Pending | undefined {
    const p = this.pending.get(key);
    if (p !== undefined && now - p.since >= this.lockAgeMs) return undefined;
    return p;
  }

  private hold(key: string, now: number): Pending {
    const p = new Pending(now);
    this.pending.set(key, p);
    return p;
  }

  /** The exchange holding `key` ended: wake whoever waits, with the new entry if any. */
  release(key: string, p: Pending, entry: Entry | undefined): void {
    if (this.pending.get(key) === p) this.pending.delete(key);
    p.settle(entry);
  }

  private resolved(
    req: CacheRequest,
    key: string,
    got: Got,
    storable: boolean,
    missFwd: Fwd = 'uri-miss',
  ): CacheLookup | Promise<CacheLookup> {
    const now = this.now();
    const rd = this.rfc ? requestDirectives(req.headers) : NO_REQUEST_DIRECTIVES;
    // RFC 9111 §5.2.1.5: request no-store: this response is not stored.
    if (rd.noStore) storable = false;
    if (got === FAILED || got === undefined) {
      if (rd.onlyIfCached) return { response: this.gatewayTimeout(), forward: undefined };
      const fwd: Fwd = got === FAILED ? 'miss' : missFwd;
      if (got !== FAILED && this.lock && storable) {
        const p = this.holder(key, now);
        if (p !== undefined) return this.waitFor(req, key, p);
        const mine = this.hold(key, now);
        return {
          response: undefined,
          forward: new Forward(this, req, key, 'MISS', undefined, mine, storable, false, fwd),
        };
      }
      return {
        response: undefined,
        forward: new Forward(this, req, key, 'MISS', undefined, undefined, storable, false, fwd),
      };
    }
    let staleWhileUpdating: boolean;
    let background: boolean;
    let fwd: Fwd = 'stale';
    if (this.rfc) {
      const use = usable(got, rd, now);
      if (use === 'fresh') return { response: this.hit(got, req), forward: undefined };
      // §5.2.1.2 max-stale: the client accepts this stale response.
      if (use === 'stale') return { response: this.respond(got, 'STALE', req), forward: undefined };
      if (rd.onlyIfCached) return { response: this.gatewayTimeout(), forward: undefined };
      if (now < got.expiresAt) fwd = 'request';
      staleWhileUpdating = this.rfcStaleWhileUpdating(got, rd, now);
      // RFC 5861 §3: within stale-while-revalidate the refresh runs in the background.
      background = staleWhileUpdating && (this.backgroundUpdate || now < got.expiresAt + got.updatingMs);
    } else {
      if (now < got.expiresAt) return { response: this.hit(got, req), forward: undefined };
      // Expired (nginx ngx_http_file_cache_read: the first request updates, the others see UPDATING).
      staleWhileUpdating = this.useStale.has('updating') || now < got.expiresAt + got.updatingMs;
      background = this.backgroundUpdate && staleWhileUpdating;
    }
    if (this.holder(key, now) !== undefined) {
      if (staleWhileUpdating) return { response: this.respond(got, 'UPDATING', req), forward: undefined };
      return {
        response: undefined,
        forward: new Forward(this, req, key, 'EXPIRED', got, undefined, storable, false, fwd),
      };
    }
    const mine = this.hold(key, now);
    if (background) {
      const update = new Forward(this, req, key, 'STALE', got, mine, storable, true, fwd);
      return { response: this.respond(got, 'STALE', req), forward: update };
    }
    return {
      response: undefined,
      forward: new Forward(this, req, key, 'EXPIRED', got, mine, storable, false, fwd),
    };
  }

  /** Waits for the request populating `key` (nginx cache lock), up to `lockTimeoutMs`. */
  private waitFor(req: CacheRequest, key: string, p: Pending): Promise<CacheLookup> {
    return new Promise((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        // nginx: after proxy_cache_lock_timeout the request goes upstream, uncached.
        resolve({
          response: undefined,
          forward: new Forward(this, req, key, 'MISS', undefined, undefined, false),
        });
      }, this.lockTimeoutMs);
      timer.unref?.();
      p.wait((entry) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (
          entry !== undefined &&
          this.now() < entry.expiresAt &&
          (entry.vary === undefined || variantOf(req.headers, entry.vary) === entry.variant)
        ) {
          resolve({
            response: this.respond(entry, 'HIT', req, { hit: true, collapsed: true }),
            forward: undefined,
          });
          return;
        }
        resolve({
          response: undefined,
          forward: new Forward(this, req, key, 'MISS', undefined, undefined, true),
        });
      });
    });
  }

  /**
   * A HIT answered with the entry the store just gave. A body the store lent from its read
   * buffers goes back once the response has finished, or at once when none is sent (HEAD,
   * 304); on no other path, where the entry may be written back or shared.
   */
  private hit(got: Entry, req: CacheRequest): CachedResponse {
    const r = this.respond(got, 'HIT', req);
    const giveBack = Buffer.isBuffer(got.body) ? takeBack(got.body) : undefined;
    if (giveBack === undefined) return r;
    if (r.body === null) {
      giveBack();
      return r;
    }
    return { ...r, finished: giveBack };
  }

  /**
   * The response to send from an entry: 304 when the client's validators match it.
   * `cs` are its `Cache-Status` parameters (RFC 9211) when it is not a plain `hit`: it
   * follows a forward (REVALIDATED, STALE for an upstream failure), or waited for one.
   */
  respond(entry: Entry, status: CacheStatus, req: CacheRequest, cs?: CacheStatusParams): CachedResponse {
    const headers = entry.headers.slice();
    const now = this.rfc || this.cacheStatusName !== undefined ? this.now() : 0;
    // RFC 9111 §5.1: a response from the cache carries its current age (§4.2.3).
    if (this.rfc) headers.push('age', String(Math.max(0, Math.floor((now - entry.storedAt) / 1000))));
    let code = entry.status;
    const method = req.method.toUpperCase();
    let send = method !== 'HEAD';
    const matched = this.rfc
      ? rfcNotModified(method, req.headers, entry)
      : entry.status === 200 && notModified(req.headers, entry);
    // RFC 9110 §14.2: 'rfc9111' answers a single byte range of a stored complete body.
    const range =
      this.rfc && !matched && method === 'GET' && entry.status === 200 && Buffer.isBuffer(entry.body)
        ? byteRange(req.headers, entry.body.length, entry)
        : undefined;
    if (matched) {
      code = 304;
      send = false;
    } else if (range !== undefined) {
      code = 206;
      headers.push(
        'content-range',
        `bytes ${range.start}-${range.end}/${entry.body.length}`,
        'content-length',
        String(range.end - range.start + 1),
      );
    } else if (entry.status !== 204 && entry.status !== 304) {
      // RFC 9110 §8.6: no Content-Length on 204 and 304.
      headers.push('content-length', String(entry.body.length));
    }
    if (this.statusHeader !== undefined) headers.push(this.statusHeader, status);
    if (this.cacheStatusName !== undefined) {
      const ttlMs = entry.expiresAt - now;
      this.cacheStatus(headers, cs === undefined ? { hit: true, ttlMs } : { ttlMs, ...cs });
    }
    const counter = this.counters[status.toLowerCase() as Counted];
    counter.responses++;
    // The stream is made only for a response that sends it: it must be read or destroyed.
    let body = send ? this.bodyOf(entry) : null;
    if (range !== undefined && Buffer.isBuffer(body)) body = body.subarray(range.start, range.end + 1);
    const bodyLength = body === null ? 0 : Buffer.isBuffer(body) ? body.length : entry.body.length;
    counter.bytes += bodyLength;
    return { status: code, headers, body, bodyLength, cacheStatus: status };
  }

  /** The body to send: the stored Buffer, or a new stream of a streamed body. */
  private bodyOf(entry: Entry): Buffer | Readable {
    const body = entry.body;
    if (Buffer.isBuffer(body)) return body;
    const stream = body.stream();
    // Headers are out by then: the sender cuts the response off; the store failed.
    stream.once('error', (err: unknown) => this.report('get', err));
    return stream;
  }

  /**
   * Whether a stale entry may stand in for a failure or a status. nginx: stale-if-error
   * for failures only. `'rfc9111'`: stale-if-error for failures and 500, 502, 503, 504
   * (RFC 5861 §4); `useStale` too, unless the response forbids stale use (RFC 9111
   * §4.2.4: no-cache, must-revalidate, proxy-revalidate; s-maxage leaves only its own
   * windows).
   */
  staleFor(cause: StaleCause, entry: Entry): boolean {
    const now = this.now();
    if (!this.rfc) return staleServes(cause, this.useStale, entry, now);
    const p = stalePermission(entry.headers);
    if (p.never) return false;
    if (RFC5861_ERRORS.has(cause) && now < entry.expiresAt + entry.errorMs) return true;
    return !p.ownWindowsOnly && this.useStale.has(cause);
  }

  /**
   * Whether a response header line goes into a stored entry. `'rfc9111'` keeps `Date`
   * (RFC 9110 §6.6.1: the origin's, sent again from the cache), drops `Age` (computed
   * when served, §5.1), the proxy authentication fields and the `withheld` ones; nginx
   * sends a new Date.
   */
  private keeps(name: string, value: string, withheld: ReadonlySet<string> | undefined): boolean {
    if (name === 'date') return this.rfc;
    if (NOT_STORED.has(name) || name === this.statusHeaderName || this.ownCacheStatus(name, value))
      return false;
    if (this.rfc && (name === 'age' || UNSTORED_FIELDS.has(name))) return false;
    return withheld === undefined || !withheld.has(name);
  }

  /** A new entry from a complete response. */
  entry(req: CacheRequest, status: number, headers: readonly string[], body: Buffer, f: Fresh): Entry {
    const kept: string[] = [];
    const withheld = this.rfc ? withheldFields(headers) : undefined;
    for (let i = 0; i < headers.length; i += 2) {
      const name = (headers[i] as string).toLowerCase();
      const value = headers[i + 1] as string;
      if (this.keeps(name, value, withheld)) kept.push(name, value);
    }
    const vary = this.rules.vary ? varyNames(kept) : undefined;
    // nginx keeps validators for 200 and 206 only.
    const validators = this.rfc || status === 200 || status === 206;
    return {
      status,
      headers: kept,
      body,
      storedAt: f.at,
      expiresAt: f.expiresAt,
      updatingMs: f.updatingMs,
      errorMs: f.errorMs,
      etag: validators ? firstHeader(kept, 'etag') : undefined,
      lastModified: validators ? firstHeader(kept, 'last-modified') : undefined,
      vary,
      variant: vary === undefined ? undefined : variantOf(req.headers, vary),
      tags: tagsOf(kept, this.tagHeaders),
    };
  }

  /**
   * The entry refreshed by a 304. nginx: lifetime from the 304's headers, else `valid`
   * for the stored status. `'rfc9111'` (§4.3.4): the 304's headers replace the stored
   * ones of the same names, and the lifetime is computed again from the result;
   * `store` is `false` when the result may no longer be stored (it is still sent once).
   */
  refreshed(
    stale: Entry,
    headers: readonly string[],
    req: CacheRequest,
    requestTime: number,
  ): { entry: Entry; store: boolean } {
    const now = this.now();
    if (this.rfc) {
      const fresh = new Map<string, string[]>();
      const withheld = withheldFields(headers);
      for (let i = 0; i < headers.length; i += 2) {
        const name = (headers[i] as string).toLowerCase();
        const value = headers[i + 1] as string;
        // §3.2: every other field is updated, Content-Type and Content-Encoding too (the body
        // is stored as received, never decoded); Content-Length is in NOT_STORED.
        if (!this.keeps(name, value, withheld)) continue;
        const list = fresh.get(name) ?? [];
        list.push(value);
        fresh.set(name, list);
      }
      const merged: string[] = [];
      for (let i = 0; i < stale.headers.length; i += 2) {
        const name = stale.headers[i] as string;
        if (!fresh.has(name)) merged.push(name, stale.headers[i + 1] as string);
      }
      for (const [name, values] of fresh) for (const v of values) merged.push(name, v);
      const times = { requestTime, responseTime: now };
      const authorized = req.headers.authorization !== undefined;
      // The 304's Date and Age date this validation (§4.3.4), not the stored Date.
      const dated: string[] = [];
      for (let i = 0; i < merged.length; i += 2)
        if (merged[i] !== 'date') dated.push(merged[i] as string, merged[i + 1] as string);
      for (const name of ['date', 'age']) {
        const v = firstHeader(headers, name);
        if (v !== undefined) dated.push(name, v);
      }
      const f = rfcFreshness(stale.status, dated, authorized, times, this.rfcSettings);
      const entry: Entry = {
        ...stale,
        headers: merged,
        storedAt: f?.storedAt ?? now,
        // No longer storable (the 304 said no-store, private…): sent once, already stale.
        expiresAt: f?.expiresAt ?? now,
        updatingMs: f?.updatingMs ?? 0,
        errorMs: f?.errorMs ?? 0,
        etag: firstHeader(merged, 'etag'),
        lastModified: firstHeader(merged, 'last-modified'),
        tags: tagsOf(merged, this.tagHeaders),
      };
      return { entry, store: f !== undefined };
    }
    const f = freshness(stale.status, headers, now, this.valid, this.rules);
    const ms = validFor(this.valid, stale.status);
    const expiresAt = f?.expiresAt ?? (ms > 0 ? now + ms : stale.expiresAt);
    const entry: Entry = {
      ...stale,
      storedAt: now,
      expiresAt,
      updatingMs: f?.updatingMs ?? stale.updatingMs,
      errorMs: f?.errorMs ?? stale.errorMs,
      etag: firstHeader(headers, 'etag') ?? stale.etag,
    };
    return { entry, store: true };
  }

  async purge(pattern: string): Promise<number> {
    if (typeof pattern !== 'string' || pattern === '') {
      throw new InvalidOptionError('pattern', 'a key, or a prefix ending in *', pattern);
    }
    try {
      if (pattern.endsWith('*')) return await this.store.deletePrefix(pattern.slice(0, -1));
      const [one, variants] = await Promise.all([
        this.store.delete(pattern),
        this.store.deletePrefix(pattern + VARIANT_SEPARATOR),
      ]);
      return (one ? 1 : 0) + variants;
    } catch (err) {
      throw hasCode(err, 'SWY_ERR_CACHE_STORE')
        ? err
        : new CacheStoreError('purge', (err as Error)?.message ?? String(err), err);
    }
  }

  async purgeTag(tag: string): Promise<number> {
    if (typeof tag !== 'string' || tag === '') throw new InvalidOptionError('tag', 'a non-empty string', tag);
    try {
      return await this.store.deleteTag(tag);
    } catch (err) {
      throw hasCode(err, 'SWY_ERR_CACHE_STORE')
        ? err
        : new CacheStoreError('purgeTag', (err as Error)?.message ?? String(err), err);
    }
  }
}

/** The lifetime decided at the response head. */
interface Fresh {
  at: number;
  expiresAt: number;
  updatingMs: number;
  errorMs: number;
}

const NONE: ReadonlyArray<readonly [string, string | undefined]> = [];

/** What stale-if-error covers in `'rfc9111'` mode (RFC 5861 §4: errors and 500-504). */
const RFC5861_ERRORS = new Set<string>(['error', 'timeout', 'http_500', 'http_502', 'http_503', 'http_504']);

/** One upstream exchange: decides at the head whether to record, records, stores at the end. */
class Forward implements CacheForward {
  readonly cacheStatus: CacheStatus | undefined;
  readonly statusFields: readonly string[];
  readonly method: string;
  readonly requestHeaders: ReadonlyArray<readonly [string, string | undefined]>;
  readonly background: boolean;
  private readonly engine: Engine;
  private readonly req: CacheRequest;
  private readonly key: string;
  private readonly stale: Entry | undefined;
  private pending: Pending | undefined;
  private readonly storable: boolean;
  private readonly revalidating: boolean;
  private done = false;
  private recording = false;
  private status = 0;
  private headers: readonly string[] = NONE as unknown as string[];
  private fresh: Fresh | undefined;
  private chunks: Buffer[] = [];
  private bytes = 0;
  /** Where this exchange's response is counted (not for a background update). */
  private counted: CacheWriteStats | undefined;
  /** Why the request went upstream (RFC 9211 `fwd`). */
  private readonly fwd: Fwd;
  /** RFC 9111 §4.2.3 `request_time`. */
  private readonly requestTime: number;

  constructor(
    engine: Engine,
    req: CacheRequest,
    key: string,
    cacheStatus: CacheStatus | undefined,
    stale: Entry | undefined,
    pending: Pending | undefined,
    storable: boolean,
    background = false,
    fwd?: Fwd,
  ) {
    this.engine = engine;
    this.fwd = fwd ?? (cacheStatus === 'BYPASS' ? 'bypass' : stale !== undefined ? 'stale' : 'uri-miss');
    this.requestTime = engine.rfc ? engine.now() : 0;
    this.req = req;
    this.key = key;
    this.cacheStatus = cacheStatus;
    // What the caller's own 502/504 for this exchange says of the cache.
    const fields: string[] = [];
    if (cacheStatus !== undefined) {
      if (engine.statusHeader !== undefined) fields.push(engine.statusHeader, cacheStatus);
      engine.cacheStatus(fields, { fwd: this.fwd });
    }
    this.statusFields = fields;
    this.stale = stale;
    this.pending = pending;
    this.storable = storable;
    this.background = background;
    if (cacheStatus === undefined) {
      this.method = req.method;
      this.requestHeaders = NONE;
      this.revalidating = false;
      this.done = true;
      return;
    }
    this.method = req.method.toUpperCase() === 'HEAD' ? 'GET' : req.method;
    const changes: [string, string | undefined][] = [];
    for (const name of CLIENT_CONDITIONALS)
      if (req.headers[name] !== undefined) changes.push([name, undefined]);
    this.revalidating =
      engine.revalidate &&
      stale !== undefined &&
      (stale.etag !== undefined || stale.lastModified !== undefined);
    if (this.revalidating && stale !== undefined) {
      // nginx: $upstream_cache_etag / $upstream_cache_last_modified of the stored entry.
      if (stale.etag !== undefined) changes.push(['if-none-match', stale.etag]);
      if (stale.lastModified !== undefined) changes.push(['if-modified-since', stale.lastModified]);
    }
    this.requestHeaders = changes;
  }

  /** Ends the exchange: wakes lock waiters (with the new entry, if one was made). */
  private finish(entry: Entry | undefined): void {
    this.done = true;
    this.recording = false;
    this.chunks = [];
    const p = this.pending;
    if (p !== undefined) {
      this.pending = undefined;
      this.engine.release(this.key, p, entry);
    }
  }

  /** Stops recording but lets the exchange run on; waiters need not wait for it. */
  private giveUp(): void {
    this.recording = false;
    this.chunks = [];
    const p = this.pending;
    if (p !== undefined) {
      this.pending = undefined;
      this.engine.release(this.key, p, undefined);
    }
  }

  head(status: number, headers: string[]): CachedResponse | undefined {
    if (this.done || this.status !== 0) return undefined;
    this.status = status;
    const engine = this.engine;
    const stale = this.stale;
    if (stale !== undefined) {
      if (status === 304 && this.revalidating) {
        const { entry, store } = engine.refreshed(stale, headers, this.req, this.requestTime);
        if (store) engine.write(this.key, entry);
        this.finish(store ? entry : undefined);
        return engine.respond(entry, 'REVALIDATED', this.req, {
          fwd: this.fwd,
          fwdStatus: 304,
          stored: store,
        });
      }
      if (STALE_STATUSES.has(status) && engine.staleFor(`http_${status}`, stale)) {
        this.finish(undefined);
        return engine.respond(stale, 'STALE', this.req, { fwd: this.fwd, fwdStatus: status });
      }
    }
    if (engine.statusHeader !== undefined && this.cacheStatus !== undefined) {
      headers.push(engine.statusHeader, this.cacheStatus);
    }
    if (!this.background && this.cacheStatus !== undefined) {
      this.counted = engine.upstreamCounter(this.cacheStatus);
      if (this.counted !== undefined) this.counted.responses++;
    }
    this.headers = headers;
    this.fresh = this.storable ? this.freshness(status, headers) : undefined;
    if (this.fresh === undefined) this.giveUp();
    else this.recording = true;
    // RFC 9211: `stored` says the response is being stored (a body found too large on
    // the way is then not stored after all).
    if (this.cacheStatus !== undefined)
      engine.cacheStatus(headers, { fwd: this.fwd, stored: this.recording });
    return undefined;
  }

  /** The lifetime to store the response with, or `undefined` when it is not stored. */
  private freshness(status: number, headers: readonly string[]): Fresh | undefined {
    const engine = this.engine;
    const now = engine.now();
    const length = Number(firstHeader(headers, 'content-length') ?? 0);
    if (length > engine.maxEntryBytes) return undefined;
    let fresh: Fresh | undefined;
    if (engine.rfc) {
      const times = { requestTime: this.requestTime, responseTime: now };
      const authorized = this.req.headers.authorization !== undefined;
      const f = rfcFreshness(status, headers, authorized, times, engine.rfcSettings);
      if (f !== undefined)
        fresh = { at: f.storedAt, expiresAt: f.expiresAt, updatingMs: f.updatingMs, errorMs: f.errorMs };
    } else {
      const f = freshness(status, headers, now, engine.valid, engine.rules);
      if (f !== undefined)
        fresh = { at: now, expiresAt: f.expiresAt, updatingMs: f.updatingMs, errorMs: f.errorMs };
    }
    if (fresh === undefined || engine.refuses(this.req, { status, headers })) return undefined;
    return fresh;
  }

  data(chunk: Buffer): void {
    if (this.done) return;
    if (this.counted !== undefined) this.counted.bytes += chunk.length;
    if (!this.recording) return;
    this.bytes += chunk.length;
    if (this.bytes > this.engine.maxEntryBytes) {
      this.giveUp();
      return;
    }
    this.chunks.push(chunk);
  }

  end(): void {
    if (this.done) return;
    if (!this.recording || this.fresh === undefined) {
      this.finish(undefined);
      return;
    }
    const body =
      this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks, this.bytes);
    const entry = this.engine.entry(this.req, this.status, this.headers, body, this.fresh);
    this.engine.write(this.key, entry);
    const written = this.background
      ? this.engine.counters.expired
      : this.engine.upstreamCounter(this.cacheStatus as CacheStatus);
    if (written !== undefined) {
      written.responsesWritten++;
      written.bytesWritten += body.length;
    }
    this.finish(entry);
  }

  fail(kind: 'error' | 'timeout'): CachedResponse | undefined {
    if (this.done) return undefined;
    this.finish(undefined);
    const stale = this.stale;
    if (stale !== undefined && this.engine.staleFor(kind, stale))
      return this.engine.respond(stale, 'STALE', this.req, { fwd: this.fwd });
    return undefined;
  }

  abort(): void {
    if (this.done) return;
    this.finish(undefined);
  }
}

/**
 * `'rfc9111'`: the exchange of an unsafe method (POST, PUT, DELETE, PATCH). Nothing is
 * cached; a non-error response invalidates the stored responses of its target and of a
 * same-origin `Location` / `Content-Location` (RFC 9111 §4.4).
 */
export class Invalidation implements CacheForward {
  readonly cacheStatus: CacheStatus | undefined = undefined;
  readonly method: string;
  readonly requestHeaders = NONE;
  readonly background = false;
  private readonly engine: Engine;
  private readonly req: CacheRequest;
  private done = false;

  constructor(engine: Engine, req: CacheRequest) {
    this.engine = engine;
    this.req = req;
    this.method = req.method;
  }

  head(status: number, headers: string[]): CachedResponse | undefined {
    if (this.done) return undefined;
    this.done = true;
    // §4.4: "non-error status code" — 2xx and 3xx.
    if (status >= 200 && status < 400) this.engine.invalidate(this.req, headers);
    return undefined;
  }
  data(): void {}
  end(): void {
    this.done = true;
  }
  fail(): CachedResponse | undefined {
    this.done = true;
    return undefined;
  }
  abort(): void {
    this.done = true;
  }
}

/**
 * Builds a cache with nginx `proxy_cache` semantics. It is a {@link ProxyCache} the
 * switchyard proxy consults (`createProxy({ upstream, cache })`), and offers
 * `middleware()` / `handler()` to microcache any Node handler, and purge by key, prefix
 * and tag. Options are validated now; a bad one throws `InvalidOptionError`.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createCache } from '@switchyard/cache';
 *
 * const cache = createCache({ valid: { 200: '1s' }, lock: true, useStale: ['updating'], backgroundUpdate: true });
 * createServer(cache.handler((req, res) => res.end(renderPage()))).listen(8080);
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache
 */
export function createCache(options: CacheOptions = {}): Cache {
  return new Engine(options);
}
