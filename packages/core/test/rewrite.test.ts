import { connect } from 'node:net';
import { compileNginx } from '@switchyard/rewrite';
import { type Backend, startBackend } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy, createUpstream } from '../src/index.js';
import { echoed, front, send } from './helpers.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

async function backend(): Promise<Backend> {
  const b = await startBackend();
  closers.push(() => b.close());
  return b;
}

describe('rewrite rules in the proxy', () => {
  it('rewrites the URI, answers redirects and returns, and routes locations to their groups', async () => {
    const media = await backend();
    const api = await backend();
    const direct = await backend();
    const rules = compileNginx(`
      rewrite ^(/download/.*)/media/(\\w+)\\.?.*$ $1/mp3/$2.mp3 last;
      rewrite ^/old/(.*)$ /new/$1 permanent;
      location = /gone { return 410 "gone for good"; }
      location = /drop { return 444; }
      location /api/ { proxy_pass http://api; }
      location /direct/ { proxy_pass http://${direct.hostPort}; }
      location / { proxy_pass http://media; }
    `);
    const proxy = createProxy({
      upstream: createUpstream({ name: 'media', servers: [media.url] }),
      upstreams: { api: { name: 'api', servers: [api.url] } },
      rewrite: rules,
    });
    const f = await front(proxy);
    closers.push(
      () => f.close(),
      () => proxy.close(),
    );

    const song = await send(f.url, {
      path: '/download/a/b/media/song.wav?q=1',
      headers: { host: 'example.com' },
    });
    expect(echoed(song).url).toBe('/download/a/b/mp3/song.mp3?q=1');
    expect(media.requests).toHaveLength(1);

    const moved = await send(f.url, { path: '/old/page', headers: { host: 'example.com' } });
    expect(moved.status).toBe(301);
    expect(moved.headers.location).toBe(`http://example.com:${f.port}/new/page`);

    const gone = await send(f.url, { path: '/gone' });
    expect([gone.status, gone.body]).toEqual([410, 'gone for good']);

    expect(echoed(await send(f.url, { path: '/api/users?id=3' })).url).toBe('/api/users?id=3');
    expect(api.requests).toHaveLength(1);

    expect(proxy.groups().map((g) => g.name)).toEqual(['media', 'api']);
    expect(echoed(await send(f.url, { path: '/direct/x' })).url).toBe('/direct/x');
    expect(direct.requests).toHaveLength(1);
    // The group made for the address is listed once it exists, and is used again.
    expect(proxy.groups().map((g) => g.name)).toEqual(['media', 'api', direct.hostPort]);
    await send(f.url, { path: '/direct/y' });
    expect(proxy.groups()).toHaveLength(3);
    expect(proxy.groups()[2]?.primaries[0]?.stats().requests).toBe(2);

    const closed = await new Promise<string>((resolve) => {
      const s = connect(f.port, '127.0.0.1', () => s.write('GET /drop HTTP/1.1\r\nHost: a\r\n\r\n'));
      let data = '';
      s.on('data', (c) => {
        data += c;
      });
      s.on('close', () => resolve(data));
    });
    expect(closed).toBe('');
  });

  it('rejects an engine without evaluate()', () => {
    expect(() =>
      createProxy({ upstream: { name: 'x', servers: ['http://127.0.0.1:9'] }, rewrite: {} as never }),
    ).toThrow('rewrite: expected an engine with evaluate() (compileNginx from @switchyard/rewrite), got {}');
  });
});
