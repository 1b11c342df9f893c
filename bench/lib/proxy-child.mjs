// Entry of a proxy child process: `node proxy-child.mjs <contender> <backend-url>...`.
// Starts the contender on 127.0.0.1, port 0, then talks to the parent over IPC:
//   → { type: 'ready', port }             once listening
//   ← 'cpu'   → { type: 'cpu', user, system, rss }   process.cpuUsage() in µs, all threads
//   ← 'mem'   → { type: 'mem', rss, heapTotal, heapUsed, external, arrayBuffers }   bytes
//   ← 'gc'    → a full garbage collection (needs node --expose-gc), then as 'mem'
//   ← 'stats' → { type: 'stats', stats }           what the contender's optional stats() returns
//                                                  (null without one): cache counters, upstream calls
//   ← 'close' → closes the proxy and exits 0
// It also exits when the parent goes away, so no child outlives a run.

const [name, ...targets] = process.argv.slice(2);

if (!process.send) {
  console.error('proxy-child: must be started with an IPC channel');
  process.exit(2);
}

const { start } = await import(new URL(`../proxies/${name}.mjs`, import.meta.url).href);
const proxy = await start(targets);
const port = await proxy.listen();

let closing = false;
async function shutdown(code) {
  if (closing) return;
  closing = true;
  const timer = setTimeout(() => process.exit(code), 2000);
  timer.unref();
  try {
    await proxy.close();
  } catch (err) {
    console.error(`proxy-child ${name}: close failed:`, err);
  }
  process.exit(code);
}

process.on('message', (msg) => {
  if (msg === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.send({ type: 'cpu', user, system, rss: process.memoryUsage.rss() });
  } else if (msg === 'mem') {
    process.send({ type: 'mem', ...process.memoryUsage() });
  } else if (msg === 'gc') {
    if (typeof globalThis.gc !== 'function') {
      process.send({ type: 'gc', error: 'gc() unavailable: start the child with --expose-gc' });
    } else {
      // Twice: objects that the first collection finalised are freed by the second.
      globalThis.gc();
      globalThis.gc();
      process.send({ type: 'gc', ...process.memoryUsage() });
    }
  } else if (msg === 'stats') {
    Promise.resolve(proxy.stats?.() ?? null).then(
      (stats) => process.send({ type: 'stats', stats }),
      (err) => process.send({ type: 'stats', stats: null, error: err.message }),
    );
  } else if (msg === 'close') {
    shutdown(0);
  }
});
process.on('disconnect', () => shutdown(0));
process.send({ type: 'ready', port });
