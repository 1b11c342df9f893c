import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type { RequestInfo } from '@switchyard/balancers';
import { hasCode } from '@switchyard/internals';
import type { Dispatcher } from 'undici';
import { HookError, NoLiveUpstreamError, UpstreamError, UpstreamTimeoutError } from '../errors.js';
import type { Peer } from '../peer/index.js';
import type { Upstream } from '../upstream/index.js';
import { Attempt, type AttemptSink } from './attempt.js';
import type { ProxyCore } from './core.js';
import { type RuleRequest, requestChanges, rewriteRequestList } from './header-rules.js';
import { type Forwarded, requestHeaders } from './headers.js';
import {
  type Condition,
  codeOf,
  failureOf,
  mayResend,
  type NextState,
  nextUpstream,
  requestSent,
  staleConnection,
} from './next.js';
import type { ResponseRecord, UpstreamTry } from './observe.js';
import type {
  ProxyAddedHeader,
  ProxyLimitDecision,
  ProxyLimiter,
  ProxyRewriter,
  ProxySetHeader,
} from './options.js';
import { authorityAsHost, evaluate, refusal, targetOf, withChanges } from './request.js';

/**
 * One stage of the proxy's pipeline, composed once in `createProxy`: `true` to go on,
 * `false` when the stage answered the request itself, or a promise of either.
 */
export interface Step<F extends Flow> {
  /** The hook a `HookError` names when the stage throws or rejects. */
  readonly hook: string;
  run(flow: F): boolean | Promise<boolean>;
}

/**
 * What a proxied request and a relayed upgrade share: the request, the group it goes to,
 * the pipeline that routes it, the choice of a peer, and nginx's rules for passing it to
 * the next one.
 */
export abstract class Flow implements RequestInfo, AttemptSink {
  readonly core: ProxyCore;
  readonly req: IncomingMessage;
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  clientIp: string | undefined;
  /** The group this request goes to: the proxy's, or the one its location names. */
  upstream: Upstream;
  /** The request-target to send: the client's, or the rewritten one. */
  url: string;
  /** The location the rewrite rules chose, as written after `location`; the limits read it. */
  location: string | undefined;
  /**
   * The header directives of the location the rewrite rules chose (`add_header`,
   * `proxy_set_header`, `proxy_hide_header`): each kind present replaces the proxy's option.
   */
  protected located:
    | {
        readonly add: readonly ProxyAddedHeader[] | undefined;
        readonly set: readonly ProxySetHeader[] | undefined;
        readonly hide: ReadonlySet<string> | undefined;
      }
    | undefined;
  /** `X-Forwarded-For` as sent upstream (`$proxy_add_x_forwarded_for`), once known. */
  private forwardedFor: string | undefined;
  /** What the limits decided; released by `finish`, once. */
  protected limitDecision: ProxyLimitDecision | undefined;
  /** Holds a request `limit_req` delays. */
  private holdTimer: NodeJS.Timeout | undefined;
  /** The attempt in flight, or the last one. */
  attempt: Attempt | undefined;
  /** The flow ended: `finish` ran. */
  finished = false;
  /** What undici sends for each attempt; built once by `prepare`. */
  protected request: Dispatcher.DispatchOptions | undefined;
  /**
   * The request body: none, the client's stream, one rebuilt or buffered in memory, or
   * (past `requestBufferBytes`) what was buffered followed by the rest of the stream.
   */
  protected body: Readable | Buffer | null = null;
  /** The request's bytes before any body chunk: counted as sent with each attempt. */
  protected headerBytes = 0;
  /** The index of the Host value in the header list, when each peer's goes there. */
  private hostIndex = -1;
  private tried: Set<string> | undefined;
  private attempts = 0;
  /** Attempts sent again after a kept-alive connection broke; they count as none. */
  private resends = 0;
  /** When the first attempt started, for `tryTimeoutMs` only. */
  private startedAt = 0;
  /** When the request arrived, and every attempt, while someone wants a record of it. */
  private readonly record: { readonly at: number; readonly tries: UpstreamTry[] } | undefined;
  /** The request reached the cache or a peer: the record names its group. */
  protected routed = false;
  /** The last attempt whose try is in the record. */
  private noted: Attempt | undefined;

  constructor(core: ProxyCore, req: IncomingMessage) {
    this.core = core;
    this.req = req;
    // HTTP/2: `:authority` is the Host every stage reads (RFC 9113 §8.3.1).
    authorityAsHost(req);
    this.method = req.method ?? 'GET';
    this.url = targetOf(req) ?? '';
    this.upstream = core.upstream;
    this.headers = req.headers;
    this.clientIp = req.socket.remoteAddress;
    if (core.observer.recording()) this.record = { at: performance.now(), tries: [] };
  }

  /**
   * Tells the observers how the request ended (`onResponse`, the access log, the
   * `responseEnd` channel), when someone listens.
   */
  protected observe(
    status: number,
    outcome: ResponseRecord['outcome'],
    bytesSent: number,
    cacheStatus: string | undefined,
  ): void {
    const record = this.record;
    if (record === undefined) return;
    this.noteTry();
    this.core.observer.finish({
      req: this.req,
      method: this.method,
      uri: targetOf(this.req) ?? this.req.url ?? '',
      upstream: this.routed ? this.upstream.name : undefined,
      status,
      outcome,
      cacheStatus,
      tries: record.tries,
      bytesSent,
      requestMs: performance.now() - record.at,
      limitReq: this.limitDecision?.limitReq,
      limitConn: this.limitDecision?.limitConn,
    });
  }

  /** Whether the client went away. */
  abstract gone(): boolean;

  /** Refuses the request with this status (400, 431, 501) and closes the connection. */
  abstract refuse(status: number): void;

  /** Answers a rewrite rule's `return` (with its text) or redirect (with its `location`). */
  abstract answer(
    status: number,
    body: string,
    location: string | undefined,
    added?: readonly ProxyAddedHeader[],
  ): void;

  /** Closes the client connection without an answer (nginx's 444). */
  abstract drop(): void;

  /** The limits refused the request: answers `status` with nginx's short text. */
  protected abstract refuseByLimit(status: number): void;

  /**
   * A request is held by `limit_req`: a flow that cannot otherwise see its client leave
   * watches now, and returns how to stop watching when the hold ends.
   */
  protected holding(): (() => void) | undefined {
    return undefined;
  }

  /** A user hook failed: 500, settling what the request opened. */
  protected abstract internalError(err: HookError): void;

  /** No peer can take the request: 502. */
  protected abstract noPeer(): void;

  /** No attempt is left: answers 502, or 504 after a timeout. */
  protected abstract giveUp(kind: 'error' | 'timeout'): void;

  abstract started(attempt: Attempt): void;
  abstract head(attempt: Attempt, status: number, raw: ReadonlyArray<Buffer | string>, text: string): void;
  abstract data(attempt: Attempt, chunk: Buffer): boolean;
  abstract end(attempt: Attempt): void;
  abstract error(attempt: Attempt, err: Error): void;

  /**
   * Runs the pipeline's stages from `from`. A stage that answers ends the run; one that
   * answers later resumes it, unless the client went away meanwhile.
   */
  run(steps: ReadonlyArray<Step<this>>, from = 0): void {
    for (let i = from; i < steps.length; i++) {
      const step = steps[i] as Step<this>;
      let go: boolean | Promise<boolean>;
      try {
        go = step.run(this);
      } catch (err) {
        this.hookFailed(err, step.hook);
        return;
      }
      if (go === true) continue;
      if (go === false) return;
      go.then(
        (ok) => {
          if (!ok || this.finished) return;
          if (this.gone()) this.leave();
          else this.run(steps, i + 1);
        },
        (err) => this.hookFailed(err, step.hook),
      );
      return;
    }
  }

  /** The client left between two stages: the flow ends with nothing more to send. */
  protected abstract leave(): void;

  /** The first stage: nginx refuses what it cannot read (400, 431, 501). */
  checkRequest(): boolean {
    try {
      // nginx's realip module runs first (post-read phase): every later stage sees it.
      this.clientIp = this.core.clientAddress(this.req);
    } catch (err) {
      throw new HookError('trustProxy', err);
    }
    let status = refusal(this.req, this.url);
    // nginx checks client_max_body_size against the declared length when it picks the
    // location (find-config phase), before the rewrite and preaccess phases.
    if (status === 0 && tooLarge(this.req, this.core.o.clientMaxBodySize)) status = 413;
    if (status === 0) return true;
    this.refuse(status);
    return false;
  }

  /**
   * Applies the rewrite rules: answers redirects and returns itself (444 closes the
   * connection), or takes the rewritten URI and the location's group. `false` when the
   * request was answered here.
   */
  rewrite(rewrite: ProxyRewriter): boolean {
    const result = evaluate(rewrite, this.req, this.method, this.url, this.clientIp);
    if (result === undefined) {
      this.refuse(400);
      return false;
    }
    if (result.action === 'pass') {
      this.url = result.uri;
      this.location = result.location;
      if (
        result.addHeaders !== undefined ||
        result.setHeaders !== undefined ||
        result.hideHeaders !== undefined
      ) {
        this.located = {
          add: result.addHeaders,
          set: result.setHeaders,
          hide:
            result.hideHeaders === undefined
              ? undefined
              : new Set(result.hideHeaders.map((n) => n.toLowerCase())),
        };
      }
      if (result.target !== undefined) this.upstream = this.core.upstreamFor(result.target);
      return true;
    }
    if (result.action === 'return' && result.status === 444) this.drop();
    else if (result.action === 'redirect') this.answer(result.status, '', result.location, result.addHeaders);
    else this.answer(result.status, result.body ?? '', undefined, result.addHeaders);
    return false;
  }

  /**
   * nginx's preaccess phase: `limit_req`, then `limit_conn`, for the location the rewrite
   * rules chose. nginx runs it after the rewrite phase, so a location's `return` is
   * never limited. Refused: answered with the decision's status; delayed: the pipeline
   * goes on after `delayMs`, unless the client left meanwhile.
   * @see https://nginx.org/en/docs/dev/development_guide.html#http_phases
   */
  checkLimits(limiter: ProxyLimiter): boolean | Promise<boolean> {
    const address = this.clientIp;
    const req = this.req;
    // The key reads the address the proxy trusts: with trustProxy, X-Forwarded-For's client.
    const limited =
      address === req.socket.remoteAddress
        ? req
        : { method: req.method, url: req.url, headers: req.headers, socket: { remoteAddress: address } };
    const d = limiter.check(limited, this.location);
    if (d instanceof Promise) return d.then((decided) => this.limited(decided));
    return this.limited(d);
  }

  private limited(d: ProxyLimitDecision): boolean | Promise<boolean> {
    if (this.finished) {
      // The client left while an asynchronous store answered.
      d.release();
      return false;
    }
    this.limitDecision = d;
    if (d.action === 'reject') {
      this.refuseByLimit(d.status);
      return false;
    }
    if (d.action !== 'delay' || !(d.delayMs > 0)) return true;
    const unwatch = this.holding();
    return new Promise<boolean>((resolve) => {
      this.holdTimer = setTimeout(() => {
        this.holdTimer = undefined;
        unwatch?.();
        resolve(true);
      }, d.delayMs);
    });
  }

  /**
   * For `finish`, once: stops a `limit_req` delay and gives back the `limit_conn` slots.
   * A delayed flow that ends here never resumes (its promise stays pending).
   */
  protected settleLimits(): void {
    if (this.holdTimer !== undefined) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
    const d = this.limitDecision;
    if (d === undefined) return;
    try {
      d.release();
    } catch (err) {
      this.core.report(new HookError('limits.release', err), this.req);
    }
  }

  /**
   * Builds the header list to send (`undefined`: one nginx refuses), with the X-Forwarded
   * fields and, when each peer's goes there, the place of its Host value.
   */
  protected headerList(
    bodyLength: number | undefined,
    changes?: ReadonlyArray<readonly [name: string, value: string | undefined]>,
  ): string[] | undefined {
    const o = this.core.o;
    let fwd: Forwarded;
    try {
      fwd = this.core.forwarded(this.req);
    } catch (err) {
      throw new HookError('trustProxy', err);
    }
    this.forwardedFor = fwd.forwardedFor;
    const built = requestHeaders(this.req, fwd, bodyLength, o.underscores);
    if (built === undefined) return undefined;
    // A body rebuilt from req.body goes out whole with the head; a streamed one is counted
    // as undici reads it.
    this.headerBytes = built.bytes + this.method.length + this.url.length + 12 + (bodyLength ?? 0);
    const rules = o.headers;
    const located = this.located?.set;
    if (located !== undefined) {
      // The location's proxy_set_header lines replace the proxy's setRequestHeaders.
      changes = [
        ...(changes ?? []),
        ...located.map((h) => [h.name, h.value === '' ? undefined : h.value] as const),
      ];
    } else if (rules.set !== undefined) {
      changes = requestChanges(rules, this.ruleRequest(), changes);
    }
    let list = changes === undefined || changes.length === 0 ? built.list : withChanges(built.list, changes);
    if (rules.rewriteRequestHeaders !== undefined) {
      list = rewriteRequestList(rules, this.req, list);
    }
    // A Host of the rules' own stays; else the peer's goes in at each attempt when asked.
    const hostSet =
      (located === undefined ? rules.setsHost : located.some((h) => h.name.toLowerCase() === 'host')) ||
      rules.rewriteRequestHeaders !== undefined;
    if (!hostSet && (o.hostFromPeer || fwd.host === '')) this.hostIndex = list.lastIndexOf('host') + 1;
    return list;
  }

  /** What the header rules read of this request; X-Forwarded-For is worked out once. */
  ruleRequest(): RuleRequest {
    this.forwardedFor ??= this.core.forwarded(this.req).forwardedFor;
    return {
      req: this.req,
      groupName: this.upstream.name,
      clientAddress: this.clientIp,
      forwardedFor: this.forwardedFor,
    };
  }

  /** Sends the first attempt of the request `prepare` built. */
  protected forward(request: Dispatcher.DispatchOptions): void {
    this.request = request;
    if (this.core.o.tryTimeoutMs !== 0) this.startedAt = performance.now();
    this.choose();
  }

  /**
   * A user hook threw or rejected: `onError` hears of it and the request gets a 500.
   * `hook` names it unless `err` already does.
   */
  hookFailed(err: unknown, hook: string): void {
    if (this.finished) return;
    const e = hasCode<HookError>(err, 'SWY_ERR_HOOK') ? err : new HookError(hook, err);
    this.core.report(e, this.req);
    this.internalError(e);
  }

  /**
   * The balancer's `failed`, or a listener of `peer:unavail` or `peer:drained`, threw
   * while the attempt's outcome was recorded: `onError` hears of it; the request goes on.
   */
  releaseFailed(err: unknown): void {
    this.core.report(
      hasCode(err, 'SWY_ERR_HOOK') ? err : new HookError('upstream event listener', err),
      this.req,
    );
  }

  /** Selects a peer (persistence may answer asynchronously) and sends the attempt. */
  private choose(): void {
    let picked: Peer | undefined | Promise<Peer | undefined>;
    try {
      picked = this.upstream.select({ tried: this.tried, clientIp: this.clientIp }, this);
    } catch (err) {
      this.hookFailed(err, 'upstream.select');
      return;
    }
    if (picked instanceof Promise) {
      picked.then(
        (peer) => this.send(peer),
        (err) => this.hookFailed(err, 'persistence.find'),
      );
    } else this.send(picked);
  }

  /** Sends an attempt to the peer; without one, answers 502. */
  private send(peer: Peer | undefined): void {
    if (this.finished) return;
    if (this.gone()) {
      this.leave();
      return;
    }
    if (peer === undefined) {
      this.noPeer();
      return;
    }
    this.attempts++;
    const lease = this.upstream.lease(peer);
    this.noteTry();
    this.core.observer.chosen(this.req, this.upstream.name, peer.id, this.attempts);
    const request = this.request as Dispatcher.DispatchOptions;
    if (this.hostIndex !== -1) (request.headers as string[])[this.hostIndex] = peer.hostHeader;
    const attempt = new Attempt(this, lease, this.headerBytes);
    this.attempt = attempt;
    this.core.pool(peer).dispatch(request, attempt);
  }

  /**
   * No peer could take the request: nginx's `$upstream_addr` names the group, with status
   * 502, for that try.
   */
  protected noLivePeer(): void {
    this.core.report(new NoLiveUpstreamError(this.upstream.name), this.req);
    const name = this.upstream.name;
    this.noteTry();
    this.record?.tries.push({
      upstream: name,
      peer: name,
      addr: name,
      status: 0,
      failure: 'error',
      headerMs: -1,
      responseMs: 0,
      bytesSent: 0,
      bytesReceived: 0,
    });
  }

  /** Puts the last attempt in the record, once, when someone wants a record. */
  private noteTry(): void {
    const attempt = this.attempt;
    if (this.record === undefined || attempt === undefined || attempt === this.noted) return;
    this.noted = attempt;
    this.record.tries.push(tryOf(attempt));
  }

  /** The request as the retry rules see it after a failure. */
  private state(condition: Condition, sent: boolean): NextState {
    return {
      condition,
      requestSent: sent,
      method: this.method,
      attempts: this.attempts,
      peers: this.upstream.maxTries(),
      elapsedMs: this.startedAt === 0 ? 0 : performance.now() - this.startedAt,
      // A streamed body that was partly read cannot be sent again.
      bodyReplayable: !(this.body instanceof Readable) || !this.body.readableDidRead,
      clientGone: this.gone(),
    };
  }

  /**
   * A response head with a status listed in `nextUpstream`: when the rules allow, the
   * attempt is dropped and the request goes to the next peer. nginx counts such statuses
   * as failures of the peer, except 403 and 404.
   */
  protected nextOnStatus(attempt: Attempt, status: number): boolean {
    if (!this.core.o.nextStatuses.has(status)) return false;
    if (nextUpstream(this.core.o, this.state(status, true)) !== true) return false;
    attempt.drop(status !== 403 && status !== 404 ? 'status' : 'abandoned');
    this.core.observer.retry(this.req, this.upstream.name, attempt.peer.id, 'status');
    this.next(attempt.peer);
    return true;
  }

  /**
   * The attempt failed before the response head: sent again on a fresh connection when a
   * kept-alive one was stale, else to the next peer, else the request fails.
   */
  protected failed(attempt: Attempt, err: Error): void {
    const peer = attempt.peer;
    const code = codeOf(err);
    if (
      !attempt.started &&
      staleConnection(err, code) &&
      mayResend(this.core.o, this.state('error', true), this.resends, this.core.o.connectionsPerPeer) &&
      // A peer removed meanwhile has no pool any more: fail over as usual.
      this.upstream.get(peer.id) === peer
    ) {
      // No failure of the peer, and no try: the connection was stale.
      attempt.release('abandoned');
      this.resends++;
      this.attempts--;
      this.core.observer.retry(this.req, this.upstream.name, peer.id, 'resend');
      this.send(peer);
      return;
    }
    const kind = failureOf(code);
    attempt.release(kind);
    this.core.report(
      kind === 'timeout'
        ? new UpstreamTimeoutError(peer.id, err.message, err)
        : new UpstreamError(peer.id, err.message, err),
      this.req,
    );
    if (nextUpstream(this.core.o, this.state(kind, requestSent(code))) === true) {
      this.core.observer.retry(this.req, this.upstream.name, peer.id, kind);
      this.next(peer);
    } else this.giveUp(kind);
  }

  /** Passes the request to the next peer, never this one again. */
  private next(peer: Peer): void {
    this.tried ??= new Set();
    this.tried.add(peer.id);
    this.choose();
  }
}

/** Whether the request declares a body longer than `max` bytes (0: no limit). */
function tooLarge(req: IncomingMessage, max: number): boolean {
  if (max === 0) return false;
  const cl = req.headers['content-length'];
  return cl !== undefined && Number(cl) > max;
}

/** One attempt as the observers see it (nginx's `$upstream_*` for one peer). */
function tryOf(a: Attempt): UpstreamTry {
  return {
    upstream: a.upstreamName,
    peer: a.peer.id,
    addr: a.peer.id,
    status: a.answered,
    failure: a.failure,
    headerMs: a.headerMs,
    responseMs: a.tookMs,
    bytesSent: a.sent,
    bytesReceived: a.received,
  };
}
