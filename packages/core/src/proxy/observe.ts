import { channel } from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import { isObject } from '@switchyard/internals';
import { HookError, InvalidOptionError, type SwitchyardError } from '../errors.js';
import type { AttemptFailure } from '../upstream/index.js';

/**
 * One attempt at one peer, as nginx's `$upstream_*` variables list them: one entry per
 * peer tried, in order.
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#variables
 */
export interface UpstreamTry {
  /** The name of the group the peer belongs to. */
  readonly upstream: string;
  /** The peer's id as configured (`Peer.id`, `host:port`). */
  readonly peer: string;
  /** The address connected to, `ip:port`, as nginx's `$upstream_addr` shows it. */
  readonly addr: string;
  /** The response status of the attempt; 0 when none came. */
  readonly status: number;
  /** How the attempt ended, for passive health. */
  readonly failure: AttemptFailure;
  /** Time to the response head, ms; -1: none came. */
  readonly headerMs: number;
  /** Time to the last byte of the response, or to the failure, ms; -1: none. */
  readonly responseMs: number;
  /** Request bytes sent to the peer. */
  readonly bytesSent: number;
  /** Response body bytes received from the peer. */
  readonly bytesReceived: number;
}

/** What the proxy did with one request: the argument of `onResponse`. */
export interface ResponseRecord {
  /** The client's request. */
  readonly req: IncomingMessage;
  /** The request method. */
  readonly method: string;
  /** The client's request-target, as received (`$request_uri`). */
  readonly uri: string;
  /** The group the request went to; `undefined` when it was answered before routing. */
  readonly upstream: string | undefined;
  /**
   * The status logged as nginx logs it (`$status`): the one sent, or 499 when the client
   * went away first, 444 for a connection closed without an answer.
   */
  readonly status: number;
  /**
   * Who answered: a peer (`proxied`), the cache (`cache`), the proxy itself by a rewrite
   * return or redirect (`answered`), the proxy refusing the request (`refused`), the
   * proxy's own 5xx after the peers failed (`error`), or nobody, the exchange having
   * broken off (`aborted`).
   */
  readonly outcome: 'proxied' | 'cache' | 'answered' | 'refused' | 'error' | 'aborted';
  /**
   * `$upstream_cache_status`: `HIT`, `MISS`, `EXPIRED`, `STALE`, `UPDATING`,
   * `REVALIDATED` or `BYPASS`; `undefined` when no cache was consulted.
   */
  readonly cacheStatus: string | undefined;
  /** The attempts at peers, in order; empty when no peer was tried. */
  readonly tries: readonly UpstreamTry[];
  /** Response body bytes written to the client (`$body_bytes_sent`). */
  readonly bytesSent: number;
  /** From the start of the request to its end, ms (`$request_time`, in ms). */
  readonly requestMs: number;
  /**
   * nginx `$limit_req_status` (`PASSED`, `DELAYED`, `REJECTED`, `DELAYED_DRY_RUN`,
   * `REJECTED_DRY_RUN`), with `limits`; absent when no `limit_req` zone limited the request.
   */
  readonly limitReq?: string | undefined;
  /**
   * nginx `$limit_conn_status` (`PASSED`, `REJECTED`, `REJECTED_DRY_RUN`), with `limits`;
   * absent when no `limit_conn` zone limited the request.
   */
  readonly limitConn?: string | undefined;
}

/**
 * The logger `createProxy` takes: the subset of pino's API it calls, `(object, message)`.
 * A pino or bunyan logger fits as is, and so does a small adapter over `console`.
 * @example
 * ```ts
 * import pino from 'pino';
 * createProxy({ upstream, logger: pino() });
 * ```
 */
export interface Logger {
  /** One line per request (`request completed`). */
  info(obj: object, msg?: string): void;
  /** A retry on the next peer. */
  warn(obj: object, msg?: string): void;
  /** Every error the proxy reports (as to `onError`). */
  error(obj: object, msg?: string): void;
  /** Each peer chosen; called only when defined (and, for pino, when enabled). */
  debug?(obj: object, msg?: string): void;
}

/** The observability options of `createProxy`. */
export interface ObserveOptions {
  /**
   * Called once per request when it ends, with what the proxy did (nginx `access_log`
   * with the `$upstream_*` variables). A throw, or a rejected promise, is reported as a
   * `HookError` (`SWY_ERR_HOOK`) through `onError` and changes nothing for the request.
   * @see https://nginx.org/en/docs/http/ngx_http_log_module.html#access_log
   */
  onResponse?: (record: ResponseRecord) => void;
  /** A pino-compatible logger: access log at `info`, retries at `warn`, errors at `error`. */
  logger?: Logger;
}

/** {@link ObserveOptions} after validation. */
export interface ResolvedObserveOptions {
  /** The `onResponse` hook, if given. */
  onResponse: ((record: ResponseRecord) => void) | undefined;
  /** The logger, if given. */
  logger: Logger | undefined;
}

/**
 * Validates the observability options out of `createProxy`'s options object.
 * @throws InvalidOptionError naming `onResponse` or `logger` and the bad value.
 */
export function resolveObserveOptions(o: Record<string, unknown>): ResolvedObserveOptions {
  const { onResponse, logger } = o;
  if (onResponse !== undefined && typeof onResponse !== 'function') {
    throw new InvalidOptionError('onResponse', 'a function', onResponse);
  }
  if (logger !== undefined) {
    const ok =
      (isObject(logger) || typeof logger === 'function') &&
      typeof (logger as Record<string, unknown>).info === 'function' &&
      typeof (logger as Record<string, unknown>).warn === 'function' &&
      typeof (logger as Record<string, unknown>).error === 'function' &&
      ['undefined', 'function'].includes(typeof (logger as Record<string, unknown>).debug);
    if (!ok) {
      throw new InvalidOptionError('logger', 'a logger with info, warn and error methods (pino)', logger);
    }
  }
  return {
    onResponse: onResponse as ResolvedObserveOptions['onResponse'],
    logger: logger as Logger | undefined,
  };
}

/**
 * The names of switchyard's `node:diagnostics_channel` channels. Each message is an
 * object; a subscriber must not change it.
 * - `requestStart` {@link RequestStartMessage}: a request reached the proxy.
 * - `peerChosen` {@link PeerChosenMessage}: a peer was chosen for an attempt.
 * - `retry` {@link RetryMessage}: an attempt failed and the request goes to the next peer.
 * - `responseEnd` {@link ResponseEndMessage}: the request ended; the record of it.
 * @example
 * ```ts
 * import { subscribe } from 'node:diagnostics_channel';
 * subscribe(CHANNELS.responseEnd, ({ record }) => console.log(record.status));
 * ```
 */
export const CHANNELS = {
  /** `switchyard:request:start`: {@link RequestStartMessage}. */
  requestStart: 'switchyard:request:start',
  /** `switchyard:peer:chosen`: {@link PeerChosenMessage}. */
  peerChosen: 'switchyard:peer:chosen',
  /** `switchyard:retry`: {@link RetryMessage}. */
  retry: 'switchyard:retry',
  /** `switchyard:response:end`: {@link ResponseEndMessage}. */
  responseEnd: 'switchyard:response:end',
} as const;

/** The message of `switchyard:request:start`. */
export interface RequestStartMessage {
  /** The client's request; the same object in every message about it. */
  readonly req: IncomingMessage;
}
/** The message of `switchyard:peer:chosen`. */
export interface PeerChosenMessage {
  /** The client's request. */
  readonly req: IncomingMessage;
  /** The group's name. */
  readonly upstream: string;
  /** The peer's id (`host:port`). */
  readonly peer: string;
  /** Which attempt of the request this is, from 1. */
  readonly attempt: number;
}
/** Why a request goes to the next peer: the `nextUpstream` condition met, or `resend`. */
export type RetryReason = 'error' | 'timeout' | 'status' | 'resend';
/** The message of `switchyard:retry`. */
export interface RetryMessage {
  /** The client's request. */
  readonly req: IncomingMessage;
  /** The group's name. */
  readonly upstream: string;
  /** The peer that failed. */
  readonly peer: string;
  /**
   * `error`, `timeout` or `status` (a `nextUpstream` condition), or `resend`: a kept-alive
   * connection the peer had closed, the request sent again.
   */
  readonly reason: RetryReason;
}
/** The message of `switchyard:response:end`. */
export interface ResponseEndMessage {
  /** What the proxy did with the request; `record.req` is the request. */
  readonly record: ResponseRecord;
}

// Held here, so each channel lives as long as the module (Node keeps them weakly).
const requestStartChannel = channel(CHANNELS.requestStart);
const peerChosenChannel = channel(CHANNELS.peerChosen);
const retryChannel = channel(CHANNELS.retry);
const responseEndChannel = channel(CHANNELS.responseEnd);

/**
 * Where the proxy tells what it does, per request: the `onResponse` hook, the `logger`
 * and the diagnostics channels. Built once per proxy; with nothing configured and no
 * subscriber, each call is a few property reads.
 */
export class Observer {
  readonly #onResponse: ((record: ResponseRecord) => void) | undefined;
  readonly #logger: Logger | undefined;
  readonly #report: (err: SwitchyardError, req: IncomingMessage) => void;

  constructor(opts: ResolvedObserveOptions, report: (err: SwitchyardError, req: IncomingMessage) => void) {
    this.#onResponse = opts.onResponse;
    this.#logger = opts.logger;
    this.#report = report;
  }

  /** Whether anyone wants a {@link ResponseRecord} now: `onResponse`, `logger`, or a subscriber. */
  recording(): boolean {
    return this.#onResponse !== undefined || this.#logger !== undefined || responseEndChannel.hasSubscribers;
  }

  /** A request reached the proxy: publishes `switchyard:request:start`. */
  start(req: IncomingMessage): void {
    if (requestStartChannel.hasSubscribers)
      requestStartChannel.publish({ req } satisfies RequestStartMessage);
  }

  /** A peer was chosen for attempt `attempt` (from 1): publishes `switchyard:peer:chosen`, logs at debug. */
  chosen(req: IncomingMessage, upstream: string, peer: string, attempt: number): void {
    if (peerChosenChannel.hasSubscribers) {
      peerChosenChannel.publish({ req, upstream, peer, attempt } satisfies PeerChosenMessage);
    }
    const logger = this.#logger;
    if (logger?.debug !== undefined && debugEnabled(logger)) {
      this.#log(req, 'debug', { req: reqFields(req), upstream, peer, attempt }, 'peer chosen');
    }
  }

  /** The request goes to the next peer: publishes `switchyard:retry`, logs at warn. */
  retry(req: IncomingMessage, upstream: string, peer: string, reason: RetryReason): void {
    if (retryChannel.hasSubscribers)
      retryChannel.publish({ req, upstream, peer, reason } satisfies RetryMessage);
    if (this.#logger !== undefined) {
      this.#log(req, 'warn', { req: reqFields(req), upstream, peer, reason }, 'trying the next peer');
    }
  }

  /** The proxy reported an error (as to `onError`): logs it at error. */
  error(err: SwitchyardError, req: IncomingMessage): void {
    const logger = this.#logger;
    if (logger === undefined) return;
    try {
      logger.error({ err, req: reqFields(req) }, err.message);
    } catch {
      // Reporting a failing logger.error would come back here: it is dropped.
    }
  }

  /**
   * The request ended: calls `onResponse`, logs the access-log line at info
   * ({@link accessLogFields}, `request completed`), publishes `switchyard:response:end`.
   * A throwing hook or logger is reported as a `HookError`; nothing throws out.
   */
  finish(record: ResponseRecord): void {
    const hook = this.#onResponse;
    if (hook !== undefined) {
      try {
        const result: unknown = hook(record);
        if (isThenable(result)) {
          result.then(undefined, (err: unknown) =>
            this.#report(new HookError('onResponse', err), record.req),
          );
        }
      } catch (err) {
        this.#report(new HookError('onResponse', err), record.req);
      }
    }
    if (this.#logger !== undefined) {
      this.#log(record.req, 'info', accessLogFields(record), 'request completed');
    }
    if (responseEndChannel.hasSubscribers)
      responseEndChannel.publish({ record } satisfies ResponseEndMessage);
  }

  #log(req: IncomingMessage, level: 'info' | 'warn' | 'debug', obj: object, msg: string): void {
    try {
      (this.#logger as Logger)[level]?.(obj, msg);
    } catch (err) {
      this.#report(new HookError(`logger.${level}`, err), req);
    }
  }
}

function debugEnabled(logger: Logger): boolean {
  // pino: skip building the object when debug is off; other loggers decide themselves.
  const isLevelEnabled = (logger as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled;
  return typeof isLevelEnabled !== 'function' || isLevelEnabled.call(logger, 'debug');
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function reqFields(req: IncomingMessage): { method: string | undefined; url: string | undefined } {
  return { method: req.method, url: req.url };
}

/** The object the `logger` gets at info for each request; see {@link accessLogFields}. */
export interface AccessLogFields {
  /** The client's request: method, request-target, address (`$remote_addr`). */
  readonly req: {
    /** `$request_method`. */
    readonly method: string;
    /** `$request_uri`. */
    readonly url: string;
    /** `$remote_addr`. */
    readonly remoteAddress: string | undefined;
  };
  /** The response: the status sent to the client (`$status`). */
  readonly res: {
    /** `$status`. */
    readonly statusCode: number;
  };
  /** Who answered; see {@link ResponseRecord.outcome}. */
  readonly outcome: ResponseRecord['outcome'];
  /** The group the request went to, if any. */
  readonly upstream: string | undefined;
  /** `$upstream_addr`. */
  readonly upstreamAddr: string;
  /** `$upstream_status`. */
  readonly upstreamStatus: string;
  /** `$upstream_response_time`. */
  readonly upstreamResponseTime: string;
  /** `$upstream_header_time`. */
  readonly upstreamHeaderTime: string;
  /** `$upstream_cache_status`, or `-`. */
  readonly upstreamCacheStatus: string;
  /** `$body_bytes_sent`. */
  readonly bodyBytesSent: number;
  /** `$request_time`, in ms (as pino-http's `responseTime`). */
  readonly responseTime: number;
}

/**
 * The structured access-log entry of a record, with nginx's variables as strings.
 * @example
 * ```ts
 * createProxy({ upstream, onResponse: (r) => console.log(JSON.stringify(accessLogFields(r))) });
 * ```
 */
export function accessLogFields(record: ResponseRecord): AccessLogFields {
  return {
    req: { method: record.method, url: record.uri, remoteAddress: record.req.socket?.remoteAddress },
    res: { statusCode: record.status },
    outcome: record.outcome,
    upstream: record.upstream,
    upstreamAddr: upstreamAddr(record.tries),
    upstreamStatus: upstreamStatus(record.tries),
    upstreamResponseTime: upstreamResponseTime(record.tries),
    upstreamHeaderTime: upstreamHeaderTime(record.tries),
    upstreamCacheStatus: record.cacheStatus ?? '-',
    bodyBytesSent: record.bytesSent,
    responseTime: Math.round(record.requestMs),
  };
}

/**
 * One text line for a record, like nginx with this `log_format` (without `$time_local`,
 * which the logger adds):
 * `$remote_addr "$request" $status $body_bytes_sent rt=$request_time uaddr="$upstream_addr"
 * us="$upstream_status" urt="$upstream_response_time" uht="$upstream_header_time"
 * ucs=$upstream_cache_status`
 * @example
 * ```ts
 * // 127.0.0.1 "GET /a HTTP/1.1" 200 12 rt=0.004 uaddr="127.0.0.1:9001, 127.0.0.1:9002" us="502, 200" urt="0.001, 0.003" uht="0.001, 0.002" ucs=-
 * createProxy({ upstream, onResponse: (r) => process.stdout.write(`${accessLogLine(r)}\n`) });
 * ```
 */
export function accessLogLine(record: ResponseRecord): string {
  const { req, tries } = record;
  return (
    `${req.socket?.remoteAddress ?? '-'} "${record.method} ${record.uri} HTTP/${req.httpVersion}" ` +
    `${record.status} ${record.bytesSent} rt=${seconds(record.requestMs)} ` +
    `uaddr="${upstreamAddr(tries)}" us="${upstreamStatus(tries)}" ` +
    `urt="${upstreamResponseTime(tries)}" uht="${upstreamHeaderTime(tries)}" ` +
    `ucs=${record.cacheStatus ?? '-'}`
  );
}

/**
 * nginx `$upstream_addr`: the address of each peer tried, `, ` between peers of one group
 * and ` : ` where the group changes; `-` when no peer was tried (nginx logs `-` for a
 * variable not found).
 * @example
 * ```ts
 * upstreamAddr(record.tries); // '127.0.0.1:9001, 127.0.0.1:9002'
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#var_upstream_addr
 */
export function upstreamAddr(tries: readonly UpstreamTry[]): string {
  return list(tries, (t) => t.addr);
}

/**
 * nginx `$upstream_status`: the status of each attempt. An attempt that got no response
 * shows what nginx stores for it (`ngx_http_upstream_next`): 504 after a timeout, 502
 * after an error or a connection the peer had closed; `-` for the last attempt when the
 * client went away before a response came.
 * @example
 * ```ts
 * upstreamStatus(record.tries); // '502, 200'
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#var_upstream_status
 */
export function upstreamStatus(tries: readonly UpstreamTry[]): string {
  return list(tries, (t, last) => {
    const s = statusOf(t, last);
    return s === 0 ? '-' : String(s);
  });
}

/**
 * nginx `$upstream_response_time`: seconds with millisecond resolution, per attempt, to
 * the last byte or to the failure; `-` where the status is `-`.
 * @example
 * ```ts
 * upstreamResponseTime(record.tries); // '0.012, 0.003'
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#var_upstream_response_time
 */
export function upstreamResponseTime(tries: readonly UpstreamTry[]): string {
  return list(tries, (t, last) => (statusOf(t, last) === 0 ? '-' : seconds(t.responseMs)));
}

/**
 * nginx `$upstream_header_time`: seconds to the response head, per attempt. As in nginx,
 * an attempt that got no head shows its response time (the time to the failure).
 * @example
 * ```ts
 * upstreamHeaderTime(record.tries); // '0.010, 0.002'
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#var_upstream_header_time
 */
export function upstreamHeaderTime(tries: readonly UpstreamTry[]): string {
  return list(tries, (t, last) => {
    if (statusOf(t, last) === 0) return '-';
    return seconds(t.headerMs >= 0 ? t.headerMs : t.responseMs);
  });
}

/**
 * The status nginx stores for an attempt: the peer's, else 504 (timeout) or 502 (error,
 * and a resend: an abandoned attempt followed by another). 0 prints as `-`: nginx leaves
 * it unset when the client closed first (`r->connection->error`).
 */
function statusOf(t: UpstreamTry, last: boolean): number {
  if (t.status > 0) return t.status;
  if (t.failure === 'timeout') return 504;
  if (t.failure === 'error' || t.failure === 'status' || !last) return 502;
  return 0;
}

/** Milliseconds as nginx prints them: `%T.%03M`, negative as 0. */
function seconds(ms: number): string {
  const n = Math.max(0, Math.round(ms));
  return `${Math.floor(n / 1000)}.${String(n % 1000).padStart(3, '0')}`;
}

/** One value per try: `, ` within a group, ` : ` where the group changes; `-` for none. */
function list(tries: readonly UpstreamTry[], value: (t: UpstreamTry, last: boolean) => string): string {
  const n = tries.length;
  if (n === 0) return '-';
  let out = value(tries[0] as UpstreamTry, n === 1);
  for (let i = 1; i < n; i++) {
    const t = tries[i] as UpstreamTry;
    out += t.upstream === (tries[i - 1] as UpstreamTry).upstream ? ', ' : ' : ';
    out += value(t, i === n - 1);
  }
  return out;
}
