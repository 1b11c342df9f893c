/**
 * The rules of a standard shared cache (RFC 9111, RFC 5861), for
 * `createCache({ semantics: 'rfc9111' })`: pure arithmetic on header lists, with the
 * times passed in.
 */
import { allHeaders, firstHeader, isHttpDate, parseHttpDate, requestHeader } from '../headers/index.js';
import {
  etagListMatches,
  type HeaderRules,
  type Validators,
  type ValidTable,
  validFor,
  varyNames,
} from '../policy/index.js';

/** Cache-Control directives, names lowercased; a directive without a value maps to `true`. */
export type Directives = ReadonlyMap<string, string | true>;

/**
 * Parses Cache-Control field lines into directives (RFC 9111 §5.2): comma-separated,
 * names case-insensitive, values a token or a quoted string. The first occurrence of a
 * directive wins (§4.2.1 allows using the first of duplicates).
 */
export function parseCacheControl(lines: readonly string[]): Directives {
  const out = new Map<string, string | true>();
  for (const line of lines) {
    let i = 0;
    while (i < line.length) {
      while (i < line.length && (line[i] === ',' || line[i] === ' ' || line[i] === '\t')) i++;
      let j = i;
      while (j < line.length && line[j] !== '=' && line[j] !== ',') j++;
      // No whitespace around `=` (§5.2: token [ "=" ( token / quoted-string ) ]): `max-age =1`
      // and `max-age= 1` are not max-age.
      const raw = line.slice(i, j).trimStart();
      const name = (line[j] === '=' ? raw : raw.trimEnd()).toLowerCase();
      let value: string | true = true;
      if (line[j] === '=') {
        j++;
        if (line[j] === '"') {
          let k = j + 1;
          let v = '';
          while (k < line.length && line[k] !== '"') {
            if (line[k] === '\\' && k + 1 < line.length) k++;
            v += line[k];
            k++;
          }
          value = v;
          j = k + 1;
          while (j < line.length && line[j] !== ',') j++;
        } else {
          let k = j;
          while (k < line.length && line[k] !== ',') k++;
          value = line.slice(j, k).trimEnd();
          j = k;
        }
      }
      if (name !== '' && !out.has(name)) out.set(name, value);
      i = j + 1;
    }
  }
  return out;
}

/** A Structured Field bare item (RFC 8941 §3.3): integer, decimal, string, token, bytes, boolean. */
const SF_ITEM =
  '(?:-?\\d{1,15}(?:\\.\\d{1,3})?|"(?:[^"\\\\\\x00-\\x1f\\x7f]|\\\\["\\\\])*"|[A-Za-z*][!#$%&\'*+\\-.^_`|~0-9A-Za-z:/]*|:[A-Za-z0-9+/=]*:|\\?[01])';
const SF_KEY = '[a-z*][a-z0-9_\\-.*]*';
/** One dictionary member: key, `=` item (or a boolean true), parameters; then `,` or the end. */
const SF_MEMBER = new RegExp(
  `(${SF_KEY})(?:=(${SF_ITEM}))?((?:;[ ]*${SF_KEY}(?:=${SF_ITEM})?)*)[ \\t]*(?:,[ \\t]*|$)`,
  'y',
);
/** Directives whose value is a number of seconds: an SF string there is the wrong type. */
const DELTA_DIRECTIVES = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error']);

/**
 * Parses a targeted cache-control field (`CDN-Cache-Control`, RFC 9213 §2.1), a
 * Structured Field Dictionary: `undefined` when it is not a valid one, so that it is
 * ignored as a whole. A member of the wrong type (a string for `max-age`) is ignored;
 * `?0` is false (absent), `?1` and a bare key are true.
 * @see https://www.rfc-editor.org/rfc/rfc9213#section-2.1
 */
export function parseTargeted(lines: readonly string[]): Directives | undefined {
  const text = lines.join(', ').trim();
  if (text === '') return undefined;
  const out = new Map<string, string | true>();
  SF_MEMBER.lastIndex = 0;
  while (SF_MEMBER.lastIndex < text.length) {
    const m = SF_MEMBER.exec(text);
    if (m === null) return undefined;
    const name = m[1] as string;
    const raw = m[2];
    // RFC 8941 §4.2.2: the last instance of a key wins.
    out.delete(name);
    if (raw === undefined || raw === '?1') out.set(name, true);
    else if (raw === '?0') continue;
    else if (raw.startsWith('"')) {
      if (!DELTA_DIRECTIVES.has(name)) out.set(name, raw.slice(1, -1).replace(/\\(.)/g, '$1'));
    } else out.set(name, raw);
  }
  return out;
}

/**
 * The directives a response gives this cache: those of `CDN-Cache-Control` when it is
 * present and valid (RFC 9213: the targeted field then replaces `Cache-Control` and
 * `Expires`), else those of `Cache-Control`. `readCacheControl: false`
 * (`ignoreHeaders: ['Cache-Control']`) reads neither.
 */
export function responseDirectives(
  headers: readonly string[],
  readCacheControl = true,
): { readonly cc: Directives; readonly targeted: boolean } {
  if (!readCacheControl) return { cc: new Map(), targeted: false };
  const lines = allHeaders(headers, 'cdn-cache-control');
  const targeted = lines.length === 0 ? undefined : parseTargeted(lines);
  if (targeted !== undefined) return { cc: targeted, targeted: true };
  return { cc: parseCacheControl(allHeaders(headers, 'cache-control')), targeted: false };
}

/**
 * A delta-seconds value (RFC 9111 §1.2.2): digits only; `undefined` when absent or
 * malformed. Values too large are capped at 2^31 seconds, as the RFC asks.
 */
export function deltaSeconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (typeof v !== 'string' || !/^\d+$/.test(v)) return undefined;
  return Math.min(Number(v), 2 ** 31);
}

/**
 * Statuses that are heuristically cacheable (RFC 9110 §15.1); 206 is left out, as the
 * mode does not store partial responses.
 */
export const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([
  200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501,
]);

/**
 * Statuses whose caching rules the cache knows, for `must-understand` (RFC 9111
 * §5.2.2.3): the heuristically cacheable ones and the other final statuses of RFC 9110
 * that a cache may store with an explicit lifetime. 206 is left out (not stored).
 */
export const UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([
  ...HEURISTIC_STATUSES,
  302,
  303,
  307,
  400,
  403,
  500,
  502,
  503,
  504,
]);

/**
 * Fields never stored in this mode beyond the hop-by-hop ones both modes drop: the
 * proxy authentication fields, which concern only the next hop (RFC 9110 §11.7;
 * RFC 9111 §3.1 lets a cache drop such fields before storing).
 */
export const UNSTORED_FIELDS: ReadonlySet<string> = new Set([
  'proxy-authenticate',
  'proxy-authentication-info',
  'proxy-authorization',
]);

/**
 * The header fields a shared cache keeps out of the stored response: those named by
 * `private="…"` (§5.2.2.7, a shared cache must not store them) and `no-cache="…"`
 * (§5.2.2.4, they must not be sent from the cache without revalidation; not storing
 * them is the simplest way to never send them), and those a `Connection` header lists
 * (§3.1, hop-by-hop). Names lowercased.
 */
export function withheldFields(headers: readonly string[]): ReadonlySet<string> | undefined {
  const { cc } = responseDirectives(headers);
  let out: Set<string> | undefined;
  const add = (list: string) => {
    for (const field of list.split(',')) {
      const f = field.trim().toLowerCase();
      if (f === '') continue;
      out ??= new Set();
      out.add(f);
    }
  };
  for (const name of ['private', 'no-cache']) {
    const v = cc.get(name);
    if (typeof v === 'string') add(v);
  }
  // §3.1: the fields a Connection header names are hop-by-hop, never stored.
  for (const v of allHeaders(headers, 'connection')) add(v);
  return out;
}

/** The fraction of `Date - Last-Modified` a heuristic lifetime takes (RFC 9111 §4.2.2). */
export const HEURISTIC_FRACTION = 0.1;

/** How the mode is tuned; from the cache options. */
export interface RfcSettings {
  /** `valid`: lifetimes by status, used as the heuristic when the response gives none. */
  readonly valid: ValidTable;
  /** Which headers count (`ignoreHeaders`): Vary, Cache-Control, Expires (Set-Cookie never does here). */
  readonly rules: HeaderRules;
  /** The most a Last-Modified heuristic lifetime may be, ms. */
  readonly heuristicMaxMs: number;
}

/** When a response was asked for and received, from the cache's clock (RFC 9111 §4.2.3). */
export interface ExchangeTimes {
  /** `request_time`: when the request went upstream, ms since the epoch. */
  readonly requestTime: number;
  /** `response_time`: when the response head came, ms since the epoch. */
  readonly responseTime: number;
}

/** What the mode stores of a response's lifetime, in the fields of a cache entry. */
export interface RfcFreshness {
  /**
   * `response_time - corrected_initial_age`: the moment the response's age was 0, so
   * that its current age is `now - storedAt` (RFC 9111 §4.2.3).
   */
  readonly storedAt: number;
  /** `storedAt + freshness_lifetime`. */
  readonly expiresAt: number;
  /** RFC 5861 `stale-while-revalidate`, ms. */
  readonly updatingMs: number;
  /** RFC 5861 `stale-if-error`, ms. */
  readonly errorMs: number;
}

/**
 * Whether a shared cache may store a response, and with which lifetime (RFC 9111 §3,
 * §4.2); `undefined` when it must not be stored.
 * - not stored: `no-store`, `private` (a shared cache), a request with `Authorization`
 *   unless the response says `public`, `s-maxage` or `must-revalidate` (§3.5), a 206
 *   (partial responses are not kept yet), `Vary: *`, or a response with neither a lifetime
 *   nor a validator; `Set-Cookie` does not matter (§7.3), unlike in nginx mode;
 * - lifetime: `s-maxage`, else `max-age`, else `Expires - Date` (an invalid Expires is in
 *   the past), else for a heuristically cacheable status (or `public`) the `valid` time
 *   of its status, else 10 % of `Date - Last-Modified` capped at `heuristicMaxMs`;
 * - `no-cache`: stored already stale, so every use is revalidated;
 * - age: `corrected_initial_age` from `Age`, `Date` and the exchange times.
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-3
 * @see https://www.rfc-editor.org/rfc/rfc9111#section-4.2
 */
export function rfcFreshness(
  status: number,
  headers: readonly string[],
  authorized: boolean,
  times: ExchangeTimes,
  settings: RfcSettings,
): RfcFreshness | undefined {
  const { rules } = settings;
  if (status === 206 || status < 200) return undefined;
  // §7.3: Set-Cookie does not keep a response out of a shared cache (nginx mode refuses it).
  if (rules.vary && varyNames(headers)?.includes('*')) return undefined;
  const { cc, targeted } = responseDirectives(headers, rules.cacheControl);
  // §5.2.2.3: must-understand stores only a status whose caching rules are known, and
  // then overrides no-store.
  if (cc.has('must-understand')) {
    if (!UNDERSTOOD_STATUSES.has(status)) return undefined;
  } else if (cc.has('no-store')) return undefined;
  // §5.2.2.7: private="field" lets a shared cache keep the rest (see withheldFields).
  if (cc.get('private') === true) return undefined;
  if (authorized && !cc.has('public') && !cc.has('s-maxage') && !cc.has('must-revalidate')) return undefined;

  const { requestTime, responseTime } = times;
  const dateHeader = firstHeader(headers, 'date');
  const date = (dateHeader === undefined ? undefined : parseHttpDate(dateHeader)) ?? responseTime;

  let lifetimeMs: number | undefined;
  const sMaxAge = deltaSeconds(cc, 's-maxage');
  const maxAge = deltaSeconds(cc, 'max-age');
  if (sMaxAge !== undefined) lifetimeMs = sMaxAge * 1000;
  else if (maxAge !== undefined) lifetimeMs = maxAge * 1000;
  else if (cc.has('s-maxage') || cc.has('max-age'))
    lifetimeMs = 0; // malformed: stale (§4.2.1)
  else if (rules.expires && !targeted) {
    const expires = firstHeader(headers, 'expires');
    if (expires !== undefined) {
      // §5.3: an invalid Expires (such as "0", or a date in `UTC`) is a time in the past.
      const at = isHttpDate(expires) ? parseHttpDate(expires) : undefined;
      lifetimeMs = at === undefined ? 0 : Math.max(0, at - date);
    }
  }
  if (lifetimeMs === undefined && (HEURISTIC_STATUSES.has(status) || cc.has('public'))) {
    const configured = validFor(settings.valid, status);
    if (configured > 0) lifetimeMs = configured;
    else {
      const lm = firstHeader(headers, 'last-modified');
      const modified = lm === undefined ? undefined : parseHttpDate(lm);
      if (modified !== undefined && modified < date) {
        lifetimeMs = Math.min(settings.heuristicMaxMs, Math.floor((date - modified) * HEURISTIC_FRACTION));
      }
    }
  }
  const validator =
    firstHeader(headers, 'etag') !== undefined || firstHeader(headers, 'last-modified') !== undefined;
  // §5.2.2.4: an unqualified no-cache revalidates every use; no-cache="field" only
  // withholds the named fields (see withheldFields).
  if (cc.get('no-cache') === true) lifetimeMs = 0;
  if (lifetimeMs === undefined) return undefined;
  if (lifetimeMs === 0 && !validator) return undefined;

  // §4.2.3: apparent_age, corrected_age_value, corrected_initial_age.
  const apparentAge = Math.max(0, responseTime - date);
  const ageHeader = firstHeader(headers, 'age');
  const ageValue =
    ageHeader !== undefined && /^\d+$/.test(ageHeader.trim()) ? Number(ageHeader.trim()) * 1000 : 0;
  const correctedAge = ageValue + (responseTime - requestTime);
  const storedAt = responseTime - Math.max(apparentAge, correctedAge);
  const swr = deltaSeconds(cc, 'stale-while-revalidate');
  const sie = deltaSeconds(cc, 'stale-if-error');
  return {
    storedAt,
    expiresAt: storedAt + lifetimeMs,
    updatingMs: (swr ?? 0) * 1000,
    errorMs: (sie ?? 0) * 1000,
  };
}

/** What a stored response allows once stale (RFC 9111 §4.2.4, RFC 5861). */
export interface StalePermission {
  /** No stale use at all: `no-cache`, `must-revalidate`, `proxy-revalidate`. */
  readonly never: boolean;
  /** `s-maxage` (implies proxy-revalidate, §5.2.2.10): only the RFC 5861 windows it grants itself. */
  readonly ownWindowsOnly: boolean;
}

/** Reads the stale permission of a stored response from its headers. */
export function stalePermission(headers: readonly string[]): StalePermission {
  const { cc } = responseDirectives(headers);
  return {
    never: cc.has('no-cache') || cc.has('must-revalidate') || cc.has('proxy-revalidate'),
    ownWindowsOnly: cc.has('s-maxage'),
  };
}

/** The request's Cache-Control directives that the mode acts on (RFC 9111 §5.2.1). */
export interface RequestDirectives {
  /** `no-cache`: revalidate before using a stored response. */
  readonly noCache: boolean;
  /** `no-store`: do not store the response to this request. */
  readonly noStore: boolean;
  /** `max-age`: a stored response must be no older, ms. */
  readonly maxAgeMs: number | undefined;
  /** `max-stale`: a stale response is accepted up to this much past expiry, ms (`Infinity` without a value). */
  readonly maxStaleMs: number | undefined;
  /** `min-fresh`: a stored response must stay fresh at least this long more, ms. */
  readonly minFreshMs: number | undefined;
  /** `only-if-cached`: answer from the cache or with a 504. */
  readonly onlyIfCached: boolean;
}

/** No directives: what most requests send. */
export const NO_REQUEST_DIRECTIVES: RequestDirectives = {
  noCache: false,
  noStore: false,
  maxAgeMs: undefined,
  maxStaleMs: undefined,
  minFreshMs: undefined,
  onlyIfCached: false,
};

/** Reads the request directives; `NO_REQUEST_DIRECTIVES` when there is no Cache-Control. */
export function requestDirectives(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): RequestDirectives {
  const line = requestHeader(headers, 'cache-control');
  if (line === undefined) return NO_REQUEST_DIRECTIVES;
  const cc = parseCacheControl([line]);
  const ms = (name: string) => {
    const s = deltaSeconds(cc, name);
    return s === undefined ? undefined : s * 1000;
  };
  return {
    noCache: cc.has('no-cache'),
    noStore: cc.has('no-store'),
    maxAgeMs: ms('max-age'),
    maxStaleMs: cc.get('max-stale') === true ? Number.POSITIVE_INFINITY : ms('max-stale'),
    minFreshMs: ms('min-fresh'),
    onlyIfCached: cc.has('only-if-cached'),
  };
}

/** What {@link usable} reads of a stored response. */
export interface Lifetime {
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly headers: readonly string[];
}

/**
 * Whether a stored response may answer this request without going upstream
 * (RFC 9111 §4, §4.2, §5.2.1): `fresh` when it is fresh and meets `max-age` and
 * `min-fresh`; `stale` when it is stale but `max-stale` accepts it and the response does
 * not forbid stale use; `no` otherwise (and always with request `no-cache`).
 */
export function usable(entry: Lifetime, rd: RequestDirectives, now: number): 'fresh' | 'stale' | 'no' {
  if (rd.noCache) return 'no';
  const age = now - entry.storedAt;
  if (rd.maxAgeMs !== undefined && age > rd.maxAgeMs) return 'no';
  const left = entry.expiresAt - now;
  if (left > 0) {
    if (rd.minFreshMs !== undefined && left < rd.minFreshMs) return 'no';
    return 'fresh';
  }
  if (rd.maxStaleMs !== undefined && -left <= rd.maxStaleMs) {
    const p = stalePermission(entry.headers);
    if (!p.never && !p.ownWindowsOnly) return 'stale';
  }
  return 'no';
}

/** The safe methods of RFC 9110 §9.2.1; every other method is unsafe. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/**
 * RFC 9111 §4.4: whether a non-error response to this method invalidates stored
 * responses — an unsafe method, "including methods whose safety is unknown" (POST,
 * PUT, DELETE, PATCH, and any extension method). `method` uppercased.
 */
export function invalidates(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

/**
 * Whether a stored 2xx response answers the client's own conditional request with a
 * 304, by RFC 9110 §13.2.2's precedence: `If-None-Match` (weak comparison, §13.1.2)
 * decides alone when present; otherwise `If-Modified-Since`, for GET and HEAD only, is
 * met when the stored `Last-Modified` (else the time the response was generated, RFC
 * 9111 §4.3.2) is not later
 * than the given date. An invalid date is ignored (§13.1.3).
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-13.2.2
 */
export function rfcNotModified(
  method: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  entry: Validators & { readonly status: number; readonly storedAt: number },
): boolean {
  if (entry.status < 200 || entry.status >= 300) return false;
  if (method !== 'GET' && method !== 'HEAD') return false;
  const inm = requestHeader(headers, 'if-none-match');
  if (inm !== undefined) return etagListMatches(inm.trim(), entry.etag);
  const ims = requestHeader(headers, 'if-modified-since');
  if (ims === undefined) return false;
  const since = parseHttpDate(ims);
  if (since === undefined) return false;
  // Without Last-Modified, the time the response was generated (its age 0).
  const modified = entry.lastModified === undefined ? entry.storedAt : parseHttpDate(entry.lastModified);
  return modified !== undefined && modified <= since;
}

/**
 * The origin-form targets a non-error response to an unsafe request invalidates
 * (RFC 9111 §4.4): the request's own, and those of `Location` and `Content-Location`
 * when they are on the same origin (scheme and host).
 */
export function invalidatedTargets(url: string, origin: string, headers: readonly string[]): string[] {
  const out = [url];
  let base: URL;
  try {
    base = new URL(url, origin);
  } catch {
    return out;
  }
  for (const name of ['location', 'content-location']) {
    const v = firstHeader(headers, name);
    if (v === undefined) continue;
    let u: URL;
    try {
      u = new URL(v, base);
    } catch {
      continue;
    }
    if (u.origin !== base.origin) continue;
    const target = u.pathname + u.search;
    if (!out.includes(target)) out.push(target);
  }
  return out;
}

/** One byte range of a stored body, both ends included. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * The single byte range a GET asks of a stored complete response of `length` bytes
 * (RFC 9110 §14.2): `bytes=first-last`, `bytes=first-` or `bytes=-suffix`. `undefined`
 * — send the whole response, which a server may always do — when there is no `Range`,
 * several ranges, a malformed or unsatisfiable one, or an `If-Range` other than the
 * stored strong `ETag` (§13.1.5; a date in `If-Range` is not trusted).
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-14.2
 */
export function byteRange(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  length: number,
  entry: Validators,
): ByteRange | undefined {
  const range = requestHeader(headers, 'range');
  if (range === undefined) return undefined;
  const ifRange = requestHeader(headers, 'if-range');
  if (ifRange !== undefined) {
    const tag = ifRange.trim();
    if (!tag.startsWith('"') || entry.etag === undefined || tag !== entry.etag) return undefined;
  }
  const m = /^bytes=(\d*)-(\d*)$/i.exec(range.trim());
  if (m === null) return undefined;
  const first = m[1] as string;
  const last = m[2] as string;
  let start: number;
  let end = length - 1;
  if (first === '') {
    if (last === '' || Number(last) === 0) return undefined;
    start = Math.max(0, length - Number(last));
  } else {
    start = Number(first);
    if (last !== '') {
      if (Number(last) < start) return undefined;
      end = Math.min(Number(last), end);
    }
  }
  if (start >= length) return undefined;
  return { start, end };
}

/** The parts of an RFC 9211 Cache-Status member. */
export interface CacheStatusParams {
  readonly hit?: boolean;
  readonly fwd?: 'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'miss' | 'request' | 'stale';
  readonly fwdStatus?: number;
  /** Remaining freshness, ms (sent as whole seconds, may be negative). */
  readonly ttlMs?: number;
  readonly stored?: boolean;
  readonly collapsed?: boolean;
  /** Extra information, a token (e.g. `only-if-cached`). */
  readonly detail?: string;
}

/**
 * One member of the `Cache-Status` list (RFC 9211 §2): the cache's name, then its
 * parameters, e.g. `switchyard; fwd=uri-miss; stored`.
 * @see https://www.rfc-editor.org/rfc/rfc9211#section-2
 */
export function cacheStatusValue(name: string, p: CacheStatusParams): string {
  let v = name;
  if (p.hit === true) v += '; hit';
  if (p.fwd !== undefined) v += `; fwd=${p.fwd}`;
  if (p.fwdStatus !== undefined) v += `; fwd-status=${p.fwdStatus}`;
  if (p.ttlMs !== undefined) v += `; ttl=${Math.floor(p.ttlMs / 1000)}`;
  if (p.stored === true) v += '; stored';
  if (p.collapsed === true) v += '; collapsed';
  if (p.detail !== undefined) v += `; detail=${p.detail}`;
  return v;
}
