// Shared by cache.mjs and rewrite.mjs: the machine a run happened on, and RESULTS-*.md files
// that keep one section per run, newest first.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

export function machineInfo() {
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

export function machineLine(machine) {
  return `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB.toFixed(1)} GiB, ${machine.os}, Node ${machine.node} (V8 ${machine.v8})`;
}

/**
 * Inserts `section` at the top of the runs in `file` (below `marker`), creating the file
 * with `title` and `intro` when it does not exist; older runs stay below.
 */
export function prependSection({ file, title, intro, marker, section }) {
  const head = [`# ${title}`, '', intro, '', marker, ''].join('\n');
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  if (!text.includes(marker)) text = `${head}${text.trim() === '' ? '' : `${text.trim()}\n\n`}`;
  const at = text.indexOf(marker) + marker.length;
  const rest = text.slice(at).replace(/^\n+/, '');
  writeFileSync(file, `${text.slice(0, at)}\n\n${section}${rest === '' ? '' : `\n${rest}`}`);
}

/** An integer from the environment, or `fallback`; throws on anything else. */
export function intEnv(name, fallback, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** A comma-separated list from the environment, checked against `known`. */
export function listEnv(name, known) {
  const only = (process.env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = only.filter((n) => !known.includes(n));
  if (unknown.length > 0) {
    throw new Error(`${name}: unknown name(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);
  }
  return only.length === 0 ? known : known.filter((n) => only.includes(n));
}
