// switchyard as a user runs it with its statistics read: createProxy() with its defaults
// (one upstream group of the three backends, round robin, passive health on: maxFails 1),
// plus the admin API and the Prometheus metrics built on that group. They are not served on
// a port: building them attaches their tracking listeners to the upstream, the cost measured
// here. The upstream counts its per-peer statistics in any case.
import { createServer } from 'node:http';
import * as core from '@switchyard/core';
import * as coreMetrics from '@switchyard/core/metrics';
import { closeServer, listenLocal } from '../lib/listen.mjs';

export function start(targets) {
  return startWith(core, coreMetrics, targets);
}

/** The contender on the given builds of `@switchyard/core` and its `/metrics` (see base-switchyard.mjs). */
export async function startWith({ createAdminApi, createProxy }, { createMetrics }, targets) {
  const proxy = createProxy({ upstream: { name: 'bench', servers: targets } });
  const metrics = createMetrics({ upstreams: [proxy.upstream] });
  const admin = createAdminApi({ upstreams: [proxy.upstream], metrics });
  const server = createServer(proxy.handler);
  return {
    listen: () => listenLocal(server),
    close: async () => {
      await closeServer(server);
      admin.close();
      metrics.close();
      await proxy.close();
    },
    // What the statistics readers say, to check they saw the traffic.
    stats: async () => ({
      requests: proxy.upstream.peers.reduce((n, p) => n + p.stats().requests, 0),
      metricsBytes: (await metrics.metrics()).length,
    }),
  };
}
