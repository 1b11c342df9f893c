// cache.mjs, beside cache-middleware: a bare node:http server answering from memory the very
// bytes a cache hit sends (status, headers in the same order, body), with nothing else.
import { createServer } from 'node:http';
import { BODY_BYTES, HIT_HEADERS } from '../lib/cached-page.mjs';
import { closeServer, listenLocal } from '../lib/listen.mjs';

export async function start() {
  // Like the cache's hit path, it leaves the (empty) GET request body alone.
  const server = createServer((_req, res) => {
    res.writeHead(200, HIT_HEADERS);
    res.end(BODY_BYTES);
  });
  return {
    listen: () => listenLocal(server),
    close: () => closeServer(server),
  };
}
