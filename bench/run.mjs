#!/usr/bin/env node
// switchyard benchmark: the CPU each proxy spends per request, side by side in one run.
//
// Three node:http backends run in this process; each contender runs in a child process of
// its own (pinned to CPU 1 with taskset when available) and autocannon loads it from here.
// The child's process.cpuUsage() is sampled right before and right after the measured
// autocannon run, so the CPU per request is the proxy's alone, during the load window only.
//
// Usage: node bench/run.mjs [--no-write]
// Env:   BENCH_DURATION (s, default 10), BENCH_ROUNDS (default 3), BENCH_WARMUP (s, default 2),
//        BENCH_CONNECTIONS (default 50), BENCH_RATE (req/s cap, default 0 = none),
//        BENCH_PIN_PARENT (0 = leave the parent unpinned), BENCH_BACKENDS (peers, default 3;
//        another count writes RESULTS-<n>-peers.md),
//        BENCH_ONLY (comma list of contenders; `floor-pipeline` runs only when named),
//        BENCH_BASE (another checkout, built: adds base-switchyard and base-switchyard-bare,
//        the same contenders on its packages, for an A/B of two versions in one run).
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BODY, startBackends } from './lib/backends.mjs';
import { baseName } from './lib/base.mjs';
import { startProxyChild } from './lib/child.mjs';
import { load, smokeTest } from './lib/load.mjs';
import { detectPinning, pinParent } from './lib/pin.mjs';
import { machineBusyMicros } from './lib/procstat.mjs';
import { intEnv } from './lib/results.mjs';
import { addCounts, NOISY_OTHER_LOAD, rateText, zeroCounts } from './lib/rounds.mjs';
import { fmt, markdownTable, median } from './lib/stats.mjs';

const CONTENDERS = {
  direct: 'autocannon straight to one backend, no proxy (the ceiling of the load generator)',
  floor: 'minimal hand-written proxy on undici: one Pool per backend, round robin, streamed bodies',
  'http-proxy': 'http-proxy with an http.Agent({ keepAlive: true, maxSockets: 256 })',
  'reply-from': 'Fastify + @fastify/reply-from (undici agent), catch-all route',
  switchyard:
    'switchyard (stats + passive health): @switchyard/core createProxy() with its defaults (passive health on), ' +
    'plus createAdminApi() and createMetrics() on its upstream, on http.createServer(proxy.handler)',
  'switchyard-bare':
    'switchyard with everything off that can be: maxFails 0 (no passive health), nextUpstream false, ' +
    'sendTimeoutMs 0, no admin API or metrics',
  'floor-pipeline': 'the floor with stream.pipeline() for the response body (opt-in)',
  ...(process.env.BENCH_BASE ? baseContenders(baseName()) : {}),
};
/** With BENCH_BASE: the switchyard contenders again, on the packages of the checkout `base`. */
function baseContenders(base) {
  return {
    'base-switchyard': `switchyard (stats + passive health) on the packages of ${base}`,
    'base-switchyard-bare': `switchyard-bare on the packages of ${base}`,
  };
}
// Run only when named in BENCH_ONLY.
const OPT_IN = new Set(['floor-pipeline']);
// How the tables and targets name a contender whose id says less.
const LABELS = { switchyard: 'switchyard (stats + passive health)' };
const label = (name) => LABELS[name] ?? name;
// Issue 12: with stats and passive health on, at most the floor's CPU per request.
const CPU_TARGET_RATIO = 1.0;
// A measured run during which other processes used more than this % of a core is called noisy.
/** RESULTS.md for the usual three backends; RESULTS-<n>-peers.md for another count. */
function resultsFile(backends) {
  const name = backends === 3 ? 'RESULTS.md' : `RESULTS-${backends}-peers.md`;
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

function readSettings() {
  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((n) => !(n in CONTENDERS));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_ONLY: unknown contender(s) ${unknown.join(', ')}; known: ${Object.keys(CONTENDERS).join(', ')}`,
    );
  }
  return {
    duration: intEnv('BENCH_DURATION', 10, 1),
    rounds: intEnv('BENCH_ROUNDS', 3, 1),
    warmup: intEnv('BENCH_WARMUP', 2, 0),
    connections: intEnv('BENCH_CONNECTIONS', 50, 1),
    // Requests per second across all connections; 0 = as fast as the proxy answers.
    rate: intEnv('BENCH_RATE', 0, 0),
    // How many backends (peers) every proxy balances over; another count writes its own file.
    backends: intEnv('BENCH_BACKENDS', 3, 1),
    pipelining: 1,
    contenders: Object.keys(CONTENDERS).filter((n) =>
      only.length === 0 ? !OPT_IN.has(n) : only.includes(n),
    ),
    write: !process.argv.includes('--no-write'),
  };
}

/** Problems autocannon saw in one run, as counts. */
function problemCounts(result) {
  return { non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts };
}

/** Runs one contender once: fresh child, smoke test, warm-up, measured run. */
async function runOnce(name, backends, settings, pin) {
  const run = { name, problems: [], counts: { non2xx: 0, errors: 0, timeouts: 0 }, statusCodes: {} };
  let child = null;
  try {
    let url = backends.urls[0];
    if (name !== 'direct') {
      child = await startProxyChild(name, backends.urls, pin);
      url = `http://127.0.0.1:${child.port}`;
    }
    const smoke = await smokeTest(url, BODY);
    if (smoke) run.problems.push(smoke);

    if (settings.warmup > 0) {
      const warm = await load(url, settings.warmup, settings);
      run.counts = addCounts(run.counts, problemCounts(warm));
    }
    const before = child ? await child.cpu() : null;
    const machineBefore = machineBusyMicros();
    const selfBefore = process.cpuUsage();
    const startedAt = performance.now();
    const result = await load(url, settings.duration, settings);
    const windowMicros = (performance.now() - startedAt) * 1000;
    const self = process.cpuUsage(selfBefore);
    const machineAfter = machineBusyMicros();

    run.counts = addCounts(run.counts, problemCounts(result));
    run.statusCodes = Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count]),
    );
    run.rps = result.requests.average;
    run.p99 = result.latency.p99;
    run.completed = result.requests.total;
    if (child) {
      const after = await child.cpu();
      run.cpuMicros = after.total - before.total;
      run.cpuPerRequest = run.completed > 0 ? run.cpuMicros / run.completed : null;
      run.rssMiB = after.rss / 2 ** 20;
    }
    if (machineBefore !== null && machineAfter !== null) {
      // CPU the rest of the machine used meanwhile, in % of one core: a sign of a noisy run.
      const others = machineAfter - machineBefore - (self.user + self.system) - (run.cpuMicros ?? 0);
      run.otherLoad = Math.max(0, (100 * others) / windowMicros);
    }
  } catch (err) {
    run.problems.push(err.message);
  } finally {
    if (child) {
      const diedEarly = child.exitInfo;
      if (diedEarly) {
        const { code, signal } = diedEarly;
        run.problems.push(`proxy process died during the run (exit code ${code}, signal ${signal})`);
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

function summarize(name, runs) {
  const counts = runs.reduce((acc, r) => addCounts(acc, r.counts), zeroCounts());
  const statusCodes = {};
  for (const r of runs) {
    for (const [code, n] of Object.entries(r.statusCodes)) statusCodes[code] = (statusCodes[code] ?? 0) + n;
  }
  return {
    name,
    runs,
    rps: median(runs.map((r) => r.rps)),
    p99: median(runs.map((r) => r.p99)),
    cpuPerRequest: name === 'direct' ? null : median(runs.map((r) => r.cpuPerRequest)),
    rssMiB: name === 'direct' ? null : median(runs.map((r) => r.rssMiB)),
    counts,
    statusCodes,
    problems: runs.flatMap((r, i) => r.problems.map((p) => `round ${i + 1}: ${p}`)),
  };
}

/** The measured runs other processes disturbed, as 'name round N (X%)' strings. */
function noisyRuns(summaries) {
  return summaries.flatMap((s) =>
    s.runs.flatMap((r, i) =>
      r.otherLoad > NOISY_OTHER_LOAD ? [`${label(s.name)} round ${i + 1} (${fmt(r.otherLoad)}%)`] : [],
    ),
  );
}

function noiseText(summaries) {
  const noisy = noisyRuns(summaries);
  if (noisy.length === 0) {
    return `No measured run saw other processes use more than ${NOISY_OTHER_LOAD}% of a core.`;
  }
  return (
    `Noisy: other processes used more than ${NOISY_OTHER_LOAD}% of a core during ${noisy.length} ` +
    `measured run(s): ${noisy.join(', ')}. Figures from such runs are not reliable; compare with the ` +
    'per-round table or run again.'
  );
}

function ratioText(summary, floor) {
  if (!floor?.cpuPerRequest || summary.cpuPerRequest === null) return 'n/a';
  return `${(summary.cpuPerRequest / floor.cpuPerRequest).toFixed(2)}×`;
}

function resultsTable(summaries) {
  const floor = summaries.find((s) => s.name === 'floor');
  const header = ['contender', 'req/s', 'p99 ms', 'CPU µs/req', '× floor CPU', 'non-2xx', 'errors', 'status'];
  const rows = summaries.map((s) => [
    label(s.name),
    fmt(s.rps),
    fmt(s.p99, 1),
    fmt(s.cpuPerRequest, 1),
    ratioText(s, floor),
    String(s.counts.non2xx),
    String(s.counts.errors + s.counts.timeouts),
    s.problems.length > 0 ? 'FLAGGED' : 'ok',
  ]);
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l']);
}

function roundsTable(summaries) {
  const header = [
    'contender',
    'round',
    'req/s',
    'p99 ms',
    'requests',
    'CPU µs/req',
    'proxy RSS MiB',
    'other CPU %',
  ];
  const rows = [];
  for (const s of summaries) {
    s.runs.forEach((r, i) => {
      rows.push([
        label(s.name),
        String(i + 1),
        fmt(r.rps),
        fmt(r.p99, 1),
        fmt(r.completed),
        fmt(r.cpuPerRequest, 1),
        fmt(r.rssMiB, 0),
        fmt(r.otherLoad, 0),
      ]);
    });
  }
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
}

/** The targets, computed from this run's medians; null when a needed contender was not run. */
function evaluateTargets(summaries) {
  const by = Object.fromEntries(summaries.map((s) => [s.name, s]));
  const clean = (s) => s && s.problems.length === 0 && Number.isFinite(s.cpuPerRequest);
  const checks = [];
  /** `test(subject figure, other figure)` for `figure` ('cpuPerRequest' or 'p99') of two contenders. */
  const add = (text, subjectName, otherName, figure, test) => {
    const subject = by[subjectName];
    const other = by[otherName];
    if (!subject || !other) {
      checks.push({ label: text, met: null, detail: 'not evaluated: contender not run' });
    } else if (![subject, other].every((s) => clean(s) && Number.isFinite(s[figure]))) {
      const bad = [subject, other].filter((s) => !clean(s) || !Number.isFinite(s[figure]));
      checks.push({
        label: text,
        met: false,
        detail: `not met: ${bad.map((s) => label(s.name)).join(' and ')} flagged (errors or no figure)`,
      });
    } else {
      const { met, detail } = test(subject[figure], other[figure]);
      checks.push({ label: text, met, detail: `${met ? 'met' : 'NOT met'}: ${detail}` });
    }
  };
  const sy = label('switchyard');
  const cpuVs = (a, b, versus) => `${fmt(a, 2)} µs vs ${versus} ${fmt(b, 2)} µs = ${(a / b).toFixed(3)}×`;
  add(
    `${sy} ≤ ${CPU_TARGET_RATIO.toFixed(2)}× the floor's CPU per request`,
    'switchyard',
    'floor',
    'cpuPerRequest',
    (a, b) => ({
      met: a <= CPU_TARGET_RATIO * b,
      detail: cpuVs(a, b, 'floor'),
    }),
  );
  add(
    'switchyard-bare uses less CPU per request than the floor',
    'switchyard-bare',
    'floor',
    'cpuPerRequest',
    (a, b) => ({
      met: a < b,
      detail: cpuVs(a, b, 'floor'),
    }),
  );
  for (const name of ['switchyard', 'switchyard-bare']) {
    add(`p99 latency of ${label(name)} ≤ the floor's`, name, 'floor', 'p99', (a, b) => ({
      met: a <= b,
      detail: `${fmt(a, 1)} ms vs floor ${fmt(b, 1)} ms`,
    }));
  }
  for (const [name, text] of [
    ['http-proxy', 'http-proxy'],
    ['reply-from', '@fastify/reply-from'],
  ]) {
    add(`${sy} uses less CPU per request than ${text}`, 'switchyard', name, 'cpuPerRequest', (a, b) => ({
      met: a < b,
      detail: cpuVs(a, b, text),
    }));
  }
  const evaluated = checks.every((c) => c.met !== null);
  const all = evaluated ? (checks.every((c) => c.met) ? 'all met' : 'NOT all met') : 'not fully evaluated';
  return { checks, all };
}

function pinText(pin, parentPin) {
  if (!pin) return 'no CPU pinning (taskset unavailable)';
  const parent = parentPin ? `load generator and backends on CPU ${parentPin}` : 'load generator unpinned';
  return `proxy pinned to CPU ${pin}, ${parent}`;
}

function machineInfo(pin, parentPin) {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: os.totalmem() / 2 ** 30,
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    pinning: pin
      ? `yes: each proxy process ran under \`taskset -c ${pin}\`; ` +
        (parentPin
          ? `the parent (autocannon + backends) was pinned to CPU ${parentPin}`
          : 'the parent (autocannon + backends) was not pinned')
      : 'no (taskset not available)',
  };
}

function renderMarkdown({ date, machine, settings, summaries, targets, elapsedS }) {
  const problems = summaries.filter((s) => s.problems.length > 0);
  const lines = [
    '# Benchmark results',
    '',
    `Written by \`bench/run.mjs\` on ${date} (run took ${elapsedS.toFixed(0)} s). See [README.md](./README.md) ` +
      'for what is measured and how.',
    '',
    '## Machine',
    '',
    `- CPU: ${machine.cpu}, ${machine.cores} cores`,
    `- Memory: ${machine.memoryGiB.toFixed(1)} GiB`,
    `- OS: ${machine.os}`,
    `- Node: ${machine.node}`,
    `- CPU pinning: ${machine.pinning}`,
    '',
    '## Settings',
    '',
    `- autocannon (in the parent process): ${settings.connections} connections, pipelining ` +
      `${settings.pipelining}, keep-alive, ${rateText(settings.rate)}; ${settings.warmup} s warm-up, then ` +
      `${settings.duration} s measured`,
    `- rounds: ${settings.rounds}; the table shows the median of the rounds per contender; the order of ` +
      'the contenders rotates from round to round',
    `- backends: ${settings.backends} × node:http on 127.0.0.1 in the parent process, keep-alive, ` +
      `200 text/plain ${JSON.stringify(BODY)}; each proxy forwards round robin over all ${settings.backends}`,
    '- CPU µs/req: `process.cpuUsage()` (user + system, all threads) of the proxy process, sampled ' +
      'just before and after the measured run, divided by the requests completed in it',
    '- contenders:',
    ...settings.contenders.map((n) => `  - \`${n}\`: ${CONTENDERS[n]}`),
    '',
    '## Results',
    '',
    resultsTable(summaries),
    '',
    'non-2xx and errors are counted over the warm-up and measured runs of all rounds ' +
      '(errors include timeouts).',
    '',
    'Memory over 1M requests (start, peak and end RSS of the proxy process) is measured by ' +
      '`bench/soak.mjs`, a separate command: see [RESULTS-soak.md](./RESULTS-soak.md).',
    '',
    '## Targets',
    '',
    `Targets (issue 12): ${label('switchyard')} ≤ ${CPU_TARGET_RATIO.toFixed(2)}× the floor's CPU per ` +
      "request; switchyard-bare below the floor's; the p99 latency of each switchyard contender no worse " +
      "than the floor's; and switchyard (stats + passive health) using less CPU per request than both " +
      `http-proxy and @fastify/reply-from — in this run: **${targets.all}**.`,
    '',
    ...targets.checks.map((c) => `- ${c.label}: ${c.detail}`),
    '',
    noiseText(summaries),
    '',
    '## Problems',
    '',
    ...(problems.length === 0
      ? ['None: every contender answered the smoke test right, with no non-2xx responses and no errors.']
      : problems.flatMap((s) => s.problems.map((p) => `- **${s.name}** ${p}`))),
    '',
    '## Per round',
    '',
    roundsTable(summaries),
    '',
    '"other CPU %" is the CPU time the rest of the machine used during the measured run (from ' +
      '/proc/stat: user, nice, system and steal time of all CPUs, minus the CPU time of the benchmark ' +
      'and of the proxy process), in % of one core. A high value marks a run disturbed by another process ' +
      'on this machine; a busy neighbour of a virtual machine does not show here.',
    '',
  ];
  return lines.join('\n');
}

async function main() {
  const settings = readSettings();
  const pin = detectPinning();
  const parentPin = pinParent(pin);
  const startedAt = Date.now();
  const perRun = settings.warmup + settings.duration;
  const estimate = settings.rounds * settings.contenders.length * (perRun + 1);
  console.log(
    `switchyard bench: ${settings.contenders.join(', ')}; ${settings.rounds} round(s) × ` +
      `(${settings.warmup} s warm-up + ${settings.duration} s), ${settings.connections} connections, ` +
      `pipelining ${settings.pipelining}, ${rateText(settings.rate)}; ${pinText(pin, parentPin)}; ` +
      `about ${estimate} s`,
  );

  const backends = await startBackends(settings.backends);
  const stopOnSignal = async (signal) => {
    console.error(`\nswitchyard bench: ${signal}, stopping`);
    await backends.close();
    process.exit(130);
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const runs = Object.fromEntries(settings.contenders.map((n) => [n, []]));
  try {
    for (let round = 0; round < settings.rounds; round++) {
      const order = settings.contenders.map((_, i, all) => all[(i + round) % all.length]);
      for (const name of order) {
        const run = await runOnce(name, backends, settings, pin);
        runs[name].push(run);
        const cpu = run.cpuPerRequest === undefined ? '' : `, ${fmt(run.cpuPerRequest, 1)} µs CPU/req`;
        const others =
          run.otherLoad === undefined ? '' : `, other processes ${fmt(run.otherLoad)}% of a core`;
        const flag = run.problems.length > 0 ? ` FLAGGED: ${run.problems.join('; ')}` : '';
        console.log(
          `  round ${round + 1} ${name.padEnd(15)} ${fmt(run.rps).padStart(7)} req/s, ` +
            `p99 ${fmt(run.p99, 1)} ms${cpu}${others}${flag}`,
        );
        await sleep(300);
      }
    }
  } finally {
    await backends.close();
  }

  const summaries = settings.contenders.map((n) => summarize(n, runs[n]));
  const targets = evaluateTargets(summaries);
  const elapsedS = (Date.now() - startedAt) / 1000;

  console.log(`\n${resultsTable(summaries)}\n`);
  for (const s of summaries) {
    if (s.problems.length > 0) {
      console.log(`FLAGGED ${s.name}: status codes ${JSON.stringify(s.statusCodes)}`);
      for (const p of s.problems) console.log(`  - ${p}`);
    }
  }
  console.log(`Targets (${targets.all}):`);
  for (const c of targets.checks) console.log(`  - ${c.label}: ${c.detail}`);
  console.log(noiseText(summaries));

  if (settings.write) {
    const markdown = renderMarkdown({
      date: new Date().toISOString(),
      machine: machineInfo(pin, parentPin),
      settings,
      summaries,
      targets,
      elapsedS,
    });
    const file = resultsFile(settings.backends);
    writeFileSync(file, markdown);
    console.log(`\nwrote ${file}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
