import { Agent, request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { start } from './index.mjs';

interface Microcache {
  url: string;
  close(): Promise<void>;
  upstreamCalls(): number;
}

interface Page {
  page: string;
  render: number;
}

interface Answer {
  status: number;
  cacheStatus: string | undefined;
  page: Page;
}

describe('microcache example', () => {
  let app: Microcache;
  /** The cache's clock runs this far ahead of the real one; tests move it instead of sleeping. */
  let skew = 0;
  /** One connection per request, so a burst really arrives at once. */
  let agent: Agent;

  async function open(options: { renderMs?: number } = {}): Promise<void> {
    app = await start({ port: 0, now: () => Date.now() + skew, ...options });
  }

  beforeEach(async () => {
    skew = 0;
    agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
    await open();
  });

  afterEach(async () => {
    agent.destroy();
    await app.close();
  });

  function get(path = '/'): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request(`${app.url}${path}`, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => {
          try {
            resolve({
              status: res.statusCode ?? 0,
              cacheStatus: res.headers['x-cache-status'] as string | undefined,
              page: JSON.parse(body) as Page,
            });
          } catch (err) {
            reject(err);
          }
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
  }

  function burst(n: number, path = '/'): Promise<Answer[]> {
    return Promise.all(Array.from({ length: n }, () => get(path)));
  }

  function count(answers: Answer[]): Record<string, number> {
    const by: Record<string, number> = {};
    for (const a of answers) by[a.cacheStatus ?? 'none'] = (by[a.cacheStatus ?? 'none'] ?? 0) + 1;
    return by;
  }

  it('renders a burst of 100 concurrent requests once: one MISS, the rest HIT', async () => {
    const answers = await burst(100);
    expect(app.upstreamCalls()).toBe(1);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(count(answers)).toEqual({ MISS: 1, HIT: 99 });
    // Every client got the one render.
    expect(new Set(answers.map((a) => a.page.render))).toEqual(new Set([1]));

    const again = await get();
    expect(again.cacheStatus).toBe('HIT');
    expect(again.page.render).toBe(1);
    expect(app.upstreamCalls()).toBe(1);
  });

  it('answers MISS, then HIT while fresh', async () => {
    expect((await get('/a')).cacheStatus).toBe('MISS');
    skew += 900; // still within the second
    const hit = await get('/a');
    expect(hit.cacheStatus).toBe('HIT');
    expect(hit.page.render).toBe(1);
    expect(app.upstreamCalls()).toBe(1);
  });

  it('serves the expired page STALE / UPDATING while one background update renders it again', async () => {
    // A slower render here (300 ms instead of 50) leaves the burst below ample time to arrive
    // while the update runs, even on a busy machine.
    await app.close();
    await open({ renderMs: 300 });
    expect((await get()).cacheStatus).toBe('MISS');
    expect(app.upstreamCalls()).toBe(1);

    skew += 1_500; // the entry expired half a second ago
    const stale = await get();
    expect(stale.cacheStatus).toBe('STALE'); // answered at once, from the old render…
    expect(stale.page.render).toBe(1);
    expect(app.upstreamCalls()).toBe(2); // …while a background update started

    // While that update renders, everyone else gets the old page marked UPDATING.
    const during = await burst(20);
    expect(count(during)).toEqual({ UPDATING: 20 });
    expect(during.every((a) => a.page.render === 1)).toBe(true);
    expect(app.upstreamCalls()).toBe(2);

    // Once it is stored, the new render is a HIT; still only the one update ran.
    const fresh = await vi.waitFor(
      async () => {
        const a = await get();
        expect(a.cacheStatus).toBe('HIT');
        return a;
      },
      { timeout: 2_000, interval: 20 },
    );
    expect(fresh.page.render).toBe(2);
    expect(app.upstreamCalls()).toBe(2);
  });

  it('keeps different pages apart', async () => {
    const [a, b] = await Promise.all([get('/a'), get('/b')]);
    expect([a.cacheStatus, b.cacheStatus]).toEqual(['MISS', 'MISS']);
    expect(app.upstreamCalls()).toBe(2);
    expect((await get('/a')).page.page).toBe('/a');
  });
});

describe('microcache example without the cache', () => {
  it('renders every request', async () => {
    const app = (await start({ port: 0, cache: false })) as Microcache;
    try {
      const answers = await Promise.all(
        Array.from({ length: 10 }, () => fetch(`${app.url}/`).then((r) => r.headers.get('x-cache-status'))),
      );
      expect(answers).toEqual(Array(10).fill(null));
      expect(app.upstreamCalls()).toBe(10);
    } finally {
      await app.close();
    }
  });
});
