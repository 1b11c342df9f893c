import { intAt, optionsAt } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import { memoryConnStore, memoryRateStore } from '../memory-store/index.js';
import { parseRate, type Rate } from '../rate/index.js';
import type { ConnStore, KeyFunction, LimitRequest, RateStore } from '../types.js';

/**
 * Keys a zone keeps at most when `maxKeys` is not given. nginx sizes zones in bytes:
 * a `1m` zone keeps about 16,000 `limit_req` states and the docs' examples use `10m`
 * (about 160,000). 100,000 keys (a ~6m zone) cost at most ~15 MB of heap here.
 */
export const DEFAULT_MAX_KEYS = 100_000;

/**
 * The client address, nginx's `$binary_remote_addr`: the default key of a zone.
 * `undefined` (no socket, or a closed one) leaves the request unlimited by the zone.
 */
export const remoteAddress: KeyFunction = function remoteAddress(req: LimitRequest) {
  return req.socket?.remoteAddress;
};

/** Options of {@link rateZone}: nginx's `limit_req_zone key zone=name:size rate=rate`. */
export interface RateZoneOptions {
  /** The zone's name (`zone=name`); unique among the zones of one limiter. */
  name: string;
  /** `rate=`: `'10r/s'`, `'30r/m'` or a number of requests per second. */
  rate: Rate;
  /**
   * The key of a request (`limit_req_zone key`); an empty or `undefined` key leaves the
   * request unlimited by this zone.
   * @default the client address (`$binary_remote_addr`)
   */
  key?: KeyFunction;
  /**
   * Keys kept at most (nginx's zone `:size`); the least recently used key goes first.
   * @default 100000
   */
  maxKeys?: number;
  /**
   * Where the per-key state lives.
   * @default a memory store of this zone (`memoryRateStore()`)
   */
  store?: RateStore;
}

/** A `limit_req` zone built by {@link rateZone}: its settings, read by `createLimits`. */
export interface RateZone {
  /** Tells a rate zone from a connection zone. */
  readonly kind: 'limit_req_zone';
  /** The zone's name (`zone=name`), as the API and metrics show it. */
  readonly name: string;
  /** Requests per second, a whole number of thousandths (`30r/m` is 0.5, `1r/m` 0.016). */
  readonly rate: number;
  /** The key of a request; the client address unless given. */
  readonly key: KeyFunction;
  /** Keys kept at most. */
  readonly maxKeys: number;
  /** Where the per-key state lives. */
  readonly store: RateStore;
}

/** Options of {@link connZone}: nginx's `limit_conn_zone key zone=name:size`. */
export interface ConnZoneOptions {
  /** The zone's name; unique among the zones of one limiter. */
  name: string;
  /**
   * The key of a request; empty or `undefined`: not counted in this zone.
   * @default the client address (`$binary_remote_addr`)
   */
  key?: KeyFunction;
  /**
   * Keys counted at once at most; a new key in a full zone is refused, as nginx refuses
   * a request when the zone's memory is exhausted.
   * @default 100000
   */
  maxKeys?: number;
  /**
   * Where the counts live.
   * @default a memory store of this zone (`memoryConnStore()`)
   */
  store?: ConnStore;
}

/** A `limit_conn` zone built by {@link connZone}. */
export interface ConnZone {
  /** Tells a connection zone from a rate zone. */
  readonly kind: 'limit_conn_zone';
  /** The zone's name, as the API and metrics show it. */
  readonly name: string;
  /** The key of a request; the client address unless given. */
  readonly key: KeyFunction;
  /** Keys counted at once at most. */
  readonly maxKeys: number;
  /** Where the counts live. */
  readonly store: ConnStore;
}

const RATE_KEYS = new Set(['name', 'rate', 'key', 'maxKeys', 'store']);
const CONN_KEYS = new Set(['name', 'key', 'maxKeys', 'store']);

/**
 * Declares a request-rate zone, nginx's `limit_req_zone`. Use it in `createLimits`'s `req`.
 *
 * @example
 * const perIp = rateZone({ name: 'perip', rate: '10r/s' });
 * const perKey = rateZone({ name: 'perkey', rate: '30r/m', key: (req) => req.headers['x-api-key'] as string });
 * @see https://nginx.org/en/docs/http/ngx_http_limit_req_module.html#limit_req_zone
 */
export function rateZone(options: RateZoneOptions): RateZone {
  const o = common(options, RATE_KEYS);
  const rate = parseRate(options.rate, 'rate') / 1000;
  const store = options.store ?? memoryRateStore();
  if (typeof store?.take !== 'function')
    throw new InvalidOptionError('store', 'a RateStore (with take())', store);
  return Object.freeze({ kind: 'limit_req_zone', name: o.name, rate, key: o.key, maxKeys: o.maxKeys, store });
}

/**
 * Declares a connection zone, nginx's `limit_conn_zone`: requests in progress per key.
 * Use it in `createLimits`'s `conn`.
 *
 * @example
 * const perIp = connZone({ name: 'addr' });
 * @see https://nginx.org/en/docs/http/ngx_http_limit_conn_module.html#limit_conn_zone
 */
export function connZone(options: ConnZoneOptions): ConnZone {
  const o = common(options, CONN_KEYS);
  const store = options.store ?? memoryConnStore();
  if (typeof store?.acquire !== 'function' || typeof store.release !== 'function') {
    throw new InvalidOptionError('store', 'a ConnStore (with acquire() and release())', store);
  }
  return Object.freeze({ kind: 'limit_conn_zone', name: o.name, key: o.key, maxKeys: o.maxKeys, store });
}

function common(
  options: RateZoneOptions | ConnZoneOptions,
  known: Set<string>,
): { name: string; key: KeyFunction; maxKeys: number } {
  const o = optionsAt('', options, known);
  const { name, key = remoteAddress, maxKeys = DEFAULT_MAX_KEYS } = o;
  if (typeof name !== 'string' || name === '')
    throw new InvalidOptionError('name', 'a non-empty string', name);
  if (typeof key !== 'function')
    throw new InvalidOptionError('key', 'a function (req) => string | undefined', key);
  return { name, key: key as KeyFunction, maxKeys: intAt('maxKeys', maxKeys, DEFAULT_MAX_KEYS, 1) };
}
