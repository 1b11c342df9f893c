import { createServer } from 'node:http';
import { deadPort, type Listening, listen, manualClock, waitFor } from '@switchyard/testkit';
import { describe, expect, it } from 'vitest';
import { createUpstream } from '../src/index.js';
import { fixtures, send } from './helpers.js';

const { closers, backend, proxyFor } = fixtures();

/** A backend that reads the request and then drops the connection without answering. */
async function resetter(): Promise<Listening & { hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => res.socket?.destroy());
  });
  const l = await listen(server);
  closers.push(() => l.close());
  return Object.assign(l, { hits: () => hits });
}

describe('next upstream', () => {
  it('sends a GET to the next peer when the first refuses the connection', async () => {
    const good = await backend();
    const port = await deadPort();
    const { f, errors } = await proxyFor({
      upstream: { name: 'u', servers: [`http://127.0.0.1:${port}`, good.url] },
    });
    const r = await send(f.url, { path: '/a' });
    expect(r.status).toBe(200);
    expect(r.headers['x-backend']).toBe(String(good.port));
    expect(errors.map((e) => e.code)).toEqual(['SWY_ERR_UPSTREAM']);
  });

  it('retries a GET whose peer reset the connection after reading it', async () => {
    const bad = await resetter();
    const good = await backend();
    const { f } = await proxyFor({ upstream: { name: 'u', servers: [bad.url, good.url] } });
    const r = await send(f.url);
    expect(r.status).toBe(200);
    expect(bad.hits()).toBe(1);
  });

  it('does not resend a POST that reached a peer which then failed', async () => {
    const bad = await resetter();
    const good = await backend();
    const { f } = await proxyFor({ upstream: { name: 'u', servers: [bad.url, good.url] } });
    const r = await send(f.url, { method: 'POST', body: 'x' });
    expect(r.status).toBe(502);
    expect(r.body).toBe('502 Bad Gateway\n');
    expect(good.requests).toHaveLength(0);
  });

  it('resends such a POST with nonIdempotent', async () => {
    const bad = await resetter();
    const good = await backend();
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [bad.url, good.url] },
      nonIdempotent: true,
    });
    const r = await send(f.url, { method: 'POST', headers: { 'content-length': '0' } });
    expect(r.status).toBe(200);
    expect(good.requests).toHaveLength(1);
  });

  it('resends a POST with a body whose first peer refused the connection', async () => {
    const good = await backend();
    const port = await deadPort();
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [`http://127.0.0.1:${port}`, good.url] },
    });
    const r = await send(f.url, { method: 'POST', body: 'payload' });
    expect(r.status).toBe(200);
    expect(good.requests[0]?.body).toBe('payload');
  });

  it('passes to the next peer on a listed status, and relays the last one when none is left', async () => {
    const busy = await backend((_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    });
    const good = await backend();
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [busy.url, good.url] },
      nextUpstream: ['error', 'timeout', 'http_503'],
    });
    expect((await send(f.url)).status).toBe(200);
    expect(busy.requests).toHaveLength(1);

    const busy2 = await backend((_req, res) => {
      res.statusCode = 503;
      res.end('busy two');
    });
    const { f: f2 } = await proxyFor({
      upstream: { name: 'u2', servers: [busy.url, busy2.url] },
      nextUpstream: ['http_503'],
    });
    const r = await send(f2.url);
    expect(r.status).toBe(503);
    expect(['busy', 'busy two']).toContain(r.body);
    expect(busy.requests.length + busy2.requests.length).toBe(3);
  });

  it('relays an unlisted 5xx without trying another peer', async () => {
    const busy = await backend((_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    });
    const good = await backend();
    const { f } = await proxyFor({ upstream: { name: 'u', servers: [busy.url, good.url] } });
    const r = await send(f.url);
    expect(r.status).toBe(503);
    expect(good.requests).toHaveLength(0);
  });

  it('makes at most `tries` attempts', async () => {
    const ports = [await deadPort(), await deadPort(), await deadPort()];
    const good = await backend();
    const { f, errors } = await proxyFor({
      upstream: { name: 'u', servers: [...ports.map((p) => `http://127.0.0.1:${p}`), good.url] },
      tries: 2,
    });
    const r = await send(f.url);
    expect(r.status).toBe(502);
    expect(errors.filter((e) => e.code === 'SWY_ERR_UPSTREAM')).toHaveLength(2);
  });

  it('makes no new attempt after tryTimeoutMs', async () => {
    // undici checks these timeouts on a clock of about half a second: the answer comes late.
    const slow = await backend((_req, res) => {
      setTimeout(() => res.end('late'), 5_000).unref();
    });
    const good = await backend();
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [slow.url, good.url] },
      headersTimeoutMs: 100,
      tryTimeoutMs: 50,
    });
    const r = await send(f.url);
    expect(r.status).toBe(504);
    expect(r.body).toBe('504 Gateway Timeout\n');
    expect(good.requests).toHaveLength(0);
  });

  it('does nothing more with nextUpstream false', async () => {
    const port = await deadPort();
    const good = await backend();
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [`http://127.0.0.1:${port}`, good.url] },
      nextUpstream: false,
    });
    expect((await send(f.url)).status).toBe(502);
    expect(good.requests).toHaveLength(0);
  });
});

describe('passive health (max_fails / fail_timeout)', () => {
  it('rests a peer after maxFails failures within failTimeoutMs, then lets one request probe it', async () => {
    const clock = manualClock();
    let failing = true;
    const flaky = await backend((_req, res) => {
      if (failing) {
        res.statusCode = 502;
        res.end('down');
      } else res.end('flaky ok');
    });
    const steady = await backend((_req, res) => res.end('steady'));
    const upstream = createUpstream({
      name: 'p',
      servers: [
        { url: flaky.url, maxFails: 2, failTimeoutMs: 30_000 },
        { url: steady.url, maxFails: 2, failTimeoutMs: 30_000 },
      ],
      clock,
    });
    const { f } = await proxyFor({ upstream, nextUpstream: ['error', 'timeout', 'http_502'] });
    const flakyPeer = upstream.get(flaky.hostPort);
    if (flakyPeer === undefined) throw new Error('peer missing');

    // Two failures (each retried on steady) make flaky unavailable.
    for (let i = 0; i < 4; i++) expect((await send(f.url)).body).toBe('steady');
    expect(flaky.requests).toHaveLength(2);
    expect(upstream.stateOf(flakyPeer)).toBe('unavail');

    // While it rests, nothing goes to it.
    clock.advance(29_000);
    for (let i = 0; i < 4; i++) expect((await send(f.url)).body).toBe('steady');
    expect(flaky.requests).toHaveLength(2);

    // After fail_timeout one request probes it; it succeeds and the peer is back.
    clock.advance(1_001);
    failing = false;
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) bodies.push((await send(f.url)).body);
    expect(bodies.filter((b) => b === 'flaky ok').length).toBe(2);
    expect(upstream.stateOf(flakyPeer)).toBe('up');
    expect(flakyPeer.passive.fails).toBe(0);
  });

  it('sends a failed probe back to rest for another failTimeoutMs', async () => {
    const clock = manualClock();
    const flaky = await backend((_req, res) => {
      res.statusCode = 502;
      res.end('down');
    });
    const steady = await backend((_req, res) => res.end('steady'));
    const upstream = createUpstream({
      name: 'p',
      servers: [
        { url: flaky.url, failTimeoutMs: 10_000 },
        { url: steady.url, failTimeoutMs: 10_000 },
      ],
      clock,
    });
    const { f } = await proxyFor({ upstream, nextUpstream: ['http_502'] });
    await send(f.url);
    expect(flaky.requests).toHaveLength(1);
    clock.advance(10_001);
    const seq: string[] = [];
    for (let i = 0; i < 4; i++) seq.push((await send(f.url)).body);
    expect(flaky.requests).toHaveLength(2);
    clock.advance(5_000);
    await send(f.url);
    expect(flaky.requests).toHaveLength(2);
    const peer = upstream.get(flaky.hostPort);
    expect(peer && upstream.stateOf(peer)).toBe('unavail');
    expect(peer?.unavailCount).toBe(2);
  });

  it('ignores max_fails for a lone server, as nginx does', async () => {
    const port = await deadPort();
    const upstream = createUpstream({ name: 'lone', servers: [`http://127.0.0.1:${port}`] });
    const { f } = await proxyFor({ upstream });
    expect((await send(f.url)).status).toBe(502);
    expect((await send(f.url)).status).toBe(502);
    const peer = upstream.primaries[0];
    expect(peer && upstream.stateOf(peer)).toBe('up');
  });
});

describe('which peers may be chosen', () => {
  it('uses backups only while no primary can take the request', async () => {
    const primary = await backend((_req, res) => res.end('primary'));
    const spare = await backend((_req, res) => res.end('backup'));
    const upstream = createUpstream({ name: 'b', servers: [primary.url, { url: spare.url, backup: true }] });
    const { f } = await proxyFor({ upstream });
    expect((await send(f.url)).body).toBe('primary');
    upstream.patch(primary.hostPort, { down: true });
    expect((await send(f.url)).body).toBe('backup');
    upstream.patch(primary.hostPort, { down: false });
    expect((await send(f.url)).body).toBe('primary');
  });

  it('skips a peer at maxConns and answers 502 when every peer is full', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const slow = await backend(async (_req, res) => {
      await gate;
      res.end('slow');
    });
    const other = await backend((_req, res) => res.end('other'));
    const upstream = createUpstream({
      name: 'm',
      servers: [
        { url: slow.url, maxConns: 1 },
        { url: other.url, maxConns: 1 },
      ],
    });
    const { f, errors } = await proxyFor({ upstream });
    const first = send(f.url); // takes slow, stays in flight
    await waitFor(() => slow.requests.length === 1);
    const second = await send(f.url); // slow is full: other
    expect(second.body).toBe('other');
    upstream.patch(other.hostPort, { down: true });
    const third = await send(f.url); // slow full, other down: no live upstreams
    expect(third.status).toBe(502);
    expect(errors.some((e) => e.code === 'SWY_ERR_NO_LIVE_UPSTREAM')).toBe(true);
    release();
    expect((await first).body).toBe('slow');
  });
});
