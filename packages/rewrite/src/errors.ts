import { SwitchyardError } from '@switchyard/internals';

export { InvalidOptionError, SwitchyardError } from '@switchyard/internals';

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
