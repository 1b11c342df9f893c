import { Agent, request } from 'node:http';
import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createCache, memoryStore } from '@switchyard/cache';
import { compileNginx } from '@switchyard/rewrite';
import { deadPort, waitFor } from '@switchyard/testkit';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { resolveProxyOptions } from '../src/proxy/options.js';
import { echoed, echoedRaw, fixtures, rawExchange, send } from './helpers.js';

const { closers, backend, proxyFor, wsBackend } = fixtures();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bodies of the form `<…>` in a raw stream of responses, in order. */
function bodies(raw: string): string[] {
  return raw.match(/<[^<>]*>/g) ?? [];
}

/** Listens on 127.0.0.1 port 0 with a raw TCP server; `close` destroys every socket. */
async function listenNet(server: NetServer): Promise<{ port: number; url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const l = {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  closers.push(() => l.close());
  return l;
}

describe('pipelined requests', () => {
  it('sends the pipelined requests of one connection upstream one at a time, answered in order', async () => {
    let active = 0;
    let most = 0;
    const b = await backend(async (req, res) => {
      active++;
      most = Math.max(most, active);
      await sleep(5);
      active--;
      res.end(`<${req.url}>`);
    });
    const { f } = await proxyFor({ upstream: { name: 'p', servers: [b.url] } });
    const n = 20;
    let payload = '';
    for (let i = 0; i < n; i++) payload += `GET /p/${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
    const raw = await rawExchange(f.port, payload, { until: (d) => bodies(d).length === n });
    expect(bodies(raw)).toEqual(Array.from({ length: n }, (_, i) => `</p/${i}>`));
    expect(most).toBe(1);
  });

  it('still serves another client while a pipelined burst waits its turn', async () => {
    const b = await backend(async (req, res) => {
      if (req.url?.startsWith('/slow')) await sleep(20);
      res.end(`<${req.url}>`);
    });
    const { f } = await proxyFor({ upstream: { name: 'p', servers: [b.url] } });
    let payload = '';
    for (let i = 0; i < 10; i++) payload += `GET /slow/${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
    const burst = rawExchange(f.port, payload, { until: (d) => bodies(d).length === 10 });
    await waitFor(() => b.requests.length >= 1);
    const other = await send(f.url, { path: '/other' });
    expect(other.body).toBe('</other>');
    expect(b.requests.filter((r) => r.url.startsWith('/slow')).length).toBeLessThan(10);
    expect(bodies(await burst)).toHaveLength(10);
  });

  it('goes on with the queued requests after one fails', async () => {
    const b = await backend((req, res) => {
      if (req.url === '/fail') res.socket?.destroy();
      else res.end(`<${req.url}>`);
    });
    const { f } = await proxyFor({ upstream: { name: 'p', servers: [b.url] } });
    const payload = ['/a', '/fail', '/b'].map((p) => `GET ${p} HTTP/1.1\r\nHost: a\r\n\r\n`).join('');
    const raw = await rawExchange(f.port, payload, { until: (d) => bodies(d).length === 2 });
    expect(raw.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 502', 'HTTP/1.1 200']);
    expect(bodies(raw)).toEqual(['</a>', '</b>']);
  });

  it('sends nothing more upstream once the client closed a connection with requests queued', async () => {
    const b = await backend(async (req, res) => {
      await sleep(10);
      res.end(`<${req.url}>`);
    });
    const { f, proxy } = await proxyFor({ upstream: { name: 'p', servers: [b.url] } });
    let payload = '';
    for (let i = 0; i < 10; i++) payload += `GET /q/${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
    await rawExchange(f.port, payload, { until: (d) => bodies(d).length === 1 });
    await sleep(50);
    expect(b.requests.length).toBeLessThanOrEqual(2);
    await waitFor(() => proxy.upstream.primaries[0]?.active === 0);
  });

  it('keeps at most 128 connections per peer by default', () => {
    const o = resolveProxyOptions({ upstream: { name: 'c', servers: ['http://127.0.0.1:9'] } });
    expect(o.connectionsPerPeer).toBe(128);
  });
});

describe('upgrade requests go through the rules and locations', () => {
  async function setup() {
    const app = await backend();
    const api = await backend();
    const rules = compileNginx(`
      rewrite ^/old/(.*)$ /new/$1 permanent;
      rewrite ^/v1/(.*)$ /v2/$1 last;
      location /admin/ { return 403; }
      location ~* \\.(php|asp)$ { return 403; }
      location = /drop { return 444; }
      location /api/ { proxy_pass http://api; }
      location / { proxy_pass http://app; }
    `);
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [app.url] },
      upstreams: { api: { name: 'api', servers: [api.url] } },
      rewrite: rules,
    });
    return { app, api, f };
  }
  const upgrade = (path: string) =>
    `GET ${path} HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n`;

  it("answers a location's return, and a regex location's, without asking a peer", async () => {
    const { app, f } = await setup();
    const admin = await rawExchange(f.port, upgrade('/admin/secret'));
    expect(admin.startsWith('HTTP/1.1 403 ')).toBe(true);
    expect(admin.toLowerCase()).toContain('\r\nconnection: close\r\n');
    const php = await rawExchange(f.port, upgrade('/x/index.PHP'));
    expect(php.startsWith('HTTP/1.1 403 ')).toBe(true);
    expect(app.requests).toHaveLength(0);
  });

  it('answers a redirect, and closes the connection on 444', async () => {
    const { app, f } = await setup();
    const moved = await rawExchange(f.port, upgrade('/old/page'));
    expect(moved.startsWith('HTTP/1.1 301 ')).toBe(true);
    expect(moved.toLowerCase()).toContain(`\r\nlocation: http://example.com:${f.port}/new/page\r\n`);
    expect(await rawExchange(f.port, upgrade('/drop'))).toBe('');
    expect(app.requests).toHaveLength(0);
  });

  it("sends the rewritten URI, to the location's group", async () => {
    const { app, api, f } = await setup();
    expect(echoedRaw(await rawExchange(f.port, upgrade('/v1/thing'))).url).toBe('/v2/thing');
    expect(app.requests.map((r) => r.url)).toEqual(['/v2/thing']);
    expect(echoedRaw(await rawExchange(f.port, upgrade('/api/users'))).url).toBe('/api/users');
    expect(api.requests.map((r) => r.url)).toEqual(['/api/users']);
    expect(app.requests).toHaveLength(1);
  });
});

describe('header names with underscores', () => {
  it('drops them, in requests and upgrades, as nginx does by default', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'u', servers: [b.url] } });
    const seen = echoed(
      await send(f.url, { headers: { X_Forwarded_For: '6.6.6.6', x_custom: 'a', 'x-kept': 'b' } }),
    ).headers;
    expect(seen.x_forwarded_for).toBeUndefined();
    expect(seen.x_custom).toBeUndefined();
    expect(seen['x-kept']).toBe('b');
    const raw = await rawExchange(
      f.port,
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: foo\r\nX_Forwarded_For: 6.6.6.6\r\n\r\n',
    );
    expect(echoedRaw(raw).headers.x_forwarded_for).toBeUndefined();
  });

  it('passes them with underscoresInHeaders', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'u', servers: [b.url] }, underscoresInHeaders: true });
    expect(echoed(await send(f.url, { headers: { x_custom: 'a' } })).headers.x_custom).toBe('a');
  });
});

describe('send timeout', () => {
  it('closes a client that reads nothing for sendTimeoutMs, and frees the upstream side', async () => {
    let upstreamClosed = false;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const big = await backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.on('close', () => {
        upstreamClosed = true;
      });
      const pump = (): void => {
        while (!res.destroyed) {
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const { f, proxy } = await proxyFor({ upstream: { name: 's', servers: [big.url] }, sendTimeoutMs: 200 });
    let clientClosed = false;
    f.server.on('connection', (s) => s.on('close', () => (clientClosed = true)));
    const client = connect(f.port, '127.0.0.1', () => client.write('GET /big HTTP/1.1\r\nHost: a\r\n\r\n'));
    client.on('error', () => {});
    client.pause(); // never reads
    closers.push(() => void client.destroy());
    await waitFor(() => clientClosed && upstreamClosed);
    await waitFor(() => proxy.upstream.primaries[0]?.active === 0);
    expect(proxy.upstream.primaries[0]?.active).toBe(0);
  });
});

describe('kept-alive upstream connections the peer closed', () => {
  /** Answers the first request of a connection with keep-alive, and drops the connection at the next. */
  async function oneShot(reset: boolean) {
    const server = createNetServer((s) => {
      let served = false;
      s.on('error', () => {});
      s.on('data', () => {
        if (!served) {
          served = true;
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\n<ok>');
        } else if (reset) s.resetAndDestroy();
        else s.destroy();
      });
    });
    return listenNet(server);
  }

  for (const reset of [false, true]) {
    it(`resends on a fresh connection, counting no failure (${reset ? 'reset' : 'closed'})`, async () => {
      const b = await oneShot(reset);
      const { f, proxy, errors } = await proxyFor({ upstream: { name: 'k', servers: [b.url] } });
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) statuses.push((await send(f.url)).status);
      expect(statuses).toEqual(Array(10).fill(200));
      expect(proxy.upstream.primaries[0]?.failsTotal).toBe(0);
      expect(errors).toEqual([]);
    });
  }

  it('does not resend a POST whose request went out, as nginx does not', async () => {
    const b = await oneShot(false);
    const { f } = await proxyFor({ upstream: { name: 'k', servers: [b.url] } });
    expect((await send(f.url)).status).toBe(200);
    expect((await send(f.url, { method: 'POST', body: 'x' })).status).toBe(502);
  });
});

describe('responses without content (RFC 9110 §6.4.1)', () => {
  /**
   * A raw backend: `/bodiless` gets `response` as written, anything else a 200 `<fine>`;
   * connections are kept.
   */
  async function rawBackend(response: string) {
    const server = createNetServer((s) => {
      s.on('error', () => {});
      let buffered = '';
      s.on('data', (c: Buffer) => {
        buffered += c.toString('latin1');
        for (let end = buffered.indexOf('\r\n\r\n'); end !== -1; end = buffered.indexOf('\r\n\r\n')) {
          const head = buffered.slice(0, end);
          buffered = buffered.slice(end + 4);
          s.write(
            head.includes(' /bodiless ')
              ? response
              : 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\n<fine>',
          );
        }
      });
    });
    return listenNet(server);
  }

  /** A GET on a kept-alive client connection (the agent holds one socket at most). */
  function get(
    port: number,
    agent: Agent,
    path: string,
  ): Promise<{ status: number; body: string; reused: boolean }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reused: req.reusedSocket }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  const cases = [
    {
      name: 'a 304 with Content-Length: 100 and no body',
      status: 304,
      response: 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 100\r\n\r\n',
    },
    {
      name: 'a 204 that carries a body',
      status: 204,
      response: 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello',
    },
  ];
  for (const c of cases) {
    for (const cached of [false, true]) {
      it(`relays ${c.name} as a complete response${cached ? ' through a cache' : ''}; the client connection goes on`, async () => {
        const b = await rawBackend(c.response);
        const { f, proxy, errors } = await proxyFor({
          upstream: { name: 'n', servers: [b.url] },
          cache: cached ? createCache({ store: memoryStore() }) : undefined,
        });
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        closers.push(() => agent.destroy());
        const first = await get(f.port, agent, '/bodiless');
        expect([first.status, first.body]).toEqual([c.status, '']);
        const second = await get(f.port, agent, '/next');
        expect([second.status, second.body, second.reused]).toEqual([200, '<fine>', true]);
        const peer = proxy.upstream.primaries[0];
        expect([peer?.active, peer?.failsTotal, peer?.stats().responses.codes[c.status]]).toEqual([0, 0, 1]);
        expect(errors).toEqual([]);
      });
    }
  }
});

describe('WebSocket failover', () => {
  it('passes an upgrade to the next peer when the first refuses the connection', async () => {
    const up = await wsBackend((ws) => ws.send('hello'));
    const port = await deadPort();
    const { f, proxy, errors } = await proxyFor({
      upstream: { name: 'ws', servers: [`http://127.0.0.1:${port}`, up.url] },
    });
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}/chat`);
    closers.push(() => ws.terminate());
    const message = await new Promise<string>((resolve, reject) => {
      ws.on('message', (m) => resolve(String(m)));
      ws.on('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
      ws.on('error', reject);
    });
    expect(message).toBe('hello');
    expect(proxy.upstream.get(`127.0.0.1:${port}`)?.failsTotal).toBe(1);
    expect(errors.map((e) => e.code)).toEqual(['SWY_ERR_UPSTREAM']);
  });
});

describe('requests nginx refuses', () => {
  it('answers 431 when Node dropped header lines, rather than forward a request without its body', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'r', servers: [b.url] } });
    const many = 'X:1\r\n'.repeat(3000);
    const raw = await rawExchange(
      f.port,
      `POST /many HTTP/1.1\r\nHost: a\r\n${many}Content-Length: 5\r\n\r\nhello`,
    );
    expect(raw.startsWith('HTTP/1.1 431 ')).toBe(true);
    expect(b.requests).toHaveLength(0);
  });

  it('answers 400 to two Host fields', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'r', servers: [b.url] } });
    const raw = await rawExchange(f.port, 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n');
    expect(raw.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(b.requests).toHaveLength(0);
  });

  it('answers 501 to a Transfer-Encoding other than chunked, and 400 to one in HTTP/1.0', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'r', servers: [b.url] } });
    const gzip = await rawExchange(
      f.port,
      'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    expect(gzip.startsWith('HTTP/1.1 501 ')).toBe(true);
    const old = await rawExchange(
      f.port,
      'POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    expect(old.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(b.requests).toHaveLength(0);
  });

  it('sends an h2c upgrade as an ordinary request, without the fields its Connection names', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'r', servers: [b.url] } });
    const raw = await rawExchange(
      f.port,
      'GET /h HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
        'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
    );
    expect(raw.startsWith('HTTP/1.1 200 ')).toBe(true);
    const seen = echoedRaw(raw).headers;
    expect(seen.upgrade).toBeUndefined();
    expect(seen['http2-settings']).toBeUndefined();
    expect(seen.connection).not.toMatch(/upgrade/i);
  });

  it('drops the fields Connection names from an upgrade request', async () => {
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'r', servers: [b.url] } });
    const raw = await rawExchange(
      f.port,
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, X-Hop\r\nUpgrade: foo\r\nX-Hop: secret\r\n\r\n',
    );
    expect(echoedRaw(raw).headers['x-hop']).toBeUndefined();
  });
});
