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
});
