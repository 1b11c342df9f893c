import { describe, expect, it } from 'vitest';
import type { Peer, ServerConfig } from '../peer/index.js';
import { createUpstream, type HealthPolicy } from './index.js';

function clocked(servers: ServerConfig[] = ['http://127.0.0.1:9001', 'http://127.0.0.1:9002']) {
  let now = 100_000;
  const up = createUpstream({ name: 'app', servers, clock: () => now });
  return { up, advance: (ms: number) => (now += ms), at: () => now };
}

const policy: HealthPolicy = { fails: 2, passes: 2, mandatory: false, persistent: false };

describe('Upstream, the one writer of peer state', () => {
  it('leases a peer for one attempt, and records its release once', () => {
    const { up } = clocked();
    const peer = up.select({}) as Peer;
    const lease = up.lease(peer);
    expect([lease.peer, lease.upstream, lease.released, peer.active]).toEqual([peer, up, false, 1]);
    lease.release({ failure: 'none', status: 204, sent: 10 });
    lease.release({ failure: 'error', status: 502, sent: 10 });
    expect([lease.released, peer.active, peer.sent, peer.stats().responses.total]).toEqual([true, 0, 10, 1]);
    expect(peer.failsTotal).toBe(0);
  });

  it('records an attempt once, on release: bytes, status, timings, in flight', () => {
    const { up } = clocked();
    const peer = up.select({}) as Peer;
    up.begin(peer);
    expect([peer.requests, peer.active]).toEqual([1, 1]);
    up.release(peer, { failure: 'none', status: 200, headerMs: 4, responseMs: 10, sent: 70, received: 12 });
    expect([peer.active, peer.sent, peer.received, peer.headerTimeMs, peer.responseTimeMs]).toEqual([
      0, 70, 12, 4, 10,
    ]);
    expect(peer.stats().responses).toEqual({
      '1xx': 0,
      '2xx': 1,
      '3xx': 0,
      '4xx': 0,
      '5xx': 0,
      total: 1,
      codes: { 200: 1 },
    });
  });

  it('makes a peer unavailable at maxFails failures and emits peer:unavail once', () => {
    const { up, advance } = clocked();
    const peer = up.primaries[0] as Peer;
    const seen: string[] = [];
    up.on('peer:unavail', (p) => seen.push(p.id));
    up.patch(peer.id, { maxFails: 2 });
    for (let i = 0; i < 3; i++) {
      up.begin(peer);
      up.release(peer, { failure: i === 2 ? 'abandoned' : 'error' });
      advance(1);
    }
    expect([up.stateOf(peer), peer.failsTotal, peer.unavailCount, seen]).toEqual([
      'unavail',
      2,
      1,
      [peer.id],
    ]);
    advance(10_000);
    expect(up.stateOf(peer)).toBe('up');
  });

  it('counts a lone server’s failures but never makes it unavailable', () => {
    const { up } = clocked(['http://127.0.0.1:9001']);
    const peer = up.primaries[0] as Peer;
    up.begin(peer);
    up.release(peer, { failure: 'timeout' });
    expect([up.stateOf(peer), peer.failsTotal, peer.passive.fails]).toEqual(['up', 1, 0]);
  });

  it('emits peer:drained when the last attempt to a draining peer ends, and undrains', () => {
    const { up } = clocked();
    const peer = up.primaries[0] as Peer;
    const seen: string[] = [];
    up.on('peer:drained', () => seen.push('drained'));
    up.on('peer:patch', () => seen.push('patch'));
    up.begin(peer);
    up.drain(peer.id);
    expect(seen).toEqual([]);
    up.release(peer, { failure: 'none' });
    expect(seen).toEqual(['drained']);
    up.undrain(peer.id);
    up.undrain(peer.id);
    expect([up.stateOf(peer), seen]).toEqual(['up', ['drained', 'patch']]);
  });

  it('applies the checker’s fails and passes thresholds in observeHealth', () => {
    const { up } = clocked();
    const peer = up.primaries[0] as Peer;
    const seen: string[] = [];
    up.on('peer:unhealthy', () => seen.push('unhealthy'));
    up.on('peer:healthy', () => seen.push('healthy'));
    const states = [false, false, true, true].map((passed) => {
      up.observeHealth(peer, { passed }, policy);
      return up.stateOf(peer);
    });
    expect(states).toEqual(['up', 'unhealthy', 'unhealthy', 'up']);
    expect(seen).toEqual(['unhealthy', 'healthy']);
    expect(peer.stats().healthChecks).toEqual({ checks: 4, fails: 2, unhealthy: 1, lastPassed: true });
  });

  it('keeps a mandatory peer checking until its first pass, unless persistent and it passed last', () => {
    const { up } = clocked();
    const [a, b] = up.primaries as [Peer, Peer];
    up.observeHealth(b, { passed: true }, policy);
    const mandatory = { ...policy, mandatory: true, persistent: true };
    up.watchHealth(a, mandatory);
    up.watchHealth(b, mandatory);
    expect([up.stateOf(a), up.stateOf(b)]).toEqual(['checking', 'up']);
    up.observeHealth(a, { passed: true }, mandatory);
    expect(up.stateOf(a)).toBe('up');
  });

  it('resets statistics but keeps what balancing reads', () => {
    const { up } = clocked();
    const peer = up.select({}) as Peer;
    up.begin(peer);
    up.release(peer, { failure: 'error', sent: 5, received: 6, status: 0 });
    up.observeHealth(peer, { passed: true }, policy);
    up.resetStats(peer.id);
    expect(peer.stats()).toMatchObject({
      requests: 0,
      sent: 0,
      received: 0,
      failsTotal: 0,
      healthChecks: { checks: 0, fails: 0, unhealthy: 0, lastPassed: true },
    });
    expect(peer.passive.fails).toBe(1);
    expect(peer.selected).not.toBe(0);
  });

  it('clears a route with route: null, and applies a refused patch not at all', () => {
    const { up } = clocked([{ url: 'http://127.0.0.1:9001', route: 'a' }, 'http://127.0.0.1:9002']);
    const peer = up.primaries[0] as Peer;
    expect(() => up.patch(peer.id, { route: null, weight: 0 })).toThrow(/weight/);
    expect([peer.route, peer.weight]).toEqual(['a', 1]);
    up.patch(peer.id, { route: null });
    expect(peer.route).toBeUndefined();
  });
});

describe('the availability index: a peer leaves and rejoins the picks as its state changes', () => {
  const A = '127.0.0.1:9001';
  const B = '127.0.0.1:9002';
  /** The peers `n` picks choose, without attempts (nothing goes in flight). */
  const picks = (up: ReturnType<typeof clocked>['up'], n = 4) =>
    [...new Set(Array.from({ length: n }, () => (up.select({}) as Peer | undefined)?.id))].sort();

  it('keeps a peer at maxConns out until one of its attempts ends', () => {
    const { up } = clocked([{ url: `http://${A}`, maxConns: 1 }, `http://${B}`]);
    const a = up.get(A) as Peer;
    const lease = up.lease(a);
    expect([a.available, picks(up)]).toEqual([false, [B]]);
    lease.release({ failure: 'none' });
    expect([a.available, picks(up)]).toEqual([true, [A, B]]);
  });

  it('applies a maxConns patched onto a busy peer', () => {
    const { up } = clocked();
    const a = up.get(A) as Peer;
    up.begin(a);
    up.patch(A, { maxConns: 1 });
    expect(picks(up)).toEqual([B]);
  });

  it('takes a resting peer back by time alone, one probe at a time, and for good on success', () => {
    const { up, advance } = clocked([
      { url: `http://${A}`, maxFails: 1, failTimeoutMs: 10_000 },
      `http://${B}`,
    ]);
    const a = up.get(A) as Peer;
    up.begin(a);
    up.release(a, { failure: 'error' });
    // Unavailable at once, before any pick works the group out.
    expect([a.available, picks(up)]).toEqual([false, [B]]);
    advance(10_001);
    // Round robin reaches A within two picks.
    const chosen = [up.select({}) as Peer, up.select({}) as Peer].find((p) => p.id === A);
    expect(chosen).toBe(a);
    const probe = up.lease(a);
    // nginx sets the probed peer's `checked`: it rests again while its probe is out.
    expect([a.available, picks(up)]).toEqual([false, [B]]);
    probe.release({ failure: 'none' });
    advance(1);
    expect([a.available, picks(up)]).toEqual([true, [A, B]]);
    advance(60_000);
    expect(picks(up)).toEqual([A, B]);
  });

  it('follows draining, active health checks and down, and counts maxTries from the peers not down', () => {
    const { up } = clocked();
    const a = up.get(A) as Peer;
    expect(up.maxTries()).toBe(2);
    up.drain(A);
    expect(picks(up)).toEqual([B]);
    up.undrain(A);
    expect(picks(up)).toEqual([A, B]);
    up.observeHealth(a, { passed: false }, policy);
    up.observeHealth(a, { passed: false }, policy);
    expect(picks(up)).toEqual([B]);
    up.observeHealth(a, { passed: true }, policy);
    up.observeHealth(a, { passed: true }, policy);
    expect(picks(up)).toEqual([A, B]);
    up.watchHealth(a, { ...policy, mandatory: true });
    expect(picks(up)).toEqual([B]);
    up.observeHealth(a, { passed: true }, policy);
    up.patch(B, { down: true });
    expect([picks(up), up.maxTries()]).toEqual([[A], 1]);
    up.add({ url: 'http://127.0.0.1:9003' });
    expect([picks(up, 6), up.maxTries()]).toEqual([[A, '127.0.0.1:9003'], 2]);
  });
});
