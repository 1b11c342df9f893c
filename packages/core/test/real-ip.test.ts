import { ipHash } from '@switchyard/balancers';
import { compileNginx } from '@switchyard/rewrite';
import { type Backend, startBackend } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy, type ProxyOptions } from '../src/index.js';
import { echoed, front, send } from './helpers.js';

describe("the client's address behind a trusted proxy (nginx's realip module)", () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()?.();
  });

  async function through(options: Partial<ProxyOptions>, backends: Backend[]) {
    const proxy = createProxy({
      upstream: { name: 'app', servers: backends.map((b) => b.url), balancer: ipHash() },
      ...options,
    });
    const f = await front(proxy);
    closers.push(
      () => proxy.close(),
      () => f.close(),
    );
    return f.url;
  }

  async function backends(n: number): Promise<Backend[]> {
    const list = await Promise.all(Array.from({ length: n }, () => startBackend()));
    for (const b of list) closers.push(() => b.close());
    return list;
  }

  it('spreads forwarded clients over the peers by ip_hash, each staying on its peer', async () => {
    const bs = await backends(3);
    const url = await through({ trustProxy: 'loopback' }, bs);
    const peerOf = async (client: string) =>
      (await send(url, { headers: { 'x-forwarded-for': client } })).headers['x-backend'];
    const clients = Array.from({ length: 30 }, (_, i) => `${((i * 37) % 223) + 1}.${(i * 91) % 251}.${i}.5`);
    const first = await Promise.all(clients.map(peerOf));
    const again = await Promise.all(clients.map(peerOf));
    expect(again).toEqual(first);
    expect(new Set(first).size).toBe(3);
    // An untrusted proxy's X-Forwarded-For counts for nothing: every client is 127.0.0.1.
    const untrusted = await through({}, bs);
    const seen = new Set<unknown>();
    for (const client of clients) {
      seen.add((await send(untrusted, { headers: { 'x-forwarded-for': client } })).headers['x-backend']);
    }
    expect(seen.size).toBe(1);
  });

  it('takes the nearest untrusted address, or with realIpRecursive false the last one', async () => {
    const [b] = await backends(1);
    const rules = compileNginx(
      'location / { proxy_set_header X-Real-IP $remote_addr; proxy_pass http://app; }',
    );
    const trustProxy = ['loopback', '10.0.0.0/8'];
    const header = { 'x-forwarded-for': '203.0.113.9, 10.1.1.1' };
    const withSet = { setRequestHeaders: { 'X-Client': '$remote_addr' } };
    const recursive = await through({ trustProxy, rewrite: rules, ...withSet }, [b as Backend]);
    const last = await through({ trustProxy, realIpRecursive: false, ...withSet }, [b as Backend]);
    // The location's proxy_set_header replaces setRequestHeaders, and reads the same $remote_addr.
    expect(echoed(await send(recursive, { headers: header })).headers['x-real-ip']).toBe('203.0.113.9');
    expect(echoed(await send(last, { headers: header })).headers['x-client']).toBe('10.1.1.1');
  });

  it('reads the header realIpHeader names, and answers the rewrite rules with it as $remote_addr', async () => {
    const [b] = await backends(1);
    const rules = compileNginx(
      'location = /me { return 200 "you are $remote_addr"; } location / { proxy_pass http://app; }',
    );
    const url = await through({ trustProxy: 'loopback', realIpHeader: 'X-Real-IP', rewrite: rules }, [
      b as Backend,
    ]);
    const r = await send(url, {
      path: '/me',
      headers: { 'x-real-ip': '198.51.100.7', 'x-forwarded-for': '192.0.2.1' },
    });
    expect(r.body).toBe('you are 198.51.100.7');
    // Not an address: the connection's stays.
    expect((await send(url, { path: '/me', headers: { 'x-real-ip': 'unknown' } })).body).toBe(
      'you are 127.0.0.1',
    );
  });

  it('refuses a realIpHeader that is no header name', () => {
    expect(() =>
      createProxy({ upstream: { name: 'x', servers: ['http://127.0.0.1:9'] }, realIpHeader: 'x real ip' }),
    ).toThrow('realIpHeader: expected a header field name, got "x real ip"');
  });
});
