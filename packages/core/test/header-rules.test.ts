import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createCache, memoryStore } from '@switchyard/cache';
import { compileNginx } from '@switchyard/rewrite';
import { type BackendHandler, deadPort, listen, startBackend } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy, type ProxyOptions, type SwitchyardError } from '../src/index.js';
import { echoed, front, send } from './helpers.js';

describe('header controls (proxy_set_header, proxy_hide_header, add_header, proxy_redirect, proxy_cookie_*)', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()?.();
  });

  /** A backend, and a proxy in front of it with `options`; returns the front's URL. */
  async function through(options: Partial<ProxyOptions>, handler?: BackendHandler) {
    const backend = await startBackend(handler);
    const errors: SwitchyardError[] = [];
    const proxy = createProxy({
      upstream: { name: 'app', servers: [backend.url] },
      onError: (err) => errors.push(err),
      ...options,
    });
    const f = await front(proxy);
    closers.push(
      () => backend.close(),
      () => proxy.close(),
      () => f.close(),
    );
    return { url: f.url, backend, errors };
  }

  it('sets, replaces and removes request fields, with variables and functions', async () => {
    const { url } = await through({
      setRequestHeaders: {
        'X-Real-IP': '$remote_addr',
        'X-Route': '$proxy_host$uri?k=$arg_k&c=$cookie_c&h=$http_x_in',
        Authorization: '',
        'X-Tenant': (req) => (req.headers['x-in'] === 'a' ? 'tenant-a' : undefined),
      },
    });
    const r = echoed(
      await send(url, {
        path: '/p?k=1',
        headers: { authorization: 'Bearer secret', cookie: 'c=3', 'x-in': 'a', 'x-real-ip': '6.6.6.6' },
      }),
    );
    expect(r.headers['x-real-ip']).toBe('127.0.0.1');
    expect(r.headers['x-route']).toBe('app/p?k=1&c=3&h=a');
    expect(r.headers.authorization).toBeUndefined();
    expect(r.headers['x-tenant']).toBe('tenant-a');
  });

  it('forwards the lines the client sent, whatever code did to req.headers; setRequestHeaders removes one', async () => {
    const backend = await startBackend();
    const proxy = createProxy({ upstream: { name: 'app', servers: [backend.url] } });
    const strip = createProxy({
      upstream: { name: 'app', servers: [backend.url] },
      setRequestHeaders: { Authorization: '' },
    });
    const app = (p: typeof proxy) => (req: IncomingMessage, res: ServerResponse) => {
      delete req.headers.authorization;
      p.handler(req, res);
    };
    const [plain, stripped] = [
      await listen(createServer(app(proxy))),
      await listen(createServer(app(strip))),
    ];
    closers.push(
      () => backend.close(),
      () => proxy.close(),
      () => strip.close(),
      () => plain.close(),
      () => stripped.close(),
    );
    const headers = { authorization: 'Bearer secret' };
    expect(echoed(await send(plain.url, { headers })).headers.authorization).toBe('Bearer secret');
    expect(echoed(await send(stripped.url, { headers })).headers.authorization).toBeUndefined();
  });

  it('keeps a Host the rules set, even with host: "peer"', async () => {
    const { url } = await through({ host: 'peer', setRequestHeaders: { Host: 'internal.example' } });
    expect(echoed(await send(url, { headers: { host: 'outside.example' } })).headers.host).toBe(
      'internal.example',
    );
  });

  it('lets rewriteRequestHeaders have the last word on the request fields', async () => {
    const { url } = await through({
      setRequestHeaders: { 'X-Set': 'by rule' },
      rewriteRequestHeaders: (req, headers) => ({
        ...headers,
        'X-Set': undefined,
        'X-Hook': `${req.method} ${headers['X-Set']}`,
      }),
    });
    const r = echoed(await send(url));
    expect([r.headers['x-set'], r.headers['x-hook']]).toEqual([undefined, 'GET by rule']);
  });

  it('hides response fields, on proxied answers and cache hits', async () => {
    const { url } = await through(
      { hideResponseHeaders: ['X-Powered-By'], cache: createCache({ store: memoryStore() }) },
      (_req, res) => {
        res.setHeader('x-powered-by', 'Express');
        res.setHeader('cache-control', 'max-age=60');
        res.end('page');
      },
    );
    const first = await send(url, { path: '/c' });
    const second = await send(url, { path: '/c' });
    expect([first.headers['x-cache-status'], first.headers['x-powered-by']]).toEqual(['MISS', undefined]);
    expect([second.headers['x-cache-status'], second.headers['x-powered-by']]).toEqual(['HIT', undefined]);
  });

  it('adds fields to the statuses nginx lists, and with always to every answer, its own 502 too', async () => {
    const { url } = await through(
      {
        addResponseHeaders: {
          'X-Frame-Options': 'DENY',
          'X-Served': { value: '$status from $upstream_addr, type $sent_http_content_type', always: true },
        },
      },
      (req, res) => {
        res.statusCode = req.url === '/missing' ? 404 : 200;
        res.setHeader('content-type', 'text/plain');
        res.end('x');
      },
    );
    const ok = await send(url, { path: '/' });
    const missing = await send(url, { path: '/missing' });
    expect(ok.headers['x-frame-options']).toBe('DENY');
    expect(ok.headers['x-served']).toMatch(/^200 from 127\.0\.0\.1:\d+, type text\/plain$/);
    expect([missing.headers['x-frame-options'], missing.headers['x-served']?.slice(0, 9)]).toEqual([
      undefined,
      '404 from ',
    ]);

    const dead = createProxy({
      upstream: { name: 'gone', servers: [`http://127.0.0.1:${await deadPort()}`] },
      addResponseHeaders: { 'X-Plain': 'no', 'X-Always': { value: 'yes $status', always: true } },
      onError: () => {},
    });
    const d = await front(dead);
    closers.push(
      () => dead.close(),
      () => d.close(),
    );
    const bad = await send(d.url);
    expect([bad.status, bad.headers['x-plain'], bad.headers['x-always']]).toEqual([
      502,
      undefined,
      'yes 502',
    ]);
  });

  it('rewrites Location and Refresh pointing at the upstream (proxy_redirect default), by rules, or not at all', async () => {
    const redirecting: BackendHandler = (req, res) => {
      const self = `http://${req.headers.host}`;
      res.statusCode = 302;
      res.setHeader('location', `${self}/next?a=1`);
      res.setHeader('refresh', `5; url=${self}/later`);
      res.end();
    };
    const byDefault = await through({ host: 'peer' }, redirecting);
    const r = await send(byDefault.url);
    expect([r.headers.location, r.headers.refresh]).toEqual(['/next?a=1', '5; url=/later']);

    const ruled = await through(
      {
        host: 'peer',
        proxyRedirect: [{ from: /^http:\/\/127\.0\.0\.1:\d+\/(.*)$/, to: 'https://www.example/$1' }],
      },
      redirecting,
    );
    expect((await send(ruled.url)).headers.location).toBe('https://www.example/next?a=1');

    const off = await through({ host: 'peer', proxyRedirect: false }, redirecting);
    expect((await send(off.url)).headers.location).toBe(`${off.backend.url}/next?a=1`);
  });

  it('rewrites the Domain and Path of Set-Cookie (proxy_cookie_domain, proxy_cookie_path)', async () => {
    const { url } = await through(
      {
        cookieDomain: [{ from: 'internal.local', to: 'example.com' }],
        cookiePath: [{ from: '/app/', to: '/' }],
      },
      (_req, res) => {
        res.setHeader('set-cookie', [
          'a=1; Domain=.Internal.Local; Path=/app/x; HttpOnly',
          'b=2; domain=other.local; path=/else',
        ]);
        res.end();
      },
    );
    expect((await send(url)).headers['set-cookie']).toEqual([
      'a=1; Domain=example.com; Path=/x; HttpOnly',
      'b=2; domain=other.local; path=/else',
    ]);
  });

  it('lets onResponseHead change the head last', async () => {
    const { url } = await through({
      onResponseHead: (req, head) => {
        head.headers['x-seen'] = `${req.url} ${head.status}`;
        delete head.headers['x-backend'];
      },
    });
    const r = await send(url, { path: '/h' });
    expect([r.headers['x-seen'], r.headers['x-backend']]).toEqual(['/h 200', undefined]);
  });

  it('answers 500 and reports a hook that throws, then serves the next request', async () => {
    let fail = true;
    const { url, errors } = await through({
      setRequestHeaders: {
        'X-Key': () => {
          if (fail) throw new Error('no key');
          return 'k';
        },
      },
      onResponseHead: (req) => {
        if (req.url === '/head') throw new Error('bad head');
      },
    });
    expect((await send(url)).status).toBe(500);
    fail = false;
    expect((await send(url, { path: '/head' })).status).toBe(500);
    expect(errors.map((e) => [e.code, (e as SwitchyardError & { hook: string }).hook])).toEqual([
      ['SWY_ERR_HOOK', 'setRequestHeaders.X-Key'],
      ['SWY_ERR_HOOK', 'onResponseHead'],
    ]);
    const r = await send(url);
    expect([r.status, echoed(r).headers['x-key']]).toEqual([200, 'k']);
  });

  it('applies the add_header, proxy_set_header and proxy_hide_header of the location the rules chose', async () => {
    const rules = compileNginx(`
      add_header X-Server-Level on;
      proxy_set_header X-From server;
      location /own/ {
        add_header X-Loc own always;
        add_header ETag "";
        proxy_set_header X-From "own $uri";
        proxy_hide_header X-Secret;
        proxy_pass http://app;
      }
      location = /ret { add_header X-Ret yes; return 200 "r"; }
      location / { proxy_pass http://app; }
    `);
    const { url } = await through(
      {
        rewrite: rules,
        addResponseHeaders: { 'X-Option': 'opt' },
        hideResponseHeaders: ['X-Other'],
      },
      (req, res) => {
        res.statusCode = req.url === '/own/missing' ? 404 : 200;
        res.setHeader('x-secret', 's');
        res.setHeader('x-other', 'o');
        res.setHeader('etag', '"v1"');
        res.end(`from ${req.headers['x-from']}`);
      },
    );
    const own = await send(url, { path: '/own/a' });
    expect([own.body, own.headers['x-loc'], own.headers['x-server-level'], own.headers['x-option']]).toEqual([
      'from own /own/a',
      'own',
      undefined,
      undefined,
    ]);
    // The location's hide list replaces the option's; its empty ETag removes the upstream's.
    expect([own.headers['x-secret'], own.headers['x-other'], own.headers.etag]).toEqual([
      undefined,
      'o',
      undefined,
    ]);
    expect((await send(url, { path: '/own/missing' })).headers['x-loc']).toBe('own');
    const other = await send(url, { path: '/b' });
    expect([other.body, other.headers['x-server-level'], other.headers['x-option']]).toEqual([
      'from server',
      'on',
      undefined,
    ]);
    expect([other.headers['x-secret'], other.headers['x-other']]).toEqual(['s', undefined]);
    const ret = await send(url, { path: '/ret' });
    expect([ret.body, ret.headers['x-ret'], ret.headers['x-option']]).toEqual(['r', 'yes', undefined]);
  });

  it('refuses bad header options when the proxy is built, naming the option', () => {
    const base = { upstream: { name: 'x', servers: ['http://127.0.0.1:9'] } };
    expect(() => createProxy({ ...base, setRequestHeaders: { 'X-A': '$nope' } })).toThrow(
      'setRequestHeaders.X-A: expected known variables only, got "$nope"',
    );
    expect(() => createProxy({ ...base, setRequestHeaders: { 'bad name': 'x' } })).toThrow(
      'setRequestHeaders.bad name: expected a header field name, got "bad name"',
    );
    expect(() =>
      createProxy({ ...base, addResponseHeaders: { 'X-A': { value: 'v', always: 'yes' as never } } }),
    ).toThrow('addResponseHeaders.X-A.always: expected a boolean, got "yes"');
    expect(() => createProxy({ ...base, proxyRedirect: 'on' as never })).toThrow(
      'proxyRedirect: expected false, "default" or an array of { from, to }, got "on"',
    );
    expect(() => createProxy({ ...base, cookiePath: [{ from: 1, to: '/' }] as never })).toThrow(
      'cookiePath[0]: expected { from: string | RegExp, to: string }, got {"from":1,"to":"/"}',
    );
  });
});
