import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { start } from './index.mjs';

interface Seen {
  backend: string;
  port: number;
  path: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

describe('demo', () => {
  let demo: { url: string; close(): Promise<void> };

  beforeEach(async () => {
    demo = await start({ port: 0 });
  });

  afterEach(async () => {
    await demo.close();
  });

  async function get(path: string, headers?: Record<string, string>): Promise<Seen> {
    const res = await fetch(`${demo.url}${path}`, { headers });
    expect(res.status).toBe(200);
    const seen = (await res.json()) as Seen;
    expect(res.headers.get('x-backend')).toBe(seen.backend);
    return seen;
  }

  it('spreads requests 2:1:1 in nginx smooth weighted order', async () => {
    const order: string[] = [];
    for (let i = 0; i < 8; i++) order.push((await get('/')).backend);
    expect(order).toEqual(['alpha', 'beta', 'gamma', 'alpha', 'alpha', 'beta', 'gamma', 'alpha']);
  });

  it('keeps a client that returns the sticky cookie on its backend', async () => {
    const first = await fetch(`${demo.url}/`);
    const seen = (await first.json()) as Seen;
    const cookie = (first.headers.get('set-cookie') ?? '').split(';')[0] as string;
    expect(cookie).toMatch(/^demo_srv=/);
    const again: string[] = [];
    for (let i = 0; i < 4; i++) again.push((await get('/', { cookie })).backend);
    expect(again).toEqual([seen.backend, seen.backend, seen.backend, seen.backend]);
  });

  it('passes a POST body and the path through', async () => {
    const res = await fetch(`${demo.url}/orders?id=7`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"hello":"switchyard"}',
    });
    const seen = (await res.json()) as Seen;
    expect(seen).toMatchObject({ path: '/orders?id=7', method: 'POST', body: '{"hello":"switchyard"}' });
  });

  it('replaces the X-Forwarded-For of a client that is not a trusted proxy', async () => {
    const seen = await get('/', { 'x-forwarded-for': '203.0.113.7' });
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
  });

  it('echoes WebSocket messages through the proxy', async () => {
    const ws = new WebSocket(`${demo.url.replace(/^http/, 'ws')}/ws`);
    try {
      const echoed = await new Promise<string>((resolve, reject) => {
        ws.once('error', reject);
        ws.once('open', () => ws.send('hello over the proxy'));
        ws.once('message', (data) => resolve(String(data)));
      });
      expect(echoed).toBe('hello over the proxy');
    } finally {
      ws.terminate();
    }
  });

  it('fails over to the backup when every primary drops the connection', async () => {
    const res = await fetch(`${demo.url}/crash`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Seen).backend).toBe('delta');
    // The three primaries are now unavailable for fail_timeout (10 s): the backup serves.
    expect((await get('/')).backend).toBe('delta');
  });
});
