import { isObject, objectAt } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import type { Peer } from '../peer/index.js';
import { Upstream } from '../upstream/index.js';
import type { CacheZone, UpstreamSource } from './types.js';

/**
 * What the API keeps per upstream beside the `Peer` counters: numeric ids, removed peers
 * still serving (zombies) and down time. One record per upstream, shared by every admin
 * API and metrics object built on it, so ids agree between them.
 */
export interface Tracking {
  /** The upstream tracked. */
  readonly upstream: Upstream;
  /** The NGINX Plus id of a peer. */
  idOf(peer: Peer): number;
  /** The peer with this id, if it is still in the group. */
  byId(id: number): Peer | undefined;
  /** Removed peers with requests still in flight. */
  zombies(): number;
  /** Total ms spent unavail/checking/unhealthy, including the current stretch. */
  downtimeOf(peer: Peer): number;
  /** When the current down stretch began, ms (0 = not down now). */
  downstartOf(peer: Peer): number;
  /** Zeroes the down time (statistics reset). */
  resetDowntime(peer: Peer): void;
  /** Brings every peer's down-time record up to date. */
  observeAll(): void;
}

interface Down {
  /** Accumulated down time, ms. */
  total: number;
  /** Start of the current down stretch, ms; 0 = up. */
  since: number;
  /** While down only through passive health: when that rest ends at the latest. */
  until: number;
}

const records = new WeakMap<Upstream, Tracking>();

/** The tracking record of an upstream, made (and its listeners attached) on first use. */
export function track(upstream: Upstream): Tracking {
  let t = records.get(upstream);
  if (t === undefined) {
    t = createTracking(upstream);
    records.set(upstream, t);
  }
  return t;
}

function createTracking(upstream: Upstream): Tracking {
  // Ids: configuration order (primaries, then backups), then each added server takes the
  // next number; a removed server's id is never reused, as in NGINX Plus.
  let next = 0;
  const ids = new WeakMap<Peer, number>();
  const idOf = (peer: Peer): number => {
    let id = ids.get(peer);
    if (id === undefined) {
      id = next++;
      ids.set(peer, id);
    }
    return id;
  };
  for (const p of upstream.peers) idOf(p);

  const removed = new Set<Peer>();
  const downs = new WeakMap<Peer, Down>();
  const down = (peer: Peer): Down => {
    let d = downs.get(peer);
    if (d === undefined) {
      d = { total: 0, since: 0, until: 0 };
      downs.set(peer, d);
    }
    return d;
  };

  /**
   * NGINX Plus counts down time in the states unavail, checking and unhealthy. The flags
   * are read here, not `stateOf`, so a peer that is also `down` or draining still counts.
   */
  const observe = (peer: Peer): void => {
    const now = upstream.clock();
    const d = down(peer);
    const failed = peer.failedAt(now);
    const isDown = peer.checking || peer.unhealthy || failed;
    if (isDown) {
      if (d.since === 0) d.since = failed && !peer.checking && !peer.unhealthy ? peer.passive.checked : now;
      // A passive-health rest ends by itself, with no event: remember when at the latest.
      d.until = peer.checking || peer.unhealthy ? 0 : peer.passive.checked + peer.failTimeoutMs;
    } else if (d.since !== 0) {
      const end = d.until === 0 ? now : Math.min(now, d.until);
      d.total += Math.max(0, end - d.since);
      d.since = 0;
      d.until = 0;
    }
  };
  const observeAll = (): void => {
    for (const p of upstream.peers) observe(p);
  };

  upstream.on('peer:add', (peer) => {
    idOf(peer);
    observe(peer);
  });
  upstream.on('peer:remove', (peer) => {
    if (peer.active > 0) removed.add(peer);
  });
  for (const e of ['peer:unavail', 'peer:patch', 'peer:checked'] as const) upstream.on(e, observe);
  observeAll();

  return {
    upstream,
    idOf,
    byId(id) {
      for (const p of upstream.peers) if (idOf(p) === id) return p;
      return undefined;
    },
    zombies() {
      for (const p of removed) if (p.active <= 0) removed.delete(p);
      return removed.size;
    },
    downtimeOf(peer) {
      const d = down(peer);
      return d.total + (d.since === 0 ? 0 : Math.max(0, upstream.clock() - d.since));
    },
    downstartOf: (peer) => down(peer).since,
    resetDowntime(peer) {
      const d = down(peer);
      d.total = 0;
      if (d.since !== 0) d.since = upstream.clock();
    },
    observeAll,
  };
}

/** The groups shown, by name, each with its tracking record; called once per API request or scrape. */
export type Groups = () => ReadonlyMap<string, Tracking>;

/**
 * Validates the `upstreams` option and returns how to read the groups by the name shown:
 * `upstream.name` for a list or an {@link UpstreamSource}, the key for a map. A list or a
 * map is read now, once; a source is asked again on each call, so groups it makes later
 * show up (the first of two with one name wins, as a lookup by name would find it).
 */
export function groupsAt(path: string, value: unknown): Groups {
  if (isObject(value) && typeof value.groups === 'function') {
    return sourceGroups(path, value as unknown as UpstreamSource);
  }
  const fixed = new Map<string, Tracking>();
  for (const [name, u] of upstreamMap(path, value)) fixed.set(name, track(u));
  return () => fixed;
}

function upstreamMap(path: string, value: unknown): Map<string, Upstream> {
  const map = new Map<string, Upstream>();
  if (Array.isArray(value)) {
    for (const [i, u] of value.entries()) {
      if (!(u instanceof Upstream)) throw new InvalidOptionError(`${path}[${i}]`, 'an Upstream', u);
      if (map.has(u.name)) {
        throw new InvalidOptionError(`${path}[${i}].name`, 'a name no other upstream has', u.name);
      }
      map.set(u.name, u);
    }
    return map;
  }
  if (!isObject(value)) throw new InvalidOptionError(path, UPSTREAMS, value);
  for (const [k, u] of Object.entries(value)) {
    if (!(u instanceof Upstream)) throw new InvalidOptionError(`${path}.${k}`, 'an Upstream', u);
    map.set(k, u);
  }
  return map;
}

const UPSTREAMS = 'an array or a record of Upstreams, or an object with a groups() method';

/**
 * Reads a source's groups once now, so a source that does not work fails when the API or
 * the metrics are built; later reads skip what is not an `Upstream` rather than fail a request.
 */
function sourceGroups(path: string, source: UpstreamSource): Groups {
  const at = `${path}.groups()`;
  const list = source.groups();
  if (!isIterable(list)) throw new InvalidOptionError(at, 'an iterable of Upstreams', list);
  for (const [i, u] of [...list].entries()) {
    if (!(u instanceof Upstream)) throw new InvalidOptionError(`${at}[${i}]`, 'an Upstream', u);
  }
  return () => {
    const map = new Map<string, Tracking>();
    const now = source.groups();
    if (!isIterable(now)) return map;
    for (const u of now) {
      if (u instanceof Upstream && !map.has(u.name)) map.set(u.name, track(u));
    }
    return map;
  };
}

function isIterable(v: unknown): v is Iterable<unknown> {
  return typeof (v as { [Symbol.iterator]?: unknown } | null | undefined)?.[Symbol.iterator] === 'function';
}

/** Checks the `caches` option. */
export function cacheMap(path: string, value: unknown): Map<string, CacheZone> {
  const map = new Map<string, CacheZone>();
  if (value === undefined) return map;
  for (const [k, z] of Object.entries(objectAt(path, value))) {
    if (!isObject(z) || typeof z.stats !== 'function') {
      throw new InvalidOptionError(`${path}.${k}`, 'an object with a stats() method', z);
    }
    if (z.resetStats !== undefined && typeof z.resetStats !== 'function') {
      throw new InvalidOptionError(`${path}.${k}.resetStats`, 'a function', z.resetStats);
    }
    map.set(k, z as unknown as CacheZone);
  }
  return map;
}
