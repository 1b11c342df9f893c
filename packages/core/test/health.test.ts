import { type Backend, deadPort, manualTimers, startBackend, waitFor } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createHealthCheck,
  createProxy,
  createUpstream,
  type HealthCheckResult,
  type Peer,
} from '../src/index.js';
import { front, send } from './helpers.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

/** A backend whose /healthz answers `state.status`; other paths answer its name. */
async function service(
  name: string,
  state: { status: number; body?: string; hang?: boolean },
): Promise<Backend> {
  const b = await startBackend((req, res) => {
    if (req.url === '/healthz') {
      if (state.hang) return;
      res.statusCode = state.status;
      res.setHeader('x-health', state.status === 200 ? 'ok' : 'bad');
      res.end(state.body ?? 'ok');
      return;
    }
    res.end(name);
  });
  closers.push(() => b.close());
  return b;
}

function events(upstream: ReturnType<typeof createUpstream>): string[] {
  const seen: string[] = [];
  upstream.on('peer:unhealthy', (p: Peer, r: HealthCheckResult) =>
    seen.push(`unhealthy ${p.id} ${r.reason ?? ''}`.trim()),
  );
  upstream.on('peer:healthy', (p: Peer) => seen.push(`healthy ${p.id}`));
  return seen;
}

describe('active health checks', () => {
  it('marks a peer unhealthy after `fails` failed checks and healthy after `passes`, on the timer', async () => {
    const aState = { status: 200 };
    const a = await service('a', aState);
    const b = await service('b', { status: 200 });
    const upstream = createUpstream({ name: 'hc', servers: [a.url, b.url] });
    const seen = events(upstream);
    const timers = manualTimers();
    const checks = createHealthCheck(upstream, {
      uri: '/healthz',
      intervalMs: 1000,
      fails: 2,
      passes: 2,
      timers,
    });
    closers.push(() => checks.stop());
    const proxy = createProxy({ upstream });
    const f = await front(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    const peerA = upstream.get(a.hostPort) as Peer;
    const healthChecks = () => a.requests.filter((r) => r.url === '/healthz').length;

    checks.start(); // checks every peer at once
    await waitFor(() => peerA.stats().healthChecks.checks === 1);
    aState.status = 503;
    timers.advance(1000);
    await waitFor(() => peerA.stats().healthChecks.checks === 2);
    expect(upstream.stateOf(peerA)).toBe('up'); // one failure of two
    timers.advance(1000);
    await waitFor(() => peerA.stats().healthChecks.checks === 3);
    expect(upstream.stateOf(peerA)).toBe('unhealthy');
    expect(seen).toEqual([`unhealthy ${a.hostPort} response did not match: status 503`]);
    for (let i = 0; i < 4; i++) expect((await send(f.url)).body).toBe('b');

    aState.status = 200;
    timers.advance(1000);
    await waitFor(() => peerA.stats().healthChecks.checks === 4);
    expect(upstream.stateOf(peerA)).toBe('unhealthy'); // one pass of two
    timers.advance(1000);
    await waitFor(() => peerA.stats().healthChecks.checks === 5);
    expect(upstream.stateOf(peerA)).toBe('up');
    expect(seen.at(-1)).toBe(`healthy ${a.hostPort}`);
    expect(peerA.stats().healthChecks).toEqual({ checks: 5, fails: 2, unhealthy: 1, lastPassed: true });
    expect(healthChecks()).toBe(5);
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) bodies.add((await send(f.url)).body);
    expect(bodies).toEqual(new Set(['a', 'b']));
  });

  it('keeps a new peer `checking` until its first check passes when mandatory', async () => {
    const a = await service('a', { status: 200 });
    const bState = { status: 500 };
    const b = await service('b', bState);
    const upstream = createUpstream({ name: 'm', servers: [a.url] });
    const timers = manualTimers();
    const checks = createHealthCheck(upstream, {
      uri: '/healthz',
      mandatory: true,
      intervalMs: 1000,
      timers,
    });
    closers.push(() => checks.stop());
    checks.start();
    const peerA = upstream.get(a.hostPort) as Peer;
    expect(upstream.stateOf(peerA)).toBe('checking');
    await waitFor(() => upstream.stateOf(peerA) === 'up');

    const peerB = upstream.add(b.url);
    expect(upstream.stateOf(peerB)).toBe('checking');
    await waitFor(() => peerB.stats().healthChecks.checks === 1);
    expect(upstream.stateOf(peerB)).toBe('unhealthy');
    bState.status = 200;
    timers.advance(1000);
    await waitFor(() => upstream.stateOf(peerB) === 'up');
    expect(peerB.stats().healthChecks.lastPassed).toBe(true);
  });

  it('never has two checks of one peer in flight, and stop cuts the one in flight', async () => {
    const state = { status: 200, hang: true };
    const a = await service('a', state);
    const upstream = createUpstream({ name: 'p', servers: [a.url, `http://127.0.0.1:${await deadPort()}`] });
    const dead = upstream.primaries[1] as NonNullable<(typeof upstream.primaries)[1]>;
    const timers = manualTimers();
    const checks = createHealthCheck(upstream, {
      uri: '/healthz',
      intervalMs: 100,
      timeoutMs: 60_000,
      timers,
    });
    checks.start();
    await waitFor(() => a.requests.length === 1);
    for (let i = 0; i < 5; i++) timers.advance(100);
    const before = dead.stats().healthChecks.checks;
    const joined = checks.checkAll(); // joins the check in flight, starts none
    // The round reached the other peer, whose check ends at once (refused): a second
    // check of `a`, sent in the same round, would have arrived by then.
    await waitFor(() => dead.stats().healthChecks.checks > before);
    await new Promise((r) => setImmediate(r));
    expect(a.requests).toHaveLength(1);
    await checks.stop();
    await joined;
    expect(timers.pending()).toBe(0);
    timers.advance(10_000);
    expect(a.requests).toHaveLength(1);
  }, 10_000);

  it('passes only responses that satisfy `match` (status, headers, body)', async () => {
    const state = { status: 200, body: 'all systems go' };
    const a = await service('a', state);
    const upstream = createUpstream({ name: 'x', servers: [a.url, 'http://127.0.0.1:9'] });
    const checks = createHealthCheck(upstream, {
      uri: '/healthz',
      timers: manualTimers(),
      match: {
        status: '200 204',
        headers: [
          { name: 'X-Health', op: '=', value: 'ok' },
          { name: 'content-type', present: false },
        ],
        body: { op: '~', pattern: 'systems go' },
      },
    });
    closers.push(() => checks.stop());
    const peer = upstream.get(a.hostPort) as Peer;
    const results: HealthCheckResult[] = [];
    upstream.on('peer:checked', (p: Peer, r: HealthCheckResult) => {
      if (p === peer) results.push(r);
    });
    await checks.checkAll();
    state.body = 'degraded';
    await checks.checkAll();
    state.status = 202;
    await checks.checkAll();
    expect(results).toEqual([
      { passed: true, status: 200 },
      { passed: false, status: 200, reason: 'response did not match: body ~ systems go' },
      { passed: false, status: 202, reason: 'response did not match: status 202' },
    ]);
  });

  it('counts a refused connection as a failed check', async () => {
    const upstream = createUpstream({ name: 'r', servers: ['http://127.0.0.1:9', 'http://127.0.0.1:10'] });
    const checks = createHealthCheck(upstream, { timers: manualTimers() });
    closers.push(() => checks.stop());
    await checks.checkAll();
    const peer = upstream.primaries[0] as Peer;
    expect(upstream.stateOf(peer)).toBe('unhealthy');
    expect(peer.stats().healthChecks.fails).toBe(1);
  });

  it('rejects bad options with their path', () => {
    const upstream = createUpstream({ name: 'v', servers: ['http://127.0.0.1:9'] });
    expect(() => createHealthCheck(upstream, { match: { status: '2xx' } })).toThrow(
      'match.status: expected statuses like "200", "200 204", "200-399" or "! 500", got "2xx"',
    );
    expect(() => createHealthCheck(upstream, { intervalMs: 0 })).toThrow(
      'intervalMs: expected a positive integer, got 0',
    );
    expect(() => createHealthCheck(upstream, { uri: 'healthz' })).toThrow(
      'uri: expected a path starting with /, got "healthz"',
    );
  });
});

describe('persistent', () => {
  it('keeps a peer that last passed up across a restart of a mandatory checker', async () => {
    const a = await service('a', { status: 200 });
    const b = await service('b', { status: 200 });
    const upstream = createUpstream({ name: 'pe', servers: [a.url, b.url] });
    const first = createHealthCheck(upstream, { uri: '/healthz', mandatory: true, timers: manualTimers() });
    first.start();
    await waitFor(() => upstream.peers.every((p) => upstream.stateOf(p) === 'up'));
    await first.stop();
    const plain = createHealthCheck(upstream, { uri: '/healthz', mandatory: true, timers: manualTimers() });
    plain.start();
    expect(upstream.peers.map((p) => upstream.stateOf(p))).toEqual(['checking', 'checking']);
    await waitFor(() => upstream.peers.every((p) => upstream.stateOf(p) === 'up'));
    await plain.stop();
    const kept = createHealthCheck(upstream, {
      uri: '/healthz',
      mandatory: true,
      persistent: true,
      timers: manualTimers(),
    });
    closers.push(() => kept.stop());
    kept.start();
    expect(upstream.peers.map((p) => upstream.stateOf(p))).toEqual(['up', 'up']);
  });
});
