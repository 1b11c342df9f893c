import { request } from 'node:http';
import { waitFor } from '@switchyard/testkit';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { fixtures, send } from './helpers.js';

const { backend, proxyFor, wsBackend } = fixtures();

describe('timeouts', () => {
  it('answers 504 when the response head does not come within headersTimeoutMs', async () => {
    const slow = await backend((_req, res) => {
      setTimeout(() => res.end('late'), 5_000).unref();
    });
    const { f, errors } = await proxyFor({
      upstream: { name: 't', servers: [slow.url] },
      headersTimeoutMs: 100,
    });
    const r = await send(f.url);
    expect(r.status).toBe(504);
    expect(errors[0]?.code).toBe('SWY_ERR_UPSTREAM_TIMEOUT');
  });

  it('tries the next peer after a timeout', async () => {
    const slow = await backend((_req, res) => {
      setTimeout(() => res.end('late'), 5_000).unref();
    });
    const quick = await backend((_req, res) => res.end('quick'));
    const { f } = await proxyFor({
      upstream: { name: 't', servers: [slow.url, quick.url] },
      headersTimeoutMs: 100,
    });
    const r = await send(f.url);
    expect(r.status).toBe(200);
    expect(r.body).toBe('quick');
    expect(slow.requests).toHaveLength(1);
  });

  it('cuts the client connection when the body stalls longer than bodyTimeoutMs', async () => {
    const stall = await backend((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('first part');
    });
    const { f, errors } = await proxyFor({
      upstream: { name: 't', servers: [stall.url] },
      bodyTimeoutMs: 100,
    });
    await expect(send(f.url)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    expect(errors.map((e) => e.code)).toEqual(['SWY_ERR_UPSTREAM_TIMEOUT']);
  });

  it('lets a stream pause as long as it likes with bodyTimeoutMs 0 (server-sent events)', async () => {
    const events = await backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      setTimeout(() => res.end('data: two\n\n'), 400).unref();
    });
    const { f, errors } = await proxyFor({
      upstream: { name: 'sse', servers: [events.url] },
      headersTimeoutMs: 100,
      bodyTimeoutMs: 0,
    });
    const r = await send(f.url);
    expect([r.status, r.body, errors]).toEqual([200, 'data: one\n\ndata: two\n\n', []]);
  });
});

describe('faults mid-way', () => {
  it('destroys the client connection when the upstream dies mid-response', async () => {
    const dying = await backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' }); // chunked: no length to betray a cut
      res.write('partial ');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const { f, errors } = await proxyFor({ upstream: { name: 'd', servers: [dying.url] } });
    await expect(send(f.url)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    expect(errors.map((e) => e.code)).toContain('SWY_ERR_UPSTREAM');
  });

  it('aborts the upstream request when the client goes away', async () => {
    let upstreamClosed: () => void = () => {};
    const closed = new Promise<void>((r) => {
      upstreamClosed = r;
    });
    const hanging = await backend((req, res) => {
      res.on('close', () => {
        if (!res.writableFinished) upstreamClosed();
      });
      res.writeHead(200);
      res.write('start');
      void req;
    });
    const { f, proxy } = await proxyFor({ upstream: { name: 'a', servers: [hanging.url] } });
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port: f.port, path: '/', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.end();
    });
    await closed;
    const peer = proxy.upstream.primaries[0];
    await waitFor(() => peer?.active === 0);
    expect(peer?.active).toBe(0);
  });

  it('applies backpressure: a client that does not read holds the upstream back', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let written = 0;
    const total = 256 * 1024 * 1024;
    const big = await backend((_req, res) => {
      res.writeHead(200, { 'content-length': String(total) });
      const pump = () => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      res.on('close', () => {
        written = Math.max(written, 0);
      });
    });
    const { f } = await proxyFor({ upstream: { name: 'bp', servers: [big.url] } });
    const req = request({ host: '127.0.0.1', port: f.port, path: '/', agent: false });
    const res = await new Promise<import('node:http').IncomingMessage>((resolve) => {
      req.on('response', resolve);
      req.end();
    });
    res.pause();
    await new Promise((r) => setTimeout(r, 300));
    // Socket buffers on three legs hold a few MB at most; without backpressure all 256 MB would go.
    expect(written).toBeLessThan(32 * 1024 * 1024);
    req.destroy();
  });
});

describe('WebSocket', () => {
  it('relays the upgrade and both directions of a WebSocket', async () => {
    const up = await wsBackend((ws, req) => {
      ws.send(`hello ${req.headers['x-forwarded-for']}`);
      ws.on('message', (m) => ws.send(`echo ${m}`));
    });
    const { f, proxy } = await proxyFor({ upstream: { name: 'ws', servers: [up.url] } });
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}/chat`);
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (m) => {
        messages.push(String(m));
        if (messages.length === 1) ws.send('ping');
        if (messages.length === 2) resolve();
      });
      ws.on('error', reject);
    });
    expect(messages).toEqual(['hello 127.0.0.1', 'echo ping']);
    expect(proxy.upstream.primaries[0]?.active).toBe(1);
    ws.close();
    await new Promise((r) => ws.on('close', r));
    await waitFor(() => proxy.upstream.primaries[0]?.active === 0);
    expect(proxy.upstream.primaries[0]?.active).toBe(0);
  });

  it('closes a tunnel whose peer sends nothing for bodyTimeoutMs (nginx proxy_read_timeout), not one that talks', async () => {
    const up = await wsBackend((ws, req) => {
      if (req.url === '/chatty') {
        const timer = setInterval(() => ws.send('tick'), 50);
        ws.on('close', () => clearInterval(timer));
      }
    });
    const { f, proxy } = await proxyFor({ upstream: { name: 'ws', servers: [up.url] }, bodyTimeoutMs: 300 });
    const open = (path: string) => {
      const ws = new WebSocket(`ws://127.0.0.1:${f.port}${path}`);
      const closed = new Promise<number>((resolve) => ws.on('close', () => resolve(Date.now())));
      return { ws, closed, opened: new Promise((resolve) => ws.on('open', resolve)) };
    };
    const quiet = open('/quiet');
    const chatty = open('/chatty');
    await Promise.all([quiet.opened, chatty.opened]);
    const openedAt = Date.now();
    const quietClosedAt = await quiet.closed;
    expect(quietClosedAt - openedAt).toBeGreaterThanOrEqual(250);
    // The talking tunnel outlived the quiet one's timeout and is still open.
    expect(chatty.ws.readyState).toBe(WebSocket.OPEN);
    chatty.ws.close();
    await chatty.closed;
    await waitFor(() => proxy.upstream.primaries[0]?.active === 0);
  });

  it('relays a refused upgrade as the upstream answered it', async () => {
    const b = await backend((_req, res) => {
      res.statusCode = 403;
      res.end('no sockets here');
    });
    const { f } = await proxyFor({ upstream: { name: 'ws', servers: [b.url] } });
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}/chat`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    expect(status).toBe(403);
  });

  it('answers 502 to an upgrade when the peer is down', async () => {
    const { f } = await proxyFor({
      upstream: { name: 'ws', servers: [{ url: 'http://127.0.0.1:1', down: true }] },
    });
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}/chat`);
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => {});
    });
    expect(status).toBe(502);
  });
});
