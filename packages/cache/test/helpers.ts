import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Listening, listen } from '@switchyard/testkit';
import { Agent, request } from 'undici';
import type { CachedResponse, CacheForward, CacheLookup, ProxyCache } from '../src/types.js';

/** What a test client got back. */
export interface Got {
  status: number;
  cache: string | null;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A client with its own connection pool, closed by `close`. */
export interface Client {
  get(url: string, options?: { method?: string; headers?: Record<string, string> }): Promise<Got>;
  close(): Promise<void>;
}

export function client(): Client {
  const agent = new Agent({ keepAliveTimeout: 1000, connections: 200 });
  return {
    async get(url, options = {}) {
      const r = await request(url, {
        method: (options.method ?? 'GET') as 'GET',
        headers: options.headers ?? {},
        dispatcher: agent,
      });
      const body = await r.body.text();
      const x = r.headers['x-cache-status'];
      return { status: r.statusCode, cache: typeof x === 'string' ? x : null, body, headers: r.headers };
    },
    close: () => agent.close(),
  };
}

/** Starts a loopback server around a request listener. */
export function serve(listener: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  return listen(createServer(listener));
}

/** A promise with its resolve exposed. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
]);

function sendCached(res: ServerResponse, r: CachedResponse): void {
  res.writeHead(r.status, r.headers);
  res.end(r.body ?? undefined);
}

/**
 * A minimal reverse proxy that calls a `ProxyCache` exactly as its TSDoc tells a proxy
 * to: what core's proxy is expected to do, with undici, in a few lines.
 */
export function contractProxy(
  cache: ProxyCache,
  origin: string,
  agent: Agent,
): (req: IncomingMessage, res: ServerResponse) => void {
  const proxyHost = new URL(origin).host;

  async function upstream(
    req: IncomingMessage,
    f: CacheForward,
    res: ServerResponse | undefined,
  ): Promise<void> {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
    for (const [name, value] of f.requestHeaders) {
      if (value === undefined) delete headers[name];
      else headers[name] = value;
    }
    let up: Awaited<ReturnType<typeof request>>;
    try {
      up = await request(`${origin}${req.url}`, { method: f.method as 'GET', headers, dispatcher: agent });
    } catch {
      const r = f.fail('error');
      if (res === undefined) return;
      if (r !== undefined) sendCached(res, r);
      else res.writeHead(502, { 'content-type': 'text/plain' }).end('502 Bad Gateway\n');
      return;
    }
    const list: string[] = [];
    for (const [k, v] of Object.entries(up.headers)) {
      if (v === undefined || HOP_BY_HOP.has(k)) continue;
      for (const one of Array.isArray(v) ? v : [v]) list.push(k, one);
    }
    const r = f.head(up.statusCode, list);
    if (r !== undefined) {
      up.body.dump().catch(() => {});
      if (res !== undefined) sendCached(res, r);
      return;
    }
    res?.writeHead(up.statusCode, list);
    try {
      for await (const chunk of up.body) {
        f.data(chunk as Buffer);
        res?.write(chunk);
      }
    } catch {
      f.abort();
      res?.destroy();
      return;
    }
    f.end();
    res?.end();
  }

  return (req, res) => {
    const go = (l: CacheLookup): void => {
      if (l.response !== undefined) {
        sendCached(res, l.response);
        if (l.forward !== undefined) void upstream(req, l.forward, undefined);
        return;
      }
      void upstream(req, l.forward as CacheForward, res);
    };
    const l = cache.lookup({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      proxyHost,
    });
    if (l instanceof Promise) void l.then(go);
    else go(l);
  };
}
