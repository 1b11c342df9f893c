import type { ServerResponse } from 'node:http';
import { manualTimers, waitFor } from '@switchyard/testkit';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createHealthCheck } from '../src/index.js';
import { fixtures, type Reply, send } from './helpers.js';

const { closers, backend, proxyFor, wsBackend } = fixtures();

/** A backend that holds each response until the test lets it go. */
async function holding() {
  const held: ServerResponse[] = [];
  const b = await backend((_req, res) => {
    held.push(res);
  });
  return {
    url: b.url,
    held,
    release: () => {
      for (const res of held.splice(0)) res.end('done');
    },
  };
}

/** The outcome of a request: its reply, or the error that ended it. */
function settle(p: Promise<Reply>): Promise<Reply | Error> {
  return p.catch((err: Error) => err);
}

describe('proxy.close()', () => {
  it('gracefully: refuses new requests with 503 and Connection: close, and lets the one in flight finish', async () => {
    const b = await holding();
    const { f, proxy } = await proxyFor({ upstream: { name: 'u', servers: [b.url] } });
    const inFlight = send(f.url, { path: '/slow' });
    await waitFor(() => b.held.length === 1);
    let closed = false;
    const closing = proxy.close({ graceful: true, timeoutMs: 10_000 }).then(() => {
      closed = true;
    });
    const refused = await send(f.url, { path: '/new' });
    expect(refused.status).toBe(503);
    expect(refused.headers.connection).toBe('close');
    expect(closed).toBe(false);
    b.release();
    const r = await inFlight;
    expect(r.status).toBe(200);
    expect(r.body).toBe('done');
    await closing;
    expect(closed).toBe(true);
    expect(proxy.upstream.primaries[0]?.active).toBe(0);
  });

  it('gracefully: cuts what is still in flight when timeoutMs has passed', async () => {
    const b = await holding();
    const { f, proxy } = await proxyFor({ upstream: { name: 'u', servers: [b.url] } });
    const inFlight = settle(send(f.url));
    await waitFor(() => b.held.length === 1);
    await proxy.close({ graceful: true, timeoutMs: 50 });
    const r = await inFlight;
    // The upstream connection was destroyed under the request: the proxy answers 502.
    expect(r instanceof Error ? r.message : r.status).toBe(502);
    expect(proxy.upstream.primaries[0]?.active).toBe(0);
  });

  it('without graceful: cuts requests in flight at once and refuses new ones', async () => {
    const b = await holding();
    const { f, proxy, errors } = await proxyFor({ upstream: { name: 'u', servers: [b.url] } });
    const inFlight = settle(send(f.url));
    await waitFor(() => b.held.length === 1);
    await proxy.close();
    const r = await inFlight;
    expect(r instanceof Error ? r.message : r.status).toBe(502);
    expect(errors.map((e) => e.code)).toContain('SWY_ERR_UPSTREAM');
    expect((await send(f.url)).status).toBe(503);
  });

  it('closes open WebSocket tunnels', async () => {
    const up = await wsBackend((ws) => ws.send('hello'));
    const { f, proxy } = await proxyFor({ upstream: { name: 'ws', servers: [up.url] } });
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}/`);
    await new Promise((resolve, reject) => {
      ws.on('message', resolve);
      ws.on('error', reject);
    });
    const closedWs = new Promise((resolve) => ws.on('close', resolve));
    await proxy.close({ graceful: true, timeoutMs: 50 });
    await closedWs;
    expect(proxy.upstream.primaries[0]?.active).toBe(0);
  });

  it('stops the health checks of the group it made from options', async () => {
    const b = await backend();
    const { proxy } = await proxyFor({ upstream: { name: 'u', servers: [b.url] } });
    const timers = manualTimers();
    const checks = createHealthCheck(proxy.upstream, { uri: '/healthz', intervalMs: 1000, timers });
    closers.push(() => checks.stop());
    const probes = () => b.requests.filter((r) => r.url === '/healthz').length;
    checks.start();
    await waitFor(() => probes() === 1);
    expect(timers.pending()).toBe(1);
    await proxy.close();
    // The checker stopped: no timer waits, and time passing sends no probe.
    await waitFor(() => timers.pending() === 0);
    timers.advance(5_000);
    expect(probes()).toBe(1);
  });

  it('names a bad close option', async () => {
    const b = await backend();
    const { proxy } = await proxyFor({ upstream: { name: 'u', servers: [b.url] } });
    expect(() => proxy.close({ timeoutMs: -1 })).toThrow(/close\.timeoutMs.*-1/);
    expect(() => proxy.close({ graceful: 'yes' as unknown as boolean })).toThrow(/close\.graceful/);
  });
});
