import { isObject, knownKeys } from '@switchyard/internals';
import { InvalidOptionError } from '../../errors.js';
import type { SessionStore } from '../sticky-learn/index.js';

/**
 * The commands the store needs from a Redis client; the official `redis` client
 * (`createClient()`, connected) has them.
 */
export interface RedisLikeClient {
  /** `SET key value PX ms`. */
  set(key: string, value: string, options: { PX: number }): Promise<unknown>;
  /** `GETEX key PX ms`: reads and refreshes the TTL (Redis ≥ 6.2). */
  getEx(key: string, options: { PX: number }): Promise<string | null | unknown>;
}

/** Options of {@link redisSessionStore}. */
export interface RedisSessionStoreOptions {
  /**
   * A connected client of the official `redis` package. Bring your own: switchyard does not
   * depend on `redis`; any object with these two commands works.
   */
  client: RedisLikeClient;
  /** Prefix of every key. @default 'swy:session:' */
  prefix?: string;
}

/** Every key of {@link RedisSessionStoreOptions}: any other is refused. */
const REDIS_SESSION_STORE_KEYS = Object.keys({
  client: true,
  prefix: true,
} satisfies Record<keyof RedisSessionStoreOptions, true>);

/**
 * A session store in Redis, so several instances share learned sessions. Each session
 * is a key with a millisecond TTL, refreshed on every lookup (`GETEX … PX`). Errors
 * reach `stickyLearn`, which then leaves the choice to the balancer.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * const client = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * stickyLearn({ create: { cookie: 'SID' }, lookup: { cookie: 'SID' }, store: redisSessionStore({ client }) });
 * ```
 */
export function redisSessionStore(options: RedisSessionStoreOptions): SessionStore {
  if (isObject(options)) knownKeys('', options, REDIS_SESSION_STORE_KEYS);
  const client = options?.client;
  if (typeof client?.set !== 'function' || typeof client.getEx !== 'function') {
    throw new InvalidOptionError('client', 'a connected client of the redis package', client);
  }
  const prefix = options.prefix ?? 'swy:session:';
  if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'a string', prefix);
  return {
    async get(id, ttlMs) {
      const value = await client.getEx(prefix + id, { PX: ttlMs });
      return typeof value === 'string' ? value : undefined;
    },
    async set(id, peer, ttlMs) {
      await client.set(prefix + id, peer, { PX: ttlMs });
    },
  };
}
