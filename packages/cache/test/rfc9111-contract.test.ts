import { type Listening, manualClock } from '@switchyard/testkit';
import { Agent } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createCache } from '../src/cache/index.js';
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

describe("semantics: 'rfc9111' behind a proxy that follows the ProxyCache contract", () => {
  it('serves hits with Age and Cache-Status, and a successful POST invalidates its target and Location', async () => {
    const clock = manualClock(Date.UTC(2030, 0, 1));
    const cache = createCache({ now: clock, semantics: 'rfc9111' });
    let version = 0;
    const up = await serve((req, res) => {
      if (req.method === 'POST') {
        version++;
        res.writeHead(201, { location: '/other' }).end();
        return;
      }
      // Date from the test's clock: a real one years away would make every response stale.
      const date = new Date(clock()).toUTCString();
      res
        .writeHead(200, { date, 'cache-control': 'max-age=60', 'content-type': 'text/plain' })
        .end(`v${version}`);
    });
    const agent = new Agent({ keepAliveTimeout: 10 });
    const proxy = await serve(contractProxy(cache, up.url, agent));
    const c = client();
    open.push(proxy, up);
    clients.push(c);
    agents.push(agent);
    const get = (path: string, method = 'GET') => c.get(`${proxy.url}${path}`, { method });

    const miss = await get('/item');
    expect([miss.body, miss.headers['cache-status']]).toEqual(['v0', 'switchyard; fwd=uri-miss; stored']);
    await get('/other');
    clock.advance(5000);
    const hit = await get('/item');
    expect([hit.body, hit.cache, hit.headers.age, hit.headers['cache-status']]).toEqual([
      'v0',
      'HIT',
      '5',
      'switchyard; hit; ttl=55',
    ]);

    const post = await get('/item', 'POST');
    expect([post.status, post.cache]).toEqual([201, null]);
    const after = await get('/item');
    expect([after.body, after.cache]).toEqual(['v1', 'MISS']);
    expect((await get('/other')).cache).toBe('MISS');
  });
});
