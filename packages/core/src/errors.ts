import { SwitchyardError } from '@switchyard/internals';

export { InvalidOptionError, SwitchyardError } from '@switchyard/internals';

/** No peer of the upstream could take the request (nginx: "no live upstreams"). */
export class NoLiveUpstreamError extends SwitchyardError {
  constructor(upstream: string) {
    super('SWY_ERR_NO_LIVE_UPSTREAM', `no live upstreams in "${upstream}"`);
  }
}

/** Connecting to or talking with a peer failed (refused, reset, closed early). */
export class UpstreamError extends SwitchyardError {
  /** The peer id, `host:port`. */
  readonly peer: string;
  constructor(peer: string, message: string, cause?: unknown) {
    super('SWY_ERR_UPSTREAM', `upstream ${peer}: ${message}`, { cause });
    this.peer = peer;
  }
}

/** A peer did not connect, or answer, within the configured time. */
export class UpstreamTimeoutError extends SwitchyardError {
  /** The peer id, `host:port`. */
  readonly peer: string;
  constructor(peer: string, message: string, cause?: unknown) {
    super('SWY_ERR_UPSTREAM_TIMEOUT', `upstream ${peer}: ${message}`, { cause });
    this.peer = peer;
  }
}

/** A runtime change named a peer the upstream does not hold. */
export class PeerNotFoundError extends SwitchyardError {
  constructor(upstream: string, id: string) {
    super('SWY_ERR_PEER_NOT_FOUND', `upstream "${upstream}" has no server "${id}"`);
  }
}

/** A runtime change would add a peer the upstream already holds. */
export class PeerExistsError extends SwitchyardError {
  constructor(upstream: string, id: string) {
    super('SWY_ERR_PEER_EXISTS', `upstream "${upstream}" already has server "${id}"`);
  }
}

/**
 * The request body was read by a body parser before the proxy saw it, in a form the
 * proxy cannot send on.
 */
export class BodyConsumedError extends SwitchyardError {
  constructor() {
    super(
      'SWY_ERR_BODY_CONSUMED',
      'the request body was already read by a body parser and req.body is not a Buffer, ' +
        'string, JSON or urlencoded value; mount the proxy before body parsers ' +
        '(app.use(proxy.middleware) first), or give that route no parser',
    );
  }
}

/**
 * A function given in the options threw, or its promise rejected: `hashKey`, a
 * persistence's `find` or `bind`, a balancer's `pick`, a cache's `lookup` (its `key`), a
 * rewriter's `evaluate`, or a `trustProxy` function. The request gets a 500 (with
 * `proxy.middleware`, the error goes to `next`); the next request runs the hook again.
 */
export class HookError extends SwitchyardError {
  /** The hook that failed, e.g. `persistence.find`. */
  readonly hook: string;
  constructor(hook: string, cause: unknown) {
    super('SWY_ERR_HOOK', `${hook} threw: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.hook = hook;
  }
}
