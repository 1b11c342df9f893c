import { intAt, isObject, knownKeys } from '@switchyard/internals';
import { CacheStoreError, InvalidOptionError } from '../errors.js';
import type { CacheEntry, CacheStore } from '../types.js';

/** Options for one command, as the official `redis` client takes them. */
export interface RedisCommandOptions {
  /** RESP type → JS type; the store asks for bulk strings (type 36) as Buffers. */
  typeMapping?: Record<number, unknown>;
  /** Reject when no reply came within this many ms. */
  timeout?: number;
}

/**
 * The one method the store needs from a Redis client: `sendCommand`, which the official
 * `redis` client (`createClient()`, v5 or later, connected) has.
 */
export interface RedisCommandClient {
  /** Sends a raw command, e.g. `['GETEX', key, 'PX', '600000']`. */
  sendCommand(args: ReadonlyArray<string | Buffer>, options?: RedisCommandOptions): Promise<unknown>;
}

/** Options of {@link redisStore}. */
export interface RedisStoreOptions {
  /** A client of the official `redis` package (an optional peer dependency). */
  client: RedisCommandClient;
  /** Prefix of every key the store writes. @default 'swy:cache:' */
  prefix?: string;
  /**
   * An entry not used for this long is removed, fresh or not (nginx `inactive`); each
   * read restarts it. @default 600000
   */
  inactiveMs?: number;
  /**
   * A command with no reply within this time fails, so that a slow or unreachable Redis
   * sends requests upstream instead of holding them. Purges get ten times as long
   * (at least 1 s). @default 100
   */
  timeoutMs?: number;
}

/** Every key of {@link RedisStoreOptions}: any other is refused. */
const REDIS_STORE_KEYS = Object.keys({
  client: true,
  prefix: true,
  inactiveMs: true,
  timeoutMs: true,
} satisfies Record<keyof RedisStoreOptions, true>);

/** RESP bulk strings, asked for as Buffers. */
const AS_BUFFERS: Record<number, unknown> = { 36: Buffer };

/** The entry's fields but the body, as stored in front of it. */
interface Meta {
  s: number;
  h: readonly string[];
  sa: number;
  ea: number;
  um: number;
  em: number;
  et?: string;
  lm?: string;
  v?: readonly string[];
  vr?: string;
  t: readonly string[];
}

/** `[4-byte length of the JSON meta][meta][body]`: the body stays binary. */
export function encodeEntry(entry: CacheEntry): Buffer {
  const meta: Meta = {
    s: entry.status,
    h: entry.headers,
    sa: entry.storedAt,
    ea: entry.expiresAt,
    um: entry.updatingMs,
    em: entry.errorMs,
    t: entry.tags,
  };
  if (entry.etag !== undefined) meta.et = entry.etag;
  if (entry.lastModified !== undefined) meta.lm = entry.lastModified;
  if (entry.vary !== undefined) meta.v = entry.vary;
  if (entry.variant !== undefined) meta.vr = entry.variant;
  const json = Buffer.from(JSON.stringify(meta));
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(json.length, 0);
  return Buffer.concat([head, json, entry.body]);
}

/** Reads what {@link encodeEntry} wrote; `undefined` for anything else. */
export function decodeEntry(data: Buffer): CacheEntry | undefined {
  if (data.length < 4) return undefined;
  const length = data.readUInt32BE(0);
  if (4 + length > data.length) return undefined;
  let meta: Meta;
  try {
    meta = JSON.parse(data.subarray(4, 4 + length).toString('utf8')) as Meta;
  } catch {
    return undefined;
  }
  if (typeof meta?.s !== 'number' || !Array.isArray(meta.h)) return undefined;
  return {
    status: meta.s,
    headers: meta.h,
    body: data.subarray(4 + length),
    storedAt: meta.sa,
    expiresAt: meta.ea,
    updatingMs: meta.um,
    errorMs: meta.em,
    etag: meta.et,
    lastModified: meta.lm,
    vary: meta.v,
    variant: meta.vr,
    tags: meta.t ?? [],
  };
}

/**
 * Rejects when no reply came in time. The client's own `timeout` only covers the wait
 * before a command is written, not a Redis that stopped answering; it is passed too, so
 * that commands queued while disconnected leave the queue.
 */
function within<T>(reply: Promise<T>, ms: number, operation: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new CacheStoreError(operation, `no reply from Redis within ${ms} ms`)),
      ms,
    );
    reply.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** Escapes Redis glob characters so that a prefix matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * A cache store in Redis, so several instances share one cache. Each entry is one key
 * (`<prefix>e:<cache key>`) holding its metadata and binary body, expiring after
 * `inactiveMs` without use (`GETEX … PX`); each tag is a set of entry keys
 * (`<prefix>t:<tag>`). Needs Redis ≥ 7.0.
 *
 * Every command has a `timeoutMs`; a failure or a timeout rejects, and the cache then
 * goes upstream (`MISS`) and reports a `CacheStoreError` — a slow or absent Redis never
 * turns into a 5xx, and the store works again as soon as the client reconnects.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * const client = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * const cache = createCache({ store: redisStore({ client, prefix: 'shop:' }), valid: { 200: '10s' } });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_path
 */
export function redisStore(options: RedisStoreOptions): CacheStore {
  if (isObject(options)) knownKeys('', options, REDIS_STORE_KEYS);
  const client = options?.client;
  if (typeof client?.sendCommand !== 'function') {
    throw new InvalidOptionError('client', 'a client of the redis package (with sendCommand)', client);
  }
  const prefix = options.prefix ?? 'swy:cache:';
  if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'a string', prefix);
  const inactiveMs = intAt('inactiveMs', options.inactiveMs, 600_000, 1);
  const timeout = intAt('timeoutMs', options.timeoutMs, 100, 1);
  const ttl = String(inactiveMs);
  const slowMs = Math.max(1000, timeout * 10);
  const fastOptions: RedisCommandOptions = { timeout };
  const slowOptions: RedisCommandOptions = { timeout: slowMs };
  const bufferOptions: RedisCommandOptions = { typeMapping: AS_BUFFERS, timeout };
  const entryKey = (key: string) => `${prefix}e:${key}`;
  const tagKey = (tag: string) => `${prefix}t:${tag}`;
  const fast = (args: ReadonlyArray<string | Buffer>, operation: string) =>
    within(client.sendCommand(args, fastOptions), timeout, operation);
  const slow = (args: ReadonlyArray<string | Buffer>, operation: string) =>
    within(client.sendCommand(args, slowOptions), slowMs, operation);

  async function unlink(keys: string[], operation: string): Promise<number> {
    let n = 0;
    for (let i = 0; i < keys.length; i += 500) {
      n += Number(await slow(['UNLINK', ...keys.slice(i, i + 500)], operation));
    }
    return n;
  }

  return {
    async get(key) {
      const data = await within(
        client.sendCommand(['GETEX', entryKey(key), 'PX', ttl], bufferOptions),
        timeout,
        'get',
      );
      return Buffer.isBuffer(data) ? decodeEntry(data) : undefined;
    },

    async set(key, entry) {
      const k = entryKey(key);
      const writes: Promise<unknown>[] = [fast(['SET', k, encodeEntry(entry), 'PX', ttl], 'set')];
      // A tag lives as long as its longest-lived entry may: fresh time plus inactive time.
      const tagTtl = String(Math.max(0, entry.expiresAt - entry.storedAt) + inactiveMs);
      for (const tag of entry.tags) {
        const t = tagKey(tag);
        writes.push(
          fast(['SADD', t, k], 'set'),
          fast(['PEXPIRE', t, tagTtl, 'NX'], 'set'),
          fast(['PEXPIRE', t, tagTtl, 'GT'], 'set'),
        );
      }
      await Promise.all(writes);
    },

    async delete(key) {
      return Number(await slow(['UNLINK', entryKey(key)], 'delete')) > 0;
    },

    async deletePrefix(start) {
      const match = `${escapeGlob(entryKey(start))}*`;
      let cursor = '0';
      let n = 0;
      do {
        const reply = (await slow(['SCAN', cursor, 'MATCH', match, 'COUNT', '1000'], 'deletePrefix')) as [
          string,
          string[],
        ];
        cursor = String(reply[0]);
        if (reply[1].length > 0) n += await unlink(reply[1], 'deletePrefix');
      } while (cursor !== '0');
      return n;
    },

    async deleteTag(tag) {
      const t = tagKey(tag);
      const members = (await slow(['SMEMBERS', t], 'deleteTag')) as string[];
      const n = members.length > 0 ? await unlink(members, 'deleteTag') : 0;
      await slow(['UNLINK', t], 'deleteTag');
      return n;
    },
  };
}
