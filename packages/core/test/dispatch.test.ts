import { request } from 'node:http';
import { createServer as createNetServer, type Socket } from 'node:net';
import { Pool } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { fixtures, send } from './helpers.js';

const { closers, backend, proxyFor } = fixtures();
afterEach(() => {
  vi.restoreAllMocks();
});

/** A raw TCP backend that answers every request with `response`, keeping the connection. */
async function rawBackend(response: string): Promise<{ url: string }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buffered = '';
    s.on('data', (c: Buffer) => {
      buffered += c.toString('latin1');
      while (buffered.includes('\r\n\r\n')) {
        buffered = buffered.slice(buffered.indexOf('\r\n\r\n') + 4);
        s.write(response);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

/** The handler methods of undici's legacy API, which undici 8 no longer calls. */
const LEGACY = ['onConnect', 'onHeaders', 'onData', 'onComplete', 'onError', 'onUpgrade', 'onBodySent'];

/** What undici 8 requires of a handler (`assertRequestHandler`), and none of the legacy methods. */
function shapeOf(handler: object, upgrade: boolean): string[] {
  const problems: string[] = [];
  const has = (name: string) => typeof (handler as Record<string, unknown>)[name] === 'function';
  const needed = upgrade
    ? ['onRequestStart', 'onResponseError', 'onRequestUpgrade']
    : ['onRequestStart', 'onResponseError', 'onResponseStart', 'onResponseData', 'onResponseEnd'];
  for (const name of needed) if (!has(name)) problems.push(`missing ${name}`);
  for (const name of LEGACY) if (has(name)) problems.push(`legacy ${name}`);
  return problems;
}

describe('undici dispatch handlers', () => {
  it('hands undici handlers of its controller API, the only one undici 8 calls', async () => {
    const handlers: Array<{ handler: object; upgrade: boolean }> = [];
    const dispatch = Pool.prototype.dispatch;
    vi.spyOn(Pool.prototype, 'dispatch').mockImplementation(function (
      this: Pool,
      opts: Parameters<Pool['dispatch']>[0],
      handler: Parameters<Pool['dispatch']>[1],
    ) {
      handlers.push({ handler, upgrade: typeof opts.upgrade === 'string' });
      return dispatch.call(this, opts, handler);
    });
    const server = (await backend()).server;
    const wss = new WebSocketServer({ server });
    closers.push(() => wss.close());
    const b = server.address() as { port: number };
    const { f } = await proxyFor({ upstream: { name: 'h', servers: [`http://127.0.0.1:${b.port}`] } });
    expect((await send(f.url)).status).toBe(200);
    expect((await send(f.url, { method: 'POST', body: 'x'.repeat(1000) })).status).toBe(200);
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
    ws.close();
    expect(handlers.map((h) => h.upgrade)).toEqual([false, false, true]);
    for (const { handler, upgrade } of handlers) expect(shapeOf(handler, upgrade)).toEqual([]);
  });

  it('relays the response head with the names as the peer wrote them, in its order', async () => {
    const b = await rawBackend(
      'HTTP/1.1 200 OK\r\nX-Zeta: 1\r\ncontent-TYPE: text/plain\r\nSet-Cookie: a=1\r\nX-Alpha: 2\r\n' +
        'set-cookie: b=2\r\nETag: "v1"\r\nContent-Length: 2\r\n\r\nok',
    );
    const { f } = await proxyFor({ upstream: { name: 'h', servers: [b.url] } });
    const r = await send(f.url);
    const names = r.rawHeaders.filter((_, i) => i % 2 === 0);
    expect(names.slice(0, 7)).toEqual([
      'X-Zeta',
      'content-TYPE',
      'Set-Cookie',
      'X-Alpha',
      'set-cookie',
      'ETag',
      'Content-Length',
    ]);
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(r.body).toBe('ok');
  });

  it("counts a streamed request body's bytes as sent to the peer", async () => {
    const b = await backend((_req, res) => res.end('ok'));
    const { proxy, f } = await proxyFor({ upstream: { name: 'h', servers: [b.url] } });
    const peer = proxy.upstream.primaries[0];
    /** A chunked POST of `size` bytes, written in 1000-byte pieces. */
    const post = (size: number) =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: f.port, method: 'POST', path: '/up', agent: false },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        for (let n = 0; n < size; n += 1000) req.write('x'.repeat(1000));
        req.end();
      });
    await post(1000);
    const small = peer?.sent ?? 0;
    await post(101_000);
    // Same request head, so the difference is the body.
    expect((peer?.sent ?? 0) - small - small).toBe(100_000);
    expect(b.requests.map((r) => r.body.length)).toEqual([1000, 101_000]);
  });
});
