import { boolAt, hasCode, intAt, optionPath, optionsAt } from '@switchyard/internals';
import { InvalidOptionError, LimitStoreError } from '../errors.js';
import { combineMemoryRateStores, MemoryConnStore, MemoryRateStore } from '../memory-store/index.js';
import type {
  ConnStore,
  ConnTake,
  KeyFunction,
  LimitConnCounts,
  LimitConnStatus,
  LimitDecision,
  Limiter,
  LimitReqCounts,
  LimitReqStatus,
  LimitRequest,
  RateResult,
  RateStore,
  RateTake,
} from '../types.js';
import type { ConnZone, RateZone } from '../zone/index.js';

/** One `limit_req zone=… burst=… delay=…|nodelay` directive. */
export interface LimitReqOptions {
  /** The zone (`zone=`), from {@link rateZone}. */
  zone: RateZone;
  /**
   * `burst=`: requests over the rate held (or let through, with `nodelay` / `delay=`)
   * before refusing.
   * @default 0
   */
  burst?: number;
  /**
   * `delay=`: requests of a burst let through at once, the rest held.
   * @default 0 (every request over the rate is held)
   */
  delay?: number;
  /** `nodelay`: never hold a request; a burst passes at once and refills at the rate. */
  nodelay?: boolean;
}

/** One `limit_conn zone number` directive. */
export interface LimitConnOptions {
  /** The zone, from {@link connZone}. */
  zone: ConnZone;
  /** Requests in progress per key at most (1..65535). */
  max: number;
}

/**
 * The limits of one level, a server or a location. A location's own `req` list replaces
 * the server's whole list (nginx does not merge `limit_req` lists); the same for `conn`,
 * and each status and dry-run setting on its own.
 */
export interface LimitsLocationOptions {
  /** `limit_req` directives, checked in this order. */
  req?: readonly LimitReqOptions[];
  /** `limit_conn` directives, checked in this order. */
  conn?: readonly LimitConnOptions[];
  /**
   * `limit_req_status`: the status of a refused request (400..599).
   * @default 503
   */
  reqStatus?: number;
  /**
   * `limit_conn_status` (400..599).
   * @default 503
   */
  connStatus?: number;
  /**
   * `limit_req_dry_run on`: account as usual but never hold or refuse.
   * @default false
   */
  reqDryRun?: boolean;
  /**
   * `limit_conn_dry_run on`: never refuse; a request over the limit goes on uncounted.
   * @default false
   */
  connDryRun?: boolean;
}

/** Options of {@link createLimits}: a server's limits and its locations'. */
export interface LimitsOptions extends LimitsLocationOptions {
  /** Limits by location name (as `check(req, location)` names it), inheriting from the server. */
  locations?: Readonly<Record<string, LimitsLocationOptions>>;
  /**
   * Refuse a request (with the zone's status) when its store fails or is too slow,
   * instead of letting it through.
   * @default false (fail open)
   */
  failClosed?: boolean;
  /**
   * How long an asynchronous store may take, ms; later counts as a failure.
   * @default 100
   */
  storeTimeoutMs?: number;
  /** Told of every store failure; the request is not (it passes, or with `failClosed` is refused). */
  onError?: (err: LimitStoreError) => void;
}

/** The `limit_req` / `limit_conn` status when nginx's `*_status` directive is not set. */
export const DEFAULT_LIMIT_STATUS = 503;
/** `storeTimeoutMs` when not set. */
export const DEFAULT_STORE_TIMEOUT_MS = 100;

// nginx skips keys longer than these (logged, not limited): ngx_http_limit_req_handler
// (65535 bytes) and ngx_http_limit_conn_handler (255 bytes).
const MAX_REQ_KEY_BYTES = 65535;
const MAX_CONN_KEY_BYTES = 255;

interface ReqEntry {
  readonly zone: RateZone;
  readonly burst: number;
  readonly delay: number;
  readonly counts: LimitReqCounts;
}

interface ConnEntry {
  readonly zone: ConnZone;
  readonly max: number;
  readonly counts: LimitConnCounts;
}

interface Plan {
  readonly req: readonly ReqEntry[];
  readonly rateStore: RateStore | undefined;
  readonly conn: readonly ConnEntry[];
  readonly connStore: ConnStore | undefined;
  readonly reqStatus: number;
  readonly connStatus: number;
  readonly reqDryRun: boolean;
  readonly connDryRun: boolean;
}

/** What `limit_req` made of a request. */
interface ReqOutcome {
  readonly status: LimitReqStatus | undefined;
  readonly reject: boolean;
  readonly delayMs: number;
}

/** What `limit_conn` made of a request; `held`: the slots to give back. */
interface ConnOutcome {
  readonly status: LimitConnStatus | undefined;
  readonly reject: boolean;
  readonly held: readonly ConnTake[] | undefined;
}

const NO_REQ: ReqOutcome = { status: undefined, reject: false, delayMs: 0 };
const REQ_PASSED: ReqOutcome = { status: 'PASSED', reject: false, delayMs: 0 };
const REQ_REJECTED: ReqOutcome = { status: 'REJECTED', reject: true, delayMs: 0 };
const REQ_REJECTED_DRY_RUN: ReqOutcome = { status: 'REJECTED_DRY_RUN', reject: false, delayMs: 0 };
const REQ_DELAYED_DRY_RUN: ReqOutcome = { status: 'DELAYED_DRY_RUN', reject: false, delayMs: 0 };
const NO_CONN: ConnOutcome = { status: undefined, reject: false, held: undefined };
const CONN_REJECTED: ConnOutcome = { status: 'REJECTED', reject: true, held: undefined };
const CONN_REJECTED_DRY_RUN: ConnOutcome = { status: 'REJECTED_DRY_RUN', reject: false, held: undefined };

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

const SERVER_KEYS = new Set([
  'req',
  'conn',
  'reqStatus',
  'connStatus',
  'reqDryRun',
  'connDryRun',
  'locations',
  'failClosed',
  'storeTimeoutMs',
  'onError',
]);
const LOCATION_KEYS = new Set(['req', 'conn', 'reqStatus', 'connStatus', 'reqDryRun', 'connDryRun']);
const REQ_KEYS = new Set(['zone', 'burst', 'delay', 'nodelay']);
const CONN_KEYS = new Set(['zone', 'max']);

/**
 * Composes nginx's `limit_req` and `limit_conn` directives of a server and its locations
 * into a {@link Limiter}. Options are validated now; a bad one throws `InvalidOptionError`
 * naming its path (`req[0].burst`).
 *
 * @example
 * const perIp = rateZone({ name: 'perip', rate: '10r/s' });
 * const addr = connZone({ name: 'addr' });
 * const limits = createLimits({
 *   req: [{ zone: perIp, burst: 20, nodelay: true }],
 *   conn: [{ zone: addr, max: 10 }],
 *   locations: { '/login': { req: [{ zone: perIp, burst: 2 }], reqStatus: 429 } },
 * });
 * const d = await limits.check(req, '/login'); // sync with memory stores
 * if (d.action === 'reject') res.writeHead(d.status).end();
 * // … when the response is over: d.release();
 * @see https://nginx.org/en/docs/http/ngx_http_limit_req_module.html
 * @see https://nginx.org/en/docs/http/ngx_http_limit_conn_module.html
 */
export function createLimits(options: LimitsOptions = {}): Limiter {
  return new Limits(options);
}

class Limits implements Limiter {
  readonly #server: Plan;
  readonly #locations = new Map<string, Plan>();
  readonly #reqCounts = new Map<string, LimitReqCounts>();
  readonly #connCounts = new Map<string, LimitConnCounts>();
  readonly #storeErrors = new Map<string, number>();
  readonly #rateZones = new Map<string, RateZone>();
  readonly #connZones = new Map<string, ConnZone>();
  readonly #failClosed: boolean;
  readonly #timeoutMs: number;
  readonly #onError: ((err: LimitStoreError) => void) | undefined;

  constructor(options: LimitsOptions) {
    const o = optionsAt('', options, SERVER_KEYS);
    this.#failClosed = boolAt('failClosed', o.failClosed, false);
    this.#timeoutMs = intAt('storeTimeoutMs', o.storeTimeoutMs, DEFAULT_STORE_TIMEOUT_MS, 1);
    if (o.onError !== undefined && typeof o.onError !== 'function') {
      throw new InvalidOptionError('onError', 'a function (err) => void', o.onError);
    }
    this.#onError = o.onError as ((err: LimitStoreError) => void) | undefined;
    const server = this.#plan(o, '', undefined);
    this.#server = server;
    if (o.locations !== undefined) {
      const locations = o.locations;
      if (locations === null || typeof locations !== 'object' || Array.isArray(locations)) {
        throw new InvalidOptionError('locations', 'an object of location names', locations);
      }
      for (const [name, loc] of Object.entries(locations as Record<string, unknown>)) {
        const path = `locations[${JSON.stringify(name)}]`;
        this.#locations.set(name, this.#plan(optionsAt(path, loc, LOCATION_KEYS), path, server));
      }
    }
  }

  check(req: LimitRequest, location?: string): LimitDecision | Promise<LimitDecision> {
    const plan = (location === undefined ? undefined : this.#locations.get(location)) ?? this.#server;
    if (plan.rateStore?.takeAndAcquire !== undefined && plan.connStore !== undefined) {
      const both = this.#both(plan, req);
      if (both !== undefined) return both;
    }
    // nginx runs limit_req, then limit_conn, in the preaccess phase (see the README).
    const r = plan.rateStore === undefined ? NO_REQ : this.#limitReq(plan, req);
    if (isPromise(r)) return r.then((outcome) => this.#afterReq(plan, req, outcome));
    return this.#afterReq(plan, req, r);
  }

  limitReqs(): Record<string, LimitReqCounts> {
    const out: Record<string, LimitReqCounts> = {};
    for (const [name, c] of this.#reqCounts) out[name] = { ...c };
    return out;
  }

  limitConns(): Record<string, LimitConnCounts> {
    const out: Record<string, LimitConnCounts> = {};
    for (const [name, c] of this.#connCounts) out[name] = { ...c };
    return out;
  }

  storeErrors(): Record<string, number> {
    return Object.fromEntries(this.#storeErrors);
  }

  resetLimitReq(zone?: string): void {
    for (const [name, c] of this.#reqCounts) {
      if (zone !== undefined && zone !== name) continue;
      c.passed = c.delayed = c.rejected = c.delayed_dry_run = c.rejected_dry_run = 0;
    }
  }

  resetLimitConn(zone?: string): void {
    for (const [name, c] of this.#connCounts) {
      if (zone !== undefined && zone !== name) continue;
      c.passed = c.rejected = c.rejected_dry_run = 0;
    }
  }

  // ---- the request path ----

  /**
   * `limit_req` and `limit_conn` in one round trip, when the rate store can acquire on the
   * conn store (two Redis stores on one client); `undefined` otherwise.
   */
  #both(plan: Plan, req: LimitRequest): Promise<LimitDecision> | undefined {
    const rate = this.#rateTakes(plan, req);
    const conn = rate === undefined ? undefined : this.#connTakes(plan, req);
    if (rate === undefined || conn === undefined) return undefined;
    const connStore = plan.connStore as ConnStore;
    let p: ReturnType<NonNullable<RateStore['takeAndAcquire']>>;
    try {
      p = (plan.rateStore as RateStore).takeAndAcquire?.(rate.takes, connStore, conn.takes);
    } catch (err) {
      p = Promise.reject(err);
    }
    if (p === undefined) return undefined;
    // Slots granted after we stopped waiting are given back at once.
    const late = (v: { readonly full?: number }) => {
      if (v.full === -1) this.#release(connStore, conn.takes);
    };
    return this.#settle(p, late).then((s) => {
      if (!s.ok) {
        const r = this.#reqFailed(plan, rate.used, s.error);
        return r.reject
          ? new Decision(this, 'reject', plan.reqStatus, 0, r.status, undefined, undefined, plan)
          : this.#decide(plan, r, NO_CONN);
      }
      const r = this.#reqResult(plan, rate.used, s.value.rate);
      const full = s.value.full;
      if (full === undefined) return this.#afterReq(plan, req, r);
      if (r.reject) {
        if (full === -1) this.#release(connStore, conn.takes);
        return new Decision(this, 'reject', plan.reqStatus, 0, r.status, undefined, undefined, plan);
      }
      return this.#decide(plan, r, this.#connResult(plan, conn.used, conn.takes, full));
    });
  }

  #afterReq(plan: Plan, req: LimitRequest, r: ReqOutcome): LimitDecision | Promise<LimitDecision> {
    // A refused request never reaches limit_conn: $limit_conn_status stays empty.
    if (r.reject)
      return new Decision(this, 'reject', plan.reqStatus, 0, r.status, undefined, undefined, plan);
    const c = plan.connStore === undefined ? NO_CONN : this.#limitConn(plan, req);
    if (isPromise(c)) return c.then((outcome) => this.#decide(plan, r, outcome));
    return this.#decide(plan, r, c);
  }

  #decide(plan: Plan, r: ReqOutcome, c: ConnOutcome): LimitDecision {
    if (c.reject)
      return new Decision(this, 'reject', plan.connStatus, 0, r.status, c.status, undefined, plan);
    const action = r.delayMs > 0 ? 'delay' : 'pass';
    return new Decision(this, action, 0, r.delayMs, r.status, c.status, c.held, plan);
  }

  /** The rate zones with a key for the request, as the store takes them. */
  #rateTakes(plan: Plan, req: LimitRequest): Takes<RateTake, ReqEntry> | undefined {
    return takesOf(plan.req, req, MAX_REQ_KEY_BYTES, (e, key) => ({
      zone: e.zone.name,
      key,
      rate: e.zone.rate,
      burst: e.burst,
      delay: e.delay,
      maxKeys: e.zone.maxKeys,
    }));
  }

  #limitReq(plan: Plan, req: LimitRequest): ReqOutcome | Promise<ReqOutcome> {
    const rate = this.#rateTakes(plan, req);
    if (rate === undefined) return NO_REQ;
    const { takes, used: entries } = rate;
    let result: RateResult | Promise<RateResult>;
    try {
      result = (plan.rateStore as RateStore).take(takes);
    } catch (err) {
      return this.#reqFailed(plan, entries, err);
    }
    if (isPromise(result)) {
      return this.#settle(result, undefined).then((s) =>
        s.ok ? this.#reqResult(plan, entries, s.value) : this.#reqFailed(plan, entries, s.error),
      );
    }
    return this.#reqResult(plan, entries, result);
  }

  #reqResult(plan: Plan, used: readonly ReqEntry[], result: RateResult): ReqOutcome {
    if (result?.action === 'reject' && used[result.zone] !== undefined) {
      return refused(
        (used[result.zone] as ReqEntry).counts,
        plan.reqDryRun,
        REQ_REJECTED,
        REQ_REJECTED_DRY_RUN,
      );
    }
    if (result?.action !== 'pass' || !(result.delayMs >= 0)) {
      return this.#reqFailed(plan, used, new Error(`the store answered ${JSON.stringify(result)}`));
    }
    const delayed = result.delayMs > 0 ? result.zone : -1;
    for (let i = 0; i < used.length; i++) {
      const counts = (used[i] as ReqEntry).counts;
      if (i !== delayed) counts.passed++;
      else if (plan.reqDryRun) counts.delayed_dry_run++;
      else counts.delayed++;
    }
    if (result.delayMs === 0) return REQ_PASSED;
    if (plan.reqDryRun) return REQ_DELAYED_DRY_RUN;
    return { status: 'DELAYED', reject: false, delayMs: result.delayMs };
  }

  #reqFailed(plan: Plan, used: readonly ReqEntry[], err: unknown): ReqOutcome {
    this.#report(
      'take',
      used.map((e) => e.zone.name),
      err,
    );
    if (!this.#failClosed) return NO_REQ;
    return refused((used[0] as ReqEntry).counts, plan.reqDryRun, REQ_REJECTED, REQ_REJECTED_DRY_RUN);
  }

  /** The conn zones with a key for the request, as the store takes them. */
  #connTakes(plan: Plan, req: LimitRequest): Takes<ConnTake, ConnEntry> | undefined {
    return takesOf(plan.conn, req, MAX_CONN_KEY_BYTES, (e, key) => ({
      zone: e.zone.name,
      key,
      max: e.max,
      maxKeys: e.zone.maxKeys,
    }));
  }

  #limitConn(plan: Plan, req: LimitRequest): ConnOutcome | Promise<ConnOutcome> {
    const conn = this.#connTakes(plan, req);
    if (conn === undefined) return NO_CONN;
    const store = plan.connStore as ConnStore;
    const { takes: all, used: entries } = conn;
    let result: number | Promise<number>;
    try {
      result = store.acquire(all);
    } catch (err) {
      return this.#connFailed(plan, entries, err);
    }
    if (isPromise(result)) {
      // Slots a store takes after we stopped waiting are given back at once.
      const late = (value: number) => {
        if (value === -1) this.#release(store, all);
      };
      return this.#settle(result, late).then((s) =>
        s.ok ? this.#connResult(plan, entries, all, s.value) : this.#connFailed(plan, entries, s.error),
      );
    }
    return this.#connResult(plan, entries, all, result);
  }

  #connResult(plan: Plan, used: readonly ConnEntry[], takes: readonly ConnTake[], full: number): ConnOutcome {
    if (full === -1) {
      for (const e of used) e.counts.passed++;
      return { status: 'PASSED', reject: false, held: takes };
    }
    const entry = Number.isInteger(full) ? used[full] : undefined;
    if (entry === undefined) {
      return this.#connFailed(plan, used, new Error(`the store answered ${JSON.stringify(full)}`));
    }
    // ngx_http_limit_conn_handler(): the store gave back the slots of the zones before;
    // in dry run the request goes on uncounted.
    return refused(entry.counts, plan.connDryRun, CONN_REJECTED, CONN_REJECTED_DRY_RUN);
  }

  #connFailed(plan: Plan, used: readonly ConnEntry[], err: unknown): ConnOutcome {
    this.#report(
      'acquire',
      used.map((e) => e.zone.name),
      err,
    );
    if (!this.#failClosed) return NO_CONN;
    return refused((used[0] as ConnEntry).counts, plan.connDryRun, CONN_REJECTED, CONN_REJECTED_DRY_RUN);
  }

  /** Gives back slots; a failure is reported, never thrown. @internal */
  #release(store: ConnStore, takes: readonly ConnTake[]): void {
    const zones = () => takes.map((t) => t.zone);
    try {
      const done = store.release(takes);
      if (isPromise(done)) done.then(undefined, (err: unknown) => this.#report('release', zones(), err));
    } catch (err) {
      this.#report('release', zones(), err);
    }
  }

  /** Used by {@link Decision}. @internal */
  release(plan: Plan, takes: readonly ConnTake[]): void {
    this.#release(plan.connStore as ConnStore, takes);
  }

  /** Waits for a store at most `storeTimeoutMs`; never rejects. */
  #settle<T>(p: Promise<T>, late: ((value: T) => void) | undefined): Promise<Settled<T>> {
    const ms = this.#timeoutMs;
    return new Promise<Settled<T>>((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        resolve({ ok: false, error: new Error(`no answer within ${ms} ms`) });
      }, ms);
      timer.unref?.();
      p.then(
        (value) => {
          if (done) {
            late?.(value);
            return;
          }
          done = true;
          clearTimeout(timer);
          resolve({ ok: true, value });
        },
        (error: unknown) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve({ ok: false, error });
        },
      );
    });
  }

  #report(operation: string, zones: readonly string[], cause: unknown): void {
    for (const z of zones) this.#storeErrors.set(z, (this.#storeErrors.get(z) ?? 0) + 1);
    if (this.#onError === undefined) return;
    // A store that already reports a LimitStoreError (the Redis stores do) is passed on as is.
    const err = hasCode<LimitStoreError>(cause, 'SWY_ERR_LIMIT_STORE')
      ? cause
      : new LimitStoreError(operation, zones, cause instanceof Error ? cause.message : String(cause), cause);
    try {
      this.#onError(err);
    } catch {
      // A throwing onError must not turn into a failed request.
    }
  }

  // ---- building ----

  #plan(o: Record<string, unknown>, path: string, parent: Plan | undefined): Plan {
    let req = parent?.req ?? [];
    let rateStore = parent?.rateStore;
    if (o.req !== undefined) {
      req = this.#reqEntries(o.req, optionPath(path, 'req'));
      rateStore = req.length === 0 ? undefined : rateStoreOf(req, optionPath(path, 'req'));
    }
    let conn = parent?.conn ?? [];
    let connStore = parent?.connStore;
    if (o.conn !== undefined) {
      conn = this.#connEntries(o.conn, optionPath(path, 'conn'));
      connStore = conn.length === 0 ? undefined : connStoreOf(conn, optionPath(path, 'conn'));
    }
    const status = (key: string, inherited: number | undefined) =>
      intAt(optionPath(path, key), o[key], inherited ?? DEFAULT_LIMIT_STATUS, 400, 599);
    const dry = (key: string, inherited: boolean | undefined) =>
      boolAt(optionPath(path, key), o[key], inherited ?? false);
    return {
      req,
      rateStore,
      conn,
      connStore,
      reqStatus: status('reqStatus', parent?.reqStatus),
      connStatus: status('connStatus', parent?.connStatus),
      reqDryRun: dry('reqDryRun', parent?.reqDryRun),
      connDryRun: dry('connDryRun', parent?.connDryRun),
    };
  }

  #reqEntries(list: unknown, path: string): ReqEntry[] {
    if (!Array.isArray(list))
      throw new InvalidOptionError(path, 'an array of { zone, burst?, delay?, nodelay? }', list);
    const seen = new Set<RateZone>();
    return list.map((item: unknown, i) => {
      const p = `${path}[${i}]`;
      const o = optionsAt(p, item, REQ_KEYS);
      const zone = o.zone as RateZone;
      if (zone?.kind !== 'limit_req_zone')
        throw new InvalidOptionError(`${p}.zone`, 'a zone from rateZone()', zone);
      this.#register(this.#rateZones, zone, `${p}.zone`);
      // ngx_http_limit_req(): the same zone twice "is duplicate".
      if (seen.has(zone))
        throw new InvalidOptionError(`${p}.zone`, 'a zone not already in this list', zone.name);
      seen.add(zone);
      const burst = intAt(`${p}.burst`, o.burst, 0, 0);
      const nodelay = boolAt(`${p}.nodelay`, o.nodelay, false);
      if (nodelay && o.delay !== undefined) {
        throw new InvalidOptionError(
          `${p}.delay`,
          'no delay with nodelay (nodelay means no delay at all)',
          o.delay,
        );
      }
      const delay = nodelay ? Number.POSITIVE_INFINITY : intAt(`${p}.delay`, o.delay, 0, 0);
      let counts = this.#reqCounts.get(zone.name);
      if (counts === undefined) {
        counts = { passed: 0, delayed: 0, rejected: 0, delayed_dry_run: 0, rejected_dry_run: 0 };
        this.#reqCounts.set(zone.name, counts);
      }
      return { zone, burst, delay, counts };
    });
  }

  #connEntries(list: unknown, path: string): ConnEntry[] {
    if (!Array.isArray(list)) throw new InvalidOptionError(path, 'an array of { zone, max }', list);
    const seen = new Set<ConnZone>();
    return list.map((item: unknown, i) => {
      const p = `${path}[${i}]`;
      const o = optionsAt(p, item, CONN_KEYS);
      const zone = o.zone as ConnZone;
      if (zone?.kind !== 'limit_conn_zone')
        throw new InvalidOptionError(`${p}.zone`, 'a zone from connZone()', zone);
      this.#register(this.#connZones, zone, `${p}.zone`);
      if (seen.has(zone))
        throw new InvalidOptionError(`${p}.zone`, 'a zone not already in this list', zone.name);
      seen.add(zone);
      // ngx_http_limit_conn(): "connection limit must be less 65536".
      const max = intAt(`${p}.max`, o.max, undefined, 1, 65535);
      let counts = this.#connCounts.get(zone.name);
      if (counts === undefined) {
        counts = { passed: 0, rejected: 0, rejected_dry_run: 0 };
        this.#connCounts.set(zone.name, counts);
      }
      return { zone, max, counts };
    });
  }

  /** One name, one zone: counters and stores are kept by name. */
  #register<Z extends RateZone | ConnZone>(zones: Map<string, Z>, zone: Z, path: string): void {
    const known = zones.get(zone.name);
    if (known !== undefined && known !== zone) {
      throw new InvalidOptionError(
        path,
        `a zone with a name of its own (another zone is named "${zone.name}")`,
        zone.name,
      );
    }
    zones.set(zone.name, zone);
  }
}

/**
 * The store that runs one `limit_req` list: the zones' common store, or their memory
 * stores combined. Zones on different stores of another kind cannot be checked as one
 * (the multi-zone rule needs one atomic check), so they are refused.
 */
function rateStoreOf(entries: readonly ReqEntry[], path: string): RateStore {
  const first = (entries[0] as ReqEntry).zone.store;
  if (entries.every((e) => e.zone.store === first)) return first;
  const byZone = new Map<string, MemoryRateStore>();
  entries.forEach((e, i) => {
    if (!(e.zone.store instanceof MemoryRateStore)) {
      throw new InvalidOptionError(
        `${path}[${i}].zone`,
        'a zone on the same store as the other zones of the list (or memory stores only)',
        e.zone.name,
      );
    }
    byZone.set(e.zone.name, e.zone.store);
  });
  return combineMemoryRateStores(byZone);
}

/** The store of one `limit_conn` list: the zones' common store, or several synchronous ones in turn. */
function connStoreOf(entries: readonly ConnEntry[], path: string): ConnStore {
  const first = (entries[0] as ConnEntry).zone.store;
  if (entries.every((e) => e.zone.store === first)) return first;
  const byZone = new Map<string, ConnStore>();
  entries.forEach((e, i) => {
    if (!(e.zone.store instanceof MemoryConnStore)) {
      throw new InvalidOptionError(
        `${path}[${i}].zone`,
        'a zone on the same store as the other zones of the list (or memory stores only)',
        e.zone.name,
      );
    }
    byZone.set(e.zone.name, e.zone.store);
  });
  const storeOf = (t: ConnTake) => byZone.get(t.zone) as ConnStore;
  return {
    acquire(takes) {
      for (let i = 0; i < takes.length; i++) {
        const t = takes[i] as ConnTake;
        if (storeOf(t).acquire([t]) !== -1) {
          for (let j = 0; j < i; j++) storeOf(takes[j] as ConnTake).release([takes[j] as ConnTake]);
          return i;
        }
      }
      return -1;
    },
    release(takes) {
      for (const t of takes) storeOf(t).release([t]);
    },
  };
}

/** A request's key in a zone, or `undefined`: empty, too long, or the key function threw. */
function keyOf(fn: KeyFunction, req: LimitRequest, maxBytes: number): string | undefined {
  let key: unknown;
  try {
    key = fn(req);
  } catch {
    return undefined;
  }
  if (typeof key !== 'string' || key === '') return undefined;
  if (key.length * 3 > maxBytes && Buffer.byteLength(key) > maxBytes) return undefined;
  return key;
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/** One request's decision; `release()` gives back its `limit_conn` slots once. */
class Decision implements LimitDecision {
  #held: readonly ConnTake[] | undefined;
  readonly #limits: Limits;
  readonly #plan: Plan;
  constructor(
    limits: Limits,
    readonly action: 'pass' | 'delay' | 'reject',
    readonly status: number,
    readonly delayMs: number,
    readonly limitReq: LimitReqStatus | undefined,
    readonly limitConn: LimitConnStatus | undefined,
    held: readonly ConnTake[] | undefined,
    plan: Plan,
  ) {
    this.#limits = limits;
    this.#held = held;
    this.#plan = plan;
  }

  release(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    this.#limits.release(this.#plan, held);
  }
}

/** Counts a refusal (or, in dry run, the refusal that would have been) and returns its outcome. */
function refused<T>(
  counts: { rejected: number; rejected_dry_run: number },
  dryRun: boolean,
  outcome: T,
  dryRunOutcome: T,
): T {
  if (dryRun) {
    counts.rejected_dry_run++;
    return dryRunOutcome;
  }
  counts.rejected++;
  return outcome;
}

/** The takes of the zones with a key for a request, and the entries they come from. */
interface Takes<T, E> {
  readonly takes: T[];
  readonly used: E[];
}

/** Builds the takes of the entries whose zone has a key for `req` (nginx skips the others). */
function takesOf<E extends { readonly zone: { readonly key: KeyFunction } }, T>(
  entries: readonly E[],
  req: LimitRequest,
  maxKeyBytes: number,
  make: (entry: E, key: string) => T,
): Takes<T, E> | undefined {
  let out: { takes: T[]; used: E[] } | undefined;
  for (const e of entries) {
    const key = keyOf(e.zone.key, req, maxKeyBytes);
    if (key === undefined) continue;
    out ??= { takes: [], used: [] };
    out.takes.push(make(e, key));
    out.used.push(e);
  }
  return out;
}
