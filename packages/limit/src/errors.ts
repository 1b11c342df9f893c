/**
 * The base class of every error @switchyard/limit throws or reports. Match on `code`,
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

/** An option failed validation when a zone, a store or the limiter was built (`SWY_ERR_INVALID_OPTION`). */
export class InvalidOptionError extends SwitchyardError {
  /** The option path, e.g. `req[0].burst`. */
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
 * A limit store (e.g. Redis) failed, rejected or answered later than `storeTimeoutMs`
 * (`SWY_ERR_LIMIT_STORE`). Reported to the `onError` option of `createLimits`, never
 * thrown at a request: the request passes (fail open), or with `failClosed` is refused
 * with the zone's status.
 */
export class LimitStoreError extends SwitchyardError {
  /** What the store was doing: `take` (limit_req), `acquire` or `release` (limit_conn). */
  readonly operation: string;
  /** The zones the failed call was about, in order. */
  readonly zones: readonly string[];
  constructor(operation: string, zones: readonly string[], message: string, cause?: unknown) {
    super('SWY_ERR_LIMIT_STORE', `limit store ${operation} (${zones.join(', ')}): ${message}`, { cause });
    this.operation = operation;
    this.zones = zones;
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
