#!/usr/bin/env node
// switchyard soak: the proxy process's memory over 1M requests (issue 12: "RSS flat over 1M
// requests"). Each contender runs alone in a child process (lib/proxy-child.mjs, under
// `node --expose-gc`, pinned with taskset as in run.mjs); autocannon in this process sends it
// a warm-up of 20k requests, then 1M more (`amount`), while its RSS and heap are sampled every
// second over IPC. Reported: RSS after the warm-up (start), the highest sample (peak), after the
// last request (end), and after a forced full GC at the start and the end.
//
// Most of the growth comes in the first tens of thousands of requests, as the heap and the
// allocator reach their working size (the floor shows it too); so "flat" is judged from the
// sample at a tenth of the requests to the end, and the growth over the second half is shown
// as a slope.
//
// Usage: node bench/soak.mjs [--no-write]
// Env:   BENCH_SOAK_REQUESTS (default 1000000), BENCH_SOAK_WARMUP (requests, default 20000),
//        BENCH_SOAK_ONLY (comma list: switchyard, floor; default both),
//        BENCH_SOAK_MAX_S (stop a contender's run after this many s, default 600),
//        BENCH_CONNECTIONS (default 50), BENCH_PIN_PARENT (0 = leave the parent unpinned).
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { startBackends } from './lib/backends.mjs';
import { startProxyChild } from './lib/child.mjs';
import { detectPinning, pinParent } from './lib/pin.mjs';
import { machineBusyMicros } from './lib/procstat.mjs';
import { intEnv, listEnv, machineInfo, machineLine, prependSection } from './lib/results.mjs';
import { NOISY_OTHER_LOAD } from './lib/rounds.mjs';
import { fmt, markdownTable } from './lib/stats.mjs';

const CONTENDERS = {
  switchyard:
    'switchyard (stats + passive health): createProxy() with its defaults, plus createAdminApi() and ' +
    'createMetrics() on its upstream (proxies/switchyard.mjs, as in run.mjs)',
  floor: 'the hand-written undici floor of run.mjs (proxies/floor.mjs), for comparison',
};
const LABELS = { switchyard: 'switchyard (stats + passive health)' };
const label = (name) => LABELS[name] ?? name;
/**
 * Issue 12 asks for RSS "flat" over 1M requests without a number; this benchmark reads it as:
 * RSS at the end at most this much above RSS at a tenth of the requests.
 */
const FLAT_RATIO = 1.1;
/** Where the working size is reached: the fraction of the requests "flat" is measured from. */
const FLAT_FROM = 0.1;
const SAMPLE_MS = 1000;
const PROGRESS_EVERY_MS = 5000;
const MiB = 2 ** 20;
const RESULTS_FILE = fileURLToPath(new URL('./RESULTS-soak.md', import.meta.url));
const SECTIONS_MARKER = '<!-- runs: newest first; bench/soak.mjs inserts each run below this line -->';

function readSettings() {
  return {
    contenders: listEnv('BENCH_SOAK_ONLY', Object.keys(CONTENDERS)),
    requests: intEnv('BENCH_SOAK_REQUESTS', 1_000_000, 1),
    warmup: intEnv('BENCH_SOAK_WARMUP', 20_000, 0),
    maxSeconds: intEnv('BENCH_SOAK_MAX_S', 600, 1),
    connections: intEnv('BENCH_CONNECTIONS', 50, 1),
    write: !process.argv.includes('--no-write'),
  };
}

function problemCounts(result) {
  return { non2xx: result.non2xx, errors: result.errors, timeouts: result.timeouts };
}

/**
 * Sends `amount` requests to `url`; `onTick(completedSoFar)` every second. Stops early when
 * `shouldStop()` says why (the child died, the time cap).
 */
function push(url, amount, connections, { onTick = () => {}, shouldStop = () => null } = {}) {
  return new Promise((resolve, reject) => {
    let completed = 0;
    let stoppedBecause = null;
    const instance = autocannon({ url, connections, pipelining: 1, amount }, (err, result) => {
      clearInterval(watch);
      if (err) reject(err);
      else resolve({ result, stoppedBecause });
    });
    instance.on('tick', ({ counter }) => {
      completed += counter;
      onTick(completed);
    });
    const watch = setInterval(() => {
      const why = shouldStop();
      if (why && !stoppedBecause) {
        stoppedBecause = why;
        instance.stop();
      }
    }, 250);
  });
}

/** Warm-up, then `settings.requests` requests with the child's memory sampled every second. */
async function soak(name, backends, settings, pin) {
  const run = { name, problems: [], samples: [] };
  const child = await startProxyChild(name, backends.urls, pin, { nodeFlags: ['--expose-gc'] });
  const url = `http://127.0.0.1:${child.port}`;
  try {
    if (settings.warmup > 0) {
      const { result } = await push(url, settings.warmup, settings.connections);
      run.warmupCounts = problemCounts(result);
    }
    run.start = await child.mem();
    run.startGc = await child.gc();

    const t0 = performance.now();
    const at = () => (performance.now() - t0) / 1000;
    let done = 0;
    let sampling = Promise.resolve();
    let lastProgress = 0;
    const peak = { rss: run.start.rss, heapUsed: run.start.heapUsed };
    const sample = () => {
      // One sample at a time; a slow reply is not stacked up behind another.
      sampling = sampling.then(async () => {
        if (child.exitInfo) return;
        const m = await child.mem().catch(() => null);
        if (!m) return;
        run.samples.push({ s: at(), requests: done, rss: m.rss, heapUsed: m.heapUsed });
        peak.rss = Math.max(peak.rss, m.rss);
        peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
        if (performance.now() - lastProgress >= PROGRESS_EVERY_MS) {
          lastProgress = performance.now();
          console.log(
            `  ${name.padEnd(10)} ${fmt(done).padStart(9)} / ${fmt(settings.requests)} requests, ` +
              `${fmt(at())} s, RSS ${fmt(m.rss / MiB, 1)} MiB (peak ${fmt(peak.rss / MiB, 1)}), ` +
              `heap ${fmt(m.heapUsed / MiB, 1)} MiB`,
          );
        }
      });
    };
    const sampler = setInterval(sample, SAMPLE_MS);

    const cpuBefore = await child.cpu();
    const machineBefore = machineBusyMicros();
    const selfBefore = process.cpuUsage();
    const { result, stoppedBecause } = await push(url, settings.requests, settings.connections, {
      onTick: (n) => {
        done = n;
      },
      shouldStop: () => {
        if (child.exitInfo) return 'the proxy process died';
        if (at() > settings.maxSeconds)
          return `still running after BENCH_SOAK_MAX_S=${settings.maxSeconds} s`;
        return null;
      },
    });
    const windowMicros = at() * 1e6;
    const self = process.cpuUsage(selfBefore);
    const machineAfter = machineBusyMicros();
    clearInterval(sampler);
    await sampling;
    if (stoppedBecause) run.problems.push(`stopped early: ${stoppedBecause}`);

    const cpuAfter = await child.cpu();
    run.end = await child.mem();
    run.samples.push({
      s: at(),
      requests: result.requests.total,
      rss: run.end.rss,
      heapUsed: run.end.heapUsed,
    });
    run.peak = { rss: Math.max(peak.rss, run.end.rss), heapUsed: Math.max(peak.heapUsed, run.end.heapUsed) };
    run.endGc = await child.gc();
    run.stats = await child.stats();
    run.completed = result.requests.total;
    run.seconds = windowMicros / 1e6;
    run.rps = run.completed / run.seconds;
    run.p99 = result.latency.p99;
    run.cpuMicros = cpuAfter.total - cpuBefore.total;
    run.cpuPerRequest = run.completed > 0 ? run.cpuMicros / run.completed : null;
    run.counts = problemCounts(result);
    if (machineBefore !== null && machineAfter !== null) {
      const others = machineAfter - machineBefore - (self.user + self.system) - run.cpuMicros;
      run.otherLoad = Math.max(0, (100 * others) / windowMicros);
    }
  } catch (err) {
    run.problems.push(err.message);
  } finally {
    const diedEarly = child.exitInfo;
    if (diedEarly)
      run.problems.push(`proxy process died (exit code ${diedEarly.code}, signal ${diedEarly.signal})`);
    const info = await child.stop();
    if (!diedEarly && info.code !== 0) {
      run.problems.push(`proxy process exited with code ${info.code}, signal ${info.signal} on close`);
    }
  }
  const counts = [run.warmupCounts, run.counts].filter(Boolean);
  for (const key of ['non2xx', 'errors', 'timeouts']) {
    const n = counts.reduce((sum, c) => sum + c[key], 0);
    if (n > 0) run.problems.push(`${n} ${key === 'non2xx' ? 'non-2xx responses' : key}`);
  }
  if (run.completed !== undefined && run.completed < settings.requests) {
    run.problems.push(`${fmt(run.completed)} of ${fmt(settings.requests)} requests completed`);
  }
  if (run.end && run.completed > 0) {
    run.from = run.samples.find((x) => x.requests >= FLAT_FROM * run.completed) ?? run.samples.at(-1);
    run.growthRatio = run.end.rss / run.from.rss;
    run.flat = run.problems.length === 0 && run.growthRatio <= FLAT_RATIO;
    run.slope = slope(run.samples.filter((x) => x.requests >= run.completed / 2));
    if (run.startGc && run.endGc) {
      run.heapBytesPerRequest = (run.endGc.heapUsed - run.startGc.heapUsed) / run.completed;
    }
  }
  return run;
}

/** Least-squares growth of RSS over `samples`, in MiB per 100k requests; null under 3 samples. */
function slope(samples) {
  if (samples.length < 3) return null;
  const n = samples.length;
  const mx = samples.reduce((a, x) => a + x.requests, 0) / n;
  const my = samples.reduce((a, x) => a + x.rss, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const x of samples) {
    sxy += (x.requests - mx) * (x.rss - my);
    sxx += (x.requests - mx) ** 2;
  }
  return sxx === 0 ? null : ((sxy / sxx) * 100_000) / MiB;
}

const mib = (bytes) => fmt(bytes / MiB, 1);

function rssTable(runs) {
  const header = [
    'contender',
    'requests',
    'req/s',
    'CPU µs/req',
    'RSS start',
    'start, after GC',
    'peak',
    'end',
    'end, after GC',
    `end / at ${FLAT_FROM * 100}%`,
    '2nd half, MiB/100k req',
    'flat',
  ];
  const rows = runs.map((r) => [
    label(r.name),
    fmt(r.completed),
    fmt(r.rps),
    fmt(r.cpuPerRequest, 1),
    r.start ? mib(r.start.rss) : 'n/a',
    r.startGc ? mib(r.startGc.rss) : 'n/a',
    r.peak ? mib(r.peak.rss) : 'n/a',
    r.end ? mib(r.end.rss) : 'n/a',
    r.endGc ? mib(r.endGc.rss) : 'n/a',
    r.growthRatio ? `${r.growthRatio.toFixed(3)}×` : 'n/a',
    fmt(r.slope, 2),
    r.flat === undefined ? 'n/a' : r.flat ? 'yes' : 'NO',
  ]);
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l']);
}

function heapTable(runs) {
  const header = [
    'contender',
    'heap start',
    'start, after GC',
    'peak',
    'end',
    'end, after GC',
    'after GC, bytes/req',
  ];
  const rows = runs.map((r) => [
    label(r.name),
    r.start ? mib(r.start.heapUsed) : 'n/a',
    r.startGc ? mib(r.startGc.heapUsed) : 'n/a',
    r.peak ? mib(r.peak.heapUsed) : 'n/a',
    r.end ? mib(r.end.heapUsed) : 'n/a',
    r.endGc ? mib(r.endGc.heapUsed) : 'n/a',
    fmt(r.heapBytesPerRequest, 3),
  ]);
  return markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r']);
}

/** RSS at every tenth of the requests (the nearest sample at or after it), to show the trend. */
function traceTable(runs) {
  const header = ['contender', ...Array.from({ length: 11 }, (_, i) => `${i * 10}%`)];
  const rows = runs.map((r) => {
    const total = r.completed ?? 0;
    const cells = Array.from({ length: 11 }, (_, i) => {
      if (i === 0) return r.start ? mib(r.start.rss) : 'n/a';
      const s = r.samples.find((x) => x.requests >= (total * i) / 10);
      return s ? mib(s.rss) : 'n/a';
    });
    return [label(r.name), ...cells];
  });
  return markdownTable(header, rows, ['l', ...Array(11).fill('r')]);
}

function noisyText(runs) {
  const noisy = runs.filter((r) => r.otherLoad > NOISY_OTHER_LOAD);
  if (noisy.length === 0) return `No run saw other processes use more than ${NOISY_OTHER_LOAD}% of a core.`;
  return (
    `Noisy (other processes > ${NOISY_OTHER_LOAD}% of a core): ` +
    `${noisy.map((r) => `${label(r.name)} (${fmt(r.otherLoad)}%)`).join(', ')}. ` +
    'req/s and CPU per request of such a run are not reliable; memory figures less affected.'
  );
}

function renderSection({ date, machine, settings, pin, parentPin, runs, elapsedS }) {
  const problems = runs.filter((r) => r.problems.length > 0);
  const sy = runs.find((r) => r.name === 'switchyard');
  const pct = `${FLAT_FROM * 100}%`;
  const figures = (r) =>
    `RSS ${mib(r.from.rss)} MiB at ${pct} of the requests, ${mib(r.end.rss)} MiB at the end ` +
    `(${r.growthRatio.toFixed(3)}×; start ${mib(r.start.rss)}, peak ${mib(r.peak.rss)}, ` +
    `end after GC ${mib(r.endGc.rss)} MiB)`;
  let verdict;
  if (!sy) verdict = 'not evaluated: switchyard not run';
  else if (sy.growthRatio === undefined) verdict = 'NOT met: no figure (see problems)';
  else if (sy.flat) verdict = `met: ${figures(sy)}`;
  else verdict = `NOT met: ${figures(sy)}${sy.problems.length > 0 ? ', and the run had problems' : ''}`;
  return [
    `## ${date}`,
    '',
    `- machine: ${machineLine(machine)}`,
    `- pinning: ${pin ? `proxy on CPU ${pin}` : 'none (taskset unavailable)'}` +
      `${pin ? (parentPin ? `, autocannon and backends on CPU ${parentPin}` : ', parent unpinned') : ''}`,
    `- load: autocannon, ${settings.connections} connections, pipelining 1, no rate cap; ` +
      `${fmt(settings.warmup)} warm-up requests, then ${fmt(settings.requests)} measured; ` +
      `memory sampled every ${SAMPLE_MS / 1000} s over IPC; the child runs under \`node --expose-gc\`, ` +
      '"after GC" is after two `gc()` calls in it',
    `- run took ${fmt(elapsedS)} s`,
    '- contenders:',
    ...settings.contenders.map((n) => `  - \`${n}\`: ${CONTENDERS[n]}`),
    '',
    `**Target** (issue 12, RSS flat over ${fmt(settings.requests)} requests; read here as RSS at the end ` +
      `≤ ${FLAT_RATIO.toFixed(2)}× RSS at ${pct} of the requests, once the heap and the allocator have ` +
      `reached their working size) for ${label('switchyard')}: ${verdict}.`,
    '',
    '### RSS, MiB',
    '',
    rssTable(runs),
    '',
    '"start" is right after the warm-up; "peak" the highest of the samples, start and end included; ' +
      '"2nd half" the least-squares slope of the samples over the second half of the requests.',
    '',
    '### RSS over the run, MiB',
    '',
    traceTable(runs),
    '',
    '### V8 heap used, MiB',
    '',
    heapTable(runs),
    '',
    'bytes/req: heap used after GC at the end minus at the start, over the requests: what a leak ' +
      'of JavaScript objects would show as.',
    '',
    noisyText(runs),
    '',
    ...(problems.length === 0
      ? ['Problems: none (no non-2xx, no errors, every request completed).']
      : ['Problems:', '', ...problems.flatMap((r) => r.problems.map((p) => `- **${label(r.name)}** ${p}`))]),
    '',
  ].join('\n');
}

async function main() {
  const settings = readSettings();
  const pin = detectPinning();
  const parentPin = pinParent(pin);
  const startedAt = Date.now();
  console.log(
    `switchyard soak: ${settings.contenders.join(', ')}; ${fmt(settings.warmup)} warm-up + ` +
      `${fmt(settings.requests)} requests each, ${settings.connections} connections; ` +
      `${pin ? `proxy pinned to CPU ${pin}` : 'not pinned'}`,
  );
  const backends = await startBackends(3);
  const stopOnSignal = async (signal) => {
    console.error(`\nswitchyard soak: ${signal}, stopping`);
    await backends.close();
    process.exit(130);
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const runs = [];
  try {
    for (const name of settings.contenders) {
      const run = await soak(name, backends, settings, pin);
      runs.push(run);
      const flag = run.problems.length > 0 ? ` FLAGGED: ${run.problems.join('; ')}` : '';
      console.log(
        `  ${name}: ${fmt(run.completed)} requests in ${fmt(run.seconds, 1)} s, RSS start ` +
          `${run.start ? mib(run.start.rss) : 'n/a'}, peak ${run.peak ? mib(run.peak.rss) : 'n/a'}, end ` +
          `${run.end ? mib(run.end.rss) : 'n/a'}, end after GC ${run.endGc ? mib(run.endGc.rss) : 'n/a'} MiB` +
          `${run.stats ? `; its upstream counted ${fmt(run.stats.requests)} requests` : ''}${flag}`,
      );
    }
  } finally {
    await backends.close();
  }
  const elapsedS = (Date.now() - startedAt) / 1000;
  const section = renderSection({
    date: new Date().toISOString(),
    machine: machineInfo(),
    settings,
    pin,
    parentPin,
    runs,
    elapsedS,
  });
  console.log(`\n${section}`);
  if (settings.write) {
    prependSection({
      file: RESULTS_FILE,
      title: 'Soak results: memory over 1M requests',
      intro:
        'Written by `bench/soak.mjs`: the RSS and V8 heap of the proxy process while it answers ' +
        '1,000,000 requests (issue 12). Each run adds a section, newest first. See ' +
        '[README.md](./README.md#soakmjs-memory-over-1m-requests) for how it is measured.',
      marker: SECTIONS_MARKER,
      section,
    });
    console.log(`wrote ${RESULTS_FILE}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
