import { createServer } from 'node:http';
import { connect } from 'node:net';
import { listen } from '@switchyard/testkit';
import { describe, expect, it } from 'vitest';
import { nginxTimeouts } from '../src/index.js';

describe('nginxTimeouts', () => {
  it('gives a server nginx’s client timeouts and returns it', () => {
    const server = createServer();
    expect(nginxTimeouts(server)).toBe(server);
    expect(server.headersTimeout).toBe(60_000);
    expect(server.requestTimeout).toBe(60_000);
    expect(server.keepAliveTimeout).toBe(75_000);
  });

  it('takes overrides, 0 turning the request timeout off', () => {
    const server = nginxTimeouts(createServer(), {
      clientHeaderTimeoutMs: 5_000,
      clientBodyTimeoutMs: 0,
      keepAliveTimeoutMs: 10_000,
    });
    expect([server.headersTimeout, server.requestTimeout, server.keepAliveTimeout]).toEqual([
      5_000, 0, 10_000,
    ]);
  });

  it('refuses a header timeout longer than the request timeout, and unknown or bad values', () => {
    expect(() =>
      nginxTimeouts(createServer(), { clientHeaderTimeoutMs: 2_000, clientBodyTimeoutMs: 1_000 }),
    ).toThrow(/clientHeaderTimeoutMs/);
    expect(() => nginxTimeouts(createServer(), { keepAliveTimeoutMs: -1 })).toThrow(/keepAliveTimeoutMs/);
    expect(() => nginxTimeouts(createServer(), { sendTimeoutMs: 1 } as never)).toThrow(/sendTimeoutMs/);
  });

  it('cuts a slowloris client that sends its head a byte at a time, within the header timeout', async () => {
    // Node checks the timeouts every connectionsCheckingInterval: 200 ms here.
    const server = nginxTimeouts(
      createServer({ connectionsCheckingInterval: 200 }, (_req, res) => res.end('ok')),
      { clientHeaderTimeoutMs: 1_000 },
    );
    const l = await listen(server);
    const head = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n';
    try {
      const { elapsedMs, answer } = await new Promise<{ elapsedMs: number; answer: string }>((resolve) => {
        const t0 = performance.now();
        let answer = '';
        let sent = 0;
        const s = connect(l.port, '127.0.0.1');
        // One byte every 200 ms: the head would take ~15 s to arrive whole.
        const drip = setInterval(() => {
          if (sent < head.length && !s.destroyed) s.write(head[sent++] as string);
        }, 200);
        // The test stops by itself even if the server never cuts.
        const giveUp = setTimeout(() => s.destroy(), 5_000);
        s.setEncoding('latin1');
        s.on('data', (c: string) => {
          answer += c;
        });
        s.on('error', () => {});
        s.on('close', () => {
          clearInterval(drip);
          clearTimeout(giveUp);
          resolve({ elapsedMs: performance.now() - t0, answer });
        });
      });
      expect(elapsedMs).toBeLessThan(1_000 + 200 + 500);
      expect(elapsedMs).toBeGreaterThanOrEqual(900);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await l.close();
    }
  });
});
