import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { request } from 'node:http';
import { createCache, memoryStore } from '@switchyard/cache';
import { compileNginx } from '@switchyard/rewrite';
import { deadPort, waitFor } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  CHANNELS,
  type Logger,
  type ObserveOptions,
  type ResponseRecord,
  upstreamAddr,
  upstreamStatus,
} from '../src/index.js';
import { fixtures, rawExchange, send } from './helpers.js';

const { backend, proxyFor, wsBackend } = fixtures();

/** `onResponse` and `logger`, spread into the options of `proxyFor`. */
function observing(o: ObserveOptions): ObserveOptions {
  return o;
}

/** A logger that keeps its calls as `[level, obj, msg]`. */
function memoryLogger(): Logger & { calls: Array<[string, Record<string, unknown>, string | undefined]> } {
  const calls: Array<[string, Record<string, unknown>, string | undefined]> = [];
  const at =
    (level: string) =>
    (obj: object, msg?: string): void => {
      calls.push([level, obj as Record<string, unknown>, msg]);
    };
  return { calls, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

describe('onResponse', () => {
  it('gives one record per request, with the one try of a plain 200', async () => {
    const b = await backend((_req, res) => res.end('hello world'));
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [b.url] },
      ...observing({ onResponse: (r) => records.push(r) }),
    });
    const reply = await send(f.url, { path: '/a?x=1' });
    expect(reply.status).toBe(200);
    await waitFor(() => records.length === 1);
    const [r] = records as [ResponseRecord];
    expect(r).toMatchObject({
      method: 'GET',
      uri: '/a?x=1',
      upstream: 'u',
      status: 200,
      outcome: 'proxied',
      cacheStatus: undefined,
      bytesSent: 'hello world'.length,
    });
    expect(r.req.url).toBe('/a?x=1');
    expect(r.requestMs).toBeGreaterThanOrEqual(0);
    expect(r.tries).toHaveLength(1);
    expect(r.tries[0]).toMatchObject({
      upstream: 'u',
      peer: b.hostPort,
      addr: b.hostPort,
      status: 200,
      failure: 'none',
      bytesReceived: 'hello world'.length,
    });
    expect(r.tries[0]?.headerMs).toBeGreaterThanOrEqual(0);
    expect(r.tries[0]?.responseMs).toBeGreaterThanOrEqual(r.tries[0]?.headerMs ?? 0);
    expect(r.tries[0]?.bytesSent).toBeGreaterThan(0);
    expect(upstreamStatus(r.tries)).toBe('200');
  });

  it('lists both peers when the first refuses the connection, as "502, 200"', async () => {
    const good = await backend();
    const port = await deadPort();
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [`http://127.0.0.1:${port}`, good.url] },
      ...observing({ onResponse: (r) => records.push(r) }),
    });
    expect((await send(f.url)).status).toBe(200);
    await waitFor(() => records.length === 1);
    const [r] = records as [ResponseRecord];
    expect(r.outcome).toBe('proxied');
    expect(r.tries.map((t) => [t.peer, t.status, t.failure])).toEqual([
      [`127.0.0.1:${port}`, 0, 'error'],
      [good.hostPort, 200, 'none'],
    ]);
    expect(upstreamAddr(r.tries)).toBe(`127.0.0.1:${port}, ${good.hostPort}`);
    expect(upstreamStatus(r.tries)).toBe('502, 200');
  });

  it('records a cache hit with its cache status and no try', async () => {
    const b = await backend((_req, res) => {
      res.setHeader('cache-control', 'max-age=60');
      res.end('cached body');
    });
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [b.url] },
      cache: createCache({ store: memoryStore() }),
      ...observing({ onResponse: (r) => records.push(r) }),
    });
    await send(f.url, { path: '/c' });
    await waitFor(() => records.length === 1);
    const hit = await send(f.url, { path: '/c' });
    expect(hit.headers['x-cache-status']).toBe('HIT');
    await waitFor(() => records.length === 2);
    const [miss, cached] = records as [ResponseRecord, ResponseRecord];
    expect(miss.cacheStatus).toBe('MISS');
    expect(miss.tries).toHaveLength(1);
    expect(cached).toMatchObject({ status: 200, outcome: 'cache', cacheStatus: 'HIT', tries: [] });
    expect(cached.bytesSent).toBe('cached body'.length);
    expect(upstreamAddr(cached.tries)).toBe('-');
    expect(b.requests).toHaveLength(1);
  });

  it('reports a throwing onResponse through onError and still answers', async () => {
    const b = await backend();
    const { f, errors } = await proxyFor({
      upstream: { name: 'u', servers: [b.url] },
      ...observing({
        onResponse: () => {
          throw new Error('hook failed');
        },
      }),
    });
    expect((await send(f.url)).status).toBe(200);
    await waitFor(() => errors.length === 1);
    expect(errors.map((e) => e.code)).toEqual(['SWY_ERR_HOOK']);
    expect(errors[0]?.message).toBe('onResponse threw: hook failed');
  });
});

describe('diagnostics channels', () => {
  const subscriptions: Array<[string, (message: unknown) => void]> = [];
  afterEach(() => {
    for (const [name, fn] of subscriptions.splice(0)) unsubscribe(name, fn);
  });

  it('publishes request start, peer chosen and response end for one request', async () => {
    const events: Array<[string, Record<string, unknown>]> = [];
    for (const name of [CHANNELS.requestStart, CHANNELS.peerChosen, CHANNELS.retry, CHANNELS.responseEnd]) {
      const fn = (message: unknown) => events.push([name, message as Record<string, unknown>]);
      subscribe(name, fn);
      subscriptions.push([name, fn]);
    }
    const b = await backend();
    const { f } = await proxyFor({ upstream: { name: 'u', servers: [b.url] } });
    await send(f.url, { path: '/d' });
    await waitFor(() => events.some(([name]) => name === CHANNELS.responseEnd));
    expect(events.map(([name]) => name)).toEqual([
      CHANNELS.requestStart,
      CHANNELS.peerChosen,
      CHANNELS.responseEnd,
    ]);
    const [[, start], [, chosen], [, end]] = events as [
      [string, { req: { url: string } }],
      [string, Record<string, unknown>],
      [string, { record: ResponseRecord }],
    ];
    expect(start.req.url).toBe('/d');
    expect(chosen).toMatchObject({ req: start.req, upstream: 'u', peer: b.hostPort, attempt: 1 });
    expect(end.record.req).toBe(start.req);
    expect(end.record.status).toBe(200);
  });

  it('publishes a retry when the first peer refuses the connection', async () => {
    const retries: unknown[] = [];
    const fn = (message: unknown) => retries.push(message);
    subscribe(CHANNELS.retry, fn);
    subscriptions.push([CHANNELS.retry, fn]);
    const good = await backend();
    const port = await deadPort();
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [`http://127.0.0.1:${port}`, good.url] },
    });
    expect((await send(f.url)).status).toBe(200);
    expect(retries).toMatchObject([{ upstream: 'u', peer: `127.0.0.1:${port}`, reason: 'error' }]);
  });
});

describe('logger', () => {
  it('logs one access entry at info per request', async () => {
    const b = await backend((_req, res) => res.end('0123456789'));
    const logger = memoryLogger();
    const { f } = await proxyFor({ upstream: { name: 'u', servers: [b.url] }, ...observing({ logger }) });
    await send(f.url, { path: '/one' });
    await send(f.url, { path: '/two' });
    await waitFor(() => logger.calls.filter(([level]) => level === 'info').length === 2);
    const infos = logger.calls.filter(([level]) => level === 'info');
    expect(infos.map(([, obj, msg]) => [(obj.req as { url: string }).url, msg])).toEqual([
      ['/one', 'request completed'],
      ['/two', 'request completed'],
    ]);
    expect(infos[0]?.[1]).toMatchObject({
      res: { statusCode: 200 },
      upstream: 'u',
      upstreamAddr: b.hostPort,
      upstreamStatus: '200',
      upstreamCacheStatus: '-',
      bodyBytesSent: 10,
    });
    expect(logger.calls.some(([level]) => level === 'error' || level === 'warn')).toBe(false);
  });

  it('logs a failure at error, the retry at warn, and the request at info', async () => {
    const good = await backend();
    const port = await deadPort();
    const logger = memoryLogger();
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [`http://127.0.0.1:${port}`, good.url] },
      ...observing({ logger }),
    });
    expect((await send(f.url)).status).toBe(200);
    await waitFor(() => logger.calls.some(([level]) => level === 'info'));
    const errors = logger.calls.filter(([level]) => level === 'error');
    expect(errors.map(([, obj]) => [(obj.err as { code: string }).code, obj.req])).toEqual([
      ['SWY_ERR_UPSTREAM', { method: 'GET', url: '/' }],
    ]);
    expect(logger.calls.filter(([level]) => level === 'warn').map(([, obj]) => obj.reason)).toEqual([
      'error',
    ]);
    expect(logger.calls.find(([level]) => level === 'info')?.[1]).toMatchObject({
      upstreamStatus: '502, 200',
    });
  });

  it('logs the proxy own 502 at error when every peer fails', async () => {
    const port = await deadPort();
    const logger = memoryLogger();
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [`http://127.0.0.1:${port}`] },
      ...observing({ logger, onResponse: (r) => records.push(r) }),
    });
    expect((await send(f.url)).status).toBe(502);
    await waitFor(() => records.length === 1);
    expect(records[0]).toMatchObject({ status: 502, outcome: 'error' });
    expect(upstreamStatus(records[0]?.tries ?? [])).toBe('502');
    expect(logger.calls.some(([level]) => level === 'error')).toBe(true);
  });
});

describe('options', () => {
  it('refuses an onResponse that is no function and a logger without its methods', async () => {
    const b = await backend();
    await expect(
      proxyFor({
        upstream: { name: 'u', servers: [b.url] },
        ...({ onResponse: 1 } as unknown as ObserveOptions),
      }),
    ).rejects.toThrow(/^onResponse: expected a function/);
    await expect(
      proxyFor({
        upstream: { name: 'u', servers: [b.url] },
        ...({ logger: {} } as unknown as ObserveOptions),
      }),
    ).rejects.toThrow(/^logger: expected a logger/);
  });
});

describe('records of requests a peer did not answer', () => {
  it('gives a rewrite return, a 444 and a refusal their nginx status, with no group', async () => {
    const b = await backend();
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [b.url] },
      rewrite: compileNginx('location = /gone { return 410 "gone"; }\nlocation = /drop { return 444; }'),
      ...observing({ onResponse: (r) => records.push(r) }),
    });
    expect((await send(f.url, { path: '/gone' })).status).toBe(410);
    await expect(send(f.url, { path: '/drop' })).rejects.toThrow();
    await rawExchange(f.port, 'GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n');
    await waitFor(() => records.length === 3);
    expect(records.map((r) => [r.status, r.outcome, r.upstream, r.tries.length])).toEqual([
      [410, 'answered', undefined, 0],
      [444, 'answered', undefined, 0],
      [400, 'refused', undefined, 0],
    ]);
    expect(records[0]?.bytesSent).toBe('gone'.length);
  });

  it('logs 499 for a client that left before the answer, with the try it cut', async () => {
    const b = await backend(() => {
      // never answers
    });
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'u', servers: [b.url] },
      ...observing({ onResponse: (r) => records.push(r) }),
    });
    const req = request({ host: '127.0.0.1', port: f.port, path: '/slow', agent: false });
    req.on('error', () => {});
    req.end();
    await waitFor(() => b.requests.length === 1);
    req.destroy();
    await waitFor(() => records.length === 1);
    expect(records[0]).toMatchObject({ status: 499, outcome: 'aborted', upstream: 'u' });
    expect(records[0]?.tries.map((t) => [t.peer, t.status, t.failure])).toEqual([
      [b.hostPort, 0, 'abandoned'],
    ]);
  });

  it('records a WebSocket tunnel as 101 when it closes', async () => {
    const up = await wsBackend((ws) => ws.send('hello'));
    const records: ResponseRecord[] = [];
    const { f } = await proxyFor({
      upstream: { name: 'ws', servers: [up.url] },
      ...observing({ onResponse: (r) => records.push(r) }),
    });
    const ws = new WebSocket(`ws://127.0.0.1:${f.port}/chat`);
    await new Promise((resolve, reject) => {
      ws.on('message', resolve);
      ws.on('error', reject);
    });
    expect(records).toHaveLength(0);
    ws.close();
    await waitFor(() => records.length === 1);
    expect(records[0]).toMatchObject({ status: 101, outcome: 'proxied', upstream: 'ws', uri: '/chat' });
    expect(records[0]?.tries.map((t) => [t.peer, t.status])).toEqual([[up.hostPort, 101]]);
  });
});
