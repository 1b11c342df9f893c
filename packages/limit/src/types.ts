import type { IncomingHttpHeaders } from 'node:http';

/**
 * The request a limit reads its key from: a `node:http` `IncomingMessage` fits, and so
 * does a plain object in a unit test.
 */
export interface LimitRequest {
  /** The request method. */
  readonly method?: string;
  /** The request-target as received. */
  readonly url?: string;
  /** The request headers, names in lower case. */
  readonly headers: IncomingHttpHeaders;
  /** The connection: `remoteAddress` is the client address (`$remote_addr`). */
  readonly socket?: {
    /** The peer's address, as `node:net` reports it. */
    readonly remoteAddress?: string | undefined;
  };
}

/**
 * The key of a request in a zone (nginx's `limit_req_zone key` / `limit_conn_zone key`).
 * `undefined` or `''`: the request is not limited by that zone, as in nginx.
 */
export type KeyFunction = (req: LimitRequest) => string | undefined;

/** `$limit_req_status`: what `limit_req` did with a request. */
export type LimitReqStatus = 'PASSED' | 'DELAYED' | 'REJECTED' | 'DELAYED_DRY_RUN' | 'REJECTED_DRY_RUN';

/** `$limit_conn_status`: what `limit_conn` did with a request. */
export type LimitConnStatus = 'PASSED' | 'REJECTED' | 'REJECTED_DRY_RUN';

/**
 * One zone's part in a `limit_req` check: nginx's `limit_req zone=… burst=… delay=…`
 * as the store needs it. Zones are checked in the order given.
 */
export interface RateTake {
  /** The zone's name (`zone=`); a store keeps each zone's keys apart. */
  readonly zone: string;
  /** The request's key in the zone (never empty: an empty key takes no part). */
  readonly key: string;
  /**
   * The rate in requests per second (nginx `rate=`; `30r/m` is 0.5), a whole number of
   * thousandths as nginx keeps it (`1r/m` is 0.016): stores compute in
   * `Math.round(rate * 1000)` thousandths.
   */
  readonly rate: number;
  /** `burst=`: requests beyond the rate held or let through before refusing. */
  readonly burst: number;
  /** `delay=`: requests of a burst let through at once (0 by default); `Infinity` for `nodelay`. */
  readonly delay: number;
  /** Keys the zone keeps at most (least recently used go first). */
  readonly maxKeys: number;
}

/**
 * The outcome of one `limit_req` check over several zones (nginx's
 * `ngx_http_limit_req_handler`): refused by a zone (nothing is stored in any zone), or
 * accounted in every zone and delayed by the longest delay any of them asks.
 */
export type RateResult =
  | {
      /** A zone refused: the excess passed its burst. */
      readonly action: 'reject';
      /** The index, in the takes, of the zone that refused. */
      readonly zone: number;
      /** That zone's excess, in thousandths of a request (as nginx logs it). */
      readonly excess: number;
    }
  | {
      /** Accounted in every zone; `delayMs` 0: let through at once. */
      readonly action: 'pass';
      /** How long to hold the request, ms: the longest of the zones' delays. */
      readonly delayMs: number;
      /** The index of the zone whose delay that is (-1 when 0). */
      readonly zone: number;
      /** That zone's excess, in thousandths of a request. */
      readonly excess: number;
    };

/**
 * Where rate zones keep nginx's per-key state (`excess` in thousandths of a request,
 * `last` in ms). A store runs the whole multi-zone check at once, at its own clock:
 * in memory, or in Redis in one round trip.
 */
export interface RateStore {
  /** Runs nginx's `limit_req` over `takes`, in order; `now` is ms (memory stores). */
  take(takes: readonly RateTake[]): RateResult | Promise<RateResult>;
  /**
   * `take`, then, unless a zone refused, `conn.acquire(connTakes)`, in one round trip
   * (nginx runs `limit_req` and `limit_conn` back to back). `undefined` when this store
   * cannot pair with `conn`: the limiter then calls the two stores one after the other.
   * `full` is `acquire`'s answer, absent when a rate zone refused.
   */
  takeAndAcquire?(
    takes: readonly RateTake[],
    conn: ConnStore,
    connTakes: readonly ConnTake[],
  ): Promise<RateAndConn> | undefined;
  /** Forgets every key of a zone (or of every zone). */
  clear?(zone?: string): void | Promise<void>;
}

/** What {@link RateStore.takeAndAcquire} answers. */
export interface RateAndConn {
  /** The `limit_req` outcome, as `take` answers it. */
  readonly rate: RateResult;
  /** `acquire`'s answer (the full zone's index, or -1); absent when a rate zone refused. */
  readonly full?: number;
}

/** One zone's part in a `limit_conn` check: nginx's `limit_conn zone N`. */
export interface ConnTake {
  /** The zone's name. */
  readonly zone: string;
  /** The request's key in the zone (never empty). */
  readonly key: string;
  /** Requests in flight per key at most. */
  readonly max: number;
  /** Keys the zone keeps at most. */
  readonly maxKeys: number;
}

/**
 * Where connection zones count requests in flight per key. `acquire` takes one slot in
 * each zone, in order; when a zone is full it gives back the slots it took before and
 * returns that zone's index (nginx `ngx_http_limit_conn_handler`), else -1.
 */
export interface ConnStore {
  /** Takes a slot in every zone, or none: the index of the full zone, or -1. */
  acquire(takes: readonly ConnTake[]): number | Promise<number>;
  /** Gives back the slots an `acquire` that returned -1 took. */
  release(takes: readonly ConnTake[]): void | Promise<void>;
  /** Forgets every key of a zone (or of every zone). */
  clear?(zone?: string): void | Promise<void>;
}

/** Counters of one `limit_req` zone, as NGINX Plus `/api/9/http/limit_reqs/{zone}` shows them. */
export interface LimitReqCounts {
  /** Requests let through at once. */
  passed: number;
  /** Requests held before being let through. */
  delayed: number;
  /** Requests refused. */
  rejected: number;
  /** Requests dry run would have held. */
  delayed_dry_run: number;
  /** Requests dry run would have refused. */
  rejected_dry_run: number;
}

/** Counters of one `limit_conn` zone, as NGINX Plus `/api/9/http/limit_conns/{zone}` shows them. */
export interface LimitConnCounts {
  /** Requests let through. */
  passed: number;
  /** Requests refused. */
  rejected: number;
  /** Requests dry run would have refused. */
  rejected_dry_run: number;
}

/**
 * What a limiter decided for one request. `action` says what to do now; `release()` must
 * be called once the response ended or the client went away, to give back the
 * `limit_conn` slots (it does nothing when none were taken, and nothing the second time).
 */
export interface LimitDecision {
  /** `pass`: go on now; `delay`: go on after `delayMs`; `reject`: answer `status`. */
  readonly action: 'pass' | 'delay' | 'reject';
  /** The status to answer a rejected request with (`limit_req_status` / `limit_conn_status`); 0 unless `reject`. */
  readonly status: number;
  /** With `delay`: how long to hold the request, ms. */
  readonly delayMs: number;
  /** `$limit_req_status`; `undefined` when no `limit_req` zone had a key for the request. */
  readonly limitReq: LimitReqStatus | undefined;
  /** `$limit_conn_status`; `undefined` when no `limit_conn` zone had a key for the request. */
  readonly limitConn: LimitConnStatus | undefined;
  /** Gives back the `limit_conn` slots taken for this request; safe to call twice. */
  release(): void;
}

/**
 * Request-rate and connection limits composed once (`createLimits`): nginx's `limit_req`
 * and `limit_conn` directives of a server and its locations. The API and the metrics of
 * `@switchyard/core` read its counters (`limitReqs`, `limitConns`).
 */
export interface Limiter {
  /**
   * Decides for one request: `limit_req` zones first, then `limit_conn`, as nginx's
   * preaccess phase runs them. `location` (as the rewrite rules name it) picks that
   * location's own limits, where it has some. Never throws or rejects: a failing store
   * lets the request through (or refuses it with `failClosed`) and is counted.
   */
  check(req: LimitRequest, location?: string): LimitDecision | Promise<LimitDecision>;
  /** The counters of every `limit_req` zone, by zone name. */
  limitReqs(): Record<string, LimitReqCounts>;
  /** The counters of every `limit_conn` zone, by zone name. */
  limitConns(): Record<string, LimitConnCounts>;
  /** Zeroes the counters of one `limit_req` zone, or of all (NGINX Plus `DELETE`). */
  resetLimitReq(zone?: string): void;
  /** Zeroes the counters of one `limit_conn` zone, or of all. */
  resetLimitConn(zone?: string): void;
  /**
   * Store failures (errors, rejections, answers later than `storeTimeoutMs`) by zone
   * name, counted for every zone of the failed call. Optional: added after the first
   * draft of this contract.
   */
  storeErrors?(): Record<string, number>;
}
