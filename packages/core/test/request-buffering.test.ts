import { request } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { listen, startBackend } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy, type ProxyOptions } from '../src/index.js';
import { front } from './helpers.js';

describe('request buffering (nginx proxy_request_buffering)', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()?.();
  });

  /** A peer that reads what comes and closes the connection without answering. */
  async function closing() {
    const sockets = new Set<Socket>();
    const server = createTcpServer((socket) => {
      sockets.add(socket);
      socket.on('data', () => setImmediate(() => socket.destroy()));
    });
    const l = await listen(server as never);
    closers.push(async () => {
      for (const s of sockets) s.destroy();
      await l.close();
    });
    return l.url;
  }

  async function proxyFor(options: Partial<ProxyOptions>) {
    const bad = await closing();
    const good = await startBackend();
    const proxy = createProxy({
      upstream: { name: 'app', servers: [bad, good.url] },
      onError: () => {},
      ...options,
    });
    const f = await front(proxy);
    closers.push(
      () => good.close(),
      () => proxy.close(),
      () => f.close(),
    );
    return { url: f.url, good };
  }

  /** Sends `method` with a body written in `parts`, chunked, a little apart. */
  function upload(url: string, method: string, parts: string[]): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(url);
      const req = request({ host: u.hostname, port: u.port, method, path: '/up', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      let i = 0;
      const next = (): void => {
        if (i === parts.length) {
          req.end();
          return;
        }
        req.write(parts[i++]);
        setTimeout(next, 5);
      };
      next();
    });
  }

  it('sends a PUT again to the next peer when the first closes the connection', async () => {
    const buffered = await proxyFor({ requestBuffering: true });
    const r = await upload(buffered.url, 'PUT', ['one,', 'two,', 'three']);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).body).toBe('one,two,three');
    // Buffered, the body goes with a length instead of chunked.
    expect(buffered.good.requests[0]?.headers['content-length']).toBe('13');

    const streamed = await proxyFor({});
    expect((await upload(streamed.url, 'PUT', ['one,', 'two'])).status).toBe(502);
  });

  it('sends a POST again only with nonIdempotent, as nginx', async () => {
    const plain = await proxyFor({ requestBuffering: true });
    expect((await upload(plain.url, 'POST', ['a=1'])).status).toBe(502);
    const allowed = await proxyFor({ requestBuffering: true, nonIdempotent: true });
    const r = await upload(allowed.url, 'POST', ['a=1', '&b=2']);
    expect([r.status, JSON.parse(r.body).body]).toEqual([200, 'a=1&b=2']);
  });

  it('streams the rest of a body past requestBufferBytes, whole, and then cannot resend it', async () => {
    const good = await startBackend();
    const proxy = createProxy({
      upstream: { name: 'app', servers: [good.url] },
      requestBuffering: true,
      requestBufferBytes: 8,
    });
    const f = await front(proxy);
    closers.push(
      () => good.close(),
      () => proxy.close(),
      () => f.close(),
    );
    const parts = ['0123456', '789abcdef', 'ghij'];
    const r = await upload(f.url, 'PUT', parts);
    expect([r.status, JSON.parse(r.body).body]).toEqual([200, parts.join('')]);
    const over = await proxyFor({ requestBuffering: true, requestBufferBytes: 8 });
    expect((await upload(over.url, 'PUT', parts)).status).toBe(502);
  });

  it('answers 413 once a buffered chunked body passes clientMaxBodySize', async () => {
    const { url, good } = await proxyFor({ requestBuffering: true, clientMaxBodySize: 10 });
    expect((await upload(url, 'PUT', ['12345', '67890', 'abc'])).status).toBe(413);
    expect(good.requests).toHaveLength(0);
  });
});
