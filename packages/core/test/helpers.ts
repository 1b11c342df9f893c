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
