/**
 * Every error code switchyard's packages use, with the class that carries it and when it
 * happens. One table: `docs/errors.md` must list exactly these rows (a test reads both).
 */
export const ERROR_CODES = {
  SWY_ERR_INVALID_OPTION: { class: 'InvalidOptionError', when: 'thrown: an option is invalid' },
  SWY_ERR_NO_LIVE_UPSTREAM: {
    class: 'NoLiveUpstreamError',
    when: 'reported: no peer can take the request; 502',
  },
  SWY_ERR_UPSTREAM: { class: 'UpstreamError', when: 'reported: an attempt on a peer failed; 502' },
  SWY_ERR_UPSTREAM_TIMEOUT: {
    class: 'UpstreamTimeoutError',
    when: 'reported: no connection, head or body in time',
  },
  SWY_ERR_PEER_NOT_FOUND: {
    class: 'PeerNotFoundError',
    when: 'thrown: a runtime change names no known peer',
  },
  SWY_ERR_PEER_EXISTS: { class: 'PeerExistsError', when: 'thrown: `upstream.add` of a peer already there' },
  SWY_ERR_BODY_CONSUMED: { class: 'BodyConsumedError', when: 'reported: a body parser read the body first' },
  SWY_ERR_SESSION_STORE: { class: 'SessionStoreError', when: 'reported: a session store failed' },
  SWY_ERR_REWRITE_SYNTAX: {
    class: 'RewriteSyntaxError',
    when: 'thrown: nginx rewrite text does not compile',
  },
  SWY_ERR_CACHE_STORE: { class: 'CacheStoreError', when: 'reported: a cache store failed; request goes on' },
  SWY_ERR_LIMIT_STORE: { class: 'LimitStoreError', when: 'reported: a limit store failed or was too slow' },
  SWY_ERR_HOOK: { class: 'HookError', when: 'reported: a function you gave threw; 500' },
} as const satisfies Record<string, { class: string; when: string }>;

/** A code of {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Marks a switchyard error. A symbol from the global registry, not a class: each published
 * package bundles its own copy of these classes, and `instanceof` must hold across them.
 */
const BRAND = Symbol.for('switchyard.error');

/** Whether `value` is an error of any switchyard package (any bundled copy). */
export function isSwitchyardError(value: unknown): value is SwitchyardError {
  return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
}

/**
 * Whether `value` is a switchyard error with this code: what internal checks match on.
 * `E` names the class {@link ERROR_CODES} gives the code.
 * @example
 * ```ts
 * if (hasCode<HookError>(err, 'SWY_ERR_HOOK')) report(err.hook);
 * ```
 */
export function hasCode<E extends SwitchyardError = SwitchyardError>(
  value: unknown,
  code: ErrorCode,
): value is E {
  return isSwitchyardError(value) && value.code === code;
}

/** The ordinary, prototype-chain `instanceof`, for the subclasses of a branded class. */
const ordinaryInstanceOf = Function.prototype[Symbol.hasInstance];

/**
 * The base class of every error switchyard throws or reports. Match on `code`, which is
 * stable, rather than on the class. `err instanceof SwitchyardError` holds for the errors
 * of every switchyard package, whichever package's export it names.
 */
export class SwitchyardError extends Error {
  /** A stable identifier, `SWY_ERR_…`; listed in docs/errors.md. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  /** Matches the errors of every bundled copy, by brand; subclasses match as usual. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class instanceof asks about, maybe a subclass.
    return this === SwitchyardError ? isSwitchyardError(value) : ordinaryInstanceOf.call(this, value);
  }
}
Object.defineProperty(SwitchyardError.prototype, BRAND, { value: true });

/** An option failed validation when the object was built (`SWY_ERR_INVALID_OPTION`). */
export class InvalidOptionError extends SwitchyardError {
  /** The option path, e.g. `servers[2].weight`. */
  readonly path: string;
  /** The rejected value. */
  readonly value: unknown;
  /**
   * The message reads `<path>: expected <expected>, got <value>`, unless `message` is given.
   */
  constructor(path: string, expected: string, value: unknown, message?: string) {
    super('SWY_ERR_INVALID_OPTION', message ?? `${path}: expected ${expected}, got ${show(value)}`);
    this.path = path;
    this.value = value;
  }

  /** Matches by code across bundled copies; subclasses match as usual. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class instanceof asks about, maybe a subclass.
    if (this !== InvalidOptionError) return ordinaryInstanceOf.call(this, value);
    return hasCode(value, 'SWY_ERR_INVALID_OPTION');
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
