// switchyard with everything off that can be: passive health off (`maxFails: 0` on every
// server), no next-upstream retries, no send timeout, no admin API or metrics. The upstream
// still counts its per-peer statistics; that cannot be turned off.
import { createServer } from 'node:http';
import * as core from '@switchyard/core';
import { closeServer, listenLocal } from '../lib/listen.mjs';

export function start(targets) {
  return startWith(core, targets);
}

/** The contender on the given build of `@switchyard/core` (see base-switchyard-bare.mjs). */
export async function startWith({ createProxy }, targets) {
  const proxy = createProxy({
    upstream: { name: 'bench', servers: targets.map((url) => ({ url, maxFails: 0 })) },
    nextUpstream: false,
    sendTimeoutMs: 0,
  });
  const server = createServer(proxy.handler);
  return {
    listen: () => listenLocal(server),
    close: async () => {
      await closeServer(server);
      await proxy.close();
    },
  };
}
