import { parseDuration } from '../duration/index.js';
import { InvalidOptionError } from '../errors.js';
import { allHeaders, firstHeader, parseHttpDate, requestHeader } from '../headers/index.js';

/**
 * How long responses live by status when the response itself says nothing (nginx
 * `proxy_cache_valid`): a time alone means 200, 301 and 302; an object maps status codes
 * (and `any`) to times. Times are nginx times (`'10m'`, `'1h 30m'`) or milliseconds.
 * A time of 0 means "do not cache".
 * @example
 * ```ts
 * const valid: ValidOption = { 200: '10m', 302: '10m', 404: '1m', any: '5s' };
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_valid
 */
export type ValidOption = string | number | Readonly<Record<string | number, string | number>>;

/** A response header whose caching rule can be switched off (nginx `proxy_ignore_headers`). */
export type IgnorableHeader = 'X-Accel-Expires' | 'Expires' | 'Cache-Control' | 'Set-Cookie' | 'Vary';

/** The resolved `valid` table. */
export interface ValidTable {
  /** ms by status. */
  readonly byStatus: ReadonlyMap<number, number>;
  /** ms for `any` other status, when given. */
  readonly anyMs: number | undefined;
}

/** Which response headers count, resolved from `ignoreHeaders`. */
export interface HeaderRules {
  readonly xAccelExpires: boolean;
  readonly expires: boolean;
  readonly cacheControl: boolean;
  readonly setCookie: boolean;
  readonly vary: boolean;
}

/** The lifetime the policy gives a cacheable response. */
export interface Freshness {
  /** Fresh while `now < expiresAt`, ms since the epoch. */
  readonly expiresAt: number;
  /** `stale-while-revalidate`, ms. */
  readonly updatingMs: number;
  /** `stale-if-error` (or `stale-while-revalidate`), ms. */
  readonly errorMs: number;
  /** The lifetime came from the response headers, not from `valid`. */
  readonly fromHeaders: boolean;
}

/** Resolves and validates the `valid` option. */
export function resolveValid(option: ValidOption | undefined, path = 'valid'): ValidTable {
  const byStatus = new Map<number, number>();
  if (option === undefined) return { byStatus, anyMs: undefined };
  if (typeof option === 'string' || typeof option === 'number') {
    const ms = parseDuration(option);
    if (ms === undefined) throw new InvalidOptionError(path, 'an nginx time such as "10m", or ms', option);
    for (const s of [200, 301, 302]) byStatus.set(s, ms);
    return { byStatus, anyMs: undefined };
  }
  if (option === null || typeof option !== 'object' || Array.isArray(option)) {
    throw new InvalidOptionError(path, 'a time, or an object of status → time', option);
  }
  let anyMs: number | undefined;
  for (const [k, v] of Object.entries(option)) {
    const ms = parseDuration(v);
    if (ms === undefined)
      throw new InvalidOptionError(`${path}.${k}`, 'an nginx time such as "10m", or ms', v);
    if (k === 'any') {
      anyMs = ms;
      continue;
    }
    const status = Number(k);
    if (!/^\d{3}$/.test(k) || status < 100 || status > 599) {
      throw new InvalidOptionError(`${path}.${k}`, 'a status code 100-599 or "any" as the key', k);
    }
    byStatus.set(status, ms);
  }
  return { byStatus, anyMs };
}

const IGNORABLE: Record<string, keyof HeaderRules> = {
  'x-accel-expires': 'xAccelExpires',
  expires: 'expires',
  'cache-control': 'cacheControl',
  'set-cookie': 'setCookie',
  vary: 'vary',
};

/** Resolves and validates the `ignoreHeaders` option. */
export function resolveHeaderRules(
  ignore: readonly string[] | undefined,
  path = 'ignoreHeaders',
): HeaderRules {
  const rules = { xAccelExpires: true, expires: true, cacheControl: true, setCookie: true, vary: true };
  if (ignore === undefined) return rules;
  if (!Array.isArray(ignore)) throw new InvalidOptionError(path, 'an array of header names', ignore);
  for (const [i, name] of ignore.entries()) {
    const key = typeof name === 'string' ? IGNORABLE[name.toLowerCase()] : undefined;
    if (key === undefined) {
      throw new InvalidOptionError(
        `${path}[${i}]`,
        'one of X-Accel-Expires, Expires, Cache-Control, Set-Cookie, Vary',
        name,
      );
    }
    rules[key] = false;
  }
  return rules;
}

/** The `valid` time for a status, or 0 (do not cache). */
export function validFor(table: ValidTable, status: number): number {
  return table.byStatus.get(status) ?? table.anyMs ?? 0;
}

/** nginx's digit loop in Cache-Control values: up to `,` `;` or space; anything else is invalid. */
function seconds(value: string, from: number): number | undefined {
  let n = 0;
  for (let i = from; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 44 /* , */ || c === 59 /* ; */ || c === 32 /* space */) break;
    if (c >= 48 && c <= 57) {
      n = n * 10 + (c - 48);
      continue;
    }
    return undefined;
  }
  return n;
}

/** nginx `ngx_atoi`: the whole text is decimal digits. */
function atoi(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

// nginx NGX_HTTP_CACHE_VARY_LEN: a longer Vary is not cached.
const VARY_MAX_LENGTH = 128;

/**
 * Whether, and for how long, nginx would cache a response: X-Accel-Expires, then
 * Cache-Control (`s-maxage` over `max-age`), then Expires, then `valid` for the status —
 * the order-independent rules of nginx ≥ 1.23. `undefined` when it is not cached.
 *
 * The rules, with nginx's quirks kept:
 * - `X-Accel-Expires`: digits = seconds from now, `@digits` = epoch seconds (may be in the
 *   past: the entry is stored already expired), `0` = never cache; anything else is
 *   ignored. A valid value overrides Cache-Control and Expires entirely.
 * - `Set-Cookie`, a `*` in any `Vary` line, or Vary lines longer than 128 characters
 *   together: never cached.
 * - `Cache-Control` (each header line in turn): `no-cache`, `no-store` or `private`
 *   anywhere (substring, any case) or a max-age of 0 → not cached; a malformed
 *   `max-age`/`s-maxage` value (`max-age=abc`) → not cached; `stale-while-revalidate` and
 *   `stale-if-error` give the stale windows.
 * - `Expires`: ignored when Cache-Control gave a lifetime; unparsable or past → not cached.
 * - `valid` applies only when no header gave a lifetime.
 *
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_valid
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_ignore_headers
 */
export function freshness(
  status: number,
  headers: readonly string[],
  now: number,
  valid: ValidTable,
  rules: HeaderRules,
): Freshness | undefined {
  if (rules.setCookie && firstHeader(headers, 'set-cookie') !== undefined) return undefined;
  if (rules.vary) {
    // Vary lines are read together, as nginx ≥ 1.23 does (1.22 kept only the last line).
    if (allHeaders(headers, 'vary').join(', ').length > VARY_MAX_LENGTH) return undefined;
    // nginx refuses a Vary line that is `*`, whichever line it is; a `*` inside a list
    // (`Vary: Accept, *`) is refused too, as RFC 9111 §4.1 says it never matches (nginx
    // would store and reuse it).
    if (varyNames(headers)?.includes('*')) return undefined;
  }

  if (rules.xAccelExpires) {
    const xae = firstHeader(headers, 'x-accel-expires');
    if (xae !== undefined) {
      const text = xae.trim();
      if (text.charCodeAt(0) === 64 /* @ */) {
        const epoch = atoi(text.slice(1));
        // "@0" leaves nginx's valid_sec unset: the header then counts for nothing.
        if (epoch !== undefined && epoch !== 0) {
          return { expiresAt: epoch * 1000, updatingMs: 0, errorMs: 0, fromHeaders: true };
        }
      } else {
        const n = atoi(text);
        if (n === 0) return undefined;
        if (n !== undefined)
          return { expiresAt: now + n * 1000, updatingMs: 0, errorMs: 0, fromHeaders: true };
      }
    }
  }

  let expiresAt: number | undefined;
  let noCache = false;
  let updatingMs = 0;
  let errorMs = 0;
  if (rules.cacheControl) {
    for (const line of allHeaders(headers, 'cache-control')) {
      const v = line.toLowerCase();
      if (v.includes('no-cache') || v.includes('no-store') || v.includes('private')) {
        noCache = true;
        continue;
      }
      let at = v.indexOf('s-maxage=');
      let offset = 9;
      if (at === -1) {
        at = v.indexOf('max-age=');
        offset = 8;
      }
      if (at !== -1) {
        const n = seconds(v, at + offset);
        if (n === undefined) return undefined;
        if (n === 0) {
          noCache = true;
          continue;
        }
        expiresAt = now + n * 1000;
      }
      const swr = v.indexOf('stale-while-revalidate=');
      if (swr !== -1) {
        const n = seconds(v, swr + 23);
        if (n === undefined) return undefined;
        updatingMs = n * 1000;
        errorMs = n * 1000;
      }
      const sie = v.indexOf('stale-if-error=');
      if (sie !== -1) {
        const n = seconds(v, sie + 15);
        if (n === undefined) return undefined;
        errorMs = n * 1000;
      }
    }
  }
  if (noCache) return undefined;
  if (expiresAt !== undefined) return { expiresAt, updatingMs, errorMs, fromHeaders: true };

  if (rules.expires) {
    const expires = firstHeader(headers, 'expires');
    if (expires !== undefined) {
      const at = parseHttpDate(expires);
      // nginx compares whole seconds: an Expires of this very second still counts.
      if (at === undefined || at < Math.floor(now / 1000) * 1000) return undefined;
      return { expiresAt: at, updatingMs, errorMs, fromHeaders: true };
    }
  }

  const ms = validFor(valid, status);
  if (ms === 0) return undefined;
  return { expiresAt: now + ms, updatingMs, errorMs, fromHeaders: false };
}

// nginx ngx_http_file_cache_vary: Vary names are separated by commas or spaces.
const VARY_SEPARATOR = /[ ,]+/;

/**
 * The lowercased header names a response varies on, once each, from every `Vary` line
 * (names separated by commas or spaces, as nginx reads them); `undefined` when it has no
 * Vary.
 */
export function varyNames(headers: readonly string[]): string[] | undefined {
  const lines = allHeaders(headers, 'vary');
  if (lines.length === 0) return undefined;
  const names: string[] = [];
  for (const line of lines) {
    for (const part of line.toLowerCase().split(VARY_SEPARATOR)) {
      if (part !== '' && !names.includes(part)) names.push(part);
    }
  }
  return names.length === 0 ? undefined : names;
}

// nginx ngx_http_file_cache_vary_header: the values of these headers are compared as
// their tokens, so `gzip, br`, `gzip,br` and `gzip  br` are one variant.
const NORMALISED = new Set(['accept-charset', 'accept-encoding', 'accept-language']);

/**
 * The request's values for the headers an entry varies on, as one string: nginx keys a
 * variant by these values (the secondary key; nginx keeps their MD5). An absent header
 * counts as an empty one. `Accept-Charset`, `Accept-Encoding` and `Accept-Language` are
 * reduced to their tokens joined by `,` (spaces and commas between them do not count;
 * case and order do), as nginx does; other values are compared as they come.
 * @see https://github.com/nginx/nginx/blob/master/src/http/ngx_http_file_cache.c
 */
export function variantOf(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  names: readonly string[],
): string {
  let out = '';
  for (const name of names) {
    let value = requestHeader(headers, name) ?? '';
    if (NORMALISED.has(name) && value !== '') {
      value = value
        .split(VARY_SEPARATOR)
        .filter((t) => t !== '')
        .join(',');
    }
    out += `${name}:${value}\n`;
  }
  return out;
}

/**
 * The tags of a response: the values of the tag headers (`Surrogate-Key` is
 * space-separated, `Cache-Tag` comma-separated; both separators are accepted in each).
 */
export function tagsOf(headers: readonly string[], tagHeaders: readonly string[]): string[] {
  const tags: string[] = [];
  for (const h of tagHeaders) {
    for (const line of allHeaders(headers, h)) {
      for (const t of line.split(/[\s,]+/)) {
        if (t !== '' && !tags.includes(t)) tags.push(t);
      }
    }
  }
  return tags;
}

/** Why an expired entry is asked to stand in: no response (`error`, `timeout`), or a status (`http_500` …). */
export type StaleCause = 'error' | 'timeout' | `http_${number}`;

/**
 * Whether an expired entry may be sent instead of what the upstream gave (`STALE`):
 * when `useStale` (`proxy_cache_use_stale`) names the cause, or — for `error` and
 * `timeout` only — while the response's own `stale-if-error` window (`errorMs`) lasts.
 * nginx honours `stale-if-error` only when no response came (ngx_http_upstream_next,
 * `r->cache->stale_error`); a 500 or 503 that did come is replaced only by
 * `proxy_cache_use_stale http_500` (ngx_http_upstream_test_next, `cache_use_stale` alone),
 * so without it the client gets the 500.
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_use_stale
 */
export function staleServes(
  cause: StaleCause,
  useStale: ReadonlySet<string>,
  entry: { readonly expiresAt: number; readonly errorMs: number },
  now: number,
): boolean {
  if (useStale.has(cause)) return true;
  return (cause === 'error' || cause === 'timeout') && now < entry.expiresAt + entry.errorMs;
}

/**
 * nginx's weak comparison of an `If-None-Match` list with an entity tag
 * (`ngx_http_test_if_match` with `weak`): the list `*` alone matches anything, even an
 * entry without an ETag; otherwise each member, `W/` removed, is compared with the ETag,
 * `W/` removed, byte for byte. A `*` among other members matches nothing.
 */
export function etagListMatches(list: string, etag: string | undefined): boolean {
  if (list === '*') return true;
  if (etag === undefined) return false;
  const tag = etag.length > 2 && etag.startsWith('W/') ? etag.slice(2) : etag;
  // nginx's walk, not a split on commas: an ETag may hold a comma inside its quotes.
  let i = 0;
  while (i < list.length) {
    if (list.length - i > 2 && list.startsWith('W/', i)) i += 2;
    if (list.startsWith(tag, i)) {
      i += tag.length;
      while (list[i] === ' ' || list[i] === '\t') i++;
      if (i === list.length || list[i] === ',') return true;
    }
    while (i < list.length && list[i] !== ',') i++;
    while (list[i] === ' ' || list[i] === '\t' || list[i] === ',') i++;
  }
  return false;
}

/** What {@link notModified} reads of a cached response: its validators, as stored. */
export interface Validators {
  /** The ETag header. */
  readonly etag: string | undefined;
  /** The Last-Modified header. */
  readonly lastModified: string | undefined;
}

/**
 * Whether a 200 from the cache becomes a 304 for this request, in the order of nginx's
 * not-modified filter (ngx_http_not_modified_filter_module, `if_modified_since exact`):
 * with neither `If-Modified-Since` nor `If-None-Match`, no; an `If-Modified-Since` must
 * equal the Last-Modified exactly (an entry without a readable Last-Modified counts as
 * modified); an `If-None-Match` must match the ETag (weakly, see
 * {@link etagListMatches}). When both are sent, both must pass — unlike RFC 9110 §13.2.2,
 * where `If-None-Match` alone decides.
 * @see https://nginx.org/en/docs/http/ngx_http_core_module.html#if_modified_since
 */
export function notModified(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  entry: Validators,
): boolean {
  const ims = requestHeader(headers, 'if-modified-since');
  const inm = requestHeader(headers, 'if-none-match');
  if (ims === undefined && inm === undefined) return false;
  if (ims !== undefined) {
    const lastModified = entry.lastModified === undefined ? undefined : parseHttpDate(entry.lastModified);
    if (lastModified === undefined || parseHttpDate(ims) !== lastModified) return false;
  }
  return inm === undefined || etagListMatches(inm, entry.etag);
}
