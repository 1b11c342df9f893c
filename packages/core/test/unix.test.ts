import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hash, ipHash } from '@switchyard/balancers';
import { createAdminApi, createUpstream } from '@switchyard/core';
import { listen } from '@switchyard/testkit';
import { describe, expect, it } from 'vitest';
import { fixtures, send } from './helpers.js';

const { closers, proxyFor } = fixtures();

/** A temporary directory for sockets, removed after the test. */
async function socketDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swy-unix-'));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A node:http backend on a unix socket answering `<name> <Host>`, closed after the test. */
async function unixBackend(path: string, name: string): Promise<void> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => res.end(`${name} ${req.headers.host}`));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
}

describe('unix-domain socket peers (server unix:/path)', () => {
  it('proxies to a server written unix:/path, its id as nginx shows it', async () => {
    const dir = await socketDir();
    const path = join(dir, 'app.sock');
    await unixBackend(path, 'app');
    const up = createUpstream({ name: 'app', servers: [`unix:${path}`] });
    const { f, errors } = await proxyFor({ upstream: up });
    const r = await send(f.url, { headers: { host: 'www.example' } });
    expect([r.status, r.body, errors]).toEqual([200, 'app www.example', []]);
    const peer = up.peers[0];
    expect([peer?.id, peer?.socketPath, peer?.requests, peer?.stats().responses['2xx']]).toEqual([
      `unix:${path}`,
      path,
      1,
      1,
    ]);
  });

  it('sends Host: localhost to a unix peer with host: "peer", as nginx does', async () => {
    const dir = await socketDir();
    const path = join(dir, 'app.sock');
    await unixBackend(path, 'app');
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [`http://unix:${path}:`] },
      host: 'peer',
    });
    const r = await send(f.url, { headers: { host: 'www.example' } });
    expect([r.status, r.body]).toEqual([200, 'app localhost']);
  });

  it('sends a location whose proxy_pass is http://unix:/path: to that socket', async () => {
    const dir = await socketDir();
    const path = join(dir, 'app.sock');
    await unixBackend(path, 'app');
    const { f, proxy } = await proxyFor({
      upstream: { name: 'default', servers: ['http://127.0.0.1:9'] },
      rewrite: { evaluate: (req) => ({ action: 'pass', uri: req.uri, target: `http://unix:${path}:` }) },
    });
    const r = await send(f.url, { headers: { host: 'www.example' } });
    expect([r.status, r.body]).toEqual([200, 'app www.example']);
    expect(proxy.groups().map((g) => [g.name, g.peers.map((p) => p.id)])).toContainEqual([
      `unix:${path}`,
      [`unix:${path}`],
    ]);
  });

  it('names the peer unix:/path in the NGINX Plus API', async () => {
    const dir = await socketDir();
    const path = join(dir, 'app.sock');
    await unixBackend(path, 'app');
    const up = createUpstream({ name: 'app', servers: [`unix:${path}`] });
    const { f } = await proxyFor({ upstream: up });
    expect((await send(f.url)).status).toBe(200);
    const api = createAdminApi({ upstreams: [up] });
    closers.push(() => api.close());
    const a = await listen(createServer(api.handler));
    closers.push(() => a.close());
    const peers = await send(a.url, { path: '/api/9/http/upstreams/app' });
    expect(JSON.parse(peers.body).peers).toMatchObject([
      { server: `unix:${path}`, name: `unix:${path}`, requests: 1 },
    ]);
  });

  it('answers 502 when nothing listens on the socket', async () => {
    const dir = await socketDir();
    const { f, errors } = await proxyFor({
      upstream: { name: 'app', servers: [`unix:${join(dir, 'none.sock')}`] },
    });
    const r = await send(f.url);
    expect([r.status, errors.map((e) => e.code)]).toEqual([502, ['SWY_ERR_UPSTREAM']]);
  });

  it('balances unix peers by hash and ip_hash, each key staying on its peer', async () => {
    const dir = await socketDir();
    const paths = ['a', 'b', 'c'].map((n) => join(dir, `${n}.sock`));
    for (const [i, p] of paths.entries()) await unixBackend(p, 'abc'[i] as string);
    const servers = paths.map((p) => `unix:${p}`);
    const hashed = await proxyFor({
      upstream: { name: 'h', servers, balancer: hash({ consistent: true }), hashKey: (req) => req.url ?? '' },
    });
    const byKey = async (url: string) => (await send(hashed.f.url, { path: url })).body.split(' ')[0];
    // The ring hangs on the socket paths, in a new temporary folder each run: with 24 keys,
    // all of them on one of the three peers is too unlikely to ever happen.
    const keys = Array.from({ length: 24 }, (_, i) => `/${i}`);
    const first = await Promise.all(keys.map(byKey));
    const again = await Promise.all(keys.map(byKey));
    expect(again).toEqual(first);
    expect(new Set(first).size).toBeGreaterThan(1);

    const sticky = await proxyFor({ upstream: { name: 'ip', servers, balancer: ipHash() } });
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await send(sticky.f.url)).body.split(' ')[0] as string);
    expect(seen.size).toBe(1);
  });
});

describe('unix server addresses, as nginx writes them', () => {
  it('accepts unix:PATH and http://unix:PATH: and refuses an empty path', () => {
    const up = createUpstream({
      name: 'u',
      servers: ['unix:/run/a.sock', 'http://unix:/run/b.sock:', 'https://unix:/run/c.sock'],
    });
    expect(up.peers.map((p) => [p.id, p.origin, p.hostHeader, p.socketPath])).toEqual([
      ['unix:/run/a.sock', 'http://localhost', 'localhost', '/run/a.sock'],
      ['unix:/run/b.sock', 'http://localhost', 'localhost', '/run/b.sock'],
      ['unix:/run/c.sock', 'https://localhost', 'localhost', '/run/c.sock'],
    ]);
    expect(() => createUpstream({ name: 'u', servers: ['unix:'] })).toThrow(
      'servers[0]: expected a unix socket as unix:/path/to/app.sock, got "unix:"',
    );
    expect(() => createUpstream({ name: 'u', servers: ['http://unix:/run/a.sock:/api'] })).toThrow(
      'servers[0]: expected a unix socket as unix:/path/to/app.sock, got "http://unix:/run/a.sock:/api"',
    );
  });

  it('refuses the same socket twice, however it is written', () => {
    expect(() =>
      createUpstream({ name: 'u', servers: ['unix:/run/a.sock', 'http://unix:/run/a.sock:'] }),
    ).toThrow('servers[1].url: expected a server not listed before, got "unix:/run/a.sock"');
  });
});
