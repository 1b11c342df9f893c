import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  createSecureServer,
  type IncomingHttpHeaders as H2Headers,
  connect as h2connect,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createProxy, type ProxyOptions, type SwitchyardError } from '@switchyard/core';
import { compileNginx } from '@switchyard/rewrite';
import { deadPort, listen, waitFor } from '@switchyard/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures, type Issued, issue } from './helpers.js';

// TLS and HTTP/2 terminated in front of the proxy (`https.createServer(proxy.handler)`,
// `http2.createSecureServer({ allowHTTP1: true }, proxy.handler)`), HTTP/1.1 to the peers.

const { closers, backend } = fixtures();

let ca: Issued;
let localhost: Issued;
beforeAll(() => {
  ca = issue('switchyard test CA', { ca: true });
  localhost = issue('localhost', { dns: ['localhost'], ips: ['127.0.0.1'], issuer: ca });
});

/** Node's warnings while this file runs: Node's HTTP/2 server warns when given what h2 has not. */
const warnings: string[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w.message);
};
beforeAll(() => {
  process.on('warning', onWarning);
});
afterAll(() => {
  process.off('warning', onWarning);
});

/** Listens on 127.0.0.1 port 0; closed after the test, its sockets cut. */
async function listenOn(server: Server): Promise<number> {
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  // A TLS server's `connection` is the TCP socket under each TLS one.
  server.on('connection', track);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A proxy to `servers` behind an `http2.createSecureServer({ allowHTTP1: true })`; its port. */
async function h2Front(
  servers: string[],
  more: Partial<ProxyOptions> = {},
): Promise<{ port: number; errors: SwitchyardError[] }> {
  const errors: SwitchyardError[] = [];
  const proxy = createProxy({
    upstream: { name: 'app', servers },
    onError: (e) => errors.push(e),
    ...more,
  });
  const server = createSecureServer(
    { cert: localhost.cert, key: localhost.key, allowHTTP1: true },
    proxy.handler,
  );
  const port = await listenOn(server as unknown as Server);
  closers.push(() => proxy.close());
  return { port, errors };
}

/** An h2 client session to `localhost:<port>`, trusting the test CA; closed after the test. */
function h2Client(port: number): ClientHttp2Session {
  const session = h2connect(`https://localhost:${port}`, { ca: ca.cert });
  session.on('error', () => {});
  closers.push(() => {
    session.destroy();
  });
  return session;
}

interface H2Reply {
  status: number;
  headers: H2Headers;
  body: string;
  /** The trailers the stream ended with, if any. */
  trailers: H2Headers | undefined;
}

/** Reads a stream's response: head, body and trailers. */
function reply(stream: ClientHttp2Stream): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    let head: H2Headers = {};
    let trailers: H2Headers | undefined;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      head = h;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('end', () =>
      resolve({
        status: Number(head[':status']),
        headers: head,
        body: Buffer.concat(chunks).toString('utf8'),
        trailers,
      }),
    );
  });
}

/** One h2 request on a fresh session. */
function h2Get(port: number, headers: OutgoingHttpHeaders = {}, body?: string): Promise<H2Reply> {
  const stream = h2Client(port).request({ ':path': '/', ...headers }, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  return reply(stream);
}

/** Names of pseudo-header fields (`:method`…) in a header object or raw list. */
const pseudo = (names: string[]): string[] => names.filter((n) => n.startsWith(':'));

/** A plain HTTP/1.1 backend answering with `handler`, closed after the test; its origin. */
async function http1Backend(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const l = await listen(createServer(handler));
  closers.push(() => l.close());
  return l.url;
}

describe('TLS terminated in front: https.createServer(proxy.handler)', () => {
  it('proxies an HTTPS client to an HTTP/1.1 peer with X-Forwarded-Proto https', async () => {
    const b = await backend();
    const proxy = createProxy({ upstream: { name: 'app', servers: [b.url] } });
    closers.push(() => proxy.close());
    const server = createHttpsServer({ cert: localhost.cert, key: localhost.key }, proxy.handler);
    const port = await listenOn(server);
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', servername: 'localhost', port, path: '/tls?x=1', ca: ca.cert, agent: false },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(r.status).toBe(200);
    const seen = JSON.parse(r.body) as { url: string; headers: IncomingHttpHeaders };
    expect(seen.url).toBe('/tls?x=1');
    expect(seen.headers.host).toBe(`127.0.0.1:${port}`);
    expect(seen.headers['x-forwarded-proto']).toBe('https');
  });
});

describe('HTTP/2 terminated in front: http2.createSecureServer({ allowHTTP1: true }, proxy.handler)', () => {
  it('relays an h2 GET to an HTTP/1.1 peer, which sees :authority as Host and no pseudo-header', async () => {
    const b = await backend();
    const { port, errors } = await h2Front([b.url]);
    const r = await h2Get(port, { ':path': '/a/b?c=d', 'x-client': 'h2' });
    expect([r.status, errors]).toEqual([200, []]);
    // The echo backend's body is the request it saw.
    expect(JSON.parse(r.body).url).toBe('/a/b?c=d');
    const seen = b.requests[0];
    expect(pseudo(seen?.rawHeaders ?? [])).toEqual([]);
    expect([seen?.method, seen?.url, seen?.headers['x-client']]).toEqual(['GET', '/a/b?c=d', 'h2']);
    expect(seen?.headers['x-forwarded-proto']).toBe('https');
    expect(seen?.headers.host).toBe(`localhost:${port}`);
    expect(seen?.headers['x-forwarded-host']).toBe(`localhost:${port}`);
  });

  it('joins the Cookie fields of an h2 request into one for the HTTP/1.1 peer', async () => {
    const b = await backend();
    const { port } = await h2Front([b.url]);
    const r = await h2Get(port, { cookie: ['a=1', 'b=2', 'c=3'] });
    expect(r.status).toBe(200);
    const raw = b.requests[0]?.rawHeaders ?? [];
    const cookies = raw.flatMap((n, i) => (i % 2 === 0 && n.toLowerCase() === 'cookie' ? [raw[i + 1]] : []));
    expect(cookies).toEqual(['a=1; b=2; c=3']);
  });

  it('keeps a Host the h2 client sent beside :authority', async () => {
    const b = await backend();
    const { port } = await h2Front([b.url]);
    const r = await h2Get(port, { host: 'app.example' });
    expect(r.status).toBe(200);
    expect(b.requests[0]?.headers.host).toBe('app.example');
    expect(b.requests[0]?.rawHeaders.filter((n) => n.toLowerCase() === 'host')).toHaveLength(1);
  });

  it('runs the rewrite rules on an h2 request, with :authority as $host', async () => {
    const b = await backend();
    const rules = compileNginx(`
      rewrite ^/old/(.*)$ /new/$1 permanent;
      location / { proxy_pass http://app; }
    `);
    const { port, errors } = await h2Front([b.url], { rewrite: rules });
    const moved = await h2Get(port, { ':path': '/old/page', ':authority': 'www.example' });
    expect([moved.status, moved.headers.location, errors]).toEqual([
      301,
      `https://www.example:${port}/new/page`,
      [],
    ]);
    expect((await h2Get(port, { ':path': '/kept' })).status).toBe(200);
    expect(b.requests.map((r) => r.url)).toEqual(['/kept']);
  });

  it('streams a POST body both ways: each chunk reaches the peer and comes back before the client ends', async () => {
    const url = await http1Backend((req, res) => {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'x-te': req.headers['transfer-encoding'],
      });
      // An echo that writes as it reads.
      req.on('data', (c: Buffer) => res.write(c));
      req.on('end', () => res.end());
    });
    const { port, errors } = await h2Front([url]);
    const stream = h2Client(port).request({ ':method': 'POST', ':path': '/echo' });
    const done = reply(stream);
    let echoed = '';
    stream.on('data', (c: Buffer) => {
      echoed += c.toString('utf8');
    });
    const sent: string[] = [];
    for (const part of ['one,', 'two,', 'three']) {
      sent.push(part);
      stream.write(part);
      // The request is still open: what came back is what was sent so far.
      await waitFor(() => echoed === sent.join(''));
    }
    stream.end();
    const r = await done;
    expect([r.status, r.body, errors]).toEqual([200, 'one,two,three', []]);
    // No length announced by the h2 client: chunked to the HTTP/1.1 peer.
    expect(r.headers['x-te']).toBe('chunked');
  });

  it('drops connection-specific response fields, which an HTTP/2 response cannot carry', async () => {
    const url = await http1Backend((_req, res) => {
      res.setHeader('keep-alive', 'timeout=5');
      res.setHeader('http2-settings', 'AAMAAABkAAQAoAAAAAIAAAAA');
      res.setHeader('x-kept', 'yes');
      res.end('ok');
    });
    const { port, errors } = await h2Front([url]);
    const r = await h2Get(port);
    expect([r.status, r.body, r.headers['x-kept'], errors]).toEqual([200, 'ok', 'yes', []]);
    expect([r.headers['keep-alive'], r.headers['http2-settings'], r.headers.connection]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("drops the peer's response trailers, as nginx does without proxy_pass_trailers", async () => {
    const url = await http1Backend((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('part 1\n');
      res.write('part 2\n');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
    });
    const { port, errors } = await h2Front([url]);
    const r = await h2Get(port);
    expect([r.status, r.body, errors]).toEqual([200, 'part 1\npart 2\n', []]);
    expect(r.trailers).toBeUndefined();
  });

  it('serves an HTTP/1.1 client on the same allowHTTP1 server', async () => {
    const b = await backend();
    const { port } = await h2Front([b.url]);
    const r = await new Promise<{ status: number; version: string }>((resolve, reject) => {
      const req = httpsRequest(
        { host: '127.0.0.1', servername: 'localhost', port, path: '/h1', ca: ca.cert, agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.httpVersion }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(r).toEqual({ status: 200, version: '1.1' });
    expect(b.requests[0]?.headers.host).toBe(`127.0.0.1:${port}`);
    expect(b.requests[0]?.headers['x-forwarded-proto']).toBe('https');
  });

  it('answers an h2 client 502 when the peer is down', async () => {
    const { port, errors } = await h2Front([`http://127.0.0.1:${await deadPort()}`]);
    const r = await h2Get(port);
    expect([r.status, r.body]).toEqual([502, '502 Bad Gateway\n']);
    expect(errors.map((e) => e.code)).toEqual(['SWY_ERR_UPSTREAM']);
  });

  it('refuses an h2 request over clientMaxBodySize with 413, the session staying open', async () => {
    const b = await backend();
    const { port } = await h2Front([b.url], { clientMaxBodySize: 4 });
    const session = h2Client(port);
    const big = session.request({ ':method': 'POST', ':path': '/', 'content-length': '10' });
    big.end('0123456789');
    const r = await reply(big);
    expect(r.status).toBe(413);
    // The refusal closes no connection under HTTP/2: the session's next stream goes through.
    const next = await reply(session.request({ ':path': '/after' }, { endStream: true }));
    expect(next.status).toBe(200);
    expect(b.requests.map((s) => s.url)).toEqual(['/after']);
  });

  it('sends an h2 client no reason phrase and no Connection field, which Node warns about', async () => {
    const url = await http1Backend((_req, res) => {
      res.statusMessage = 'Fine Thanks';
      res.end('ok');
    });
    const { port } = await h2Front([url], { clientMaxBodySize: 1 });
    expect((await h2Get(port)).status).toBe(200);
    expect((await h2Get(port, { ':method': 'POST', 'content-length': '2' }, 'xx')).status).toBe(413);
    // Node warns once per process: checked over the whole file.
    expect(warnings.filter((w) => /HTTP\/2|connection header/i.test(w))).toEqual([]);
  });
});
