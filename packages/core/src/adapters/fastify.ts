/**
 * `@switchyard/core/fastify`: the reverse proxy as a Fastify plugin, {@link switchyard}.
 *
 * @packageDocumentation
 * @module @switchyard/core/fastify
 */
import { type IncomingMessage, type OutgoingHttpHeaders, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { boolAt } from '@switchyard/internals';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidOptionError, type SwitchyardError } from '../errors.js';
import { createProxy, type ProxyOptions, type ReverseProxy } from '../proxy/index.js';

/** Options of the Fastify plugin: a proxy you built, or the options to build one. */
export type SwitchyardFastifyOptions = (
  | {
      /**
       * A proxy built with `createProxy`; the plugin does not close it, and its errors go
       * where its own `onError` and `logger` send them.
       */
      proxy: ReverseProxy;
    }
  | ProxyOptions
) & {
  /**
   * Also relay WebSocket upgrades whose path is under this registration's prefix. Each
   * registration takes only the upgrades under its own prefix (the longest prefix wins);
   * an upgrade none takes is left to the server's other `upgrade` listeners, or, when
   * there is none, answered by Fastify's routing as an ordinary request (a 404 for an
   * unknown route) on a connection that then closes.
   * @default false
   */
  websocket?: boolean;
  /**
   * What replaces the prefix in the URL sent upstream, as in `@fastify/http-proxy`: with
   * `prefix: '/api'` and `rewritePrefix: '/v1'`, `/api/users?x=1` goes upstream as
   * `/v1/users?x=1`, and `''` strips the prefix (`/api?x=1` goes as `/?x=1`). Upgrades
   * too. The proxy (its rewrite rules, cache keys, access log) sees the rewritten URL.
   * `''` or a path starting with `/`; absent, the URL goes unchanged, prefix included.
   */
  rewritePrefix?: string;
};

/**
 * A Fastify plugin that proxies every route under its prefix. It is encapsulated: it
 * replaces the content-type parsers in its own context only, so request bodies reach the
 * upstream as the client sent them, unparsed.
 *
 * Headers set on the reply before the proxy takes over (by `onRequest` or `preHandler`
 * hooks, `@fastify/cors`…) are sent with the proxied response, and with the proxy's own
 * answers (502, 504…). As with `@fastify/reply-from`, a field the upstream's response
 * also has is the upstream's, except `Set-Cookie`, where both are sent, the hook's
 * first; `Content-Length`, `Transfer-Encoding` and `Connection` are always the proxy's.
 *
 * Without an `onError` (or a `logger`) in the options, errors are logged through
 * `request.log` at `error`, as `{ err }` (an upgrade's through the plugin's `fastify.log`).
 *
 * @throws InvalidOptionError naming the option (`rewritePrefix`, `websocket`, or one of
 * `createProxy`'s) and the bad value, when the plugin is registered.
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { switchyard } from '@switchyard/core/fastify';
 *
 * const app = Fastify({ logger: true });
 * await app.register(switchyard, {
 *   prefix: '/api',
 *   rewritePrefix: '/v1', // /api/users goes upstream as /v1/users
 *   upstream: { name: 'api', servers: ['http://127.0.0.1:9001'] },
 *   websocket: true,
 * });
 * ```
 */
export async function switchyard(fastify: FastifyInstance, options: SwitchyardFastifyOptions): Promise<void> {
  // `prefix`, `logLevel` and `logSerializers` are Fastify's register options, not the proxy's.
  const { websocket, rewritePrefix, prefix, logLevel, logSerializers, ...rest } =
    options as SwitchyardFastifyOptions & { prefix?: unknown; logLevel?: unknown; logSerializers?: unknown };
  const relayUpgrades = boolAt('websocket', websocket, false);
  if (
    rewritePrefix !== undefined &&
    (typeof rewritePrefix !== 'string' || !/^(?:$|\/)/.test(rewritePrefix))
  ) {
    throw new InvalidOptionError('rewritePrefix', "'' or a path starting with /", rewritePrefix);
  }
  const owned = !('proxy' in rest);
  const logs = new WeakMap<IncomingMessage, FastifyBaseLogger>();
  const proxy = 'proxy' in rest ? rest.proxy : createProxy(withRequestLog(rest, logs, fastify.log));

  // Fastify's full prefix, parents' included; a trailing `/` is not part of the match.
  const base = fastify.prefix.endsWith('/') ? fastify.prefix.slice(0, -1) : fastify.prefix;
  const rewrite =
    rewritePrefix === undefined
      ? undefined
      : (req: IncomingMessage): void => {
          req.url = rewriteUrl(req.url ?? '/', base, rewritePrefix);
        };

  // Leave the body stream unread: the proxy streams it upstream as it came.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_req: FastifyRequest, _payload: unknown, done: (err: null) => void) =>
    done(null),
  );

  const handle = (request: FastifyRequest, reply: FastifyReply): void => {
    const req = request.raw;
    logs.set(req, request.log);
    keepReplyHeaders(reply.raw, reply.getHeaders());
    rewrite?.(req);
    reply.hijack();
    proxy.handler(req, reply.raw);
  };
  fastify.all('/', handle);
  fastify.all('/*', handle);

  if (relayUpgrades) {
    const upgrade =
      rewrite === undefined
        ? proxy.upgrade
        : (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
            rewrite(req);
            proxy.upgrade(req, socket, head);
          };
    const route: UpgradeRoute = { base, upgrade };
    upgradesOf(fastify).add(route);
    fastify.addHook('onClose', async () => upgradesOf(fastify).delete(route));
  }
  if (owned) fastify.addHook('onClose', async () => proxy.close());
}

export default switchyard;

/**
 * The options with an `onError` that logs through the request's Fastify logger, unless
 * the user chose where errors go (`onError`, or a `logger`, which logs them already).
 */
function withRequestLog(
  options: ProxyOptions,
  logs: WeakMap<IncomingMessage, FastifyBaseLogger>,
  fallback: FastifyBaseLogger,
): ProxyOptions {
  if (options.onError !== undefined || options.logger !== undefined) return options;
  return {
    ...options,
    onError: function logToRequest(err: SwitchyardError, req: IncomingMessage): void {
      (logs.get(req) ?? fallback).error({ err }, err.message);
    },
  };
}

/** The URL with `base` replaced by `to`; a URL not under `base` is left as it is. */
function rewriteUrl(url: string, base: string, to: string): string {
  if (!isUnder(url, base)) return url;
  let rest = url.slice(base.length);
  if (to.endsWith('/') && rest.startsWith('/')) rest = rest.slice(1);
  const next = to + rest;
  return next.startsWith('/') ? next : `/${next}`;
}

/** `url` is `base` itself, or a path below it, with or without a query. */
function isUnder(url: string, base: string): boolean {
  if (!url.startsWith(base)) return false;
  const after = url.charCodeAt(base.length);
  return Number.isNaN(after) || after === 0x2f /* / */ || after === 0x3f /* ? */;
}

/** Framing fields: the response the proxy writes decides them, never a hook. */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection']);

/** A response head as `writeHead` takes it: an object, or a flat `[name, value, …]` list. */
type HeadFields = OutgoingHttpHeaders | ReadonlyArray<string | number>;

/**
 * Has the proxy's response carry the headers a hook set on the Fastify reply, which
 * `reply.hijack()` leaves unsent: each head the proxy writes is merged with them. The
 * head's own fields win (as the upstream's headers win in `@fastify/reply-from`), except
 * `Set-Cookie`: Fastify's `reply.header` appends it, so reply-from sends the hook's
 * lines, then the upstream's.
 */
function keepReplyHeaders(
  res: ServerResponse,
  fields: Readonly<Record<string, number | string | readonly string[] | undefined>>,
): void {
  const kept: string[] = [];
  for (const name in fields) {
    const value = fields[name];
    if (value === undefined || FRAMING.has(name)) continue;
    for (const v of Array.isArray(value) ? value : [value]) kept.push(name, String(v));
  }
  if (kept.length === 0) return;
  const writeHead = res.writeHead as (status: number, reason?: string, head?: HeadFields) => ServerResponse;
  res.writeHead = function writeHeadWithReplyHeaders(
    this: ServerResponse,
    status: number,
    reason?: string | HeadFields,
    head?: HeadFields,
  ): ServerResponse {
    const own = typeof reason === 'string' ? head : (reason ?? head);
    return writeHead.call(this, status, typeof reason === 'string' ? reason : undefined, merged(kept, own));
  } as ServerResponse['writeHead'];
}

/**
 * The hook's fields the head does not name (Set-Cookie always), then the head's. Each
 * field's lines are grouped in one array: once a header was set on the response (a hook
 * calling `reply.raw.setHeader`), Node 20's `writeHead` sets a flat list's pairs one by
 * one, and only the last line of a repeated field (two upstream Set-Cookie) would stay.
 */
function merged(kept: readonly string[], head: HeadFields | undefined): OutgoingHttpHeaders {
  const list: string[] = [];
  if (Array.isArray(head)) for (const x of head) list.push(String(x));
  else if (head !== undefined) {
    for (const [name, value] of Object.entries(head as OutgoingHttpHeaders)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) list.push(name, String(v));
    }
  }
  const named = new Set<string>();
  for (let i = 0; i < list.length; i += 2) named.add((list[i] as string).toLowerCase());
  // By lower-case name: the name as first written, and every line.
  const fields = new Map<string, { name: string; lines: string[] }>();
  const add = (name: string, line: string): void => {
    const key = name.toLowerCase();
    const field = fields.get(key);
    if (field === undefined) fields.set(key, { name, lines: [line] });
    else field.lines.push(line);
  };
  for (let i = 0; i < kept.length; i += 2) {
    const name = kept[i] as string;
    if (name === 'set-cookie' || !named.has(name)) add(name, kept[i + 1] as string);
  }
  for (let i = 0; i < list.length; i += 2) add(list[i] as string, list[i + 1] as string);
  const out: OutgoingHttpHeaders = {};
  for (const { name, lines } of fields.values()) out[name] = lines.length === 1 ? lines[0] : lines;
  return out;
}

/** One registration's claim on upgrades: the prefix it serves and its listener. */
interface UpgradeRoute {
  readonly base: string;
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
}

/**
 * The registrations relaying upgrades on one server, behind a single `upgrade` listener
 * that gives each upgrade to the registration with the longest prefix it is under. One
 * listener per registration would relay every upgrade to every backend at once.
 */
class UpgradeRoutes {
  /** Longest prefix first. */
  private readonly routes: UpgradeRoute[] = [];
  private readonly server: Server;
  private readonly routing: FastifyInstance['routing'];

  constructor(server: Server, routing: FastifyInstance['routing']) {
    this.server = server;
    this.routing = routing;
  }

  add(route: UpgradeRoute): void {
    if (this.routes.length === 0) this.server.on('upgrade', this.listener);
    this.routes.push(route);
    this.routes.sort((a, b) => b.base.length - a.base.length);
  }

  delete(route: UpgradeRoute): void {
    const i = this.routes.indexOf(route);
    if (i !== -1) this.routes.splice(i, 1);
    if (this.routes.length === 0) this.server.off('upgrade', this.listener);
  }

  private readonly listener = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = req.url ?? '/';
    for (const route of this.routes) {
      if (isUnder(url, route.base)) {
        route.upgrade(req, socket, head);
        return;
      }
    }
    // Not ours: another upgrade listener's, if the server has one.
    if (this.server.listenerCount('upgrade') > 1) return;
    // Otherwise what Node does for a server without upgrade listeners: route it as an
    // ordinary request (so Fastify answers it, 404 for no route), then close.
    socket.on('error', noop);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    res.on('finish', () => {
      res.detachSocket(socket as Socket);
      socket.end();
    });
    this.routing(req, res);
  };
}

const upgradeRoutes = new WeakMap<Server, UpgradeRoutes>();

/** The upgrade routes of the Fastify instance's server, made on first use. */
function upgradesOf(fastify: FastifyInstance): UpgradeRoutes {
  const server = fastify.server;
  let routes = upgradeRoutes.get(server);
  if (routes === undefined) {
    routes = new UpgradeRoutes(server, (req, res) => fastify.routing(req, res));
    upgradeRoutes.set(server, routes);
  }
  return routes;
}

function noop(): void {}
