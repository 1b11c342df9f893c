/**
 * @switchyard/rewrite — nginx's rewrite engine and an Apache mod_rewrite converter.
 * The engine arrives with its own issue; this entry declares the result it will return.
 * @packageDocumentation
 */

/** What evaluating the rules decided for one request. */
export type RewriteResult =
  | { action: 'pass'; uri: string; location?: string; target?: string }
  | { action: 'redirect'; status: 301 | 302 | 303 | 307 | 308; location: string }
  | { action: 'return'; status: number; body?: string };
