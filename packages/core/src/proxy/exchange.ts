import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ResponseHead } from '@switchyard/balancers';
import { hasCode, schemeOf } from '@switchyard/internals';
import { BodyConsumedError, HookError, UpstreamError, UpstreamTimeoutError } from '../errors.js';
import type { Peer } from '../peer/index.js';
import { STATUS_TEXT, sendAnswer, sendCached, sendText, statusText } from './answer.js';
import type { Attempt } from './attempt.js';
import type { ProxyCore } from './core.js';
import { sendPage } from './error-pages.js';
import { Flow } from './flow.js';
import { addedFields, locatedFields, responseFields } from './header-rules.js';
import { responseHeaders } from './headers.js';
import { codeOf } from './next.js';
import type {
  NextFunction,
  ProxyAddedHeader,
  ProxyCache,
  ProxyCachedResponse,
  ProxyCacheForward,
} from './options.js';
import { bodiless, hasBody, reserialise, targetOf } from './request.js';

/** How an exchange ends: the one argument of {@link Exchange.finish}. */
export type Finish =
  /** The peer's response went to the client whole. */
  | { readonly kind: 'complete' }
  /** A response of the cache: a hit, a stale entry, or one revalidated. */
  | { readonly kind: 'cached'; readonly response: ProxyCachedResponse }
  /** The proxy's own short answer (400, 500, 502, 503, 504…); `close` ends the connection. */
  | { readonly kind: 'text'; readonly status: number; readonly message?: string; readonly close?: boolean }
  /** A rewrite rule's return or redirect. */
  | {
      readonly kind: 'answer';
      readonly status: number;
      readonly body: string;
      readonly location?: string;
      /** The location's `add_header` fields for this answer, replacing `addResponseHeaders`. */
      readonly added?: readonly ProxyAddedHeader[];
    }
  /** Refused by the limits (`limit_req_status` / `limit_conn_status`); the connection stays open. */
  | { readonly kind: 'limited'; readonly status: number }
  /** The response head went out and its body broke: the client's connection is cut. */
  | { readonly kind: 'cut'; readonly error: Error }
  /** The client went away. */
  | { readonly kind: 'gone' }
  /** Closed without a response (nginx's 444). */
  | { readonly kind: 'drop' }
  /** Handed to Express's `next(err)` under `middleware`. */
  | { readonly kind: 'next'; readonly error: Error };

const COMPLETE: Finish = { kind: 'complete' };
const GONE: Finish = { kind: 'gone' };

/**
 * One client request on its way through the proxy, across its attempts: the stages of
 * the pipeline, then the peer's response relayed to the client and the cache. It ends in
 * `finish`, and nowhere else. A background cache update is an exchange with no client.
 */
export class Exchange extends Flow {
  /** The client's response; `undefined` for a background cache update. */
  readonly res: ServerResponse | undefined;
  readonly nextFn: NextFunction | undefined;
  /** The method sent upstream (a cache turns HEAD into GET). */
  upstreamMethod: string;
  /** The cache fill this exchange feeds, when the cache follows it. */
  fill: ProxyCacheForward | undefined;
  /** nginx `send_timeout`: runs while data waits for a client that takes none. */
  sendTimer: NodeJS.Timeout | undefined;
  clientGone = false;
  /** Response body bytes written to the client (`$body_bytes_sent`). */
  private bodyBytes = 0;
  /** The cache status of this request (`$upstream_cache_status`), once the cache was asked. */
  private cacheStatus: string | undefined;
  /** A streamed body is counted, for the attempt that sends it (`countSent`). */
  private counting = false;
  /** Request body bytes read from the client, while `clientMaxBodySize` needs them. */
  private bodyReceived = 0;

  constructor(
    core: ProxyCore,
    req: IncomingMessage,
    res: ServerResponse | undefined,
    next: NextFunction | undefined,
  ) {
    super(core, req);
    this.res = res;
    this.nextFn = next;
    this.upstreamMethod = this.method;
  }

  gone(): boolean {
    return this.clientGone;
  }

  /** Runs the proxy's request pipeline. */
  start(): void {
    this.run(this.core.requestSteps as never);
  }

  /**
   * The only exit: settles the cache fill (stored only when complete), ends the lease of
   * the attempt still open, stops a `limit_req` delay and gives back the `limit_conn`
   * slots, answers or ends the client's response, and leaves the proxy.
   */
  finish(f: Finish): void {
    if (this.finished) return;
    this.finished = true;
    this.settleLimits();
    const fill = this.fill;
    if (fill !== undefined) {
      if (f.kind === 'complete') fill.end();
      else fill.abort();
    }
    const attempt = this.attempt;
    if (attempt !== undefined) {
      if (f.kind === 'complete') attempt.release('none', attempt.answered);
      else if (!attempt.done) attempt.drop('abandoned');
      else attempt.release('abandoned');
    }
    const res = this.res;
    if (res !== undefined) {
      const page = this.errorPage(res, f);
      if (page === undefined) this.respond(res, f);
      this.observeEnd(res, f, page);
    }
    this.core.leave();
  }

  /**
   * nginx `error_page`: the page for the status of the proxy's own error answer (or of
   * an upstream error `interceptErrors` took), sent in its place. Returns the status the
   * client got, or `undefined` when no page applies.
   */
  private errorPage(res: ServerResponse, f: Finish): number | undefined {
    const pages = this.core.o.errorPages;
    if (pages === undefined || res.headersSent) return undefined;
    let status: number;
    if (f.kind === 'text' || f.kind === 'limited') status = f.status;
    else if (f.kind === 'answer' && f.status >= 400 && f.body === '') status = f.status;
    else return undefined;
    const page = pages.get(status);
    if (page === undefined) return undefined;
    this.addOwn(res, status);
    try {
      return sendPage(this.req, res, page, status);
    } catch (err) {
      this.core.report(new HookError(`errorPages.${status}`, err), this.req);
      sendText(res, 500, STATUS_TEXT[500] as string);
      return 500;
    }
  }

  /** Tells the observers what the client got (`page`: the status of an error page sent instead). */
  private observeEnd(res: ServerResponse, f: Finish, page: number | undefined): void {
    if (page !== undefined) {
      this.observe(page, 'answered', 0, this.cacheStatus);
      return;
    }
    switch (f.kind) {
      case 'complete':
        this.observe(res.statusCode, 'proxied', this.bodyBytes, this.cacheStatus);
        break;
      case 'cached':
        this.observe(
          f.response.status,
          'cache',
          f.response.bodyLength ?? (Buffer.isBuffer(f.response.body) ? f.response.body.length : 0),
          f.response.cacheStatus,
        );
        break;
      case 'text': {
        const outcome = f.close === true ? 'refused' : 'error';
        this.observe(f.status, outcome, 0, this.cacheStatus);
        break;
      }
      case 'answer':
        this.observe(f.status, 'answered', Buffer.byteLength(f.body), undefined);
        break;
      case 'limited':
        this.observe(f.status, 'refused', 0, this.cacheStatus);
        break;
      case 'cut':
        this.observe(res.statusCode, 'aborted', this.bodyBytes, this.cacheStatus);
        break;
      case 'gone':
        // nginx logs 499 for a client that closed the connection first.
        this.observe(499, 'aborted', this.bodyBytes, this.cacheStatus);
        break;
      case 'drop':
        this.observe(444, 'answered', 0, undefined);
        break;
      case 'next':
        this.observe(500, 'error', 0, this.cacheStatus);
        break;
    }
  }

  private respond(res: ServerResponse, f: Finish): void {
    switch (f.kind) {
      case 'complete':
        res.end();
        this.watchTail();
        break;
      case 'cached': {
        const r = f.response;
        const headers = this.outgoing(r.status, r.headers, undefined);
        sendCached(res, headers === r.headers ? r : { ...r, headers });
        this.watchTail();
        break;
      }
      case 'text':
        this.addOwn(res, f.status);
        sendText(res, f.status, f.message ?? statusText(f.status), f.close);
        break;
      case 'limited':
        this.addOwn(res, f.status);
        sendText(res, f.status, statusText(f.status));
        break;
      case 'answer':
        if (f.added === undefined) this.addOwn(res, f.status);
        else appendFields(res, locatedFields([], f.added, f.status));
        sendAnswer(res, f.status, f.body, f.location);
        break;
      case 'cut':
        res.destroy(f.error);
        break;
      case 'drop':
        this.req.socket.destroy();
        break;
      case 'next':
        (this.nextFn as NextFunction)(f.error);
        break;
      case 'gone':
        break;
    }
  }

  /**
   * A response from upstream or the cache as it goes out: `hideResponseHeaders`,
   * `proxyRedirect`, the cookie rules and `onResponseHead`, then `addResponseHeaders`.
   * Returns `list` itself when no rule is set. Throws what a user's function threw.
   */
  private outgoing(status: number, list: string[], peer: Peer | undefined): string[] {
    let rules = this.core.o.headers;
    const located = this.located;
    // A location's proxy_hide_header list replaces hideResponseHeaders.
    if (located?.hide !== undefined) rules = { ...rules, hide: located.hide, onResponse: true };
    let out = list;
    if (rules.onResponse) {
      out = responseFields(rules, this.req, status, list, this.upstream, peer?.origin);
    }
    if (located?.add !== undefined) {
      out = locatedFields(out === list ? list.slice() : out, located.add, status);
    } else if (rules.add !== undefined) {
      const added = addedFields(rules, this.ruleRequest(), status, out, peer?.id);
      if (added !== undefined && out === list) out = [...list, ...added];
      else if (added !== undefined) out.push(...added);
    }
    return out;
  }

  /** `addResponseHeaders` on the proxy's own answer; a rule that throws is reported and skipped. */
  private addOwn(res: ServerResponse, status: number): void {
    const rules = this.core.o.headers;
    if (res.headersSent) return;
    const located = this.located?.add;
    if (located !== undefined) {
      appendFields(res, locatedFields([], located, status));
      return;
    }
    if (rules.add === undefined) return;
    try {
      const added = addedFields(rules, this.ruleRequest(), status, [], undefined);
      if (added !== undefined) appendFields(res, added);
    } catch (err) {
      this.core.report(
        hasCode(err, 'SWY_ERR_HOOK') ? err : new HookError('addResponseHeaders', err),
        this.req,
      );
    }
  }

  refuse(status: number): void {
    this.finish({ kind: 'text', status, close: true });
  }

  answer(
    status: number,
    body: string,
    location: string | undefined,
    added?: readonly ProxyAddedHeader[],
  ): void {
    this.finish({ kind: 'answer', status, body, location, added });
  }

  drop(): void {
    this.finish({ kind: 'drop' });
  }

  protected refuseByLimit(status: number): void {
    this.finish({ kind: 'limited', status });
  }

  protected leave(): void {
    this.finish(GONE);
  }

  /** A hook failed: no cache fill; 500, or Express's `next(err)` under `middleware`. */
  protected internalError(err: HookError): void {
    if (this.nextFn !== undefined && this.res !== undefined && !this.res.headersSent) {
      this.finish({ kind: 'next', error: err });
    } else this.finish({ kind: 'text', status: 500 });
  }

  protected noPeer(): void {
    this.noLivePeer();
    this.giveUp('error');
  }

  /** Answers with the cache's stale response when it has one, else 502/504. */
  protected giveUp(kind: 'error' | 'timeout'): void {
    const fill = this.fill;
    const stale = fill?.fail(kind);
    if (stale !== undefined) {
      this.finish({ kind: 'cached', response: stale });
      return;
    }
    // The cache was consulted: its status goes on the 502/504 too (nginx's `always`).
    const res = this.res;
    if (fill !== undefined && this.cacheStatus !== undefined && res !== undefined && !res.headersSent) {
      const fields = fill.statusFields;
      if (fields !== undefined) appendFields(res, fields);
    }
    this.finish({ kind: 'text', status: kind === 'timeout' ? 504 : 502 });
  }

  /** The cache stage: answers from the cache, or goes on with the fill it asks for. */
  lookup(cache: ProxyCache): boolean | Promise<boolean> {
    this.routed = true;
    const l = cache.lookup({
      method: this.method,
      // nginx's cache key reads $request_uri: the client's, not the rewritten URI.
      url: targetOf(this.req) ?? this.url,
      headers: this.req.headers,
      scheme: schemeOf(this.req),
      proxyHost: this.upstream.name,
      // The upstream may answer by the Host it gets: a preserved one is part of the key.
      upstreamHost: this.core.o.hostFromPeer ? undefined : (this.req.headers.host ?? ''),
    });
    if (l instanceof Promise) return l.then((r) => this.cached(r.response, r.forward));
    return this.cached(l.response, l.forward);
  }

  private cached(response: ProxyCachedResponse | undefined, forward: ProxyCacheForward | undefined): boolean {
    if (response !== undefined) {
      if (forward !== undefined) this.update(forward);
      this.finish({ kind: 'cached', response });
      return false;
    }
    if (this.finished) {
      // The client left while the cache looked: give its lock up now.
      forward?.abort();
      return false;
    }
    this.fill = forward;
    this.cacheStatus = forward?.cacheStatus;
    return true;
  }

  /** Refreshes a cache entry in the background (`proxy_cache_background_update`): no client. */
  private update(forward: ProxyCacheForward): void {
    if (!this.core.enter()) {
      forward.abort();
      return;
    }
    const update = new Exchange(this.core, this.req, undefined, undefined);
    update.upstream = this.upstream;
    update.url = this.url;
    update.fill = forward;
    update.prepare();
  }

  /**
   * nginx `proxy_request_buffering on`: reads the request body before anything goes
   * upstream, so a failed attempt can be sent again to the next peer. Up to
   * `requestBufferBytes` it is held in memory; past it, the rest streams behind what was
   * read (and a retry is then possible only before the body went out).
   */
  bufferBody(): boolean | Promise<boolean> {
    const req = this.req;
    if (!hasBody(req) || req.readableEnded || this.body !== null) return true;
    const { requestBufferBytes: max, clientMaxBodySize: limit } = this.core.o;
    return new Promise<boolean>((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const stop = (go: boolean): void => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('close', onClose);
        resolve(go);
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        chunks.push(chunk);
        if (limit !== 0 && size > limit) {
          req.pause();
          stop(false);
          this.refuse(413);
        } else if (size > max) {
          req.pause();
          this.body = Readable.from(followedBy(chunks, req), { objectMode: false });
          stop(true);
        }
      };
      const onEnd = (): void => {
        this.body = Buffer.concat(chunks, size);
        stop(true);
      };
      // The client left mid-body: the pipeline sees it gone and ends the exchange.
      const onClose = (): void => stop(true);
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('close', onClose);
    });
  }

  /** The last stage: builds the upstream request (body, headers) and sends the first attempt. */
  prepare(): boolean {
    this.routed = true;
    const req = this.req;
    let bodyLength: number | undefined;
    if (Buffer.isBuffer(this.body)) {
      bodyLength = this.body.length;
    } else if (this.body !== null) {
      // Buffered past requestBufferBytes: the client's framing (length or chunked) stands.
    } else if (hasBody(req)) {
      if (req.readableEnded) {
        const rebuilt = reserialise(req);
        if (rebuilt === undefined) {
          const err = new BodyConsumedError();
          this.core.report(err, req);
          if (this.nextFn !== undefined) this.finish({ kind: 'next', error: err });
          else this.finish({ kind: 'text', status: 500, message: `${STATUS_TEXT[500]}: ${err.message}` });
          return false;
        }
        const max = this.core.o.clientMaxBodySize;
        if (max !== 0 && rebuilt.length > max) {
          this.refuse(413);
          return false;
        }
        this.body = rebuilt;
        bodyLength = rebuilt.length;
      } else {
        this.body = req;
      }
    }
    const fill = this.fill;
    const headers = this.headerList(bodyLength, fill?.requestHeaders);
    if (headers === undefined) {
      this.refuse(400);
      return false;
    }
    if (fill !== undefined) this.upstreamMethod = fill.method;
    this.forward({ path: this.url, method: this.upstreamMethod, headers, body: this.body });
    return true;
  }

  /**
   * The attempt's request went out on a connection: the bytes of a streamed body count
   * for its peer from now on. The listener goes on before undici's own, in the same tick,
   * so it sees every chunk undici sends (undici 7 does not pass `onBodySent` on to a
   * handler of the controller API).
   */
  started(attempt: Attempt): void {
    if (this.clientGone) {
      attempt.cancel();
      return;
    }
    const req = this.req;
    const body = this.body;
    if (!(body instanceof Readable)) return;
    (body as Counted)[kAttempt] = attempt;
    if (!this.counting) {
      this.counting = true;
      body.on('data', countSent);
      // client_max_body_size for a body without a declared length (chunked): counted as
      // it streams, in the same tick as undici's own listener.
      if (this.core.o.clientMaxBodySize !== 0 && req.headers['content-length'] === undefined) {
        req.on('data', (chunk: Buffer) => this.received(chunk.length));
      }
    }
  }

  /** Request body bytes arrived: past `clientMaxBodySize`, 413 (or a cut, once answering). */
  private received(bytes: number): void {
    this.bodyReceived += bytes;
    if (this.finished || this.bodyReceived <= this.core.o.clientMaxBodySize) return;
    if (this.res?.headersSent) this.finish({ kind: 'cut', error: new Error('request body too large') });
    else this.refuse(413);
  }

  head(attempt: Attempt, status: number, raw: ReadonlyArray<Buffer | string>, statusText: string): void {
    if (this.nextOnStatus(attempt, status)) return;
    const o = this.core.o;
    if (o.interceptErrors && status >= 300 && o.errorPages?.has(status) === true && this.res !== undefined) {
      // nginx proxy_intercept_errors: the upstream's answer gives way to the error page.
      attempt.drop('none', status);
      this.finish({ kind: 'text', status });
      return;
    }
    const list = responseHeaders(raw);
    const fill = this.fill;
    if (fill !== undefined) {
      const replaced = fill.head(status, list);
      if (replaced !== undefined) {
        // The cache answers instead (REVALIDATED after a 304, or STALE): drop the body.
        attempt.drop('none', status);
        this.finish({ kind: 'cached', response: replaced });
        return;
      }
    }
    let sent = list;
    const persistence = this.upstream.persistence;
    if (persistence !== undefined) {
      // A sticky Set-Cookie is for this client only: keep it out of what the cache stores.
      if (fill !== undefined) sent = list.slice();
      try {
        persistence.bind(this, new Head(status, sent), attempt.peer);
      } catch (err) {
        // The peer answered; the hook failed.
        attempt.drop('none', status);
        this.hookFailed(err, 'persistence.bind');
        return;
      }
    }
    const rules = this.core.o.headers;
    if (rules.onResponse || rules.add !== undefined || this.located !== undefined) {
      try {
        sent = this.outgoing(status, sent, attempt.peer);
      } catch (err) {
        attempt.drop('none', status);
        this.hookFailed(err, 'addResponseHeaders');
        return;
      }
    }
    attempt.headOnly = bodiless(status, this.upstreamMethod);
    const res = this.res;
    if (res === undefined) return;
    try {
      // HTTP/2 has no reason phrase (RFC 9113 §8.3.2): Node warns when given one.
      res.writeHead(status, this.req.httpVersionMajor === 2 ? undefined : statusText || undefined, sent);
    } catch (err) {
      // Headers Node refuses to write (invalid characters) make an invalid response.
      this.core.report(
        new UpstreamError(attempt.peer.id, `invalid response header: ${(err as Error).message}`),
        this.req,
      );
      attempt.drop('error');
      this.finish({ kind: 'text', status: 502 });
    }
  }

  data(_attempt: Attempt, chunk: Buffer): boolean {
    this.fill?.data(chunk);
    this.bodyBytes += chunk.length;
    const res = this.res;
    if (res === undefined || res.write(chunk)) return true;
    // Backpressure: the body waits until the client drains.
    res.once('drain', onResponseDrain);
    this.stalled();
    return false;
  }

  end(): void {
    this.finish(COMPLETE);
  }

  error(attempt: Attempt, err: Error): void {
    if (this.clientGone) {
      this.finish(GONE);
      return;
    }
    if (attempt.headOnly) {
      // Nothing was to follow the head that went out: undici's complaint about the rest
      // (undici 7 holds a 204 or 304 to its Content-Length) changes nothing for the client.
      this.finish(COMPLETE);
      return;
    }
    const code = codeOf(err);
    if (code === 'UND_ERR_INVALID_ARG') {
      this.finish({ kind: 'text', status: 400 });
      return;
    }
    if (this.res?.headersSent) {
      // The head went out: a cut body must not look complete, so cut the client too.
      this.core.report(
        code === 'UND_ERR_BODY_TIMEOUT'
          ? new UpstreamTimeoutError(attempt.peer.id, `response body: ${err.message}`, err)
          : new UpstreamError(attempt.peer.id, `response body: ${err.message}`, err),
        this.req,
      );
      this.finish({ kind: 'cut', error: err });
      return;
    }
    this.failed(attempt, err);
  }

  /** The client takes no more for now: `send_timeout` runs until it does. */
  stalled(): void {
    const ms = this.core.o.sendTimeoutMs;
    if (ms !== 0 && this.sendTimer === undefined) this.sendTimer = setTimeout(onSendTimeout, ms, this);
  }

  /** The client took what was waiting: the body may flow again. */
  drained(): void {
    if (this.sendTimer !== undefined) {
      clearTimeout(this.sendTimer);
      this.sendTimer = undefined;
    }
    if (!this.finished) this.attempt?.resume();
  }

  /** After the last write: data still waiting for the client keeps `send_timeout` running. */
  private watchTail(): void {
    if ((this.res as ServerResponse).writableLength > 0) this.stalled();
  }
}

const kExchange = Symbol('switchyard.exchange');

/**
 * Starts an exchange once its response owns the client connection. Node hands over
 * every pipelined request of a connection at once and queues their responses in order;
 * nginx reads a connection's next request only after answering the one before. So a
 * response still queued (no socket yet) starts its exchange when Node gives it the
 * socket, which is when the response before it has finished. A closing proxy answers 503
 * and closes the connection.
 */
export function admit(ex: Exchange): void {
  const res = ex.res as ServerResponse;
  ex.core.observer.start(ex.req);
  if (!ex.core.enter()) {
    sendText(res, 503, STATUS_TEXT[503] as string, true);
    return;
  }
  (res as { [kExchange]?: Exchange })[kExchange] = ex;
  res.on('close', onResponseClose);
  if (res.socket === null) res.on('socket', onTurn);
  else ex.start();
}

/** A queued response got the connection: its exchange starts. */
function onTurn(this: ServerResponse): void {
  const ex = (this as { [kExchange]?: Exchange })[kExchange];
  if (ex !== undefined && !this.destroyed) ex.start();
}

/**
 * The client connection closed: before the response ended, that is an abort. The
 * exchange ends now, so an attempt in flight is cut and a cache lock given up, even while
 * a persistence or cache lookup is still out.
 */
function onResponseClose(this: ServerResponse): void {
  const ex = (this as { [kExchange]?: Exchange })[kExchange];
  if (ex === undefined) return;
  if (ex.sendTimer !== undefined) {
    clearTimeout(ex.sendTimer);
    ex.sendTimer = undefined;
  }
  if (ex.finished || this.writableFinished) return;
  ex.clientGone = true;
  ex.finish(GONE);
}

/** The client took the data that was waiting. */
function onResponseDrain(this: ServerResponse): void {
  (this as { [kExchange]?: Exchange })[kExchange]?.drained();
}

/**
 * nginx `send_timeout`: the client took nothing for that long. Its connection is closed,
 * which cuts the upstream request too (`onResponseClose`).
 */
function onSendTimeout(ex: Exchange): void {
  ex.sendTimer = undefined;
  const res = ex.res as ServerResponse;
  if (!res.writableFinished) res.destroy();
}

const kAttempt = Symbol('switchyard.attempt');

/** A request whose streamed body is being counted: the attempt sending it. */
type Counted = Readable & { [kAttempt]?: Attempt };

/** A chunk of a streamed request body went to undici: it counts as sent to the peer. */
function countSent(this: Counted, chunk: Buffer): void {
  const attempt = this[kAttempt];
  if (attempt !== undefined) attempt.sent += chunk.length;
}

/** The response head handed to `Persistence.bind`. */
class Head implements ResponseHead {
  readonly statusCode: number;
  private readonly list: string[];
  constructor(statusCode: number, list: string[]) {
    this.statusCode = statusCode;
    this.list = list;
  }
  getHeader(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (let i = 0; i < this.list.length; i += 2) {
      if ((this.list[i] as string).toLowerCase() === lower) return this.list[i + 1];
    }
    return undefined;
  }
  getHeaders(name: string): string[] {
    const lower = name.toLowerCase();
    const values: string[] = [];
    for (let i = 0; i < this.list.length; i += 2) {
      if ((this.list[i] as string).toLowerCase() === lower) values.push(this.list[i + 1] as string);
    }
    return values;
  }
  appendHeader(name: string, value: string): void {
    this.list.push(name, value);
  }
}

/** Appends a flat `[name, value, …]` list to a response not yet written. */
function appendFields(res: ServerResponse, list: readonly string[]): void {
  for (let i = 0; i < list.length; i += 2) res.appendHeader(list[i] as string, list[i + 1] as string);
}

/** The chunks read so far, then the rest of the stream. */
async function* followedBy(chunks: readonly Buffer[], rest: Readable): AsyncGenerator<Buffer> {
  yield* chunks;
  for await (const chunk of rest) yield chunk as Buffer;
}
