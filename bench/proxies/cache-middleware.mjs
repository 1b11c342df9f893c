// cache.mjs: createCache().middleware() (memory store) in a plain node:http listener, in front
// of a handler answering the page; after the first request every request is a HIT.
import { createServer } from 'node:http';
import { createCache } from '@switchyard/cache';
import { CACHE_OPTIONS, makeOrigin } from '../lib/cached-page.mjs';
import { closeServer, listenLocal } from '../lib/listen.mjs';

export async function start() {
  const cache = createCache(CACHE_OPTIONS);
  const middleware = cache.middleware();
  const origin = makeOrigin();
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
    close: () => closeServer(server),
    stats: () => ({ cache: cache.stats(), upstreamCalls: origin.calls() }),
  };
}
