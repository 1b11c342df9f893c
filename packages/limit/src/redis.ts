import { createHash } from 'node:crypto';
import { intAt, optionsAt } from '@switchyard/internals';
import { InvalidOptionError, LimitStoreError } from './errors.js';
import { ACQUIRE_SCRIPT, RATE_ACQUIRE_SCRIPT, RATE_SCRIPT, RELEASE_SCRIPT } from './redis.lua.js';
import type { ConnStore, ConnTake, RateResult, RateStore, RateTake } from './types.js';

/** Options for one command, as the official `redis` client takes them. */
export interface RedisCommandOptions {
  /** Reject when the command could not be written within this many ms. */
  timeout?: number;
}

/**
 * The one method the stores need from a Redis client: `sendCommand`, which the official
 * `redis` client (`createClient()`, v5 or later, connected) has.
 */
export interface RedisCommandClient {
  /** Sends a raw command, e.g. `['EVALSHA', sha, '1', key, …]`. */
  sendCommand(args: ReadonlyArray<string | Buffer>, options?: RedisCommandOptions): Promise<unknown>;
}

/** Options of {@link redisRateStore}. */
export interface RedisRateStoreOptions {
  /** A connected client of the official `redis` package (an optional peer dependency). */
  client: RedisCommandClient;
  /** Prefix of every key the store writes; keys are `<prefix>r:<zone>:<key>`. @default 'swy:limit:' */
  prefix?: string;
  /**
   * A check with no reply within this time rejects with a `LimitStoreError`, which the
   * limiter turns into fail-open (or fail-closed). @default 100
   */
  timeoutMs?: number;
  /**
   * For tests only: the clock, ms, sent with each check. By default the script reads
   * Redis's own clock (`TIME`), which every process sharing the store agrees on.
   */
  now?: () => number;
}

/** Options of {@link redisConnStore}. */
export interface RedisConnStoreOptions {
  /** A connected client of the official `redis` package (an optional peer dependency). */
  client: RedisCommandClient;
  /** Prefix of every key the store writes; keys are `<prefix>c:<zone>:<key>`. @default 'swy:limit:' */
  prefix?: string;
  /**
   * A safety for slots never given back (a process that crashed with requests in
   * progress): a key's counter is removed this long after its last `acquire`. Make it
   * longer than the longest request, or a long request's slot is forgotten. @default 600000
   */
  ttlMs?: number;
  /** An `acquire` or `release` with no reply within this time rejects. @default 100 */
  timeoutMs?: number;
}

/** A {@link RateStore} in Redis: every call answers asynchronously. */
export interface RedisRateStore extends RateStore {
  /** Runs nginx's `limit_req` over `takes` in one round trip, at Redis's clock. */
  take(takes: readonly RateTake[]): Promise<RateResult>;
  /** Removes every key of a zone (or of every zone) by `SCAN` and `UNLINK`. */
  clear(zone?: string): Promise<void>;
}

/** A {@link ConnStore} in Redis: every call answers asynchronously. */
export interface RedisConnStore extends ConnStore {
  /** Takes a slot in every zone, or none, in one round trip: the index of the full zone, or -1. */
  acquire(takes: readonly ConnTake[]): Promise<number>;
  /** Gives back the slots of an `acquire` that returned -1, in one round trip. */
  release(takes: readonly ConnTake[]): Promise<void>;
  /** Removes every counter of a zone (or of every zone). */
  clear(zone?: string): Promise<void>;
}

/** A rate key outlives the time it takes to drain to nothing by this much. */
const DRAIN_MARGIN_MS = 1000;

/** A Lua script run by `EVALSHA`; its SHA1 is computed here, so no `SCRIPT LOAD` is needed first. */
interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const RATE = script(RATE_SCRIPT);
const ACQUIRE = script(ACQUIRE_SCRIPT);
const RELEASE = script(RELEASE_SCRIPT);
const RATE_ACQUIRE = script(RATE_ACQUIRE_SCRIPT);

/** What a rate store on the same client needs of a conn store to acquire in its round trip. */
interface Pairing {
  readonly client: RedisCommandClient;
  /** The acquire script's keys and arguments for `takes`. */
  args(takes: readonly ConnTake[]): { keys: string[]; argv: string[] };
  /** Gives back slots granted to a caller that stopped waiting. */
  giveBack(keys: string[], takes: readonly ConnTake[]): void;
}

const kPairing = Symbol('switchyard.limit.pairing');

/** A rate script reply as a {@link RateResult}. */
function rateResult(reply: readonly unknown[]): RateResult {
  if (Number(reply[0]) === 1) return { action: 'reject', zone: Number(reply[1]), excess: Number(reply[2]) };
  return { action: 'pass', delayMs: Number(reply[1]), zone: Number(reply[2]), excess: Number(reply[3]) };
}

/**
 * Runs a script in one round trip: `EVALSHA`, and on `NOSCRIPT` (a Redis restarted or
 * `SCRIPT FLUSH`ed) `EVAL`, which runs it and caches it again. A failure, or no reply
 * within `timeoutMs`, rejects with a `LimitStoreError`; nothing throws synchronously.
 */
function evaluator(client: RedisCommandClient, timeoutMs: number) {
  const options: RedisCommandOptions = { timeout: timeoutMs };
  const send = async (args: string[]): Promise<unknown> => client.sendCommand(args, options);
  return async (
    s: Script,
    keys: readonly string[],
    argv: readonly string[],
    operation: string,
    zones: () => string[],
    late?: (reply: unknown) => void,
  ): Promise<unknown> => {
    const tail = [String(keys.length), ...keys, ...argv];
    const run = send(['EVALSHA', s.sha, ...tail]).catch((err: unknown) => {
      if (err instanceof Error && err.message.startsWith('NOSCRIPT'))
        return send(['EVAL', s.source, ...tail]);
      throw err;
    });
    try {
      return await within(run, timeoutMs, late);
    } catch (err) {
      throw storeError(operation, zones(), err, timeoutMs);
    }
  };
}

class TimeoutError extends Error {}

/** A `LimitStoreError` for what the client rejected with; ours or the client's timeout reads the same. */
function storeError(operation: string, zones: string[], err: unknown, timeoutMs: number): LimitStoreError {
  // The redis client's own TimeoutError has neither a name nor a message: match its class.
  const clientTimeout =
    err instanceof Error && (err.name === 'TimeoutError' || err.constructor.name === 'TimeoutError');
  if (err instanceof TimeoutError || clientTimeout) {
    return new LimitStoreError(operation, zones, `no reply from Redis within ${timeoutMs} ms`, err);
  }
  const message = err instanceof Error ? err.message || err.name : String(err);
  return new LimitStoreError(operation, zones, message, err);
}

/**
 * Rejects when no reply came in time. The client's own `timeout` only covers the wait
 * before a command is written, not a Redis that stopped answering; it is passed too, so
 * that commands queued while disconnected leave the queue. A reply that comes after the
 * rejection goes to `late`.
 */
function within<T>(reply: Promise<T>, ms: number, late?: (value: T) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new TimeoutError());
    }, ms);
    reply.then(
      (v) => {
        clearTimeout(timer);
        if (timedOut) late?.(v);
        else resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

function common(options: unknown, known: string[]) {
  const o = optionsAt('', options, known);
  const client = o.client as RedisCommandClient | undefined;
  if (typeof client?.sendCommand !== 'function') {
    throw new InvalidOptionError('client', 'a client of the redis package (with sendCommand)', client);
  }
  const prefix = o.prefix ?? 'swy:limit:';
  if (typeof prefix !== 'string') throw new InvalidOptionError('prefix', 'a string', prefix);
  const timeoutMs = intAt('timeoutMs', o.timeoutMs, 100, 1);
  return { o, client, prefix, timeoutMs };
}

/** `<prefix><kind>:<zone>:<key>`, the zone escaped so that no zone's keys meet another's. */
function keyOf(prefix: string, kind: string, zone: string, key: string): string {
  return `${prefix}${kind}:${encodeURIComponent(zone)}:${key}`;
}

/** Removes the keys of one zone (or of all) of a kind, by `SCAN` and `UNLINK`. */
async function clearKeys(
  client: RedisCommandClient,
  prefix: string,
  kind: string,
  zone: string | undefined,
  timeoutMs: number,
): Promise<void> {
  const start = zone === undefined ? `${prefix}${kind}:` : `${prefix}${kind}:${encodeURIComponent(zone)}:`;
  const match = `${start.replace(/[*?[\]\\]/g, '\\$&')}*`;
  // A clear walks the keyspace: give it longer than a check.
  const slowMs = Math.max(1000, timeoutMs * 10);
  const send = async (args: string[]) => client.sendCommand(args, { timeout: slowMs });
  const zones = zone === undefined ? [] : [zone];
  try {
    let cursor = '0';
    do {
      const reply = (await within(send(['SCAN', cursor, 'MATCH', match, 'COUNT', '1000']), slowMs)) as [
        string,
        string[],
      ];
      cursor = String(reply[0]);
      if (reply[1].length > 0) await within(send(['UNLINK', ...reply[1]]), slowMs);
    } while (cursor !== '0');
  } catch (err) {
    throw storeError('clear', zones, err, slowMs);
  }
}

/**
 * Keeps `limit_req` state in Redis, so several processes share one limit. A check is one
 * round trip: a Lua script (`EVALSHA`) runs nginx's whole multi-zone algorithm atomically
 * at Redis's clock, with nginx's integer arithmetic. Each key (`<prefix>r:<zone>:<key>`)
 * holds `excess:last` and expires once it would have drained to nothing (plus 1 s), so
 * Redis's memory stays bounded by the active keys: `maxKeys` does not apply. Needs
 * Redis ≥ 5 (a standalone server, or a Cluster with a hash tag in `prefix`, e.g. `'{limit}:'`).
 *
 * A failure, or no reply within `timeoutMs`, rejects with a `LimitStoreError`: the
 * limiter then lets the request through (or refuses it with `failClosed`).
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * const client = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * const perIp = rateZone({ name: 'perip', rate: '10r/s', store: redisRateStore({ client }) });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_limit_req_module.html
 */
export function redisRateStore(options: RedisRateStoreOptions): RedisRateStore {
  const { o, client, prefix, timeoutMs } = common(options, ['client', 'prefix', 'timeoutMs', 'now']);
  const now = o.now;
  if (now !== undefined && typeof now !== 'function') {
    throw new InvalidOptionError('now', 'a function () => ms', now);
  }
  const clock = now as (() => number) | undefined;
  const evaluate = evaluator(client, timeoutMs);
  const margin = String(DRAIN_MARGIN_MS);

  const args = (takes: readonly RateTake[]) => {
    const keys: string[] = [];
    const argv: string[] = [clock === undefined ? '' : String(Math.floor(clock())), margin];
    for (const t of takes) {
      keys.push(keyOf(prefix, 'r', t.zone, t.key));
      // nginx's integers: rate in thousandths of r/s (at least 1), burst and delay in
      // thousandths of a request; `nodelay` (delay ≥ burst) never delays, as an accepted
      // excess never passes the burst.
      const burst = Math.round(t.burst * 1000);
      argv.push(
        String(Math.max(1, Math.round(t.rate * 1000))),
        String(burst),
        String(t.delay >= t.burst ? burst : Math.round(t.delay * 1000)),
      );
    }
    return { keys, argv };
  };

  return {
    async take(takes: readonly RateTake[]): Promise<RateResult> {
      if (takes.length === 0) return { action: 'pass', delayMs: 0, zone: -1, excess: 0 };
      const { keys, argv } = args(takes);
      const reply = (await evaluate(RATE, keys, argv, 'take', () => takes.map((t) => t.zone))) as unknown[];
      return rateResult(reply);
    },

    takeAndAcquire(takes: readonly RateTake[], conn: ConnStore, connTakes: readonly ConnTake[]) {
      const pairing = (conn as { [kPairing]?: Pairing })[kPairing];
      if (pairing?.client !== client || takes.length === 0 || connTakes.length === 0) return undefined;
      const rate = args(takes);
      const acquire = pairing.args(connTakes);
      const zones = () => [...takes.map((t) => t.zone), ...connTakes.map((t) => t.zone)];
      // Slots granted after the caller stopped waiting are given back at once.
      const late = (reply: unknown) => {
        const r = reply as unknown[];
        if (Number(r[0]) === 0 && Number(r[4]) === -1) pairing.giveBack(acquire.keys, connTakes);
      };
      const argv = [String(rate.keys.length), String(rate.argv.length), ...rate.argv, ...acquire.argv];
      return evaluate(RATE_ACQUIRE, [...rate.keys, ...acquire.keys], argv, 'take', zones, late).then(
        (reply) => {
          const r = reply as unknown[];
          const result = rateResult(r);
          return result.action === 'reject' ? { rate: result } : { rate: result, full: Number(r[4]) };
        },
      );
    },

    clear(zone?: string): Promise<void> {
      return clearKeys(client, prefix, 'r', zone, timeoutMs);
    },
  };
}

/**
 * Counts `limit_conn` requests in progress in Redis, so several processes share one
 * limit. `acquire` and `release` are one round trip each (Lua scripts): acquire `INCR`s
 * each zone's key (`<prefix>c:<zone>:<key>`) in order and, at the first zone over its
 * max, takes back what it took and answers that zone's index; release `DECR`s, deleting a
 * key at 0. Each acquire sets the key's TTL to `ttlMs`, so the slots of a process that
 * crashed are not held forever. `maxKeys` does not apply.
 *
 * A failure, or no reply within `timeoutMs`, rejects with a `LimitStoreError`.
 *
 * @example
 * ```ts
 * import { createClient } from 'redis';
 * const client = await createClient({ url: 'redis://127.0.0.1:6379' }).connect();
 * const addr = connZone({ name: 'addr', store: redisConnStore({ client, ttlMs: 3_600_000 }) });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_limit_conn_module.html
 */
export function redisConnStore(options: RedisConnStoreOptions): RedisConnStore {
  const { o, client, prefix, timeoutMs } = common(options, ['client', 'prefix', 'ttlMs', 'timeoutMs']);
  const ttl = String(intAt('ttlMs', o.ttlMs, 600_000, 1));
  const evaluate = evaluator(client, timeoutMs);
  const keysOf = (takes: readonly ConnTake[]) => takes.map((t) => keyOf(prefix, 'c', t.zone, t.key));
  const zonesOf = (takes: readonly ConnTake[]) => () => takes.map((t) => t.zone);
  const release = (keys: string[], takes: readonly ConnTake[]) =>
    evaluate(RELEASE, keys, [], 'release', zonesOf(takes));
  const pairing: Pairing = {
    client,
    args: (takes) => ({ keys: keysOf(takes), argv: [ttl, ...takes.map((t) => String(t.max))] }),
    giveBack: (keys, takes) => void release(keys, takes).catch(() => {}),
  };

  const store: RedisConnStore = {
    async acquire(takes: readonly ConnTake[]): Promise<number> {
      if (takes.length === 0) return -1;
      const { keys, argv } = pairing.args(takes);
      // Slots granted after the caller was told the acquire failed are given back at once,
      // or they would be held until ttlMs.
      const giveBack = (reply: unknown) => {
        if (Number(reply) === -1) pairing.giveBack(keys, takes);
      };
      return Number(await evaluate(ACQUIRE, keys, argv, 'acquire', zonesOf(takes), giveBack));
    },

    async release(takes: readonly ConnTake[]): Promise<void> {
      if (takes.length === 0) return;
      await release(keysOf(takes), takes);
    },

    clear(zone?: string): Promise<void> {
      return clearKeys(client, prefix, 'c', zone, timeoutMs);
    },
  };
  // A rate store on the same client acquires in its own round trip (`takeAndAcquire`).
  Object.defineProperty(store, kPairing, { value: pairing });
  return store;
}
