import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { start } from './index.mjs';

describe('Express example', () => {
  let app: { url: string; close(): Promise<void> };

  beforeEach(async () => {
    app = await start({ port: 0 });
  });

  afterEach(async () => {
    await app.close();
  });

  it('sends /api requests to the two backends in turn, with the full URI', async () => {
    const backends: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${app.url}/api/users?page=${i}`);
      expect(res.status).toBe(200);
      const seen = (await res.json()) as { backend: string; url: string };
      expect(seen.url).toBe(`/api/users?page=${i}`);
      backends.push(seen.backend);
    }
    expect(backends).toEqual(['alpha', 'beta', 'alpha', 'beta']);
  });

  it('passes a request body through to the backend', async () => {
    const res = await fetch(`${app.url}/api/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"greeting":"hello upstream"}',
    });
    const seen = (await res.json()) as { backend: string; method: string; body: string };
    expect(seen).toMatchObject({ method: 'POST', body: '{"greeting":"hello upstream"}' });
  });

  it('leaves the routes outside /api to Express', async () => {
    const res = await fetch(`${app.url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(await res.json()).toEqual({ handledBy: 'express', received: { a: 1 } });
  });
});
