import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type Listening, listen, waitFor } from '@switchyard/testkit';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  connZone,
  createLimits,
  type Limiter,
  type LimitMiddlewareOptions,
  limitFastify,
  limitMiddleware,
  limitStatus,
  memoryRateStore,
  rateZone,
} from '../src/index.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

/** A store clock that stays still: every request arrives in the same ms. */
const still = () => memoryRateStore({ now: () => 1_000 });

interface Reply {
  status: number;
  body: string;
  headers: IncomingMessage['headers'];
}

/** One request on a fresh connection; `chunks` are sent chunked, one write each. */
function send(
  l: Listening,
  opts: {
    path?: string;
    method?: string;
    headers?: Record<string, string>;
    chunks?: string[];
    body?: string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: l.port,
        path: opts.path ?? '/',
        method: opts.method ?? 'GET',
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    for (const c of opts.chunks ?? []) req.write(c);
    req.end(opts.body);
  });
}

/** A server running the middleware before `app` (default: answers the limit statuses). */
async function serve(
  limiter: Limiter,
  options: LimitMiddlewareOptions = {},
  app: (req: IncomingMessage, res: ServerResponse) => void = (req, res) =>
    res.end(JSON.stringify(limitStatus(req))),
): Promise<Listening & { reached: string[] }> {
  const reached: string[] = [];
  const limit = limitMiddleware(limiter, options);
  const l = await listen(
    createServer((req, res) =>
      limit(req, res, (err?: unknown) => {
        if (err !== undefined) {
          res.statusCode = 500;
          res.end(String(err));
          return;
        }
        reached.push(req.url ?? '');
        app(req, res);
      }),
    ),
  );
  closers.push(l.close);
  return Object.assign(l, { reached });
}

describe('limitMiddleware', () => {
  it('lets a request within the rate through at once and tells its $limit_req_status', async () => {
    const zone = rateZone({ name: 'one', rate: '1r/s', store: still() });
    const l = await serve(createLimits({ req: [{ zone }] }));
    const r = await send(l);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ limitReq: 'PASSED' });
  });

  it('refuses a request over the rate with 503 and nginx text, without reaching the app', async () => {
    const zone = rateZone({ name: 'one', rate: '1r/s', store: still() });
    const l = await serve(createLimits({ req: [{ zone }] }));
    await send(l);
    const r = await send(l);
    expect(r.status).toBe(503);
    expect(r.body).toBe('503 Service Temporarily Unavailable\n');
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(l.reached).toHaveLength(1);
  });

  it('answers limit_req_status 429 with its text', async () => {
    const zone = rateZone({ name: 'one', rate: '1r/s', store: still() });
    const l = await serve(createLimits({ req: [{ zone }], reqStatus: 429 }));
    await send(l);
    const r = await send(l);
    expect(r.status).toBe(429);
    expect(r.body).toBe('429 Too Many Requests\n');
  });

  it('holds a request of a burst for its delay on a timer, then goes on', async () => {
    // 20r/s: the second request in the same ms waits 1000 / 20 = 50 ms.
    const zone = rateZone({ name: 'burst', rate: '20r/s', store: still() });
    const l = await serve(createLimits({ req: [{ zone, burst: 5 }] }));
    await send(l);
    const t0 = performance.now();
    const r = await send(l);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ limitReq: 'DELAYED' });
  });

  it('uses the limits of the location it is given', async () => {
    const zone = rateZone({ name: 'one', rate: '1r/s', store: still() });
    const limits = createLimits({ locations: { '/login': { req: [{ zone }] } } });
    const l = await serve(limits, { location: (req) => (req.url === '/login' ? '/login' : undefined) });
    expect((await send(l, { path: '/other' })).status).toBe(200);
    expect((await send(l, { path: '/other' })).status).toBe(200);
    expect((await send(l, { path: '/login' })).status).toBe(200);
    expect((await send(l, { path: '/login' })).status).toBe(503);
  });

  it('gives the limit_conn slot back when the response finishes', async () => {
    const limits = createLimits({ conn: [{ zone: connZone({ name: 'addr' }), max: 1 }] });
    const l = await serve(limits);
    for (let i = 0; i < 3; i++) {
      const r = await send(l);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual({ limitConn: 'PASSED' });
    }
  });

  it('refuses a second request in flight and gives the slot back when the client aborts', async () => {
    const limits = createLimits({ conn: [{ zone: connZone({ name: 'addr' }), max: 1 }] });
    const held: ServerResponse[] = [];
    const l = await serve(limits, {}, (req, res) => {
      if (req.url === '/hold') held.push(res);
      else res.end('ok');
    });
    const first = request({ host: '127.0.0.1', port: l.port, path: '/hold', agent: false });
    first.on('error', () => {});
    first.end();
    await waitFor(() => held.length === 1);
    expect((await send(l, { path: '/second' })).status).toBe(503);
    first.destroy();
    await waitFor(() => held[0]?.destroyed === true);
    const r = await send(l, { path: '/after' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
  });

  it('refuses a second concurrent request with limit_conn_status', async () => {
    const limits = createLimits({ conn: [{ zone: connZone({ name: 'addr' }), max: 1 }], connStatus: 429 });
    const held: ServerResponse[] = [];
    const l = await serve(limits, {}, (req, res) => {
      if (req.url === '/hold') held.push(res);
      else res.end('ok');
    });
    const first = send(l, { path: '/hold' });
    await waitFor(() => held.length === 1);
    const second = await send(l, { path: '/second' });
    expect(second.status).toBe(429);
    held[0]?.end('done');
    expect((await first).body).toBe('done');
    expect((await send(l, { path: '/third' })).status).toBe(200);
  });

  it('never calls next for a delayed client that leaves, and releases its slot', async () => {
    const zone = rateZone({ name: 'burst', rate: '20r/s', store: still() });
    const limits = createLimits({
      req: [{ zone, burst: 5 }],
      conn: [{ zone: connZone({ name: 'addr' }), max: 1 }],
    });
    const l = await serve(limits);
    await send(l, { path: '/first' });
    // The second is held 50 ms; its client leaves after 10.
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: l.port, path: '/left', agent: false });
      req.on('error', () => resolve());
      req.end();
      setTimeout(() => req.destroy(), 10);
    });
    const r = await send(l, { path: '/third' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ limitReq: 'DELAYED', limitConn: 'PASSED' });
    expect(l.reached).toEqual(['/first', '/third']);
  });

  it('answers 413 when the declared Content-Length passes clientMaxBodySize', async () => {
    const l = await serve(createLimits(), { clientMaxBodySize: 1000 });
    const r = await send(l, { method: 'POST', body: 'x'.repeat(1001) });
    expect(r.status).toBe(413);
    expect(r.body).toBe('413 Request Entity Too Large\n');
    expect(l.reached).toEqual([]);
  });

  it('answers 413 when a chunked body passes clientMaxBodySize as it streams', async () => {
    let read = 0;
    const l = await serve(createLimits(), { clientMaxBodySize: 1000 }, (req, res) => {
      req.on('data', (c: Buffer) => {
        read += c.length;
      });
      req.on('end', () => res.end('read'));
    });
    const r = await send(l, { method: 'POST', chunks: ['a'.repeat(600), 'b'.repeat(600)] });
    expect(r.status).toBe(413);
    expect(r.body).toBe('413 Request Entity Too Large\n');
    expect(read).toBeLessThanOrEqual(1000);
  });

  it('lets a chunked body within clientMaxBodySize reach the app whole', async () => {
    const l = await serve(createLimits(), { clientMaxBodySize: 1000 }, (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
      });
      req.on('end', () => res.end(body));
    });
    const r = await send(l, { method: 'POST', chunks: ['a'.repeat(400), 'b'.repeat(400)] });
    expect(r.status).toBe(200);
    expect(r.body).toBe(`${'a'.repeat(400)}${'b'.repeat(400)}`);
  });

  it('limits bodies to nginx’s 1 MiB by default', async () => {
    const l = await serve(createLimits());
    const r = await send(l, { method: 'POST', headers: { 'content-length': String(1_048_577) } });
    expect(r.status).toBe(413);
  });

  it('refuses what is not a limiter, and a bad clientMaxBodySize, when built', () => {
    expect(() => limitMiddleware({} as Limiter)).toThrow(/limiter/);
    expect(() => limitMiddleware(createLimits(), { clientMaxBodySize: -1 })).toThrow(/clientMaxBodySize/);
  });
});

describe('limitFastify', () => {
  async function fastifyWith(limiter: Limiter): Promise<Listening> {
    const app = Fastify();
    app.addHook('onRequest', limitFastify(limiter));
    app.get('/', async (request) => limitStatus(request.raw) ?? {});
    await app.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.server.address() as { port: number }).port;
    const l = {
      port,
      url: `http://127.0.0.1:${port}`,
      hostPort: `127.0.0.1:${port}`,
      server: app.server,
      close: () => app.close(),
    };
    closers.push(l.close);
    return l;
  }

  it('lets a request through, then refuses one over the rate with nginx text', async () => {
    const zone = rateZone({ name: 'one', rate: '1r/s', store: still() });
    const l = await fastifyWith(createLimits({ req: [{ zone }] }));
    const ok = await send(l);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ limitReq: 'PASSED' });
    const refused = await send(l);
    expect(refused.status).toBe(503);
    expect(refused.body).toBe('503 Service Temporarily Unavailable\n');
  });

  it('gives the limit_conn slot back when the reply finishes', async () => {
    const l = await fastifyWith(createLimits({ conn: [{ zone: connZone({ name: 'addr' }), max: 1 }] }));
    expect((await send(l)).status).toBe(200);
    expect((await send(l)).status).toBe(200);
  });

  it('holds a delayed request, then lets it through', async () => {
    const zone = rateZone({ name: 'burst', rate: '20r/s', store: still() });
    const l = await fastifyWith(createLimits({ req: [{ zone, burst: 5 }] }));
    await send(l);
    const t0 = performance.now();
    const r = await send(l);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(JSON.parse(r.body)).toEqual({ limitReq: 'DELAYED' });
  });
});
