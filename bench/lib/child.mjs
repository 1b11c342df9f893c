// Starts one contender in its own process (pinned with taskset when asked) and talks to it
// over IPC: its port, its CPU time on request, and a clean shutdown.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('./proxy-child.mjs', import.meta.url));
const REPLY_TIMEOUT_MS = 10_000;

/**
 * Spawns the proxy child. `pin` is a taskset CPU list (e.g. '1') or null.
 * Resolves to `{ port, pid, cpu(), stats(), stop(), exited }` once the child listens.
 */
export function startProxyChild(name, targets, pin) {
  const nodeArgs = [entry, name, ...targets];
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

  /** What the contender's `stats()` returns (null when it has none), e.g. cache counters. */
  async function stats() {
    if (exitInfo || !child.connected) {
      throw new Error(`${name}: proxy child is gone (${JSON.stringify(exitInfo)}), no statistics`);
    }
    const reply = waitFor('stats');
    child.send('stats');
    const msg = await reply;
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
