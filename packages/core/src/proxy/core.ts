import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import proxyaddr from 'proxy-addr';
import { buildConnector, Pool } from 'undici';
import { InvalidOptionError, type SwitchyardError } from '../errors.js';
import type { Peer } from '../peer/index.js';
import { Upstream } from '../upstream/index.js';
import type { Exchange } from './exchange.js';
import type { Step } from './flow.js';
import type { Forwarded } from './headers.js';
import { Observer } from './observe.js';
import type { ResolvedProxyOptions } from './options.js';
import { schemeOf } from './request.js';
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
  private pools = new Map<Peer, Pool>();
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
  /** undici's connector, whose sockets tag their errors for `staleConnection`. */
  private readonly connect: buildConnector.connector;

  constructor(o: ResolvedProxyOptions) {
    this.o = o;
    this.upstream = o.upstream;
    this.observer = new Observer(o.observe, (err, req) => this.tell(err, req));
    this.upstream.on('peer:remove', this.onRemove);
    for (const up of o.upstreams.values()) if (up !== this.upstream) up.on('peer:remove', this.onRemove);
    const base = buildConnector({ timeout: o.connectTimeoutMs });
    this.connect = (options, callback) =>
      base(options, (err, socket) => {
        // On a failed connect undici passes no socket at all, whatever its typings say.
        socket?.on('error', tagSocketError);
        (callback as (err: Error | null, socket: Socket | null) => void)(err, socket);
      });
  }

  /**
   * The group a `proxy_pass` target names: a group of `upstreams` or the proxy's own by
   * name, else a group of that one address (nginx's implicit upstream), made once.
   */
  upstreamFor(target: string): Upstream {
    const name = target.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
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

  /** One keep-alive pool per peer, made on first use. */
  pool(peer: Peer): Pool {
    let pool = this.pools.get(peer);
    if (pool === undefined) {
      pool = new Pool(peer.origin, {
        connections: this.o.connectionsPerPeer === 0 ? null : this.o.connectionsPerPeer,
        connect: this.connect,
        headersTimeout: this.o.headersTimeoutMs,
        bodyTimeout: this.o.bodyTimeoutMs,
        keepAliveTimeout: this.o.keepAliveTimeoutMs,
        pipelining: 1,
      });
      // A pool's own errors are reported through the requests it serves.
      pool.on('connectionError', noop);
      this.pools.set(peer, pool);
    }
    return pool;
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
   * The client address the proxy trusts (Express's `req.ip`): the connection's address,
   * or with `trustProxy`, the nearest `X-Forwarded-For` address that is not a trusted
   * proxy (nginx's realip module with `real_ip_recursive on`). The limits key on it.
   */
  clientAddress(req: IncomingMessage): string | undefined {
    const trust = this.o.trust;
    const remote = req.socket.remoteAddress;
    if (trust === undefined || remote === undefined || req.headers['x-forwarded-for'] === undefined)
      return remote;
    return proxyaddr(req, trust);
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

/** Gives a socket's own errors (ECONNRESET, EPIPE) what undici's `SocketError` carries. */
function tagSocketError(this: Socket, err: Error & { socket?: unknown }): void {
  err.socket ??= { bytesRead: this.bytesRead };
}
