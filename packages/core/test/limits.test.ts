import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import {
  connZone,
  createLimits,
  type LimitDecision,
  type Limiter,
  limitMiddleware,
  memoryRateStore,
  rateZone,
} from '@switchyard/limit';
import { compileNginx } from '@switchyard/rewrite';
import { conformance, listen, waitFor } from '@switchyard/testkit';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { createProxy, type ResponseRecord } from '../src/index.js';
import { echoed, fixtures, rawExchange, send } from './helpers.js';

const { backend, closers, proxyFor } = fixtures();

/** A store clock that stays still: every request arrives in the same ms. */
const still = () => memoryRateStore({ now: () => 1_000 });

/** One zone of 1r/s, no burst: the second request of an address is refused at once. */
const oneASecond = (name = 'one') => rateZone({ name, rate: '1r/s', store: still() });

/** A backend holding `/slow` until the test ends it; other paths answer at once. */
async function slowBackend() {
  const held: ServerResponse[] = [];
  const b = await backend((req: IncomingMessage, res: ServerResponse) => {
    if (req.url?.startsWith('/slow')) held.push(res);
    else res.end('ok');
  });
  return Object.assign(b, { held });
}

describe('the limits stage of the proxy', () => {
  it('refuses the second request at once with 503 and nginx text (limit_req, burst 0)', async () => {
    const b = await backend();
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      limits: createLimits({ req: [{ zone: oneASecond() }] }),
      onResponse: (r) => records.push(r),
    });
    expect((await send(f.url)).status).toBe(200);
    const refused = await send(f.url);
    expect(refused.status).toBe(503);
    expect(refused.body).toBe('503 Service Temporarily Unavailable\n');
    expect(b.requests).toHaveLength(1);
    expect(records.map((r) => [r.status, r.outcome, r.limitReq, r.limitConn])).toEqual([
      [200, 'proxied', 'PASSED', undefined],
      [503, 'refused', 'REJECTED', undefined],
    ]);
  });

  it('answers limit_req_status 429 with its text', async () => {
    const b = await backend();
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      limits: createLimits({ req: [{ zone: oneASecond() }], reqStatus: 429 }),
    });
    await send(f.url);
    const r = await send(f.url);
    expect(r.status).toBe(429);
    expect(r.body).toBe('429 Too Many Requests\n');
  });

  it('holds a request of a burst for its delay, then forwards it', async () => {
    const b = await backend();
    // 20r/s: the second request in the same ms waits 1000 / 20 = 50 ms.
    const zone = rateZone({ name: 'burst', rate: '20r/s', store: still() });
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      limits: createLimits({ req: [{ zone, burst: 5 }] }),
      onResponse: (r) => records.push(r),
    });
    await send(f.url);
    const t0 = performance.now();
    const r = await send(f.url);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(r.status).toBe(200);
    expect(b.requests).toHaveLength(2);
    expect(records.map((x) => x.limitReq)).toEqual(['PASSED', 'DELAYED']);
  });

  it('never forwards a delayed request whose client left', async () => {
    const b = await backend();
    const zone = rateZone({ name: 'burst', rate: '20r/s', store: still() });
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      limits: createLimits({ req: [{ zone, burst: 5 }] }),
    });
    await send(f.url, { path: '/first' });
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: f.port, path: '/left', agent: false });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => req.destroy(), 10);
    });
    // /third waits ~100 ms: /left, held 50 ms, would have reached the backend first.
    await send(f.url, { path: '/third' });
    expect(b.requests.map((r) => r.url)).toEqual(['/first', '/third']);
  });

  it('refuses a second request in flight (limit_conn) and gives the slot back when the first ends', async () => {
    const b = await slowBackend();
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      limits: createLimits({ conn: [{ zone: connZone({ name: 'addr' }), max: 1 }] }),
    });
    const first = send(f.url, { path: '/slow' });
    await waitFor(() => b.held.length === 1);
    const second = await send(f.url, { path: '/fast' });
    expect(second.status).toBe(503);
    expect(second.body).toBe('503 Service Temporarily Unavailable\n');
    b.held[0]?.end('done');
    expect((await first).body).toBe('done');
    expect((await send(f.url, { path: '/fast' })).status).toBe(200);
  });

  it('gives the limit_conn slot back when the client aborts', async () => {
    const b = await slowBackend();
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      limits: createLimits({ conn: [{ zone: connZone({ name: 'addr' }), max: 1 }] }),
    });
    const first = request({ host: '127.0.0.1', port: f.port, path: '/slow', agent: false });
    first.on('error', () => {});
    first.end();
    await waitFor(() => b.held.length === 1);
    expect((await send(f.url, { path: '/fast' })).status).toBe(503);
    first.destroy();
    // The proxy cuts the upstream request when its client goes.
    await waitFor(() => b.held[0]?.destroyed === true);
    expect((await send(f.url, { path: '/fast' })).status).toBe(200);
  });

  it('releases each decision exactly once, whatever the ending', async () => {
    const b = await slowBackend();
    const limits = createLimits({
      req: [{ zone: rateZone({ name: 'r', rate: '1r/s', store: still() }), burst: 1, nodelay: true }],
      conn: [{ zone: connZone({ name: 'addr' }), max: 5 }],
    });
    const released: string[] = [];
    // The real limiter, with each decision's release() counted.
    const counted: Limiter = {
      ...limits,
      check(req, location) {
        const d = limits.check(req, location) as LimitDecision;
        return {
          ...d,
          release() {
            released.push(`${req.url} ${d.action}`);
            d.release();
          },
        };
      },
    };
    const { f } = await proxyFor({ upstream: { name: 'app', servers: [b.url] }, limits: counted });
    expect((await send(f.url, { path: '/fast' })).status).toBe(200);
    const gone = request({ host: '127.0.0.1', port: f.port, path: '/slow', agent: false });
    gone.on('error', () => {});
    gone.end();
    await waitFor(() => b.held.length === 1);
    gone.destroy();
    await waitFor(() => released.length === 2);
    expect((await send(f.url, { path: '/refused' })).status).toBe(503);
    await waitFor(() => released.length === 3);
    await new Promise((r) => setTimeout(r, 20));
    expect(released).toEqual(['/fast pass', '/slow pass', '/refused reject']);
  });

  it('never limits a location that answers with return (conformance req-return-not-limited)', async () => {
    type Case = {
      name: string;
      steps: Array<{ req: { method: string; uri: string } }>;
      responses: Array<{ uri: string; status: number; xLimitReq: string | null; backend: boolean }>;
    };
    const c = conformance<{ cases: Case[] }>('limits.json').cases.find(
      (x) => x.name === 'req-return-not-limited',
    );
    if (c === undefined) throw new Error('case req-return-not-limited is missing');
    const b = await backend();
    const zone = oneASecond('req_return_not_limited');
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      rewrite: compileNginx(`
        location /ret { return 200 "ret\\n"; }
        location /prox { proxy_pass http://${b.hostPort}; }
      `),
      limits: createLimits({ locations: { '/ret': { req: [{ zone }] }, '/prox': { req: [{ zone }] } } }),
      onResponse: (r) => records.push(r),
    });
    const got = [];
    for (const step of c.steps) {
      const r = await send(f.url, { method: step.req.method, path: step.req.uri });
      got.push({ uri: step.req.uri, status: r.status, backend: r.headers['x-backend'] !== undefined });
    }
    expect(got).toEqual(c.responses.map((r) => ({ uri: r.uri, status: r.status, backend: r.backend })));
    expect(records.map((r) => r.limitReq ?? null)).toEqual(c.responses.map((r) => r.xLimitReq));
  });

  it('keys on the X-Forwarded-For client with trustProxy', async () => {
    const b = await backend();
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      trustProxy: 'loopback',
      limits: createLimits({ req: [{ zone: oneASecond() }] }),
    });
    const from = (ip: string) => send(f.url, { headers: { 'x-forwarded-for': ip } });
    expect((await from('192.0.2.1')).status).toBe(200);
    expect((await from('192.0.2.2')).status).toBe(200);
    expect((await from('192.0.2.1')).status).toBe(503);
  });

  it('ignores X-Forwarded-For from an untrusted client', async () => {
    const b = await backend();
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      limits: createLimits({ req: [{ zone: oneASecond() }] }),
    });
    expect((await send(f.url, { headers: { 'x-forwarded-for': '192.0.2.1' } })).status).toBe(200);
    expect((await send(f.url, { headers: { 'x-forwarded-for': '192.0.2.2' } })).status).toBe(503);
  });

  it('refuses an upgrade by limit, with its status, before any peer', async () => {
    const b = await backend();
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      limits: createLimits({ req: [{ zone: oneASecond() }], reqStatus: 429 }),
    });
    expect((await send(f.url)).status).toBe(200);
    const raw = await rawExchange(
      f.port,
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 429 /);
    expect(raw).toContain('429 Too Many Requests\n');
    expect(b.requests).toHaveLength(1);
  });

  it('ends a delayed upgrade whose client left, never reaching a peer, and gives its slot back', async () => {
    const b = await backend();
    const zone = rateZone({ name: 'burst', rate: '20r/s', store: still() });
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [b.url] },
      limits: createLimits({
        req: [{ zone, burst: 5 }],
        conn: [{ zone: connZone({ name: 'addr' }), max: 1 }],
      }),
    });
    await send(f.url, { path: '/first' });
    // Held 50 ms; the client closes after 10.
    const raw = await rawExchange(
      f.port,
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      { timeoutMs: 10 },
    );
    expect(raw).toBe('');
    const r = await send(f.url, { path: '/third' });
    expect(r.status).toBe(200);
    expect(b.requests.map((x) => x.url)).toEqual(['/first', '/third']);
  });

  it('works as limitMiddleware in front of proxy.middleware in Express', async () => {
    const b = await backend();
    const proxy = createProxy({ upstream: { name: 'app', servers: [b.url] } });
    const app = express();
    app.use(limitMiddleware(createLimits({ req: [{ zone: oneASecond() }] })));
    app.use(proxy.middleware);
    const l = await listen(createServer(app));
    closers.push(
      () => l.close(),
      () => proxy.close(),
    );
    expect((await send(l.url)).status).toBe(200);
    const r = await send(l.url);
    expect(r.status).toBe(503);
    expect(r.body).toBe('503 Service Temporarily Unavailable\n');
    expect(b.requests).toHaveLength(1);
  });

  it('refuses what is not a limiter when built', () => {
    expect(() =>
      createProxy({ upstream: { name: 'app', servers: ['http://127.0.0.1:1'] }, limits: {} as never }),
    ).toThrow(/limits/);
  });
});

describe('clientMaxBodySize in the proxy', () => {
  it('answers 413 when the declared Content-Length passes it, before any peer', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'app', servers: [b.url] }, clientMaxBodySize: 1000 });
    const r = await send(f.url, { method: 'POST', body: 'x'.repeat(1001) });
    expect(r.status).toBe(413);
    expect(r.body).toBe('413 Request Entity Too Large\n');
    expect(b.requests).toHaveLength(0);
  });

  it('answers 413 when a chunked body passes it as it streams', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'app', servers: [b.url] }, clientMaxBodySize: 1000 });
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: f.port, method: 'POST', path: '/up', agent: false },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.write('a'.repeat(600));
      setTimeout(() => req.end('b'.repeat(600)), 20);
    });
    expect(r.status).toBe(413);
    expect(r.body).toBe('413 Request Entity Too Large\n');
  });

  it('streams a chunked body within it to the peer whole', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'app', servers: [b.url] }, clientMaxBodySize: 1000 });
    const r = await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port: f.port, method: 'POST', path: '/up', agent: false },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.write('a'.repeat(400));
      req.end('b'.repeat(400));
    });
    expect(JSON.parse(r).body).toBe(`${'a'.repeat(400)}${'b'.repeat(400)}`);
  });

  it('sets no limit by default: uploads pass as before', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'app', servers: [b.url] } });
    const r = await send(f.url, { method: 'POST', body: 'x'.repeat(2 * 1_048_576) });
    expect(r.status).toBe(200);
    expect(echoed(r).body).toHaveLength(2 * 1_048_576);
  });
});
