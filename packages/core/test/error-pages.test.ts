import { createLimits, rateZone } from '@switchyard/limit';
import { compileNginx } from '@switchyard/rewrite';
import { type BackendHandler, deadPort, startBackend } from '@switchyard/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createProxy, type ProxyOptions, type SwitchyardError } from '../src/index.js';
import { front, send } from './helpers.js';

describe('error pages (nginx error_page, proxy_intercept_errors)', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()?.();
  });

  async function through(options: Partial<ProxyOptions>, handler?: BackendHandler, dead = false) {
    const backend = await startBackend(handler);
    const servers = [dead ? `http://127.0.0.1:${await deadPort()}` : backend.url];
    const errors: SwitchyardError[] = [];
    const proxy = createProxy({
      upstream: { name: 'app', servers },
      onError: (e) => errors.push(e),
      ...options,
    });
    const f = await front(proxy);
    closers.push(
      () => backend.close(),
      () => proxy.close(),
      () => f.close(),
    );
    return { url: f.url, errors, backend };
  }

  it("sends a page in place of the proxy's own 502, with its status or the one it names", async () => {
    const kept = await through({ errorPages: { 502: { body: '<h1>Back soon</h1>' } } }, undefined, true);
    const r = await send(kept.url);
    expect([r.status, r.headers['content-type'], r.body]).toEqual([
      502,
      'text/html; charset=utf-8',
      '<h1>Back soon</h1>',
    ]);
    expect(kept.errors.map((e) => e.code)).toEqual(['SWY_ERR_UPSTREAM']);

    const replaced = await through(
      { errorPages: { 502: { body: '{"ok":false}', contentType: 'application/json', status: 200 } } },
      undefined,
      true,
    );
    const j = await send(replaced.url);
    expect([j.status, j.headers['content-type'], j.body]).toEqual([200, 'application/json', '{"ok":false}']);
  });

  it('redirects a 504 when the page is a URL', async () => {
    const { url } = await through(
      { headersTimeoutMs: 50, errorPages: { 504: { redirect: 'https://status.example/' } } },
      (_req, res) => {
        setTimeout(() => res.end('late'), 2_000).unref();
      },
    );
    const r = await send(url);
    expect([r.status, r.headers.location]).toEqual([302, 'https://status.example/']);
  });

  it('lets a function answer, and reports one that throws with a 500', async () => {
    let fail = false;
    const { url, errors } = await through(
      {
        errorPages: {
          502: (req, res, { status }) => {
            if (fail) throw new Error('page broke');
            res.writeHead(503, { 'retry-after': '5' }).end(`${req.url} got ${status}`);
          },
        },
      },
      undefined,
      true,
    );
    const r = await send(url, { path: '/x' });
    expect([r.status, r.headers['retry-after'], r.body]).toEqual([503, '5', '/x got 502']);
    fail = true;
    expect((await send(url)).status).toBe(500);
    expect(errors.map((e) => (e as SwitchyardError & { hook?: string }).hook)).toContain('errorPages.502');
  });

  it("replaces an upstream's error answer with interceptErrors only", async () => {
    const missing: BackendHandler = (_req, res) => {
      res.statusCode = 404;
      res.end('upstream says 404');
    };
    const page = { 404: { body: 'our own 404' } };
    const intercepted = await through({ errorPages: page, interceptErrors: true }, missing);
    const passed = await through({ errorPages: page }, missing);
    const a = await send(intercepted.url);
    const b = await send(passed.url);
    expect([a.status, a.body, b.status, b.body]).toEqual([404, 'our own 404', 404, 'upstream says 404']);
    // The next request is served as usual.
    expect((await send(intercepted.url)).body).toBe('our own 404');
  });

  it("covers a limit's refusal and a rule's return of an error status", async () => {
    const limits = createLimits({ req: [{ zone: rateZone({ name: 'one', rate: '1r/m' }) }], reqStatus: 429 });
    const { url } = await through({
      limits,
      rewrite: compileNginx('location = /gone { return 410; } location / { proxy_pass http://app; }'),
      errorPages: { 429: { body: 'slow down' }, 410: { body: 'gone for good' } },
    });
    expect((await send(url, { path: '/a' })).status).toBe(200);
    const limited = await send(url, { path: '/a' });
    expect([limited.status, limited.body]).toEqual([429, 'slow down']);
    const gone = await send(url, { path: '/gone' });
    expect([gone.status, gone.body]).toEqual([410, 'gone for good']);
  });

  it('refuses bad pages when the proxy is built, naming the option', () => {
    const base = { upstream: { name: 'x', servers: ['http://127.0.0.1:9'] } };
    expect(() => createProxy({ ...base, errorPages: { 200: { body: 'x' } } })).toThrow(
      'errorPages.200: expected a status from 300 to 599 as the key, got "200"',
    );
    expect(() =>
      createProxy({ ...base, errorPages: { 502: { redirect: 'https://x/', status: 200 as never } } }),
    ).toThrow('errorPages.502.status: expected a redirect status, got 200');
    expect(() => createProxy({ ...base, errorPages: { 502: { body: 42 as never } } })).toThrow(
      'errorPages.502.body: expected a string or a Buffer, got 42',
    );
  });
});
