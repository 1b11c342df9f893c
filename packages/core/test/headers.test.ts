import { connect } from 'node:net';
import { type Backend, startBackend } from '@switchyard/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProxy, type ReverseProxy } from '../src/index.js';
import { echoed, front, send } from './helpers.js';

describe('headers on the way through', () => {
  let backend: Backend;
  let proxy: ReverseProxy;
  let f: Awaited<ReturnType<typeof front>>;

  async function setup(
    options: Partial<Parameters<typeof createProxy>[0]> = {},
    handler?: Parameters<typeof startBackend>[0],
  ) {
    backend = await startBackend(handler);
    proxy = createProxy({ upstream: { name: 'h', servers: [backend.url] }, ...options });
    f = await front(proxy);
  }
  beforeEach(() => {
    backend = undefined as unknown as Backend;
  });
  afterEach(async () => {
    await proxy?.close();
    await f?.close();
    await backend?.close();
  });

  it('drops hop-by-hop request fields and every field Connection names', async () => {
    await setup();
    const r = await send(f.url, {
      path: '/x?y=1',
      headers: {
        connection: 'keep-alive, x-secret-hop',
        'keep-alive': 'timeout=5',
        'x-secret-hop': 'drop me',
        'proxy-connection': 'keep-alive',
        te: 'trailers',
        upgrade: 'h2c',
        'x-end-to-end': 'keep me',
      },
    });
    const seen = echoed(r);
    expect(seen.url).toBe('/x?y=1');
    expect(seen.headers['x-end-to-end']).toBe('keep me');
    for (const h of ['x-secret-hop', 'keep-alive', 'proxy-connection', 'te', 'upgrade']) {
      expect(seen.headers[h]).toBeUndefined();
    }
  });

  it('drops hop-by-hop response fields and every field the upstream Connection names', async () => {
    await setup({}, (_req, res) => {
      res.setHeader('connection', 'x-internal');
      res.setHeader('x-internal', 'secret');
      res.setHeader('keep-alive', 'timeout=99');
      res.setHeader('x-public', 'yes');
      res.end('ok');
    });
    const r = await send(f.url);
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
    expect(r.headers['x-public']).toBe('yes');
    expect(r.headers['x-internal']).toBeUndefined();
    expect(r.headers['keep-alive']).not.toBe('timeout=99');
  });

  it('keeps the client Host by default and sends the peer host:port with host "peer"', async () => {
    await setup();
    expect(echoed(await send(f.url, { headers: { host: 'shop.example' } })).headers.host).toBe(
      'shop.example',
    );
    await proxy.close();
    await f.close();
    proxy = createProxy({ upstream: { name: 'h', servers: [backend.url] }, host: 'peer' });
    f = await front(proxy);
    expect(echoed(await send(f.url, { headers: { host: 'shop.example' } })).headers.host).toBe(
      backend.hostPort,
    );
  });

  it('replaces X-Forwarded-* from an untrusted client', async () => {
    await setup();
    const seen = echoed(
      await send(f.url, {
        headers: {
          host: 'a.example',
          'x-forwarded-for': '6.6.6.6',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'evil.example',
        },
      }),
    ).headers;
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('a.example');
  });

  it('appends to X-Forwarded-For and keeps X-Forwarded-Proto/Host from a trusted proxy', async () => {
    await setup({ trustProxy: 'loopback' });
    const seen = echoed(
      await send(f.url, {
        headers: {
          host: 'a.example',
          'x-forwarded-for': '203.0.113.7',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'public.example',
        },
      }),
    ).headers;
    expect(seen['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen['x-forwarded-host']).toBe('public.example');
  });

  it('streams a chunked request body upstream without Transfer-Encoding and Content-Length together', async () => {
    await setup();
    const seenRaw = await new Promise<string>((resolve, reject) => {
      const s = connect(f.port, '127.0.0.1', () => {
        s.write(
          'POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
            '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
        );
      });
      let data = '';
      s.on('data', (c) => {
        data += c;
      });
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    const body = seenRaw.slice(seenRaw.indexOf('\r\n\r\n') + 4);
    // the answer itself may be chunked: take the JSON out of it
    const json = JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1));
    expect(json.body).toBe('hello world');
    expect(
      json.headers['content-length'] !== undefined && json.headers['transfer-encoding'] !== undefined,
    ).toBe(false);
  });

  it('answers Expect: 100-continue and does not pass it upstream', async () => {
    await setup();
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(f.port, '127.0.0.1', () => {
        s.write(
          'PUT /e HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
        );
      });
      let data = '';
      let sentBody = false;
      s.on('data', (c) => {
        data += c;
        if (!sentBody && data.includes('100 Continue')) {
          sentBody = true;
          s.write('ping');
        }
      });
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    expect(raw).toContain('HTTP/1.1 100 Continue');
    const json = JSON.parse(raw.slice(raw.indexOf('{'), raw.lastIndexOf('}') + 1));
    expect(json.body).toBe('ping');
    expect(json.headers.expect).toBeUndefined();
    expect(json.headers['content-length']).toBe('4');
  });

  it('passes status, reason phrase and repeated headers back unchanged', async () => {
    await setup({}, (_req, res) => {
      res.statusMessage = 'Made It';
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.writeHead(201);
      res.end('created');
    });
    const r = await send(f.url);
    expect(r.status).toBe(201);
    expect(r.statusText).toBe('Made It');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(r.body).toBe('created');
  });

  it('answers 400 to a request-target it cannot forward', async () => {
    await setup();
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect(f.port, '127.0.0.1', () => {
        s.write('OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      });
      let data = '';
      s.on('data', (c) => {
        data += c;
      });
      s.on('end', () => resolve(data));
      s.on('error', reject);
    });
    expect(raw.startsWith('HTTP/1.1 400')).toBe(true);
    expect(backend.requests).toHaveLength(0);
  });
});
