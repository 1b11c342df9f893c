// switchyard with a plain node:http server: two loopback backends behind one proxy.
//
//   node examples/node-http/index.mjs        (PORT overrides the default 8091)
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProxy } from '@switchyard/core';

/** Listens on 127.0.0.1; resolves with the server once it is accepting. */
function listen(server, port) {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', fail);
      done(server);
    });
  });
}

/** Closes a server and every connection it holds, keep-alive ones included. */
function stop(server) {
  return new Promise((done) => {
    server.close(() => done());
    server.closeAllConnections();
  });
}

/** A demo backend: answers every request with its name and what it received. */
function startBackend(name) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ backend: name, method: req.method, url: req.url, body }));
    });
  });
  return listen(server, 0);
}

/**
 * Starts the two backends and the proxy in front of them.
 * @param {{ port?: number }} [options] the front's port; 0 picks a free one
 * @returns {Promise<{ url: string, close(): Promise<void> }>}
 */
export async function start({ port = 0 } = {}) {
  const backends = await Promise.all([startBackend('alpha'), startBackend('beta')]);
  const proxy = createProxy({
    upstream: {
      name: 'app',
      servers: backends.map((b) => `http://127.0.0.1:${b.address().port}`),
    },
  });
  const front = createServer(proxy.handler);
  front.on('upgrade', proxy.upgrade);
  const closeAll = async () => {
    await stop(front);
    await proxy.close();
    await Promise.all(backends.map(stop));
  };
  try {
    await listen(front, port);
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { url: `http://127.0.0.1:${front.address().port}`, close: closeAll };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const app = await start({ port: Number(process.env.PORT ?? 8091) });
  console.log(`switchyard (node:http) on ${app.url}
  curl ${app.url}/hello                      # alpha, then beta, then alpha…
  curl -d 'hello upstream' ${app.url}/echo   # the body reaches the backend`);
  const shutdown = () => void app.close();
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
