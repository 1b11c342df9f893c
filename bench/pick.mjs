#!/usr/bin/env node
// switchyard micro-benchmark: the time one `pick()` of each load-balancing strategy of
// @switchyard/balancers takes, for 3, 100 and 1000 peers, and the time to build the ketama ring
// of 1000 peers (hash consistent, boundedLoadHash).
//
// Every measurement runs in a fresh child process of its own (`node bench/pick.mjs --child …`),
// so that the `pick()` call site of the timing loop sees one strategy only (as it does in a
// proxy with one upstream) and no strategy inherits another's JIT feedback or heap.
//
// Usage: node bench/pick.mjs [--no-write]
// Env:   BENCH_PICK_MS (ms per timed run, default 200), BENCH_PICK_RUNS (timed runs per
//        figure, median taken, default 5), BENCH_PICK_ONLY (comma list of strategy ids).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { NOISY_OTHER_LOAD } from './lib/rounds.mjs';
import { fmt, markdownTable, median } from './lib/stats.mjs';

const SELF = fileURLToPath(import.meta.url);
const RESULTS_FILE = fileURLToPath(new URL('./RESULTS-pick.md', import.meta.url));
const SECTIONS_MARKER = '<!-- runs: newest first; bench/pick.mjs inserts each run below this line -->';

const SIZES = [3, 100, 1000];
const RING_PEERS = 1000;
/** Timed ring builds per strategy (median taken), after the cold one and one more warm-up build. */
const RING_SAMPLES = 7;
/** Warm-up before calibrating: the loop runs for at least this long. */
const WARMUP_MS = 300;
/** Distinct pre-built contexts (keys, client addresses) the loop cycles through; a power of 2. */
const CONTEXTS = 1024;
/** ctx.now: a fixed instant, so no peer is in slow start and the clock costs nothing. */
const NOW = 1_700_000_000_000;
const SEED = 42;

/** Targets from the issue, in ns per pick. */
const TARGET_3 = 100;
const TARGET_1000 = 2000;
const TARGET_1000_FAST = 300;

/**
 * The strategies, in table order. `fast`: held to the tighter 1000-peer target (hash — plain
 * and consistent —, ipHash, random, random two). `ring`: builds a ketama ring per peers array.
 */
const STRATEGIES = [
  { id: 'roundRobin', label: 'roundRobin', make: (b) => b.roundRobin() },
  { id: 'leastConn', label: 'leastConn', make: (b) => b.leastConn() },
  { id: 'leastTime', label: 'leastTime', make: (b) => b.leastTime() },
  { id: 'random', label: 'random', make: (b) => b.random(), fast: true },
  {
    id: 'randomTwoLeastConn',
    label: 'random two leastConn',
    make: (b) => b.random({ two: 'leastConn' }),
    fast: true,
  },
  {
    id: 'randomTwoLeastTime',
    label: 'random two leastTime',
    make: (b) => b.random({ two: 'leastTime' }),
    fast: true,
  },
  { id: 'hash', label: 'hash plain', make: (b) => b.hash(), fast: true },
  {
    id: 'hashConsistent',
    label: 'hash consistent',
    make: (b) => b.hash({ consistent: true }),
    fast: true,
    ring: true,
  },
  { id: 'ipHash', label: 'ipHash', make: (b) => b.ipHash(), fast: true },
  { id: 'boundedLoadHash', label: 'boundedLoadHash', make: (b) => b.boundedLoadHash(), ring: true },
];
/** Not a strategy: a pick that returns `peers[0]`, to show what the timing loop itself costs. */
const BASELINE = { id: 'baseline', label: 'loop overhead', make: () => ({ pick: (peers) => peers[0] }) };
const BY_ID = Object.fromEntries([...STRATEGIES, BASELINE].map((s) => [s.id, s]));

// ---------------------------------------------------------------------------------------------
// Fixtures: the same in every child.

/** Weights cycle through this pattern (mean 2): 3 peers weigh 1, 2, 1. */
const WEIGHTS = [1, 2, 1, 3, 1, 5, 2, 1];

/** A string as the HTTP parser would hand it over: flat, not a rope of concatenations. */
function flat(s) {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * `n` plain-object peer views, all available, with varied weights, requests in flight and
 * response times (doubles, as moving averages are). The figures stay put during the loop.
 */
function makePeers(n) {
  const peers = [];
  for (let i = 0; i < n; i++) {
    peers.push({
      id: flat(`10.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:8080`),
      weight: WEIGHTS[i % WEIGHTS.length],
      active: (i * 7) % 11,
      responseTimeMs: 20 + ((i * 37) % 180) + (i % 4) * 0.25,
      available: true,
    });
  }
  return peers;
}

/**
 * CONTEXTS pick contexts, all of one shape (core's `ctx`): a URI-like key and an IPv4 client
 * address that both vary (ip_hash hashes the first three octets), no tries yet, the fixed
 * clock and one seeded generator shared by all.
 */
function makeContexts(random) {
  const ctxs = [];
  for (let i = 0; i < CONTEXTS; i++) {
    const n = (i * 2654435761) >>> 0;
    ctxs.push({
      key: flat(`/api/v1/items/${n % 100000}?page=${i % 7}`),
      clientIp: flat(`${10 + (n % 200)}.${(n >>> 8) & 255}.${(n >>> 16) & 255}.${(n >>> 24) & 255}`),
      tried: undefined,
      now: NOW,
      random,
    });
  }
  return ctxs;
}

// ---------------------------------------------------------------------------------------------
// Child: one measurement, printed as one line of JSON on stdout.

let sinkPeer;
let sinkMisses = 0;

/** ns for `iterations` picks, cycling through the contexts; allocates nothing itself. */
function timeLoop(balancer, peers, ctxs, iterations) {
  const mask = ctxs.length - 1;
  let misses = 0;
  let last;
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const peer = balancer.pick(peers, ctxs[i & mask]);
    if (peer === undefined) misses++;
    else last = peer;
  }
  const elapsed = process.hrtime.bigint() - start;
  sinkPeer = last;
  sinkMisses += misses;
  return Number(elapsed);
}

function collectGarbage() {
  if (typeof globalThis.gc === 'function') globalThis.gc();
}

/** Watches garbage collections, to tell afterwards how many fell into the timed windows. */
function watchGc() {
  const entries = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) entries.push({ start: e.startTime, duration: e.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    /** GCs that started inside one of `windows` ([from, to] in performance.now() ms). */
    async countIn(windows) {
      await new Promise((resolve) => setTimeout(resolve, 50)); // let queued entries arrive
      observer.disconnect();
      const inside = entries.filter((e) => windows.some(([from, to]) => e.start >= from && e.start <= to));
      return { count: inside.length, ms: inside.reduce((sum, e) => sum + e.duration, 0) };
    },
  };
}

async function measurePick(balancers, strategy, size, settings) {
  const balancer = strategy.make(balancers);
  const peers = makePeers(size);
  const ctxs = makeContexts(balancers.mulberry32(SEED));

  // Sanity: every pick answers one of the peers.
  const members = new Set(peers);
  for (let i = 0; i < ctxs.length; i++) {
    const p = balancer.pick(peers, ctxs[i]);
    if (!members.has(p)) throw new Error(`${strategy.label}: pick ${i} answered ${JSON.stringify(p)}`);
  }

  // Warm-up: long enough for the optimizing compiler to settle on the loop and the strategy.
  const warmupUntil = performance.now() + WARMUP_MS;
  let n = 1000;
  while (performance.now() < warmupUntil) timeLoop(balancer, peers, ctxs, n);

  // Calibrate: double until a run takes ≥ 1/10 of the target, then scale to the target from
  // the fastest of three runs of that size (one disturbed run would skew it).
  const targetNs = settings.ms * 1e6;
  let ns = timeLoop(balancer, peers, ctxs, n);
  while (ns < targetNs / 10) {
    n *= 2;
    ns = timeLoop(balancer, peers, ctxs, n);
  }
  ns = Math.min(ns, timeLoop(balancer, peers, ctxs, n), timeLoop(balancer, peers, ctxs, n));
  const iterations = Math.max(1, Math.round((n * targetNs) / ns));

  const gcWatch = watchGc();
  const windows = [];
  const nsPerPick = [];
  for (let run = 0; run < settings.runs; run++) {
    collectGarbage();
    const from = performance.now();
    const elapsed = timeLoop(balancer, peers, ctxs, iterations);
    windows.push([from, performance.now()]);
    nsPerPick.push(elapsed / iterations);
  }
  const gc = await gcWatch.countIn(windows);
  return { nsPerPick, iterations, gcs: gc.count, gcMs: gc.ms, misses: sinkMisses, last: sinkPeer?.id };
}

/**
 * The ring build: the first pick on a fresh copy of the peers array (a new identity makes the
 * strategy build its ring again). The very first build runs on cold code, as it does when a
 * proxy starts; one more build is discarded, then RING_SAMPLES are timed.
 */
function measureRing(balancers, strategy, size) {
  const balancer = strategy.make(balancers);
  const peers = makePeers(size);
  const ctxs = makeContexts(balancers.mulberry32(SEED));
  const buildMs = [];
  for (let i = 0; i < RING_SAMPLES + 2; i++) {
    const fresh = peers.slice();
    collectGarbage();
    const start = process.hrtime.bigint();
    sinkPeer = balancer.pick(fresh, ctxs[i]);
    buildMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return { coldMs: buildMs[0], buildMs: buildMs.slice(2), last: sinkPeer?.id };
}

async function child(job) {
  let balancers;
  try {
    balancers = await import('@switchyard/balancers');
    balancers = { ...balancers, mulberry32: (await import('@switchyard/balancers/tools')).mulberry32 };
  } catch (err) {
    throw new Error(
      `cannot load @switchyard/balancers (${err.message}); build it first: pnpm run build, or ` +
        'pnpm --filter @switchyard/balancers run build',
    );
  }
  const strategy = BY_ID[job.strategy];
  const result =
    job.kind === 'ring'
      ? measureRing(balancers, strategy, job.size)
      : await measurePick(balancers, strategy, job.size, job.settings);
  // All of this process's CPU time so far, start-up included: the parent subtracts it from the
  // machine's to see what other processes used meanwhile.
  const cpu = process.cpuUsage();
  result.cpuMicros = cpu.user + cpu.system;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Parent: runs the children, reports, writes RESULTS-pick.md.

function intEnv(name, fallback, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function readSettings() {
  const only = (process.env.BENCH_PICK_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((id) => !STRATEGIES.some((s) => s.id === id));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_PICK_ONLY: unknown strategy id(s) ${unknown.join(', ')}; known: ${STRATEGIES.map((s) => s.id).join(', ')}`,
    );
  }
  return {
    ms: intEnv('BENCH_PICK_MS', 200, 1),
    runs: intEnv('BENCH_PICK_RUNS', 5, 1),
    strategies: STRATEGIES.filter((s) => only.length === 0 || only.includes(s.id)),
    write: !process.argv.includes('--no-write'),
  };
}

/** The noise meter (lib/procstat.mjs), loaded by the parent only: it runs `getconf` on import. */
let machineBusyMicros = () => null;

/** Runs one job in a fresh child; returns its result, or `{ error }`. */
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
  if (machineBefore !== null && machineAfter !== null) {
    // CPU the rest of the machine used meanwhile, in % of one core (child start-up included).
    const others = machineAfter - machineBefore - (self.user + self.system) - result.cpuMicros;
    result.otherLoad = Math.max(0, (100 * others) / windowMicros);
  }
  return result;
}

function targetFor(strategy, size) {
  if (size === 3) return TARGET_3;
  if (size === 1000) return strategy.fast ? TARGET_1000_FAST : TARGET_1000;
  return null;
}

function nsText(ns) {
  if (ns === null || ns === undefined) return 'n/a';
  return ns >= 10_000 ? `${fmt(ns / 1000, 1)} µs` : `${fmt(ns, ns < 100 ? 1 : 0)} ns`;
}

function targetText(ns) {
  return ns >= 1000 ? `${fmt(ns / 1000, ns % 1000 === 0 ? 0 : 1)} µs` : `${ns} ns`;
}

/** Median ns per pick, spread and target verdict of one strategy at one size. */
function cell(strategy, size, result) {
  const target = targetFor(strategy, size);
  if (!result || result.error) {
    return { target, ns: null, met: target === null ? null : false, error: result?.error ?? 'not run' };
  }
  if (result.misses > 0) {
    // Every peer is available: a pick that answers no peer is a bug, not a figure.
    return {
      target,
      ns: null,
      met: target === null ? null : false,
      error: `${result.misses} picks answered none`,
    };
  }
  const ns = median(result.nsPerPick);
  const spread = (Math.max(...result.nsPerPick) - Math.min(...result.nsPerPick)) / ns;
  return { target, ns, spread, met: target === null ? null : ns <= target, ...result };
}

function verdict(c) {
  if (c.target === null) return '';
  if (c.error) return 'NOT met (failed)';
  return c.met ? 'met' : 'NOT met';
}

function resultsTable(rows) {
  const header = [
    'strategy',
    '3 peers',
    '100 peers',
    '1000 peers',
    `3 peers ≤ ${targetText(TARGET_3)}`,
    '1000 peers target',
  ];
  const body = rows.map(({ strategy, cells }) => {
    const [c3, c100, c1000] = cells;
    return [
      strategy.label,
      nsText(c3.ns),
      nsText(c100.ns),
      nsText(c1000.ns),
      verdict(c3),
      `≤ ${targetText(c1000.target)}: ${verdict(c1000)}`,
    ];
  });
  return markdownTable(header, body, ['l', 'r', 'r', 'r', 'l', 'l']);
}

function detailsTable(rows) {
  const header = [
    'strategy',
    'peers',
    'ns/pick (median)',
    `min – max of ${rows[0]?.cells[0]?.nsPerPick?.length ?? 0}`,
    'picks per run',
    'GCs in timed runs',
    'other CPU %',
  ];
  const body = [];
  for (const { strategy, cells } of rows) {
    cells.forEach((c, i) => {
      body.push([
        strategy.label,
        String(SIZES[i]),
        c.error ? `failed: ${c.error}` : fmt(c.ns, 1),
        c.error ? '' : `${fmt(Math.min(...c.nsPerPick), 1)} – ${fmt(Math.max(...c.nsPerPick), 1)}`,
        c.error ? '' : fmt(c.iterations),
        c.error ? '' : `${c.gcs}${c.gcs > 0 ? ` (${fmt(c.gcMs, 1)} ms)` : ''}`,
        c.error ? '' : fmt(c.otherLoad, 0),
      ]);
    });
  }
  return markdownTable(header, body, ['l', 'r', 'r', 'r', 'r', 'r', 'r']);
}

function ringTable(rings) {
  const header = [
    'strategy',
    'peers',
    'ring points',
    'first build (cold) ms',
    `build ms (median of ${RING_SAMPLES})`,
    'min – max ms',
  ];
  const points = makePeers(RING_PEERS).reduce((sum, p) => sum + 160 * p.weight, 0);
  const body = rings.map(({ strategy, result: r }) =>
    r.error
      ? [strategy.label, String(RING_PEERS), fmt(points), `failed: ${r.error}`, '', '']
      : [
          strategy.label,
          String(RING_PEERS),
          fmt(points),
          fmt(r.coldMs, 1),
          fmt(median(r.buildMs), 1),
          `${fmt(Math.min(...r.buildMs), 1)} – ${fmt(Math.max(...r.buildMs), 1)}`,
        ],
  );
  return markdownTable(header, body, ['l', 'r', 'r', 'r', 'r', 'r']);
}

function evaluate(rows) {
  const checks = rows.flatMap(({ strategy, cells }) =>
    cells.flatMap((c, i) => (c.target === null ? [] : [{ strategy, size: SIZES[i], c }])),
  );
  const met = checks.filter((k) => k.c.met === true).length;
  const missed = checks.filter((k) => k.c.met !== true);
  return { total: checks.length, met, missed };
}

function missedText(missed) {
  return missed.map(
    (k) =>
      `${k.strategy.label} at ${k.size} peers: ${k.c.error ? `failed (${k.c.error})` : nsText(k.c.ns)} > ${targetText(k.c.target)}`,
  );
}

function noisyCells(rows, rings) {
  const noisy = [];
  for (const { strategy, cells } of rows) {
    cells.forEach((c, i) => {
      if (c.otherLoad > NOISY_OTHER_LOAD)
        noisy.push(`${strategy.label} ${SIZES[i]} peers (${fmt(c.otherLoad)}%)`);
    });
  }
  for (const { strategy, result } of rings) {
    if (result.otherLoad > NOISY_OTHER_LOAD) noisy.push(`${strategy.label} ring (${fmt(result.otherLoad)}%)`);
  }
  return noisy;
}

function machineInfo() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
  };
}

function renderSection({ date, machine, settings, rows, rings, baseline, targets, noisy, elapsedS }) {
  const lines = [
    `## ${date} — ${machine.cpu}, Node ${machine.node}`,
    '',
    `- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(1)} GiB, ${machine.os}`,
    `- Node ${machine.node} (V8 ${machine.v8}); the run took ${elapsedS.toFixed(0)} s`,
    `- Each figure: the median of ${settings.runs} timed runs of about ${settings.ms} ms each ` +
      `(\`process.hrtime.bigint()\` around the loop), after a ${WARMUP_MS} ms warm-up and a ` +
      'calibration, in a fresh child process per strategy and size',
    `- Peers: plain objects, all available, weights cycling ${WEIGHTS.join(', ')}, ` +
      '`active` = (i × 7) mod 11, `responseTimeMs` 20–200 ms; contexts: ' +
      `${CONTEXTS} pre-built, cycled (URI-like keys, IPv4 clients), \`ctx.random\` = mulberry32(${SEED}), ` +
      '`ctx.now` fixed',
    `- Loop overhead (a pick returning \`peers[0]\`): ${
      baseline?.error
        ? `failed: ${baseline.error}`
        : `${fmt(median(baseline?.nsPerPick ?? []), 1)} ns per pick`
    } at 3 peers, included in every figure below`,
    ...(settings.strategies.length < STRATEGIES.length
      ? [`- Only: ${settings.strategies.map((s) => s.label).join(', ')} (BENCH_PICK_ONLY)`]
      : []),
    '',
    '### ns per pick()',
    '',
    resultsTable(rows),
    '',
    `Targets (from the issue): ≤ ${targetText(TARGET_3)} per pick at 3 peers; at 1000 peers ≤ ` +
      `${targetText(TARGET_1000)}, and ≤ ${targetText(TARGET_1000_FAST)} for hash (plain and consistent), ` +
      `ipHash, random and random two. 100 peers has no target. In this run: **${targets.met} of ` +
      `${targets.total} met**.`,
    '',
    ...(targets.missed.length > 0
      ? [...missedText(targets.missed).map((t) => `- NOT met: ${t}`), '']
      : ['Every target was met.', '']),
    noisy.length === 0
      ? `No measurement saw other processes use more than ${NOISY_OTHER_LOAD}% of a core.`
      : `Noisy: other processes used more than ${NOISY_OTHER_LOAD}% of a core during ${noisy.join(', ')}; ` +
        'those figures are less reliable.',
    '',
    `### Ring build, ${RING_PEERS} peers`,
    '',
    ringTable(rings),
    '',
    'Build time = the first pick on a fresh copy of the peers array (a new array identity makes the ' +
      'strategy build its ring again); "first build" is the very first one in the process, on cold ' +
      'code, as at a proxy start. Ring points: 160 × weight per peer, before duplicate hashes are ' +
      'dropped.',
    '',
    '### Details',
    '',
    detailsTable(rows),
    '',
    '"GCs in timed runs": garbage collections that started during the timed loops; the loop ' +
      'allocates nothing of its own, so any GC there comes from the strategy (or the seeded ' +
      'generator). "other CPU %": CPU used by other processes while the child ran, in % of one core.',
    '',
  ];
  return lines.join('\n');
}

function writeResults(section) {
  const head = [
    '# pick() micro-benchmark results',
    '',
    'Written by `bench/pick.mjs`: ns per `pick()` of each load-balancing strategy of ' +
      '`@switchyard/balancers`, and the ketama ring build time. Each run adds a section, newest ' +
      'first. See [README.md](./README.md) for how it is measured.',
    '',
    SECTIONS_MARKER,
    '',
  ].join('\n');
  let text = existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : '';
  if (!text.includes(SECTIONS_MARKER)) text = `${head}${text.trim() === '' ? '' : `${text.trim()}\n\n`}`;
  const at = text.indexOf(SECTIONS_MARKER) + SECTIONS_MARKER.length;
  const rest = text.slice(at).replace(/^\n+/, '');
  writeFileSync(RESULTS_FILE, `${text.slice(0, at)}\n\n${section}${rest === '' ? '' : `\n${rest}`}`);
}

async function main() {
  const settings = readSettings();
  ({ machineBusyMicros } = await import('./lib/procstat.mjs'));
  const startedAt = Date.now();
  const jobs = settings.strategies.length * SIZES.length;
  console.log(
    `switchyard pick bench: ${settings.strategies.length} strategies × ${SIZES.join('/')} peers, ` +
      `median of ${settings.runs} × ~${settings.ms} ms each, one child process per figure; about ` +
      `${Math.round((jobs * (WARMUP_MS + 150 + settings.ms * (settings.runs + 1))) / 1000 + 15)} s`,
  );

  const settingsForChild = { ms: settings.ms, runs: settings.runs };
  const baseline = runChild({ kind: 'pick', strategy: 'baseline', size: 3, settings: settingsForChild });
  console.log(`  loop overhead: ${baseline.error ?? `${fmt(median(baseline.nsPerPick), 1)} ns per pick`}`);

  const rows = [];
  for (const strategy of settings.strategies) {
    const cells = SIZES.map((size) => {
      const result = runChild({ kind: 'pick', strategy: strategy.id, size, settings: settingsForChild });
      const c = cell(strategy, size, result);
      const extra = c.error ? ` FAILED: ${c.error}` : ` (±${fmt(50 * c.spread, 1)}%, ${c.gcs} GCs)`;
      console.log(
        `  ${strategy.label.padEnd(21)} ${String(size).padStart(4)} peers ${nsText(c.ns).padStart(9)}${extra}`,
      );
      return c;
    });
    rows.push({ strategy, cells });
  }

  const rings = [];
  for (const strategy of settings.strategies.filter((s) => s.ring)) {
    const result = runChild({ kind: 'ring', strategy: strategy.id, size: RING_PEERS });
    rings.push({ strategy, result });
    console.log(
      `  ${strategy.label.padEnd(21)} ring of ${RING_PEERS} peers: ` +
        (result.error
          ? `FAILED: ${result.error}`
          : `${fmt(median(result.buildMs), 1)} ms (cold ${fmt(result.coldMs, 1)} ms)`),
    );
  }

  const targets = evaluate(rows);
  const noisy = noisyCells(rows, rings);
  const elapsedS = (Date.now() - startedAt) / 1000;

  console.log(`\n${resultsTable(rows)}\n`);
  if (rings.length > 0) console.log(`${ringTable(rings)}\n`);
  console.log(`Targets: ${targets.met} of ${targets.total} met`);
  for (const t of missedText(targets.missed)) console.log(`  - NOT met: ${t}`);
  if (noisy.length > 0)
    console.log(`Noisy (other processes > ${NOISY_OTHER_LOAD}% of a core): ${noisy.join(', ')}`);

  if (settings.write) {
    writeResults(
      renderSection({
        date: new Date().toISOString(),
        machine: machineInfo(),
        settings,
        rows,
        rings,
        baseline,
        targets,
        noisy,
        elapsedS,
      }),
    );
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
