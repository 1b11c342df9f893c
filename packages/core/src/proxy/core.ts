import type { IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { schemeOf } from '@switchyard/internals';
import { type buildConnector, Client, type Dispatcher, Pool } from 'undici';
import { InvalidOptionError, type SwitchyardError } from '../errors.js';
import type { Peer } from '../peer/index.js';
import { peerConnector, peerServerName } from '../upstream/connect.js';
import { groupOf, Upstream } from '../upstream/index.js';
import type { Exchange } from './exchange.js';
import type { Step } from './flow.js';
import type { Forwarded } from './headers.js';
import { Observer } from './observe.js';
import type { ResolvedProxyOptions } from './options.js';
import type { Tunnel } from './tunnel.js';

/** How {@link ReverseProxy.close} ends the proxy. */
export interface CloseOptions {
  /**
   * Let requests in flight finish (up to `timeoutMs`) while new ones are refused with 503
   * and `Connection: close`; without it they are cut at once. @default false
   */
  graceful?: boolean;
  /** With `graceful`: how long requests in flight may take; then they are cut. @default 30000 */
  timeoutMs?: number;
}

/** The state shared by every request of one proxy: pools, groups, and its open flows. */
export class ProxyCore {
  readonly o: ResolvedProxyOptions;
  readonly upstream: Upstream;
  /** `onResponse`, the logger and the diagnostics channels. */
  readonly observer: Observer;
  /** Each peer's keep-alive pool, as requests are dispatched to it. */
  private pools = new Map<Peer, Dispatcher>();
  /** Groups of one server made for `proxy_pass http://address` targets, by target. */
  private implicit = new Map<string, Upstream>();
  /** Requests and tunnels in flight (background cache updates included). */
  private inflight = 0;
  /** Told when the last flow in flight ends, while a graceful close waits. */
  private idle: (() => void) | undefined;
  /** Cuts each open WebSocket tunnel, for a close. */
  readonly tunnels = new Set<() => void>();
  /** The stages every request goes through, composed once by `createProxy`. */
  requestSteps: ReadonlyArray<Step<Exchange>> = [];
  /** The stages every upgrade goes through, composed once by `createProxy`. */
  upgradeSteps: ReadonlyArray<Step<Tunnel>> = [];
  /** The proxy takes no new requests: it is closing or closed. */
  closing = false;
  private closed: Promise<void> | undefined;

  constructor(o: ResolvedProxyOptions) {
    this.o = o;
    this.upstream = o.upstream;
    this.observer = new Observer(o.observe, (err, req) => this.tell(err, req));
    this.upstream.on('peer:remove', this.onRemove);
    for (const up of o.upstreams.values()) if (up !== this.upstream) up.on('peer:remove', this.onRemove);
  }

  /**
   * The group a `proxy_pass` target names: a group of `upstreams` or the proxy's own by
   * name, else a group of that one address (nginx's implicit upstream), made once.
   */
  upstreamFor(target: string): Upstream {
    const authority = target.replace(/^https?:\/\//i, '');
    // nginx's `http://unix:/path:` names a socket; its path ends at the next colon.
    const unix = /^unix:([^:]*)/i.exec(authority);
    const name = unix === null ? authority.replace(/\/.*$/, '') : `unix:${unix[1]}`;
    const named = this.o.upstreams.get(name);
    if (named !== undefined) return named;
    if (name === this.upstream.name) return this.upstream;
    let up = this.implicit.get(target);
    if (up === undefined) {
      up = new Upstream({ name, servers: [target] });
      up.on('peer:remove', this.onRemove);
      this.implicit.set(target, up);
    }
    return up;
  }

  /** Every group requests go to: the proxy's, those of `upstreams`, then implicit ones made so far. */
  groups(): Upstream[] {
    const all = new Set<Upstream>([this.upstream, ...this.o.upstreams.values(), ...this.implicit.values()]);
    return [...all];
  }

  /**
   * One keep-alive pool per peer, made on first use, connecting as the peer's group says:
   * its unix socket, its TLS settings and server name, HTTP/2 if offered.
   */
  pool(peer: Peer): Dispatcher {
    let pool = this.pools.get(peer);
    if (pool === undefined) {
      pool = this.makePool(peer, groupOf(peer));
      this.pools.set(peer, pool);
    }
    return pool;
  }

  private makePool(peer: Peer, group: Upstream | undefined): Dispatcher {
    const https = peer.origin.startsWith('https:');
    const http2 = https && group?.http2 === true;
    const pool = new Pool(peer.origin, {
      connections: this.o.connectionsPerPeer === 0 ? null : this.o.connectionsPerPeer,
      connect: connector(peer, group, this.o.connectTimeoutMs, http2),
      headersTimeout: this.o.headersTimeoutMs,
      bodyTimeout: this.o.bodyTimeoutMs,
      keepAliveTimeout: this.o.keepAliveTimeoutMs,
      pipelining: 1,
      // undici 8 offers h2 unless told not to: HTTP/1.1 stays the default.
      allowH2: http2,
      ...(http2 ? { factory: h2Client } : {}),
    });
    // A pool's own errors are reported through the requests it serves.
    pool.on('connectionError', noop);
    if (!https) return pool;
    // undici verifies the name its request carries, by default from the Host header the
    // client sent: each request names the peer instead, so one connection serves them all.
    const servername = peerServerName(peer, group);
    return pool.compose(
      (dispatch) =>
        function namePeer(opts, handler) {
          // `servername` is read by undici's Request (7 and 8), though its typings omit it.
          return dispatch({ ...opts, servername } as Dispatcher.DispatchOptions, handler);
        },
    );
  }

  private onRemove = (peer: Peer): void => {
    const pool = this.pools.get(peer);
    if (pool === undefined) return;
    this.pools.delete(peer);
    // Requests in flight finish; then the connections go.
    pool.close().catch(noop);
  };

  /** The X-Forwarded-* values to send, trusting the client's only from a trusted proxy. */
  forwarded(req: IncomingMessage): Forwarded {
    const remote = req.socket.remoteAddress ?? '';
    const h = req.headers;
    const clientHost = h.host ?? '';
    const trusted = this.o.trust !== undefined && remote !== '' && this.o.trust(remote, 0);
    const xff = h['x-forwarded-for'];
    const xfp = h['x-forwarded-proto'];
    const xfh = h['x-forwarded-host'];
    return {
      host: clientHost,
      forwardedFor: trusted && xff !== undefined && xff !== '' ? `${xff}, ${remote}` : remote,
      forwardedProto: trusted && typeof xfp === 'string' && xfp !== '' ? xfp : schemeOf(req),
      forwardedHost: trusted && typeof xfh === 'string' && xfh !== '' ? xfh : clientHost,
    };
  }

  /**
   * The client address the proxy trusts, nginx's realip module (`$remote_addr` after it):
   * the connection's address, or when that is a trusted proxy (`trustProxy`,
   * `set_real_ip_from`), the address `realIpHeader` names: with `realIpRecursive`, the
   * nearest one that is not a trusted proxy itself (Express's `req.ip`), else the last.
   * Every later stage reads it: the rewrite rules, the limits, `ip_hash`, the header rules.
   */
  clientAddress(req: IncomingMessage): string | undefined {
    const trust = this.o.trust;
    const remote = req.socket.remoteAddress;
    if (trust === undefined || remote === undefined) return remote;
    const header = req.headers[this.o.realIpHeader];
    if (header === undefined || !trust(remote, 0)) return remote;
    return (
      realIp(typeof header === 'string' ? header : header.join(','), trust, this.o.realIpRecursive) ?? remote
    );
  }

  /** Tells `onError` and the logger. */
  report(err: SwitchyardError, req: IncomingMessage): void {
    this.observer.error(err, req);
    this.tell(err, req);
  }

  /** Tells `onError`; a throwing hook is ignored. */
  private tell(err: SwitchyardError, req: IncomingMessage): void {
    if (this.o.onError === undefined) return;
    try {
      this.o.onError(err, req);
    } catch {
      // A throwing error hook must not take the proxy down.
    }
  }

  /** A flow starts; `false` when the proxy is closing and takes none. */
  enter(): boolean {
    if (this.closing) return false;
    this.inflight++;
    return true;
  }

  /** A flow that `enter` admitted ended. */
  leave(): void {
    this.inflight--;
    if (this.inflight === 0) this.idle?.();
  }

  close(options: CloseOptions = {}): Promise<void> {
    if (this.closed === undefined) {
      const graceful = options.graceful ?? false;
      if (typeof graceful !== 'boolean')
        throw new InvalidOptionError('close.graceful', 'a boolean', graceful);
      const timeoutMs = options.timeoutMs ?? 30_000;
      if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > 2_147_483_647) {
        throw new InvalidOptionError('close.timeoutMs', 'an integer number of ms, 0 or more', timeoutMs);
      }
      this.closing = true;
      this.closed = this.shutDown(graceful ? timeoutMs : 0);
    }
    return this.closed;
  }

  private async shutDown(waitMs: number): Promise<void> {
    if (waitMs > 0 && this.inflight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.idle = undefined;
    }
    for (const cut of this.tunnels) cut();
    this.tunnels.clear();
    const groups = this.groups();
    for (const up of groups) up.off('peer:remove', this.onRemove);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(noop)));
    // Groups this proxy made end with it: their health checks stop.
    for (const up of this.implicit.values()) up.close();
    if (this.o.ownsUpstream) this.upstream.close();
    for (const [name, up] of this.o.upstreams) if (this.o.ownedGroups.has(name)) up.close();
  }
}

export function noop(): void {}

/**
 * The connector of a peer's pool ({@link peerConnector}), whose sockets tag their errors
 * for `staleConnection`.
 */
function connector(
  peer: Peer,
  group: Upstream | undefined,
  timeoutMs: number,
  allowH2: boolean,
): buildConnector.connector {
  const base = peerConnector(peer, group, { timeoutMs, allowH2 });
  return (options, callback) =>
    base(options, (err, socket) => {
      // On a failed connect undici passes no socket at all, whatever its typings say.
      socket?.on('error', tagSocketError);
      (callback as (err: Error | null, socket: Socket | null) => void)(err, socket);
    });
}

/**
 * Streams one h2 connection carries at most. undici 7 reads `pipelining` for h2 too,
 * undici 8 `maxConcurrentStreams`: both are set.
 */
const H2_STREAMS = 100;

/**
 * A pool's client for an HTTP/2 group: one request at a time while a connection speaks
 * HTTP/1.1, up to {@link H2_STREAMS} streams once ALPN chose h2.
 */
function h2Client(origin: URL, options: object): Dispatcher {
  const o = options as Client.Options;
  const connect = o.connect as buildConnector.connector;
  const client: Client = new Client(origin, {
    ...o,
    maxConcurrentStreams: H2_STREAMS,
    connect: (opts, callback) =>
      connect(opts, (err, socket) => {
        if (socket)
          client.pipelining = (socket as { alpnProtocol?: unknown }).alpnProtocol === 'h2' ? H2_STREAMS : 1;
        (callback as (err: Error | null, socket: Socket | null) => void)(err, socket);
      }),
  });
  return client;
}

/** Gives a socket's own errors (ECONNRESET, EPIPE) what undici's `SocketError` carries. */
function tagSocketError(this: Socket, err: Error & { socket?: unknown }): void {
  err.socket ??= { bytesRead: this.bytesRead };
}

/**
 * The client in a list of addresses, right to left (nginx's `ngx_http_get_forwarded_addr`):
 * the last one, or with `recursive`, the first that `trust` does not name (the leftmost
 * when every one is trusted). `undefined` when the list holds no valid address.
 */
function realIp(
  value: string,
  trust: (addr: string, hop: number) => boolean,
  recursive: boolean,
): string | undefined {
  const addrs = value.split(',');
  let found: string | undefined;
  for (let i = addrs.length - 1, hop = 1; i >= 0; i--) {
    const addr = (addrs[i] as string).trim();
    if (addr === '') continue;
    if (isIP(addr) === 0) return found;
    found = addr;
    if (!recursive || !trust(addr, hop++)) return addr;
  }
  return found;
}
