// Starts one contender in its own process (pinned with taskset when asked) and talks to it
// over IPC: its port, its CPU time and memory on request, and a clean shutdown.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('./proxy-child.mjs', import.meta.url));
const REPLY_TIMEOUT_MS = 10_000;

/**
 * Spawns the proxy child. `pin` is a taskset CPU list (e.g. '1') or null; `nodeFlags` go to
 * node before the entry (e.g. `['--expose-gc']`, which `gc()` needs).
 * Resolves to `{ port, pid, cpu(), mem(), gc(), stats(), stop(), exited }` once the child listens.
 */
export function startProxyChild(name, targets, pin, { nodeFlags = [] } = {}) {
  const nodeArgs = [...nodeFlags, entry, name, ...targets];
  const [cmd, args] = pin
    ? ['taskset', ['-c', pin, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs];
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });

  // Spawn and IPC failures show up as an exit or a missing reply; keep them from crashing us.
  child.on('error', (err) => console.error(`${name}: proxy child: ${err.message}`));

  // What ended the child, if it ended: null while it runs.
  let exitInfo = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
  });

  function waitFor(type) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${name}: no '${type}' message from the proxy child within ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);
      const onMessage = (msg) => {
        if (msg && msg.type === type) {
          cleanup();
          resolve(msg);
        }
      };
      const onExit = (code, signal) => {
        cleanup();
        reject(new Error(`${name}: proxy child exited (code ${code}, signal ${signal})`));
      };
      function cleanup() {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      }
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }

  /** CPU time of the child so far, user + system, in µs. */
  async function cpu() {
    if (exitInfo || !child.connected) {
      throw new Error(`${name}: proxy child is gone (${JSON.stringify(exitInfo)}), no CPU figure`);
    }
    const reply = waitFor('cpu');
    child.send('cpu');
    const { user, system, rss } = await reply;
    return { total: user + system, user, system, rss };
  }

  /** Sends `type` and resolves to the child's reply of that type. */
  function ask(type, what) {
    if (exitInfo || !child.connected) {
      throw new Error(`${name}: proxy child is gone (${JSON.stringify(exitInfo)}), no ${what}`);
    }
    const reply = waitFor(type);
    child.send(type);
    return reply;
  }

  /** The child's `process.memoryUsage()` now: `{ rss, heapTotal, heapUsed, external, arrayBuffers }`, bytes. */
  async function mem() {
    const { type: _type, ...usage } = await ask('mem', 'memory figure');
    return usage;
  }

  /**
   * Runs a full garbage collection in the child (started with `--expose-gc`), then answers
   * its memory as `mem()` does.
   */
  async function gc() {
    const { type: _type, error, ...usage } = await ask('gc', 'garbage collection');
    if (error) throw new Error(`${name}: gc failed: ${error}`);
    return usage;
  }

  /** What the contender's `stats()` returns (null when it has none), e.g. cache counters. */
  async function stats() {
    const msg = await ask('stats', 'statistics');
    if (msg.error) throw new Error(`${name}: stats() failed: ${msg.error}`);
    return msg.stats;
  }

  /** Asks the child to close and exit; kills it when it does not within 3 s. */
  async function stop() {
    if (exitInfo) return exitInfo;
    if (child.connected) child.send('close', () => {});
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    const info = await exited;
    clearTimeout(timer);
    return info;
  }

  return waitFor('ready').then(
    ({ port }) => ({
      port,
      pid: child.pid,
      cpu,
      mem,
      gc,
      stats,
      stop,
      exited,
      get exitInfo() {
        return exitInfo;
      },
    }),
    async (err) => {
      if (!exitInfo) child.kill('SIGKILL');
      await exited;
      throw err;
    },
  );
}
