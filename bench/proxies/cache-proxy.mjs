// cache.mjs: the switchyard proxy with a cache (createProxy({ upstream, cache })) in front of
// the three backends; after the first request every request is a HIT.
import { createServer } from 'node:http';
import { createCache } from '@switchyard/cache';
import { createProxy } from '@switchyard/core';
import { CACHE_OPTIONS } from '../lib/cached-page.mjs';
import { closeServer, listenLocal } from '../lib/listen.mjs';

export async function start(targets) {
  const cache = createCache(CACHE_OPTIONS);
  const proxy = createProxy({ upstream: { name: 'bench', servers: targets }, cache });
  const server = createServer(proxy.handler);
  return {
    listen: () => listenLocal(server),
    close: async () => {
      await closeServer(server);
      await proxy.close();
    },
    stats: () => {
      const stats = cache.stats();
      // Every request that was not a HIT went to a backend.
      return { cache: stats, upstreamCalls: stats.miss.responses + stats.expired.responses };
    },
  };
}
