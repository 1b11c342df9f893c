import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { HookError } from '../errors.js';
import { rawAnswer, rawText } from './answer.js';
import type { Attempt } from './attempt.js';
import { noop, type ProxyCore } from './core.js';
import { Flow } from './flow.js';
import { latin1, responseHeaders } from './headers.js';
import { bodiless } from './request.js';

/** How a tunnel ends: the one argument of its `finish`. */
type TunnelEnd =
  /** The proxy's own short answer (400, 500, 502, 503, 504). */
  | { readonly kind: 'text'; readonly status: number }
  /** A rewrite rule's return or redirect. */
  | { readonly kind: 'answer'; readonly status: number; readonly body: string; readonly location?: string }
  /** Refused by the limits, with their status. */
  | { readonly kind: 'limited'; readonly status: number }
  /** The peer's answer to a declined upgrade went to the client whole. */
  | { readonly kind: 'relayed' }
  /** The connection closes: a tunnel that ended, a client gone, a 444. */
  | { readonly kind: 'close' };

const CLOSE: TunnelEnd = { kind: 'close' };
const RELAYED: TunnelEnd = { kind: 'relayed' };

/** `Upgrade` values that name h2c, which nginx does not relay. */
const H2C = /(?:^|,)\s*h2c\s*(?:,|$)/i;

/**
 * An upgrade request (WebSocket) on its way through the proxy: the same pipeline (checks,
 * rewrite rules, locations, `upstreams`), peer choice and next-upstream rules as any
 * request, then both byte streams relayed. Its lease ends when the tunnel closes.
 */
export class Tunnel extends Flow {
  readonly socket: Duplex;
  readonly early: Buffer;
  /** The peer's end of the tunnel, once it switched protocols. */
  private upstreamSocket: Duplex | undefined;
  /** Closes an idle tunnel: nginx's `proxy_read_timeout`, or `send_timeout` under backpressure. */
  private idle: NodeJS.Timeout | undefined;
  private idleMs = 0;

  constructor(core: ProxyCore, req: IncomingMessage, socket: Duplex, head: Buffer) {
    super(core, req);
    this.socket = socket;
    this.early = head;
  }

  gone(): boolean {
    return this.socket.destroyed;
  }

  /** Runs the proxy's upgrade pipeline; a closing proxy answers 503. */
  start(): void {
    this.socket.on('error', noop);
    this.core.observer.start(this.req);
    if (!this.core.enter()) {
      rawText(this.socket, 503);
      return;
    }
    this.run(this.core.upgradeSteps as never);
  }

  /**
   * The only exit: ends the lease still open (a tunnel that opened, or an answer relayed
   * whole, count as the peer's success), stops a `limit_req` delay and gives back the
   * `limit_conn` slots, answers or closes the client socket, and leaves the proxy.
   */
  private finish(f: TunnelEnd): void {
    if (this.finished) return;
    this.finished = true;
    this.settleLimits();
    const clientGone = this.socket.destroyed;
    const attempt = this.attempt;
    if (attempt !== undefined) {
      const success = f.kind === 'relayed' || (f.kind === 'close' && this.upstreamSocket !== undefined);
      if (!attempt.done) attempt.drop('abandoned');
      else attempt.release(success ? 'none' : 'abandoned', success ? attempt.answered : attempt.status);
    }
    const socket = this.socket;
    if (f.kind === 'text' || f.kind === 'limited') rawText(socket, f.status);
    else if (f.kind === 'answer') rawAnswer(socket, f.status, f.body, f.location);
    else if (f.kind === 'relayed') socket.end();
    else socket.destroy();
    this.upstreamSocket?.destroy();
    if (this.idle !== undefined) clearTimeout(this.idle);
    this.core.tunnels.delete(this.cut);
    this.observeEnd(f, clientGone);
    this.core.leave();
  }

  /** Tells the observers what the client got. */
  private observeEnd(f: TunnelEnd, clientGone: boolean): void {
    if (f.kind === 'text') this.observe(f.status, f.status >= 500 ? 'error' : 'refused', 0, undefined);
    else if (f.kind === 'limited') this.observe(f.status, 'refused', 0, undefined);
    else if (f.kind === 'answer') this.observe(f.status, 'answered', Buffer.byteLength(f.body), undefined);
    else if (f.kind === 'relayed') this.observe(this.attempt?.answered ?? 0, 'proxied', 0, undefined);
    else if (this.upstreamSocket !== undefined) this.observe(101, 'proxied', 0, undefined);
    // nginx logs 499 for a client that closed first, 444 for a connection closed on purpose.
    else this.observe(clientGone ? 499 : 444, 'aborted', 0, undefined);
  }

  /** Cuts an open tunnel, for a closing proxy. */
  private readonly cut = (): void => this.finish(CLOSE);

  refuse(status: number): void {
    this.finish({ kind: 'text', status });
  }

  /** Answers on the socket and closes it. */
  /** A rule's return or redirect on the raw socket; `add_header` fields are not written there. */
  answer(status: number, body: string, location: string | undefined): void {
    this.finish({ kind: 'answer', status, body, location });
  }

  drop(): void {
    this.finish(CLOSE);
  }

  protected refuseByLimit(status: number): void {
    this.finish({ kind: 'limited', status });
  }

  /**
   * A delayed upgrade: a client that closes its socket meanwhile ends the flow now. Its
   * end of the stream counts too (nginx's `ngx_http_test_reading` takes EOF for a client
   * gone), but only while held: an open tunnel relays a half-close.
   */
  protected override holding(): () => void {
    const socket = this.socket;
    socket.once('end', this.cut);
    socket.once('close', this.cut);
    return () => {
      socket.off('end', this.cut);
      socket.off('close', this.cut);
    };
  }

  protected leave(): void {
    this.finish(CLOSE);
  }

  protected internalError(_err: HookError): void {
    this.finish({ kind: 'text', status: 500 });
  }

  protected noPeer(): void {
    this.noLivePeer();
    this.finish({ kind: 'text', status: 502 });
  }

  protected giveUp(kind: 'error' | 'timeout'): void {
    this.finish({ kind: 'text', status: kind === 'timeout' ? 504 : 502 });
  }

  /** The last stage: builds the upgrade request and sends the first attempt. */
  prepare(): boolean {
    this.routed = true;
    const headers = this.headerList(undefined);
    if (headers === undefined) {
      this.finish({ kind: 'text', status: 400 });
      return false;
    }
    const upgrade = this.req.headers.upgrade ?? 'websocket';
    // nginx does not take h2c upgrades, and relays none by default: the request goes as
    // an ordinary one. A peer switching to h2c would carry requests no rule sees.
    const protocol = H2C.test(upgrade) ? undefined : upgrade;
    this.forward({ path: this.url, method: this.method, headers, upgrade: protocol, body: null });
    return true;
  }

  started(attempt: Attempt): void {
    if (this.socket.destroyed) attempt.cancel();
  }

  /** The peer switched protocols: the 101 goes as the peer wrote it, then both ways are piped. */
  upgrade(attempt: Attempt, status: number, raw: ReadonlyArray<Buffer | string>, upstream: Duplex): void {
    attempt.done = true;
    const socket = this.socket;
    this.upstreamSocket = upstream;
    let head = `HTTP/1.1 ${status} Switching Protocols\r\n`;
    for (let i = 0; i < raw.length; i += 2) {
      head += `${latin1(raw[i] as Buffer | string)}: ${latin1(raw[i + 1] as Buffer | string)}\r\n`;
    }
    socket.write(`${head}\r\n`);
    if (this.early.length > 0) upstream.write(this.early);
    // The tunnel's lease ends when it closes: the 101 counts as a success then.
    attempt.status = status;
    this.core.tunnels.add(this.cut);
    upstream.on('error', this.cut);
    socket.on('error', this.cut);
    upstream.on('close', this.cut);
    socket.on('close', this.cut);
    upstream.pipe(socket);
    socket.pipe(upstream);
    // After pipe's own listener, so a chunk the client could not take shows as backpressure.
    upstream.on('data', this.upstreamData);
    socket.on('drain', this.clientDrained);
    this.arm(this.core.o.bodyTimeoutMs);
  }

  /**
   * nginx on an upgraded connection: while it waits for the peer, `proxy_read_timeout`
   * (`bodyTimeoutMs`) runs; while data waits for a client that takes none, `send_timeout`
   * (`sendTimeoutMs`). When one runs out, the tunnel closes.
   */
  private arm(ms: number): void {
    if (this.finished) return;
    if (this.idle !== undefined && this.idleMs === ms) {
      this.idle.refresh();
      return;
    }
    if (this.idle !== undefined) clearTimeout(this.idle);
    this.idleMs = ms;
    this.idle = ms === 0 ? undefined : setTimeout(this.cut, ms);
  }

  private readonly upstreamData = (): void => {
    const o = this.core.o;
    this.arm(this.socket.writableNeedDrain ? o.sendTimeoutMs : o.bodyTimeoutMs);
  };

  private readonly clientDrained = (): void => this.arm(this.core.o.bodyTimeoutMs);

  /** The peer declined the upgrade (or answered an h2c request): its answer is relayed, then the connection closes. */
  head(attempt: Attempt, status: number, raw: ReadonlyArray<Buffer | string>, statusText: string): void {
    if (this.nextOnStatus(attempt, status)) return;
    attempt.headOnly = bodiless(status, this.method);
    attempt.status = status;
    const list = responseHeaders(raw);
    let head = `HTTP/1.1 ${status} ${statusText}\r\n`;
    for (let i = 0; i < list.length; i += 2) head += `${list[i]}: ${list[i + 1]}\r\n`;
    this.socket.write(`${head}connection: close\r\n\r\n`);
  }

  data(attempt: Attempt, chunk: Buffer): boolean {
    const socket = this.socket;
    if (socket.write(chunk)) return true;
    socket.once('drain', () => attempt.resume());
    return false;
  }

  end(): void {
    this.finish(RELAYED);
  }

  error(attempt: Attempt, err: Error): void {
    if (attempt.headOnly) {
      // As for a request: nothing was to follow the head that went out.
      this.finish(RELAYED);
      return;
    }
    if (attempt.answered > 0 || this.socket.destroyed) {
      this.finish(CLOSE);
      return;
    }
    this.failed(attempt, err);
  }
}
