import type { Server } from 'node:http';
import { intAt, optionsAt } from '@switchyard/internals';
import { InvalidOptionError } from './errors.js';

/** Options of {@link nginxTimeouts}: nginx's client timeouts, in ms; 0 turns one off. */
export interface NginxTimeoutsOptions {
  /**
   * nginx `client_header_timeout`: the request head must arrive whole within it, else
   * 408 and the connection closes (Node's `server.headersTimeout`).
   * @default 60000
   * @see https://nginx.org/en/docs/http/ngx_http_core_module.html#client_header_timeout
   */
  clientHeaderTimeoutMs?: number;
  /**
   * nginx `client_body_timeout`, as Node's `server.requestTimeout`: the whole request,
   * head and body, must arrive within it, else 408. nginx's timeout runs between two
   * reads of the body, so a slow but steady upload never hits it; Node's is a deadline
   * from the first byte, so an upload taking longer than this is cut however steadily it
   * flows. Raise it on servers taking large uploads (or 0 for none: then only the
   * header timeout holds). Node has no per-read body timeout on the server side.
   * @default 60000
   * @see https://nginx.org/en/docs/http/ngx_http_core_module.html#client_body_timeout
   */
  clientBodyTimeoutMs?: number;
  /**
   * nginx `keepalive_timeout`: how long an idle kept-alive client connection stays open
   * (Node's `server.keepAliveTimeout`, 5 s by default). Node does not send nginx's
   * optional `Keep-Alive: timeout=` header value separately: it sends this one.
   * @default 75000
   * @see https://nginx.org/en/docs/http/ngx_http_core_module.html#keepalive_timeout
   */
  keepAliveTimeoutMs?: number;
}

/** nginx's `client_header_timeout` and `client_body_timeout`: 60 s. */
export const DEFAULT_CLIENT_TIMEOUT_MS = 60_000;
/** nginx's `keepalive_timeout`: 75 s. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 75_000;

const KEYS = new Set(['clientHeaderTimeoutMs', 'clientBodyTimeoutMs', 'keepAliveTimeoutMs']);
// Node's timers take at most 2^31 - 1 ms.
const MAX_MS = 2_147_483_647;

/**
 * Gives a `node:http` (or `https`) server nginx's client timeouts, against slow clients
 * (slowloris) holding connections open: `headersTimeout` from `client_header_timeout`,
 * `requestTimeout` from `client_body_timeout` (a total deadline in Node, see
 * {@link NginxTimeoutsOptions.clientBodyTimeoutMs}) and `keepAliveTimeout` from
 * `keepalive_timeout`. Returns the server.
 *
 * Node checks the first two every `connectionsCheckingInterval` (30 s by default, an
 * option of `createServer`), so a slow client is cut up to that much later than the
 * timeout says; lower it for tighter limits.
 *
 * @example
 * import { createServer } from 'node:http';
 * import { nginxTimeouts } from '@switchyard/limit';
 *
 * const server = nginxTimeouts(createServer({ connectionsCheckingInterval: 1000 }, app));
 * server.listen(8080);
 * @throws InvalidOptionError for a bad value, or a header timeout longer than the request timeout.
 * @see https://nginx.org/en/docs/http/ngx_http_core_module.html#client_header_timeout
 */
export function nginxTimeouts<S extends Server>(server: S, overrides: NginxTimeoutsOptions = {}): S {
  if (server === null || typeof server !== 'object' || !('headersTimeout' in server)) {
    throw new InvalidOptionError('server', 'a node:http Server', server);
  }
  const o = optionsAt('', overrides, KEYS);
  const ms = (key: string, fallback: number): number => intAt(key, o[key], fallback, 0, MAX_MS);
  const header = ms('clientHeaderTimeoutMs', DEFAULT_CLIENT_TIMEOUT_MS);
  const request = ms('clientBodyTimeoutMs', DEFAULT_CLIENT_TIMEOUT_MS);
  const keepAlive = ms('keepAliveTimeoutMs', DEFAULT_KEEPALIVE_TIMEOUT_MS);
  // Node refuses a header timeout longer than a request timeout (the latter covers both).
  if (request !== 0 && header > request) {
    throw new InvalidOptionError(
      'clientHeaderTimeoutMs',
      `at most clientBodyTimeoutMs (${request}), which Node counts from the first byte too`,
      header,
    );
  }
  server.headersTimeout = header;
  server.requestTimeout = request;
  server.keepAliveTimeout = keepAlive;
  return server;
}
