import { isObject, knownKeys } from '@switchyard/internals';
import { LRUCache } from 'lru-cache';
import { InvalidOptionError, SessionStoreError } from '../../errors.js';
import type { PeerView, Persistence, RequestInfo, ResponseHead } from '../../types.js';
import {
  isRequestSource,
  isResponseSource,
  type RequestSource,
  type ResponseSource,
  readRequest,
  readResponse,
} from '../sources.js';

/**
 * Where learned sessions live: session id → peer id, each forgotten after `ttlMs`
 * without use. `get` may answer synchronously.
 */
export interface SessionStore {
  /** The peer id of a session, refreshing its idle timer; `undefined` if unknown. */
  get(sessionId: string, ttlMs: number): string | undefined | Promise<string | undefined>;
  /** Records (or moves) a session. */
  set(sessionId: string, peerId: string, ttlMs: number): void | Promise<void>;
}

/** Options of {@link memorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** Sessions kept at most; the least recently used go first. @default 100000 */
  maxSessions?: number;
  /** The clock, in ms. @default performance.now */
  now?: () => number;
}

/** Every key of {@link MemorySessionStoreOptions}: any other is refused. */
const MEMORY_SESSION_STORE_KEYS = Object.keys({
  maxSessions: true,
  now: true,
} satisfies Record<keyof MemorySessionStoreOptions, true>);

/**
 * An in-process session store on lru-cache: bounded by count, least recently used out
 * first, idle sessions expire.
 */
export function memorySessionStore(options: MemorySessionStoreOptions = {}): SessionStore {
  if (isObject(options)) knownKeys('', options, MEMORY_SESSION_STORE_KEYS);
  const max = options.maxSessions ?? 100_000;
  if (!Number.isInteger(max) || max < 1)
    throw new InvalidOptionError('maxSessions', 'a positive integer', max);
  const now = options.now;
  const cache = new LRUCache<string, string>({
    max,
    ttlAutopurge: false,
    // Read the clock on every check: an injected clock may jump.
    ttlResolution: 0,
    updateAgeOnGet: true,
    ...(now === undefined ? {} : { perf: { now } }),
  });
  return {
    get: (id, ttlMs) => {
      const peer = cache.get(id);
      // updateAgeOnGet restarts the entry's own ttl; keep it in step with the option.
      if (peer !== undefined) cache.set(id, peer, { ttl: ttlMs });
      return peer;
    },
    set: (id, peer, ttlMs) => {
      cache.set(id, peer, { ttl: ttlMs });
    },
  };
}

/** Options of {@link stickyLearn}: nginx `sticky learn create=… lookup=… timeout=…`. */
export interface StickyLearnOptions {
  /** Where a new session id appears in the upstream's response, e.g. `{ cookie: 'SID' }`. */
  create: ResponseSource | readonly ResponseSource[];
  /** Where the session id is found in later requests, e.g. `{ cookie: 'SID' }`. */
  lookup: RequestSource | readonly RequestSource[];
  /** A session unused this long is forgotten (nginx `timeout`). @default 600000 */
  timeoutMs?: number;
  /** Where sessions live. @default memorySessionStore() */
  store?: SessionStore;
  /** Told when the store fails; the request then goes to the balancer. */
  onStoreError?: (error: SessionStoreError) => void;
}

/** Every key of {@link StickyLearnOptions}: any other is refused. */
const STICKY_LEARN_KEYS = Object.keys({
  create: true,
  lookup: true,
  timeoutMs: true,
  store: true,
  onStoreError: true,
} satisfies Record<keyof StickyLearnOptions, true>);

function sourcesOf<T>(
  value: T | readonly T[],
  check: (v: unknown) => boolean,
  path: string,
  what: string,
): T[] {
  const list = Array.isArray(value) ? [...value] : [value as T];
  for (const [i, s] of list.entries()) {
    if (!check(s)) throw new InvalidOptionError(Array.isArray(value) ? `${path}[${i}]` : path, what, s);
  }
  return list;
}

/**
 * Session persistence learned from the application (NGINX Plus `sticky learn`): when a
 * response creates a session (say, sets a `SID` cookie), the session is bound to the
 * peer that answered; requests carrying that session id go back to it until the
 * session sits unused for `timeoutMs`. An unknown session, or a failing store, leaves the
 * choice to the balancer.
 *
 * @example
 * ```ts
 * stickyLearn({ create: { cookie: 'SID' }, lookup: { cookie: 'SID' }, timeoutMs: 3_600_000 });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#sticky_learn
 */
export function stickyLearn(options: StickyLearnOptions): Persistence {
  if (isObject(options)) knownKeys('', options, STICKY_LEARN_KEYS);
  const create = sourcesOf<ResponseSource>(
    options?.create,
    isResponseSource,
    'create',
    '{ cookie }, { header } or a function',
  );
  const lookup = sourcesOf<RequestSource>(
    options.lookup,
    isRequestSource,
    'lookup',
    '{ cookie }, { query }, { header } or a function',
  );
  const timeoutMs = options.timeoutMs ?? 600_000;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
    throw new InvalidOptionError('timeoutMs', 'a positive integer', timeoutMs);
  const store = options.store ?? memorySessionStore();
  if (typeof store?.get !== 'function' || typeof store.set !== 'function') {
    throw new InvalidOptionError('store', 'a SessionStore with get() and set()', store);
  }
  const onStoreError = options.onStoreError;
  const tables = new WeakMap<readonly PeerView[], Map<string, PeerView>>();

  const failed = (err: unknown): undefined => {
    onStoreError?.(new SessionStoreError(`session store: ${(err as Error)?.message ?? String(err)}`, err));
    return undefined;
  };

  function peerById(peers: readonly PeerView[], id: string | undefined): PeerView | undefined {
    if (id === undefined) return undefined;
    let table = tables.get(peers);
    if (table === undefined) {
      table = new Map(peers.map((p) => [p.id, p]));
      tables.set(peers, table);
    }
    return table.get(id);
  }

  function sessionIn(req: RequestInfo): string | undefined {
    for (const source of lookup) {
      const v = readRequest(source, req);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  return {
    find(req: RequestInfo, peers: readonly PeerView[]): PeerView | undefined | Promise<PeerView | undefined> {
      const session = sessionIn(req);
      if (session === undefined) return undefined;
      let found: string | undefined | Promise<string | undefined>;
      try {
        found = store.get(session, timeoutMs);
      } catch (err) {
        return failed(err);
      }
      if (found instanceof Promise) return found.then((id) => peerById(peers, id), failed);
      return peerById(peers, found);
    },

    bind(_req: RequestInfo, res: ResponseHead, peer: PeerView): void {
      for (const source of create) {
        const session = readResponse(source, res);
        if (session === undefined) continue;
        try {
          const done = store.set(session, peer.id, timeoutMs);
          if (done instanceof Promise) done.catch(failed);
        } catch (err) {
          failed(err);
        }
        return;
      }
    },
  };
}
