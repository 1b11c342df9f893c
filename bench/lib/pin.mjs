// CPU pinning with taskset (Linux): the measured server gets a core of its own, the parent
// (autocannon and the backends) another.
import { execFileSync } from 'node:child_process';

export const PIN_CPU = '1';
export const PARENT_CPU = '0';

/** '1' when `taskset` exists and may pin to CPU 1 here, otherwise null. */
export function detectPinning() {
  try {
    execFileSync('which', ['taskset'], { stdio: 'ignore' });
    execFileSync('taskset', ['-c', PIN_CPU, 'true'], { stdio: 'ignore' });
    return PIN_CPU;
  } catch {
    return null;
  }
}

/**
 * Moves this process (autocannon and the backends, all threads) to CPU 0, so it does not
 * compete with the pinned child for CPU 1. BENCH_PIN_PARENT=0 turns it off.
 */
export function pinParent(pin) {
  if (!pin || process.env.BENCH_PIN_PARENT === '0') return null;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', PARENT_CPU, String(process.pid)], { stdio: 'ignore' });
    return PARENT_CPU;
  } catch {
    return null;
  }
}
