import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { conformance, type Listening, listen, manualClock } from '@switchyard/testkit';
import { createClient } from 'redis';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCache } from '../src/cache/index.js';
import { formatHttpDate } from '../src/headers/index.js';
import { memoryStore } from '../src/memory-store/index.js';
import { redisStore } from '../src/redis-store/index.js';
import type { CacheStore } from '../src/types.js';
import { contractProxy } from './helpers.js';

interface Case {
  suite: string;
  id: number;
  upstreamResponse: { status: number; headers: string[] };
  /** The answer to backend call n is entry n - 1 (past the end, the last one). */
  upstreamResponses?: { status: number; headers: string[] }[];
  requestUri: string;
  methods: string[];
  /** Header lines sent with request i. */
  requestHeaders?: string[][];
  /** Pause between the requests when not ~150 ms. */
  gapMs?: number;
  xCacheStatus: (string | null)[];
  statuses: number[];
  upstreamCalls: number;
  upstreamMethods: string[];
}

interface CacheVectors {
  notes: string[];
  suites: Record<string, { listen: string; http: string; server: string }>;
  cases: Case[];
}

const vectors = conformance<CacheVectors>('cache.json');

/** `proxy_cache_valid` of each suite, as its `server` block sets it. */
const VALID: Record<string, Record<number, string> | undefined> = {
  'cache-with-proxy_cache_valid': { 200: '10m', 302: '10m', 404: '1m' },
  'cache-without-proxy_cache_valid': undefined,
};

/** Header values of the vectors with times relative to the request, made as the recorder made them. */
function materialise(header: string, now: number): [string, string] {
  const colon = header.indexOf(':');
  const name = header.slice(0, colon);
  const value = header
    .slice(colon + 1)
    .trim()
    .replace(/<HTTP-date now([+-]\d+)s>/, (_, s: string) => formatHttpDate(now + Number(s) * 1000))
    .replace(/<unix time now([+-]\d+)s>/, (_, s: string) => String(Math.floor(now / 1000) + Number(s)));
  return [name, value];
}

/** The backend's answer to call `n` (from 1) of a case, as the recorder chose it. */
function answerFor(c: Case | undefined, n: number): { status: number; headers: string[] } {
  const list = c?.upstreamResponses ?? [];
  return list[Math.min(n, list.length) - 1] ?? c?.upstreamResponse ?? { status: 500, headers: [] };
}

/** A request's header lines of a case (`Name: value`) as an object. */
function requestHeadersOf(c: Case, i: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of c.requestHeaders?.[i] ?? []) {
    const colon = line.indexOf(':');
    out[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}

describe.each([
  { store: 'memory', front: 'cache.middleware() around a forwarding handler' },
  { store: 'redis', front: 'cache.middleware() around a forwarding handler' },
  { store: 'memory', front: 'a proxy calling the ProxyCache contract' },
])(
  'cache.json conformance: nginx proxy_cache cacheability, $store store, through $front',
  ({ store: kind, front: how }) => {
    const clock = manualClock(Date.now());
    const prefix = `conformance:${randomUUID()}:`;
    let redis: ReturnType<typeof createClient> | undefined;
    const agent = new Agent({ keepAliveTimeout: 1000 });
    const byCase = new Map<string, Case>();
    const seen = new Map<string, string[]>();
    let backend: Listening;
    let front: Listening;

    beforeAll(async () => {
      if (kind === 'redis') {
        const url = inject('redisUrl');
        if (url === '') throw new Error(inject('redisProblem'));
        redis = createClient({ url });
        await redis.connect();
      }
      const storeFor = (): CacheStore =>
        redis === undefined
          ? memoryStore({ now: clock })
          : redisStore({ client: redis, prefix, timeoutMs: 1000 });
      for (const c of vectors.cases) {
        const key = new URL(c.requestUri, 'http://x').searchParams.get('case') as string;
        byCase.set(key, c);
      }
      // The backend of the recording: exactly the case's status and headers, in order, then
      // content-type, content-length, x-backend, x-upstream-n.
      backend = await listen(
        createServer((req: IncomingMessage, res: ServerResponse) => {
          req.resume();
          req.on('end', () => {
            const key = new URL(req.url ?? '/', 'http://x').searchParams.get('case') ?? '';
            const c = byCase.get(key);
            const methods = seen.get(req.url ?? '') ?? [];
            methods.push(req.method ?? '');
            seen.set(req.url ?? '', methods);
            const body = `case ${key} #${methods.length}\n`;
            const answer = answerFor(c, methods.length);
            const headers: string[] = [];
            for (const h of answer.headers) headers.push(...materialise(h, clock()));
            headers.push(
              'content-type',
              'text/plain',
              'content-length',
              String(Buffer.byteLength(body)),
              'x-backend',
              String(backend.port),
              'x-upstream-n',
              String(methods.length),
            );
            res.writeHead(answer.status, headers);
            res.end(body);
          });
        }),
      );

      // One cache per suite; in front, either its middleware around a tiny forwarding
      // handler, or a minimal proxy that calls the ProxyCache contract as core will.
      const caches = new Map(
        Object.keys(vectors.suites).map((suite) => [
          suite,
          createCache({ valid: VALID[suite], now: clock, store: storeFor() }),
        ]),
      );
      const proxies = new Map(
        [...caches].map(([suite, cache]) => [suite, contractProxy(cache, backend.url, agent)]),
      );
      const middlewares = new Map([...caches].map(([suite, cache]) => [suite, cache.middleware()]));
      const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
        const headers: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(req.headers)) {
          if (v !== undefined && k !== 'connection' && k !== 'host') headers[k] = v;
        }
        const up = await request(`${backend.url}${req.url}`, {
          method: req.method as 'GET',
          headers,
          dispatcher: agent,
        });
        const list: string[] = [];
        for (const [k, v] of Object.entries(up.headers)) {
          if (v === undefined || k === 'connection' || k === 'keep-alive' || k === 'transfer-encoding')
            continue;
          for (const one of Array.isArray(v) ? v : [v]) list.push(k, one);
        }
        res.writeHead(up.statusCode, list);
        for await (const chunk of up.body) res.write(chunk);
        res.end();
      };
      front = await listen(
        createServer((req, res) => {
          const suite = req.headers['x-suite'] as string;
          const proxy = proxies.get(suite);
          if (how.startsWith('a proxy') && proxy !== undefined) {
            proxy(req, res);
            return;
          }
          const mw = middlewares.get(suite);
          if (mw === undefined) {
            res.writeHead(400).end();
            return;
          }
          mw(req, res, (err) => {
            if (err !== undefined) {
              res.writeHead(500).end();
              return;
            }
            forward(req, res).catch(() => res.destroy());
          });
        }),
      );
    });

    afterAll(async () => {
      await front?.close();
      await backend?.close();
      await agent.close();
      if (redis !== undefined) {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(keys);
        redis.destroy();
      }
    });

    it('reads the vectors of both suites', () => {
      expect(vectors.cases.length).toBe(58);
      expect(Object.keys(vectors.suites).sort()).toEqual(Object.keys(VALID).sort());
    });

    for (const c of vectors.cases) {
      const cc = c.upstreamResponse.headers.join(' | ') || '(no headers)';
      it(`${c.suite} #${c.id}: ${c.upstreamResponse.status} ${cc}, ${c.methods.join(' ')}`, async () => {
        const statuses: number[] = [];
        const cacheStatus: (string | null)[] = [];
        for (const [i, method] of c.methods.entries()) {
          const r = await request(`${front.url}${c.requestUri}`, {
            method: method as 'GET',
            headers: { ...requestHeadersOf(c, i), 'x-suite': c.suite },
            dispatcher: agent,
          });
          await r.body.text();
          statuses.push(r.statusCode);
          const x = r.headers['x-cache-status'];
          cacheStatus.push(typeof x === 'string' ? x : null);
          // nginx recorded the requests about 150 ms (or the case's gapMs) apart.
          clock.advance(c.gapMs ?? 150);
        }
        const upstream = seen.get(c.requestUri) ?? [];
        expect({
          xCacheStatus: cacheStatus,
          statuses,
          upstreamCalls: upstream.length,
          upstreamMethods: upstream,
        }).toEqual({
          xCacheStatus: c.xCacheStatus,
          statuses: c.statuses,
          upstreamCalls: c.upstreamCalls,
          upstreamMethods: c.upstreamMethods,
        });
      });
    }
  },
);
