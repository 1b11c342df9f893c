// node-http-proxy with a keep-alive agent, round robin over the backends.
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';
import { closeServer, listenLocal } from '../lib/listen.mjs';

export async function start(targets) {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const proxy = httpProxy.createProxyServer({ agent });
  proxy.on('error', (_err, _req, res) => {
    if (res.headersSent === false) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway\n');
    } else {
      res.destroy();
    }
  });
  let next = 0;

  const server = createServer((req, res) => {
    const target = targets[next];
    next = (next + 1) % targets.length;
    proxy.web(req, res, { target });
  });

  return {
    listen: () => listenLocal(server),
    close: async () => {
      await closeServer(server);
      proxy.close();
      agent.destroy();
    },
  };
}
