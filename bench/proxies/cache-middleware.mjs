// cache.mjs: createCache().middleware() (memory store) in a plain node:http listener, in front
// of a handler answering the page; after the first request every request is a HIT.
import { CACHE_OPTIONS, makeOrigin, startCacheMiddleware } from '../lib/cached-page.mjs';

export function start() {
  return startCacheMiddleware(CACHE_OPTIONS, makeOrigin());
}
