import { once } from 'node:events';

/**
 * Listens on 127.0.0.1, port 0, with the same client-side keep-alive settings for every
 * contender built on a bare node:http server; resolves to the port.
 */
export async function listenLocal(server) {
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server.address().port;
}

/** Stops accepting, drops open client connections, resolves when the server is closed. */
export function closeServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
