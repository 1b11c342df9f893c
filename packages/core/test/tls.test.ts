import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createUpstream, InvalidOptionError, type UpstreamTlsOptions } from '@switchyard/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fixtures, type Issued, issue, send } from './helpers.js';

// ---- A private CA and its certificates (helpers.ts makes them with node:crypto alone). ----

interface Pki {
  ca: Issued;
  /** For `localhost` and 127.0.0.1, from `ca`. */
  localhost: Issued;
  /** For `api.internal` only, from `ca`. */
  internal: Issued;
  /** A client certificate for the proxy, from `ca`. */
  client: Issued;
  /** Another CA nobody trusts, and a `localhost` certificate from it. */
  strangerLocalhost: Issued;
}

let pki: Pki;
beforeAll(() => {
  const ca = issue('switchyard test CA', { ca: true });
  const stranger = issue('stranger CA', { ca: true });
  pki = {
    ca,
    localhost: issue('localhost', { dns: ['localhost'], ips: ['127.0.0.1'], issuer: ca }),
    internal: issue('api.internal', { dns: ['api.internal'], issuer: ca }),
    client: issue('switchyard proxy', { issuer: ca }),
    strangerLocalhost: issue('localhost', { dns: ['localhost'], ips: ['127.0.0.1'], issuer: stranger }),
  };
});

// ---- Backends ----

const { closers, proxyFor } = fixtures();

interface TlsBackend {
  port: number;
  /** The SNI each TLS connection sent (`false`: none). */
  sni: Array<string | false | null>;
  /** Client certificates' subjects seen, per request. */
  clients: string[];
}

/** An HTTPS backend on 127.0.0.1 answering `ok <Host>`, closed after the test. */
async function httpsBackend(
  cert: Issued,
  extra: { requestCert?: boolean; ca?: string } = {},
): Promise<TlsBackend> {
  const seen: TlsBackend = { port: 0, sni: [], clients: [] };
  const server: HttpsServer = createHttpsServer(
    { cert: cert.cert, key: cert.key, ...extra, rejectUnauthorized: extra.requestCert === true },
    (req, res) => {
      const peerCert = (req.socket as TLSSocket).getPeerCertificate();
      if (peerCert?.subject !== undefined) seen.clients.push(peerCert.subject.CN as string);
      res.end(`ok ${req.headers.host}`);
    },
  );
  server.on('secureConnection', (s: TLSSocket) => seen.sni.push(s.servername));
  seen.port = await listenOn(server);
  return seen;
}

/** Listens on 127.0.0.1 port 0; the server is closed after the test, its sockets cut. */
async function listenOn(server: HttpsServer | Http2SecureServer): Promise<number> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
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

const evil = { headers: { host: 'evil.example' } };

/** The code of the error an UpstreamError carries (Node's TLS or socket error). */
const causeCode = (err: Error | undefined) => (err?.cause as { code?: string } | undefined)?.code;

describe('TLS to upstream peers (proxy_ssl_*)', () => {
  it('verifies an https peer against its own host name, not the client Host', async () => {
    const b = await httpsBackend(pki.localhost);
    const { f, errors } = await proxyFor({
      upstream: { name: 'app', servers: [`https://localhost:${b.port}`], tls: { ca: pki.ca.cert } },
    });
    const r = await send(f.url, evil);
    expect([r.status, r.body, errors]).toEqual([200, 'ok evil.example', []]);
    expect(b.sni).toEqual(['localhost']);
  });

  it('answers 502 and reports an UpstreamError when the peer cannot be verified', async () => {
    const b = await httpsBackend(pki.localhost);
    const { f, errors } = await proxyFor({
      upstream: { name: 'app', servers: [`https://localhost:${b.port}`] },
    });
    const r = await send(f.url, evil);
    expect(r.status).toBe(502);
    expect(errors.map((e) => e.code)).toEqual(['SWY_ERR_UPSTREAM']);
    expect(causeCode(errors[0])).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('sends the explicit servername in SNI and verifies the peer against it', async () => {
    const b = await httpsBackend(pki.internal);
    const { f, errors } = await proxyFor({
      upstream: {
        name: 'app',
        servers: [`https://127.0.0.1:${b.port}`],
        tls: { ca: pki.ca.cert, servername: 'api.internal' },
      },
    });
    const r = await send(f.url, evil);
    expect([r.status, errors, b.sni]).toEqual([200, [], ['api.internal']]);
  });

  it('sends no SNI to an IP-address peer and verifies its certificate against the IP', async () => {
    const b = await httpsBackend(pki.localhost);
    const { f, errors } = await proxyFor({
      upstream: { name: 'app', servers: [`https://127.0.0.1:${b.port}`], tls: { ca: pki.ca.cert } },
    });
    const r = await send(f.url, evil);
    expect([r.status, errors, b.sni]).toEqual([200, [], [false]]);

    const other = await httpsBackend(pki.internal);
    const second = await proxyFor({
      upstream: { name: 'app', servers: [`https://127.0.0.1:${other.port}`], tls: { ca: pki.ca.cert } },
    });
    const refused = await send(second.f.url, evil);
    expect(refused.status).toBe(502);
    expect(causeCode(second.errors[0])).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('keeps one connection to a peer whatever Host the clients send', async () => {
    const b = await httpsBackend(pki.localhost);
    const { f } = await proxyFor({
      upstream: { name: 'app', servers: [`https://localhost:${b.port}`], tls: { ca: pki.ca.cert } },
    });
    for (const host of ['a.example', 'b.example', 'c.example']) {
      const r = await send(f.url, { headers: { host } });
      expect([r.status, r.body]).toEqual([200, `ok ${host}`]);
    }
    expect(b.sni).toEqual(['localhost']);
  });

  it('shows a client certificate to a peer that requires one (mutual TLS)', async () => {
    const b = await httpsBackend(pki.localhost, { requestCert: true, ca: pki.ca.cert });
    const tls: UpstreamTlsOptions = { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key };
    const withCert = await proxyFor({
      upstream: { name: 'app', servers: [`https://localhost:${b.port}`], tls },
    });
    const r = await send(withCert.f.url, evil);
    expect([r.status, b.clients]).toEqual([200, ['switchyard proxy']]);

    const without = await proxyFor({
      upstream: { name: 'app', servers: [`https://localhost:${b.port}`], tls: { ca: pki.ca.cert } },
    });
    const refused = await send(without.f.url, evil);
    expect(refused.status).toBe(502);
    expect(without.errors.map((e) => e.code)).toEqual(['SWY_ERR_UPSTREAM']);
  });

  it('takes a peer of an unknown CA with rejectUnauthorized: false (nginx proxy_ssl_verify off)', async () => {
    const b = await httpsBackend(pki.strangerLocalhost);
    const { f, errors } = await proxyFor({
      upstream: {
        name: 'app',
        servers: [`https://localhost:${b.port}`],
        tls: { rejectUnauthorized: false },
      },
    });
    const r = await send(f.url, evil);
    expect([r.status, errors]).toEqual([200, []]);
  });

  it('uses the TLS settings of the group a request goes to (upstreams)', async () => {
    const b = await httpsBackend(pki.localhost);
    const { f, errors } = await proxyFor({
      upstream: { name: 'default', servers: ['http://127.0.0.1:9'] },
      upstreams: {
        secure: { name: 'secure', servers: [`https://localhost:${b.port}`], tls: { ca: pki.ca.cert } },
      },
      rewrite: { evaluate: (req) => ({ action: 'pass', uri: req.uri, target: 'https://secure' }) },
    });
    const r = await send(f.url, evil);
    expect([r.status, errors]).toEqual([200, []]);
  });
});

describe('TLS options, checked when the group is built', () => {
  const thrown = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidOptionError);
      return (err as Error).message;
    }
    return 'nothing thrown';
  };
  const server = ['https://localhost:8443'];

  it('names the option path and the bad value', () => {
    expect(
      thrown(() =>
        createUpstream({ name: 'a', servers: server, tls: { rejectUnauthorized: 'no' as never } }),
      ),
    ).toBe('tls.rejectUnauthorized: expected a boolean, got "no"');
    expect(
      thrown(() => createUpstream({ name: 'a', servers: server, tls: { servername: '10.0.0.1' } })),
    ).toBe('tls.servername: expected a host name, not an IP address, got "10.0.0.1"');
    expect(thrown(() => createUpstream({ name: 'a', servers: server, tls: { ca: 42 as never } }))).toBe(
      'tls.ca: expected PEM text: a string, a Buffer, or an array of them, got 42',
    );
    expect(
      thrown(() => createUpstream({ name: 'a', servers: server, tls: { verify: true } as never })),
    ).toMatch(/^tls\.verify: unknown option/);
    expect(thrown(() => createUpstream({ name: 'a', servers: server, http2: 'yes' as never }))).toBe(
      'http2: expected a boolean, got "yes"',
    );
  });

  it('names the path as createProxy was given the group', async () => {
    const { createProxy } = await import('@switchyard/core');
    expect(
      thrown(() =>
        createProxy({ upstream: { name: 'a', servers: server, tls: { rejectUnauthorized: 1 as never } } }),
      ),
    ).toBe('upstream.tls.rejectUnauthorized: expected a boolean, got 1');
    expect(
      thrown(() =>
        createProxy({
          upstream: { name: 'a', servers: server },
          upstreams: { b: { name: 'b', servers: server, tls: { cert: pki.client.cert } } },
        }),
      ),
    ).toBe('upstreams.b.tls.key: required with upstreams.b.tls.cert (a client certificate needs its key)');
  });

  it('refuses PEM that OpenSSL cannot read, or a key that is not the certificate’s', () => {
    expect(
      thrown(() => createUpstream({ name: 'a', servers: server, tls: { ca: 'not a certificate' } })),
    ).toBe('tls.ca: expected PEM certificates (-----BEGIN CERTIFICATE-----), got "not a certificate"');
    const damaged = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    expect(
      thrown(() => createUpstream({ name: 'a', servers: server, tls: { ca: [pki.ca.cert, damaged] } })),
    ).toMatch(/^tls\.ca: OpenSSL cannot use it \(/);
    expect(
      thrown(() =>
        createUpstream({
          name: 'a',
          servers: server,
          tls: { cert: pki.client.cert, key: pki.localhost.key },
        }),
      ),
    ).toMatch(/^tls\.cert: OpenSSL cannot use it \(.*key values mismatch/);
  });
});

describe('HTTP/2 to upstream peers', () => {
  /** An h2-only backend streaming `chunks` parts; counts its sessions. */
  async function h2Backend(
    chunks = 3,
  ): Promise<{ port: number; sessions: ServerHttp2Session[]; versions: string[] }> {
    const sessions: ServerHttp2Session[] = [];
    const versions: string[] = [];
    const server = createSecureServer({
      cert: pki.localhost.cert,
      key: pki.localhost.key,
      allowHTTP1: false,
    });
    server.on('session', (s) => sessions.push(s));
    server.on('request', (req, res) => {
      versions.push(req.httpVersion);
      res.writeHead(200, { 'content-type': 'text/plain' });
      let n = 0;
      const next = () => {
        if (n === chunks) {
          res.end();
          return;
        }
        res.write(`part ${n++} of ${req.headers[':authority']}\n`);
        setImmediate(next);
      };
      next();
    });
    closers.push(() => {
      for (const s of sessions) s.destroy();
    });
    const port = await listenOn(server);
    return { port, sessions, versions };
  }

  it('speaks h2 to a peer that picks it by ALPN, streaming the body', async () => {
    const b = await h2Backend();
    const { f, errors } = await proxyFor({
      upstream: {
        name: 'app',
        servers: [`https://localhost:${b.port}`],
        tls: { ca: pki.ca.cert },
        http2: true,
      },
    });
    const r = await send(f.url, evil);
    expect([r.status, r.body, errors]).toEqual([
      200,
      'part 0 of evil.example\npart 1 of evil.example\npart 2 of evil.example\n',
      [],
    ]);
    expect(b.versions).toEqual(['2.0']);
  });

  it('carries concurrent requests as streams of one connection', async () => {
    const b = await h2Backend(20);
    const { f } = await proxyFor({
      upstream: {
        name: 'app',
        servers: [`https://localhost:${b.port}`],
        tls: { ca: pki.ca.cert },
        http2: true,
      },
    });
    expect((await send(f.url)).status).toBe(200);
    const replies = await Promise.all(Array.from({ length: 8 }, () => send(f.url)));
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect([b.sessions.length, b.versions.length]).toEqual([1, 9]);
  });

  it('speaks HTTP/1.1 unless http2 is set: an h2-only peer then fails', async () => {
    const b = await h2Backend();
    const { f, errors } = await proxyFor({
      upstream: { name: 'app', servers: [`https://localhost:${b.port}`], tls: { ca: pki.ca.cert } },
    });
    const r = await send(f.url, evil);
    expect([r.status, errors.map((e) => e.code)]).toEqual([502, ['SWY_ERR_UPSTREAM']]);
  });
});
