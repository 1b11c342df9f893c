import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { isObject } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import type { ConnectionCounts, RequestCounts, TrafficStats } from './types.js';

/** A {@link TrafficStats} that counts what it sees on some servers, until closed. */
export interface TrafficCounter extends TrafficStats {
  /** Stops listening to the servers. */
  close(): void;
}

const kSocket = Symbol('switchyard.traffic.socket');

/**
 * Counts client connections and requests on `node:http` (or `https`) servers by listening
 * to their `connection`, `drop` and `request` events: NGINX Plus `/connections` and
 * `/http/requests`. Cost per request: two increments and one `close` listener.
 *
 * Connections open before counting starts are not counted; WebSocket upgrades are not
 * requests here (listening to `upgrade` would change how Node treats them).
 *
 * @example
 * ```ts
 * const server = http.createServer(proxy.handler);
 * const traffic = countTraffic([server]);
 * createAdminApi({ upstreams: [proxy.upstream], stats: traffic });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_api_module.html#def_nginx_connections
 */
export function countTraffic(servers: readonly Server[]): TrafficCounter {
  let accepted = 0;
  let dropped = 0;
  let open = 0;
  let active = 0;
  let total = 0;
  let current = 0;
  /** Requests in progress per counted connection. */
  const busy = new WeakMap<Socket, number>();

  const onConnection = (socket: Socket): void => {
    accepted++;
    open++;
    busy.set(socket, 0);
    socket.once('close', onSocketClose);
  };
  function onSocketClose(this: Socket): void {
    open--;
    // A connection that closes with requests in progress is active no more.
    if ((busy.get(this) ?? 0) > 0) active--;
    busy.delete(this);
  }
  const onDrop = (): void => {
    dropped++;
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    total++;
    current++;
    const socket = req.socket;
    const n = busy.get(socket);
    if (n !== undefined) {
      if (n === 0) active++;
      busy.set(socket, n + 1);
    }
    (res as { [kSocket]?: Socket })[kSocket] = socket;
    res.once('close', onResponseClose);
  };
  function onResponseClose(this: ServerResponse): void {
    current--;
    const socket = (this as { [kSocket]?: Socket })[kSocket];
    if (socket === undefined) return;
    const n = busy.get(socket);
    if (n === undefined || n === 0) return;
    busy.set(socket, n - 1);
    if (n === 1) active--;
  }

  for (const s of servers) {
    s.on('connection', onConnection);
    s.on('drop', onDrop);
    s.on('request', onRequest);
  }

  return {
    connections(): ConnectionCounts {
      return { accepted, dropped, active, idle: open - active };
    },
    requests(): RequestCounts {
      return { total, current };
    },
    resetConnections() {
      accepted = 0;
      dropped = 0;
    },
    resetRequests() {
      total = 0;
    },
    close() {
      for (const s of servers) {
        s.off('connection', onConnection);
        s.off('drop', onDrop);
        s.off('request', onRequest);
      }
    },
  };
}

/** Zero traffic, for when nothing is counted. */
export const noTraffic: TrafficStats = {
  connections: () => ({ accepted: 0, dropped: 0, active: 0, idle: 0 }),
  requests: () => ({ total: 0, current: 0 }),
};

/** Checks the `servers` and `stats` options; counts traffic on `servers` when given. */
export function trafficFrom(
  servers: unknown,
  stats: unknown,
): { stats: TrafficStats; counter: TrafficCounter | undefined } {
  if (servers !== undefined && stats !== undefined) {
    throw new InvalidOptionError('stats', '', stats, 'stats: give either servers or stats, not both');
  }
  if (servers !== undefined) {
    if (!Array.isArray(servers) || servers.some((s) => !isObject(s) || typeof s.on !== 'function')) {
      throw new InvalidOptionError('servers', 'an array of http.Server', servers);
    }
    const counter = countTraffic(servers as Server[]);
    return { stats: counter, counter };
  }
  if (stats !== undefined) {
    const s = stats as Record<string, unknown>;
    if (!isObject(s) || typeof s.connections !== 'function' || typeof s.requests !== 'function') {
      throw new InvalidOptionError('stats', 'an object with connections() and requests() methods', stats);
    }
    return { stats: stats as TrafficStats, counter: undefined };
  }
  return { stats: noTraffic, counter: undefined };
}
