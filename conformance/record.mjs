#!/usr/bin/env node
// Re-records the conformance vectors in this directory from a real nginx.
//
// The INPUTS of every case (upstream blocks, server configs, request lines, client addresses,
// backend answers) are read from the committed JSON files; the OUTPUTS (which backend answered,
// statuses, Location, what the backend received, X-Cache-Status, limit_req / limit_conn
// outcomes, ...) are recorded afresh from nginx. Each file kind gets its own fresh nginx
// (master + one worker, not a daemon) with a generated nginx.conf in a new temp directory,
// listening only on 127.0.0.1, in front of small backends this script runs itself on
// 127.0.0.1 (clients bind to other 127.0.0.x source addresses where a case says so). At the
// end (or on failure, timeout or signal) it stops exactly the nginx processes and backends it
// started and removes its temp directories.
//
//   node conformance/record.mjs [--only rr,hash,iphash,rewrite,cache,limits] [--out DIR] [--check]
//
// --out DIR  where to write the files (default: this directory, overwriting the recordings).
// --check    record into memory, compare case by case with the committed files, print every
//            difference, exit 1 if any. Nothing is written.
// NGINX=/path/to/nginx selects the binary (default: nginx on PATH, then /usr/sbin/nginx).
//
// Plain Node 20 ESM, standard library only. Not part of `npm test`.

import { execFile, spawn } from 'node:child_process';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { STATUS_CODES } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const KINDS = ['rr', 'hash', 'iphash', 'rewrite', 'cache', 'limits'];

/** Ports of the echo backends the recorded upstreams and configs name (`127.0.0.1:9211` ...). */
const ECHO_PORTS = [9211, 9212, 9213, 9214, 9215];
/** Port of the cache backend (cache.json's suites proxy to it). */
const CACHE_BACKEND_PORT = 9290;
/** Port of the limits backend (limits.json's servers proxy to it). */
const LIMITS_BACKEND_PORT = 9751;
/** Listen ports of the per-case servers of rr / hash / iphash (not recorded in those files). */
const FRONT_PORT_BASE = { rr: 9240, hash: 9250, iphash: 9260 };

const REQUEST_TIMEOUT_MS = 10_000;
const NGINX_START_TIMEOUT_MS = 10_000;
const NGINX_STOP_TIMEOUT_MS = 5_000;
const RUN_TIMEOUT_MS = 300_000;
/** How long to wait after a limits case for nginx to write its last access_log lines. */
const LOG_SETTLE_TIMEOUT_MS = 3000;
/** Pause between the three requests of a cache case, as in the recording. */
const CACHE_GAP_MS = 150;

const NOTES = {
  rr: [
    'one nginx worker, fresh start, each upstream used only by its own sequence; one request at a time, new client connection each (Connection: close), no upstream keepalive.',
    'sequence[i] = port of the echo backend that answered request i (x-backend); upstreamAddr[i] = $upstream_addr (shows failed tries, e.g. "127.0.0.1:9299, 127.0.0.1:9213").',
    'proxy_pass http://<upstream name>; upstream name = case name with - replaced by _.',
  ],
  hash: [
    'uri is the exact request-target sent (= $request_uri, the hash key); backend is the echo port chosen. All peers alive.',
    'server lines are exactly as in the upstream block; consistent hashing (ketama) hashes the server address text "127.0.0.1:PORT" (host and port split at the last colon).',
  ],
  iphash: [
    'client = source address the client socket was bound to (node:net localAddress; the whole 127.0.0.0/8 is local on Linux lo); remoteAddrSeen = $remote_addr nginx reported for that client.',
    'ip_hash keys on the first three octets of an IPv4 address, so clients differing only in the last octet map to the same backend.',
  ],
  rewrite: [
    'config is the text inside `server { listen <listen>; ... }` (nothing else in the server block).',
    'http-level context: default settings (absolute_redirect on, port_in_redirect on, server_name_in_redirect off, merge_slashes on), no server_name, root=<rundir>/html (empty dir), default_type text/plain.',
    'requests sent over HTTP/1.1 as raw request lines on a fresh TCP connection (the request-target byte for byte, like curl --path-as-is); only the listed request headers are sent.',
    'upstreamUri: raw request-target the echo backend (127.0.0.1:9211) received; null when nginx answered itself.',
    'body: response body when nginx answered itself with non-builtin content (return with text); builtinPage=true for nginx-generated HTML error/redirect pages (body then null).',
    'status 0 means nginx closed the connection without a response (return 444).',
    'Location for relative targets is made absolute from the Host header host (lowercased, port stripped) plus the listen port, because port_in_redirect is on and the port is not 80.',
  ],
  cache: [
    'backend 127.0.0.1:9290 replies with exactly upstreamResponse.status and upstreamResponse.headers (in that order, plus content-type, content-length, x-backend, x-upstream-n).',
    'three requests per case, sequential, ~150ms apart, new connection each; default proxy_cache_key ($scheme$proxy_host$request_uri), proxy_cache_methods GET HEAD, proxy_cache_convert_head on, proxy_cache_min_uses 1, proxy_cache_lock off.',
    'xCacheStatus null = no X-Cache-Status header (empty $upstream_cache_status: cache not consulted, e.g. POST).',
    'upstreamCalls / upstreamMethods = how often / with which method the backend actually saw this URI during the case.',
    'every case uses a distinct URI (case=<port>-<id>) so cases never share cache entries.',
    'optional inputs: requestHeaders[i] = header lines sent with request i (after Host and Connection); upstreamResponses = the answer to backend call n is upstreamResponses[n-1] (past the end: the last one), upstreamResponse is then its first entry; gapMs = pause between requests instead of ~150ms.',
    'headerOrderSensitive: the case mixes Expires / Cache-Control / X-Accel-Expires; nginx 1.22 processes them in header order (a later header cannot re-enable caching disabled by an earlier one, X-Accel-Expires only wins if it comes first). nginx 1.23.0 changed this to be order-independent, so these cases are 1.22-specific.',
  ],
  limits: [
    'one nginx 1.22.1 (master + 1 worker, fresh start for the whole run of conformance/record.mjs); each case has its own server (listen), its own zones, and runs alone (cases are sequential); the backend (run by record.mjs, 127.0.0.1:9751) is reset before each case.',
    'http = http-level lines (limit_req_zone / limit_conn_zone / map); server = the text inside `server { listen <listen>; error_log <rundir>/logs/<case>.error.log info; access_log <rundir>/logs/<case>.access.log limits; root <rundir>/html (empty dir); ... }`. Every location adds: add_header X-Limit-Req $limit_req_status always; add_header X-Limit-Conn $limit_conn_status always; (always: so refused 503/429 answers carry them too; an empty variable = no header). proxy_pass http://127.0.0.1:9751 unless the location answers by return / try_files.',
    "client: requests without conn use a new TCP connection each (raw HTTP/1.1 over node:net), Connection: close, Host: example.com (then the request's own headers), from 127.0.0.1 unless `from` says otherwise (client source address: 127.0.0.2 / .3 / .4 are distinct $binary_remote_addr keys). Requests with conn use a raw persistent HTTP/1.1 socket of that name (keep-alive; requests issued while earlier ones are outstanding are pipelined); socket = the n-th TCP connection opened under that name.",
    'steps: {req} = send and wait for the full response; {sleep: ms}; {waitUntil: ms} = pause until ms after the case started; {concurrent: [{at, req}]} = start each request at ms after the step began, wait for all; {background: [{at, req}]} likewise without waiting; {join: true} = wait for every background request started so far (the case also waits for them at its end). Concurrent groups are staggered (12-20 ms apart, see `at`) so nginx sees them in a fixed order. Response ids r0, r1, ... follow the order the requests appear in steps.',
    "responses[]: status (0 = no response, see error: the client's message); xLimitReq = $limit_req_status, xLimitConn = $limit_conn_status (null = header absent, i.e. empty: the module did not evaluate a non-empty key for this request); backend = answered by the backend (x-backend present) vs generated by nginx (then body = nginx's page); slots = round(ms / slotMs) where ms = answer time - send time: 0 = answered at once, N = held ~N x slotMs (limit_req delay, or backend ?delay for limit_conn cases). slotMs is per case: 1000 / rate of the delaying zone, or the backend hold time.",
    'TIMING FIELDS (vary from run to run; compare everything else exactly): responses[].timing {sentAt, answeredAt: ms since the case started; ms: answered - sent}, errorLog[].excess, accessLog[].rt, and `generated`. slots is deterministic: every case keeps the true delay >= ~0.2 x slotMs away from a rounding boundary.',
    'backendRequests: how many requests the backend received during the case and "METHOD request-target" in arrival order (refused requests never reach it; delayed ones arrive when released).',
    "errorLog: the case server's error_log lines about limiting (limiting requests / delaying request / limiting connections / client prematurely closed connection), in order, as {level, msg (excess value replaced by <x>), excess (timing-dependent number), client, request}. accessLog: every access_log line of the case server, format '$remote_addr \"$request\" $status lr=$limit_req_status lc=$limit_conn_status' (line) + rt=$request_time (timing), attributed to its response (id; same address, request line and status, 499 = client gave up) and listed in response-id order (nginx writes them in completion order, which varies for near-simultaneous requests).",
    'limit_req algorithm observed (and consistent with ngx_http_limit_req_module.c): per key the zone stores excess (in 1/1000 requests) and last (ms). A request computes excess = max(0, stored - rate*(now - last) + 1000) (the first request of a new key: 0). excess > burst*1000 -> refused, nothing stored. Otherwise stored (also with nodelay / dry run); delay = (excess - delay_param*1000) / rate seconds when positive (nodelay: never), else passed at once. X-Limit-Req: PASSED when not delayed, DELAYED when held.',
    'backend behaviours (record.mjs, 127.0.0.1:9751, Connection: close): answers 200 at once, or after ?delay=MS; every answer carries x-backend / x-seq headers and a JSON body.',
    'rates: 2r/s (slot 500 ms), 1r/s (slot 1000 ms), 30r/m (slot 2000 ms). The drain between two requests of a staggered group (12-20 ms) is 0.01-0.04 requests, far from any burst boundary; paced sends and the probes of the recovery cases are placed >= ~200 ms away from the instants where the outcome would change (a probe that is late drains more, so the margins are on that side too).',
    'limit_conn cases hold requests in progress with the backend ?delay=MS; the competing requests start >= 100 ms after / before the held ones so the outcome does not depend on scheduling.',
  ],
};

// ---------------------------------------------------------------------------------------------
// What this run started, so that every way out stops exactly that and nothing else.

/**
 * @typedef {object} NginxRun
 * @property {import('node:child_process').ChildProcess} child the master process we spawned
 * @property {Promise<void>} exited resolves when the master has exited
 * @property {() => string} output what nginx wrote on stdout / stderr so far
 * @property {string} errorLog path of its error log
 */

const running = {
  /** @type {Set<NginxRun>} */ nginx: new Set(),
  /** @type {Set<import('node:net').Server>} */ servers: new Set(),
  /** @type {Set<string>} */ dirs: new Set(),
};

let aborting = false;

/** Stops everything this run started (nginx, backends, temp dirs). */
async function stopEverything() {
  for (const run of running.nginx) await stopNginx(run);
  for (const server of running.servers) await closeServer(server);
  for (const dir of running.dirs) removeDir(dir);
}

/** Last resort on process exit: kill our own nginx (master and its workers), remove our dirs. */
function stopEverythingNow() {
  for (const run of running.nginx) {
    if (!isRunning(run.child)) continue;
    for (const pid of childPids(run.child.pid)) killQuietly(pid, 'SIGKILL');
    killQuietly(run.child.pid, 'SIGKILL');
  }
  for (const dir of running.dirs) removeDir(dir);
}

/** Stops the run: prints `message`, cleans up (bounded), exits with `code`. */
function abort(message, code) {
  if (aborting) return;
  aborting = true;
  console.error(message);
  setTimeout(() => process.exit(code), NGINX_STOP_TIMEOUT_MS + 3000).unref();
  stopEverything().finally(() => process.exit(code));
}

function installGuards() {
  process.on('exit', stopEverythingNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => abort(`record.mjs: ${signal}, stopping what it started`, 130));
  }
  setTimeout(
    () => abort(`record.mjs: still running after ${RUN_TIMEOUT_MS / 1000} s, giving up`, 1),
    RUN_TIMEOUT_MS,
  ).unref();
}

function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  running.dirs.delete(dir);
}

function killQuietly(pid, signal) {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** @param {import('node:child_process').ChildProcess} child */
function isRunning(child) {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** Processes whose parent is `pid` (for nginx: the workers of that master). */
function childPids(pid) {
  const pids = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...; comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// ---------------------------------------------------------------------------------------------
// Ports.

/** Resolves to true when 127.0.0.1:port can be bound (nothing listens there). */
function portIsFree(port) {
  return new Promise((done) => {
    const probe = createServer();
    probe.once('error', () => done(false));
    probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => done(true)));
  });
}

/**
 * Fails with one line naming every port of `needs` that is in use.
 * @param {{ port: number, why: string }[]} needs
 */
async function requireFreePorts(needs) {
  const busy = [];
  for (const need of needs)
    if (!(await portIsFree(need.port))) busy.push(`127.0.0.1:${need.port} (${need.why})`);
  if (busy.length > 0) {
    throw new Error(`record.mjs: port in use, needed free: ${busy.join(', ')}`);
  }
}

/** Every `127.0.0.1:PORT` a text names. */
function portsNamedIn(text) {
  return [...text.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
}

// ---------------------------------------------------------------------------------------------
// Backends: raw HTTP/1.x servers on 127.0.0.1, so that the request-target is seen byte for byte.

/**
 * @typedef {object} SeenRequest
 * @property {number} port the backend port
 * @property {string} method
 * @property {string} target the raw request-target
 * @property {string | null} host the Host header
 */

/**
 * @typedef {object} Answer
 * @property {number} status
 * @property {[string, string][]} headers in order, before the framing headers
 * @property {string} body
 * @property {number} [delayMs] answer only this long after the request arrived
 */

/**
 * Starts a backend on 127.0.0.1:port; every request is appended to `log` and answered with
 * `respond(request)`, then the connection is closed.
 * @param {number} port
 * @param {SeenRequest[]} log
 * @param {(req: SeenRequest) => Answer} respond
 */
function startBackend(port, log, respond) {
  const sockets = new Set();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buf = Buffer.alloc(0);
    let answered = false;
    socket.on('data', (chunk) => {
      if (answered) return;
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = parseHeaderLines(lines.slice(1));
      const length = Number(headerOf(headers, 'content-length') ?? 0);
      if (buf.length < end + 4 + length) return; // the body, read so that closing does not reset
      answered = true;
      const line = lines[0];
      const req = {
        port,
        method: line.slice(0, line.indexOf(' ')),
        target: line.slice(line.indexOf(' ') + 1, line.lastIndexOf(' ')),
        host: headerOf(headers, 'host'),
      };
      log.push(req);
      const answer = respond(req);
      const head = [`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Unknown'}`];
      for (const [name, value] of answer.headers) head.push(`${name}: ${value}`);
      head.push(`Content-Length: ${Buffer.byteLength(answer.body)}`, 'Connection: close');
      const send = () => {
        if (!socket.destroyed) socket.end(`${head.join('\r\n')}\r\n\r\n${answer.body}`);
      };
      if (answer.delayMs) {
        const timer = setTimeout(send, answer.delayMs);
        socket.on('close', () => clearTimeout(timer));
      } else send();
    });
  });
  server.on('close', () => running.servers.delete(server));
  /** @type {any} */ (server).sockets = sockets;
  return new Promise((done, fail) => {
    server.once('error', (err) =>
      fail(new Error(`record.mjs: cannot listen on 127.0.0.1:${port} for a backend: ${err.message}`)),
    );
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      running.servers.add(server);
      done(server);
    });
  });
}

/** Closes a backend and the connections it still holds. */
function closeServer(server) {
  for (const socket of /** @type {any} */ (server).sockets ?? []) socket.destroy();
  running.servers.delete(server);
  return new Promise((done) => server.close(() => done()));
}

/** The echo backend: 200, says who it is (x-backend) and what it received. */
function echoAnswer(req) {
  return {
    status: 200,
    headers: [
      ['Content-Type', 'application/json'],
      ['X-Backend', String(req.port)],
    ],
    body: JSON.stringify(req),
  };
}

// ---------------------------------------------------------------------------------------------
// Client: one HTTP/1.1 exchange on a fresh TCP connection, the request exactly as given.

/**
 * @typedef {object} Response
 * @property {number} status 0 = the connection was closed without a response
 * @property {[string, string][]} headers
 * @property {Buffer} body
 */

/**
 * @param {object} opts
 * @param {number} opts.port nginx port on 127.0.0.1
 * @param {string} opts.method
 * @param {string} opts.target sent as is
 * @param {[string, string][]} opts.headers the only header lines sent
 * @param {string} [opts.localAddress] client source address (127.0.0.0/8)
 * @returns {Promise<Response>}
 */
function rawRequest({ port, method, target, headers, localAddress }) {
  const text = `${method} ${target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return new Promise((done, fail) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress });
    let buf = Buffer.alloc(0);
    let settled = false;
    const finish = (err, res) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) fail(err);
      else done(res);
    };
    const what = `${method} ${target} to 127.0.0.1:${port}${localAddress ? ` from ${localAddress}` : ''}`;
    const timer = setTimeout(
      () => finish(new Error(`no complete answer to ${what} within ${REQUEST_TIMEOUT_MS} ms`)),
      REQUEST_TIMEOUT_MS,
    );
    const attempt = (closed) => {
      try {
        const res = parseResponse(buf, method, closed);
        if (res !== null) finish(null, res);
        else if (closed) finish(new Error(`connection closed mid-response to ${what}`));
      } catch (err) {
        finish(new Error(`bad response to ${what}: ${err.message}`));
      }
    };
    socket.on('connect', () => socket.write(Buffer.from(text, 'latin1')));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      attempt(false);
    });
    socket.on('end', () => attempt(true));
    socket.on('close', () => attempt(true));
    socket.on('error', (err) => {
      if (buf.length === 0 && err.code === 'ECONNRESET') attempt(true);
      else finish(new Error(`${what}: ${err.message}`));
    });
  });
}

/**
 * The complete first response in `buf` (and `used`, how many bytes of `buf` it took), or null
 * while more bytes are needed.
 * @returns {(Response & { used: number }) | null}
 */
function parseResponse(buf, method, closed) {
  if (buf.length === 0) return closed ? { status: 0, headers: [], body: Buffer.alloc(0), used: 0 } : null;
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (m === null) throw new Error(`status line ${JSON.stringify(lines[0])}`);
  const status = Number(m[1]);
  const headers = parseHeaderLines(lines.slice(1));
  const rest = buf.subarray(end + 4);
  const res = (body, used) => ({ status, headers, body, used: end + 4 + used });
  if (method === 'HEAD' || status === 204 || status === 304 || status < 200) return res(Buffer.alloc(0), 0);
  const length = headerOf(headers, 'content-length');
  if (length !== null) {
    const n = Number(length);
    return rest.length >= n ? res(rest.subarray(0, n), n) : null;
  }
  if (/chunked/i.test(headerOf(headers, 'transfer-encoding') ?? '')) {
    const chunked = dechunk(rest);
    return chunked === null ? null : res(chunked.body, chunked.used);
  }
  return closed ? res(rest, rest.length) : null;
}

/** Decodes a chunked body (and how many bytes it took), or null while incomplete. */
function dechunk(buf) {
  const parts = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = Number.parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (size === 0) {
      // No trailers are expected: the last chunk ends with an empty line.
      if (buf.length < eol + 4) return null;
      return { body: Buffer.concat(parts), used: eol + 4 };
    }
    if (buf.length < eol + 2 + size + 2) return null;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** @returns {[string, string][]} */
function parseHeaderLines(lines) {
  return lines.map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
  });
}

/** The first value of header `name` (case-insensitive), or null. */
function headerOf(headers, name) {
  const found = headers.find(([n]) => n.toLowerCase() === name);
  return found === undefined ? null : found[1];
}

// ---------------------------------------------------------------------------------------------
// nginx.

/** The nginx binary: $NGINX, else `nginx` on PATH, else /usr/sbin/nginx. */
function findNginx() {
  const candidates = process.env.NGINX
    ? [process.env.NGINX]
    : [...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'nginx')), '/usr/sbin/nginx'];
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // next
    }
  }
  throw new Error(
    `record.mjs: no nginx found (${process.env.NGINX ? `NGINX=${process.env.NGINX}` : 'PATH, /usr/sbin/nginx'}); apt-get install nginx-light, or set NGINX`,
  );
}

/** "nginx/1.22.1", plus " (Debian nginx-light)" when that package provides it. */
async function describeNginx(bin) {
  const { stderr } = await promisify(execFile)(bin, ['-v'], { timeout: 5000 });
  const version = /nginx\/[\d.]+/.exec(stderr)?.[0] ?? stderr.trim();
  let light = false;
  try {
    const { stdout } = await promisify(execFile)('dpkg-query', ['-s', 'nginx-light'], {
      timeout: 5000,
    });
    light = stdout.includes('Status: install ok installed') && realpathSync(bin) === '/usr/sbin/nginx';
  } catch {
    // not Debian, or not that package
  }
  return light ? `${version} (Debian nginx-light)` : version;
}

/**
 * Writes nginx.conf for `httpBody` (the kind's upstreams and servers) into a new temp dir.
 * Everything nginx writes (pid, lock, logs, temp files, caches) stays inside that dir.
 */
function writeConfig(dir, httpBody) {
  for (const sub of ['logs', 'html', 'temp']) mkdirSync(join(dir, sub));
  const conf = `# generated by conformance/record.mjs
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
lock_file ${dir}/nginx.lock;
error_log ${dir}/logs/error.log notice;

events {
    worker_connections 256;
}

http {
    access_log ${dir}/logs/access.log;
    client_body_temp_path ${dir}/temp/body;
    proxy_temp_path ${dir}/temp/proxy;
    fastcgi_temp_path ${dir}/temp/fastcgi;
    uwsgi_temp_path ${dir}/temp/uwsgi;
    scgi_temp_path ${dir}/temp/scgi;
    default_type text/plain;
    root ${dir}/html;

${indent(httpBody.replaceAll('<rundir>', dir), 4)}
}
`;
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  return file;
}

function indent(text, n) {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((line) => (line === '' ? line : pad + line))
    .join('\n');
}

/**
 * Runs `fn` against a fresh nginx serving `httpBody`, with the backends it needs; stops all of
 * them afterwards, whatever happens.
 * @param {object} rig
 * @param {string} rig.kind
 * @param {string} rig.nginx the binary
 * @param {string} rig.httpBody
 * @param {number[]} rig.listen ports nginx listens on
 * @param {string} rig.backendText text naming the backend ports (upstreams, proxy_pass lines)
 * @param {(req: SeenRequest) => Answer} [rig.cacheAnswer] how the cache backend answers
 * @param {(req: SeenRequest) => Answer} [rig.limitsAnswer] how the limits backend answers
 * @param {(ctx: { log: SeenRequest[], dir: string }) => Promise<T>} fn
 * @returns {Promise<T>}
 * @template T
 */
async function withNginx(rig, fn) {
  const named = [...new Set(portsNamedIn(rig.backendText))].sort((a, b) => a - b);
  const echo = named.filter((p) => ECHO_PORTS.includes(p));
  const cache = named.filter((p) => p === CACHE_BACKEND_PORT);
  const limits = named.filter((p) => p === LIMITS_BACKEND_PORT);
  const dead = named.filter(
    (p) => !ECHO_PORTS.includes(p) && p !== CACHE_BACKEND_PORT && p !== LIMITS_BACKEND_PORT,
  );
  await requireFreePorts([
    ...rig.listen.map((port) => ({ port, why: `nginx listen for ${rig.kind}` })),
    ...echo.map((port) => ({ port, why: 'echo backend' })),
    ...cache.map((port) => ({ port, why: 'cache backend' })),
    ...limits.map((port) => ({ port, why: 'limits backend' })),
    ...dead.map((port) => ({ port, why: 'dead peer: nothing may listen there' })),
  ]);

  /** @type {SeenRequest[]} */
  const log = [];
  const servers = [];
  const dir = mkdtempSync(join(tmpdir(), `switchyard-record-${rig.kind}-`));
  running.dirs.add(dir);
  // A root master runs its worker as nobody: let it reach the dir (root, temp, cache).
  chmodSync(dir, 0o755);
  /** @type {NginxRun | undefined} */
  let run;
  try {
    for (const port of echo) servers.push(await startBackend(port, log, echoAnswer));
    for (const port of cache) servers.push(await startBackend(port, log, rig.cacheAnswer ?? echoAnswer));
    for (const port of limits) servers.push(await startBackend(port, log, rig.limitsAnswer ?? echoAnswer));
    const conf = writeConfig(dir, rig.httpBody);
    run = await startNginx(rig.nginx, dir, conf, rig.listen[0]);
    return await fn({ log, dir });
  } finally {
    if (run !== undefined) await stopNginx(run);
    for (const server of servers) await closeServer(server);
    removeDir(dir);
  }
}

/**
 * `nginx -t`, then nginx in the foreground; resolves once its worker runs and it accepts on
 * `probePort`.
 * @returns {Promise<NginxRun>}
 */
async function startNginx(bin, dir, conf, probePort) {
  const errorLog = join(dir, 'logs', 'error.log');
  const args = ['-p', `${dir}/`, '-c', conf, '-e', errorLog];
  try {
    await promisify(execFile)(bin, [...args, '-t', '-q'], { timeout: 10_000 });
  } catch (err) {
    const detail = String(err.stderr || err.message);
    // The temp dir goes away: quote the line nginx complains about.
    const line = Number(/nginx\.conf:(\d+)/.exec(detail)?.[1] ?? 0);
    const quoted =
      line > 0 ? `line ${line}: ${readFileSync(conf, 'utf8').split('\n')[line - 1].trim()}\n` : '';
    throw new Error(`record.mjs: nginx -t rejected the generated nginx.conf:\n${detail}${quoted}`);
  }
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const exited = new Promise((done) => child.once('exit', () => done()));
  child.once('error', (err) => {
    output += `spawn failed: ${err.message}\n`;
  });
  /** @type {NginxRun} */
  const run = { child, exited, output: () => output, errorLog };
  running.nginx.add(run);
  const startedAt = Date.now();
  for (;;) {
    if (!isRunning(child)) {
      await stopNginx(run);
      throw new Error(`record.mjs: nginx exited at start:\n${output}${tail(errorLog)}`);
    }
    if (childPids(child.pid).length > 0 && (await accepts(probePort))) return run;
    if (Date.now() - startedAt > NGINX_START_TIMEOUT_MS) {
      await stopNginx(run);
      throw new Error(`record.mjs: nginx did not come up within ${NGINX_START_TIMEOUT_MS} ms:\n${output}`);
    }
    await sleep(50);
  }
}

/** Stops one nginx this run started: TERM to its master, then KILL to it and its workers. */
async function stopNginx(run) {
  if (isRunning(run.child)) {
    const workers = childPids(run.child.pid);
    run.child.kill('SIGTERM'); // fast shutdown: the master ends its workers, then exits
    await Promise.race([run.exited, sleep(NGINX_STOP_TIMEOUT_MS)]);
    if (isRunning(run.child)) {
      for (const pid of new Set([...workers, ...childPids(run.child.pid)])) killQuietly(pid, 'SIGKILL');
      run.child.kill('SIGKILL');
      await Promise.race([run.exited, sleep(2000)]);
    }
  }
  running.nginx.delete(run);
}

function accepts(port) {
  return new Promise((done) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(500, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

function tail(file) {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-20).join('\n') : '';
}

// ---------------------------------------------------------------------------------------------
// One recorder per file kind: (committed file, nginx binary) -> recorded cases.

/** A GET of `target` with Connection: close on a fresh connection. */
function simpleGet(port, target, localAddress) {
  return rawRequest({
    port,
    method: 'GET',
    target,
    localAddress,
    headers: [
      ['Host', `127.0.0.1:${port}`],
      ['Connection', 'close'],
    ],
  });
}

/** The name of an `upstream NAME { ... }` block. */
function upstreamName(text) {
  const m = /^\s*upstream\s+(\S+)\s*\{/.exec(text);
  if (m === null) throw new Error(`record.mjs: not an upstream block: ${text.slice(0, 60)}`);
  return m[1];
}

/** One upstream and a server proxying every request to it (with the probe headers). */
function upstreamServer(upstream, port) {
  return `${upstream}

server {
    listen 127.0.0.1:${port};
    location / {
        proxy_pass http://${upstreamName(upstream)};
        add_header X-Upstream-Addr $upstream_addr always;
        add_header X-Remote-Addr $remote_addr always;
    }
}
`;
}

/** Cases of rr / hash / iphash: one server per case, listening on base + index. */
function upstreamRig(kind, nginx, cases) {
  return {
    kind,
    nginx,
    httpBody: cases.map((c, i) => upstreamServer(c.upstream, FRONT_PORT_BASE[kind] + i)).join('\n'),
    listen: cases.map((_, i) => FRONT_PORT_BASE[kind] + i),
    backendText: cases.map((c) => c.upstream).join('\n'),
  };
}

/** rr.json: the backend (and $upstream_addr) of each of `requests` sequential requests. */
async function recordRr(file, nginx) {
  return withNginx(upstreamRig('rr', nginx, file.cases), async () => {
    const cases = [];
    for (const [i, c] of file.cases.entries()) {
      const sequence = [];
      const upstreamAddr = [];
      const statuses = [];
      for (let n = 0; n < c.requests; n++) {
        const res = await simpleGet(FRONT_PORT_BASE.rr + i, '/');
        const backend = headerOf(res.headers, 'x-backend');
        sequence.push(backend === null ? null : Number(backend));
        upstreamAddr.push(headerOf(res.headers, 'x-upstream-addr'));
        statuses.push(res.status);
      }
      cases.push({ ...c, sequence, upstreamAddr, statuses });
    }
    return cases;
  });
}

/** hash.json: the backend chosen for each request-target. */
async function recordHash(file, nginx) {
  return withNginx(upstreamRig('hash', nginx, file.cases), async () => {
    const cases = [];
    for (const [i, c] of file.cases.entries()) {
      const mapping = [];
      for (const m of c.mapping) {
        const res = await simpleGet(FRONT_PORT_BASE.hash + i, m.uri);
        const backend = headerOf(res.headers, 'x-backend');
        mapping.push({ ...m, backend: backend === null ? null : Number(backend) });
      }
      cases.push({ ...c, mapping });
    }
    return cases;
  });
}

/** iphash.json: the backend chosen for each client source address. */
async function recordIpHash(file, nginx) {
  return withNginx(upstreamRig('iphash', nginx, file.cases), async () => {
    const cases = [];
    for (const [i, c] of file.cases.entries()) {
      const mapping = [];
      for (const m of c.mapping) {
        const res = await simpleGet(FRONT_PORT_BASE.iphash + i, '/', m.client);
        const backend = headerOf(res.headers, 'x-backend');
        mapping.push({
          ...m,
          remoteAddrSeen: headerOf(res.headers, 'x-remote-addr'),
          backend: backend === null ? null : Number(backend),
        });
      }
      cases.push({ ...c, mapping });
    }
    return cases;
  });
}

/** nginx's own HTML page (error / redirect), as opposed to a `return` text. */
const BUILTIN_PAGE = /^<html>\r?\n<head><title>\d{3} .*<hr><center>nginx(\/[\d.]+)?<\/center>/s;

/** rewrite.json: status, Location, what the echo backend received, or nginx's own body. */
async function recordRewrite(file, nginx) {
  /** @type {Map<string, string>} listen -> config */
  const servers = new Map();
  for (const c of file.cases) {
    if (servers.has(c.listen) && servers.get(c.listen) !== c.config) {
      throw new Error(`record.mjs: rewrite.json: two configs listen on ${c.listen}`);
    }
    servers.set(c.listen, c.config);
  }
  const listen = [...servers.keys()].map((l) => Number(l.slice(l.lastIndexOf(':') + 1)));
  const httpBody = [...servers]
    .map(([address, config]) => `server {\n    listen ${address};\n${indent(config, 4)}\n}\n`)
    .join('\n');
  const rig = { kind: 'rewrite', nginx, httpBody, listen, backendText: [...servers.values()].join('\n') };
  return withNginx(rig, async ({ log }) => {
    const cases = [];
    for (const c of file.cases) {
      const headers = Object.entries(c.request.headers).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).map((v) => /** @type {[string, string]} */ ([name, v])),
      );
      const before = log.length;
      const res = await rawRequest({
        port: Number(c.listen.slice(c.listen.lastIndexOf(':') + 1)),
        method: c.request.method,
        target: c.request.uri,
        headers,
      });
      const seen = log.slice(before);
      const text = res.body.toString('utf8');
      const builtinPage = seen.length === 0 && BUILTIN_PAGE.test(text);
      const expect = {
        status: res.status,
        location: headerOf(res.headers, 'location'),
        upstreamUri: seen.length > 0 ? seen[0].target : null,
        upstreamHost: seen.length > 0 ? seen[0].host : null,
        body: seen.length > 0 || builtinPage || res.status === 0 || c.request.method === 'HEAD' ? null : text,
        builtinPage,
      };
      cases.push({ ...c, expect });
    }
    return cases;
  });
}

/** A header of cache.json's upstreamResponse, its relative times made absolute for `now` (ms). */
function materialise(header, now) {
  const colon = header.indexOf(':');
  const value = header
    .slice(colon + 1)
    .trim()
    .replace(/<HTTP-date now([+-]\d+)s>/, (_, s) => new Date(now + Number(s) * 1000).toUTCString())
    .replace(/<unix time now([+-]\d+)s>/, (_, s) => String(Math.floor(now / 1000) + Number(s)));
  return /** @type {[string, string]} */ ([header.slice(0, colon), value]);
}

/**
 * The backend's answer to call `n` (from 1) of a cache.json case: `upstreamResponses[n - 1]`
 * (past its end, its last entry) when the case has that list, else `upstreamResponse`.
 */
function upstreamResponseFor(c, n) {
  const list = c?.upstreamResponses;
  if (list !== undefined) return list[Math.min(n, list.length) - 1];
  return c?.upstreamResponse ?? { status: 500, headers: [] };
}

/** cache.json: X-Cache-Status and status of sequential requests, and what reached the backend. */
async function recordCache(file, nginx) {
  const byTarget = new Map(file.cases.map((c) => [c.requestUri, c]));
  const calls = new Map();
  /** @param {SeenRequest} req */
  const cacheAnswer = (req) => {
    const c = byTarget.get(req.target);
    const n = (calls.get(req.target) ?? 0) + 1;
    calls.set(req.target, n);
    const now = Date.now();
    const answer = upstreamResponseFor(c, n);
    return {
      status: answer.status,
      headers: [
        ...answer.headers.map((h) => materialise(h, now)),
        ['Content-Type', 'text/plain'],
        ['X-Backend', String(req.port)],
        ['X-Upstream-N', String(n)],
      ],
      body: `${req.method} ${req.target} #${n}\n`,
    };
  };
  const suites = Object.values(file.suites);
  const rig = {
    kind: 'cache',
    nginx,
    httpBody: suites
      .map((s) => `${s.http}\n\nserver {\n    listen ${s.listen};\n${indent(s.server, 4)}\n}\n`)
      .join('\n'),
    listen: suites.map((s) => Number(s.listen.slice(s.listen.lastIndexOf(':') + 1))),
    backendText: suites.map((s) => s.server).join('\n'),
    cacheAnswer,
  };
  return withNginx(rig, async ({ log }) => {
    const cases = [];
    for (const c of file.cases) {
      const listen = file.suites[c.suite].listen;
      const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
      const before = log.length;
      const xCacheStatus = [];
      const statuses = [];
      for (const [k, method] of c.methods.entries()) {
        if (k > 0) await sleep(c.gapMs ?? CACHE_GAP_MS);
        const headers = [
          ['Host', `127.0.0.1:${port}`],
          ['Connection', 'close'],
          ...(c.requestHeaders?.[k] ?? []).map((h) => materialise(h, Date.now())),
        ];
        if (method === 'POST' || method === 'PUT') headers.push(['Content-Length', '0']);
        const res = await rawRequest({ port, method, target: c.requestUri, headers });
        xCacheStatus.push(headerOf(res.headers, 'x-cache-status'));
        statuses.push(res.status);
      }
      const seen = log.slice(before).filter((r) => r.target === c.requestUri);
      cases.push({
        ...c,
        xCacheStatus,
        statuses,
        upstreamCalls: seen.length,
        upstreamMethods: seen.map((r) => r.method),
      });
      await sleep(CACHE_GAP_MS);
    }
    return cases;
  });
}

// ---------------------------------------------------------------------------------------------
// limits.json: limit_req / limit_conn, one server (and its own zones) per case, one nginx for all.

/** access_log format of the limits servers; `rt=` (timing) is split off the recorded line. */
const LIMITS_LOG_FORMAT =
  'log_format limits \'$remote_addr "$request" $status lr=$limit_req_status lc=$limit_conn_status rt=$request_time\';';

/** Error-log lines about limiting, the ones limits.json keeps. */
const LIMITS_ERROR_LINE =
  /limiting requests|delaying request|limiting connections|client prematurely closed connection/;

/** The port of a `127.0.0.1:PORT` listen address. */
function listenPort(listen) {
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

/** A case name as a file name. */
function logName(name) {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * Refuses a server text with a location that lacks the two probe headers the recording needs
 * (`add_header ... always` in every location, so refused answers carry them too).
 */
function requireProbeHeaders(c) {
  for (const m of c.server.matchAll(/location\s+(\S+)\s*\{([^}]*)\}/g)) {
    for (const line of [
      'add_header X-Limit-Req $limit_req_status always;',
      'add_header X-Limit-Conn $limit_conn_status always;',
    ]) {
      if (!m[2].includes(line)) {
        throw new Error(`record.mjs: limits.json ${c.name}: location ${m[1]} lacks \`${line}\``);
      }
    }
  }
}

/** The http-level lines and one server per case. */
function limitsHttpBody(cases) {
  const parts = [LIMITS_LOG_FORMAT, ''];
  for (const c of cases) parts.push(...c.http);
  for (const c of cases) {
    const log = logName(c.name);
    parts.push(
      '',
      `server {
    listen ${c.listen};
    error_log <rundir>/logs/${log}.error.log info;
    access_log <rundir>/logs/${log}.access.log limits;
    root <rundir>/html;
${indent(c.server, 4)}
}`,
    );
  }
  return `${parts.join('\n')}\n`;
}

/**
 * The limits backend: 200 at once, or after `?delay=MS`; x-backend / x-seq headers and a JSON
 * body. `reset()` starts the sequence again (before each case).
 */
function limitsBackend() {
  let seq = 0;
  /** @param {SeenRequest} req */
  const answer = (req) => {
    seq += 1;
    const delayMs = Number(/[?&]delay=(\d+)/.exec(req.target)?.[1] ?? 0);
    return {
      status: 200,
      headers: [
        ['Content-Type', 'application/json'],
        ['X-Backend', String(req.port)],
        ['X-Seq', String(seq)],
      ],
      body: JSON.stringify({ seq, method: req.method, target: req.target, delayMs }),
      delayMs,
    };
  };
  return {
    answer,
    reset: () => {
      seq = 0;
    },
  };
}

/** Header lines of a limits request: Host, then the case's own, then Connection: close if asked. */
function limitsHeaders(req, close) {
  /** @type {[string, string][]} */
  const headers = [['Host', 'example.com']];
  for (const [name, value] of Object.entries(req.headers ?? {})) headers.push([name, value]);
  if (close) headers.push(['Connection', 'close']);
  return headers;
}

/**
 * A named keep-alive connection: requests on it are written at once (pipelined when earlier
 * ones are outstanding) and answered in order. When nginx closes it, the next request opens
 * a new one (`socket` counts them).
 */
class NamedConnection {
  constructor(port, localAddress, what) {
    this.port = port;
    this.localAddress = localAddress;
    this.what = what;
    this.socket = null;
    this.count = 0;
    /** @type {{ method: string, done: (r: any) => void, timer: NodeJS.Timeout }[]} */
    this.pending = [];
    this.buf = Buffer.alloc(0);
  }

  /** Sends `req`; resolves with the response, its socket number and its answer time. */
  send(req) {
    if (this.socket === null) this.open();
    const socketNo = this.count;
    const text = `${req.method} ${req.uri} HTTP/1.1\r\n${limitsHeaders(req, false)
      .map(([n, v]) => `${n}: ${v}\r\n`)
      .join('')}\r\n`;
    return new Promise((done) => {
      const timer = setTimeout(
        () => this.fail(`no complete answer on connection ${this.what} within ${REQUEST_TIMEOUT_MS} ms`),
        REQUEST_TIMEOUT_MS,
      );
      this.pending.push({ method: req.method, done: (r) => done({ ...r, socketNo }), timer });
      this.socket.write(Buffer.from(text, 'latin1'));
    });
  }

  open() {
    this.count += 1;
    this.buf = Buffer.alloc(0);
    const socket = connect({ host: '127.0.0.1', port: this.port, localAddress: this.localAddress });
    this.socket = socket;
    socket.on('data', (chunk) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      this.drain(false);
    });
    const closed = () => {
      if (this.socket !== socket) return;
      this.drain(true);
      this.socket = null;
      this.fail('connection closed without a response');
    };
    socket.on('end', closed);
    socket.on('close', closed);
    socket.on('error', (err) => {
      if (this.socket === socket) this.fail(err.message);
    });
  }

  drain(closed) {
    while (this.pending.length > 0) {
      const head = this.pending[0];
      let res;
      try {
        res = parseResponse(this.buf, head.method, closed);
      } catch (err) {
        this.fail(`bad response: ${err.message}`);
        return;
      }
      if (res === null || res.status === 0) return;
      this.buf = this.buf.subarray(res.used);
      this.pending.shift();
      clearTimeout(head.timer);
      head.done({ res, at: performance.now() });
    }
  }

  /** Every outstanding request ends with status 0 and `error`; the socket is dropped. */
  fail(error) {
    const socket = this.socket;
    this.socket = null;
    socket?.destroy();
    for (const p of this.pending.splice(0)) {
      clearTimeout(p.timer);
      p.done({ res: { status: 0, headers: [], body: Buffer.alloc(0) }, at: performance.now(), error });
    }
  }

  close() {
    const socket = this.socket;
    this.socket = null;
    socket?.destroy();
  }
}

/** Every request of a case's steps, in step order, with its response id. */
function planRequests(steps) {
  const plan = [];
  for (const [step, s] of steps.entries()) {
    const group = s.req ? [{ at: 0, req: s.req }] : (s.concurrent ?? s.background ?? []);
    for (const g of group) plan.push({ id: `r${plan.length}`, step, at: g.at, req: g.req });
  }
  return plan;
}

/** A parsed error-log line of a limits server, or null for lines limits.json does not keep. */
function errorLogEntry(line) {
  const m =
    /^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*?), client: ([^,]+), server: [^,]*, request: "(.*?)"/.exec(
      line,
    );
  if (m === null || !LIMITS_ERROR_LINE.test(m[2])) return null;
  const excess = /excess: (\d+\.\d+)/.exec(m[2]);
  return {
    level: m[1],
    msg: m[2].replace(/excess: \d+\.\d+/, 'excess: <x>'),
    ...(excess && { excess: Number(excess[1]) }),
    client: m[3],
    request: m[4],
  };
}

/**
 * The access-log lines of a case, attributed to its responses (same address, request line and
 * status; 499 for a request the client gave up), in response-id order; unattributed lines last.
 */
function attributeAccessLog(lines, responses) {
  const entries = lines.map((text) => {
    const m = /^(.*) rt=([\d.]+)$/.exec(text);
    const line = m ? m[1] : text;
    const parts = /^(\S+) "(.*)" (\d{3}) /.exec(line);
    return {
      line,
      rt: m ? Number(m[2]) : null,
      from: parts?.[1],
      request: parts?.[2],
      status: Number(parts?.[3]),
      used: false,
    };
  });
  const out = [];
  for (const r of responses) {
    const request = `${r.method} ${r.uri} HTTP/1.1`;
    const found = entries.find(
      (e) =>
        !e.used &&
        e.from === r.from &&
        e.request === request &&
        (e.status === r.status || (r.status === 0 && e.status === 499)),
    );
    if (found === undefined) continue;
    found.used = true;
    out.push({ id: r.id, line: found.line, rt: found.rt });
  }
  for (const e of entries) if (!e.used) out.push({ id: null, line: e.line, rt: e.rt });
  return out;
}

/** Lines of a file that exists, else none. */
function fileLines(file) {
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
}

/** Runs one case against the running nginx; the recorded case (inputs + outputs). */
async function recordLimitsCase(c, dir, log, backend) {
  const port = listenPort(c.listen);
  const logs = join(dir, 'logs', logName(c.name));
  backend.reset();
  const before = log.length;
  const plan = planRequests(c.steps);
  /** @type {Map<string, NamedConnection>} */
  const conns = new Map();
  const results = new Map();
  const t0 = performance.now();
  const since = (t) => Math.round(t - t0);

  /** Sends one planned request, stores its result. */
  const send = async (p) => {
    const from = p.req.from ?? '127.0.0.1';
    const sent = performance.now();
    let res;
    let at;
    let socketNo;
    let error;
    if (p.req.conn !== undefined) {
      const key = `${p.req.conn}@${from}`;
      if (!conns.has(key)) conns.set(key, new NamedConnection(port, from, p.req.conn));
      ({ res, at, socketNo, error } = await conns.get(key).send(p.req));
    } else {
      try {
        res = await rawRequest({
          port,
          method: p.req.method,
          target: p.req.uri,
          headers: limitsHeaders(p.req, true),
          localAddress: from,
        });
      } catch (err) {
        res = { status: 0, headers: [], body: Buffer.alloc(0) };
        error = err.message;
      }
      at = performance.now();
    }
    results.set(p.id, { p, from, res, sent, at, socketNo, error });
  };

  /** Starts every request of a group at its `at` (ms after the step began). */
  const startGroup = (group) => {
    const begun = performance.now();
    return group.map(
      (p) =>
        new Promise((done) => {
          setTimeout(() => send(p).then(done), Math.max(0, begun + p.at - performance.now()));
        }),
    );
  };

  /** @type {Promise<void>[]} */
  let background = [];
  for (const [step, s] of c.steps.entries()) {
    const group = plan.filter((p) => p.step === step);
    if (s.req) await send(group[0]);
    else if (s.sleep !== undefined) await sleep(s.sleep);
    else if (s.waitUntil !== undefined) await sleep(Math.max(0, t0 + s.waitUntil - performance.now()));
    else if (s.concurrent) await Promise.all(startGroup(group));
    else if (s.background) background.push(...startGroup(group));
    else if (s.join !== undefined) {
      await Promise.all(background);
      background = [];
    } else throw new Error(`record.mjs: limits.json ${c.name}: unknown step ${JSON.stringify(s)}`);
  }
  await Promise.all(background);
  for (const conn of conns.values()) conn.close();

  const responses = plan.map((p) => {
    const r = results.get(p.id);
    const ms = r.at - r.sent;
    const backendAnswered = headerOf(r.res.headers, 'x-backend') !== null;
    return {
      id: p.id,
      step: p.step,
      from: r.from,
      method: p.req.method,
      uri: p.req.uri,
      ...(p.req.conn !== undefined && { conn: p.req.conn, socket: r.socketNo }),
      ...(p.req.headers !== undefined && { requestHeaders: p.req.headers }),
      status: r.res.status,
      ...(r.error !== undefined && { error: r.error }),
      xLimitReq: headerOf(r.res.headers, 'x-limit-req'),
      xLimitConn: headerOf(r.res.headers, 'x-limit-conn'),
      backend: backendAnswered,
      slots: Math.round(ms / c.slotMs),
      timing: { sentAt: since(r.sent), answeredAt: since(r.at), ms: Math.round(ms) },
      ...(!backendAnswered && r.res.status !== 0 && { body: r.res.body.toString('utf8') }),
    };
  });

  // nginx writes the access_log line once a request is over: wait until every one is there.
  const settleBy = Date.now() + LOG_SETTLE_TIMEOUT_MS;
  while (fileLines(`${logs}.access.log`).length < responses.length && Date.now() < settleBy) {
    await sleep(20);
  }
  await sleep(20);

  const summaries = [];
  for (const [step, s] of c.steps.entries()) {
    if (!s.concurrent && !s.background) continue;
    const counts = {};
    for (const r of responses.filter((x) => x.step === step)) {
      const key = `${r.status} ${r.xLimitReq ?? '-'} ${r.xLimitConn ?? '-'}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    summaries.push({ step, counts });
  }
  const seen = log.slice(before);
  const { docCheck, note } = c;
  return {
    name: c.name,
    listen: c.listen,
    http: c.http,
    server: c.server,
    slotMs: c.slotMs,
    steps: c.steps,
    responses,
    ...(summaries.length > 0 && { concurrentSummary: summaries }),
    backendRequests: { count: seen.length, requests: seen.map((r) => `${r.method} ${r.target}`) },
    errorLog: fileLines(`${logs}.error.log`)
      .map(errorLogEntry)
      .filter((e) => e !== null),
    accessLog: attributeAccessLog(fileLines(`${logs}.access.log`), responses),
    ...(docCheck !== undefined && { docCheck }),
    ...(note !== undefined && { note }),
  };
}

/** limits.json: every case's responses, backend requests and log lines, cases one after another. */
async function recordLimits(file, nginx) {
  const listens = new Set();
  for (const c of file.cases) {
    if (listens.has(c.listen)) throw new Error(`record.mjs: limits.json: two cases listen on ${c.listen}`);
    listens.add(c.listen);
    if (!/^127\.0\.0\.1:\d+$/.test(c.listen)) {
      throw new Error(`record.mjs: limits.json ${c.name}: listen ${c.listen} is not 127.0.0.1:PORT`);
    }
    requireProbeHeaders(c);
  }
  const backend = limitsBackend();
  const rig = {
    kind: 'limits',
    nginx,
    httpBody: limitsHttpBody(file.cases),
    listen: file.cases.map((c) => listenPort(c.listen)),
    backendText: file.cases.map((c) => c.server).join('\n'),
    limitsAnswer: backend.answer,
  };
  return withNginx(rig, async ({ log, dir }) => {
    const cases = [];
    for (const c of file.cases) cases.push(await recordLimitsCase(c, dir, log, backend));
    return cases;
  });
}

const RECORDERS = {
  rr: recordRr,
  hash: recordHash,
  iphash: recordIpHash,
  rewrite: recordRewrite,
  cache: recordCache,
  limits: recordLimits,
};

// ---------------------------------------------------------------------------------------------
// Files and comparison.

/** JSON as the recordings are stored: one-space indent, non-ASCII as \uXXXX, no final newline. */
export function serialize(value) {
  return JSON.stringify(value, null, 1).replace(
    /[\u0080-\uffff]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Fields that vary from run to run and are not compared. */
const IGNORED = new Set(['generated', 'timing', 'excess', 'rt']);

/** Differences between `committed` and `recorded`, as "path: committed X, recorded Y" lines. */
function differences(committed, recorded, path = '') {
  if (Object.is(committed, recorded)) return [];
  const bothObjects =
    typeof committed === 'object' &&
    typeof recorded === 'object' &&
    committed !== null &&
    recorded !== null &&
    Array.isArray(committed) === Array.isArray(recorded);
  if (!bothObjects) {
    const show = (v) => (v === undefined ? '(absent)' : JSON.stringify(v));
    return [`${path || '(value)'}: committed ${show(committed)}, recorded ${show(recorded)}`];
  }
  const out = [];
  const keys = Array.isArray(committed)
    ? [...Array(Math.max(committed.length, recorded.length)).keys()]
    : [...new Set([...Object.keys(committed), ...Object.keys(recorded)])];
  for (const key of keys) {
    if (IGNORED.has(String(key))) continue;
    const sub = Array.isArray(committed) ? `${path}[${key}]` : path ? `${path}.${key}` : String(key);
    out.push(...differences(committed[key], recorded[key], sub));
  }
  return out;
}

function caseLabel(c, i) {
  if (c.name) return c.name;
  if (c.request) return `#${i} ${c.suite} ${c.request.method} ${c.request.uri}`;
  return `#${i} ${c.suite} id=${c.id}`;
}

/**
 * Compares two versions of one file case by case (timestamps, notes and raw timings aside).
 * @returns {{ matched: number, total: number, lines: string[] }}
 */
export function compareFiles(committed, recorded) {
  const lines = [];
  const { cases: a = [], ...restA } = committed;
  const { cases: b = [], ...restB } = recorded;
  for (const key of ['generator', 'notes']) {
    delete restA[key];
    delete restB[key];
  }
  for (const line of differences(restA, restB)) lines.push(`  (file) ${line}`);
  if (a.length !== b.length) lines.push(`  (file) ${a.length} committed cases, ${b.length} recorded`);
  let matched = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const diff = differences(a[i], b[i]);
    if (diff.length === 0) matched++;
    for (const line of diff) lines.push(`  ${caseLabel(a[i], i)}: ${line}`);
  }
  return { matched, total: a.length, lines };
}

// ---------------------------------------------------------------------------------------------

function usage() {
  return 'usage: node conformance/record.mjs [--only rr,hash,iphash,rewrite,cache,limits] [--out DIR] [--check]';
}

async function main() {
  let opts;
  try {
    opts = parseArgs({
      options: {
        only: { type: 'string' },
        out: { type: 'string' },
        check: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    console.error(`${err.message}\n${usage()}`);
    return 2;
  }
  if (opts.help) {
    console.log(usage());
    return 0;
  }
  const wanted = opts.only ? opts.only.split(',').map((s) => s.trim()) : KINDS;
  const unknown = wanted.filter((k) => !KINDS.includes(k));
  if (unknown.length > 0) {
    console.error(`record.mjs: unknown kind ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const kinds = KINDS.filter((k) => wanted.includes(k));
  if (kinds.length === 0) return 0;

  const nginx = findNginx();
  const generator = await describeNginx(nginx);
  console.log(`record.mjs: ${generator} (${nginx})${opts.check ? ', --check' : ''}`);

  const recorded = new Map();
  for (const kind of kinds) {
    const committed = JSON.parse(readFileSync(join(HERE, `${kind}.json`), 'utf8'));
    const startedAt = Date.now();
    const cases = await RECORDERS[kind](committed, nginx);
    // Keeps the committed key order; refreshes the generator, time and notes.
    recorded.set(kind, {
      ...committed,
      generator,
      generated: new Date().toISOString(),
      notes: NOTES[kind],
      cases,
    });
    console.log(`record.mjs: ${kind}.json recorded, ${cases.length} cases in ${Date.now() - startedAt} ms`);
  }

  if (opts.check) {
    let failed = false;
    for (const [kind, file] of recorded) {
      const committed = JSON.parse(readFileSync(join(HERE, `${kind}.json`), 'utf8'));
      const { matched, total, lines } = compareFiles(committed, file);
      if (committed.generator !== file.generator) {
        console.log(`${kind}.json: committed from ${committed.generator}, recorded from ${file.generator}`);
      }
      for (const line of lines) console.log(line);
      console.log(
        `${kind}.json: ${matched}/${total} cases match${lines.length ? ` (${lines.length} differences)` : ''}`,
      );
      if (lines.length > 0) failed = true;
    }
    return failed ? 1 : 0;
  }

  const out = resolve(opts.out ?? HERE);
  mkdirSync(out, { recursive: true });
  for (const [kind, file] of recorded) {
    writeFileSync(join(out, `${kind}.json`), serialize(file));
    console.log(`record.mjs: wrote ${join(out, `${kind}.json`)}`);
  }
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  installGuards();
  main()
    .catch((err) => {
      console.error(err instanceof Error ? err.message : String(err));
      return 1;
    })
    .then(async (code) => {
      await stopEverything();
      process.exit(code);
    });
}
