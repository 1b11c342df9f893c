import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Listening, manualClock } from '@switchyard/testkit';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type CacheOptions, createCache } from '../src/cache/index.js';
import { type Client, client, contractProxy, serve } from './helpers.js';

let open: Listening[] = [];
let clients: Client[] = [];
let agents: Agent[] = [];

afterEach(async () => {
  await Promise.all(open.map((s) => s.close()));
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(agents.map((a) => a.close()));
  open = [];
  clients = [];
  agents = [];
});

/** A backend, a cache, and a proxy in front that follows the ProxyCache contract. */
async function setup(options: CacheOptions, backend: (req: IncomingMessage, res: ServerResponse) => void) {
  const clock = manualClock(Date.UTC(2030, 0, 1));
  const cache = createCache({ now: clock, ...options });
  const seen: { method: string; headers: IncomingMessage['headers'] }[] = [];
  const up = await serve((req, res) => {
    seen.push({ method: req.method ?? '', headers: req.headers });
    backend(req, res);
  });
  const agent = new Agent({ keepAliveTimeout: 10 });
  const proxy = await serve(contractProxy(cache, up.url, agent));
  const c = client();
  open.push(proxy, up);
  clients.push(c);
  agents.push(agent);
  return { clock, seen, up, get: (path: string, method = 'GET') => c.get(`${proxy.url}${path}`, { method }) };
}

describe('the ProxyCache contract, driven by a proxy as core will drive it', () => {
  it('keys entries by $proxy_host and fetches a HEAD upstream as GET', async () => {
    const { get, seen } = await setup({ valid: { 200: '1m' } }, (_req, res) => res.end('hello'));
    const head = await get('/h', 'HEAD');
    const full = await get('/h');
    expect([head.cache, head.body, full.cache, full.body]).toEqual(['MISS', '', 'HIT', 'hello']);
    expect(seen.map((s) => s.method)).toEqual(['GET']);
  });

  it('serves STALE when the upstream is gone (useStale error), and 502 without a stale entry', async () => {
    const { get, clock, up } = await setup({ valid: { 200: '1s' }, useStale: ['error'] }, (_req, res) =>
      res.end('kept'),
    );
    await get('/s');
    clock.advance(1000);
    await up.close();
    const stale = await get('/s');
    expect([stale.status, stale.cache, stale.body]).toEqual([200, 'STALE', 'kept']);
    const none = await get('/never-stored');
    expect([none.status, none.cache]).toEqual([502, null]);
  });

  it('revalidates through the proxy: the upstream sees the validators, the client gets the entry', async () => {
    const { get, clock, seen } = await setup({ valid: { 200: '1s' }, revalidate: true }, (req, res) => {
      if (req.headers['if-none-match'] === '"a"') {
        res.writeHead(304, { etag: '"a"' }).end();
        return;
      }
      res.writeHead(200, { etag: '"a"' }).end('entity');
    });
    await get('/r');
    clock.advance(1000);
    const r = await get('/r');
    expect([r.status, r.cache, r.body]).toEqual([200, 'REVALIDATED', 'entity']);
    expect(seen[1]?.headers['if-none-match']).toBe('"a"');
  });

  it('sends the background update upstream after answering STALE', async () => {
    let n = 0;
    const { get, clock, seen } = await setup(
      { valid: { 200: '1s' }, useStale: ['updating'], backgroundUpdate: true },
      (_req, res) => res.end(`v${++n}`),
    );
    await get('/bg');
    clock.advance(1000);
    const stale = await get('/bg');
    expect([stale.cache, stale.body]).toEqual(['STALE', 'v1']);
    for (let i = 0; i < 200 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 2));
    let fresh = await get('/bg');
    for (let i = 0; i < 200 && fresh.body !== 'v2'; i++) fresh = await get('/bg');
    expect([fresh.cache, fresh.body]).toEqual(['HIT', 'v2']);
    expect(seen.length).toBe(2);
  });
});
