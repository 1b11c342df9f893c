#!/usr/bin/env node
// switchyard micro-benchmark: the time one `engine.evaluate()` of @switchyard/rewrite takes
//
//   - for the rules and requests of the first suite of conformance/rewrite.json
//     (`seed-server-level`, recorded from the real nginx), the target: ≤ 2 µs per request;
//   - for a generated configuration of 50 rewrite-module directives and 30 locations of every
//     kind, with requests that take every path through it;
//   - for 30, 300 and 3000 prefix locations (and 1, for reference), to show that the location
//     search does not grow linearly with their number.
//
// Every figure is measured in fresh child processes (`node bench/rewrite.mjs --child …`, three
// by default, the median taken), so the `evaluate()` call site sees one engine only and no
// measurement inherits another's JIT state or heap; the parent reports and writes
// RESULTS-rewrite.md.
//
// Usage: node bench/rewrite.mjs [--no-write]
// Env:   BENCH_REWRITE_MS (ms per timed run, default 200), BENCH_REWRITE_RUNS (timed runs per
//        figure, median taken, default 5), BENCH_REWRITE_PROCESSES (child processes per figure,
//        median of their medians taken, default 3).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { intEnv, machineInfo, machineLine, prependSection } from './lib/results.mjs';
import { NOISY_OTHER_LOAD } from './lib/rounds.mjs';
import { fmt, markdownTable, median } from './lib/stats.mjs';

const SELF = fileURLToPath(import.meta.url);
const RESULTS_FILE = fileURLToPath(new URL('./RESULTS-rewrite.md', import.meta.url));
const SECTIONS_MARKER = '<!-- runs: newest first; bench/rewrite.mjs inserts each run below this line -->';
/** The conformance vectors recorded from nginx, in the repository. */
const VECTORS = fileURLToPath(new URL('../conformance/rewrite.json', import.meta.url));
const VECTORS_SHOWN = 'conformance/rewrite.json';

/** Target from the issue, ns per evaluate() for the first suite. */
const TARGET_SUITE_NS = 2000;
const MIXED_RULES = 50;
const MIXED_LOCATIONS = 30;
const SCALING_SIZES = [30, 300, 3000];
/** Not a target size: one prefix location, what evaluate() costs with a trivial search. */
const SCALING_REFERENCE = 1;
/** Warm-up before calibrating: the loop runs for at least this long. */
const WARMUP_MS = 300;
/** Timed runs of each request alone (the per-request table of the first suite), ms each. */
const PER_REQUEST_MS = 100;
const PER_REQUEST_RUNS = 3;

// ---------------------------------------------------------------------------------------------
// Fixtures: the same in every child.

/** A string as the HTTP parser would hand it over: flat, not a rope of concatenations. */
function flat(s) {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** Request headers as Node's `req.headersDistinct` gives them (what the middleware passes). */
function distinct(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers)) {
    out[flat(name.toLowerCase())] = (Array.isArray(value) ? value : [value]).map(flat);
  }
  return out;
}

/** The first suite of rewrite.json: its config, and its cases in file order. */
function firstSuite() {
  const { cases } = JSON.parse(readFileSync(VECTORS, 'utf8'));
  const name = cases[0].suite;
  const suite = cases.filter((c) => c.suite === name);
  const configs = new Set(suite.map((c) => c.config));
  if (configs.size !== 1) throw new Error(`suite ${name}: ${configs.size} configurations, expected one`);
  return { name, config: suite[0].config, cases: suite };
}

/** What the recorder would have seen from nginx had it decided `result` (as test/conformance.test.ts). */
function observed(result, method) {
  switch (result.action) {
    case 'pass':
      return result.target === undefined
        ? { status: 404, location: null, upstreamUri: null }
        : { status: 200, location: null, upstreamUri: result.uri };
    case 'redirect':
      return { status: result.status, location: result.location, upstreamUri: null };
    default:
      return { status: result.status === 444 ? 0 : result.status, location: null, upstreamUri: null, method };
  }
}

/** A request as a proxy on that listen address would pass it (scheme, port, addresses). */
function suiteRequest(c) {
  return {
    method: flat(c.request.method),
    uri: flat(c.request.uri),
    headers: distinct(c.request.headers),
    scheme: 'http',
    port: Number(c.listen.split(':')[1]),
    remoteAddr: '127.0.0.1',
    serverAddr: '127.0.0.1',
  };
}

const UP = (n) => `http://127.0.0.1:${9100 + n}`;
const SECTIONS_OF_SITE = [
  'app',
  'blog',
  'shop',
  'api',
  'docs',
  'admin',
  'account',
  'search',
  'news',
  'events',
  'help',
  'about',
  'contact',
  'careers',
  'partners',
  'legal',
  'status',
  'feeds',
  'images',
];

/**
 * A site-sized configuration, generated: 50 rewrite-module directives (rewrite, return, if,
 * set; an `if` and each directive in it count one each) and 30 locations — 2 exact, 3 `^~`,
 * 5 regex and 20 prefix (`/` among them) —, with requests that go through all of them.
 */
function mixedConfig() {
  const lines = [
    // Server level: canonical host, legacy URLs, language prefixes, flags from the request.
    'if ($http_host ~* ^www\\.(.+)$) {',
    '    return 301 $scheme://$1$request_uri;',
    '}',
    'set $site main;',
    'rewrite ^/old-blog/(\\d+)/(.*)$ /blog/$1/$2 permanent;',
    'rewrite ^/legacy/(.*)$ /app/$1 last;',
    'rewrite ^/shop/item-(\\d+)\\.html$ /shop/item?id=$1 last;',
    'rewrite ^/(en|de|fr)/(.*)$ /$2?lang=$1 last;',
    'if ($http_user_agent ~* (bot|crawler|spider)) {',
    '    set $bot 1;',
    '}',
    'location = / {',
    `    proxy_pass ${UP(0)};`,
    '}',
    'location = /health {',
    '    return 200 "ok";',
    '}',
    'location ^~ /static/ {',
    '    rewrite ^/static/v\\d+/(.*)$ /static/$1 break;',
    `    proxy_pass ${UP(1)};`,
    '}',
    'location ^~ /assets/ {',
    `    proxy_pass ${UP(1)};`,
    '}',
    'location ^~ /media/ {',
    '    if ($arg_download) {',
    '        rewrite ^/media/(.*)$ /dl/$1 break;',
    '    }',
    `    proxy_pass ${UP(2)};`,
    '}',
    'location ~ \\.php$ {',
    '    return 403;',
    '}',
    'location ~* \\.(jpg|jpeg|png|gif|webp)$ {',
    `    proxy_pass ${UP(3)};`,
    '}',
    'location ~ ^/user/(\\d+)/profile$ {',
    '    rewrite ^/user/(\\d+)/profile$ /account/profile?id=$1 last;',
    '}',
    'location ~ ^/api/v(\\d+)/ {',
    '    set $api_version $1;',
    `    proxy_pass ${UP(4)};`,
    '}',
    'location ~* ^/download/.*\\.(zip|tar\\.gz)$ {',
    '    rewrite ^/download/(.*)$ /files/$1 break;',
    `    proxy_pass ${UP(5)};`,
    '}',
  ];
  // 19 named prefix locations with 1–2 directives each, in four patterns, then `location /`.
  SECTIONS_OF_SITE.forEach((name, i) => {
    lines.push(`location /${name}/ {`);
    switch (i % 4) {
      case 0:
        lines.push(`    rewrite ^/${name}/old/(.*)$ /${name}/new/$1 permanent;`);
        break;
      case 1:
        lines.push(`    rewrite ^/${name}/(\\d+)/(.+)$ /${name}/$2?id=$1 break;`);
        break;
      case 2:
        lines.push(
          '    if ($arg_v = "2") {',
          `        rewrite ^/${name}/(.*)$ /${name}/v2/$1 break;`,
          '    }',
        );
        break;
      default:
        lines.push(`    set $section ${name};`);
    }
    if (i % 6 === 0) lines.push(`    if ($cookie_beta = "1") {`, `        set $beta ${name};`, '    }');
    lines.push(`    proxy_pass ${UP(10 + i)};`, '}');
  });
  lines.push(
    'location / {',
    '    rewrite ^/(.*)/index\\.html$ /$1/ permanent;',
    `    proxy_pass ${UP(99)};`,
    '}',
  );

  const uris = [
    '/',
    '/health',
    '/static/v3/app.js',
    '/static/site.css',
    '/assets/logo.svg',
    '/media/clip.mp4',
    '/media/clip.mp4?download=1',
    '/index.php',
    '/wp/login.php?x=1',
    '/photos/cat.JPG',
    '/user/42/profile',
    '/api/v2/items?page=3',
    '/download/pkg/tool.tar.gz',
    '/old-blog/2019/hello-world',
    '/legacy/dashboard',
    '/shop/item-1234.html',
    '/de/news/today',
    '/fr/help/faq',
    '/about/team/index.html',
    '/nowhere/at/all',
    ...SECTIONS_OF_SITE.flatMap((name, i) => [
      `/${name}/`,
      i % 4 === 0 ? `/${name}/old/page-${i}` : i % 4 === 1 ? `/${name}/2024/post-${i}` : `/${name}/page-${i}`,
      `/${name}/list?v=2&sort=new`,
    ]),
  ];
  const browser = {
    'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'accept-language': 'en-US,en;q=0.5',
    'accept-encoding': 'gzip, deflate, br, zstd',
    referer: 'https://example.com/',
    'upgrade-insecure-requests': '1',
    'sec-fetch-dest': 'document',
    'sec-fetch-mode': 'navigate',
    'sec-fetch-site': 'same-origin',
    'sec-fetch-user': '?1',
  };
  const headerSets = [
    { host: 'example.com', ...browser, cookie: 'sid=7f3a9c; theme=dark; beta=1' },
    { host: 'www.example.com', 'user-agent': 'curl/8.5.0', accept: '*/*' },
    {
      host: 'example.com',
      'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
      accept: '*/*',
      from: 'googlebot(at)googlebot.com',
    },
    { host: 'example.com:8080', ...browser, cookie: 'sid=91bd20' },
  ];
  // 128 requests: every URI, with one of four header sets: a browser (12 header lines, a
  // beta cookie), curl on the www host, a crawler, a browser on an explicit port.
  const requests = [];
  for (let i = 0; requests.length < 128; i++) {
    const uri = uris[i % uris.length];
    requests.push({
      method: i % 17 === 5 ? 'POST' : 'GET',
      uri: flat(uri),
      headers: distinct(headerSets[(i + Math.floor(i / uris.length)) % headerSets.length]),
      scheme: 'http',
      port: 8080,
      remoteAddr: '10.1.2.3',
      serverAddr: '10.0.0.1',
    });
  }
  return { config: lines.join('\n'), requests };
}

/** Counts the rewrite-module directives of a parsed configuration, `if` bodies included. */
function countRules(rules) {
  let n = 0;
  for (const r of rules) {
    n++;
    if (r.type === 'if') n += countRules(r.rules);
  }
  return n;
}

/** Short pseudo-random path segments, deterministic (mulberry32). */
function segments(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % 36 ** 5).toString(36).padStart(5, '0');
  };
}

/**
 * `n` prefix locations with `proxy_pass`: one in three a top-level service (`/svc-xxxxx/`),
 * the others nested in the last one (`/svc-xxxxx/v1/`, `/svc-xxxxx/v2/`), so the tree has
 * inclusive subtrees as real configurations do. 512 requests spread over all of them, each
 * going deeper than its location (`…/items/123?page=2`).
 */
function scalingConfig(n) {
  const next = segments(n);
  const names = [];
  const tops = new Set();
  let top = '';
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) {
      do top = `/svc-${next()}/`;
      while (tops.has(top));
      tops.add(top);
      names.push(top);
    } else {
      names.push(`${top}v${i % 3}/`);
    }
  }
  const config = names.map((name, i) => `location ${name} {\n    proxy_pass ${UP(i % 50)};\n}`).join('\n');
  const requests = [];
  const expected = [];
  for (let j = 0; j < 512; j++) {
    const k = Math.floor((j * 2654435761) % 2 ** 32) % n;
    requests.push({
      method: 'GET',
      uri: flat(`${names[k]}items/${1000 + j}?page=${j % 5}`),
      headers: distinct({ host: 'example.com' }),
      scheme: 'http',
      port: 8080,
      remoteAddr: '10.1.2.3',
      serverAddr: '10.0.0.1',
    });
    expected.push(names[k]);
  }
  return { config, requests, expected };
}

// ---------------------------------------------------------------------------------------------
// Child: one figure, printed as one line of JSON on stdout.

let sink;

/** ns for `iterations` evaluations, cycling through the requests (a power-of-2 list). */
function timeLoop(engine, requests, iterations) {
  const mask = requests.length - 1;
  let last;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) last = engine.evaluate(requests[i & mask]);
  const elapsed = process.hrtime.bigint() - start;
  sink = last;
  return Number(elapsed);
}

/** Repeats the list until its length is a power of 2, so the loop can index with a mask. */
function powerOfTwo(list) {
  let size = 1;
  while (size < list.length) size *= 2;
  return Array.from({ length: size }, (_, i) => list[i % list.length]);
}

function watchGc() {
  const entries = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) entries.push({ start: e.startTime, duration: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    async countIn(windows) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      observer.disconnect();
      const inside = entries.filter((e) => windows.some(([from, to]) => e.start >= from && e.start <= to));
      return { count: inside.length, ms: inside.reduce((sum, e) => sum + e.duration, 0) };
    },
  };
}

/** Warm-up, calibration to about `ms` per run, then `runs` timed runs: ns per evaluate() each. */
async function measure(engine, list, { ms, runs }) {
  const requests = powerOfTwo(list);
  const warmupUntil = performance.now() + WARMUP_MS;
  let n = 256;
  while (performance.now() < warmupUntil) timeLoop(engine, requests, n);
  const targetNs = ms * 1e6;
  let ns = timeLoop(engine, requests, n);
  while (ns < targetNs / 10) {
    n *= 2;
    ns = timeLoop(engine, requests, n);
  }
  ns = Math.min(ns, timeLoop(engine, requests, n), timeLoop(engine, requests, n));
  const iterations = Math.max(1, Math.round((n * targetNs) / ns));
  const gcWatch = watchGc();
  const windows = [];
  const nsPerCall = [];
  for (let run = 0; run < runs; run++) {
    globalThis.gc?.();
    const from = performance.now();
    const elapsed = timeLoop(engine, requests, iterations);
    windows.push([from, performance.now()]);
    nsPerCall.push(elapsed / iterations);
  }
  const gc = await gcWatch.countIn(windows);
  return { nsPerCall, iterations, gcs: gc.count, gcMs: gc.ms };
}

function tally(results) {
  const by = {};
  for (const r of results) {
    const k = r.action === 'pass' ? 'pass' : `${r.action} ${r.status}`;
    by[k] = (by[k] ?? 0) + 1;
  }
  return by;
}

async function child(job) {
  let rewrite;
  try {
    rewrite = await import('@switchyard/rewrite');
  } catch (err) {
    throw new Error(
      `cannot load @switchyard/rewrite (${err.message}); build it first: pnpm run build, or ` +
        'pnpm --filter @switchyard/rewrite run build',
    );
  }
  const settings = job.settings;
  let config;
  let requests;
  let check;
  const extra = {};
  if (job.kind === 'suite') {
    const suite = firstSuite();
    config = suite.config;
    requests = suite.cases.map(suiteRequest);
    // Sanity: every request gets nginx's recorded answer.
    check = (results) =>
      results.forEach((r, i) => {
        const c = suite.cases[i];
        const got = observed(r, c.request.method);
        const want = c.expect;
        if (
          got.status !== want.status ||
          got.location !== want.location ||
          got.upstreamUri !== want.upstreamUri
        ) {
          throw new Error(`${c.request.uri}: got ${JSON.stringify(got)}, nginx ${JSON.stringify(want)}`);
        }
      });
    extra.suite = suite.name;
    extra.uris = suite.cases.map((c) => c.request.uri);
  } else if (job.kind === 'mixed') {
    ({ config, requests } = mixedConfig());
    const parsed = rewrite.parseNginx(config);
    extra.rules =
      countRules(parsed.rules) + parsed.locations.reduce((sum, l) => sum + countRules(l.rules), 0);
    extra.locations = parsed.locations.length;
    extra.modifiers = {};
    for (const l of parsed.locations) {
      const m = l.modifier === '' ? 'prefix' : l.modifier;
      extra.modifiers[m] = (extra.modifiers[m] ?? 0) + 1;
    }
    extra.requests = requests.length;
    check = (results) => {
      const bad = results.filter((r) => r.action === 'return' && (r.status === 500 || r.status === 400));
      if (bad.length > 0)
        throw new Error(`${bad.length} requests answered 400/500: the configuration is wrong`);
      extra.outcomes = tally(results);
      extra.locationsHit = new Set(results.filter((r) => r.action === 'pass').map((r) => r.location)).size;
    };
  } else {
    const built = scalingConfig(job.size);
    ({ config, requests } = built);
    check = (results) =>
      results.forEach((r, i) => {
        if (r.action !== 'pass' || r.location !== built.expected[i]) {
          throw new Error(
            `${requests[i].uri}: got ${JSON.stringify(r)}, expected location ${built.expected[i]}`,
          );
        }
      });
    extra.requests = requests.length;
  }

  // Building the engine: the first build in the process (cold code), then the median of 5.
  const buildMs = [];
  let engine;
  for (let i = 0; i < 6; i++) {
    const start = process.hrtime.bigint();
    engine = rewrite.compileNginx(config);
    buildMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  check(requests.map((r) => engine.evaluate(r)));

  const result = { ...extra, buildColdMs: buildMs[0], buildMs: median(buildMs.slice(1)) };
  Object.assign(result, await measure(engine, requests, settings));
  if (job.kind === 'suite') {
    // Each request alone, for the per-request table (after the figure that counts).
    result.perRequest = [];
    for (const r of requests) {
      const m = await measure(engine, [r], { ms: PER_REQUEST_MS, runs: PER_REQUEST_RUNS });
      result.perRequest.push(median(m.nsPerCall));
    }
  }
  result.last = sink?.action;
  const cpu = process.cpuUsage();
  result.cpuMicros = cpu.user + cpu.system;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent

function readSettings() {
  return {
    ms: intEnv('BENCH_REWRITE_MS', 200, 1),
    runs: intEnv('BENCH_REWRITE_RUNS', 5, 1),
    processes: intEnv('BENCH_REWRITE_PROCESSES', 3, 1),
    write: !process.argv.includes('--no-write'),
  };
}

let machineBusyMicros = () => null;

function runChild(job) {
  const machineBefore = machineBusyMicros();
  const selfBefore = process.cpuUsage();
  const startedAt = performance.now();
  const out = spawnSync(process.execPath, ['--expose-gc', SELF, '--child', JSON.stringify(job)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 300_000,
  });
  const windowMicros = (performance.now() - startedAt) * 1000;
  const self = process.cpuUsage(selfBefore);
  const machineAfter = machineBusyMicros();
  if (out.status !== 0) {
    const why = out.error?.message ?? (out.stderr.trim().split('\n').slice(-3).join(' / ') || 'no output');
    return { error: `child exited with ${out.status ?? out.signal}: ${why}` };
  }
  const result = JSON.parse(out.stdout.trim().split('\n').pop());
  result.ns = median(result.nsPerCall);
  if (machineBefore !== null && machineAfter !== null) {
    const others = machineAfter - machineBefore - (self.user + self.system) - result.cpuMicros;
    result.otherLoad = Math.max(0, (100 * others) / windowMicros);
  }
  return result;
}

/**
 * One figure from `processes` fresh children: the median of their medians. Two processes
 * running the same loop can settle on different machine code (one figure here came out at
 * 520 and at 870 ns in turn), so a single process is not enough.
 */
function runFigure(job, processes) {
  const runs = [];
  for (let i = 0; i < processes; i++) {
    const r = runChild(job);
    if (r.error) return r;
    runs.push(r);
  }
  const [first] = runs;
  const perRequest = first.perRequest?.map((_, i) => median(runs.map((r) => r.perRequest[i])));
  return {
    ...first,
    ns: median(runs.map((r) => r.ns)),
    processMedians: runs.map((r) => r.ns),
    nsPerCall: runs.flatMap((r) => r.nsPerCall),
    iterations: median(runs.map((r) => r.iterations)),
    gcs: runs.reduce((sum, r) => sum + r.gcs, 0),
    gcMs: runs.reduce((sum, r) => sum + r.gcMs, 0),
    buildColdMs: median(runs.map((r) => r.buildColdMs)),
    buildMs: median(runs.map((r) => r.buildMs)),
    otherLoad: Math.max(...runs.map((r) => r.otherLoad ?? 0)),
    ...(perRequest ? { perRequest } : {}),
  };
}

function nsText(ns) {
  if (ns === null || ns === undefined || !Number.isFinite(ns)) return 'n/a';
  return ns >= 10_000 ? `${fmt(ns / 1000, 1)} µs` : `${fmt(ns, 0)} ns`;
}

function usText(ns) {
  return Number.isFinite(ns) ? `${fmt(ns / 1000, 2)} µs` : 'n/a';
}

function detailRow(label, r) {
  if (r.error) return [label, `failed: ${r.error}`, '', '', '', '', '', '', ''];
  return [
    label,
    fmt(r.ns, 0),
    r.processMedians.map((ns) => fmt(ns, 0)).join(', '),
    `${fmt(Math.min(...r.nsPerCall), 0)} – ${fmt(Math.max(...r.nsPerCall), 0)}`,
    fmt(r.iterations),
    `${r.gcs}${r.gcs > 0 ? ` (${fmt(r.gcMs, 1)} ms)` : ''}`,
    fmt(r.buildColdMs, 2),
    fmt(r.buildMs, 2),
    fmt(r.otherLoad, 0),
  ];
}

function evaluateTargets(suite, scaling) {
  const checks = [];
  const suiteLabel = `first suite (\`${suite.suite ?? 'seed-server-level'}\`) ≤ ${fmt(TARGET_SUITE_NS / 1000)} µs per evaluate()`;
  if (suite.error) checks.push({ label: suiteLabel, met: false, detail: `NOT met: ${suite.error}` });
  else {
    const met = suite.ns <= TARGET_SUITE_NS;
    checks.push({ label: suiteLabel, met, detail: `${met ? 'met' : 'NOT met'}: ${usText(suite.ns)}` });
  }
  const [small, , large] = SCALING_SIZES.map((n) => scaling[n]);
  const logRatio = Math.log2(SCALING_SIZES[2]) / Math.log2(SCALING_SIZES[0]);
  const linear = SCALING_SIZES[2] / SCALING_SIZES[0];
  const scaleLabel =
    `location search not linear: evaluate() at ${fmt(SCALING_SIZES[2])} prefix locations ≤ ` +
    `log₂(${SCALING_SIZES[2]}) / log₂(${SCALING_SIZES[0]}) = ${logRatio.toFixed(2)}× its cost at ${SCALING_SIZES[0]} ` +
    `(linear growth would be ${linear}×)`;
  if (small.error || large.error) {
    checks.push({ label: scaleLabel, met: false, detail: `NOT met: ${small.error ?? large.error}` });
  } else {
    const ratio = large.ns / small.ns;
    const met = ratio <= logRatio;
    checks.push({
      label: scaleLabel,
      met,
      detail: `${met ? 'met' : 'NOT met'}: ${nsText(large.ns)} vs ${nsText(small.ns)} = ${ratio.toFixed(2)}×`,
    });
  }
  return checks;
}

function renderSection({
  date,
  machine,
  settings,
  suite,
  mixed,
  scaling,
  reference,
  targets,
  noisy,
  elapsedS,
}) {
  const scalingRows = [SCALING_REFERENCE, ...SCALING_SIZES].map((n) => {
    const r = n === SCALING_REFERENCE ? reference : scaling[n];
    const base = scaling[SCALING_SIZES[0]];
    return [
      n === SCALING_REFERENCE ? `${n} (reference)` : fmt(n),
      r.error ? `failed: ${r.error}` : nsText(r.ns),
      r.error || base.error ? '' : `${(r.ns / base.ns).toFixed(2)}×`,
      n === SCALING_REFERENCE ? '' : `${(n / SCALING_SIZES[0]).toFixed(n < SCALING_SIZES[0] ? 2 : 0)}×`,
      n === SCALING_REFERENCE ? '' : `${(Math.log2(n) / Math.log2(SCALING_SIZES[0])).toFixed(2)}×`,
      r.error ? '' : `${fmt(r.buildMs, 2)} ms`,
    ];
  });
  const perRequest = suite.error
    ? []
    : suite.uris.map((uri, i) => [`\`${uri}\``, nsText(suite.perRequest[i])]);
  const lines = [
    `## ${date} — ${machine.cpu}, Node ${machine.node}`,
    '',
    `- Machine: ${machineLine(machine)}; the run took ${elapsedS.toFixed(0)} s`,
    `- Each figure: in each of ${settings.processes} fresh child processes, the median of ${settings.runs} timed runs ` +
      `of about ${settings.ms} ms (\`process.hrtime.bigint()\` around a loop of \`engine.evaluate(request)\` cycling ` +
      `through pre-built requests) after a ${WARMUP_MS} ms warm-up and a calibration; then the median over the ` +
      'processes; nothing pinned',
    "- Requests: plain objects as a proxy passes them — `uri` as received, headers as Node's " +
      '`req.headersDistinct` (lower-case names, arrays of lines), `scheme`, `port`, `remoteAddr`, `serverAddr`',
    '',
    '### ns per evaluate()',
    '',
    markdownTable(
      ['configuration', 'requests', 'per evaluate()', 'target'],
      [
        [
          `first suite of rewrite.json (\`${suite.suite ?? '?'}\`)`,
          suite.error ? 'n/a' : String(suite.uris.length),
          suite.error ? `failed: ${suite.error}` : `${nsText(suite.ns)} (${usText(suite.ns)})`,
          `≤ ${fmt(TARGET_SUITE_NS / 1000)} µs: ${targets[0].met ? 'met' : 'NOT met'}`,
        ],
        [
          `generated: ${mixed.rules ?? MIXED_RULES} directives, ${mixed.locations ?? MIXED_LOCATIONS} locations`,
          mixed.error ? 'n/a' : String(mixed.requests),
          mixed.error ? `failed: ${mixed.error}` : `${nsText(mixed.ns)} (${usText(mixed.ns)})`,
          '—',
        ],
      ],
      ['l', 'r', 'r', 'l'],
    ),
    '',
    `Targets (from the issue): ≤ 2 µs per request for the first suite; a location search that does not grow ` +
      'linearly with the number of prefix locations.',
    '',
    ...targets.map((t) => `- **${t.met ? 'met' : 'NOT met'}** — ${t.label}: ${t.detail}`),
    '',
    noisy.length === 0
      ? `No measurement saw other processes use more than ${NOISY_OTHER_LOAD}% of a core.`
      : `Noisy: other processes used more than ${NOISY_OTHER_LOAD}% of a core during ${noisy.join(', ')}; ` +
        'those figures are less reliable.',
    '',
    '### The first suite',
    '',
    `\`${VECTORS_SHOWN}\`, suite \`${suite.suite ?? '?'}\`: its configuration (two server-level \`rewrite … last\`, ` +
      '`return 403`, `location /` with `proxy_pass`) and its requests, each checked first against what nginx ' +
      'answered. The figure above cycles through all of them; below, each request alone (median of ' +
      `${PER_REQUEST_RUNS} runs of ${PER_REQUEST_MS} ms in each process, then over the processes).`,
    '',
    ...(perRequest.length > 0
      ? [markdownTable(['request', 'per evaluate()'], perRequest, ['l', 'r']), '']
      : []),
    `### The generated configuration: ${MIXED_RULES} directives, ${MIXED_LOCATIONS} locations`,
    '',
    mixed.error
      ? `Failed: ${mixed.error}`
      : `${mixed.rules} rewrite-module directives (\`rewrite\`, \`return\`, \`if\`, \`set\`; an \`if\` and each ` +
        `directive inside it count one each), ${mixed.locations} locations (${Object.entries(mixed.modifiers)
          .map(([m, n]) => `${n} ${m === 'prefix' ? 'prefix' : `\`${m}\``}`)
          .join(', ')}): server-level host canonicalisation, legacy and language rewrites with \`last\`, ` +
        'regex locations with captures, `if` on arguments, cookies and the user agent. ' +
        `${mixed.requests} requests (passed on from ${mixed.locationsHit} of the locations; the others return or rewrite) with four header sets (a browser ` +
        'with 12 header lines and a cookie, curl on the `www.` host, a crawler, a browser on port 8080); outcomes: ' +
        `${Object.entries(mixed.outcomes)
          .map(([k, n]) => `${k} × ${n}`)
          .join(', ')}.`,
    '',
    '### Location search: prefix locations',
    '',
    'One configuration per size: only prefix locations with `proxy_pass`, one in three a top-level ' +
      '`/svc-xxxxx/`, the others nested in it (`…/v1/`, `…/v2/`); 512 requests spread over all the ' +
      'locations, each deeper than its location, each checked to land in the right one.',
    '',
    markdownTable(
      ['prefix locations', 'per evaluate()', '× at 30', 'linear would be', 'log₂ would be', 'engine build'],
      scalingRows,
      ['l', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '### Details',
    '',
    markdownTable(
      [
        'figure',
        'ns (median)',
        'each process',
        `min – max of all runs`,
        'calls per run',
        'GCs in timed runs',
        'first build ms',
        'build ms',
        'other CPU %',
      ],
      [
        detailRow('first suite', suite),
        detailRow('generated 50/30', mixed),
        detailRow(`${SCALING_REFERENCE} prefix location`, reference),
        ...SCALING_SIZES.map((n) => detailRow(`${n} prefix locations`, scaling[n])),
      ],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    '"each process": the median of each child process\'s timed runs; the figure is the median of those. ' +
      '"GCs in timed runs": garbage collections during the timed loops (each `evaluate()` allocates its ' +
      'result and per-request state). "first build": `compileNginx()` the first time in the process (cold ' +
      'code); "build": the median of the next five. "other CPU %": CPU used by other processes while the ' +
      'child ran, in % of one core.',
    '',
  ];
  return lines.join('\n');
}

async function main() {
  const settings = readSettings();
  ({ machineBusyMicros } = await import('./lib/procstat.mjs'));
  const startedAt = Date.now();
  const childSettings = { ms: settings.ms, runs: settings.runs };
  console.log(
    `switchyard rewrite bench: evaluate() for the first rewrite.json suite, a ${MIXED_RULES}-directive / ` +
      `${MIXED_LOCATIONS}-location configuration, and ${[SCALING_REFERENCE, ...SCALING_SIZES].join('/')} prefix ` +
      `locations; median of ${settings.runs} × ~${settings.ms} ms in each of ${settings.processes} child processes per figure`,
  );
  const suite = runFigure({ kind: 'suite', settings: childSettings }, settings.processes);
  console.log(`  first suite (${suite.suite ?? '?'}): ${suite.error ?? nsText(suite.ns)}`);
  const mixed = runFigure({ kind: 'mixed', settings: childSettings }, settings.processes);
  console.log(
    `  generated ${mixed.rules ?? '?'} directives / ${mixed.locations ?? '?'} locations: ${mixed.error ?? nsText(mixed.ns)}`,
  );
  const reference = runFigure(
    { kind: 'locations', size: SCALING_REFERENCE, settings: childSettings },
    settings.processes,
  );
  console.log(`  ${SCALING_REFERENCE} prefix location: ${reference.error ?? nsText(reference.ns)}`);
  const scaling = {};
  for (const n of SCALING_SIZES) {
    scaling[n] = runFigure({ kind: 'locations', size: n, settings: childSettings }, settings.processes);
    console.log(`  ${n} prefix locations: ${scaling[n].error ?? nsText(scaling[n].ns)}`);
  }
  if (!mixed.error && (mixed.rules !== MIXED_RULES || mixed.locations !== MIXED_LOCATIONS)) {
    mixed.error = `the generated configuration has ${mixed.rules} directives and ${mixed.locations} locations`;
  }

  const targets = evaluateTargets(suite, scaling);
  const all = [
    ['first suite', suite],
    ['generated', mixed],
    [`${SCALING_REFERENCE} prefix location`, reference],
    ...SCALING_SIZES.map((n) => [`${n} prefix locations`, scaling[n]]),
  ];
  const noisy = all
    .filter(([, r]) => r.otherLoad > NOISY_OTHER_LOAD)
    .map(([l, r]) => `${l} (${fmt(r.otherLoad)}%)`);
  const elapsedS = (Date.now() - startedAt) / 1000;
  console.log('\nTargets:');
  for (const t of targets) console.log(`  - ${t.met ? 'met' : 'NOT met'}: ${t.label}: ${t.detail}`);
  if (noisy.length > 0)
    console.log(`Noisy (other processes > ${NOISY_OTHER_LOAD}% of a core): ${noisy.join(', ')}`);

  if (settings.write) {
    prependSection({
      file: RESULTS_FILE,
      title: 'evaluate() micro-benchmark results',
      intro:
        'Written by `bench/rewrite.mjs`: ns per `engine.evaluate()` of `@switchyard/rewrite` for the first ' +
        'suite of `rewrite.json`, a generated 50-directive / 30-location configuration, and 30 to 3000 prefix ' +
        'locations. Each run adds a section, newest first. See [README.md](./README.md#rewritemjs-the-rewrite-engine) ' +
        'for how it is measured.',
      marker: SECTIONS_MARKER,
      section: renderSection({
        date: new Date().toISOString(),
        machine: machineInfo(),
        settings,
        suite,
        mixed,
        scaling,
        reference,
        targets,
        noisy,
        elapsedS,
      }),
    });
    console.log(`\nwrote ${RESULTS_FILE}`);
  }
}

const childAt = process.argv.indexOf('--child');
(childAt >= 0 ? child(JSON.parse(process.argv[childAt + 1])) : main()).then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
