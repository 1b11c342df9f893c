#!/usr/bin/env node
// switchyard cache benchmark (@switchyard/cache), five sections:
//
//   hit         CPU per request of a cache HIT through cache.middleware() in a node:http server,
//               beside a bare node:http server answering the same bytes from memory (and, for
//               information, through the switchyard proxy with a cache). Each server runs alone
//               in a child process (pinned with taskset when available), loaded by autocannon
//               from here; its process.cpuUsage() is sampled around the measured run.
//   disk        CPU per request of a HIT of a 100 KiB page through cache.middleware() with
//               diskStore({ levels: '1:2' }) beside the same with memoryStore(), same machinery
//               as hit; and, for information, nginx's proxy_cache (levels=1:2) req/s on the same
//               hit, when /usr/sbin/nginx runs here.
//   lock        1000 concurrent misses of one key, with `lock: true`: how many requests reach the
//               upstream (through the middleware and through the proxy; with `lock: false` too).
//   memory      a cache on memoryStore({ maxSizeBytes }) filled to its limit and as much again
//               with small entries, large ones and Vary variants, each in a child process
//               (--expose-gc): what the process really holds after GC against maxSizeBytes.
//   microcache  examples/microcache (a 50 ms page cached for 1 s) with and without its cache
//               under the same autocannon load: upstream calls and throughput.
//
// Usage: node bench/cache.mjs [--no-write]
// Env:   BENCH_CACHE_ONLY (comma list of sections), BENCH_CACHE_DURATION (s, default 10),
//        BENCH_CACHE_ROUNDS (default 3), BENCH_CACHE_WARMUP (s, default 2),
//        BENCH_CACHE_CONNECTIONS (default 50), BENCH_CACHE_RATE (req/s cap, default 0 = none),
//        BENCH_CACHE_LOCK_REQUESTS (default 1000), BENCH_CACHE_NGINX (nginx binary, default
//        /usr/sbin/nginx; '' = skip it),
//        BENCH_PIN_PARENT (0 = leave the parent unpinned).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startBackends } from './lib/backends.mjs';
import { BODY_BYTES, CACHE_OPTIONS, makeOrigin } from './lib/cached-page.mjs';
import { startProxyChild } from './lib/child.mjs';
import { closeServer, listenLocal } from './lib/listen.mjs';
import { detectPinning, pinParent } from './lib/pin.mjs';
import { intEnv, listEnv, machineInfo, machineLine, prependSection } from './lib/results.mjs';
import {
  addCounts,
  NOISY_OTHER_LOAD,
  pairedRatios,
  rateText,
  ratioBasis,
  ratioToBase,
  verdict,
  zeroCounts,
} from './lib/rounds.mjs';
import { fmt, markdownTable, median } from './lib/stats.mjs';
import { LARGE_BODY_BYTES, makeLargeOrigin } from './proxies/cache-disk-common.mjs';

const SELF = fileURLToPath(import.meta.url);
const RESULTS_FILE = fileURLToPath(new URL('./RESULTS-cache.md', import.meta.url));
const SECTIONS_MARKER = '<!-- runs: newest first; bench/cache.mjs inserts each run below this line -->';
const SECTIONS = ['hit', 'disk', 'lock', 'memory', 'microcache'];

const HIT_CONTENDERS = {
  'cache-bare': 'node:http answering the bytes of a cache hit from memory, no cache (the reference)',
  'cache-middleware':
    "`createCache({ valid: { 200: '1h' } }).middleware()` (memory store) in a node:http listener, " +
    'around a handler answering the page',
  'cache-proxy':
    '`createProxy({ upstream: three backends, cache: createCache(same options) })` on ' +
    '`http.createServer(proxy.handler)` (for information)',
};
const DISK_CONTENDERS = {
  'cache-disk-memory':
    "`createCache({ valid: { 200: '1h' }, store: memoryStore() }).middleware()` in a node:http listener, " +
    'around a handler answering a 100 KiB page (the reference)',
  'cache-disk':
    "the same with `store: diskStore({ path: <mkdtemp>, levels: '1:2' })`: the body is streamed from its file",
};
const MICRO_CONTENDERS = {
  'microcache-uncached': 'examples/microcache with `cache: false`: every request renders the 50 ms page',
  'microcache-cached':
    'examples/microcache as it is: cached 1 s, lock, stale while updating, background update',
};

/** Target from the issue: a HIT costs at most this much CPU per request over the bare server. */
const HIT_TARGET_RATIO = 1.15;
/** Target from the issue: a disk HIT of a 100 KiB body costs at most this much CPU per request over a memory HIT. */
const DISK_TARGET_RATIO = 1.3;
/** nginx for the disk section's information row; '' skips it. */
const NGINX = process.env.BENCH_CACHE_NGINX ?? '/usr/sbin/nginx';
/** Ports nginx may listen on. */
const NGINX_PORTS = [9800, 9899];
/** Target from the issue: a full memory store holds its limit, within this fraction, in real memory. */
const MEMORY_TOLERANCE = 0.1;
const MEMORY_LIMIT = 32 * 2 ** 20;
/** The lock section holds the first upstream answer until every request arrived, at most this long. */
const LOCK_GATE_MS = 4000;

function readSettings() {
  return {
    sections: listEnv('BENCH_CACHE_ONLY', SECTIONS),
    duration: intEnv('BENCH_CACHE_DURATION', 10, 1),
    rounds: intEnv('BENCH_CACHE_ROUNDS', 3, 1),
    warmup: intEnv('BENCH_CACHE_WARMUP', 2, 0),
    connections: intEnv('BENCH_CACHE_CONNECTIONS', 50, 1),
    rate: intEnv('BENCH_CACHE_RATE', 0, 0),
    pipelining: 1,
    lockRequests: intEnv('BENCH_CACHE_LOCK_REQUESTS', 1000, 2),
    write: !process.argv.includes('--no-write'),
  };
}

/** The noise meter (lib/procstat.mjs), loaded by the parent only: it runs `getconf` on import. */
let machineBusyMicros = () => null;

// ---------------------------------------------------------------------------------------------
// HTTP helpers

/** One GET; resolves to status, headers, raw header list and body (never rejects). */
function get(url, { agent = false, timeout = 10_000 } = {}) {
  return new Promise((resolve) => {
    const req = request(url, { agent, timeout }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', (err) => resolve({ error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeout} ms`)));
    req.on('error', (err) => resolve({ error: err.message }));
    req.end();
  });
}

/** The header lines that belong to the response rather than to the connection or the moment. */
function significantHeaders(rawHeaders) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (name === 'date' || name === 'connection' || name === 'keep-alive') continue;
    out.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`);
  }
  return out;
}

function load(url, duration, settings) {
  return autocannon({
    url,
    connections: settings.connections,
    pipelining: settings.pipelining,
    duration,
    ...(settings.rate ? { overallRate: settings.rate } : {}),
  });
}

function countProblems(run) {
  const { non2xx, errors, timeouts } = run.counts;
  if (non2xx > 0) run.problems.push(`${non2xx} non-2xx responses`);
  if (errors > 0) run.problems.push(`${errors} errors`);
  if (timeouts > 0) run.problems.push(`${timeouts} timeouts`);
}

/** Responses a cache served, by status, from its stats(). */
function servedBy(stats) {
  const c = stats?.cache;
  if (!c) return null;
  return {
    HIT: c.hit.responses,
    STALE: c.stale.responses,
    UPDATING: c.updating.responses,
    REVALIDATED: c.revalidated.responses,
    MISS: c.miss.responses,
    EXPIRED: c.expired.responses,
    BYPASS: c.bypass.responses,
  };
}

function diffServed(after, before) {
  if (!after || !before) return null;
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
}

function servedText(served) {
  if (!served) return '—';
  const parts = Object.entries(served).filter(([, n]) => n > 0);
  return parts.length === 0 ? 'none' : parts.map(([k, n]) => `${k} ${fmt(n)}`).join(', ');
}

/**
 * One measured autocannon run against a child: warm-up, then CPU time, cache statistics and
 * the noise meter around the measured run.
 */
async function measure(child, url, settings, run) {
  if (settings.warmup > 0) {
    const warm = await load(url, settings.warmup, settings);
    run.counts = addCounts(run.counts, warm);
  }
  const statsBefore = await child.stats();
  const before = await child.cpu();
  const machineBefore = machineBusyMicros();
  const selfBefore = process.cpuUsage();
  const startedAt = performance.now();
  const result = await load(url, settings.duration, settings);
  const windowMicros = (performance.now() - startedAt) * 1000;
  const self = process.cpuUsage(selfBefore);
  const machineAfter = machineBusyMicros();
  const after = await child.cpu();
  const statsAfter = await child.stats();

  run.counts = addCounts(run.counts, result);
  run.rps = result.requests.average;
  run.p99 = result.latency.p99;
  run.completed = result.requests.total;
  run.cpuMicros = after.total - before.total;
  run.cpuPerRequest = run.completed > 0 ? run.cpuMicros / run.completed : null;
  run.rssMiB = after.rss / 2 ** 20;
  run.served = diffServed(servedBy(statsAfter), servedBy(statsBefore));
  if (statsAfter && statsBefore) run.upstreamCalls = statsAfter.upstreamCalls - statsBefore.upstreamCalls;
  if (machineBefore !== null && machineAfter !== null) {
    // CPU the rest of the machine used meanwhile, in % of one core: a sign of a noisy run.
    const others = machineAfter - machineBefore - (self.user + self.system) - run.cpuMicros;
    run.otherLoad = Math.max(0, (100 * others) / windowMicros);
  }
}

async function stopChild(child, run) {
  if (!child) return;
  const diedEarly = child.exitInfo;
  if (diedEarly) {
    run.problems.push(
      `server process died during the run (exit code ${diedEarly.code}, signal ${diedEarly.signal})`,
    );
  }
  const info = await child.stop();
  if (!diedEarly && info.code !== 0) {
    run.problems.push(`server process exited with code ${info.code}, signal ${info.signal} on close`);
  }
}

// ---------------------------------------------------------------------------------------------
// hit: CPU per request of a cache hit, beside the same bytes from a bare server

async function runHitOnce(name, backends, settings, pin, expected = BODY_BYTES) {
  const run = { name, problems: [], counts: zeroCounts() };
  let child = null;
  try {
    child = await startProxyChild(name, name === 'cache-proxy' ? backends.urls : [], pin);
    const url = `http://127.0.0.1:${child.port}/page`;
    // The first request fills the cache (a MISS); the bare server has nothing to fill.
    const first = await get(url);
    if (first.error || first.status !== 200 || !first.body.equals(expected)) {
      run.problems.push(
        `first GET: ${first.error ?? `${first.status} ${JSON.stringify(String(first.body))}`}`,
      );
    }
    run.firstStatus = first.headers?.['x-cache-status'] ?? 'none';
    let hit = await get(url);
    // A store that writes after the response (the disk store) may answer MISS a moment longer.
    for (let i = 0; i < 50 && hit.headers?.['x-cache-status'] === 'MISS'; i++) {
      await sleep(20);
      hit = await get(url);
    }
    if (hit.error || hit.status !== 200 || !hit.body.equals(expected)) {
      run.problems.push(
        `second GET: ${hit.error ?? `${hit.status} ${JSON.stringify(String(hit.body).slice(0, 200))}`}`,
      );
    } else {
      if (hit.headers['x-cache-status'] !== 'HIT') {
        run.problems.push(`second GET answered X-Cache-Status ${hit.headers['x-cache-status']}, not HIT`);
      }
      run.answer = { status: hit.status, headers: significantHeaders(hit.rawHeaders), body: hit.body };
    }
    await measure(child, url, settings, run);
    if (run.served) {
      const notHit = Object.entries(run.served).filter(([k, n]) => k !== 'HIT' && n > 0);
      if (notHit.length > 0) {
        run.problems.push(`not every measured request was a HIT: ${servedText(run.served)}`);
      }
    }
  } catch (err) {
    run.problems.push(err.message);
  } finally {
    await stopChild(child, run);
  }
  countProblems(run);
  return run;
}

function summarizeRuns(name, runs) {
  return {
    name,
    runs,
    rps: median(runs.map((r) => r.rps)),
    p99: median(runs.map((r) => r.p99)),
    cpuPerRequest: median(runs.map((r) => r.cpuPerRequest)),
    counts: runs.reduce((acc, r) => addCounts(acc, r.counts), zeroCounts()),
    problems: runs.flatMap((r, i) => r.problems.map((p) => `round ${i + 1}: ${p}`)),
  };
}

/** Whether every round of two contenders answered byte for byte the same (Date and connection headers aside). */
function sameAnswer(a, b) {
  const answers = [...a.runs, ...b.runs].map((r) => r.answer);
  if (answers.some((x) => x === undefined)) return { same: false, detail: 'a contender gave no answer' };
  const [ref] = answers;
  for (const x of answers) {
    if (
      x.status !== ref.status ||
      !x.body.equals(ref.body) ||
      x.headers.join('\n') !== ref.headers.join('\n')
    ) {
      return {
        same: false,
        detail: `${ref.status} ${JSON.stringify(ref.headers)} vs ${x.status} ${JSON.stringify(x.headers)}`,
      };
    }
  }
  return { same: true, detail: `${ref.status}, ${ref.headers.join(', ')}, ${ref.body.length}-byte body` };
}

/**
 * Whether `name` stayed within `target`× the CPU per request of `refName`, both having
 * answered the same bytes without problems; `label` names the target.
 */
function evaluateAgainst(summaries, name, refName, target, label) {
  const by = Object.fromEntries(summaries.map((s) => [s.name, s]));
  const s = by[name];
  const ref = by[refName];
  if (!s || !ref) return { label, met: null, detail: 'not evaluated: contender not run' };
  const clean = (x) => x.problems.length === 0 && Number.isFinite(x.cpuPerRequest);
  if (!clean(s) || !clean(ref)) {
    const bad = [s, ref].filter((x) => !clean(x)).map((x) => x.name);
    return { label, met: false, detail: `not met: ${bad.join(' and ')} flagged (errors or no figure)` };
  }
  const same = sameAnswer(s, ref);
  if (!same.same) return { label, met: false, detail: `not met: the answers differ (${same.detail})` };
  const r = ratioToBase(s, ref);
  const met = r.ratio <= target;
  return {
    label,
    met,
    ratio: r.ratio,
    detail:
      `${met ? 'met' : 'NOT met'}: ${r.ratio.toFixed(3)}× (${ratioBasis(r)}; medians over all rounds ` +
      `${fmt(s.cpuPerRequest, 2)} µs vs ${fmt(ref.cpuPerRequest, 2)} µs); both answered the same bytes (${same.detail})`,
  };
}

function evaluateHit(summaries) {
  const label = `cache-middleware HIT ≤ ${HIT_TARGET_RATIO.toFixed(2)}× the bare server's CPU per request`;
  return evaluateAgainst(summaries, 'cache-middleware', 'cache-bare', HIT_TARGET_RATIO, label);
}

function ratioText(s, bare) {
  if (!bare) return 'n/a';
  const r = ratioToBase(s, bare);
  if (!Number.isFinite(r.ratio)) return 'n/a';
  return `${r.ratio.toFixed(2)}×${r.quietOnly ? '' : ' (noisy)'}`;
}

function hitTable(summaries, refName = 'cache-bare', refLabel = '× bare CPU') {
  const bare = summaries.find((s) => s.name === refName);
  const header = ['server', 'req/s', 'p99 ms', 'CPU µs/req', refLabel, 'non-2xx', 'errors', 'status'];
  const rows = summaries.map((s) => [
    s.name,
    fmt(s.rps),
    fmt(s.p99, 1),
    fmt(s.cpuPerRequest, 2),
    ratioText(s, bare),
    String(s.counts.non2xx),
    String(s.counts.errors + s.counts.timeouts),
    s.problems.length > 0 ? 'FLAGGED' : 'ok',
  ]);
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l']);
}

function hitRoundsTable(summaries, refName = 'cache-bare', refLabel = '× bare, same round') {
  const header = [
    'server',
    'round',
    'req/s',
    'requests',
    'CPU µs/req',
    refLabel,
    'first answer',
    'served in measured run',
    'RSS MiB',
    'other CPU %',
  ];
  const rows = [];
  const bare = summaries.find((s) => s.name === refName);
  for (const s of summaries) {
    const ratios = bare ? pairedRatios(s, bare) : [];
    s.runs.forEach((r, i) => {
      rows.push([
        s.name,
        String(i + 1),
        fmt(r.rps),
        fmt(r.completed),
        fmt(r.cpuPerRequest, 2),
        ratios[i]?.ratio == null ? 'n/a' : `${ratios[i].ratio.toFixed(2)}×`,
        r.firstStatus ?? 'n/a',
        servedText(r.served),
        fmt(r.rssMiB, 0),
        fmt(r.otherLoad, 0),
      ]);
    });
  }
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'l', 'l', 'r', 'r']);
}

async function hitSection(settings, pin, backends) {
  const names = Object.keys(HIT_CONTENDERS);
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  console.log(
    `\nhit: ${names.join(', ')}; ${settings.rounds} round(s) × (${settings.warmup} s warm-up + ` +
      `${settings.duration} s), ${settings.connections} connections`,
  );
  for (let round = 0; round < settings.rounds; round++) {
    const order = names.map((_, i, all) => all[(i + round) % all.length]);
    for (const name of order) {
      const run = await runHitOnce(name, backends, settings, pin);
      runs[name].push(run);
      const flag = run.problems.length > 0 ? ` FLAGGED: ${run.problems.join('; ')}` : '';
      console.log(
        `  round ${round + 1} ${name.padEnd(17)} ${fmt(run.rps).padStart(7)} req/s, ` +
          `${fmt(run.cpuPerRequest, 2)} µs CPU/req, other processes ${fmt(run.otherLoad)}%${flag}`,
      );
      await sleep(300);
    }
  }
  const summaries = names.map((n) => summarizeRuns(n, runs[n]));
  const target = evaluateHit(summaries);
  console.log(`\n${hitTable(summaries)}\n  ${target.label}: ${target.detail}`);
  return { summaries, target };
}

// ---------------------------------------------------------------------------------------------
// disk: a 100 KiB HIT from diskStore() beside the same from memoryStore(); nginx for information

function evaluateDisk(summaries) {
  const label = `cache-disk HIT of a 100 KiB body ≤ ${DISK_TARGET_RATIO.toFixed(2)}× the memory store's CPU per request`;
  return evaluateAgainst(summaries, 'cache-disk', 'cache-disk-memory', DISK_TARGET_RATIO, label);
}

/** A free port in NGINX_PORTS on 127.0.0.1, or null. */
async function freeNginxPort() {
  for (let port = NGINX_PORTS[0]; port <= NGINX_PORTS[1]; port++) {
    const probe = createServer();
    const ok = await new Promise((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) {
      await new Promise((resolve) => probe.close(resolve));
      return port;
    }
  }
  return null;
}

function nginxConf(dir, port, originPort) {
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  return `${user}
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 10000000;
  keepalive_timeout 60s;
  client_body_temp_path ${dir}/client_temp;
  proxy_temp_path ${dir}/proxy_temp;
  fastcgi_temp_path ${dir}/fastcgi_temp;
  uwsgi_temp_path ${dir}/uwsgi_temp;
  scgi_temp_path ${dir}/scgi_temp;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=bench:1m inactive=1h;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 8; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache bench;
      proxy_cache_valid 200 1h;
      add_header X-Cache-Status $upstream_cache_status;
    }
  }
}
`;
}

/**
 * One run of nginx (one worker, pinned like our servers) with proxy_cache levels=1:2 in front
 * of the same 100 KiB origin (here, in the parent): req/s of the HIT only. nginx is stopped
 * and its directory removed in every case.
 */
async function runNginxOnce(settings, pin) {
  const run = { name: 'nginx proxy_cache', problems: [], counts: zeroCounts() };
  const dir = mkdtempSync(join(tmpdir(), 'swy-bench-nginx-'));
  const origin = makeLargeOrigin();
  const originServer = createServer((req, res) => origin.handle(req, res));
  let nginx = null;
  try {
    const originPort = await listenLocal(originServer);
    const port = await freeNginxPort();
    if (port === null) throw new Error(`no free port in ${NGINX_PORTS.join('-')}`);
    writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, port, originPort));
    const args = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')];
    const [cmd, argv] = pin ? ['taskset', ['-c', pin, NGINX, ...args]] : [NGINX, args];
    nginx = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    nginx.stderr.on('data', (d) => {
      stderr += d;
    });
    const exited = new Promise((resolve) => nginx.once('exit', (code, signal) => resolve({ code, signal })));
    nginx.exitedPromise = exited;
    const url = `http://127.0.0.1:${port}/page`;
    let first;
    for (let i = 0; i < 50; i++) {
      first = await get(url, { timeout: 2000 });
      if (!first.error) break;
      const gone = await Promise.race([exited, sleep(100).then(() => null)]);
      if (gone) throw new Error(`nginx exited (${gone.code ?? gone.signal}): ${stderr.trim().slice(0, 300)}`);
    }
    if (first.error || first.status !== 200 || !first.body.equals(LARGE_BODY_BYTES)) {
      throw new Error(`first GET: ${first.error ?? first.status}`);
    }
    run.firstStatus = first.headers['x-cache-status'] ?? 'none';
    const hit = await get(url);
    if (hit.headers?.['x-cache-status'] !== 'HIT' || !hit.body?.equals(LARGE_BODY_BYTES)) {
      run.problems.push(
        `second GET: not a HIT of the page (${hit.error ?? hit.headers?.['x-cache-status']})`,
      );
    }
    const callsBefore = origin.calls();
    if (settings.warmup > 0) run.counts = addCounts(run.counts, await load(url, settings.warmup, settings));
    const result = await load(url, settings.duration, settings);
    run.counts = addCounts(run.counts, result);
    run.rps = result.requests.average;
    run.p99 = result.latency.p99;
    run.completed = result.requests.total;
    run.upstreamCalls = origin.calls() - callsBefore;
    if (run.upstreamCalls > 0) run.problems.push(`${run.upstreamCalls} requests reached the origin`);
  } catch (err) {
    run.problems.push(err.message);
  } finally {
    if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
      nginx.kill('SIGTERM');
      const stopped = await Promise.race([nginx.exitedPromise, sleep(3000).then(() => null)]);
      if (!stopped) {
        nginx.kill('SIGKILL');
        await nginx.exitedPromise;
      }
    }
    await closeServer(originServer);
    rmSync(dir, { recursive: true, force: true });
  }
  countProblems(run);
  return run;
}

function nginxAvailable() {
  if (!NGINX) return false;
  return spawnSync(NGINX, ['-v'], { stdio: 'ignore' }).status === 0;
}

async function diskSection(settings, pin) {
  const names = Object.keys(DISK_CONTENDERS);
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  const withNginx = nginxAvailable();
  const nginxRuns = [];
  console.log(
    `\ndisk: ${names.join(', ')}${withNginx ? ', nginx' : ''}; ${settings.rounds} round(s) × ` +
      `(${settings.warmup} s warm-up + ${settings.duration} s), ${settings.connections} connections`,
  );
  for (let round = 0; round < settings.rounds; round++) {
    const order = names.map((_, i, all) => all[(i + round) % all.length]);
    for (const name of order) {
      const run = await runHitOnce(name, null, settings, pin, LARGE_BODY_BYTES);
      runs[name].push(run);
      const flag = run.problems.length > 0 ? ` FLAGGED: ${run.problems.join('; ')}` : '';
      console.log(
        `  round ${round + 1} ${name.padEnd(17)} ${fmt(run.rps).padStart(7)} req/s, ` +
          `${fmt(run.cpuPerRequest, 2)} µs CPU/req, other processes ${fmt(run.otherLoad)}%${flag}`,
      );
      await sleep(300);
    }
    if (withNginx) {
      const run = await runNginxOnce(settings, pin);
      nginxRuns.push(run);
      const flag = run.problems.length > 0 ? ` FLAGGED: ${run.problems.join('; ')}` : '';
      console.log(`  round ${round + 1} ${'nginx'.padEnd(17)} ${fmt(run.rps).padStart(7)} req/s${flag}`);
      await sleep(300);
    }
  }
  const summaries = names.map((n) => summarizeRuns(n, runs[n]));
  const target = evaluateDisk(summaries);
  const nginx =
    nginxRuns.length > 0
      ? {
          runs: nginxRuns,
          rps: median(nginxRuns.map((r) => r.rps)),
          p99: median(nginxRuns.map((r) => r.p99)),
          problems: nginxRuns.flatMap((r, i) => r.problems.map((p) => `round ${i + 1}: ${p}`)),
        }
      : null;
  console.log(
    `\n${hitTable(summaries, 'cache-disk-memory', '× memory CPU')}\n  ${target.label}: ${target.detail}`,
  );
  if (nginx)
    console.log(`  nginx proxy_cache (information): ${fmt(nginx.rps)} req/s, p99 ${fmt(nginx.p99, 1)} ms`);
  return { summaries, target, nginx };
}

function nginxTable(nginx) {
  const header = ['round', 'req/s', 'p99 ms', 'requests', 'first answer', 'origin calls in run', 'status'];
  const rows = nginx.runs.map((r, i) => [
    String(i + 1),
    fmt(r.rps),
    fmt(r.p99, 1),
    fmt(r.completed),
    r.firstStatus ?? 'n/a',
    fmt(r.upstreamCalls),
    r.problems.length > 0 ? 'FLAGGED' : 'ok',
  ]);
  rows.push(['median', fmt(nginx.rps), fmt(nginx.p99, 1), '', '', '', '']);
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'l', 'r', 'l']);
}

// ---------------------------------------------------------------------------------------------
// lock: 1000 concurrent misses of one key

function listenBacklog(server) {
  server.keepAliveTimeout = 60_000;
  // Room for every connection of the burst at once (the default backlog is 511).
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  return once(server, 'listening').then(() => server.address().port);
}

/**
 * `n` clients ask for one key at once, through `via` ('middleware' or 'proxy'), with the
 * cache's lock on or off. The upstream holds its first answer until all `n` requests
 * arrived at the front server (at most LOCK_GATE_MS), so they are all concurrent misses.
 */
async function lockRun(via, lock, n) {
  const { createCache } = await import('@switchyard/cache');
  let arrivals = 0;
  let gateArrivals = null;
  let openGate;
  const gate = new Promise((resolve) => {
    openGate = (why) => {
      if (gateArrivals !== null) return;
      gateArrivals = { arrivals, why };
      resolve();
    };
  });
  const gateTimer = setTimeout(() => openGate('timeout'), LOCK_GATE_MS);
  const arrived = () => {
    arrivals++;
    if (arrivals >= n) openGate('all arrived');
  };
  const origin = makeOrigin();
  const gated = (req, res) => {
    req.resume();
    gate.then(() => origin.handle(req, res));
  };

  const cache = createCache({ ...CACHE_OPTIONS, lock });
  const servers = [];
  let proxy;
  let front;
  if (via === 'middleware') {
    const middleware = cache.middleware();
    front = createServer((req, res) => {
      arrived();
      middleware(req, res, () => gated(req, res));
    });
  } else {
    const { createProxy } = await import('@switchyard/core');
    const backend = createServer(gated);
    servers.push(backend);
    const backendPort = await listenBacklog(backend);
    proxy = createProxy({ upstream: { name: 'lock', servers: [`http://127.0.0.1:${backendPort}`] }, cache });
    front = createServer((req, res) => {
      arrived();
      proxy.handler(req, res);
    });
  }
  servers.unshift(front);
  const port = await listenBacklog(front);

  // One connection per request, all opened at once.
  const agent = new Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
  const startedAt = performance.now();
  const answers = await Promise.all(
    Array.from({ length: n }, () => get(`http://127.0.0.1:${port}/hot?id=1`, { agent, timeout: 30_000 })),
  );
  const elapsedMs = performance.now() - startedAt;
  clearTimeout(gateTimer);
  agent.destroy();
  for (const s of servers) await closeServer(s);
  await proxy?.close();

  const byCacheStatus = {};
  const byStatus = {};
  let errors = 0;
  let wrongBody = 0;
  for (const a of answers) {
    if (a.error) {
      errors++;
      continue;
    }
    byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
    const cs = a.headers['x-cache-status'] ?? 'none';
    byCacheStatus[cs] = (byCacheStatus[cs] ?? 0) + 1;
    if (!a.body.equals(BODY_BYTES)) wrongBody++;
  }
  return {
    via,
    lock,
    n,
    upstreamCalls: origin.calls(),
    gate: gateArrivals,
    elapsedMs,
    byStatus,
    byCacheStatus,
    errors,
    wrongBody,
  };
}

function lockTable(rows) {
  const header = [
    'through',
    'lock',
    'requests',
    'upstream requests',
    'concurrent when upstream answered',
    'X-Cache-Status',
    'HTTP status',
    'errors',
    'ms',
  ];
  const body = rows.map((r) => [
    r.via === 'middleware' ? 'cache.middleware()' : 'proxy + cache',
    r.lock ? 'on' : 'off',
    fmt(r.n),
    fmt(r.upstreamCalls),
    r.gate ? `${fmt(r.gate.arrivals)}${r.gate.why === 'timeout' ? ' (gate timed out)' : ''}` : 'n/a',
    Object.entries(r.byCacheStatus)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(', '),
    Object.entries(r.byStatus)
      .map(([k, v]) => `${k} × ${fmt(v)}`)
      .join(', '),
    String(r.errors + r.wrongBody),
    fmt(r.elapsedMs),
  ]);
  return markdownTable(header, body, ['l', 'l', 'r', 'r', 'r', 'l', 'l', 'r', 'r']);
}

function evaluateLock(rows) {
  return rows
    .filter((r) => r.lock)
    .map((r) => {
      const through = r.via === 'middleware' ? 'cache.middleware()' : 'the proxy with a cache';
      const allConcurrent = r.gate?.arrivals === r.n;
      const clean = r.errors === 0 && r.wrongBody === 0 && r.byStatus[200] === r.n;
      const met = r.upstreamCalls === 1 && allConcurrent && clean;
      const why = [
        `${fmt(r.upstreamCalls)} upstream request(s) for ${fmt(r.n)} concurrent misses`,
        allConcurrent
          ? null
          : `only ${fmt(r.gate?.arrivals ?? 0)} requests had arrived when the upstream answered`,
        clean
          ? null
          : `${r.errors} errors, ${r.wrongBody} wrong bodies, statuses ${JSON.stringify(r.byStatus)}`,
      ].filter(Boolean);
      return {
        label: `lock, through ${through}: ${fmt(r.n)} concurrent misses of one key → 1 upstream request`,
        met,
        detail: `${met ? 'met' : 'NOT met'}: ${why.join('; ')}`,
      };
    });
}

async function lockSection(settings) {
  const n = settings.lockRequests;
  console.log(
    `\nlock: ${n} concurrent requests for one key, lock on and off, through the middleware and the proxy`,
  );
  const rows = [];
  for (const via of ['middleware', 'proxy']) {
    for (const lock of [true, false]) {
      const r = await lockRun(via, lock, n);
      rows.push(r);
      console.log(
        `  ${via.padEnd(10)} lock ${lock ? 'on ' : 'off'}: ${fmt(r.upstreamCalls)} upstream request(s); ` +
          `${JSON.stringify(r.byCacheStatus)}; ${fmt(r.elapsedMs)} ms`,
      );
      await sleep(200);
    }
  }
  const targets = evaluateLock(rows);
  for (const t of targets) console.log(`  ${t.label}: ${t.detail}`);
  return { rows, targets };
}

// ---------------------------------------------------------------------------------------------
// memory: a memoryStore filled to its limit with three shapes of entries (child process, --expose-gc)

/**
 * The shapes of entries the memory section fills a store with: small ones (where the
 * per-entry objects weigh most), large ones (the bodies), and Vary variants whose stored
 * request value (a 12 KiB User-Agent) outweighs the body.
 */
const MEMORY_SHAPES = {
  small: { label: 'small: 100 B bodies', bodyBytes: 100, chunkBytes: 100, vary: false },
  large: { label: 'large: 64 KiB bodies', bodyBytes: 64 * 1024, chunkBytes: 16 * 1024, vary: false },
  vary: { label: 'Vary: User-Agent, 12 KiB User-Agents', bodyBytes: 100, chunkBytes: 100, vary: true },
};
const USER_AGENT_BYTES = 12 * 1024;
/** Vary entries share this many URLs, so most live under secondary (URL + variant) keys. */
const VARY_URLS = 64;

/**
 * A fresh string with the bytes of `s`, as Node's HTTP parser makes each header value and
 * each decoded body: not a literal shared by every entry, not a slice of a larger string.
 */
function parsed(s) {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** The i-th request of a shape: distinct URLs, or shared URLs and distinct User-Agents. */
function memoryRequest(shape, i) {
  if (!MEMORY_SHAPES[shape].vary) {
    return {
      method: 'GET',
      url: parsed(`/catalog/item/${i}?ref=${i % 13}`),
      headers: { host: 'shop.example' },
    };
  }
  const ua = `Mozilla/5.0 (bench ${i}) `;
  return {
    method: 'GET',
    url: parsed(`/catalog/item/${i % VARY_URLS}`),
    headers: { host: 'shop.example', 'user-agent': parsed(ua + 'x'.repeat(USER_AGENT_BYTES - ua.length)) },
  };
}

/** The i-th response through the ProxyCache contract: head, the body in chunks, end. */
function memoryRespond(shape, forward, i) {
  const { bodyBytes, chunkBytes, vary } = MEMORY_SHAPES[shape];
  const headers = [
    'content-type',
    'text/html; charset=utf-8',
    'content-length',
    String(bodyBytes),
    'etag',
    `"${i.toString(36)}"`,
    'cache-control',
    'public, max-age=3600',
    ...(vary ? ['vary', 'User-Agent'] : []),
  ].map(parsed);
  forward.head(200, headers);
  const head = `<p>${i}</p>`;
  // As a socket delivers it: Buffers from Buffer.from(), pool slices when small.
  for (let at = 0; at < bodyBytes; at += chunkBytes) {
    const n = Math.min(chunkBytes, bodyBytes - at);
    forward.data(Buffer.from(at === 0 ? `${head}${'.'.repeat(n - head.length)}` : '.'.repeat(n)));
  }
  forward.end();
  return bodyBytes;
}

function memoryUsed() {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  // `external` includes the ArrayBuffers (arrayBuffers) that hold the bodies.
  return { heap: m.heapUsed, external: m.external };
}

/** Child: fills one store with one shape, to its limit and as much again; what it holds after GC. */
async function memoryChild({ shape, limit }) {
  const { createCache, memoryStore } = await import('@switchyard/cache');
  const write = (cache, i) => {
    const l = cache.lookup(memoryRequest(shape, i));
    if (l.response !== undefined || l.forward === undefined) throw new Error(`entry ${i}: not a MISS`);
    return memoryRespond(shape, l.forward, i);
  };
  // Warm the code paths on a throw-away cache, so the baseline below holds compiled code.
  const warm = createCache({ store: memoryStore({ maxSizeBytes: 1 << 20 }), valid: { 200: '1h' } });
  for (let i = 0; i < 500; i++) write(warm, i);
  const before = memoryUsed();

  const store = memoryStore({ maxSizeBytes: limit });
  const cache = createCache({ store, valid: { 200: '1h' } });
  let maxSize = 0;
  let bodyBytes = 0;
  let filledAt = 0;
  let entries = 0;
  const startedAt = performance.now();
  // Up to the limit, then as many again: the store is full and has evicted for a while.
  for (let i = 0; filledAt === 0 || i < 2 * filledAt; i++) {
    bodyBytes += write(cache, i);
    entries++;
    const { sizeBytes } = store.usage();
    if (sizeBytes > maxSize) maxSize = sizeBytes;
    if (filledAt === 0 && sizeBytes >= 0.95 * limit) filledAt = i + 1;
  }
  const insertMs = performance.now() - startedAt;
  const after = memoryUsed();
  const usage = store.usage();
  // Which entries are left (each probe is a lookup; the measurement is over).
  let retained = 0;
  for (let i = 0; i < entries; i++) {
    const l = cache.lookup(memoryRequest(shape, i));
    if (l.response?.cacheStatus === 'HIT') retained++;
    l.forward?.abort();
  }
  return {
    shape,
    entries,
    limit,
    maxSize,
    finalSize: usage.sizeBytes,
    reportedLimit: usage.maxSizeBytes,
    retained,
    bodyBytes,
    insertMs,
    heapDelta: after.heap - before.heap,
    externalDelta: after.external - before.external,
  };
}

function memoryChildRun(shape) {
  const job = { shape, limit: MEMORY_LIMIT };
  const out = spawnSync(process.execPath, ['--expose-gc', SELF, '--child', 'memory', JSON.stringify(job)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 300_000,
  });
  if (out.status !== 0) {
    const why = out.error?.message ?? (out.stderr.trim().split('\n').slice(-3).join(' / ') || 'no output');
    return { shape, error: `the child failed (${out.status ?? out.signal}: ${why})` };
  }
  return JSON.parse(out.stdout.trim().split('\n').pop());
}

/** What the process holds for the store after GC: heap and external (ArrayBuffers) growth. */
function realBytes(r) {
  return r.heapDelta + r.externalDelta;
}

function memoryTarget(r) {
  const label =
    `memory store full of ${MEMORY_SHAPES[r.shape].label}: process memory after GC within ` +
    `${MEMORY_TOLERANCE * 100} % of maxSizeBytes, usage() never above it`;
  if (r.error) return { label, met: false, detail: `NOT met: ${r.error}` };
  const ratio = realBytes(r) / r.limit;
  const met = r.reportedLimit === r.limit && r.maxSize <= r.limit && Math.abs(ratio - 1) <= MEMORY_TOLERANCE;
  return {
    label,
    met,
    ratio,
    detail:
      `${met ? 'met' : 'NOT met'}: ${fmt(realBytes(r))} B held for a limit of ${fmt(r.limit)} B ` +
      `(${ratio.toFixed(3)}×: heap ${fmt(r.heapDelta)} B + external ${fmt(r.externalDelta)} B); usage() at most ` +
      `${fmt(r.maxSize)} B during the run, ${fmt(r.finalSize)} B at the end, ${fmt(r.retained)} entries left`,
  };
}

function memorySection() {
  console.log(
    `\nmemory: memoryStore({ maxSizeBytes: ${fmt(MEMORY_LIMIT)} }) filled with ` +
      `${Object.keys(MEMORY_SHAPES).join(', ')} entries`,
  );
  const results = Object.keys(MEMORY_SHAPES).map((shape) => {
    const r = memoryChildRun(shape);
    r.target = memoryTarget(r);
    console.log(
      `  ${shape}: ${r.error ?? `${fmt(r.retained)} entries left, ${r.target.ratio.toFixed(3)}× the limit`}`,
    );
    return r;
  });
  const ok = results.filter((r) => !r.error);
  if (ok.length > 0) console.log(`\n${memoryTable(ok)}`);
  for (const r of results) console.log(`  ${r.target.label}: ${r.target.detail}`);
  return { results, targets: results.map((r) => r.target) };
}

function pct(a, b) {
  return `${((100 * a) / b).toFixed(1)} %`;
}

function memoryTable(results) {
  const MiB = (b) => `${fmt(b / 2 ** 20, 1)} MiB`;
  const lines = [
    ['entries written', (r) => fmt(r.entries)],
    ['body bytes written', (r) => MiB(r.bodyBytes)],
    ['limit (`maxSizeBytes`)', (r) => `${fmt(r.limit)} B`],
    [
      '**process memory after GC: heap + external**',
      (r) => `${fmt(realBytes(r))} B (${pct(realBytes(r), r.limit)})`,
    ],
    ['**… ÷ limit**', (r) => `${(realBytes(r) / r.limit).toFixed(3)}×`],
    ['… heap (entries, strings, the LRU)', (r) => MiB(r.heapDelta)],
    ['… external (ArrayBuffers holding the bodies)', (r) => MiB(r.externalDelta)],
    [
      'store size at the end (`usage().sizeBytes`)',
      (r) => `${fmt(r.finalSize)} B (${pct(r.finalSize, r.limit)})`,
    ],
    [
      'largest store size, checked after every entry',
      (r) => `${fmt(r.maxSize)} B (${pct(r.maxSize, r.limit)})`,
    ],
    ['entries left in the store', (r) => fmt(r.retained)],
    ['counted per entry left (`usage()` ÷ entries)', (r) => `${fmt(r.finalSize / r.retained)} B`],
    ['process memory per entry left', (r) => `${fmt(realBytes(r) / r.retained)} B`],
    [
      'time per entry written (lookup + head + data + end)',
      (r) => `${fmt((1000 * r.insertMs) / r.entries, 2)} µs`,
    ],
  ];
  const header = ['', ...results.map((r) => MEMORY_SHAPES[r.shape].label)];
  const rows = lines.map(([label, f]) => [label, ...results.map(f)]);
  return markdownTable(header, rows, ['l', ...results.map(() => 'r')]);
}

// ---------------------------------------------------------------------------------------------
// microcache: examples/microcache with and without the cache, same load

async function runMicroOnce(name, settings, pin) {
  const run = { name, problems: [], counts: zeroCounts() };
  let child = null;
  try {
    child = await startProxyChild(name, [], pin);
    const url = `http://127.0.0.1:${child.port}/`;
    const smoke = await get(url);
    if (smoke.error || smoke.status !== 200) run.problems.push(`smoke GET: ${smoke.error ?? smoke.status}`);
    await measure(child, url, settings, run);
  } catch (err) {
    run.problems.push(err.message);
  } finally {
    await stopChild(child, run);
  }
  countProblems(run);
  return run;
}

function microTable(runs) {
  const header = [
    'server',
    'req/s',
    'p99 ms',
    'requests',
    'upstream calls',
    'upstream calls / s',
    'X-Cache-Status',
    'CPU µs/req',
    'non-2xx',
    'errors',
  ];
  const rows = runs.map((r) => [
    r.name,
    fmt(r.rps),
    fmt(r.p99, 1),
    fmt(r.completed),
    fmt(r.upstreamCalls),
    fmt(r.upstreamCalls / r.duration, 1),
    servedText(r.served),
    fmt(r.cpuPerRequest, 1),
    String(r.counts.non2xx),
    String(r.counts.errors + r.counts.timeouts),
  ]);
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'l', 'r', 'r', 'r']);
}

async function microSection(settings, pin) {
  console.log(
    `\nmicrocache: ${Object.keys(MICRO_CONTENDERS).join(', ')}; ${settings.warmup} s warm-up + ` +
      `${settings.duration} s, ${settings.connections} connections each`,
  );
  const runs = [];
  for (const name of Object.keys(MICRO_CONTENDERS)) {
    const run = await runMicroOnce(name, settings, pin);
    run.duration = settings.duration;
    runs.push(run);
    const flag = run.problems.length > 0 ? ` FLAGGED: ${run.problems.join('; ')}` : '';
    console.log(
      `  ${name.padEnd(20)} ${fmt(run.rps).padStart(7)} req/s, ${fmt(run.upstreamCalls)} upstream calls ` +
        `for ${fmt(run.completed)} requests${flag}`,
    );
    await sleep(300);
  }
  console.log(`\n${microTable(runs)}`);
  return { runs };
}

// ---------------------------------------------------------------------------------------------
// Report

function noisyRuns(hit, disk, micro) {
  const noisy = [];
  for (const s of [...(hit?.summaries ?? []), ...(disk?.summaries ?? [])]) {
    s.runs.forEach((r, i) => {
      if (r.otherLoad > NOISY_OTHER_LOAD) noisy.push(`${s.name} round ${i + 1} (${fmt(r.otherLoad)}%)`);
    });
  }
  for (const r of micro?.runs ?? []) {
    if (r.otherLoad > NOISY_OTHER_LOAD) noisy.push(`${r.name} (${fmt(r.otherLoad)}%)`);
  }
  return noisy;
}

function pinText(pin, parentPin) {
  if (!pin) return 'no CPU pinning (taskset unavailable)';
  return (
    `each server process under \`taskset -c ${pin}\`; ` +
    (parentPin ? `the parent (autocannon, backends) on CPU ${parentPin}` : 'the parent unpinned')
  );
}

function renderSection({
  date,
  machine,
  settings,
  pin,
  parentPin,
  hit,
  disk,
  lock,
  memory,
  micro,
  targets,
  noisy,
  elapsedS,
}) {
  const lines = [
    `## ${date} — ${machine.cpu}, Node ${machine.node}`,
    '',
    `- Machine: ${machineLine(machine)}; the run took ${elapsedS.toFixed(0)} s`,
    `- CPU pinning: ${pinText(pin, parentPin)}`,
    `- autocannon (parent process): ${settings.connections} connections, pipelining ${settings.pipelining}, ` +
      `keep-alive, ${rateText(settings.rate)}; ${settings.warmup} s warm-up, then ${settings.duration} s measured`,
    ...(settings.sections.length < SECTIONS.length
      ? [`- Only: ${settings.sections.join(', ')} (BENCH_CACHE_ONLY)`]
      : []),
    '',
    '### Targets',
    '',
    ...targets.map((t) => `- **${verdict(t)}** — ${t.label}: ${t.detail}`),
    '',
    noisy.length === 0
      ? `No measured run saw other processes use more than ${NOISY_OTHER_LOAD}% of a core.`
      : `Noisy: other processes used more than ${NOISY_OTHER_LOAD}% of a core during ${noisy.join(', ')}; ` +
        'those figures are less reliable.',
    '',
  ];
  if (hit) {
    lines.push(
      '### Cache-hit path: CPU per request',
      '',
      `${settings.rounds} round(s), the order rotating; each server alone in a child process, a fresh one per ` +
        'run; GET `/page`, one key, so after the first request every request is a HIT. req/s, p99 and CPU µs/req: ' +
        'medians over the rounds; "× bare CPU": the median of the per-round ratios to the bare server, over the ' +
        `rounds where neither run was noisy (other processes > ${NOISY_OTHER_LOAD}% of a core) when there is one.`,
      '',
      ...Object.entries(HIT_CONTENDERS).map(([n, d]) => `- \`${n}\`: ${d}`),
      '',
      hitTable(hit.summaries),
      '',
      hitRoundsTable(hit.summaries),
      '',
      '"first answer": X-Cache-Status of the first request (the bare server always sends the bytes of a hit); "served in measured ' +
        'run": responses by X-Cache-Status from `cache.stats()` during the measured run (every one must be ' +
        'a HIT). "other CPU %": CPU other processes used during the measured run, in % of one core.',
      '',
    );
    const problems = hit.summaries.flatMap((s) => s.problems.map((p) => `- **${s.name}** ${p}`));
    if (problems.length > 0) lines.push('Problems:', '', ...problems, '');
  }
  if (disk) {
    lines.push(
      '### Disk store: CPU per request of a 100 KiB HIT',
      '',
      `${settings.rounds} round(s), the order rotating, the same machinery as the hit section (a child process ` +
        'per run, pinned, CPU per request from its `process.cpuUsage()`); GET `/page`, one key, a ' +
        `${fmt(LARGE_BODY_BYTES.length)}-byte body, so after the first request every request is a HIT. ` +
        '"× memory CPU": the median of the per-round ratios to the memory store, over the quiet rounds when there is one.',
      '',
      ...Object.entries(DISK_CONTENDERS).map(([n, d]) => `- \`${n}\`: ${d}`),
      '',
      hitTable(disk.summaries, 'cache-disk-memory', '× memory CPU'),
      '',
      hitRoundsTable(disk.summaries, 'cache-disk-memory', '× memory, same round'),
      '',
    );
    const problems = disk.summaries.flatMap((s) => s.problems.map((p) => `- **${s.name}** ${p}`));
    if (problems.length > 0) lines.push('Problems:', '', ...problems, '');
    if (disk.nginx) {
      lines.push(
        '**For information only**: nginx 1.22 (`/usr/sbin/nginx`, one worker, pinned to the same CPU, ' +
          '`proxy_cache_path … levels=1:2`, `sendfile on`, `proxy_cache_valid 200 1h`) on 127.0.0.1 in front of ' +
          'the same 100 KiB origin, the same autocannon load, one run per round; its throughput only (its CPU is ' +
          'not comparable, and it sends the body with sendfile from the page cache).',
        '',
        nginxTable(disk.nginx),
        '',
      );
      if (disk.nginx.problems.length > 0)
        lines.push('nginx problems:', '', ...disk.nginx.problems.map((p) => `- ${p}`), '');
    } else {
      lines.push('nginx was not run (not found, or BENCH_CACHE_NGINX empty).', '');
    }
  }
  if (lock) {
    lines.push(
      '### Cache lock: concurrent misses of one key',
      '',
      `${fmt(settings.lockRequests)} clients, one connection each, all opened at once, GET the same URL ` +
        `(\`createCache({ valid: { 200: '1h' }, lock })\`, default \`lockTimeoutMs\`). The upstream (a handler ` +
        'behind the middleware, or a backend behind the proxy) counts its requests and holds its first answer ' +
        `until every request has reached the front server (at most ${LOCK_GATE_MS / 1000} s), so all of them ` +
        'are misses in flight at once. `lock: off` rows show what the lock saves.',
      '',
      lockTable(lock.rows),
      '',
    );
  }
  if (memory) {
    const ok = memory.results.filter((r) => !r.error);
    lines.push(
      '### Memory store filled to its limit',
      '',
      `For each shape of entry, one cache on \`memoryStore({ maxSizeBytes: ${fmt(MEMORY_LIMIT)} })\` ` +
        `(${fmt(MEMORY_LIMIT / 2 ** 20)} MiB) in a child process of its own (\`--expose-gc\`), fed through ` +
        'the `ProxyCache` contract (`lookup`, `head`, `data`, `end`) until the store reached 95 % of its ' +
        'limit, then as many entries again. Header values and request values are fresh strings, as ' +
        "Node's HTTP parser makes them; bodies arrive as `Buffer.from()` chunks (16 KiB for the large ones, " +
        `so small bodies are slices of Node's Buffer pool). Vary entries share ${VARY_URLS} URLs and each ` +
        'has its own User-Agent, so most live under secondary keys. The process memory is `heapUsed + ' +
        'external` after two `gc()`, against the same before the store was made (after a warm-up on a ' +
        `throw-away cache); the target is that figure within ${MEMORY_TOLERANCE * 100} % of the limit.`,
      '',
      ...(ok.length > 0 ? [memoryTable(ok), ''] : []),
    );
    const failed = memory.results.filter((r) => r.error);
    if (failed.length > 0) lines.push(...failed.map((r) => `- **${r.shape}** failed: ${r.error}`), '');
  }
  if (micro) {
    lines.push(
      '### Microcache example: with and without the cache',
      '',
      '`examples/microcache` (node:http, a handler that takes 50 ms — a timer, as a slow database would — ' +
        `cached for 1 s) in a child process, the same autocannon load on \`/\` for both (one round). ` +
        '"upstream calls": renders of the slow handler during the measured run, background updates included ' +
        '(counted by the server, so without the cache they exceed the requests autocannon completed by the ' +
        'requests still in flight when it stopped).',
      '',
      ...Object.entries(MICRO_CONTENDERS).map(([n, d]) => `- \`${n}\`: ${d}`),
      '',
      microTable(micro.runs),
      '',
    );
    const problems = micro.runs.flatMap((r) => r.problems.map((p) => `- **${r.name}** ${p}`));
    if (problems.length > 0) lines.push('Problems:', '', ...problems, '');
  }
  return lines.join('\n');
}

async function main() {
  const settings = readSettings();
  ({ machineBusyMicros } = await import('./lib/procstat.mjs'));
  const pin = detectPinning();
  const parentPin = pinParent(pin);
  const startedAt = Date.now();
  const s = settings.sections;
  const estimate =
    (s.includes('hit') ? settings.rounds * 3 * (settings.warmup + settings.duration + 1) : 0) +
    (s.includes('disk') ? settings.rounds * 3 * (settings.warmup + settings.duration + 1) : 0) +
    (s.includes('lock') ? 5 : 0) +
    (s.includes('memory') ? 15 : 0) +
    (s.includes('microcache') ? 2 * (settings.warmup + settings.duration + 1) : 0);
  console.log(`switchyard cache bench: ${s.join(', ')}; ${pinText(pin, parentPin)}; about ${estimate} s`);

  let hit;
  let disk;
  let lock;
  let memory;
  let micro;
  if (s.includes('hit')) {
    const backends = await startBackends(3);
    const stopOnSignal = async (signal) => {
      console.error(`\nswitchyard cache bench: ${signal}, stopping`);
      await backends.close();
      process.exit(130);
    };
    process.once('SIGINT', stopOnSignal);
    process.once('SIGTERM', stopOnSignal);
    try {
      hit = await hitSection(settings, pin, backends);
    } finally {
      await backends.close();
    }
  }
  if (s.includes('disk')) disk = await diskSection(settings, pin);
  if (s.includes('lock')) lock = await lockSection(settings);
  if (s.includes('memory')) memory = memorySection();
  if (s.includes('microcache')) micro = await microSection(settings, pin);

  const targets = [
    ...(hit ? [hit.target] : []),
    ...(disk ? [disk.target] : []),
    ...(lock ? lock.targets : []),
    ...(memory ? memory.targets : []),
  ];
  const noisy = noisyRuns(hit, disk, micro);
  const elapsedS = (Date.now() - startedAt) / 1000;
  console.log('\nTargets:');
  for (const t of targets) console.log(`  - ${verdict(t)}: ${t.label}: ${t.detail}`);
  if (noisy.length > 0)
    console.log(`Noisy (other processes > ${NOISY_OTHER_LOAD}% of a core): ${noisy.join(', ')}`);

  if (settings.write) {
    prependSection({
      file: RESULTS_FILE,
      title: 'Cache benchmark results',
      intro:
        'Written by `bench/cache.mjs`: the CPU a cache hit of `@switchyard/cache` costs beside a bare ' +
        'server, a 100 KiB hit from the disk store beside the memory store, the cache lock under a burst of misses, the memory store against its byte limit, and ' +
        'the microcache example with and without its cache. Each run adds a section, newest first. See ' +
        '[README.md](./README.md#cachemjs-the-http-cache) for how it is measured.',
      marker: SECTIONS_MARKER,
      section: renderSection({
        date: new Date().toISOString(),
        machine: machineInfo(),
        settings,
        pin,
        parentPin,
        hit,
        disk,
        lock,
        memory,
        micro,
        targets,
        noisy,
        elapsedS,
      }),
    });
    console.log(`\nwrote ${RESULTS_FILE}`);
  }
}

const childAt = process.argv.indexOf('--child');
const job =
  childAt >= 0
    ? memoryChild(JSON.parse(process.argv[childAt + 2])).then((r) => {
        process.stdout.write(`${JSON.stringify(r)}\n`);
      })
    : main();
job.then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
