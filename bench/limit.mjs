#!/usr/bin/env node
// switchyard limit benchmark (@switchyard/limit, issue 13), three sections:
//
//   check   ns per `check(req)` of createLimits() on the memory stores, in a tight loop: one rate
//           zone over 4096 keys and over one key; one rate zone + one conn zone with release()
//           likewise. Each figure in fresh child processes (pinned with taskset when available).
//   proxy   CPU per request of the bare switchyard proxy with one limit_req and one limit_conn
//           (memory stores, limits too high to refuse or hold anything) against the same proxy
//           without them, the machinery of run.mjs: one child process per proxy, autocannon here,
//           process CPU per request, rounds, medians, noise meter; the limiter's counters are
//           read from the child to check that nothing was refused or delayed.
//   redis   a real redis-server on a free loopback port: Redis commands per check (INFO
//           commandstats before and after), sequential check() latency of redisRateStore /
//           redisConnStore beside the memory stores, and the proxy's latency under a moderate
//           autocannon load with Redis stores, memory stores and no limits.
//
// Usage: node bench/limit.mjs [--no-write]
// Env:   BENCH_LIMIT_ONLY (comma list of sections), BENCH_LIMIT_CHECK_MS (ms per timed loop,
//        default 200), BENCH_LIMIT_CHECK_RUNS (timed loops per process, default 5),
//        BENCH_LIMIT_CHECK_PROCESSES (default 3), BENCH_LIMIT_DURATION (s, default 6),
//        BENCH_LIMIT_WARMUP (s, default 2), BENCH_LIMIT_ROUNDS (proxy section, default 8),
//        BENCH_LIMIT_CONNECTIONS (default 50), BENCH_LIMIT_RATE (req/s cap of the proxy section,
//        default 0 = none), BENCH_LIMIT_REDIS_CHECKS (sequential checks per store, default 20000),
//        BENCH_LIMIT_REDIS_ROUNDS (default 3), BENCH_LIMIT_REDIS_CONNECTIONS (default 10),
//        BENCH_LIMIT_REDIS_RATE (req/s, default 2000), BENCH_PIN_PARENT (0 = leave the parent
//        unpinned).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BODY, startBackends } from './lib/backends.mjs';
import { startProxyChild } from './lib/child.mjs';
import { load, smokeTest } from './lib/load.mjs';
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
import { LIMIT_BURST, LIMIT_CONN_MAX, LIMIT_RATE } from './proxies/limit-common.mjs';

const SELF = fileURLToPath(import.meta.url);
const RESULTS_FILE = fileURLToPath(new URL('./RESULTS-limit.md', import.meta.url));
const SECTIONS_MARKER = '<!-- runs: newest first; bench/limit.mjs inserts each run below this line -->';
const SECTIONS = ['check', 'proxy', 'redis'];

/** Target (issue 13): one check in the memory store, one rate zone, at most this many ns. */
const CHECK_TARGET_NS = 150;
/** Target (issue 13): CPU per request with one limit_req and one limit_conn over without. */
const PROXY_TARGET_RATIO = 1.03;
/** Distinct client addresses of the "many keys" figures; a power of 2. */
const MANY_KEYS = 4096;
/** Warm-up of each check process before calibrating, ms. */
const CHECK_WARMUP_MS = 300;

const ZONES_TEXT =
  `\`limit_req zone=perip burst=${LIMIT_BURST} nodelay\` (rate ${fmt(LIMIT_RATE)} r/s, the most \`rateZone\` ` +
  `takes) and \`limit_conn addr ${LIMIT_CONN_MAX}\`, both keyed by the client address`;

const CHECK_FIGURES = [
  {
    id: 'loop',
    label: 'loop overhead: a `check` returning a constant decision',
    keys: MANY_KEYS,
    conn: false,
    noop: true,
  },
  {
    id: 'rate-keys',
    label: `1 rate zone, ${fmt(MANY_KEYS)} keys`,
    keys: MANY_KEYS,
    conn: false,
    target: true,
  },
  { id: 'rate-key', label: '1 rate zone, 1 key', keys: 1, conn: false, target: true },
  {
    id: 'rate-conn-keys',
    label: `1 rate zone + 1 conn zone, check + release, ${fmt(MANY_KEYS)} keys`,
    keys: MANY_KEYS,
    conn: true,
  },
  { id: 'rate-conn-key', label: '1 rate zone + 1 conn zone, check + release, 1 key', keys: 1, conn: true },
];

const PROXY_CONTENDERS = {
  'limit-none':
    'the bare switchyard proxy (as `switchyard-bare` of run.mjs: maxFails 0, nextUpstream false, ' +
    'sendTimeoutMs 0), no limits',
  'limit-memory': `the same with \`limits: createLimits(…)\`: ${ZONES_TEXT}; memory stores`,
};
const REDIS_CONTENDERS = {
  'limit-none': PROXY_CONTENDERS['limit-none'],
  'limit-memory': 'the same with the limits on memory stores',
  'limit-redis':
    'the same with the limits on `redisRateStore` + `redisConnStore` (one `redis` client, ' +
    'default `timeoutMs` 100)',
};

const LATENCY_CONFIGS = [
  { id: 'ping', label: '`PING` (a bare round trip, for reference)' },
  { id: 'memory-rate', label: 'memory store, 1 rate zone' },
  { id: 'redis-rate', label: '`redisRateStore`, 1 rate zone' },
  { id: 'memory-rate-conn', label: 'memory stores, 1 rate zone + 1 conn zone (+ release)' },
  { id: 'redis-rate-conn', label: '`redisRateStore` + `redisConnStore` (+ release)' },
];

function readSettings() {
  const settings = {
    sections: listEnv('BENCH_LIMIT_ONLY', SECTIONS),
    checkMs: intEnv('BENCH_LIMIT_CHECK_MS', 200, 1),
    checkRuns: intEnv('BENCH_LIMIT_CHECK_RUNS', 5, 1),
    checkProcesses: intEnv('BENCH_LIMIT_CHECK_PROCESSES', 3, 1),
    duration: intEnv('BENCH_LIMIT_DURATION', 6, 1),
    warmup: intEnv('BENCH_LIMIT_WARMUP', 2, 0),
    rounds: intEnv('BENCH_LIMIT_ROUNDS', 8, 1),
    connections: intEnv('BENCH_LIMIT_CONNECTIONS', 50, 1),
    rate: intEnv('BENCH_LIMIT_RATE', 0, 0),
    redisChecks: intEnv('BENCH_LIMIT_REDIS_CHECKS', 20_000, 100),
    redisRounds: intEnv('BENCH_LIMIT_REDIS_ROUNDS', 3, 1),
    redisConnections: intEnv('BENCH_LIMIT_REDIS_CONNECTIONS', 10, 1),
    redisRate: intEnv('BENCH_LIMIT_REDIS_RATE', 2000, 1),
    pipelining: 1,
    write: !process.argv.includes('--no-write'),
  };
  for (const name of ['connections', 'redisConnections']) {
    if (settings[name] >= LIMIT_CONN_MAX) {
      throw new Error(`autocannon connections must stay below limit_conn's max ${LIMIT_CONN_MAX}`);
    }
  }
  return settings;
}

/** The noise meter (lib/procstat.mjs), loaded by the parent only: it runs `getconf` on import. */
let machineBusyMicros = () => null;

/** user + system CPU time of another process so far, µs, from /proc/<pid>/stat; null if unreadable. */
function processCpuMicros(pid) {
  if (!pid) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return (ticks * 1e6) / 100; // USER_HZ is 100 on every common Linux build
  } catch {
    return null;
  }
}

/** Percentile `p` (0..100) of sorted numbers, nearest rank. */
function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function pinnedCommand(pin, args) {
  return pin ? ['taskset', ['-c', pin, process.execPath, ...args]] : [process.execPath, args];
}

/** Runs `node bench/limit.mjs --child <kind> <job>` (pinned when `pin`); its last stdout line is JSON. */
function runChild(kind, job, pin, { nodeFlags = [], otherPids = [] } = {}) {
  const [cmd, args] = pinnedCommand(pin, [...nodeFlags, SELF, '--child', kind, JSON.stringify(job)]);
  const machineBefore = machineBusyMicros();
  const selfBefore = process.cpuUsage();
  const othersBefore = otherPids.map(processCpuMicros);
  const startedAt = performance.now();
  const out = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  const windowMicros = (performance.now() - startedAt) * 1000;
  const self = process.cpuUsage(selfBefore);
  const machineAfter = machineBusyMicros();
  const ours = otherPids.reduce(
    (n, pid, i) => n + ((processCpuMicros(pid) ?? 0) - (othersBefore[i] ?? 0)),
    0,
  );
  if (out.status !== 0) {
    const why = out.error?.message ?? (out.stderr.trim().split('\n').slice(-3).join(' / ') || 'no output');
    return { error: `child exited with ${out.status ?? out.signal}: ${why}` };
  }
  const result = JSON.parse(out.stdout.trim().split('\n').pop());
  if (machineBefore !== null && machineAfter !== null) {
    // CPU the rest of the machine used meanwhile, in % of one core (child start-up included).
    const others = machineAfter - machineBefore - (self.user + self.system) - result.cpuMicros - ours;
    result.otherLoad = Math.max(0, (100 * others) / windowMicros);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// check: ns per check in the memory stores (child side)

let sink = 0;

function makeRequests(n) {
  return Array.from({ length: n }, (_, i) => ({
    method: 'GET',
    url: '/',
    headers: {},
    socket: { remoteAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
  }));
}

/** `n` checks cycling through `reqs` (a power-of-2 length); elapsed ns. */
function loopCheck(limits, reqs, n) {
  const mask = reqs.length - 1;
  let refused = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const d = limits.check(reqs[i & mask]);
    if (d.action !== 'pass') refused++;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  sink += refused;
  return ns;
}

/** As loopCheck, with `release()` of each decision right after it. */
function loopCheckRelease(limits, reqs, n) {
  const mask = reqs.length - 1;
  let refused = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const d = limits.check(reqs[i & mask]);
    if (d.action !== 'pass') refused++;
    d.release();
  }
  const ns = Number(process.hrtime.bigint() - t0);
  sink += refused;
  return ns;
}

async function checkChild(job) {
  const figure = CHECK_FIGURES.find((f) => f.id === job.figure);
  const { connZone, createLimits, rateZone } = await import('@switchyard/limit');
  const decision = Object.freeze({ action: 'pass', status: 0, delayMs: 0, release() {} });
  // A loop of one key checks far faster than the zone drains (1000 requests per ms at the most
  // rateZone takes), so the burst is 1e9: every check passes, as it would under a real rate.
  const tight = figure.noop
    ? { check: () => decision, limitReqs: () => ({}), limitConns: () => ({}) }
    : createLimits({
        req: [{ zone: rateZone({ name: 'perip', rate: LIMIT_RATE }), burst: 1e9, nodelay: true }],
        ...(figure.conn ? { conn: [{ zone: connZone({ name: 'addr' }), max: LIMIT_CONN_MAX }] } : {}),
      });
  const reqs = makeRequests(figure.keys);
  const loop = figure.conn ? loopCheckRelease : loopCheck;
  const first = tight.check(reqs[0]);
  if (typeof first?.then === 'function') throw new Error('check() answered a Promise with memory stores');
  first.release();
  let total = 1;

  const warmupUntil = performance.now() + CHECK_WARMUP_MS;
  let n = 1000;
  while (performance.now() < warmupUntil) {
    loop(tight, reqs, n);
    total += n;
  }
  // Calibrate: double until a loop takes ≥ 1/10 of the target, then scale from the fastest of three.
  const targetNs = job.ms * 1e6;
  let ns = loop(tight, reqs, n);
  total += n;
  while (ns < targetNs / 10) {
    n *= 2;
    ns = loop(tight, reqs, n);
    total += n;
  }
  ns = Math.min(ns, loop(tight, reqs, n), loop(tight, reqs, n));
  total += 2 * n;
  const iterations = Math.max(1, Math.round((n * targetNs) / ns));
  const nsPerCheck = [];
  for (let run = 0; run < job.runs; run++) {
    globalThis.gc?.();
    nsPerCheck.push(loop(tight, reqs, iterations) / iterations);
    total += iterations;
  }
  const reqCounts = tight.limitReqs().perip ?? null;
  const connCounts = tight.limitConns().addr ?? null;
  const cpu = process.cpuUsage();
  return {
    nsPerCheck,
    iterations,
    total,
    refused: sink,
    reqCounts,
    connCounts,
    cpuMicros: cpu.user + cpu.system,
  };
}

// check: parent side

/** What went wrong with a figure's decisions: every check must pass, counted in its zones. */
function checkProblems(figure, r) {
  const out = [];
  if (r.refused > 0) out.push(`${fmt(r.refused)} checks not passed`);
  if (figure.noop) return out;
  const q = r.reqCounts;
  if (!q || q.passed !== r.total || q.delayed + q.rejected + q.delayed_dry_run + q.rejected_dry_run > 0) {
    out.push(`limit_req counters ${JSON.stringify(q)} for ${fmt(r.total)} checks`);
  }
  if (figure.conn) {
    const c = r.connCounts;
    if (!c || c.passed !== r.total || c.rejected + c.rejected_dry_run > 0) {
      out.push(`limit_conn counters ${JSON.stringify(c)} for ${fmt(r.total)} checks`);
    }
  }
  return out;
}

function checkSection(settings, pin) {
  console.log(
    `\ncheck: ns per check(req), memory stores; ${settings.checkProcesses} process(es) × ${settings.checkRuns} ` +
      `loop(s) of ~${settings.checkMs} ms per figure`,
  );
  const rows = CHECK_FIGURES.map((figure) => {
    const processes = [];
    for (let i = 0; i < settings.checkProcesses; i++) {
      const r = runChild(
        'check',
        { figure: figure.id, ms: settings.checkMs, runs: settings.checkRuns },
        pin,
        {
          nodeFlags: ['--expose-gc'],
        },
      );
      if (!r.error) {
        r.median = median(r.nsPerCheck);
        r.problems = checkProblems(figure, r);
      }
      processes.push(r);
    }
    const ok = processes.filter((p) => !p.error);
    const row = {
      figure,
      processes,
      ns: median(ok.map((p) => p.median)),
      problems: [...processes.filter((p) => p.error).map((p) => p.error), ...ok.flatMap((p) => p.problems)],
    };
    console.log(
      `  ${figure.id.padEnd(15)} ${fmt(row.ns, 1).padStart(7)} ns/check (per process: ` +
        `${processes.map((p) => (p.error ? 'failed' : fmt(p.median, 1))).join(', ')})` +
        (row.problems.length > 0 ? ` FLAGGED: ${row.problems.join('; ')}` : ''),
    );
    return row;
  });
  const loop = rows.find((r) => r.figure.noop);
  const targeted = rows.filter((r) => r.figure.target);
  const failed = targeted.filter((r) => r.problems.length > 0 || !Number.isFinite(r.ns));
  const worst = Math.max(...targeted.map((r) => r.ns ?? Number.POSITIVE_INFINITY));
  const met = failed.length === 0 && worst <= CHECK_TARGET_NS;
  const target = {
    label: `one check in the memory store (1 rate zone, ${fmt(MANY_KEYS)} keys and 1 key) ≤ ${CHECK_TARGET_NS} ns`,
    met,
    detail:
      failed.length > 0
        ? `not met: ${failed.map((r) => r.figure.id).join(', ')} flagged`
        : `${targeted.map((r) => `${r.figure.label}: ${fmt(r.ns, 1)} ns`).join('; ')} (loop overhead ` +
          `${fmt(loop?.ns, 1)} ns included); for information, with a conn zone + release: ` +
          rows
            .filter((r) => r.figure.conn)
            .map(
              (r) => `${fmt(r.ns, 1)} ns (${r.figure.keys === 1 ? '1 key' : `${fmt(r.figure.keys)} keys`})`,
            )
            .join(', '),
  };
  return { rows, target };
}

function checkTable(rows) {
  const header = [
    'figure',
    'ns/check',
    'per process (median of its loops)',
    'checks per loop',
    'other CPU %',
    'status',
  ];
  const out = rows.map((r) => {
    const ok = r.processes.filter((p) => !p.error);
    return [
      r.figure.label,
      fmt(r.ns, 1),
      r.processes.map((p) => (p.error ? 'failed' : fmt(p.median, 1))).join(', '),
      ok.length > 0 ? fmt(median(ok.map((p) => p.iterations))) : 'n/a',
      r.processes.map((p) => fmt(p.otherLoad, 0)).join(', '),
      r.problems.length > 0 ? 'FLAGGED' : 'ok',
    ];
  });
  return markdownTable(header, out, ['l', 'r', 'r', 'r', 'r', 'l']);
}

// ---------------------------------------------------------------------------------------------
// HTTP load against a proxy child (the machinery of run.mjs)

/** Calls per command from `INFO commandstats`, INFO itself left out. */
async function commandStats(client) {
  const info = await client.info('commandstats');
  const out = {};
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] !== 'info') out[m[1]] = Number(m[2]);
  }
  return out;
}

function diffCommands(after, before) {
  const out = {};
  for (const [name, n] of Object.entries(after)) {
    const d = n - (before[name] ?? 0);
    if (d > 0) out[name] = d;
  }
  return out;
}

/**
 * Commands a client sends, as `INFO commandstats` counts them: the stores send only scripts; the
 * commands a script runs (`TIME`, `GET`, `SET`, …) are counted too, each under its own name.
 */
const CLIENT_COMMANDS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'ping']);

/** Of a commandstats difference: calls sent by clients (round trips) and calls run inside scripts. */
function splitCommands(commands) {
  let sent = 0;
  let inScripts = 0;
  for (const [name, n] of Object.entries(commands ?? {})) {
    if (CLIENT_COMMANDS.has(name)) sent += n;
    else inScripts += n;
  }
  return { sent, inScripts };
}

function commandsText(commands) {
  return (
    Object.entries(commands ?? {})
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k.toUpperCase()} ${fmt(v)}`)
      .join(', ') || '—'
  );
}

function sumValues(o) {
  return Object.values(o ?? {}).reduce((a, b) => a + b, 0);
}

function subtractCounts(after, before) {
  if (!after) return null;
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before?.[k] ?? 0)]));
}

/** Problems with the limiter's counters over a child's life: anything refused, held or failed. */
function limiterProblems(stats) {
  if (!stats?.limitReqs) return [];
  const out = [];
  for (const [zone, c] of Object.entries(stats.limitReqs)) {
    const bad = c.delayed + c.rejected + c.delayed_dry_run + c.rejected_dry_run;
    if (bad > 0) out.push(`limit_req ${zone}: ${JSON.stringify(c)} (requests delayed or rejected)`);
  }
  for (const [zone, c] of Object.entries(stats.limitConns ?? {})) {
    if (c.rejected + c.rejected_dry_run > 0)
      out.push(`limit_conn ${zone}: ${JSON.stringify(c)} (requests rejected)`);
  }
  const errors = sumValues(stats.storeErrors);
  if (errors > 0) out.push(`store errors ${JSON.stringify(stats.storeErrors)} (requests passed unchecked)`);
  return out;
}

/**
 * Runs one contender once: fresh child, smoke test, warm-up, measured run with the child's CPU,
 * its limiter counters, the noise meter and (with `redis`) redis-server's CPU and commands.
 */
async function runOnce(name, targets, settings, pin, { redis, latency } = {}) {
  const run = { name, problems: [], counts: zeroCounts() };
  let child = null;
  try {
    child = await startProxyChild(name, targets, pin);
    const url = `http://127.0.0.1:${child.port}`;
    const smoke = await smokeTest(url, BODY);
    if (smoke) run.problems.push(smoke);
    if (settings.warmup > 0) {
      const warm = await load(url, settings.warmup, settings);
      run.counts = addCounts(run.counts, warm);
    }
    const statsBefore = await child.stats();
    const commandsBefore = redis ? await commandStats(redis.client) : null;
    const redisCpuBefore = redis ? processCpuMicros(redis.pid) : null;
    const before = await child.cpu();
    const machineBefore = machineBusyMicros();
    const selfBefore = process.cpuUsage();
    const times = latency ? [] : null;
    const startedAt = performance.now();
    const result = await load(url, settings.duration, settings, times);
    const windowMicros = (performance.now() - startedAt) * 1000;
    const self = process.cpuUsage(selfBefore);
    const machineAfter = machineBusyMicros();
    const after = await child.cpu();
    const redisCpuAfter = redis ? processCpuMicros(redis.pid) : null;
    // Let the requests still in flight end (and their release() reach Redis) before counting.
    await sleep(200);
    const commandsAfter = redis ? await commandStats(redis.client) : null;
    const statsAfter = await child.stats();

    run.counts = addCounts(run.counts, result);
    run.rps = result.requests.average;
    run.p99 = result.latency.p99;
    run.completed = result.requests.total;
    run.cpuMicros = after.total - before.total;
    run.cpuPerRequest = run.completed > 0 ? run.cpuMicros / run.completed : null;
    if (times) {
      times.sort((a, b) => a - b);
      run.p50us = percentile(times, 50) * 1000;
      run.p99us = percentile(times, 99) * 1000;
      run.samples = times.length;
    }
    run.limitReqs = subtractCounts(statsAfter?.limitReqs?.perip, statsBefore?.limitReqs?.perip);
    run.limitConns = subtractCounts(statsAfter?.limitConns?.addr, statsBefore?.limitConns?.addr);
    run.forwarded = (statsAfter?.forwarded ?? 0) - (statsBefore?.forwarded ?? 0);
    run.problems.push(...limiterProblems(statsAfter));
    let redisMicros = 0;
    if (redis && redisCpuBefore !== null && redisCpuAfter !== null) {
      redisMicros = redisCpuAfter - redisCpuBefore;
      run.redisCpuPerRequest = run.completed > 0 ? redisMicros / run.completed : null;
      run.commands = diffCommands(commandsAfter, commandsBefore);
      const { sent, inScripts } = splitCommands(run.commands);
      run.commandsPerRequest = run.forwarded > 0 ? sent / run.forwarded : null;
      run.scriptCommandsPerRequest = run.forwarded > 0 ? inScripts / run.forwarded : null;
    }
    if (machineBefore !== null && machineAfter !== null) {
      // CPU the rest of the machine used meanwhile, in % of one core: a sign of a noisy run.
      const others = machineAfter - machineBefore - (self.user + self.system) - run.cpuMicros - redisMicros;
      run.otherLoad = Math.max(0, (100 * others) / windowMicros);
    }
  } catch (err) {
    run.problems.push(err.message);
  } finally {
    if (child) {
      const diedEarly = child.exitInfo;
      if (diedEarly) {
        run.problems.push(
          `proxy process died during the run (exit code ${diedEarly.code}, signal ${diedEarly.signal})`,
        );
      }
      const info = await child.stop();
      if (!diedEarly && info.code !== 0) {
        run.problems.push(`proxy process exited with code ${info.code}, signal ${info.signal} on close`);
      }
    }
  }
  const { non2xx, errors, timeouts } = run.counts;
  if (non2xx > 0) run.problems.push(`${non2xx} non-2xx responses`);
  if (errors > 0) run.problems.push(`${errors} errors`);
  if (timeouts > 0) run.problems.push(`${timeouts} timeouts`);
  return run;
}

/** Runs every contender `rounds` times, the order rotating; resolves to summaries by name. */
async function runRounds(names, rounds, targetsOf, settings, pin, options) {
  const runs = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < rounds; round++) {
    const order = names.map((_, i, all) => all[(i + round) % all.length]);
    for (const name of order) {
      const run = await runOnce(name, targetsOf(name), settings, pin, options);
      runs[name].push(run);
      const lat = run.p50us === undefined ? '' : `, p50 ${fmt(run.p50us)} µs, p99 ${fmt(run.p99us)} µs`;
      const others = run.otherLoad === undefined ? '' : `, other processes ${fmt(run.otherLoad)}% of a core`;
      const flag = run.problems.length > 0 ? ` FLAGGED: ${run.problems.join('; ')}` : '';
      console.log(
        `  round ${round + 1} ${name.padEnd(13)} ${fmt(run.rps).padStart(7)} req/s${lat}, ` +
          `${fmt(run.cpuPerRequest, 1)} µs CPU/req${others}${flag}`,
      );
      await sleep(300);
    }
  }
  return names.map((name) => {
    const rs = runs[name];
    return {
      name,
      runs: rs,
      rps: median(rs.map((r) => r.rps)),
      p99: median(rs.map((r) => r.p99)),
      p50us: median(rs.map((r) => r.p50us)),
      p99us: median(rs.map((r) => r.p99us)),
      cpuPerRequest: median(rs.map((r) => r.cpuPerRequest)),
      redisCpuPerRequest: median(rs.map((r) => r.redisCpuPerRequest)),
      commandsPerRequest: median(rs.map((r) => r.commandsPerRequest)),
      scriptCommandsPerRequest: median(rs.map((r) => r.scriptCommandsPerRequest)),
      counts: rs.reduce((acc, r) => addCounts(acc, r.counts), zeroCounts()),
      problems: rs.flatMap((r, i) => r.problems.map((p) => `round ${i + 1}: ${p}`)),
    };
  });
}

function countsText(c) {
  if (!c) return '—';
  return Object.entries(c)
    .filter(([, n]) => n !== 0)
    .map(([k, n]) => `${k} ${fmt(n)}`)
    .join(', ');
}

// ---------------------------------------------------------------------------------------------
// proxy: CPU per request with and without the limits

async function proxySection(settings, pin, backends) {
  const names = Object.keys(PROXY_CONTENDERS);
  console.log(
    `\nproxy: ${names.join(', ')}; ${settings.rounds} round(s) × (${settings.warmup} s warm-up + ` +
      `${settings.duration} s), ${settings.connections} connections, ${rateText(settings.rate)}`,
  );
  const summaries = await runRounds(names, settings.rounds, () => backends.urls, settings, pin);
  const [base, limited] = summaries;
  const label = `the proxy with one limit_req and one limit_conn ≤ ${PROXY_TARGET_RATIO.toFixed(2)}× the CPU per request without them`;
  const clean = (s) => s.problems.length === 0 && Number.isFinite(s.cpuPerRequest);
  let target;
  let ratio = null;
  if (!clean(base) || !clean(limited)) {
    const bad = [base, limited].filter((s) => !clean(s)).map((s) => s.name);
    target = { label, met: false, detail: `not met: ${bad.join(' and ')} flagged (see Problems)` };
  } else {
    ratio = ratioToBase(limited, base);
    const met = ratio.ratio <= PROXY_TARGET_RATIO;
    target = {
      label,
      met,
      detail:
        `${met ? 'met' : 'NOT met'}: ${ratio.ratio.toFixed(3)}× (${ratioBasis(ratio, ': too few to tell 3 % apart on this machine, read the per-round table')}; medians over all rounds ` +
        `${fmt(limited.cpuPerRequest, 2)} µs vs ${fmt(base.cpuPerRequest, 2)} µs = ` +
        `${(limited.cpuPerRequest / base.cpuPerRequest).toFixed(3)}×); nothing was delayed or rejected`,
    };
  }
  console.log(`  ${target.label}: ${target.detail}`);
  return { summaries, target, ratio };
}

function proxyTable(summaries) {
  const [base] = summaries;
  const header = [
    'contender',
    'req/s',
    'p99 ms',
    'CPU µs/req',
    '× no-limits CPU',
    'non-2xx',
    'errors',
    'status',
  ];
  const rows = summaries.map((s) => {
    const r = s === base ? null : ratioToBase(s, base);
    return [
      s.name,
      fmt(s.rps),
      fmt(s.p99, 1),
      fmt(s.cpuPerRequest, 2),
      r ? `${fmt(r.ratio, 3)}×` : '1.000×',
      String(s.counts.non2xx),
      String(s.counts.errors + s.counts.timeouts),
      s.problems.length > 0 ? 'FLAGGED' : 'ok',
    ];
  });
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l']);
}

function proxyRoundsTable(summaries) {
  const [base] = summaries;
  const header = [
    'contender',
    'round',
    'req/s',
    'requests',
    'CPU µs/req',
    'ratio',
    'limit_req (measured run)',
    'limit_conn',
    'other CPU %',
  ];
  const rows = [];
  for (const s of summaries) {
    const ratios = s === base ? null : pairedRatios(s, base);
    s.runs.forEach((r, i) => {
      rows.push([
        s.name,
        String(i + 1),
        fmt(r.rps),
        fmt(r.completed),
        fmt(r.cpuPerRequest, 2),
        ratios ? fmt(ratios[i].ratio, 3) : '',
        countsText(r.limitReqs),
        countsText(r.limitConns),
        fmt(r.otherLoad, 0),
      ]);
    });
  }
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'l', 'l', 'r']);
}

// ---------------------------------------------------------------------------------------------
// redis: a real redis-server, sequential check latency and the proxy under moderate load

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function reachable(port) {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The keeper (child side): starts redis-server on a free loopback port (pinned to `job.pin` when
 * given), tells the parent, and stops it when the parent says so or goes away, however it ends.
 */
async function keeperChild(job) {
  let redis = null;
  let port = 0;
  let problem = '';
  for (let attempt = 0; attempt < 3 && redis === null; attempt++) {
    port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    const [cmd, argv] = job.pin
      ? ['taskset', ['-c', job.pin, 'redis-server', ...args]]
      : ['redis-server', args];
    const child = spawn(cmd, argv, { stdio: 'ignore' });
    let exited = false;
    child.once('error', (err) => {
      problem = `redis-server could not start (${err.message})`;
    });
    child.once('exit', () => {
      exited = true;
    });
    const start = Date.now();
    while (!exited && problem === '' && Date.now() - start < 5000 && !(await reachable(port)))
      await sleep(20);
    if (!exited && problem === '' && (await reachable(port))) redis = child;
    else {
      child.kill('SIGKILL');
      if (problem === '') problem = `redis-server did not listen on port ${port} within 5 s`;
    }
  }
  const stop = () => {
    if (redis && redis.exitCode === null) {
      redis.kill('SIGTERM');
      setTimeout(() => redis.kill('SIGKILL'), 2000).unref();
    }
  };
  if (!redis) {
    process.send({ type: 'ready', error: problem }, () => process.exit(1));
    return;
  }
  redis.once('exit', () => process.exit(0));
  process.on('disconnect', stop);
  process.on('message', (msg) => {
    if (msg === 'stop') stop();
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // taskset execs redis-server, so the pid is redis-server's own.
  process.send({ type: 'ready', port, pid: redis.pid });
  await new Promise(() => {});
}

/** Starts a redis-server through a keeper child; resolves to `{ url, pid, client, stop() }`. */
async function startRedis(pin) {
  const keeper = spawn(process.execPath, [SELF, '--child', 'redis-keeper', JSON.stringify({ pin })], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise((resolve) => keeper.once('exit', resolve));
  const ready = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ error: 'no answer from the redis keeper within 20 s' }), 20_000);
    keeper.once('message', (msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
    keeper.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ error: `the redis keeper exited (${code})` });
    });
  });
  const stop = async () => {
    if (keeper.exitCode === null && keeper.connected) keeper.send('stop', () => {});
    const timer = setTimeout(() => keeper.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  if (ready.error) {
    await stop();
    throw new Error(ready.error);
  }
  const url = `redis://127.0.0.1:${ready.port}`;
  const { createClient } = await import('redis');
  const client = createClient({ url });
  client.on('error', (err) => console.error(`limit bench: redis client: ${err.message}`));
  try {
    await client.connect();
  } catch (err) {
    await stop();
    throw err;
  }
  const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
  return {
    url,
    pid: ready.pid,
    client,
    version,
    async stop() {
      try {
        await client.close();
      } catch {
        client.destroy();
      }
      await stop();
    },
  };
}

/** Sequential check latency (child side): each store configuration, one check at a time. */
async function latencyChild(job) {
  const { createClient } = await import('redis');
  const { redisConnStore, redisRateStore, createLimits, rateZone } = await import('@switchyard/limit');
  const { benchLimits } = await import('./proxies/limit-common.mjs');
  const client = createClient({ url: job.url });
  client.on('error', () => {});
  await client.connect();
  const prefix = `bench:latency:${process.pid}:`;
  // Counts what the stores send, beside what redis-server counts (`INFO commandstats`).
  let sentByStores = 0;
  const counting = {
    sendCommand(args, options) {
      sentByStores++;
      return client.sendCommand(args, options);
    },
  };
  const rateOnly = (store) =>
    createLimits({
      req: [
        {
          zone: rateZone({ name: 'perip', rate: LIMIT_RATE, ...(store ? { store } : {}) }),
          burst: LIMIT_BURST,
          nodelay: true,
        },
      ],
    });
  const makers = {
    'memory-rate': () => rateOnly(null),
    'redis-rate': () => rateOnly(redisRateStore({ client: counting, prefix })),
    'memory-rate-conn': () => benchLimits(),
    'redis-rate-conn': () =>
      benchLimits({
        rateStore: redisRateStore({ client: counting, prefix }),
        connStore: redisConnStore({ client: counting, prefix }),
      }),
  };
  const reqs = makeRequests(MANY_KEYS);
  const results = [];
  for (const config of LATENCY_CONFIGS) {
    const limits = config.id === 'ping' ? null : makers[config.id]();
    const once = async (i) => {
      if (!limits) {
        await client.sendCommand(['PING']);
        return 'pass';
      }
      let d = limits.check(reqs[i & (MANY_KEYS - 1)]);
      if (typeof d.then === 'function') d = await d;
      d.release();
      return d.action;
    };
    const warm = Math.min(2000, Math.ceil(job.checks / 5));
    for (let i = 0; i < warm; i++) await once(i);
    const before = await commandStats(client);
    const sentBefore = sentByStores;
    const times = new Float64Array(job.checks);
    let refused = 0;
    for (let i = 0; i < job.checks; i++) {
      const t0 = process.hrtime.bigint();
      let d = limits ? limits.check(reqs[i & (MANY_KEYS - 1)]) : client.sendCommand(['PING']);
      if (typeof d.then === 'function') d = await d;
      times[i] = Number(process.hrtime.bigint() - t0) / 1000;
      if (limits) {
        if (d.action !== 'pass') refused++;
        d.release();
      }
    }
    const commands = diffCommands(await commandStats(client), before);
    // PING is sent by this loop itself, not through the counting client.
    const sentByClient = limits ? sentByStores - sentBefore : job.checks;
    const sorted = Array.from(times).sort((a, b) => a - b);
    results.push({
      id: config.id,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
      refused,
      commands,
      sentByClient,
      storeErrors: limits?.storeErrors ? sumValues(limits.storeErrors()) : 0,
    });
  }
  await client.close();
  const cpu = process.cpuUsage();
  return { results, cpuMicros: cpu.user + cpu.system };
}

async function redisSection(settings, pin, backends) {
  console.log(
    `\nredis: sequential checks (${fmt(settings.redisChecks)} per store), then ${Object.keys(REDIS_CONTENDERS).join(', ')} ` +
      `under ${settings.redisConnections} connections capped at ${fmt(settings.redisRate)} req/s, ` +
      `${settings.redisRounds} round(s)`,
  );
  // redis-server is not pinned: pinned beside autocannon, on a busy machine it waited for CPU 0
  // while CPU 1 idled, which showed as milliseconds of latency per round trip.
  let redis;
  try {
    redis = await startRedis(null);
  } catch (err) {
    const error = `no redis-server: ${err.message}`;
    console.log(`  ${error}`);
    return {
      version: 'n/a',
      latency: { error },
      summaries: [],
      targets: [
        {
          label: 'the Redis store: exactly one round trip per check',
          met: false,
          detail: `not met: ${error}`,
        },
      ],
    };
  }
  try {
    console.log(`  redis-server ${redis.version} at ${redis.url} (pid ${redis.pid})`);
    const latency = runChild('latency', { url: redis.url, checks: settings.redisChecks }, pin, {
      otherPids: [redis.pid],
    });
    if (latency.error) console.log(`  sequential checks FAILED: ${latency.error}`);
    else {
      for (const r of latency.results) {
        console.log(
          `  ${r.id.padEnd(17)} p50 ${fmt(r.p50, 1).padStart(6)} µs, p99 ${fmt(r.p99, 1).padStart(6)} µs, ` +
            `sent per check ${fmt(r.sentByClient / settings.redisChecks, 3)} (client), ` +
            `${fmt(splitCommands(r.commands).sent / settings.redisChecks, 3)} (INFO); ${commandsText(r.commands)}`,
        );
      }
    }
    const loadSettings = {
      ...settings,
      connections: settings.redisConnections,
      rate: settings.redisRate,
    };
    const names = Object.keys(REDIS_CONTENDERS);
    const summaries = await runRounds(
      names,
      settings.redisRounds,
      (name) => (name === 'limit-redis' ? [...backends.urls, redis.url] : backends.urls),
      loadSettings,
      pin,
      { redis, latency: true },
    );
    return {
      version: redis.version,
      latency,
      summaries,
      targets: redisTargets(settings, latency, summaries),
    };
  } finally {
    await redis.stop();
  }
}

function redisTargets(settings, latency, summaries) {
  const label =
    'the Redis store: exactly one round trip per check (commands sent per check and per store call, ' +
    'counted by the client and by `INFO commandstats`)';
  if (latency.error) return [{ label, met: false, detail: `not met: ${latency.error}` }];
  const by = Object.fromEntries(latency.results.map((r) => [r.id, r]));
  const n = settings.redisChecks;
  const rate = by['redis-rate'];
  const both = by['redis-rate-conn'];
  const sent = (r) => splitCommands(r.commands).sent / n;
  const client = (r) => r.sentByClient / n;
  const problems = [rate, both].flatMap((r) =>
    r.refused + r.storeErrors > 0 ? [`${r.id}: ${r.refused} not passed, ${r.storeErrors} store errors`] : [],
  );
  // A conn slot granted after the store timeout is given back at once: one more `release` per late
  // acquire, so store errors (timeouts of a busy machine) may add up to one command each.
  const within = (r, per) => {
    const extra = r.storeErrors;
    return [splitCommands(r.commands).sent, r.sentByClient].every(
      (x) => x >= per * n && x <= per * n + extra,
    );
  };
  // rate + conn on one client: one script for the check (limit_req, then the acquire), one `release`.
  const met = within(rate, 1) && within(both, 2);
  const proxy = summaries.find((s) => s.name === 'limit-redis');
  return [
    {
      label,
      met,
      detail:
        `${met ? 'met' : 'NOT met'}: a check of one rate zone: ${fmt(sent(rate), 3)} command(s) sent per check by ` +
        `INFO (${commandsText(pick(rate.commands, CLIENT_COMMANDS))}), ${fmt(client(rate), 3)} by the client, ` +
        `over ${fmt(n)} checks; one rate + one conn zone, check + release: ${fmt(sent(both), 3)} by INFO ` +
        `(${commandsText(pick(both.commands, CLIENT_COMMANDS))}), ${fmt(client(both), 3)} by the client — one ` +
        'script runs limit_req and then the acquire (the check: one round trip), one more gives the slot back ' +
        'when the request ends' +
        (proxy ? `; in the proxy, ${fmt(proxy.commandsPerRequest, 3)} sent per forwarded request` : '') +
        (problems.length > 0
          ? `; problems: ${problems.join('; ')} (a store error is a timeout or failure: that check passed unchecked)`
          : ''),
    },
  ];
}

/** The entries of `commands` whose names are in `names` (or, with `not`, are not). */
function pick(commands, names, not = false) {
  return Object.fromEntries(Object.entries(commands ?? {}).filter(([k]) => names.has(k) !== not));
}

function latencyTable(latency, settings) {
  const by = Object.fromEntries(latency.results.map((r) => [r.id, r]));
  const memoryOf = { 'redis-rate': by['memory-rate'], 'redis-rate-conn': by['memory-rate-conn'] };
  const n = settings.redisChecks;
  const header = [
    'store',
    'p50 µs',
    'p99 µs',
    'mean µs',
    'added p50 µs',
    'added p99 µs',
    'sent / check (client)',
    'sent / check (INFO)',
    'run by the scripts / check',
    'commands (INFO commandstats)',
    'not passed / store errors',
  ];
  const rows = LATENCY_CONFIGS.map((c) => {
    const r = by[c.id];
    const m = memoryOf[c.id];
    const { sent, inScripts } = splitCommands(r.commands);
    return [
      c.label,
      fmt(r.p50, 2),
      fmt(r.p99, 2),
      fmt(r.mean, 2),
      m ? fmt(r.p50 - m.p50, 1) : '',
      m ? fmt(r.p99 - m.p99, 1) : '',
      fmt(r.sentByClient / n, 3),
      fmt(sent / n, 3),
      fmt(inScripts / n, 3),
      commandsText(r.commands),
      c.id === 'ping' ? '' : `${fmt(r.refused)} / ${fmt(r.storeErrors)}`,
    ];
  });
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l', 'r']);
}

function redisProxyTable(summaries) {
  const none = summaries.find((s) => s.name === 'limit-none');
  const header = [
    'contender',
    'req/s',
    'p50 µs',
    'p99 µs',
    'added p50 µs',
    'added p99 µs',
    'proxy CPU µs/req',
    'redis-server CPU µs/req',
    'Redis commands sent / req',
    'run by the scripts / req',
    'non-2xx',
    'errors',
    'status',
  ];
  const rows = summaries.map((s) => [
    s.name,
    fmt(s.rps),
    fmt(s.p50us),
    fmt(s.p99us),
    s === none ? '' : fmt(s.p50us - none.p50us),
    s === none ? '' : fmt(s.p99us - none.p99us),
    fmt(s.cpuPerRequest, 1),
    s.name === 'limit-redis' ? fmt(s.redisCpuPerRequest, 1) : '',
    s.name === 'limit-redis' ? fmt(s.commandsPerRequest, 3) : '',
    s.name === 'limit-redis' ? fmt(s.scriptCommandsPerRequest, 2) : '',
    String(s.counts.non2xx),
    String(s.counts.errors + s.counts.timeouts),
    s.problems.length > 0 ? 'FLAGGED' : 'ok',
  ]);
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']);
}

function redisRoundsTable(summaries) {
  const header = [
    'contender',
    'round',
    'responses',
    'p50 µs',
    'p99 µs',
    'limit_req (measured run)',
    'limit_conn',
    'other CPU %',
  ];
  const rows = [];
  for (const s of summaries) {
    s.runs.forEach((r, i) => {
      rows.push([
        s.name,
        String(i + 1),
        fmt(r.samples),
        fmt(r.p50us),
        fmt(r.p99us),
        countsText(r.limitReqs),
        countsText(r.limitConns),
        fmt(r.otherLoad, 0),
      ]);
    });
  }
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'l', 'l', 'r']);
}

// ---------------------------------------------------------------------------------------------
// Report

function pinText(pin, parentPin) {
  if (!pin) return 'no CPU pinning (taskset unavailable)';
  return (
    `each measured process (proxy, check and latency children) under \`taskset -c ${pin}\`; ` +
    (parentPin
      ? `the parent (autocannon, backends) on CPU ${parentPin}; redis-server unpinned`
      : 'the parent unpinned')
  );
}

function noisyList({ check, proxy, redis }) {
  const noisy = [];
  for (const row of check?.rows ?? []) {
    row.processes.forEach((p, i) => {
      if (p.otherLoad > NOISY_OTHER_LOAD)
        noisy.push(`check ${row.figure.id} process ${i + 1} (${fmt(p.otherLoad)}%)`);
    });
  }
  for (const [section, summaries] of [
    ['proxy', proxy?.summaries],
    ['redis', redis?.summaries],
  ]) {
    for (const s of summaries ?? []) {
      s.runs.forEach((r, i) => {
        if (r.otherLoad > NOISY_OTHER_LOAD)
          noisy.push(`${section} ${s.name} round ${i + 1} (${fmt(r.otherLoad)}%)`);
      });
    }
  }
  if (redis?.latency && !redis.latency.error && redis.latency.otherLoad > NOISY_OTHER_LOAD) {
    noisy.push(`redis sequential checks (${fmt(redis.latency.otherLoad)}%)`);
  }
  return noisy;
}

/** Every "other CPU %" the run measured, to say how busy the machine was overall. */
function otherLoads({ check, proxy, redis }) {
  return [
    ...(check?.rows ?? []).flatMap((r) => r.processes.map((p) => p.otherLoad)),
    ...[...(proxy?.summaries ?? []), ...(redis?.summaries ?? [])].flatMap((s) =>
      s.runs.map((r) => r.otherLoad),
    ),
    ...(redis?.latency?.otherLoad === undefined ? [] : [redis.latency.otherLoad]),
  ].filter(Number.isFinite);
}

function noiseText(parts) {
  const noisy = noisyList(parts);
  const loads = otherLoads(parts);
  const range =
    loads.length === 0
      ? ''
      : ` Other processes used ${fmt(Math.min(...loads))}–${fmt(Math.max(...loads))}% of a core ` +
        `(median ${fmt(median(loads))}%) over the ${loads.length} measurements.`;
  if (noisy.length === 0) {
    return `No measurement saw other processes use more than ${NOISY_OTHER_LOAD}% of a core.${range}`;
  }
  return (
    `Noisy: other processes used more than ${NOISY_OTHER_LOAD}% of a core during ${noisy.length} ` +
    `measurement(s): ${noisy.join(', ')}; those figures are less reliable.${range}`
  );
}

function renderSection({ date, machine, settings, pin, parentPin, check, proxy, redis, targets, elapsedS }) {
  const lines = [
    `## ${date} — ${machine.cpu}, Node ${machine.node}`,
    '',
    `- Machine: ${machineLine(machine)}; the run took ${elapsedS.toFixed(0)} s`,
    `- CPU pinning: ${pinText(pin, parentPin)}`,
    ...(settings.sections.length < SECTIONS.length
      ? [`- Only: ${settings.sections.join(', ')} (BENCH_LIMIT_ONLY)`]
      : []),
    '',
    '### Targets',
    '',
    ...targets.map((t) => `- **${verdict(t)}** — ${t.label}: ${t.detail}`),
    ...(redis && !redis.latency.error
      ? [
          `- no target, for information — Redis added latency per check (sequential, beside the memory ` +
            `stores): ${redisAddedText(redis.latency)}`,
        ]
      : []),
    '',
    noiseText({ check, proxy, redis }),
    '',
  ];
  if (check) {
    lines.push(
      '### Memory store: ns per check',
      '',
      `\`createLimits()\` with memory stores (their default clock, \`performance.now()\`), \`check(req)\` in a tight ` +
        `loop over pre-built requests (\`socket.remoteAddress\` 10.x.y.z, the default key), ${fmt(MANY_KEYS)} ` +
        'distinct keys or one. Rate zone: `rate` 1,000,000 r/s, `burst` 1e9, `nodelay`, so every check passes ' +
        '(a loop of one key checks faster than the zone drains); conn zone: `max` 1000, each decision released ' +
        `right after its check. Per process: a ${CHECK_WARMUP_MS} ms warm-up, a calibration, then ` +
        `${settings.checkRuns} timed loops of ~${settings.checkMs} ms (a \`gc()\` before each) and their median; ` +
        `the figure is the median over ${settings.checkProcesses} fresh processes. Every check must pass and be ` +
        'counted `passed` by the zones, or the figure is flagged. The loop overhead is included in every figure.',
      '',
      checkTable(check.rows),
      '',
    );
    const problems = check.rows.flatMap((r) => r.problems.map((p) => `- **${r.figure.id}** ${p}`));
    if (problems.length > 0) lines.push('Problems:', '', ...problems, '');
  }
  if (proxy) {
    lines.push(
      '### Proxy: CPU per request with and without the limits',
      '',
      `The machinery of \`run.mjs\`: three node:http backends and autocannon in the parent; each proxy alone in a ` +
        `fresh child process per run; ${settings.connections} connections, pipelining 1, keep-alive, ` +
        `${rateText(settings.rate)}; ${settings.warmup} s warm-up, then ${settings.duration} s measured; ` +
        `${settings.rounds} rounds, the order rotating. CPU µs/req: the proxy process's \`process.cpuUsage()\` over ` +
        'the measured run divided by the requests completed in it; req/s, p99 and CPU: medians over the rounds; ' +
        '"× no-limits CPU": the median of the per-round ratios, over the rounds where neither run was noisy ' +
        `(other processes > ${NOISY_OTHER_LOAD}% of a core) when there is one. Every autocannon connection comes ` +
        "from 127.0.0.1, so the whole load is one key of each zone. The limiter's counters (`limitReqs()`, " +
        '`limitConns()`, `storeErrors()`) are read from the child: any request delayed, rejected or passed ' +
        'because a store failed flags the contender.',
      '',
      ...Object.entries(PROXY_CONTENDERS).map(([n, d]) => `- \`${n}\`: ${d}`),
      '',
      proxyTable(proxy.summaries),
      '',
      proxyRoundsTable(proxy.summaries),
      '',
    );
    const problems = proxy.summaries.flatMap((s) => s.problems.map((p) => `- **${s.name}** ${p}`));
    if (problems.length > 0) lines.push('Problems:', '', ...problems, '');
  }
  if (redis) {
    lines.push(
      '### Redis stores',
      '',
      `redis-server ${redis.version} started by the bench on a free port of 127.0.0.1 (\`--save '' --appendonly no\`` +
        ', not pinned) and stopped at the end; the official `redis` client. Its CPU time is left out of "other CPU".',
      '',
    );
    if (redis.latency.error) lines.push(`Sequential checks failed: ${redis.latency.error}`, '');
    else {
      lines.push(
        '#### Sequential check latency',
        '',
        `In a child process${pin ? ` on CPU ${pin}` : ''}: for each store, ${fmt(settings.redisChecks)} checks one ` +
          'after the other (after a warm-up), each timed from `check(req)` to its decision (awaited when it is a ' +
          `Promise), ${fmt(MANY_KEYS)} keys in turn, the zones of the proxy section; each decision released at once ` +
          '(with Redis, that `release()` is on the wire before the next check). "added": the Redis row minus the ' +
          'memory row of the same zones. Commands: "sent (client)" counts the `sendCommand` calls of the stores ' +
          '(a counting wrapper around the client); "sent (INFO)" and "run by the scripts" come from `INFO ' +
          "commandstats` before and after the timed checks (INFO's own calls left out), which counts each command " +
          'a script runs (`TIME`, `GET`, `SET`, …) under its own name beside the `EVALSHA` that sent it: `EVALSHA`, ' +
          '`EVAL` and `PING` are what a client sends, one round trip each, the rest ran inside the scripts. ' +
          `Other CPU during it: ${fmt(redis.latency.otherLoad)}% of a core.`,
        '',
        latencyTable(redis.latency, settings),
        '',
      );
    }
    lines.push(
      '#### Proxy latency under a moderate load',
      '',
      `As the proxy section, with ${settings.redisConnections} connections and the rate capped at ` +
        `${fmt(settings.redisRate)} req/s (autocannon sends each connection's share in a burst at the start of ` +
        `each second, so this is latency at ${settings.redisConnections} requests in flight, not at an even pace); ` +
        `${settings.redisRounds} rounds, medians. p50 and p99 come from every 2xx response time of the measured run ` +
        "(autocannon's `response` events, hrtime, µs), not from its ms histogram. redis-server's CPU is read from " +
        '`/proc/<pid>/stat`; Redis commands sent per request: `EVALSHA` + `EVAL` of `INFO commandstats` over the ' +
        'measured run divided by the requests the proxy forwarded in it (3: the rate check, `acquire`, `release`), ' +
        'and the commands the scripts ran likewise.',
      '',
      ...Object.entries(REDIS_CONTENDERS).map(([n, d]) => `- \`${n}\`: ${d}`),
      '',
      redisProxyTable(redis.summaries),
      '',
      redisRoundsTable(redis.summaries),
      '',
    );
    const problems = redis.summaries.flatMap((s) => s.problems.map((p) => `- **${s.name}** ${p}`));
    if (problems.length > 0) lines.push('Problems:', '', ...problems, '');
  }
  return lines.join('\n');
}

function redisAddedText(latency) {
  const by = Object.fromEntries(latency.results.map((r) => [r.id, r]));
  const pair = (redisId, memoryId, text) => {
    const r = by[redisId];
    const m = by[memoryId];
    return `${text} +${fmt(r.p50 - m.p50, 1)} µs at p50 (${fmt(r.p50, 1)} vs ${fmt(m.p50, 2)}), +${fmt(r.p99 - m.p99, 1)} µs at p99 (${fmt(r.p99, 1)} vs ${fmt(m.p99, 2)})`;
  };
  return (
    `${pair('redis-rate', 'memory-rate', 'one rate zone')}; ` +
    `${pair('redis-rate-conn', 'memory-rate-conn', 'rate + conn zone')}; a bare \`PING\` takes ${fmt(by.ping.p50, 1)} µs ` +
    `at p50, ${fmt(by.ping.p99, 1)} µs at p99`
  );
}

async function main() {
  const settings = readSettings();
  ({ machineBusyMicros } = await import('./lib/procstat.mjs'));
  const pin = detectPinning();
  const parentPin = pinParent(pin);
  const startedAt = Date.now();
  const s = settings.sections;
  const perRun = settings.warmup + settings.duration + 1.5;
  const estimate =
    (s.includes('check')
      ? CHECK_FIGURES.length *
        settings.checkProcesses *
        (1 + (settings.checkMs * (settings.checkRuns + 4)) / 1000)
      : 0) +
    (s.includes('proxy') ? settings.rounds * 2 * perRun : 0) +
    (s.includes('redis') ? 10 + settings.redisRounds * 3 * perRun : 0);
  console.log(
    `switchyard limit bench: ${s.join(', ')}; ${pinText(pin, parentPin)}; about ${estimate.toFixed(0)} s`,
  );

  let check;
  let proxy;
  let redis;
  if (s.includes('check')) check = checkSection(settings, pin);
  if (s.includes('proxy') || s.includes('redis')) {
    const backends = await startBackends(3);
    const stopOnSignal = async (signal) => {
      console.error(`\nswitchyard limit bench: ${signal}, stopping`);
      await backends.close();
      // The redis keeper stops redis-server when this process goes away.
      process.exit(130);
    };
    process.once('SIGINT', stopOnSignal);
    process.once('SIGTERM', stopOnSignal);
    try {
      if (s.includes('proxy')) proxy = await proxySection(settings, pin, backends);
      if (s.includes('redis')) redis = await redisSection(settings, pin, backends);
    } finally {
      await backends.close();
    }
  }

  const targets = [
    ...(check ? [check.target] : []),
    ...(proxy ? [proxy.target] : []),
    ...(redis ? redis.targets : []),
  ];
  const elapsedS = (Date.now() - startedAt) / 1000;
  console.log('\nTargets:');
  for (const t of targets) console.log(`  - ${verdict(t)}: ${t.label}: ${t.detail}`);
  if (redis && !redis.latency.error) console.log(`  - Redis added latency: ${redisAddedText(redis.latency)}`);
  console.log(noiseText({ check, proxy, redis }));

  if (settings.write) {
    prependSection({
      file: RESULTS_FILE,
      title: 'Limit benchmark results',
      intro:
        'Written by `bench/limit.mjs`: the cost of a `check` of `@switchyard/limit` in the memory stores, the ' +
        'CPU per request of the proxy with one `limit_req` and one `limit_conn` beside the same proxy without ' +
        'them, and the Redis stores (commands per check, added latency). Each run adds a section, newest first. ' +
        'See [README.md](./README.md#limitmjs-request-and-connection-limits) for how it is measured.',
      marker: SECTIONS_MARKER,
      section: renderSection({
        date: new Date().toISOString(),
        machine: machineInfo(),
        settings,
        pin,
        parentPin,
        check,
        proxy,
        redis,
        targets,
        elapsedS,
      }),
    });
    console.log(`\nwrote ${RESULTS_FILE}`);
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt >= 0) {
  const kind = process.argv[childAt + 1];
  const job = JSON.parse(process.argv[childAt + 2]);
  if (kind === 'redis-keeper') {
    keeperChild(job).catch((err) => {
      process.send?.({ type: 'ready', error: err.message });
      process.exit(1);
    });
  } else {
    const run = kind === 'check' ? checkChild(job) : latencyChild(job);
    run.then(
      (r) => {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        process.exit(0);
      },
      (err) => {
        console.error(err);
        process.exit(1);
      },
    );
  }
} else {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
