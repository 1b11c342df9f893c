/**
 * The base class of every error switchyard throws or reports. Match on `code`, which is
 * stable, rather than on the class.
 */
export class SwitchyardError extends Error {
  /** A stable identifier, `SWY_ERR_…`; listed in docs/errors.md. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An option failed validation when the object was built (`SWY_ERR_INVALID_OPTION`). */
export class InvalidOptionError extends SwitchyardError {
  /** The option path, e.g. `servers[2].weight`. */
  readonly path: string;
  /** The rejected value. */
  readonly value: unknown;
  constructor(path: string, expected: string, value: unknown, message?: string) {
    super('SWY_ERR_INVALID_OPTION', message ?? `${path}: expected ${expected}, got ${show(value)}`);
    this.path = path;
    this.value = value;
  }
}

/** A session store (e.g. Redis) failed; persistence falls back to the balancer. */
export class SessionStoreError extends SwitchyardError {
  constructor(message: string, cause?: unknown) {
    super('SWY_ERR_SESSION_STORE', message, { cause });
  }
}

/** Renders a rejected value for an error message. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (value === undefined) return 'undefined';
  if (value instanceof RegExp) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
