/**
 * The base class of every error @switchyard/rewrite throws. Match on `code`, which is
 * stable, rather than on the class: this package is standalone, so its base class is not
 * the one `@switchyard/balancers` exports, but the codes are shared.
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

/**
 * An option, or a rule given in code (the builder, a {@link RewriteConfig} object), failed
 * validation when the engine was built (`SWY_ERR_INVALID_OPTION`).
 */
export class InvalidOptionError extends SwitchyardError {
  /** The option path, e.g. `locations[2].rules[0].regex`. */
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
 * nginx configuration text could not be compiled (`SWY_ERR_REWRITE_SYNTAX`): an unknown or
 * unsupported directive, a wrong number of arguments, a regex that does not compile or
 * cannot be translated from PCRE, an unknown variable. The message names the directive,
 * the line and the column, as nginx's `nginx -t` would.
 */
export class RewriteSyntaxError extends SwitchyardError {
  /** 1-based line of the offending token. */
  readonly line: number;
  /** 1-based column of the offending token. */
  readonly column: number;
  /** The directive being read, when there is one (`rewrite`, `location`…). */
  readonly directive: string | undefined;
  constructor(message: string, at: { line: number; column: number }, directive?: string, hint?: string) {
    super(
      'SWY_ERR_REWRITE_SYNTAX',
      `${message} at line ${at.line}, column ${at.column}${hint === undefined ? '' : `; ${hint}`}`,
    );
    this.line = at.line;
    this.column = at.column;
    this.directive = directive;
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
