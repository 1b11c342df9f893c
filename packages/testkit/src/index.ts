import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository root (packages/testkit/src → ../../..). */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Reads a conformance file recorded from the real nginx, in the repository's `conformance/`. */
export function conformance<T = unknown>(name: string): T {
  const path = fileURLToPath(new URL(`../../../conformance/${name}`, import.meta.url));
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** A server listening on 127.0.0.1 with a random port, that closes every socket on `close`. */
export interface Listening {
  server: Server;
  port: number;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** `127.0.0.1:<port>` */
  hostPort: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 port 0 and tracks sockets so `close` never hangs. */
export async function listen(server: Server, port = 0): Promise<Listening> {
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    server,
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    hostPort: `127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** What a test backend saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: string;
}

/** A loopback backend that records requests. */
export interface Backend extends Listening {
  requests: SeenRequest[];
}

export type BackendHandler = (req: IncomingMessage, res: ServerResponse, body: string) => unknown;

/**
 * Starts an echo backend on 127.0.0.1: by default it answers 200 with `x-backend: <port>`
 * and a JSON echo of what it received.
 */
export async function startBackend(handler?: BackendHandler): Promise<Backend> {
  const requests: SeenRequest[] = [];
  let port = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      };
      requests.push(seen);
      if (handler) {
        void handler(req, res, body);
        return;
      }
      res.setHeader('x-backend', String(port));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(seen));
    });
  });
  const l = await listen(server);
  port = l.port;
  return Object.assign(l, { requests });
}

/** One response read by {@link pipelinedGets}. */
export interface RawResponse {
  status: number;
  /** Header names lowercased. */
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * Sends GETs for `paths` pipelined on one connection to `port` and reads nothing for
 * `holdMs`, so that the server's writes back up in its socket; then reads one response per
 * path (each must carry a Content-Length). Rejects after 10 s.
 */
export function pipelinedGets(port: number, paths: readonly string[], holdMs = 100): Promise<RawResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`pipelinedGets: ${paths.length} responses not read within 10 s`));
    }, 10_000);
    const parse = (): RawResponse[] | undefined => {
      const all = Buffer.concat(chunks);
      const out: RawResponse[] = [];
      let at = 0;
      while (out.length < paths.length) {
        const end = all.indexOf('\r\n\r\n', at);
        if (end < 0) return undefined;
        const [statusLine = '', ...lines] = all.subarray(at, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of lines) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (all.length < end + 4 + length) return undefined;
        out.push({
          status: Number(statusLine.split(' ')[1]),
          headers,
          body: all.subarray(end + 4, end + 4 + length),
        });
        at = end + 4 + length;
      }
      return out;
    };
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('connect', () => {
      socket.pause();
      socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`).join(''));
      setTimeout(() => socket.resume(), holdMs);
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      const got = parse();
      if (got === undefined) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    });
  });
}

/** A port on 127.0.0.1 with nothing listening (connection refused). */
export async function deadPort(): Promise<number> {
  const l = await listen(createServer());
  const { port } = l;
  await l.close();
  return port;
}

/** A manual clock for code that takes `clock: () => number`. */
export interface ManualClock {
  (): number;
  advance(ms: number): void;
  set(ms: number): void;
}

export function manualClock(start = 1_000_000): ManualClock {
  let t = start;
  const clock = (() => t) as ManualClock;
  clock.advance = (ms) => {
    t += ms;
  };
  clock.set = (ms) => {
    t = ms;
  };
  return clock;
}

/** Resolves once `condition()` holds, polling every few ms; rejects after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A manual scheduler with the `setTimeout` / `clearTimeout` shape, driven by `advance`. */
export interface ManualTimers {
  setTimeout(fn: () => void, ms: number): number;
  clearTimeout(handle: unknown): void;
  /** Moves time forward, running every timer that falls due, in order. */
  advance(ms: number): void;
  /** Timers waiting. */
  pending(): number;
  now(): number;
}

export function manualTimers(start = 0): ManualTimers {
  let now = start;
  let next = 1;
  const due = new Map<number, { at: number; fn: () => void }>();
  return {
    setTimeout(fn, ms) {
      const id = next++;
      due.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(handle) {
      due.delete(handle as number);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        let first: [number, { at: number; fn: () => void }] | undefined;
        for (const entry of due)
          if (entry[1].at <= end && (first === undefined || entry[1].at < first[1].at)) first = entry;
        if (first === undefined) break;
        due.delete(first[0]);
        now = first[1].at;
        first[1].fn();
      }
      now = end;
    },
    pending: () => due.size,
    now: () => now,
  };
}
