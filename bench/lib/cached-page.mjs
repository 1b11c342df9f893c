// What bench/cache.mjs serves: one small page, its origin handler, and the exact bytes a
// cache hit of it carries, so a bare server can answer the same response from memory.
import { createServer } from 'node:http';
import { createCache } from '@switchyard/cache';
import { BODY } from './backends.mjs';
import { closeServer, listenLocal } from './listen.mjs';

export { BODY };

export const BODY_BYTES = Buffer.from(BODY);

/** The cache options of the hit-path contenders: a 200 stays fresh for the whole run. */
export const CACHE_OPTIONS = { valid: { 200: '1h' } };

/** The origin's response headers: those of the backends of run.mjs. */
const ORIGIN_HEADERS = {
  'content-type': 'text/plain',
  'content-length': String(BODY_BYTES.length),
};

/**
 * A cache hit of the page as `@switchyard/cache` sends it: the stored headers (names
 * lowercased, Content-Length dropped), then Content-Length and X-Cache-Status.
 */
export const HIT_HEADERS = [
  'content-type',
  'text/plain',
  'content-length',
  String(BODY_BYTES.length),
  'X-Cache-Status',
  'HIT',
];

/** The origin handler behind the cache middleware; counts its calls. */
export function makeOrigin() {
  let calls = 0;
  return {
    handle(req, res) {
      calls++;
      req.resume();
      res.writeHead(200, ORIGIN_HEADERS);
      res.end(BODY);
    },
    calls: () => calls,
  };
}

/**
 * `createCache(options).middleware()` in a node:http listener in front of `origin`
 * (`{ handle, calls }`); `close` runs after the server closed (a store's cleanup).
 */
export async function startCacheMiddleware(options, origin, close = async () => {}) {
  const cache = createCache(options);
  const middleware = cache.middleware();
  const server = createServer((req, res) => {
    middleware(req, res, (err) => {
      if (err === undefined) {
        origin.handle(req, res);
      } else {
        res.writeHead(500);
        res.end();
      }
    });
  });
  return {
    listen: () => listenLocal(server),
    close: async () => {
      await closeServer(server);
      await close();
    },
    stats: () => ({ cache: cache.stats(), upstreamCalls: origin.calls() }),
  };
}
