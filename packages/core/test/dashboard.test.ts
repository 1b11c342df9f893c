import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type Listening, listen } from '@switchyard/testkit';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { DASHBOARD_CSS, DASHBOARD_HTML, DASHBOARD_SCRIPT } from '../src/admin/dashboard/index.js';
import { type AdminApiOptions, createAdminApi } from '../src/index.js';
import { createUpstream } from '../src/upstream/index.js';
import { send } from './helpers.js';

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
});

const upstreams = () => [createUpstream({ name: 'app', servers: ['http://127.0.0.1:9'] })];

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Listening> {
  const l = await listen(createServer(handler));
  closers.push(() => l.close());
  return l;
}

async function admin(options: Partial<AdminApiOptions> = {}): Promise<Listening> {
  const api = createAdminApi({ upstreams: upstreams(), requestId: () => 'rid', ...options });
  closers.push(() => api.close());
  return serve(api.handler);
}

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

describe('dashboard page', () => {
  it('is served at /dashboard and /dashboard.html with a policy that allows only its own script and style', async () => {
    const { url } = await admin();
    for (const path of ['/dashboard', '/dashboard/', '/dashboard.html', '/dashboard?refresh=1']) {
      const r = await send(url, { path });
      expect([path, r.status, r.body]).toEqual([path, 200, DASHBOARD_HTML]);
      expect(r.headers).toMatchObject({
        'content-type': 'text/html; charset=utf-8',
        'content-length': String(Buffer.byteLength(DASHBOARD_HTML)),
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      });
      expect(r.headers['content-security-policy']).toBe(
        [
          "default-src 'none'",
          `script-src ${hash(DASHBOARD_SCRIPT)}`,
          `style-src ${hash(DASHBOARD_CSS)}`,
          "connect-src 'self'",
          "img-src 'self' data:",
          "base-uri 'none'",
          "form-action 'none'",
          "frame-ancestors 'none'",
        ].join('; '),
      );
    }
    const head = await send(url, { method: 'HEAD', path: '/dashboard' });
    expect([head.status, head.body, head.headers['content-type']]).toEqual([
      200,
      '',
      'text/html; charset=utf-8',
    ]);
  });

  it('inlines exactly the script and style the policy hashes, with nothing loaded from elsewhere', () => {
    expect(DASHBOARD_HTML).toContain(`<script>${DASHBOARD_SCRIPT}</script>`);
    expect(DASHBOARD_HTML).toContain(`<style>${DASHBOARD_CSS}</style>`);
    expect(DASHBOARD_HTML.match(/<script/g)).toEqual(['<script']);
    expect(DASHBOARD_HTML).not.toMatch(/\b(?:src|href)="(?:https?:)?\/\//);
    expect(DASHBOARD_SCRIPT).not.toContain('</');
    // The script parses (it is not run here: it needs a browser).
    expect(() => new Function(DASHBOARD_SCRIPT)).not.toThrow();
    // Data reaches the page as text only.
    expect(DASHBOARD_SCRIPT).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  });

  it('has a Limits panel, hidden until the API it reads has limit_req or limit_conn zones', async () => {
    expect(DASHBOARD_HTML).toContain('<section class="limits" id="limits" hidden>');
    expect(DASHBOARD_HTML).toContain('<tbody id="limit-rows"></tbody>');
    const heads = /<section class="limits"[\s\S]*?<thead>([\s\S]*?)<\/thead>/.exec(DASHBOARD_HTML)?.[1] ?? '';
    expect(heads.match(/<th[^>]*>[^<]*<\/th>/g)?.map((th) => th.replace(/<[^>]+>/g, ''))).toEqual([
      'Zone',
      'Directive',
      'Passed',
      'Delayed',
      'Rejected',
      'Rejected/s',
    ]);
    // The page reads both collections each second and shows the panel only when they have zones.
    expect(DASHBOARD_SCRIPT).toContain("getJson('http/limit_reqs'),");
    expect(DASHBOARD_SCRIPT).toContain("getJson('http/limit_conns'),");
    expect(DASHBOARD_SCRIPT).toContain("$('limits').hidden = rows.length === 0;");

    // What those reads answer, with limits and without.
    const zone = { passed: 4, delayed: 1, rejected: 2, delayed_dry_run: 0, rejected_dry_run: 0 };
    const limited = await admin({
      limits: { limitReqs: () => ({ api: zone }), limitConns: () => ({}) },
    });
    expect(JSON.parse((await send(limited.url, { path: '/api/9/http/limit_reqs' })).body)).toEqual({
      api: zone,
    });
    expect(JSON.parse((await send(limited.url, { path: '/api/9/http/limit_conns' })).body)).toEqual({});
    const plain = await admin();
    for (const path of ['/api/9/http/limit_reqs', '/api/9/http/limit_conns']) {
      expect(JSON.parse((await send(plain.url, { path })).body)).toEqual({});
    }
  });

  it('answers other methods with 405 MethodNotSupported', async () => {
    const { url } = await admin({ auth: { token: 't' } });
    const r = await send(url, { method: 'POST', path: '/dashboard', headers: { authorization: 'Bearer t' } });
    expect([r.status, r.headers.allow, JSON.parse(r.body)]).toEqual([
      405,
      'GET, HEAD',
      {
        error: { status: 405, text: 'method not supported', code: 'MethodNotSupported' },
        request_id: 'rid',
        href: 'https://nginx.org/en/docs/http/ngx_http_api_module.html',
      },
    ]);
  });

  it('is served under the prefix, and beside the API under an Express mount path', async () => {
    const prefixed = await admin({ prefix: '/admin' });
    expect((await send(prefixed.url, { path: '/admin/dashboard' })).status).toBe(200);
    expect((await send(prefixed.url, { path: '/dashboard' })).status).toBe(404);

    const api = createAdminApi({ upstreams: upstreams() });
    closers.push(() => api.close());
    const app = express();
    app.use('/ops', api.middleware);
    app.use((_req, res) => {
      res.status(418).send('next');
    });
    const l = await serve(app as unknown as (req: IncomingMessage, res: ServerResponse) => void);
    expect((await send(l.url, { path: '/ops/dashboard' })).body).toBe(DASHBOARD_HTML);
    expect((await send(l.url, { path: '/ops/dashboards' })).status).toBe(418);
  });

  it('lets the page learn whether it may write with a PATCH the API answers 404, 401 or 405', async () => {
    // The page's probe: authority is checked before the (missing) path is looked up.
    const probe = (url: string, headers: Record<string, string> = {}) =>
      send(url, { method: 'PATCH', path: '/api/9/nginx/dashboard-auth-check', headers }).then((r) => [
        r.status,
        JSON.parse(r.body).error.code,
      ]);
    const open = await admin({ auth: { token: 't' } });
    expect(await probe(open.url, { authorization: 'Bearer t' })).toEqual([404, 'PathNotFound']);
    expect(await probe(open.url)).toEqual([401, 'Unauthorized']);
    expect(await probe(open.url, { authorization: 'Bearer x' })).toEqual([401, 'Unauthorized']);
    const hook = await admin({ auth: { authorize: () => false } });
    expect(await probe(hook.url)).toEqual([403, 'Forbidden']);
    const off = await admin();
    expect(await probe(off.url)).toEqual([405, 'MethodDisabled']);
    expect(DASHBOARD_SCRIPT).toContain("api('nginx/dashboard-auth-check'), { method: 'PATCH'");
  });
});
