/**
 * @switchyard/rewrite — nginx's rewrite engine and an Apache mod_rewrite converter.
 * The engine arrives with its own issue; this entry declares the result it will return.
 * @packageDocumentation
 */

/** Send the request on: the URI to send upstream and the location that matched. */
export interface RewritePass {
  action: 'pass';
  /** The request-target to send upstream. */
  uri: string;
  /** The matched location, as written. */
  location?: string;
  /** The location's `proxy_pass` target, if any. */
  target?: string;
}

/** Answer with a redirect (`rewrite … redirect|permanent`, `return 3xx URL`). */
export interface RewriteRedirect {
  action: 'redirect';
  /** The redirect status. */
  status: 301 | 302 | 303 | 307 | 308;
  /** The `Location` header. */
  location: string;
}

/** Answer directly (`return code [text]`); 444 closes the connection. */
export interface RewriteReturn {
  action: 'return';
  /** The status code. */
  status: number;
  /** The body text, if any. */
  body?: string;
}

/** What evaluating the rules decided for one request. */
export type RewriteResult = RewritePass | RewriteRedirect | RewriteReturn;
