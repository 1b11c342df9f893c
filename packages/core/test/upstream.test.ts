import type { PeerView, Persistence } from '@switchyard/balancers';
import { type Backend, startBackend, waitFor } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy, createUpstream, type Peer } from '../src/index.js';
import { front, send } from './helpers.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

async function backend(body: string): Promise<Backend> {
  const b = await startBackend((_req, res) => res.end(body));
  closers.push(() => b.close());
  return b;
}

describe('runtime changes', () => {
  /** A group of `urls` behind a proxy, telling its add/patch/remove events. */
  async function group(urls: string[]) {
    const up = createUpstream({ name: 'r', servers: urls });
    const events: string[] = [];
    up.on('peer:add', (p) => events.push(`add ${p.id}`));
    up.on('peer:patch', (p) => events.push(`patch ${p.id} weight=${p.weight}`));
    up.on('peer:remove', (p) => events.push(`remove ${p.id}`));
    const proxy = createProxy({ upstream: up });
    const f = await front(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    return { up, events, url: f.url };
  }

  it('adds a server and patches its weight, with events, and sends it its share', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const { up, events, url } = await group([a.url]);
    expect((await send(url)).body).toBe('a');
    up.add({ url: b.url, weight: 1 });
    up.patch(b.hostPort, { weight: 3 });
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) bodies.push((await send(url)).body);
    expect(bodies.sort()).toEqual(['a', 'b', 'b', 'b']);
    expect(events).toEqual([`add ${b.hostPort}`, `patch ${b.hostPort} weight=3`]);
  });

  it('removes a server, with its event: no request reaches it after', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const { up, events, url } = await group([a.url, b.url]);
    up.remove(a.hostPort);
    for (let i = 0; i < 3; i++) expect((await send(url)).body).toBe('b');
    expect(events).toEqual([`remove ${a.hostPort}`]);
  });

  it('refuses a server already there, an unknown one and a bad weight', async () => {
    const b = await backend('b');
    const { up, events } = await group([b.url]);
    expect(() => up.add(b.url)).toThrow(expect.objectContaining({ code: 'SWY_ERR_PEER_EXISTS' }));
    expect(() => up.patch('nope:1', { weight: 2 })).toThrow(
      expect.objectContaining({ code: 'SWY_ERR_PEER_NOT_FOUND' }),
    );
    expect(() => up.patch(b.hostPort, { weight: 0 })).toThrow(
      'patch.weight: expected a positive integer, got 0',
    );
    expect(events).toEqual([]);
  });

  it('drains a peer: no new requests, and peer:drained once its last request ends', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow = await startBackend(async (_req, res) => {
      await gate;
      res.end('slow');
    });
    closers.push(() => slow.close());
    const other = await backend('other');
    const up = createUpstream({ name: 'd', servers: [slow.url, other.url] });
    const proxy = createProxy({ upstream: up });
    const f = await front(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    const inflight = send(f.url); // round robin: slow first
    await waitFor(() => slow.requests.length === 1);
    const drained: string[] = [];
    up.on('peer:drained', (p: Peer) => drained.push(p.id));
    const peer = up.drain(slow.hostPort);
    expect(up.stateOf(peer)).toBe('draining');
    expect(peer.active).toBe(1);
    for (let i = 0; i < 3; i++) expect((await send(f.url)).body).toBe('other');
    expect(drained).toEqual([]);
    release();
    expect((await inflight).body).toBe('slow');
    await waitFor(() => drained.length > 0);
    expect(drained).toEqual([slow.hostPort]);
    expect(peer.active).toBe(0);
  });

  it('counts requests, responses by class and bytes per peer', async () => {
    const a = await backend('twelve bytes');
    const up = createUpstream({ name: 'c', servers: [a.url] });
    const proxy = createProxy({ upstream: up });
    const f = await front(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    await send(f.url, { method: 'POST', body: 'abc' });
    await send(f.url);
    const peer = up.primaries[0] as Peer;
    expect(peer.requests).toBe(2);
    expect(peer.stats().responses['2xx']).toBe(2);
    expect(peer.stats().responses.total).toBe(2);
    expect(peer.stats().responses.codes[200]).toBe(2);
    expect(peer.received).toBe(24);
    expect(peer.sent).toBeGreaterThan(3);
    expect(peer.active).toBe(0);
    expect(peer.selected).toBeGreaterThan(0);
    expect(peer.responseTimeMs).toBeGreaterThan(0);
  });
});

describe('session persistence hook', () => {
  it('sends a bound request to the peer persistence finds, and lets it bind on the response', async () => {
    const a = await backend('a');
    const b = await backend('b');
    const sticky: Persistence = {
      find(req, peers: readonly PeerView[]) {
        const want = /peer=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
        return peers.find((p) => p.id === want);
      },
      bind(_req, res, peer) {
        res.appendHeader('set-cookie', `peer=${peer.id}`);
      },
    };
    const up = createUpstream({ name: 's', servers: [a.url, b.url], persistence: sticky });
    const proxy = createProxy({ upstream: up });
    const f = await front(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    const first = await send(f.url);
    const cookie = String(first.headers['set-cookie']);
    expect(cookie).toBe(`peer=${a.hostPort}`);
    for (let i = 0; i < 3; i++) expect((await send(f.url, { headers: { cookie } })).body).toBe('a');
    // an async find works the same
    const asyncSticky: Persistence = { find: async (...args) => sticky.find(...args), bind: sticky.bind };
    const up2 = createUpstream({ name: 's2', servers: [a.url, b.url], persistence: asyncSticky });
    const proxy2 = createProxy({ upstream: up2 });
    const f2 = await front(proxy2);
    closers.push(
      () => f2.close(),
      () => proxy2.close(),
    );
    // a lookup that fails is a failed hook: 500, reported (stickyLearn's own store
    // failures never get here: it reports them and leaves the choice to the balancer)
    const broken: Persistence = { find: async () => Promise.reject(new Error('store down')), bind: () => {} };
    const up3 = createUpstream({ name: 's3', servers: [a.url, b.url], persistence: broken });
    const codes: string[] = [];
    const proxy3 = createProxy({ upstream: up3, onError: (e) => codes.push(e.code) });
    const f3 = await front(proxy3);
    closers.push(
      () => f3.close(),
      () => proxy3.close(),
    );
    expect([(await send(f3.url)).status, (await send(f3.url)).status]).toEqual([500, 500]);
    expect(codes).toEqual(['SWY_ERR_HOOK', 'SWY_ERR_HOOK']);
    const bCookie = `peer=${b.hostPort}`;
    for (let i = 0; i < 3; i++) expect((await send(f2.url, { headers: { cookie: bCookie } })).body).toBe('b');
  });
});
