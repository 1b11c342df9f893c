// switchyard as Express middleware: everything under /api goes to two loopback backends,
// the rest of the app is ordinary Express.
//
//   node examples/express/index.mjs          (PORT overrides the default 8092)
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProxy } from '@switchyard/core';
import express from 'express';

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
 * Starts the two backends and the Express app in front of them.
 * @param {{ port?: number }} [options] the app's port; 0 picks a free one
 * @returns {Promise<{ url: string, close(): Promise<void> }>}
 */
export async function start({ port = 0 } = {}) {
  const backends = await Promise.all([startBackend('alpha'), startBackend('beta')]);
  const proxy = createProxy({
    upstream: {
      name: 'api',
      servers: backends.map((b) => `http://127.0.0.1:${b.address().port}`),
    },
  });

  const app = express();
  // The proxy forwards req.originalUrl: GET /api/users reaches a backend as /api/users.
  // Mounted ahead of any body parser, it streams request bodies through unread.
  app.use('/api', proxy.middleware);
  // Routes the app answers itself parse their bodies as usual.
  app.post('/echo', express.json(), (req, res) => {
    res.json({ handledBy: 'express', received: req.body });
  });

  const server = createServer(app);
  const closeAll = async () => {
    await stop(server);
    await proxy.close();
    await Promise.all(backends.map(stop));
  };
  try {
    await listen(server, port);
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { url: `http://127.0.0.1:${server.address().port}`, close: closeAll };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const app = await start({ port: Number(process.env.PORT ?? 8092) });
  console.log(`switchyard (Express) on ${app.url}
  curl ${app.url}/api/users                        # proxied: alpha, then beta, then alpha…
  curl -d 'hello upstream' ${app.url}/api/echo     # proxied with its body
  curl -H 'content-type: application/json' -d '{"a":1}' ${app.url}/echo   # answered by Express`);
  const shutdown = () => void app.close();
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
