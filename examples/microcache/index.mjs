// Microcaching with @switchyard/cache on a plain node:http server, no proxy: a deliberately
// slow dynamic page (about 50 ms to "render") cached for 1 s, nginx style:
//
//   proxy_cache_valid 200 1s;
//   proxy_cache_lock on;                      # a burst of misses renders the page once
//   proxy_cache_use_stale updating;           # an expired page is served while it is refreshed
//   proxy_cache_background_update on;         # …by one request in the background
//
//   node examples/microcache/index.mjs        (PORT overrides the default 8094)
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createCache } from '@switchyard/cache';

/** How long the slow page takes to render, ms. */
export const RENDER_MS = 50;

/** Listens on 127.0.0.1; resolves with the server once it is accepting. */
function listen(server, port) {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', fail);
      done(server);
    });
  });
}

/** Closes a server and every connection it holds, keep-alive ones included. */
function stop(server) {
  return new Promise((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
}

/**
 * Starts the slow page behind the cache on 127.0.0.1.
 * @param {object} [options]
 * @param {number} [options.port] the port; 0 (the default) picks a free one
 * @param {() => number} [options.now] the cache's clock, ms since the epoch (a test moves it
 *   forward instead of sleeping); the page prints it too. Default `Date.now`
 * @param {boolean} [options.cache] `false` serves the page uncached, for comparison. Default `true`
 * @param {number} [options.renderMs] how long a render takes. Default {@link RENDER_MS}
 * @param {boolean} [options.log] log each render. Default `false`
 * @returns {Promise<{ url: string, close(): Promise<void>, upstreamCalls(): number,
 *   cache: import('@switchyard/cache').Cache | undefined }>} `upstreamCalls()` counts the
 *   renders of the slow handler, background updates included
 */
export async function start({
  port = 0,
  now = Date.now,
  cache = true,
  renderMs = RENDER_MS,
  log = false,
} = {}) {
  let calls = 0;

  /** The dynamic page: slow, and different on every render. */
  async function slowPage(req, res) {
    const render = ++calls;
    const started = now();
    await sleep(renderMs);
    const body = `${JSON.stringify({ page: req.url, render, renderedAt: new Date(started).toISOString() })}\n`;
    if (log) console.log(`rendered ${req.url} (render #${render})`);
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  function fail(res, err) {
    console.error('microcache example:', err);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('500 Internal Server Error\n');
  }

  const page = (req, res) => slowPage(req, res).catch((err) => fail(res, err));

  // nginx: proxy_cache_valid 200 1s; proxy_cache_lock on;
  //        proxy_cache_use_stale updating; proxy_cache_background_update on;
  const pages = cache
    ? createCache({
        valid: { 200: '1s' },
        lock: true,
        useStale: ['updating'],
        backgroundUpdate: true,
        now,
      })
    : undefined;
  const cached = pages?.middleware();

  const server = createServer((req, res) => {
    if (cached === undefined) {
      page(req, res);
      return;
    }
    cached(req, res, (err) => (err === undefined ? page(req, res) : fail(res, err)));
  });
  await listen(server, port);
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => stop(server),
    upstreamCalls: () => calls,
    cache: pages,
  };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const app = await start({ port: Number(process.env.PORT ?? 8094), log: true });
  console.log(`microcache: a ${RENDER_MS} ms page cached for 1 s on ${app.url}
  curl -si ${app.url}/ | grep -i x-cache-status             # MISS, then HIT for a second
  sleep 1.1; curl -si ${app.url}/ | grep -i x-cache-status  # STALE: the old page at once, refreshed in the background
  curl -s ${app.url}/                                       # HIT again: the new render (UPDATING during the ${RENDER_MS} ms refresh)
  seq 100 | xargs -P 100 -I{} curl -s -o /dev/null ${app.url}/burst   # 100 at once: one render (see the log)`);
  const shutdown = () => {
    console.log(`\n${app.upstreamCalls()} render(s) of the slow page`);
    void app.close();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
