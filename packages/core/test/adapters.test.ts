import { createServer } from 'node:http';
import { type Backend, listen, startBackend } from '@switchyard/testkit';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy } from '../src/index.js';
import { echoed, send } from './helpers.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

async function backends(n: number): Promise<Backend[]> {
  const list: Backend[] = [];
  for (let i = 0; i < n; i++) {
    const b = await startBackend();
    closers.push(() => b.close());
    list.push(b);
  }
  return list;
}

describe('node:http handler', () => {
  it('forwards through http.createServer(proxy.handler) in round robin', async () => {
    const bs = await backends(2);
    const proxy = createProxy({ upstream: { name: 'n', servers: bs.map((b) => b.url) } });
    const f = await listen(createServer(proxy.handler));
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    const ports = [];
    for (let i = 0; i < 4; i++) ports.push((await send(f.url)).headers['x-backend']);
    expect(ports).toEqual([bs[0], bs[1], bs[0], bs[1]].map((b) => String(b?.port)));
  });
});

describe('Express middleware', () => {
  it('forwards the original URL of a mounted proxy, and bodies already parsed by express.json', async () => {
    const [b] = await backends(1);
    const proxy = createProxy({ upstream: { name: 'e', servers: [b?.url as string] } });
    const app = express();
    app.use(express.json());
    app.use('/api', proxy.middleware);
    app.get('/local', (_req, res) => {
      res.send('local');
    });
    const f = await listen(createServer(app));
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    const r = await send(f.url, {
      method: 'POST',
      path: '/api/items?x=1',
      headers: { 'content-type': 'application/json' },
      body: '{"a": [1, 2]}',
    });
    expect(r.status).toBe(200);
    const seen = echoed(r);
    expect(seen.url).toBe('/api/items?x=1');
    expect(JSON.parse(seen.body)).toEqual({ a: [1, 2] });
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(seen.body)));
    expect((await send(f.url, { path: '/local' })).body).toBe('local');
  });

  it('re-serialises any JSON value a lenient parser produced', async () => {
    const [b] = await backends(1);
    const proxy = createProxy({ upstream: { name: 'e', servers: [b?.url as string] } });
    const app = express();
    app.use(express.json({ strict: false }));
    app.use(proxy.middleware);
    const f = await listen(createServer(app));
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    for (const body of ['"just a string"', '42', 'null']) {
      const r = await send(f.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(echoed(r).body).toBe(body);
    }
  });

  it('streams bodies untouched when mounted before any parser', async () => {
    const [b] = await backends(1);
    const proxy = createProxy({ upstream: { name: 'e', servers: [b?.url as string] } });
    const app = express();
    app.use(proxy.middleware);
    const f = await listen(createServer(app));
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    const r = await send(f.url, { method: 'PUT', path: '/raw', body: 'exact  bytes\n' });
    expect(echoed(r).body).toBe('exact  bytes\n');
  });

  it('passes SWY_ERR_BODY_CONSUMED to next() when a parsed body cannot be rebuilt', async () => {
    const [b] = await backends(1);
    const proxy = createProxy({ upstream: { name: 'e', servers: [b?.url as string] } });
    const app = express();
    app.use((req, _res, next) => {
      // a parser that read the stream and kept something the proxy cannot serialise
      req.on('data', () => {});
      req.on('end', () => {
        (req as { body?: unknown }).body = new Map();
        next();
      });
    });
    app.use(proxy.middleware);
    app.use((err: { code?: string }, _req: unknown, res: express.Response, _next: unknown) => {
      res.status(500).send(err.code);
    });
    const f = await listen(createServer(app));
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    const r = await send(f.url, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: 'zzz',
    });
    expect(r.body).toBe('SWY_ERR_BODY_CONSUMED');
    expect(b?.requests).toHaveLength(0);
  });
});
