import { request } from 'node:http';
import { type Balancer, type Persistence, roundRobin, stickyLearn } from '@switchyard/balancers';
import { createCache, memoryStore } from '@switchyard/cache';
import { deadPort, manualClock, manualTimers, waitFor } from '@switchyard/testkit';
import express from 'express';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import {
  createHealthCheck,
  createProxy,
  createUpstream,
  type HookError,
  type Peer,
  type ProxyOptions,
  type ProxyRewriter,
  type SwitchyardError,
  type UpstreamOptions,
} from '../src/index.js';
import { fixtures, send } from './helpers.js';

const { closers, backend: startOne, proxyFor } = fixtures();

/** A backend answering `<url>`. */
const backend = () => startOne((req, res) => res.end(`<${req.url}>`));

/** What a hook throws: on requests for `/boom` only. */
function boom(url: string | undefined): void {
  if (url?.startsWith('/boom')) throw new Error('hook broke');
}

/**
 * A request to `/boom` gets a 500 and `onError` a HookError naming `hook`, with what the
 * hook threw as its cause; the next request (to `/fine`) is served, and no peer is busy.
 */
async function expectHookFailure(
  setup: () => { upstream?: Partial<UpstreamOptions> } & Omit<Partial<ProxyOptions>, 'upstream'>,
  hook: string,
): Promise<void> {
  const b = await backend();
  const { upstream, ...rest } = setup();
  const { proxy, f, errors } = await proxyFor({
    ...rest,
    upstream: { name: 'h', servers: [b.url], ...upstream },
  });
  const bad = await send(f.url, { path: '/boom' });
  expect([bad.status, bad.body]).toEqual([500, '500 Internal Server Error\n']);
  expect(errors.map((e) => [e.code, (e as HookError).hook, (e.cause as Error).message])).toEqual([
    ['SWY_ERR_HOOK', hook, 'hook broke'],
  ]);
  const good = await send(f.url, { path: '/fine' });
  expect([good.status, good.body]).toEqual([200, '</fine>']);
  expect(b.requests.map((r) => r.url)).toEqual(['/fine']);
  expect(proxy.upstream.primaries.map((p) => [p.active, p.failsTotal])).toEqual([[0, 0]]);
}

describe('user hooks that throw: a 500 for that request, reported, and the next one served', () => {
  it('hashKey', async () => {
    await expectHookFailure(
      () => ({
        upstream: {
          hashKey: (req) => {
            boom(req.url);
            return req.url ?? '';
          },
        },
      }),
      'hashKey',
    );
  });

  it('a persistence whose find throws', async () => {
    const persistence: Persistence = {
      find: (req) => {
        boom(req.url);
        return undefined;
      },
      bind: () => {},
    };
    await expectHookFailure(() => ({ upstream: { persistence } }), 'persistence.find');
  });

  it('a persistence whose find rejects', async () => {
    const persistence: Persistence = {
      find: async (req) => {
        boom(req.url);
        return undefined;
      },
      bind: () => {},
    };
    await expectHookFailure(() => ({ upstream: { persistence } }), 'persistence.find');
  });

  it('a persistence whose bind throws', async () => {
    const b = await backend();
    const persistence: Persistence = {
      find: () => undefined,
      bind: (req) => boom(req.url),
    };
    const { proxy, f, errors } = await proxyFor({
      upstream: { name: 'h', servers: [b.url], persistence },
    });
    expect((await send(f.url, { path: '/boom' })).status).toBe(500);
    expect(errors.map((e) => [e.code, (e as HookError).hook])).toEqual([
      ['SWY_ERR_HOOK', 'persistence.bind'],
    ]);
    expect((await send(f.url, { path: '/fine' })).body).toBe('</fine>');
    // The peer did answer: it counts as a success.
    const peer = proxy.upstream.primaries[0];
    expect([peer?.active, peer?.failsTotal, peer?.stats().responses.codes[200]]).toEqual([0, 0, 2]);
  });

  it('stickyLearn whose store get throws, and whose onStoreError throws too', async () => {
    const persistence = stickyLearn({
      lookup: { cookie: 'sid' },
      create: { cookie: 'sid' },
      store: {
        get: () => {
          throw new Error('store down');
        },
        set: () => {},
      },
      onStoreError: (err) => {
        throw new Error('hook broke', { cause: err });
      },
    });
    const b = await backend();
    const { f, errors } = await proxyFor({ upstream: { name: 'h', servers: [b.url], persistence } });
    const bad = await send(f.url, { path: '/a', headers: { cookie: 'sid=1' } });
    expect(bad.status).toBe(500);
    expect(errors.map((e) => [e.code, (e as HookError).hook])).toEqual([
      ['SWY_ERR_HOOK', 'persistence.find'],
    ]);
    expect((await send(f.url, { path: '/fine' })).body).toBe('</fine>');
  });

  it('stickyLearn whose store get throws serves the request: it reports and lets the balancer choose', async () => {
    const storeErrors: string[] = [];
    const persistence = stickyLearn({
      lookup: { cookie: 'sid' },
      create: { cookie: 'sid' },
      store: {
        get: () => {
          throw new Error('store down');
        },
        set: () => {},
      },
      onStoreError: (err) => storeErrors.push(err.code),
    });
    const b = await backend();
    const { f, errors } = await proxyFor({ upstream: { name: 'h', servers: [b.url], persistence } });
    expect((await send(f.url, { path: '/a', headers: { cookie: 'sid=1' } })).body).toBe('</a>');
    expect([storeErrors, errors]).toEqual([['SWY_ERR_SESSION_STORE'], []]);
  });

  it("a balancer's pick", async () => {
    const rr = roundRobin();
    const balancer: Balancer = {
      pick: (peers, ctx) => {
        boom(ctx.key);
        return rr.pick(peers, ctx);
      },
    };
    await expectHookFailure(
      () => ({ upstream: { balancer, hashKey: (req) => req.url ?? '' } }),
      'balancer.pick',
    );
  });

  it("a balancer's pick after an asynchronous find", async () => {
    const balancer: Balancer = {
      pick: (peers, ctx) => {
        boom(ctx.key);
        return peers[0];
      },
    };
    const persistence: Persistence = { find: async () => undefined, bind: () => {} };
    await expectHookFailure(
      () => ({ upstream: { balancer, persistence, hashKey: (req) => req.url ?? '' } }),
      'balancer.pick',
    );
  });

  it("a cache's key function", async () => {
    await expectHookFailure(
      () => ({
        cache: createCache({
          store: memoryStore(),
          key: (req) => {
            boom(req.url);
            return req.url;
          },
        }),
      }),
      'cache.lookup',
    );
  });

  it("a rewriter's evaluate", async () => {
    const rewrite: ProxyRewriter = {
      evaluate: (r) => {
        boom(r.uri);
        return { action: 'pass', uri: r.uri };
      },
    };
    await expectHookFailure(() => ({ rewrite }), 'rewrite.evaluate');
  });

  it('a trustProxy function', async () => {
    let broken = true;
    await expectHookFailure(
      () => ({
        trustProxy: () => {
          if (broken) {
            broken = false;
            throw new Error('hook broke');
          }
          return false;
        },
      }),
      'trustProxy',
    );
  });

  it('hands the error to next() under Express, which answers 500', async () => {
    const b = await backend();
    const errors: SwitchyardError[] = [];
    const proxy = createProxy({
      upstream: {
        name: 'h',
        servers: [b.url],
        hashKey: (req) => {
          boom(req.url);
          return '';
        },
      },
    });
    const app = express();
    app.use(proxy.middleware);
    app.use((err: SwitchyardError, _req: unknown, res: express.Response, _next: unknown) => {
      errors.push(err);
      res.status(500).end(err.code);
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    closers.push(
      () => new Promise<void>((r) => server.close(() => r())),
      () => proxy.close(),
    );
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    expect(await send(url, { path: '/boom' }).then((r) => [r.status, r.body])).toEqual([500, 'SWY_ERR_HOOK']);
    expect((await send(url, { path: '/fine' })).body).toBe('</fine>');
    expect(errors.map((e) => e.code)).toEqual(['SWY_ERR_HOOK']);
  });

  it('answers an upgrade with 500 and closes it', async () => {
    const server = (await backend()).server;
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.send('hello'));
    closers.push(() => wss.close());
    const port = (server.address() as { port: number }).port;
    const { f, errors } = await proxyFor({
      upstream: {
        name: 'ws',
        servers: [`http://127.0.0.1:${port}`],
        hashKey: (req) => {
          boom(req.url);
          return '';
        },
      },
    });
    const open = (path: string) =>
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${f.port}${path}`);
        ws.on('message', (m) => {
          resolve(String(m));
          ws.close();
        });
        ws.on('unexpected-response', (_req, res) => resolve(`status ${res.statusCode}`));
        ws.on('error', () => {});
      });
    expect(await open('/boom')).toBe('status 500');
    expect(await open('/fine')).toBe('hello');
    expect(errors.map((e) => [e.code, (e as HookError).hook])).toEqual([['SWY_ERR_HOOK', 'hashKey']]);
  });
});

describe('a client that leaves while its persistence lookup is in flight', () => {
  it('gives up the cache lock at once: the next request for the key does not wait for it', async () => {
    const b = await backend();
    let release: (v: undefined) => void = () => {};
    const gate = new Promise<undefined>((r) => {
      release = r;
    });
    closers.push(() => release(undefined));
    let finds = 0;
    const persistence: Persistence = {
      // The first lookup hangs until the end of the test.
      find: () => (++finds === 1 ? gate : undefined),
      bind: () => {},
    };
    const clock = manualClock(Date.now());
    const { proxy, f } = await proxyFor({
      upstream: { name: 'h', servers: [b.url], persistence },
      cache: createCache({
        lock: true,
        lockTimeoutMs: 10_000,
        now: clock,
        store: memoryStore({ now: clock }),
      }),
    });
    const gone = request({ host: '127.0.0.1', port: f.port, path: '/page', agent: false });
    gone.on('error', () => {});
    gone.end();
    await waitFor(() => finds === 1);
    gone.destroy();
    const started = Date.now();
    const next = await send(f.url, { path: '/page' });
    expect([next.status, next.body, next.headers['x-cache-status']]).toEqual([200, '</page>', 'MISS']);
    expect(Date.now() - started).toBeLessThan(2_000);
    release(undefined);
    await waitFor(() => proxy.upstream.primaries[0]?.active === 0);
    expect(b.requests).toHaveLength(1);
  });
});

describe('a listener of the upstream events that throws', () => {
  it('is reported while the request goes on to the next peer', async () => {
    const good = await backend();
    const dead = await deadPort();
    const { proxy, f, errors } = await proxyFor({
      upstream: { name: 'h', servers: [`http://127.0.0.1:${dead}`, good.url] },
    });
    proxy.upstream.on('peer:unavail', () => {
      throw new Error('listener broke');
    });
    const r = await send(f.url, { path: '/a' });
    expect([r.status, r.body]).toEqual([200, '</a>']);
    expect(errors.map((e) => [e.code, (e as HookError).hook ?? ''])).toEqual([
      ['SWY_ERR_HOOK', 'upstream event listener'],
      ['SWY_ERR_UPSTREAM', ''],
    ]);
    expect((await send(f.url, { path: '/b' })).status).toBe(200);
    expect(proxy.upstream.peers.map((p) => p.active)).toEqual([0, 0]);
  });

  it("a balancer's failed() that throws is reported the same way", async () => {
    const good = await backend();
    const dead = await deadPort();
    const rr = roundRobin();
    const balancer: Balancer = {
      pick: (peers, ctx) => rr.pick(peers, ctx),
      failed: () => {
        throw new Error('feedback broke');
      },
    };
    const { proxy, f, errors } = await proxyFor({
      upstream: { name: 'h', servers: [`http://127.0.0.1:${dead}`, good.url], balancer },
    });
    const r = await send(f.url, { path: '/a' });
    expect([r.status, r.body]).toEqual([200, '</a>']);
    expect(errors.map((e) => [e.code, (e as HookError).hook ?? ''])).toEqual([
      ['SWY_ERR_HOOK', 'balancer.failed'],
      ['SWY_ERR_UPSTREAM', ''],
    ]);
    // The failure was still counted: the dead peer rests, as nginx's max_fails=1 has it.
    expect(proxy.upstream.stateOf(proxy.upstream.peers[0] as Peer)).toBe('unavail');
  });

  it('is reported by the health checker, whose checks go on', async () => {
    const b = await backend();
    const upstream = createUpstream({ name: 'h', servers: [b.url] });
    const timers = manualTimers();
    const reported: SwitchyardError[] = [];
    const checks = createHealthCheck(upstream, {
      uri: '/healthz',
      intervalMs: 1000,
      timers,
      onError: (e) => reported.push(e),
    });
    closers.push(() => checks.stop());
    upstream.on('peer:checked', () => {
      throw new Error('listener broke');
    });
    const peer = upstream.peers[0] as Peer;
    checks.start();
    await waitFor(() => reported.length === 1);
    expect((reported[0] as HookError).hook).toBe('upstream event listener');
    timers.advance(1000);
    await waitFor(() => peer.stats().healthChecks.checks === 2);
    expect(reported).toHaveLength(2);
  });
});
