import { boolAt, intAt, knownKeys, objectAt, stringAt } from '@switchyard/internals';
import { Client } from 'undici';
import { HookError, InvalidOptionError, type SwitchyardError } from '../errors.js';
import type { Peer } from '../peer/index.js';
import { peerConnector } from '../upstream/connect.js';
import { groupOf, type HealthCheckResult, type HealthPolicy, type Upstream } from '../upstream/index.js';
import { compileMatch, type Matcher, type MatchOptions } from './match.js';

export type { HeaderMatch, MatchOptions } from './match.js';

/** Timer functions; tests pass a manual scheduler. */
export interface Timers {
  /** Calls `fn` once after `ms` milliseconds; returns a handle for `clearTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a call scheduled with `setTimeout`, given its handle. */
  clearTimeout(handle: unknown): void;
}

/** Options of {@link createHealthCheck}: nginx `health_check` and `match`. */
export interface HealthCheckOptions {
  /** Time between two checks of a peer. @default 5000 */
  intervalMs?: number;
  /** Each wait is lengthened by a random amount up to this. @default 0 */
  jitterMs?: number;
  /** Consecutive failed checks that make a peer unhealthy. @default 1 */
  fails?: number;
  /** Consecutive passed checks that make an unhealthy peer healthy. @default 1 */
  passes?: number;
  /** The request-target checked. @default '/' */
  uri?: string;
  /** Check this port instead of the peer's (not for a `unix:` peer, which has none). */
  port?: number;
  /** Connect and response time allowed to one check. @default 5000 */
  timeoutMs?: number;
  /** New peers (and every peer at start) are `checking` until their first check passes. @default false */
  mandatory?: boolean;
  /**
   * With `mandatory`: a peer whose last check passed before the checker (re)started is
   * `up` at once instead of `checking` — nginx keeps that state across a reload; here,
   * across `stop()` / `start()` and across checkers of the same upstream. @default false
   */
  persistent?: boolean;
  /** What a passing response looks like. @default status 200-399 */
  match?: MatchOptions;
  /** Headers sent with each check (`Host` defaults to the peer's `host:port`). */
  headers?: Record<string, string>;
  /** Timers, for tests. @default the global setTimeout / clearTimeout */
  timers?: Timers;
  /** Randomness for the jitter. @default Math.random */
  random?: () => number;
  /**
   * Told when a listener of the upstream's events (`peer:checked`, `peer:unhealthy`,
   * `peer:healthy`) throws, with a `HookError`; the checks go on either way.
   */
  onError?: (error: SwitchyardError) => void;
}

/** A running health checker. */
export interface HealthCheck {
  /** Starts checking every peer, and peers added later. */
  start(): void;
  /** Stops the timers, cuts the checks in flight and closes the checker's connections. */
  stop(): Promise<void>;
  /** Checks every peer once now (skipping peers whose check is in flight). */
  checkAll(): Promise<void>;
}

const KEYS = [
  'intervalMs',
  'jitterMs',
  'fails',
  'passes',
  'uri',
  'port',
  'timeoutMs',
  'mandatory',
  'persistent',
  'match',
  'headers',
  'timers',
  'random',
  'onError',
] as const;

function noop(): void {}

/** nginx reads at most this much of a body for `match`. */
const MAX_BODY = 256 * 1024;

/** The per-peer state of the checker. */
interface Track {
  timer: unknown;
  inflight: Promise<void> | undefined;
  abort: AbortController | undefined;
  /** The peer's connection, made on its first check, closed on `stop` and on removal. */
  client: Client | undefined;
}

/**
 * Active health checks (NGINX Plus `health_check`): each peer gets a request every
 * `intervalMs`; `fails` failures in a row make it `unhealthy` (no requests), `passes`
 * passes make it healthy again. A check passes on a 2xx/3xx, or as `match` says. One check
 * per peer is in flight at most; bodies are always read or destroyed. Each peer is checked
 * over its own connection, made as the proxy makes its connections: to the peer's unix
 * socket, with its group's `tls` settings and server name, HTTP/2 if the group offers it.
 * Events on the upstream: `peer:checked`, `peer:unhealthy`, `peer:healthy`.
 *
 * Differs from nginx: there is no configuration reload, so `persistent` keeps a peer's
 * passed state across a restart of the checker instead; `timeoutMs` bounds each check
 * (nginx uses the proxy timeouts).
 *
 * @example
 * ```ts
 * const checks = createHealthCheck(upstream, { uri: '/healthz', intervalMs: 2000, fails: 2, passes: 2 });
 * checks.start();
 * upstream.on('peer:unhealthy', (peer, r) => console.warn(peer.id, r.reason));
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_hc_module.html#health_check
 */
export function createHealthCheck(upstream: Upstream, options: HealthCheckOptions = {}): HealthCheck {
  const o = objectAt('options', options);
  knownKeys('', o, KEYS);
  const intervalMs = intAt('intervalMs', o.intervalMs, 5_000, 1);
  const jitterMs = intAt('jitterMs', o.jitterMs, 0, 0);
  const failsNeeded = intAt('fails', o.fails, 1, 1);
  const passesNeeded = intAt('passes', o.passes, 1, 1);
  const uri = stringAt('uri', o.uri, '/');
  if (!uri.startsWith('/')) throw new InvalidOptionError('uri', 'a path starting with /', uri);
  const port = o.port === undefined ? undefined : intAt('port', o.port, 0, 1, 65_535);
  const timeoutMs = intAt('timeoutMs', o.timeoutMs, 5_000, 1);
  const mandatory = boolAt('mandatory', o.mandatory, false);
  const persistent = boolAt('persistent', o.persistent, false);
  /** The upstream applies the thresholds; the checker only probes and reports. */
  const policy: HealthPolicy = { fails: failsNeeded, passes: passesNeeded, mandatory, persistent };
  const matcher: Matcher = compileMatch(o.match as MatchOptions | undefined);
  const headers = o.headers === undefined ? {} : (objectAt('headers', o.headers) as Record<string, string>);
  const timers = (o.timers as Timers | undefined) ?? { setTimeout, clearTimeout };
  const random = (o.random as (() => number) | undefined) ?? Math.random;
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    throw new InvalidOptionError('onError', 'a function', o.onError);
  }
  const onError = o.onError as ((error: SwitchyardError) => void) | undefined;

  const tracks = new Map<Peer, Track>();
  let running = false;

  const delay = () => intervalMs + (jitterMs === 0 ? 0 : Math.floor(random() * jitterMs));

  function track(peer: Peer): Track {
    let t = tracks.get(peer);
    if (t === undefined) {
      t = { timer: undefined, inflight: undefined, abort: undefined, client: undefined };
      tracks.set(peer, t);
    }
    return t;
  }

  function schedule(peer: Peer): void {
    const t = track(peer);
    if (!running) return;
    timers.clearTimeout(t.timer);
    t.timer = timers.setTimeout(() => {
      t.timer = undefined;
      void check(peer).then(() => schedule(peer));
    }, delay());
  }

  /** The peer's connection, as its group says (nginx checks through the upstream's settings). */
  function clientOf(peer: Peer, t: Track): Client {
    if (t.client !== undefined) return t.client;
    const origin = port === undefined ? peer.origin : peer.origin.replace(/:\d+$/, `:${port}`);
    const group = groupOf(peer) ?? upstream;
    const allowH2 = origin.startsWith('https:') && group.http2;
    t.client = new Client(origin, {
      connect: peerConnector(peer, group, { timeoutMs, allowH2 }),
      allowH2,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    return t.client;
  }

  async function probe(peer: Peer, t: Track, abort: AbortController): Promise<HealthCheckResult> {
    try {
      const res = await clientOf(peer, t).request({
        path: uri,
        method: 'GET',
        headers: { host: peer.hostHeader, ...headers },
        signal: abort.signal,
      });
      let body = '';
      if (matcher.readsBody) {
        for await (const chunk of res.body) {
          body += (chunk as Buffer).toString('latin1');
          if (body.length >= MAX_BODY) {
            body = body.slice(0, MAX_BODY);
            break;
          }
        }
      }
      // Always finish with the body: drain what is left (a small limit), or cut it.
      if (matcher.readsBody) {
        res.body.on('error', noop);
        res.body.destroy();
      } else await res.body.dump({ limit: MAX_BODY });
      const failed = matcher.test(res.statusCode, res.headers, body);
      return failed === undefined
        ? { passed: true, status: res.statusCode }
        : { passed: false, status: res.statusCode, reason: `response did not match: ${failed}` };
    } catch (err) {
      return { passed: false, reason: (err as Error).message || String(err) };
    }
  }

  function check(peer: Peer): Promise<void> {
    const t = track(peer);
    if (t.inflight !== undefined) return t.inflight;
    const abort = new AbortController();
    t.abort = abort;
    t.inflight = probe(peer, t, abort).then((result) => {
      t.inflight = undefined;
      t.abort = undefined;
      if (abort.signal.aborted || !upstream.get(peer.id)) return;
      try {
        upstream.observeHealth(peer, result, policy);
      } catch (err) {
        // Only an event listener can throw here: the result is recorded before events go out.
        try {
          onError?.(new HookError('upstream event listener', err));
        } catch {
          // A throwing error hook must not stop the checks either.
        }
      }
    });
    return t.inflight;
  }

  const onAdd = (peer: Peer): void => {
    upstream.watchHealth(peer, policy);
    schedule(peer);
    // A new peer is checked at once, so a mandatory one does not wait a whole interval.
    void check(peer);
  };
  const onRemove = (peer: Peer): void => {
    const t = tracks.get(peer);
    if (t === undefined) return;
    timers.clearTimeout(t.timer);
    t.abort?.abort();
    tracks.delete(peer);
    t.client?.destroy().catch(noop);
  };

  const checker: HealthCheck = {
    start() {
      if (running) return;
      running = true;
      upstream.on('close', onClose);
      upstream.on('peer:add', onAdd);
      upstream.on('peer:remove', onRemove);
      for (const peer of upstream.peers) {
        upstream.watchHealth(peer, policy);
        schedule(peer);
      }
      void Promise.all(upstream.peers.map((p) => check(p)));
    },
    async stop() {
      running = false;
      upstream.off('close', onClose);
      upstream.off('peer:add', onAdd);
      upstream.off('peer:remove', onRemove);
      const pending: Promise<void>[] = [];
      for (const t of tracks.values()) {
        timers.clearTimeout(t.timer);
        t.abort?.abort();
        if (t.inflight !== undefined) pending.push(t.inflight);
      }
      await Promise.all(pending);
      const clients = [...tracks.values()].flatMap((t) => (t.client === undefined ? [] : [t.client]));
      tracks.clear();
      await Promise.all(clients.map((c) => c.destroy().catch(noop)));
    },
    async checkAll() {
      await Promise.all(upstream.peers.map((p) => check(p)));
    },
  };
  // The group was closed (a proxy that made it closed): checking it is over.
  const onClose = (): void => {
    checker.stop().catch(() => {});
  };
  return checker;
}
