// switchyard with its defaults: one upstream group of the three backends (round robin).
import { createServer } from 'node:http';
import { createProxy } from '@switchyard/core';
import { closeServer, listenLocal } from '../lib/listen.mjs';

export async function start(targets) {
  const proxy = createProxy({ upstream: { name: 'bench', servers: targets } });
  const server = createServer(proxy.handler);
  return {
    listen: () => listenLocal(server),
    close: async () => {
      await closeServer(server);
      await proxy.close();
    },
  };
}
