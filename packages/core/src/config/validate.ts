import { InvalidOptionError } from '../errors.js';

/** Validation helpers: each throws {@link InvalidOptionError} naming the path and value. */

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function objectAt(path: string, v: unknown): Record<string, unknown> {
  if (!isObject(v)) throw new InvalidOptionError(path, 'an object', v);
  return v;
}

export function intAt(
  path: string,
  v: unknown,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    const what =
      min === 1 && max === Number.MAX_SAFE_INTEGER
        ? 'a positive integer'
        : min === 0 && max === Number.MAX_SAFE_INTEGER
          ? 'a non-negative integer'
          : `an integer from ${min} to ${max}`;
    throw new InvalidOptionError(path, what, v);
  }
  return v;
}

export function boolAt(path: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new InvalidOptionError(path, 'a boolean', v);
  return v;
}

export function stringAt(path: string, v: unknown, fallback?: string): string {
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'string' || v.length === 0) throw new InvalidOptionError(path, 'a non-empty string', v);
  return v;
}

/** Rejects keys that the options type does not have: a typo must not pass silently. */
export function knownKeys(path: string, v: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) {
      const at = path === '' ? k : `${path}.${k}`;
      throw new InvalidOptionError(at, '', v[k], `${at}: unknown option (known: ${keys.join(', ')})`);
    }
  }
}
