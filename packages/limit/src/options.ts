import { InvalidOptionError } from './errors.js';

/** Joins an option path: `at('req[0]', 'burst')` is `req[0].burst`, `at('', 'burst')` is `burst`. */
export function at(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

/** Refuses a non-object and any key not in `known` (a misspelt option would silently do nothing). */
export function plainObject(
  value: unknown,
  path: string,
  known: ReadonlySet<string>,
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(path === '' ? 'options' : path, 'an object', value);
  }
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!known.has(k)) {
      throw new InvalidOptionError(at(path, k), `no such option (known: ${[...known].join(', ')})`, o[k]);
    }
  }
  return o;
}

/** An integer in [min, max]. */
export function integer(value: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in ${min}..${max}`;
    throw new InvalidOptionError(path, `an integer ${range}`, value);
  }
  return value;
}

/** A boolean. */
export function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new InvalidOptionError(path, 'a boolean', value);
  return value;
}
