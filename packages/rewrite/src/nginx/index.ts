import { createEngine, type RewriteEngine, type RewriteEngineOptions } from '../engine/index.js';
import { parseNginx } from './parse.js';

/**
 * Compiles the body of an nginx `server {}` block into an engine: `rewrite`, `return`,
 * `if`, `set`, `break`, `add_header`, `proxy_set_header`, `proxy_hide_header`,
 * `proxy_pass_header`, and `location` blocks (`=`, `^~`, `~`, `~*`, prefix) holding the
 * same plus `proxy_pass`. Header directives follow nginx's inheritance: a location with
 * one directive of a kind does not inherit the server's of that kind. Everything nginx checks when it loads a configuration is checked
 * here, once; anything else is a `RewriteSyntaxError` (`SWY_ERR_REWRITE_SYNTAX`) naming the
 * directive, its line and column, and the directives supported there.
 *
 * @example
 * ```ts
 * const engine = compileNginx(`
 *   rewrite ^(/download/.*)/media/(\\w+)\\.?.*$ $1/mp3/$2.mp3 last;
 *   return 403;
 *   location / { proxy_pass http://127.0.0.1:9211; }
 * `);
 * engine.evaluate({ uri: '/download/a/media/song.avi', headers: { host: 'example.com' } });
 * // → { action: 'pass', uri: '/download/a/mp3/song.mp3', location: '/', target: 'http://127.0.0.1:9211' }
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_rewrite_module.html
 * @see https://nginx.org/en/docs/http/ngx_http_headers_module.html#add_header
 */
export function compileNginx(text: string, options?: RewriteEngineOptions): RewriteEngine {
  return createEngine(parseNginx(text), options);
}

export { parseNginx } from './parse.js';
export { toNginx } from './print.js';
