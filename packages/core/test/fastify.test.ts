import { deadPort } from '@switchyard/testkit';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type SwitchyardFastifyOptions, switchyard } from '../src/adapters/fastify.js';
import type { SwitchyardError } from '../src/index.js';
import { echoed, fixtures, rawExchange, send } from './helpers.js';

const { closers, backend, wsBackend } = fixtures();

/** A Fastify app set up by `setup`, listening on 127.0.0.1 port 0, closed after the test. */
async function fastifyApp(
  setup: (app: FastifyInstance) => PromiseLike<unknown>,
  options: FastifyServerOptions = {},
): Promise<{ app: FastifyInstance; url: string; port: number }> {
  const app = Fastify(options);
  closers.push(() => app.close());
  await setup(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  return { app, url: `http://127.0.0.1:${port}`, port };
}

/** Opens a WebSocket, sends every frame at once, and resolves with the replies once all came back. */
function talk(url: string, frames: readonly string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const replies: string[] = [];
    ws.on('open', () => {
      for (const frame of frames) ws.send(frame);
    });
    ws.on('message', (m) => {
      replies.push(String(m));
      if (replies.length < frames.length) return;
      ws.close();
      resolve(replies);
    });
    ws.on('error', reject);
    ws.on('close', () => reject(new Error(`closed after ${replies.length} replies`)));
  });
}

/** A WebSocket backend answering each frame with `<tag> <frame>`; `urls` collects the upgrade URLs it saw. */
async function wsEcho(tag: string): Promise<{ url: string; urls: string[] }> {
  const urls: string[] = [];
  const up = await wsBackend((ws, req) => {
    urls.push(req.url ?? '');
    ws.on('message', (m) => ws.send(`${tag} ${m}`));
  });
  return { url: up.url, urls };
}

const UPGRADE = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n';
const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';

describe('Fastify plugin', () => {
  it('proxies every route under its prefix with the body as the client sent it', async () => {
    const bs = [await backend(), await backend()];
    const { url } = await fastifyApp(async (app) => {
      app.get('/own', async () => 'own route');
      await app.register(switchyard, {
        prefix: '/api',
        upstream: { name: 'f', servers: bs.map((b) => b.url) },
      });
    });
    const r1 = await send(url, {
      method: 'POST',
      path: '/api/orders?id=7',
      headers: { 'content-type': 'application/json' },
      body: '{ "spaced" :  true }',
    });
    const r2 = await send(url, { path: '/api' });
    expect(echoed(r1).url).toBe('/api/orders?id=7');
    expect(echoed(r1).body).toBe('{ "spaced" :  true }');
    expect([r1.headers['x-backend'], r2.headers['x-backend']]).toEqual(bs.map((b) => String(b.port)));
    expect((await send(url, { path: '/own' })).body).toBe('own route');
  });
});

describe('Fastify plugin: WebSocket', () => {
  it('relays WebSocket upgrades with websocket: true', async () => {
    const up = await wsEcho('echo');
    const { port } = await fastifyApp((app) =>
      app.register(switchyard, { upstream: { name: 'w', servers: [up.url] }, websocket: true }),
    );
    expect(await talk(`ws://127.0.0.1:${port}/socket`, ['hi'])).toEqual(['echo hi']);
  });

  it('relays each upgrade only to the registration whose prefix it is under', async () => {
    const a = await wsEcho('a');
    const b = await wsEcho('b');
    const { port } = await fastifyApp(async (app) => {
      await app.register(switchyard, {
        prefix: '/a',
        upstream: { name: 'a', servers: [a.url] },
        websocket: true,
      });
      await app.register(switchyard, {
        prefix: '/b',
        upstream: { name: 'b', servers: [b.url] },
        websocket: true,
      });
    });
    const frames = Array.from({ length: 20 }, (_, i) => `frame ${i} ${'x'.repeat(i * 500)}`);
    const [fromA, fromB] = await Promise.all([
      talk(`ws://127.0.0.1:${port}/a/socket`, frames),
      talk(`ws://127.0.0.1:${port}/b/socket`, frames),
    ]);
    expect(fromA).toEqual(frames.map((f) => `a ${f}`));
    expect(fromB).toEqual(frames.map((f) => `b ${f}`));
    expect([a.urls, b.urls]).toEqual([['/a/socket'], ['/b/socket']]);
  });

  it('gives an upgrade under the longest matching prefix to its registration', async () => {
    const outer = await wsEcho('outer');
    const inner = await wsEcho('inner');
    const { port } = await fastifyApp(async (app) => {
      await app.register(switchyard, {
        prefix: '/v',
        upstream: { name: 'o', servers: [outer.url] },
        websocket: true,
      });
      await app.register(switchyard, {
        prefix: '/v/2',
        upstream: { name: 'i', servers: [inner.url] },
        websocket: true,
      });
    });
    expect(await talk(`ws://127.0.0.1:${port}/v/2/s`, ['x'])).toEqual(['inner x']);
    expect(await talk(`ws://127.0.0.1:${port}/v/20`, ['x'])).toEqual(['outer x']);
  });

  it('lets Fastify answer an upgrade under no prefix (404), then closes the connection', async () => {
    const up = await wsEcho('a');
    const { port } = await fastifyApp(async (app) => {
      app.get('/plain', async () => 'plain route');
      await app.register(switchyard, {
        prefix: '/a',
        upstream: { name: 'a', servers: [up.url] },
        websocket: true,
      });
    });
    const raw = await rawExchange(port, `GET /nowhere HTTP/1.1\r\nHost: x\r\n${UPGRADE}${KEY}\r\n`);
    expect(raw).toMatch(/^HTTP\/1\.1 404 Not Found\r\n/);
    expect(raw).toMatch(/\r\nconnection: close\r\n/i);
    expect(raw).toContain('"message":"Route GET:/nowhere not found"');
    const routed = await rawExchange(port, `GET /plain HTTP/1.1\r\nHost: x\r\n${UPGRADE}${KEY}\r\n`);
    expect(routed).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(routed.endsWith('\r\n\r\nplain route')).toBe(true);
    expect(up.urls).toEqual([]);
  });

  it('leaves an upgrade under no prefix to the server’s other upgrade listener', async () => {
    const up = await wsEcho('a');
    const { port } = await fastifyApp(async (app) => {
      await app.register(switchyard, {
        prefix: '/a',
        upstream: { name: 'a', servers: [up.url] },
        websocket: true,
      });
      app.server.on('upgrade', (req, socket) => {
        if (!req.url?.startsWith('/a')) socket.end('HTTP/1.1 418 Teapot\r\ncontent-length: 0\r\n\r\n');
      });
    });
    const raw = await rawExchange(port, `GET /other HTTP/1.1\r\nHost: x\r\n${UPGRADE}${KEY}\r\n`);
    expect(raw).toBe('HTTP/1.1 418 Teapot\r\ncontent-length: 0\r\n\r\n');
    expect(await talk(`ws://127.0.0.1:${port}/a`, ['x'])).toEqual(['a x']);
  });

  it('stops relaying upgrades once the app is closed', async () => {
    const up = await wsEcho('a');
    const { app } = await fastifyApp((app) =>
      app.register(switchyard, { upstream: { name: 'a', servers: [up.url] }, websocket: true }),
    );
    expect(app.server.listenerCount('upgrade')).toBe(1);
    await app.close();
    expect(app.server.listenerCount('upgrade')).toBe(0);
  });
});

describe('Fastify plugin: headers set by hooks', () => {
  it('sends them with the proxied response; the upstream’s field of the same name wins, Set-Cookie adds up', async () => {
    const b = await backend((_req, res) => {
      res.setHeader('x-both', 'upstream');
      res.setHeader('set-cookie', ['up=2', 'up=3']);
      // Chunked: no Content-Length of its own.
      res.write('from ');
      res.end('upstream');
    });
    const { url } = await fastifyApp(async (app) => {
      app.addHook('onRequest', async (_request, reply) => {
        reply.header('x-hook', 'on-request');
        reply.header('x-both', 'hook');
        reply.header('set-cookie', 'hook=1');
        // Framing is the proxied response's.
        reply.header('content-length', '999');
      });
      app.addHook('preHandler', async (_request, reply) => {
        reply.header('access-control-allow-origin', 'https://app.example');
      });
      await app.register(switchyard, { prefix: '/api', upstream: { name: 'h', servers: [b.url] } });
    });
    const r = await send(url, { path: '/api/x' });
    expect(r.body).toBe('from upstream');
    expect(r.headers['x-hook']).toBe('on-request');
    expect(r.headers['access-control-allow-origin']).toBe('https://app.example');
    expect(r.headers['x-both']).toBe('upstream');
    expect(r.headers['set-cookie']).toEqual(['hook=1', 'up=2', 'up=3']);
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.headers['transfer-encoding']).toBe('chunked');
  });

  it('keeps a hook’s Set-Cookie when the upstream sends none', async () => {
    const b = await backend();
    const { url } = await fastifyApp(async (app) => {
      app.addHook('onRequest', async (_request, reply) => {
        reply.header('set-cookie', ['a=1', 'b=2']);
      });
      await app.register(switchyard, { upstream: { name: 'h', servers: [b.url] } });
    });
    expect((await send(url)).headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('keeps every line of a field the upstream repeats when a hook set a header on the raw response', async () => {
    const b = await backend((_req, res) => {
      res.setHeader('set-cookie', ['up=2', 'up=3']);
      res.setHeader('link', ['</a>; rel=preload', '</b>; rel=preload']);
      res.end('ok');
    });
    const { url } = await fastifyApp(async (app) => {
      // As @fastify/helmet does: straight on the raw response.
      app.addHook('onRequest', async (_request, reply) => {
        reply.raw.setHeader('x-frame-options', 'DENY');
      });
      await app.register(switchyard, { upstream: { name: 'h', servers: [b.url] } });
    });
    const r = await send(url);
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['set-cookie']).toEqual(['up=2', 'up=3']);
    expect(r.rawHeaders.filter((_, i, all) => all[i - 1]?.toLowerCase() === 'link')).toEqual([
      '</a>; rel=preload',
      '</b>; rel=preload',
    ]);
  });

  it('sends them with the proxy’s own 502', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const { url } = await fastifyApp(async (app) => {
      app.addHook('onRequest', async (_request, reply) => {
        reply.header('access-control-allow-origin', '*');
      });
      await app.register(switchyard, { upstream: { name: 'd', servers: [dead] }, onError: () => {} });
    });
    const r = await send(url);
    expect(r.status).toBe(502);
    expect(r.headers['access-control-allow-origin']).toBe('*');
  });
});

describe('Fastify plugin: errors', () => {
  /** A Fastify logger writing JSON lines into `lines`. */
  function capturedLogger(lines: Array<Record<string, unknown>>): FastifyServerOptions {
    return { logger: { stream: { write: (line: string) => lines.push(JSON.parse(line)) } } };
  }

  it('logs them through request.log at error level, with the error object', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const lines: Array<Record<string, unknown>> = [];
    const { url } = await fastifyApp(
      (app) => app.register(switchyard, { upstream: { name: 'd', servers: [dead] } }),
      capturedLogger(lines),
    );
    expect((await send(url, { path: '/x' })).status).toBe(502);
    const incoming = lines.find((l) => l.msg === 'incoming request');
    const errors = lines.filter((l) => l.level === 50);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({
      reqId: incoming?.reqId,
      err: { type: 'UpstreamError', code: 'SWY_ERR_UPSTREAM' },
      msg: expect.stringContaining('upstream 127.0.0.1:'),
    });
  });

  it('leaves them to the onError the user gave', async () => {
    const dead = `http://127.0.0.1:${await deadPort()}`;
    const lines: Array<Record<string, unknown>> = [];
    const seen: SwitchyardError[] = [];
    const { url } = await fastifyApp(
      (app) =>
        app.register(switchyard, { upstream: { name: 'd', servers: [dead] }, onError: (e) => seen.push(e) }),
      capturedLogger(lines),
    );
    expect((await send(url)).status).toBe(502);
    expect(seen.map((e) => e.code)).toContain('SWY_ERR_UPSTREAM');
    expect(lines.filter((l) => l.level === 50)).toEqual([]);
  });
});

describe('Fastify plugin: rewritePrefix', () => {
  async function forwardedUrls(rewritePrefix: string, paths: readonly string[]): Promise<string[]> {
    const b = await backend();
    const { url } = await fastifyApp((app) =>
      app.register(switchyard, { prefix: '/api', rewritePrefix, upstream: { name: 'r', servers: [b.url] } }),
    );
    const urls: string[] = [];
    for (const path of paths) urls.push(echoed(await send(url, { path })).url);
    return urls;
  }

  it('replaces the prefix in the URL sent upstream', async () => {
    expect(await forwardedUrls('/v1', ['/api/users?x=1', '/api', '/api?y=2', '/api/'])).toEqual([
      '/v1/users?x=1',
      '/v1',
      '/v1?y=2',
      '/v1/',
    ]);
  });

  it('strips the prefix with an empty rewritePrefix', async () => {
    expect(await forwardedUrls('', ['/api/users?x=1', '/api', '/api?y=2'])).toEqual([
      '/users?x=1',
      '/',
      '/?y=2',
    ]);
  });

  it('rewrites the prefix of WebSocket upgrades', async () => {
    const up = await wsEcho('echo');
    const { port } = await fastifyApp((app) =>
      app.register(switchyard, {
        prefix: '/api',
        rewritePrefix: '/v1',
        upstream: { name: 'w', servers: [up.url] },
        websocket: true,
      }),
    );
    expect(await talk(`ws://127.0.0.1:${port}/api/socket?t=1`, ['hi'])).toEqual(['echo hi']);
    expect(up.urls).toEqual(['/v1/socket?t=1']);
  });

  it.each([
    ['v1', '"v1"'],
    [42, '42'],
  ])('refuses rewritePrefix %j when registered, naming the option', async (rewritePrefix, shown) => {
    const app = Fastify();
    closers.push(() => app.close());
    const options = { rewritePrefix, upstream: { name: 'r', servers: ['http://127.0.0.1:1'] } };
    await expect(app.register(switchyard, options as SwitchyardFastifyOptions)).rejects.toMatchObject({
      code: 'SWY_ERR_INVALID_OPTION',
      path: 'rewritePrefix',
      message: `rewritePrefix: expected '' or a path starting with /, got ${shown}`,
    });
  });
});
