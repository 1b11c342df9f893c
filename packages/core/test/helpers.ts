import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, request } from 'node:http';
import { connect } from 'node:net';
import { createProxy, type ProxyOptions, type ReverseProxy, type SwitchyardError } from '@switchyard/core';
import { type Backend, type Listening, listen, startBackend } from '@switchyard/testkit';
import { afterEach } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';

/**
 * What a test file of the proxy opens, closed after each test (last opened, first
 * closed), and the makers of the usual backend and proxy that register with it.
 */
export function fixtures() {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()?.();
  });
  /** An echo backend (or one answering with `handler`), closed after the test. */
  async function backend(handler?: Parameters<typeof startBackend>[0]): Promise<Backend> {
    const b = await startBackend(handler);
    closers.push(() => b.close());
    return b;
  }
  /** A proxy on its front server; `errors` collects what it reports through `onError`. */
  async function proxyFor(
    options: ProxyOptions,
  ): Promise<{ proxy: ReverseProxy; f: Listening; errors: SwitchyardError[] }> {
    const errors: SwitchyardError[] = [];
    const proxy = createProxy({ onError: (e) => errors.push(e), ...options });
    const f = await front(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );
    return { proxy, f, errors };
  }
  /** A WebSocket backend calling `onConnection` for each client, closed after the test. */
  async function wsBackend(onConnection: (ws: WebSocket, req: IncomingMessage) => void): Promise<Listening> {
    const server = createServer();
    const wss = new WebSocketServer({ server });
    wss.on('connection', onConnection);
    const up = await listen(server);
    closers.push(
      () => up.close(),
      () => wss.close(),
    );
    return up;
  }
  return { closers, backend, proxyFor, wsBackend };
}

/** A front server for a proxy, with its upgrade listener. */
export async function front(proxy: ReverseProxy): Promise<Listening> {
  const server = createServer(proxy.handler);
  server.on('upgrade', proxy.upgrade);
  return listen(server);
}

export interface Reply {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** One HTTP/1.1 request on a fresh connection, with exact control of the headers. */
export function send(
  url: string,
  opts: { method?: string; path?: string; headers?: Record<string, string | string[]>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The echo backend's view of the request, from its JSON answer. */
export function echoed(r: Reply): {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
} {
  return JSON.parse(r.body);
}

/**
 * Writes `payload` on a fresh raw connection and collects what comes back, until the
 * connection closes, `until(data)` holds, or `timeoutMs` passes; the socket is then closed.
 */
export function rawExchange(
  port: number,
  payload: string | Buffer,
  opts: { until?: (data: string) => boolean; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    let settled = false;
    const s = connect(port, '127.0.0.1', () => s.write(payload));
    const done = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(data);
    };
    const timer = setTimeout(done, opts.timeoutMs ?? 5_000);
    s.setEncoding('latin1');
    s.on('data', (c: string) => {
      data += c;
      if (opts.until?.(data)) done();
    });
    s.on('close', done);
    s.on('error', done);
  });
}

/** The JSON an echo backend answered with, taken out of a raw HTTP response. */
export function echoedRaw(raw: string): {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
} {
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  return JSON.parse(body.slice(body.indexOf('{'), body.lastIndexOf('}') + 1));
}

// ---- Certificates for TLS tests: a private CA and what it signs, made with node:crypto alone (DER by hand). ----

function der(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...parts: Buffer[]) => der(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]) => der(0x31, Buffer.concat(parts));
const explicit = (n: number, inner: Buffer) => der(0xa0 + n, inner);
const octets = (b: Buffer) => der(0x04, b);
const bits = (b: Buffer) => der(0x03, Buffer.concat([Buffer.from([0]), b]));
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]));
function int(b: Buffer): Buffer {
  return der(0x02, (b[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}
function oid(text: string): Buffer {
  const [a, b, ...rest] = text.split('.').map(Number) as [number, number, ...number[]];
  const out = [a * 40 + b];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return der(0x06, Buffer.from(out));
}
const time = (d: Date) => der(0x17, Buffer.from(`${d.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`));
const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), der(0x0c, Buffer.from(cn)))));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export interface Issued {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PEM. */
  key: string;
  subject: Buffer;
  privateKey: KeyObject;
}

/** A certificate for `cn` with these subject alternative names, signed by `issuer` (self-signed without). */
export function issue(
  cn: string,
  opts: { ca?: boolean; dns?: string[]; ips?: string[]; issuer?: Issued } = {},
): Issued {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const subject = name(cn);
  const extensions: Buffer[] = [];
  if (opts.ca === true) extensions.push(seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true)))));
  const alt = [
    ...(opts.dns ?? []).map((d) => der(0x82, Buffer.from(d))),
    ...(opts.ips ?? []).map((ip) => der(0x87, Buffer.from(ip.split('.').map(Number)))),
  ];
  if (alt.length > 0) extensions.push(seq(oid('2.5.29.17'), octets(seq(...alt))));
  const serial = randomBytes(8);
  // Positive with a first byte that is not 0: DER forbids a leading 0 byte before a byte
  // under 0x80 ("illegal padding"), which a random serial had once in 256.
  serial[0] = ((serial[0] as number) & 0x7f) | 0x01;
  const now = Date.now();
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))),
    int(serial),
    ECDSA_SHA256,
    opts.issuer?.subject ?? subject,
    seq(time(new Date(now - 3_600_000)), time(new Date(now + 86_400_000))),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    ...(extensions.length > 0 ? [explicit(3, seq(...extensions))] : []),
  );
  const signature = sign('sha256', tbs, opts.issuer?.privateKey ?? privateKey);
  const body = seq(tbs, ECDSA_SHA256, bits(signature)).toString('base64');
  const cert = `-----BEGIN CERTIFICATE-----\n${body.replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { cert, key, subject, privateKey: createPrivateKey(key) };
}
