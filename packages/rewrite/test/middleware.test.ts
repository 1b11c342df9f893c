import { createServer, request } from 'node:http';
import { type Listening, listen } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { compileNginx, type RewriteResult } from '../src/index.js';

const engine = compileNginx(`
  rewrite ^/old/(.*)$ /new/$1 permanent;
  location = /hello { return 200 "hello $arg_name"; }
  location = /teapot { return 418; }
  location = /close { return 444; }
  location /app/ { rewrite ^/app/(.*)$ /$1 break; proxy_pass http://127.0.0.1:9; }
`);

let server: Listening | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<{ seen: string[]; results: RewriteResult[] }> {
  const seen: string[] = [];
  const results: RewriteResult[] = [];
  const mw = engine.middleware({ onResult: (_req, r) => results.push(r) });
  server = await listen(
    createServer((req, res) => {
      mw(req, res, () => {
        seen.push(req.url ?? '');
        res.end(`app saw ${req.url}`);
      });
    }),
  );
  return { seen, results };
}

function raw(
  path: string,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const r = request(`${server?.url}${path}`, { method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('engine.middleware()', () => {
  it('rewrites req.url and hands the request on', async () => {
    const { seen, results } = await start();
    const res = await raw('/app/x%20y?q=1');
    expect(res).toMatchObject({ status: 200, body: 'app saw /x%20y?q=1' });
    expect(seen).toEqual(['/x%20y?q=1']);
    expect(results).toEqual([
      { action: 'pass', uri: '/x%20y?q=1', location: '/app/', target: 'http://127.0.0.1:9' },
    ]);
  });

  it('answers a redirect with an absolute Location', async () => {
    await start();
    const res = await raw('/old/a?b=1');
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe(`http://127.0.0.1:${server?.port}/new/a?b=1`);
    expect(res.body).toContain('<title>301 Moved Permanently</title>');
  });

  it('answers a return with its text, or a page of its own', async () => {
    await start();
    expect(await raw('/hello?name=ada')).toMatchObject({
      status: 200,
      body: 'hello ada',
      headers: { 'content-type': 'text/plain', 'content-length': '9' },
    });
    const teapot = await raw('/teapot');
    expect(teapot.status).toBe(418);
    expect(teapot.body).toContain("<center><h1>418 I'm a Teapot</h1></center>");
    expect(await raw('/hello', 'HEAD')).toMatchObject({ status: 200, body: '' });
  });

  it('closes the connection for 444', async () => {
    await start();
    await expect(raw('/close')).rejects.toThrow('socket hang up');
  });

  it('adds add_header headers to its answers and to the next handler response, by status', async () => {
    const mw = compileNginx(`
      add_header X-Always a always;
      add_header X-Ok o;
      add_header ETag "";
      location = /teapot { return 418; }
      location = /moved { return 302 /there; }
      location /app/ { add_header X-App $uri; add_header X-App-Too 2; proxy_pass http://127.0.0.1:9; }
    `).middleware();
    server = await listen(
      createServer((req, res) => {
        mw(req, res, () => {
          res.setHeader('ETag', '"upstream"');
          res.statusCode = req.url === '/app/missing' ? 404 : 200;
          res.end('app');
        });
      }),
    );
    const teapot = await raw('/teapot');
    expect(teapot.status).toBe(418);
    expect(teapot.headers['x-always']).toBe('a');
    expect(teapot.headers['x-ok']).toBeUndefined();
    const moved = await raw('/moved');
    expect([moved.headers['x-always'], moved.headers['x-ok']]).toEqual(['a', 'o']);
    const plain = await raw('/other');
    // nginx's ETag handler: an empty value removes the response's own header.
    expect(plain.headers.etag).toBeUndefined();
    expect(plain.headers['x-ok']).toBe('o');
    const app = await raw('/app/x');
    expect(app).toMatchObject({ status: 200, body: 'app' });
    expect([app.headers['x-app'], app.headers['x-app-too'], app.headers['x-ok']]).toEqual([
      '/app/x',
      '2',
      undefined,
    ]);
    expect(app.headers.etag).toBe('"upstream"');
    const missing = await raw('/app/missing');
    expect(missing.status).toBe(404);
    expect(missing.headers['x-app']).toBeUndefined();
  });
});
