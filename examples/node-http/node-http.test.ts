import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { start } from './index.mjs';

describe('node:http example', () => {
  let app: { url: string; close(): Promise<void> };

  beforeEach(async () => {
    app = await start({ port: 0 });
  });

  afterEach(async () => {
    await app.close();
  });

  it('sends requests to the two backends in turn', async () => {
    const backends: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${app.url}/hello`);
      expect(res.status).toBe(200);
      const seen = (await res.json()) as { backend: string; url: string };
      expect(seen.url).toBe('/hello');
      backends.push(seen.backend);
    }
    expect(backends).toEqual(['alpha', 'beta', 'alpha', 'beta']);
  });

  it('passes a request body through to the backend', async () => {
    const res = await fetch(`${app.url}/echo`, { method: 'POST', body: 'hello upstream' });
    const seen = (await res.json()) as { method: string; body: string };
    expect(seen).toMatchObject({ method: 'POST', body: 'hello upstream' });
  });
});
