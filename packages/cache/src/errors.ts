/**
 * The base class of every error @switchyard/cache throws or reports. Match on `code`,
 * which is stable, rather than on the class: this package is standalone, so its base
 * class is not the one `@switchyard/balancers` exports, but the codes are shared.
 */
export class SwitchyardError extends Error {
  /** A stable identifier, `SWY_ERR_…`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option failed validation when the cache or a store was built (`SWY_ERR_INVALID_OPTION`). */
export class InvalidOptionError extends SwitchyardError {
  /** The option path, e.g. `valid.200`. */
  readonly path: string;
  /** The rejected value. */
  readonly value: unknown;
  constructor(path: string, expected: string, value: unknown) {
    super('SWY_ERR_INVALID_OPTION', `${path}: expected ${expected}, got ${show(value)}`);
    this.path = path;
    this.value = value;
  }
}

/**
 * A cache store (e.g. Redis) failed or was too slow (`SWY_ERR_CACHE_STORE`). Reported to
 * the `onStoreError` option of `createCache`, never thrown at a request: the request goes
 * upstream instead (X-Cache-Status `MISS`) and nothing is stored.
 */
export class CacheStoreError extends SwitchyardError {
  /** What the store was doing: `get`, `set`, `delete`, `deletePrefix` or `deleteTag`. */
  readonly operation: string;
  constructor(operation: string, message: string, cause?: unknown) {
    super('SWY_ERR_CACHE_STORE', `cache store ${operation}: ${message}`, { cause });
    this.operation = operation;
  }
}

/** Renders a rejected value for an error message. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof RegExp) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
