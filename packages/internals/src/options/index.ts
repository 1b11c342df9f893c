import { InvalidOptionError, show } from '../errors/index.js';
import { parseNginxTime, type TimeUnit } from '../time/index.js';

// Validation helpers, one message style for every package: each throws
// InvalidOptionError naming the option path and the rejected value
// (`servers[2].weight: expected a positive integer, got -1`), or for a key the options
// type does not have, `tls.cafile: unknown option (known: ca, cert, key)`.

/** A plain object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Joins an option path: `optionPath('req[0]', 'burst')` is `req[0].burst`; `''` is the root. */
export function optionPath(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

/** An object of options. */
export function objectAt(path: string, v: unknown): Record<string, unknown> {
  if (!isObject(v)) throw new InvalidOptionError(path, 'an object', v);
  return v;
}

/**
 * An object of options with no key but `keys`: `objectAt` and `knownKeys` together. The
 * root (`path` `''`) is named `options` when it is not an object.
 */
export function optionsAt(path: string, v: unknown, keys: Iterable<string>): Record<string, unknown> {
  const o = objectAt(path === '' ? 'options' : path, v);
  knownKeys(path, o, keys);
  return o;
}

/** Rejects keys that the options type does not have: a typo must not pass silently. */
export function knownKeys(path: string, v: Record<string, unknown>, keys: Iterable<string>): void {
  const known = [...keys];
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) {
      const at = optionPath(path, k);
      throw new InvalidOptionError(at, '', v[k], `${at}: unknown option (known: ${known.join(', ')})`);
    }
  }
}

/** An integer in `[min, max]`; `fallback`, when there is one, when not given. */
export function intAt(
  path: string,
  v: unknown,
  fallback: number | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new InvalidOptionError(path, integerRange(min, max), v);
  }
  return v;
}

function integerRange(min: number, max: number): string {
  if (max === Number.MAX_SAFE_INTEGER && min === 1) return 'a positive integer';
  if (max === Number.MAX_SAFE_INTEGER && min === 0) return 'a non-negative integer';
  if (max === Number.MAX_SAFE_INTEGER) return `an integer >= ${min}`;
  return `an integer from ${min} to ${max}`;
}

/** A boolean; `fallback` when not given. */
export function boolAt(path: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new InvalidOptionError(path, 'a boolean', v);
  return v;
}

/** A non-empty string; `fallback`, when there is one, when not given. */
export function stringAt(path: string, v: unknown, fallback?: string): string {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || v.length === 0) throw new InvalidOptionError(path, 'a non-empty string', v);
  return v;
}

/** A function, or `undefined` when not given. */
export function functionAt<T>(path: string, v: T | undefined): T | undefined {
  if (v !== undefined && typeof v !== 'function') throw new InvalidOptionError(path, 'a function', v);
  return v;
}

/** One of `choices`; `fallback` when not given and there is one. */
export function oneOf<const T>(path: string, v: unknown, choices: readonly T[], fallback?: T): T {
  if (v === undefined && fallback !== undefined) return fallback;
  if (!choices.includes(v as T)) {
    throw new InvalidOptionError(path, `one of ${choices.map(show).join(', ')}`, v);
  }
  return v as T;
}

/**
 * A time in ms: nginx time text (`'10s'`, `'1m30s'`; a bare `'30'` is seconds) or a
 * number counted in `numberUnit`; `fallback` when not given.
 */
export function timeAt(path: string, v: unknown, fallback: number, numberUnit: TimeUnit): number {
  if (v === undefined) return fallback;
  const ms = parseNginxTime(v, numberUnit);
  if (ms === undefined) {
    throw new InvalidOptionError(path, `an nginx time such as "10s", or a number of ${numberUnit}`, v);
  }
  return ms;
}
