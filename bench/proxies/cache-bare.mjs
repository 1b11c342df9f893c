// cache.mjs, beside cache-middleware: a bare node:http server answering from memory the very
// bytes a cache hit sends (status, headers in the same order, body), with nothing else. Its
// Cache-Status counts down from one hour, as the cache's entry stored at the first request.
import { createServer } from 'node:http';
import { BODY_BYTES, HIT_HEADERS } from '../lib/cached-page.mjs';
import { closeServer, listenLocal } from '../lib/listen.mjs';

const LIFETIME_MS = 3_600_000;

export async function start() {
  let expiresAt;
  // Like the cache's hit path, it leaves the (empty) GET request body alone.
  const server = createServer((_req, res) => {
    const now = Date.now();
    expiresAt ??= now + LIFETIME_MS;
    const ttl = Math.floor((expiresAt - now) / 1000);
    res.writeHead(200, [...HIT_HEADERS, 'Cache-Status', `switchyard; hit; ttl=${ttl}`]);
    res.end(BODY_BYTES);
  });
  return {
    listen: () => listenLocal(server),
    close: () => closeServer(server),
  };
}
