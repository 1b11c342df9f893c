// The `pnpm demo` / `npm run demo` program: three weighted demo backends and a backup
// behind a switchyard front on node:http, WebSocket included.
//
//   node examples/demo/index.mjs             (PORT overrides the default 8080)
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stickyCookie } from '@switchyard/balancers';
import { createProxy } from '@switchyard/core';
import { WebSocketServer } from 'ws';

/** The demo backends: three weighted primaries and one backup. */
const BACKENDS = [
  { name: 'alpha', weight: 2 },
  { name: 'beta', weight: 1 },
  { name: 'gamma', weight: 1 },
  { name: 'delta', backup: true },
];

/** Listens on 127.0.0.1 and remembers every socket, so that `close` never waits on one. */
function listen(server, port) {
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', fail);
      done({
        port: server.address().port,
        close: () =>
          new Promise((closed) => {
            server.close(() => closed());
            // Upgraded (WebSocket) sockets included, which server.close() leaves open.
            for (const socket of sockets) socket.destroy();
          }),
      });
    });
  });
}

/**
 * A demo backend. `/slow` answers after 200 ms; `/crash` drops the connection without an
 * answer on a primary (the backup answers it); `/ws` is a WebSocket echo; any other
 * path answers with a JSON account of the request.
 */
async function startBackend({ name, backup = false }) {
  let port = 0;
  const answer = async (req, res, body) => {
    const path = req.url ?? '/';
    if (path === '/crash' && !backup) {
      req.socket.destroy();
      return;
    }
    if (path === '/slow') await sleep(200);
    res.setHeader('content-type', 'application/json');
    res.setHeader('x-backend', name);
    const seen = { backend: name, port, path, method: req.method, headers: req.headers };
    if (body !== '') seen.body = body;
    res.end(`${JSON.stringify(seen, null, 2)}\n`);
  };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => void answer(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  const listening = await listen(server, 0);
  port = listening.port;
  return {
    name,
    port,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise((closed) => wss.close(() => closed()));
      await listening.close();
    },
  };
}

/**
 * Starts the demo backends and the switchyard front.
 * @param {{ port?: number }} [options] the front's port; 0 picks a free one
 * @returns {Promise<{ url: string, backends: { name: string, port: number }[], close(): Promise<void> }>}
 */
export async function start({ port = 0 } = {}) {
  const backends = await Promise.all(BACKENDS.map(startBackend));
  const proxy = createProxy({
    upstream: {
      name: 'demo',
      servers: BACKENDS.map(({ weight, backup }, i) => ({
        url: `http://127.0.0.1:${backends[i].port}`,
        weight,
        backup,
      })),
      // A browser, or curl with a cookie jar, keeps its backend (NGINX Plus sticky cookie).
      persistence: stickyCookie({ name: 'demo_srv', secret: 'demo-only-secret', httpOnly: true }),
    },
  });
  const server = createServer(proxy.handler);
  server.on('upgrade', proxy.upgrade);

  let front;
  const close = async () => {
    await front?.close();
    await proxy.close();
    await Promise.all(backends.map((b) => b.close()));
  };
  try {
    front = await listen(server, port);
  } catch (err) {
    await close();
    throw err;
  }
  return {
    url: `http://127.0.0.1:${front.port}`,
    backends: backends.map(({ name, port }) => ({ name, port })),
    close,
  };
}

function banner({ url, backends }) {
  const host = url.replace(/^http:\/\//, '');
  const list = backends
    .map(({ name, port }, i) => {
      const { weight = 1, backup } = BACKENDS[i];
      return `    ${name.padEnd(6)} 127.0.0.1:${port}  ${backup ? 'backup' : `weight ${weight}`}`;
    })
    .join('\n');
  return `
switchyard demo: proxy on ${url}
  upstream "demo":
${list}

Round robin, weighted 2:1:1 (nginx's smooth order: alpha beta gamma alpha, …):
  for i in 1 2 3 4 5 6 7 8; do curl -si ${url}/ | grep -i '^x-backend'; done

Sticky sessions: the first answer sets a signed cookie naming the backend; a client
that sends it back (a browser, or curl with a cookie jar) stays on that backend:
  for i in 1 2 3 4; do curl -s -c /tmp/jar -b /tmp/jar ${url}/ | grep '"backend"'; done

What a backend receives (path, method, headers):
  curl ${url}/hello?name=switchyard

A POST body, streamed through:
  curl -H 'content-type: application/json' -d '{"hello":"switchyard"}' ${url}/orders

X-Forwarded-For: this client is not a trusted proxy, so the value it sends is replaced
by its own address (trustProxy in createProxy() makes the proxy append to it instead):
  curl -s -H 'X-Forwarded-For: 203.0.113.7' ${url}/ | grep forwarded

A slow backend (200 ms) holds only its own request:
  curl -w '%{time_total}s\\n' ${url}/slow

WebSocket echo through the proxy:
  npx wscat -c ws://${host}/ws

Failover: there is no admin API yet, so the primaries fail on purpose. On /crash each
primary drops the connection; the proxy tries the next one (proxy_next_upstream error)
and, with all three failed, the backup. Each failed primary then rests for 10 s
(max_fails=1, fail_timeout=10s), so for 10 s every request goes to delta:
  curl -i ${url}/crash
  curl -si ${url}/ | grep -i '^x-backend'

Ctrl-C stops everything.
`;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const demo = await start({ port: Number(process.env.PORT ?? 8080) });
  console.log(banner(demo));
  const shutdown = () => {
    console.log('switchyard demo: closing');
    void demo.close();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
