import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { intAt, optionsAt } from '@switchyard/internals';
import { InvalidOptionError } from './errors.js';
import type { LimitConnStatus, LimitDecision, Limiter, LimitReqStatus } from './types.js';

/** Options of {@link limitMiddleware} and {@link limitFastify}. */
export interface LimitMiddlewareOptions {
  /**
   * nginx `client_max_body_size`, in bytes: a request whose `Content-Length` says more is
   * answered 413 at once (before the limits, as nginx checks it first); a chunked body is
   * counted as it streams and answered 413 when it passes the size, or cut if the
   * response already began. 0 = no limit.
   *
   * `limitMiddleware` defaults to nginx's 1 MiB: it stands where nginx would, in front of
   * an application that reads bodies into memory. `limitFastify` defaults to 0: Fastify's
   * own `bodyLimit` (also 1 MiB) already answers 413. The proxy (`createProxy`'s
   * `clientMaxBodySize`) defaults to 0, as it streams bodies without holding them.
   * @default 1048576 (`limitMiddleware`), 0 (`limitFastify`)
   * @see https://nginx.org/en/docs/http/ngx_http_core_module.html#client_max_body_size
   */
  clientMaxBodySize?: number;
  /**
   * The location whose limits apply (`createLimits`'s `locations`): a name, or a function
   * of the request. Absent: the server's limits.
   */
  location?: string | ((req: IncomingMessage) => string | undefined);
}

/** nginx `client_max_body_size` when not set: 1 MiB. */
export const DEFAULT_CLIENT_MAX_BODY_SIZE = 1_048_576;

/** What the limits made of a request: nginx's `$limit_req_status` and `$limit_conn_status`. */
export interface LimitStatus {
  /** `$limit_req_status`; `undefined` when no `limit_req` zone had a key for the request. */
  readonly limitReq: LimitReqStatus | undefined;
  /** `$limit_conn_status`; `undefined` when no `limit_conn` zone had a key for the request. */
  readonly limitConn: LimitConnStatus | undefined;
}

/** A Connect/Express `next`. */
export type NextFunction = (err?: unknown) => void;

/** The middleware {@link limitMiddleware} returns. */
export type LimitMiddleware = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/** The part of a Fastify request the hook reads (`request.raw`). */
export interface FastifyRequestLike {
  /** Node's request under Fastify's. */
  readonly raw: IncomingMessage;
}

/** The part of a Fastify reply the hook uses. */
export interface FastifyReplyLike {
  /** Node's response under Fastify's. */
  readonly raw: ServerResponse;
  /** Sets the status of a refusal. */
  code(status: number): FastifyReplyLike;
  /** Sets a header of a refusal. */
  header(name: string, value: string): FastifyReplyLike;
  /** Sends a refusal's body. */
  send(payload?: string): unknown;
}

/** A Fastify `onRequest` hook, callback style. */
export type LimitFastifyHook = (
  request: FastifyRequestLike,
  reply: FastifyReplyLike,
  done: (err?: Error) => void,
) => void;

const statuses = new WeakMap<IncomingMessage, LimitStatus>();

/**
 * What the limits made of a request that went through {@link limitMiddleware} or
 * {@link limitFastify}: nginx's `$limit_req_status` and `$limit_conn_status`, for an
 * access log. `undefined` for a request the limits did not see.
 *
 * @example
 * app.use((req, res, next) => {
 *   res.on('finish', () => console.log(req.url, limitStatus(req)?.limitReq ?? '-'));
 *   next();
 * });
 * @see https://nginx.org/en/docs/http/ngx_http_limit_req_module.html#variables
 */
export function limitStatus(req: IncomingMessage): LimitStatus | undefined {
  return statuses.get(req);
}

/** nginx's wording of its own answers where it differs from Node's reason phrase. */
const NGINX_TEXT: Readonly<Record<number, string>> = {
  413: 'Request Entity Too Large',
  503: 'Service Temporarily Unavailable',
};

/** The short text nginx answers a status with: `503 Service Temporarily Unavailable`. */
function statusText(status: number): string {
  return `${status} ${NGINX_TEXT[status] ?? STATUS_CODES[status] ?? ''}`.trimEnd();
}

/** Answers with a short text body; `close` asks the client to close the connection. */
function sendText(res: ServerResponse, status: number, close = false): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = `${statusText(status)}\n`;
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

interface Resolved {
  readonly maxBody: number;
  readonly location: LimitMiddlewareOptions['location'];
}

const KEYS = new Set(['clientMaxBodySize', 'location']);

function resolve(options: LimitMiddlewareOptions, defaultMaxBody: number): Resolved {
  const o = optionsAt('', options, KEYS);
  const maxBody = intAt('clientMaxBodySize', o.clientMaxBodySize, defaultMaxBody, 0);
  const location = o.location;
  if (location !== undefined && typeof location !== 'string' && typeof location !== 'function') {
    throw new InvalidOptionError('location', 'a location name or a function (req) => name', location);
  }
  return { maxBody, location: location as Resolved['location'] };
}

function checkLimiter(limiter: Limiter): void {
  if (limiter === null || typeof limiter !== 'object' || typeof limiter.check !== 'function') {
    throw new InvalidOptionError('limiter', 'a Limiter (createLimits)', limiter);
  }
}

/**
 * How a request goes on once the limits let it: `go()` to go on, `refuse(status)` to
 * answer, `fail(err)` for a limiter that broke its contract.
 */
interface Outlet {
  go(): void;
  refuse(status: number): void;
  fail(err: unknown): void;
}

/**
 * The middleware's walk, shared by both adapters: `client_max_body_size`, then the
 * limits; the decision's `release()` runs once, when the response closes (finished or
 * abandoned).
 */
function admit(limiter: Limiter, o: Resolved, req: IncomingMessage, res: ServerResponse, out: Outlet): void {
  if (o.maxBody !== 0) {
    // nginx checks the declared length before the preaccess phase (find-config phase).
    const cl = req.headers['content-length'];
    if (cl !== undefined && Number(cl) > o.maxBody) {
      out.refuse(413);
      return;
    }
    if (cl === undefined && req.headers['transfer-encoding'] !== undefined) countBody(req, res, o.maxBody);
  }
  let decided: LimitDecision | Promise<LimitDecision>;
  try {
    const location = typeof o.location === 'function' ? o.location(req) : o.location;
    decided = limiter.check(req, location);
  } catch (err) {
    out.fail(err);
    return;
  }
  if (decided instanceof Promise) decided.then((d) => apply(d, res, req, out), out.fail);
  else apply(decided, res, req, out);
}

function apply(d: LimitDecision, res: ServerResponse, req: IncomingMessage, out: Outlet): void {
  if (res.destroyed) {
    // The client left while an asynchronous store answered.
    d.release();
    return;
  }
  statuses.set(req, { limitReq: d.limitReq, limitConn: d.limitConn });
  let timer: NodeJS.Timeout | undefined;
  res.once('close', () => {
    if (timer !== undefined) clearTimeout(timer);
    d.release();
  });
  if (d.action === 'reject') out.refuse(d.status);
  else if (d.action === 'delay' && d.delayMs > 0) {
    // A timer, not a wait: the event loop serves others while this request is held.
    timer = setTimeout(() => {
      timer = undefined;
      if (!res.destroyed) out.go();
    }, d.delayMs);
  } else out.go();
}

const kPush = Symbol('switchyard.limit.push');

/**
 * Counts a chunked body as Node's parser hands it over, without reading it: the
 * application's own reader gets every chunk, in whatever mode it reads. Listening for
 * `data` would switch the stream to flowing before the application listens, losing
 * chunks; so the parser's `push` on this one request is wrapped instead.
 */
function countBody(req: IncomingMessage, res: ServerResponse, max: number): void {
  const r = req as IncomingMessage & { [kPush]?: boolean };
  if (r[kPush]) return;
  r[kPush] = true;
  const push = req.push;
  let received = 0;
  let over = false;
  req.push = function countedPush(this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (over) return chunk === null ? push.call(this, chunk, encoding) : true;
    if (chunk !== null && chunk !== undefined) {
      received += (chunk as Buffer).length;
      if (received > max) {
        over = true;
        // nginx: 413 if nothing was sent yet; else the response can only be cut. A body
        // Node drains after the response ended changes nothing.
        if (!res.headersSent) sendText(res, 413, true);
        else if (!res.writableEnded) res.destroy();
        return true;
      }
    }
    return push.call(this, chunk, encoding);
  };
}

/**
 * A Connect / Express / `node:http` middleware applying nginx's `limit_req` and
 * `limit_conn` (a {@link Limiter} from `createLimits`) and `client_max_body_size`.
 * A refused request gets the limit's status (503 unless `reqStatus` / `connStatus` say
 * otherwise) with nginx's short text; a delayed one goes on after the delay, on a timer;
 * the `limit_conn` slots are given back when the response closes, finished or abandoned.
 * {@link limitStatus} tells what the limits made of a request.
 *
 * @example
 * import express from 'express';
 * import { createLimits, limitMiddleware, rateZone } from '@switchyard/limit';
 *
 * const perIp = rateZone({ name: 'perip', rate: '10r/s' });
 * const app = express();
 * app.use(limitMiddleware(createLimits({ req: [{ zone: perIp, burst: 20 }] })));
 *
 * // node:http
 * const limit = limitMiddleware(limits);
 * createServer((req, res) => limit(req, res, () => handle(req, res)));
 * @see https://nginx.org/en/docs/http/ngx_http_limit_req_module.html
 * @see https://nginx.org/en/docs/http/ngx_http_limit_conn_module.html
 */
export function limitMiddleware(limiter: Limiter, options: LimitMiddlewareOptions = {}): LimitMiddleware {
  checkLimiter(limiter);
  const o = resolve(options, DEFAULT_CLIENT_MAX_BODY_SIZE);
  return function limit(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    admit(limiter, o, req, res, {
      go: () => next(),
      refuse: (status) => sendText(res, status, status === 413),
      fail: (err) => next(err),
    });
  };
}

/**
 * The same as {@link limitMiddleware}, as a Fastify `onRequest` hook (no Fastify import:
 * any object with the shape of a Fastify request and reply fits).
 * `clientMaxBodySize` is off by default here: Fastify's `bodyLimit` answers 413 already.
 *
 * @example
 * import Fastify from 'fastify';
 * const app = Fastify();
 * app.addHook('onRequest', limitFastify(createLimits({ conn: [{ zone: connZone({ name: 'addr' }), max: 10 }] })));
 * @see https://nginx.org/en/docs/http/ngx_http_limit_req_module.html
 */
export function limitFastify(limiter: Limiter, options: LimitMiddlewareOptions = {}): LimitFastifyHook {
  checkLimiter(limiter);
  const o = resolve(options, 0);
  return function limitHook(request, reply, done): void {
    admit(limiter, o, request.raw, reply.raw, {
      go: () => done(),
      refuse: (status) => {
        reply.code(status).header('content-type', 'text/plain; charset=utf-8');
        if (status === 413) reply.header('connection', 'close');
        reply.send(`${statusText(status)}\n`);
      },
      fail: (err) => done(err instanceof Error ? err : new Error(String(err))),
    });
  };
}
