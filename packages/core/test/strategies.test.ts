import { hash, leastConn, stickyCookie } from '@switchyard/balancers';
import { type Backend, startBackend, waitFor } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy, createUpstream } from '../src/index.js';
import { front, send } from './helpers.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

async function named(name: string, gate?: Promise<void>): Promise<Backend> {
  const b = await startBackend(async (_req, res) => {
    if (gate) await gate;
    res.end(name);
  });
  closers.push(() => b.close());
  return b;
}

async function proxyOn(upstream: ReturnType<typeof createUpstream>) {
  const proxy = createProxy({ upstream });
  const f = await front(proxy);
  closers.push(
    () => f.close(),
    () => proxy.close(),
  );
  return f;
}

describe('strategies in a live upstream', () => {
  it('hashes the request URI to a stable peer with hashKey', async () => {
    const bs = [await named('a'), await named('b'), await named('c')];
    const up = createUpstream({
      name: 'h',
      servers: bs.map((b) => b.url),
      balancer: hash({ consistent: true }),
      hashKey: (req) => req.url,
    });
    const f = await proxyOn(up);
    // The same strategy on plain views of the same servers says where each URI belongs.
    const views = bs.map((b) => ({
      id: b.hostPort,
      weight: 1,
      active: 0,
      responseTimeMs: 0,
      available: true,
    }));
    const names = new Map(bs.map((b, i) => [b.hostPort, ['a', 'b', 'c'][i]]));
    const paths = Array.from({ length: 12 }, (_, i) => `/item/${i}`);
    const expected = paths.map((key) => names.get(hash({ consistent: true }).pick(views, { key })?.id ?? ''));
    for (let round = 0; round < 2; round++) {
      const got: string[] = [];
      for (const path of paths) got.push((await send(f.url, { path })).body);
      expect(got).toEqual(expected);
    }
  });

  it('sends a new request to the peer with the fewest in flight under leastConn', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow = await named('slow', gate);
    const fast = await named('fast');
    const up = createUpstream({ name: 'lc', servers: [slow.url, fast.url], balancer: leastConn() });
    const f = await proxyOn(up);
    const held = send(f.url); // goes to slow (first of the tied) and stays
    await waitFor(() => slow.requests.length === 1);
    for (let i = 0; i < 3; i++) expect((await send(f.url)).body).toBe('fast');
    release();
    expect((await held).body).toBe('slow');
  });
});

describe('sticky cookie in a live upstream', () => {
  it('keeps a client with the cookie on its peer, and sends new clients elsewhere while it drains', async () => {
    const a = await named('a');
    const b = await named('b');
    const up = createUpstream({
      name: 's',
      servers: [a.url, b.url],
      persistence: stickyCookie({ name: 'srv', secret: 'k' }),
    });
    const f = await proxyOn(up);
    const first = await send(f.url);
    expect(first.body).toBe('a');
    const cookie = String(first.headers['set-cookie']).split(';')[0] as string;
    for (let i = 0; i < 3; i++) expect((await send(f.url, { headers: { cookie } })).body).toBe('a');

    up.drain(a.hostPort);
    // bound clients stay, new ones go to b
    expect((await send(f.url, { headers: { cookie } })).body).toBe('a');
    for (let i = 0; i < 3; i++) expect((await send(f.url)).body).toBe('b');

    // a bound peer that is down is rebalanced, and the client gets a new cookie
    up.patch(a.hostPort, { down: true });
    const moved = await send(f.url, { headers: { cookie } });
    expect(moved.body).toBe('b');
    expect(String(moved.headers['set-cookie'])).not.toContain(cookie);
  });

  it('ignores a forged cookie and balances the request', async () => {
    const a = await named('a');
    const b = await named('b');
    const up = createUpstream({
      name: 's',
      servers: [a.url, b.url],
      persistence: stickyCookie({ name: 'srv', secret: 'k' }),
    });
    const f = await proxyOn(up);
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++)
      bodies.push((await send(f.url, { headers: { cookie: 'srv=forged.sig' } })).body);
    expect(bodies).toEqual(['a', 'b', 'a', 'b']);
  });
});

describe('slow start', () => {
  it('ramps a peer that comes back from down over slowStartMs', async () => {
    const { manualClock } = await import('@switchyard/testkit');
    const clock = manualClock();
    const up = createUpstream({
      name: 'ss',
      clock,
      servers: [
        { url: 'http://127.0.0.1:1', slowStartMs: 10_000 },
        { url: 'http://127.0.0.1:2', slowStartMs: 10_000 },
      ],
    });
    up.patch('127.0.0.1:1', { down: true });
    up.patch('127.0.0.1:1', { down: false });
    expect(up.get('127.0.0.1:1')?.upSince).toBe(clock());
    const count = (n: number) => {
      let back = 0;
      for (let i = 0; i < n; i++) {
        const p = up.select({});
        if (!(p instanceof Promise) && p?.id === '127.0.0.1:1') back++;
      }
      return back;
    };
    clock.advance(1_000); // 10 % of its weight
    const early = count(100);
    clock.advance(9_000); // full weight
    const late = count(100);
    expect(early).toBeLessThan(20);
    expect(late).toBe(50);
  });
});
