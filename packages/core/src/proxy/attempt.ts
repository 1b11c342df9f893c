import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Peer } from '../peer/index.js';
import type { AttemptFailure, AttemptOutcome, Lease } from '../upstream/index.js';
import { rawHeadersOf } from './headers.js';

export type Controller = Dispatcher.DispatchController;
type ResponseHeaders = Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseStart']>>[2];

/**
 * What an attempt reports to: the request or the upgrade it serves. Each call comes at
 * most once per attempt, in this order, and none after the attempt was dropped.
 */
export interface AttemptSink {
  /** The request went out on a connection. */
  started(attempt: Attempt): void;
  /** The final response head (status ≥ 200), with the header list as the peer wrote it. */
  head(attempt: Attempt, status: number, raw: ReadonlyArray<Buffer | string>, statusText: string): void;
  /** A chunk of the response body; `false` asks the peer to pause until `resume`. */
  data(attempt: Attempt, chunk: Buffer): boolean;
  /** The response is complete. */
  end(attempt: Attempt): void;
  /** The attempt failed: before the head, or while the body came. */
  error(attempt: Attempt, err: Error): void;
  /** Recording the outcome threw: the balancer's `failed`, or a listener of the upstream's events. */
  releaseFailed(err: unknown): void;
  /** The peer switched protocols (101): the socket is the peer's end of the tunnel. */
  upgrade?(attempt: Attempt, status: number, raw: ReadonlyArray<Buffer | string>, socket: Duplex): void;
}

/**
 * One attempt against one peer: the undici dispatch handler (the controller API of
 * undici 7 and 8), and the outcome the upstream records when its lease ends. A fresh one
 * per attempt, so callbacks of an abandoned attempt are told apart.
 */
export class Attempt implements Dispatcher.DispatchHandler, AttemptOutcome {
  readonly sink: AttemptSink;
  readonly peer: Peer;
  /** How the attempt ended; set on release. */
  failure: AttemptFailure = 'abandoned';
  /** The status counted for the peer when released (0: none). */
  status = 0;
  /** Time to the response head, ms (with `responseMs`). */
  headerMs = -1;
  /** Time to the last byte, ms; -1: no timing sample. */
  responseMs = -1;
  /** Time from the start to the end of the attempt, whatever the end, ms; -1: not ended. */
  tookMs = -1;
  /** Request bytes sent: the head, then a streamed body's chunks. */
  sent: number;
  /** Response body bytes received. */
  received = 0;
  /** The status of the final response head the peer sent (0: none yet), counted or not. */
  answered = 0;
  /** The response head went to the client and no content follows it (`bodiless`). */
  headOnly = false;
  /** A byte of the response came: a broken connection now is no stale one. */
  started = false;
  /** Dropped, failed or complete: further callbacks are ignored. */
  done = false;
  /** undici's handle on this request: abort, pause and resume. */
  private controller: Controller | undefined;
  private readonly sentAt = performance.now();
  private headAt = 0;
  /** The hold on the peer, whose release records this attempt. */
  private readonly lease: Lease;

  constructor(sink: AttemptSink, lease: Lease, headerBytes: number) {
    this.sink = sink;
    this.lease = lease;
    this.peer = lease.peer;
    this.sent = headerBytes;
  }

  /** The name of the group the peer belongs to. */
  get upstreamName(): string {
    return this.lease.upstream.name;
  }

  /** The lease ends: the upstream records this attempt as its outcome. Once only. */
  release(failure: AttemptFailure, status = this.status): void {
    if (this.lease.released) return;
    this.failure = failure;
    this.status = status;
    if (this.headAt !== 0) this.headerMs = this.headAt - this.sentAt;
    this.tookMs = performance.now() - this.sentAt;
    if (failure === 'none') this.responseMs = this.tookMs;
    try {
      this.lease.release(this);
    } catch (err) {
      // Only after the outcome was recorded: a hook of the balancer or a listener.
      this.sink.releaseFailed(err);
    }
  }

  /** Stops the attempt: no further callbacks, the lease ends, the request is cut. */
  drop(failure: AttemptFailure, status = 0): void {
    this.done = true;
    this.release(failure, status);
    this.controller?.abort(new Error('switchyard: attempt abandoned'));
  }

  /** Cuts the request because the client went away. */
  cancel(): void {
    this.controller?.abort(new Error('client closed the connection'));
  }

  /** Lets the response body flow again after the client drained. */
  resume(): void {
    if (!this.done) this.controller?.resume();
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    this.sink.started(this);
  }

  onResponseStarted(): void {
    this.started = true;
  }

  onResponseStart(
    controller: Controller,
    status: number,
    headers: ResponseHeaders,
    statusText?: string,
  ): void {
    // 1xx: Node already answered the client's Expect: 100-continue; others are not relayed.
    if (this.done || status < 200) return;
    this.headAt = performance.now();
    this.answered = status;
    // undici keeps the head as the peer wrote it (name case, order) on the controller.
    this.sink.head(this, status, rawHeadersOf(controller.rawHeaders, headers), statusText ?? '');
  }

  onRequestUpgrade(controller: Controller, status: number, headers: ResponseHeaders, socket: Duplex): void {
    if (this.done) return;
    this.headAt = performance.now();
    this.answered = status;
    this.sink.upgrade?.(this, status, rawHeadersOf(controller.rawHeaders, headers), socket);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.done) return;
    this.received += chunk.length;
    if (!this.sink.data(this, chunk)) controller.pause();
  }

  onResponseEnd(): void {
    if (this.done) return;
    this.done = true;
    this.sink.end(this);
  }

  /** `controller` is `null` (undici 8) or `undefined` (7) when the dispatch failed at once. */
  onResponseError(_controller: Controller | null | undefined, err: Error): void {
    if (this.done) return;
    this.done = true;
    this.sink.error(this, err);
  }
}
