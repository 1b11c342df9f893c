// The upstream servers every contender forwards to: plain node:http servers on 127.0.0.1
// answering a small fixed body with keep-alive, so the proxies are what is measured.

import { once } from 'node:events';
import { createServer } from 'node:http';

export const BODY = 'hello world\n';

const headers = {
  'content-type': 'text/plain',
  'content-length': String(Buffer.byteLength(BODY)),
};

function onRequest(req, res) {
  // Drain any request body before answering so the connection stays reusable.
  req.resume();
  res.writeHead(200, headers);
  res.end(BODY);
}

/** Starts `count` backends on 127.0.0.1, port 0; resolves to `{ urls, close }`. */
export async function startBackends(count = 3) {
  const servers = [];
  for (let i = 0; i < count; i++) {
    const server = createServer({ keepAlive: true }, onRequest);
    server.keepAliveTimeout = 60_000;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    servers.push(server);
  }
  const urls = servers.map((s) => `http://127.0.0.1:${s.address().port}`);
  async function close() {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  }
  return { urls, close };
}
