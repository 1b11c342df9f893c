import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import {
  createHealthCheck,
  createUpstream,
  type HealthCheck,
  type HealthCheckResult,
  type Peer,
  type Upstream,
  type UpstreamTlsOptions,
} from '@switchyard/core';
import { listen, manualTimers, waitFor } from '@switchyard/testkit';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtures, type Issued, issue, send } from './helpers.js';

// What connects to a peer besides the proxy's pools connects as the peer's group says.

let ca: Issued;
/** For `localhost` and 127.0.0.1, from `ca`. */
let localhost: Issued;
/** A client certificate for the proxy, from `ca`. */
let client: Issued;
/** A `localhost` certificate from a CA nobody trusts. */
let stranger: Issued;
beforeAll(() => {
  ca = issue('switchyard test CA', { ca: true });
  localhost = issue('localhost', { dns: ['localhost'], ips: ['127.0.0.1'], issuer: ca });
  client = issue('switchyard proxy', { issuer: ca });
  stranger = issue('localhost', {
    dns: ['localhost'],
    ips: ['127.0.0.1'],
    issuer: issue('stranger CA', { ca: true }),
  });
});

const { closers, proxyFor } = fixtures();

/** What a test server saw: requests as `METHOD url Host[ body]`, SNI names, connections open. */
interface Seen {
  requests: string[];
  sni: Array<string | false | null>;
  open: number;
}

/** Answers `state.status` on /healthz and `name` elsewhere, recording what it sees. */
function handler(name: string, state: { status: number }, seen: Seen): RequestListener {
  return (req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      seen.requests.push(`${req.method} ${req.url} ${req.headers.host}${body === '' ? '' : ` ${body}`}`);
      res.statusCode = req.url === '/healthz' ? state.status : 200;
      res.end(name);
    });
  };
}

function track(server: Server, seen: Seen): void {
  server.on('connection', (s: Socket) => {
    seen.open++;
    s.on('close', () => seen.open--);
  });
}

/** An HTTPS server on 127.0.0.1, closed after the test. */
async function httpsServer(
  name: string,
  tls: ServerOptions,
  state = { status: 200 },
): Promise<Seen & { port: number }> {
  const seen: Seen = { requests: [], sni: [], open: 0 };
  const server = createHttpsServer(tls, handler(name, state, seen));
  server.on('secureConnection', (s: TLSSocket) => seen.sni.push(s.servername));
  track(server, seen);
  const l = await listen(server);
  closers.push(() => l.close());
  return Object.assign(seen, { port: l.port });
}

/** An HTTP server on a unix socket in a temporary directory, both removed after the test. */
async function unixServer(name: string, state: { status: number }): Promise<Seen & { path: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'swy-hc-'));
  closers.push(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, `${name}.sock`);
  const seen: Seen = { requests: [], sni: [], open: 0 };
  const server = createServer(handler(name, state, seen));
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  track(server, seen);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return Object.assign(seen, { path });
}

/** A checker of `upstream` on /healthz with manual timers, stopped after the test. */
function checker(upstream: Upstream): HealthCheck {
  const checks = createHealthCheck(upstream, { uri: '/healthz', timers: manualTimers() });
  closers.push(() => checks.stop());
  return checks;
}

/** Each check's result for `peer`, as the upstream reports them. */
function results(upstream: Upstream, peer: Peer): HealthCheckResult[] {
  const all: HealthCheckResult[] = [];
  upstream.on('peer:checked', (p: Peer, r: HealthCheckResult) => {
    if (p === peer) all.push(r);
  });
  return all;
}

describe('active health checks connect as the peer’s group says', () => {
  it('checks an https peer of a private CA healthy when the group trusts the CA', async () => {
    const b = await httpsServer('a', { cert: localhost.cert, key: localhost.key });
    const up = createUpstream({
      name: 'app',
      servers: [`https://localhost:${b.port}`, 'http://127.0.0.1:9'],
      tls: { ca: ca.cert },
    });
    const peer = up.primaries[0] as Peer;
    const seen = results(up, peer);
    await checker(up).checkAll();
    expect(seen).toEqual([{ passed: true, status: 200 }]);
    expect(up.stateOf(peer)).toBe('up');
    expect([b.requests, b.sni]).toEqual([[`GET /healthz localhost:${b.port}`], ['localhost']]);
  });

  it('checks the same peer unhealthy when the group does not trust its CA', async () => {
    const b = await httpsServer('a', { cert: localhost.cert, key: localhost.key });
    const up = createUpstream({
      name: 'app',
      servers: [`https://localhost:${b.port}`, 'http://127.0.0.1:9'],
    });
    const peer = up.primaries[0] as Peer;
    const seen = results(up, peer);
    await checker(up).checkAll();
    // Node 24 adds a hint about --use-system-ca after the reason.
    expect(seen).toEqual([
      { passed: false, reason: expect.stringMatching(/^unable to verify the first certificate/) },
    ]);
    expect([up.stateOf(peer), b.requests]).toEqual(['unhealthy', []]);
  });

  it('shows the group’s client certificate to a peer that requires one', async () => {
    const b = await httpsServer('a', {
      cert: localhost.cert,
      key: localhost.key,
      ca: ca.cert,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const check = async (tls: UpstreamTlsOptions) => {
      const up = createUpstream({
        name: 'app',
        servers: [`https://localhost:${b.port}`, 'http://127.0.0.1:9'],
        tls,
      });
      await checker(up).checkAll();
      return up.stateOf(up.primaries[0] as Peer);
    };
    expect(await check({ ca: ca.cert, cert: client.cert, key: client.key })).toBe('up');
    expect(await check({ ca: ca.cert })).toBe('unhealthy');
    expect(b.requests).toEqual([`GET /healthz localhost:${b.port}`]);
  });

  it('checks a unix peer at its socket: healthy on 200, unhealthy on 500', async () => {
    const state = { status: 200 };
    const u = await unixServer('app', state);
    const up = createUpstream({ name: 'app', servers: [`unix:${u.path}`, 'http://127.0.0.1:9'] });
    const peer = up.primaries[0] as Peer;
    const seen = results(up, peer);
    const checks = checker(up);
    await checks.checkAll();
    expect(up.stateOf(peer)).toBe('up');
    state.status = 500;
    await checks.checkAll();
    expect(up.stateOf(peer)).toBe('unhealthy');
    expect(seen).toEqual([
      { passed: true, status: 200 },
      { passed: false, status: 500, reason: 'response did not match: status 500' },
    ]);
    expect(u.requests).toEqual(['GET /healthz localhost', 'GET /healthz localhost']);
  });

  it('closes a removed peer’s connection at once, and the others on stop', async () => {
    const a = await unixServer('a', { status: 200 });
    const b = await unixServer('b', { status: 200 });
    const up = createUpstream({ name: 'app', servers: [`unix:${a.path}`, `unix:${b.path}`] });
    const checks = checker(up);
    checks.start();
    await waitFor(() => a.requests.length === 1 && b.requests.length === 1);
    await waitFor(() => a.open === 1 && b.open === 1);
    up.remove(`unix:${a.path}`);
    await waitFor(() => a.open === 0);
    expect(b.open).toBe(1);
    await checks.stop();
    await waitFor(() => b.open === 0);
  });
});

describe('next upstream after a failed TLS handshake', () => {
  it('sends a POST on to the next peer when the first peer’s certificate does not verify', async () => {
    const bad = await httpsServer('bad', { cert: stranger.cert, key: stranger.key });
    const good = await httpsServer('good', { cert: localhost.cert, key: localhost.key });
    const { proxy, f, errors } = await proxyFor({
      upstream: {
        name: 'app',
        servers: [`https://localhost:${bad.port}`, `https://localhost:${good.port}`],
        tls: { ca: ca.cert },
      },
    });
    const r = await send(f.url, { method: 'POST', path: '/orders', body: 'one order' });
    expect([r.status, r.body]).toEqual([200, 'good']);
    expect(errors.map((e) => [e.code, (e.cause as { code?: string }).code])).toEqual([
      ['SWY_ERR_UPSTREAM', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
    ]);
    expect([bad.requests, good.requests]).toEqual([[], [`POST /orders ${new URL(f.url).host} one order`]]);
    expect(proxy.groups()[0]?.peers.map((p) => p.failsTotal)).toEqual([1, 0]);
  });
});
