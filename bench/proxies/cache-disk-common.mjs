// cache.mjs, disk section: createCache({ store }).middleware() in a plain node:http listener,
// in front of an origin answering a 100 KiB page; after the first request every request is a
// HIT, answered from the store the contender passes (memory or disk).
import { CACHE_OPTIONS, startCacheMiddleware } from '../lib/cached-page.mjs';

/** The page of the disk section: 100 KiB, the same bytes in every process. */
export const LARGE_BODY_BYTES = Buffer.alloc(100 * 1024, 'switchyard disk cache bench. ');

/** The origin's response headers, as the small page's. */
export const LARGE_ORIGIN_HEADERS = {
  'content-type': 'text/plain',
  'content-length': String(LARGE_BODY_BYTES.length),
};

/** The origin handler behind the cache (and behind nginx); counts its calls. */
export function makeLargeOrigin() {
  let calls = 0;
  return {
    handle(req, res) {
      calls++;
      req.resume();
      res.writeHead(200, LARGE_ORIGIN_HEADERS);
      res.end(LARGE_BODY_BYTES);
    },
    calls: () => calls,
  };
}

/** Starts the middleware on `store`; `close` runs after the server closed (the store's cleanup). */
export function startWithStore(store, close = async () => {}) {
  return startCacheMiddleware({ ...CACHE_OPTIONS, store }, makeLargeOrigin(), close);
}
