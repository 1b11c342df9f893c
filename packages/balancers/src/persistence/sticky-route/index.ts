import { isObject, knownKeys, show } from '@switchyard/internals';
import { InvalidOptionError } from '../../errors.js';
import type { PeerView, Persistence, RequestInfo } from '../../types.js';
import { isRequestSource, type RequestSource, readRequest } from '../sources.js';

/** A peer with the route id it answers to (core's `Peer` has `route`). */
interface Routed extends PeerView {
  readonly route?: string;
}

/** Options of {@link stickyRoute}: nginx `sticky route $var …`. */
export interface StickyRouteOptions {
  /** Where the route comes from; the first source with a value wins. */
  from: RequestSource | readonly RequestSource[];
  /**
   * Takes the route out of the value: the named group `route`, else the first group.
   * Absent: the whole value is the route. For Tomcat-style `JSESSIONID=abc.node1`:
   * `/\.(?<route>[^.]+)$/`.
   */
  pattern?: RegExp;
}

/** Every key of {@link StickyRouteOptions}: any other is refused. */
const STICKY_ROUTE_KEYS = Object.keys({
  from: true,
  pattern: true,
} satisfies Record<keyof StickyRouteOptions, true>);

/**
 * Session persistence by a route id that the application puts in a cookie or the URL
 * (NGINX Plus `sticky route`): a request whose route matches a peer's `route` goes to
 * that peer; otherwise the balancer chooses. The upstream assigns routes itself, so
 * `bind` adds nothing.
 *
 * @example
 * ```ts
 * stickyRoute({ from: [{ cookie: 'route' }, { query: 'route' }] });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#sticky_route
 */
export function stickyRoute(options: StickyRouteOptions): Persistence {
  if (isObject(options)) knownKeys('', options, STICKY_ROUTE_KEYS);
  const sources = Array.isArray(options?.from) ? options.from : [options?.from];
  for (const [i, s] of sources.entries()) {
    if (!isRequestSource(s)) {
      throw new InvalidOptionError(
        Array.isArray(options?.from) ? `from[${i}]` : 'from',
        '{ cookie }, { query }, { header } or a function',
        s,
      );
    }
  }
  const { pattern } = options;
  if (pattern !== undefined && !(pattern instanceof RegExp)) {
    throw new InvalidOptionError(
      'pattern',
      'a RegExp',
      pattern,
      `pattern: expected a RegExp, got ${show(pattern)}`,
    );
  }
  const tables = new WeakMap<readonly PeerView[], Map<string, PeerView>>();

  function routeOf(req: RequestInfo): string | undefined {
    for (const source of sources) {
      const value = readRequest(source as RequestSource, req);
      if (value === undefined) continue;
      if (pattern === undefined) return value;
      const m = pattern.exec(value);
      if (m === null) continue;
      return m.groups?.route ?? m[1] ?? m[0];
    }
    return undefined;
  }

  return {
    find(req: RequestInfo, peers: readonly PeerView[]): PeerView | undefined {
      const route = routeOf(req);
      if (route === undefined) return undefined;
      let table = tables.get(peers);
      if (table === undefined) {
        table = new Map();
        for (const p of peers as readonly Routed[]) if (p.route !== undefined) table.set(p.route, p);
        tables.set(peers, table);
      }
      return table.get(route);
    },
    bind(): void {},
  };
}
