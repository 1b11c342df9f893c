import { optionsAt } from '@switchyard/internals';
import { LRUCache } from 'lru-cache';
import { InvalidOptionError } from '../errors.js';
import type { ConnStore, ConnTake, RateResult, RateStore, RateTake } from '../types.js';

/** Options of {@link memoryRateStore}. */
export interface MemoryRateStoreOptions {
  /**
   * The clock, ms. Read once per `take` and truncated to whole ms, like nginx's
   * `ngx_current_msec`.
   * @default a monotonic clock (`performance.now()`)
   */
  now?: () => number;
}

/** One key's state in a zone: nginx's `ngx_http_limit_req_node_t` (`excess`, `last`). */
interface RateNode {
  /** Thousandths of a request over the rate. */
  excess: number;
  /** ms of the last accounted request. */
  last: number;
}

const monotonic = () => performance.now();

// Scratch of one take: the memory stores are synchronous, so a take never interleaves
// with another and these are reused instead of allocated per request.
const nodes: (RateNode | undefined)[] = [];
const excesses: number[] = [];
const stamps: number[] = [];
const created: boolean[] = [];
const keepLast: boolean[] = [];

/**
 * The per-key state of `limit_req` zones in this process's memory, with nginx's integer
 * arithmetic (nginx's `ngx_http_limit_req_lookup` and its handler's roll-back).
 * Synchronous: a check costs one LRU lookup per zone.
 */
export class MemoryRateStore implements RateStore {
  readonly #zones = new Map<string, LRUCache<string, RateNode>>();
  readonly #clock: () => number;
  /** The ms of the take in progress (one clock read per take, as nginx's per-event time). */
  now = 0;
  readonly #self = (): MemoryRateStore => this;

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  take(takes: readonly RateTake[]): RateResult {
    this.stamp();
    return limitReq(takes, this.#self);
  }

  clear(zone?: string): void {
    if (zone === undefined) this.#zones.clear();
    else this.#zones.delete(zone);
  }

  /** Reads the clock for a take. @internal */
  stamp(): void {
    this.now = Math.floor(this.#clock());
  }

  /** The keys of a zone, created on first use with the take's `maxKeys`. @internal */
  zone(name: string, maxKeys: number): LRUCache<string, RateNode> {
    let keys = this.#zones.get(name);
    if (keys === undefined) {
      keys = new LRUCache<string, RateNode>({ max: maxKeys });
      this.#zones.set(name, keys);
    }
    return keys;
  }

  /** How many keys a zone holds now (tests, introspection). */
  size(zone: string): number {
    return this.#zones.get(zone)?.size ?? 0;
  }
}

/**
 * nginx's `limit_req` over several zones, in memory: `ngx_http_limit_req_handler` with
 * `ngx_http_limit_req_lookup` and `ngx_http_limit_req_account` (nginx 1.22). `storeOf`
 * says which store keeps each zone (one store, or several memory stores combined).
 */
function limitReq(takes: readonly RateTake[], storeOf: (take: RateTake) => MemoryRateStore): RateResult {
  const n = takes.length;
  if (n === 0) return { action: 'pass', delayMs: 0, zone: -1, excess: 0 };
  for (let i = 0; i < n; i++) {
    const take = takes[i] as RateTake;
    const store = storeOf(take);
    const now = store.now;
    const keys = store.zone(take.zone, take.maxKeys);
    const node = keys.get(take.key);
    stamps[i] = now;
    if (node === undefined) {
      // lookup: a new node starts at excess 0 and is never refused. nginx gives a node
      // locked for a later account `last = 0`, which its monotonic clock drains to 0 there.
      const born: RateNode = { excess: 0, last: now };
      keys.set(take.key, born);
      nodes[i] = born;
      excesses[i] = 0;
      created[i] = true;
      keepLast[i] = true;
      continue;
    }
    // lookup: a clock that went back up to a minute drains nothing; further back, 1 ms.
    let ms = now - node.last;
    if (ms < -60000) ms = 1;
    else if (ms < 0) ms = 0;
    const rate = Math.round(take.rate * 1000);
    let excess = node.excess - Math.floor((rate * ms) / 1000) + 1000;
    if (excess < 0) excess = 0;
    if (excess > take.burst * 1000) {
      // NGX_BUSY: ngx_http_limit_req_unlock() gives back the zones locked before; nothing
      // is stored in any of them (a node created for this request is dropped again).
      for (let j = 0; j < i; j++) {
        if (created[j]) {
          const t = takes[j] as RateTake;
          storeOf(t).zone(t.zone, t.maxKeys).delete(t.key);
        }
        nodes[j] = undefined;
      }
      return { action: 'reject', zone: i, excess };
    }
    nodes[i] = node;
    excesses[i] = excess;
    created[i] = false;
    keepLast[i] = ms === 0;
  }
  // Account every zone: nginx stores the last one in lookup and the earlier ones in
  // ngx_http_limit_req_account(), with the same arithmetic at the same time. The delay is
  // the longest any zone asks, the last zone's first and then from the end, a tie keeping
  // the later zone (`delay > max_delay`).
  let delayMs = 0;
  let zone = -1;
  let excessOut = excesses[n - 1] as number;
  for (let i = n - 1; i >= 0; i--) {
    const take = takes[i] as RateTake;
    const node = nodes[i] as RateNode;
    const excess = excesses[i] as number;
    node.excess = excess;
    // `if (ms) lr->last = now`: a request in the same ms (or after the clock went back a
    // little) keeps `last`.
    if (!keepLast[i]) node.last = stamps[i] as number;
    nodes[i] = undefined;
    const d = delayOf(take, excess);
    if (d > delayMs) {
      delayMs = d;
      zone = i;
      excessOut = excess;
    }
  }
  return { action: 'pass', delayMs, zone, excess: excessOut };
}

/** ms to hold a request: `(excess - delay) * 1000 / rate`, truncated; 0 within `delay=`. */
function delayOf(take: RateTake, excess: number): number {
  const delay = take.delay * 1000;
  if (excess <= delay) return 0;
  return Math.floor(((excess - delay) * 1000) / Math.round(take.rate * 1000));
}

/**
 * Keeps `limit_req` state in memory: nginx's shared memory zone, for one process.
 *
 * @example
 * const store = memoryRateStore();
 * const zone = rateZone({ name: 'perip', rate: '10r/s', store });
 */
export function memoryRateStore(options: MemoryRateStoreOptions = {}): MemoryRateStore {
  const o = optionsAt('', options, ['now']);
  const now = o.now ?? monotonic;
  if (typeof now !== 'function') throw new InvalidOptionError('now', 'a function () => ms', now);
  return new MemoryRateStore(now as () => number);
}

/**
 * Several memory stores answering one `limit_req` list together (each zone at its own
 * store's clock): memory stores are synchronous, so the multi-zone rule holds across them.
 * @internal
 */
export function combineMemoryRateStores(byZone: ReadonlyMap<string, MemoryRateStore>): RateStore {
  const stores = [...new Set(byZone.values())];
  const storeOf = (take: RateTake): MemoryRateStore => byZone.get(take.zone) as MemoryRateStore;
  return {
    take(takes) {
      for (const s of stores) s.stamp();
      return limitReq(takes, storeOf);
    },
  };
}

/**
 * Requests in progress per key in memory: nginx's `limit_conn` zone for one process. A key
 * is forgotten when its count returns to 0.
 */
export class MemoryConnStore implements ConnStore {
  readonly #zones = new Map<string, Map<string, number>>();

  acquire(takes: readonly ConnTake[]): number {
    for (let i = 0; i < takes.length; i++) {
      const take = takes[i] as ConnTake;
      const counts = this.#zone(take.zone);
      const count = counts.get(take.key) ?? 0;
      // ngx_http_limit_conn_handler(): a full key, or no room for a new node, refuses;
      // ngx_http_limit_conn_cleanup_all() gives back the slots taken before.
      if (count >= take.max || (count === 0 && counts.size >= take.maxKeys)) {
        this.#release(takes, i);
        return i;
      }
      counts.set(take.key, count + 1);
    }
    return -1;
  }

  release(takes: readonly ConnTake[]): void {
    this.#release(takes, takes.length);
  }

  clear(zone?: string): void {
    if (zone === undefined) this.#zones.clear();
    else this.#zones.delete(zone);
  }

  /** The requests in progress for a key (tests, introspection). */
  count(zone: string, key: string): number {
    return this.#zones.get(zone)?.get(key) ?? 0;
  }

  #release(takes: readonly ConnTake[], n: number): void {
    for (let i = 0; i < n; i++) {
      const take = takes[i] as ConnTake;
      const counts = this.#zones.get(take.zone);
      const count = counts?.get(take.key);
      if (counts === undefined || count === undefined) continue;
      // ngx_http_limit_conn_cleanup(): the node goes when its count reaches 0.
      if (count <= 1) counts.delete(take.key);
      else counts.set(take.key, count - 1);
    }
  }

  #zone(name: string): Map<string, number> {
    let counts = this.#zones.get(name);
    if (counts === undefined) {
      counts = new Map();
      this.#zones.set(name, counts);
    }
    return counts;
  }
}

/**
 * Keeps `limit_conn` counts in memory.
 *
 * @example
 * const zone = connZone({ name: 'addr', store: memoryConnStore() });
 */
export function memoryConnStore(): MemoryConnStore {
  return new MemoryConnStore();
}
