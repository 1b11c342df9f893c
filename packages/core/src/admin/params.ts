import { parseNginxTime } from '@switchyard/internals';
import type { PeerPatch, ServerOptions } from '../peer/index.js';
import { ApiError, formatError } from './errors.js';

/** Formats ms as nginx shows a time: whole seconds as `10s`, otherwise `1500ms`. */
export function formatTime(ms: number): string {
  return ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`;
}

/** nginx keeps a route in a fixed-size field. */
const MAX_ROUTE = 32;

const CONF_KEYS = new Set([
  'id',
  'server',
  'service',
  'weight',
  'max_conns',
  'max_fails',
  'fail_timeout',
  'slow_start',
  'route',
  'backup',
  'down',
  'drain',
]);

/** A server body of `POST`/`PATCH …/servers`, checked and turned into switchyard's terms. */
export interface ServerBody {
  /** `id`: read-only; a `PATCH` may repeat the server's own. */
  id?: number;
  /** `server`, as given. */
  server?: string;
  /** The parameters in switchyard's terms (ms for times). */
  patch: PeerPatch;
  /** `route: ""`: clear the route. */
  clearRoute: boolean;
  /** `backup`: set when added, never changed. */
  backup?: boolean;
  /** `drain`: `true` drains, `false` ends draining. */
  drain?: boolean;
}

/**
 * Checks a server body as NGINX Plus does and returns it in switchyard's terms, or the
 * API error NGINX Plus would answer.
 *
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#def_nginx_http_upstream_conf_server
 */
export function parseServerBody(body: Record<string, unknown>): ServerBody | ApiError {
  const out: ServerBody = { patch: {}, clearRoute: false };
  for (const [k, v] of Object.entries(body)) {
    if (!CONF_KEYS.has(k)) return formatError(`unknown parameter "${k}"`);
    if (typeof v === 'object' && v !== null) return formatError('nested object or list');
  }
  const { patch } = out;
  const b = body;
  if (b.id !== undefined) {
    if (typeof b.id !== 'number' || !Number.isInteger(b.id) || b.id < 0) return invalid('id');
    out.id = b.id;
  }
  if (b.server !== undefined) {
    if (typeof b.server !== 'string' || b.server === '') return invalid('server');
    out.server = b.server;
  }
  if (b.service !== undefined && b.service !== '') {
    return new ApiError('UpstreamBadService');
  }
  if (b.weight !== undefined) {
    if (!isInt(b.weight, 1)) return new ApiError('UpstreamBadWeight');
    patch.weight = b.weight;
  }
  if (b.max_conns !== undefined) {
    if (!isInt(b.max_conns, 0)) return new ApiError('UpstreamBadMaxConns');
    patch.maxConns = b.max_conns;
  }
  if (b.max_fails !== undefined) {
    if (!isInt(b.max_fails, 0)) return new ApiError('UpstreamBadMaxFails');
    patch.maxFails = b.max_fails;
  }
  if (b.fail_timeout !== undefined) {
    // A JSON number counts as seconds, as a bare number does in nginx's configuration.
    const ms = parseNginxTime(b.fail_timeout, 's');
    if (ms === undefined || ms < 1) return new ApiError('UpstreamBadFailTimeout');
    patch.failTimeoutMs = ms;
  }
  if (b.slow_start !== undefined) {
    const ms = parseNginxTime(b.slow_start, 's');
    if (ms === undefined) return new ApiError('UpstreamBadSlowStart');
    patch.slowStartMs = ms;
  }
  if (b.route !== undefined) {
    if (typeof b.route !== 'string') return invalid('route');
    if (b.route.length > MAX_ROUTE) return new ApiError('UpstreamBadRoute');
    if (b.route === '') out.clearRoute = true;
    else patch.route = b.route;
  }
  for (const k of ['backup', 'down', 'drain'] as const) {
    const v = b[k];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') return invalid(k);
    if (k === 'down') patch.down = v;
    else out[k] = v;
  }
  return out;
}

function isInt(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

function invalid(name: string): ApiError {
  return formatError(`invalid "${name}" value`);
}

/** The `server` of a body as the URL a `Peer` takes: `host:port` is `http://host:port`. */
export function serverUrl(server: string): string {
  return server.includes('://') ? server : `http://${server}`;
}

/** The options of a new server from a checked `POST` body. */
export function serverOptions(body: ServerBody & { server: string }): ServerOptions {
  const { route, ...rest } = body.patch;
  const o: ServerOptions = { url: serverUrl(body.server), ...rest };
  if (typeof route === 'string') o.route = route;
  if (body.backup !== undefined) o.backup = body.backup;
  return o;
}
