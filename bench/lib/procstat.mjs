// Busy CPU time of the whole machine from /proc/stat (Linux only), to see how much of it was
// taken by processes other than the benchmark's own during a measured run.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond = 100;
try {
  ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
} catch {
  // USER_HZ is 100 on every common Linux build.
}

/** Busy time of all CPUs together so far, in µs; null when /proc/stat cannot be read. */
export function machineBusyMicros() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    // cpu  user nice system idle iowait irq softirq steal ...; interrupt time is left out, as it
    // is not charged to any process (it is mostly the loopback traffic of the benchmark itself),
    // steal is counted in: time the hypervisor gave to another guest.
    const [user, nice, system, , , , , steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return ((user + nice + system + steal) * 1e6) / ticksPerSecond;
  } catch {
    return null;
  }
}
