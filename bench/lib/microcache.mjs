// cache.mjs, microcache section: examples/microcache as a contender of lib/proxy-child.mjs,
// with or without its cache.
import { start as startExample } from '../../examples/microcache/index.mjs';

export function microcacheContender(cache) {
  let app;
  return {
    async listen() {
      app = await startExample({ port: 0, cache });
      return Number(new URL(app.url).port);
    },
    close: () => app?.close(),
    stats: () => ({ upstreamCalls: app.upstreamCalls(), cache: app.cache?.stats() ?? null }),
  };
}
