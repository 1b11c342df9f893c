// The `pnpm demo` / `npm run demo` program: three weighted demo backends and a backup
// behind a switchyard front on node:http, WebSocket included; active health checks; and
// the admin API with its live dashboard on a second loopback port, kept busy by a gentle
// built-in client.
//
//   node examples/demo/index.mjs
//     PORT          the proxy's port (default 8080)
//     ADMIN_PORT    the admin API's and dashboard's port (default PORT + 1)
//     ADMIN_TOKEN   the bearer token that may write (default: a random one, printed)
//     DEMO_TRAFFIC  0 turns the built-in client off
import { randomBytes } from 'node:crypto';
import { Agent, createServer, request } from 'node:http';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stickyCookie } from '@switchyard/balancers';
import { createCache } from '@switchyard/cache';
import { countTraffic, createAdminApi, createHealthCheck, createProxy } from '@switchyard/core';
import { createMetrics } from '@switchyard/core/metrics';
import { compileNginx } from '@switchyard/rewrite';
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

/** Marks a listen error with the variable that moves that port (`PORT`, `ADMIN_PORT`). */
function portError(err, variable) {
  if (err?.code === 'EADDRINUSE' || err?.code === 'EACCES') err.portVariable = variable;
  return err;
}

/**
 * A demo backend. `/slow` answers after 200 ms; `/crash` drops the connection without an
 * answer on a primary (the backup answers it); `/status/404` (any 2xx-5xx) answers that
 * status; `/healthz` answers 200, or 503 after a `POST /toggle-health` (another one
 * heals it); `/ws` is a WebSocket echo; any other path answers with a JSON account of
 * the request.
 */
async function startBackend({ name, backup = false }) {
  let port = 0;
  let healthy = true;
  const answer = async (req, res, body) => {
    const path = req.url ?? '/';
    if (path === '/crash' && !backup) {
      req.socket.destroy();
      return;
    }
    res.setHeader('x-backend', name);
    if (path === '/healthz') {
      res.statusCode = healthy ? 200 : 503;
      res.end(healthy ? 'ok\n' : 'failing\n');
      return;
    }
    if (path === '/toggle-health' && req.method === 'POST') {
      healthy = !healthy;
      res.setHeader('content-type', 'application/json');
      res.end(`${JSON.stringify({ backend: name, healthy })}\n`);
      return;
    }
    const status = /^\/status\/([2-5]\d\d)$/.exec(path);
    if (status !== null) {
      res.statusCode = Number(status[1]);
      if (res.statusCode >= 300 && res.statusCode < 400) res.setHeader('location', '/');
      res.end();
      return;
    }
    if (path === '/slow') await sleep(200);
    res.setHeader('content-type', 'application/json');
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
 * What the built-in client asks for, in turn: mostly pages, some slow, some 3xx and 4xx,
 * and a microcached report (hits on the dashboard's cache card).
 */
const TRAFFIC_PATHS = [
  '/',
  '/hello',
  '/cached/report',
  '/slow',
  '/orders',
  '/status/404',
  '/',
  '/status/302',
  '/cached/report',
  '/items',
];

/**
 * A gentle client that keeps the dashboard alive: `perSecond` GETs through the front on
 * loopback over keep-alive connections, never more than two in flight, until stopped.
 */
function startTraffic(url, { perSecond = 4 } = {}) {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  let inFlight = 0;
  let next = 0;
  const tick = () => {
    if (inFlight >= 2) return;
    inFlight++;
    const path = TRAFFIC_PATHS[next++ % TRAFFIC_PATHS.length];
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      inFlight--;
    };
    const req = request(`${url}${path}`, { agent }, (res) => {
      res.resume();
      res.on('end', done);
      res.on('error', done);
    });
    req.on('error', done);
    req.end();
  };
  const timer = setInterval(tick, Math.round(1000 / perSecond));
  tick();
  return {
    stop() {
      clearInterval(timer);
      agent.destroy();
    },
  };
}

/** The rewrite rules of the first suite of rewrite.json (nginx's own example), before the proxy. */
const REWRITE_RULES = `
  rewrite ^(/download/.*)/media/(\\w+)\\.?.*$ $1/mp3/$2.mp3 last;
  rewrite ^(/download/.*)/audio/(\\w+)\\.?.*$ $1/mp3/$2.ra last;
  location / { proxy_pass http://demo; }
`;

/**
 * Starts the demo backends, the switchyard front, the health checks and the admin API.
 * @param {{ port?: number, adminPort?: number, adminToken?: string, traffic?: boolean }} [options]
 *   the front's and the admin API's ports (0 picks a free one), the token that may write
 *   through the API (default: random), and whether the built-in client sends traffic
 * @returns {Promise<{
 *   url: string, adminUrl: string, dashboardUrl: string, token: string,
 *   backends: { name: string, port: number }[],
 *   checks: import('@switchyard/core').HealthCheck,
 *   close(): Promise<void>,
 * }>}
 */
export async function start({ port = 0, adminPort = 0, adminToken, traffic = false } = {}) {
  const token = adminToken ?? randomBytes(18).toString('base64url');
  const backends = await Promise.all(BACKENDS.map(startBackend));
  // nginx: proxy_cache for /cached/ only, 5 s, one request per key upstream.
  const cache = createCache({
    valid: { 200: '5s' },
    lock: true,
    bypass: (req) => !req.url.startsWith('/cached/'),
    noCache: (req) => !req.url.startsWith('/cached/'),
  });
  const proxy = createProxy({
    // nginx: the rewrite rules of the first rewrite.json suite, then proxy_pass.
    rewrite: compileNginx(REWRITE_RULES),
    cache,
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

  // nginx: health_check uri=/healthz interval=2s fails=1 passes=1;
  const checks = createHealthCheck(proxy.upstream, { uri: '/healthz', intervalMs: 2_000, timeoutMs: 1_000 });
  // The front's client connections and requests, for /connections and /http/requests.
  const stats = countTraffic([server]);
  // The Prometheus metrics the admin port serves at /metrics (they need prom-client).
  // `upstreams: proxy` also lists the groups the proxy makes for proxy_pass addresses.
  const metrics = createMetrics({ upstreams: proxy, caches: { demo: cache }, stats });
  const admin = createAdminApi({
    upstreams: proxy,
    caches: { demo: cache },
    stats,
    metrics,
    auth: { token },
  });
  const adminServer = createServer(admin.handler);

  let front;
  let adminListening;
  let client;
  const close = async () => {
    client?.stop();
    await checks.stop();
    await adminListening?.close();
    admin.close();
    stats.close();
    // Requests in flight may finish (for up to 2 s) while new ones get 503.
    await Promise.all([front?.close(), proxy.close({ graceful: true, timeoutMs: 2_000 })]);
    await Promise.all(backends.map((b) => b.close()));
  };
  try {
    front = await listen(server, port).catch((err) => Promise.reject(portError(err, 'PORT')));
    adminListening = await listen(adminServer, adminPort).catch((err) =>
      Promise.reject(portError(err, 'ADMIN_PORT')),
    );
  } catch (err) {
    await close();
    throw err;
  }
  checks.start();
  const url = `http://127.0.0.1:${front.port}`;
  const adminUrl = `http://127.0.0.1:${adminListening.port}`;
  if (traffic) client = startTraffic(url);
  return {
    url,
    adminUrl,
    dashboardUrl: `${adminUrl}/dashboard`,
    token,
    backends: backends.map(({ name, port }) => ({ name, port })),
    checks,
    close,
  };
}

function banner({ url, adminUrl, dashboardUrl, token, backends }, { traffic, tokenFromEnv }) {
  const host = url.replace(/^http:\/\//, '');
  const beta = backends.find((b) => b.name === 'beta') ?? backends[0];
  const auth = tokenFromEnv ? '"Authorization: Bearer $ADMIN_TOKEN"' : `"Authorization: Bearer ${token}"`;
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

Live dashboard (NGINX Plus style, updated every second):
  ${dashboardUrl}
  admin token: ${tokenFromEnv ? '(from ADMIN_TOKEN)' : token}
  Paste the token into the dashboard to get its Drain, Down and weight buttons.
  ${
    traffic
      ? 'A built-in client sends about 4 requests/s through the proxy (DEMO_TRAFFIC=0 turns it off).'
      : 'The built-in client is off (DEMO_TRAFFIC=0): send some requests to see traffic.'
  }

Active health checks (health_check uri=/healthz interval=2s): make beta fail its
check, and within 2 s it turns red on the dashboard and gets no requests; the same
command again heals it:
  curl -X POST http://127.0.0.1:${beta.port}/toggle-health

The NGINX Plus-shaped API (versions 8 and 9) and Prometheus metrics, on the admin port:
  curl -s ${adminUrl}/api/9/http/upstreams
  curl -s -X PATCH -H ${auth} -d '{"drain":true}' ${adminUrl}/api/9/http/upstreams/demo/servers/0
  curl -s -X PATCH -H ${auth} -d '{"drain":false}' ${adminUrl}/api/9/http/upstreams/demo/servers/0
  curl -s ${adminUrl}/metrics | grep nginxplus_upstream_server_state
Writes without the token answer 401 Unauthorized.

Round robin, weighted 2:1:1 (nginx's smooth order: alpha beta gamma alpha, …):
  for i in 1 2 3 4 5 6 7 8; do curl -si ${url}/ | grep -i '^x-backend'; done

Sticky sessions: the first answer sets a signed cookie naming the backend; a client
that sends it back (a browser, or curl with a cookie jar) stays on that backend:
  for i in 1 2 3 4; do curl -s -c /tmp/jar -b /tmp/jar ${url}/ | grep '"backend"'; done

URL rewriting with nginx's own rules (rewrite ^(/download/.*)/media/(\\w+)\\.?.*$ $1/mp3/$2.mp3 last;):
the backend receives /download/a/b/mp3/song.mp3:
  curl -s ${url}/download/a/b/media/song.wav | grep '"path"'

Microcaching (proxy_cache for /cached/, 5 s): MISS, then HIT from the cache:
  for i in 1 2; do curl -si ${url}/cached/report | grep -i '^x-cache-status'; done

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

Passive health checks and failover: on /crash each primary drops the connection; the
proxy tries the next one (proxy_next_upstream error) and, with all three failed, the
backup. Each failed primary then rests for 10 s (max_fails=1, fail_timeout=10s), so
for 10 s every request goes to delta:
  curl -i ${url}/crash
  curl -si ${url}/ | grep -i '^x-backend'

Ctrl-C stops everything.
`;
}

/**
 * Runs the demo as `npm run demo` does, reading `PORT`, `ADMIN_PORT`, `ADMIN_TOKEN` and
 * `DEMO_TRAFFIC` from `env`. A port that is taken ends it with one line naming the
 * variable that moves it, and exit code 1.
 * @returns the running demo, or undefined when it could not start
 */
export async function main(
  env = process.env,
  io = { log: console.log, error: console.error, exit: process.exit },
) {
  const port = Number(env.PORT ?? 8080);
  const adminPort = Number(env.ADMIN_PORT ?? (port === 0 ? 0 : port + 1));
  const adminToken = env.ADMIN_TOKEN || undefined;
  const traffic = env.DEMO_TRAFFIC !== '0';
  let demo;
  try {
    demo = await start({ port, adminPort, adminToken, traffic });
  } catch (err) {
    if (err?.portVariable === undefined) throw err;
    const taken = err.portVariable === 'PORT' ? port : adminPort;
    const why = err.code === 'EADDRINUSE' ? 'is in use' : 'may not be opened by this user';
    io.error(
      `switchyard demo: port ${taken} ${why}; set ${err.portVariable} to another (e.g. ${err.portVariable}=${taken + 1000} npm run demo).`,
    );
    io.exit(1);
    return undefined;
  }
  io.log(banner(demo, { traffic, tokenFromEnv: adminToken !== undefined }));
  return demo;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const demo = await main();
  const shutdown = () => {
    console.log('switchyard demo: closing');
    void demo?.close();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
