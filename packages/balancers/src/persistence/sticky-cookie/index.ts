import { createHash } from 'node:crypto';
import { isObject, knownKeys, oneOf } from '@switchyard/internals';
import { serialize } from 'cookie';
import { sign, unsign } from 'cookie-signature';
import { InvalidOptionError } from '../../errors.js';
import type { PeerView, Persistence, RequestInfo, ResponseHead } from '../../types.js';
import { cookieValue } from '../sources.js';

/** Options of {@link stickyCookie}: nginx `sticky cookie name [expires=] [domain=] …`. */
export interface StickyCookieOptions {
  /** The cookie's name. @default 'srv_id' */
  name?: string;
  /** Lifetime in ms (`Max-Age`), or `'max'` for ten years; absent: a session cookie. */
  expiresMs?: number | 'max';
  /** The cookie's `Domain`. */
  domain?: string;
  /** @default '/' */
  path?: string;
  /** @default false */
  httpOnly?: boolean;
  /** @default false */
  secure?: boolean;
  /** The cookie's `SameSite`. */
  sameSite?: 'strict' | 'lax' | 'none';
  /**
   * Signs the cookie (HMAC-SHA256, via cookie-signature) so a client cannot forge it or
   * steer itself to a chosen peer. A list rotates keys: the first signs, every one is
   * accepted, and a cookie signed with an older key is re-issued with the first.
   */
  secret?: string | readonly string[];
}

/** Every key of {@link StickyCookieOptions}: any other is refused. */
const STICKY_COOKIE_KEYS = Object.keys({
  name: true,
  expiresMs: true,
  domain: true,
  path: true,
  httpOnly: true,
  secure: true,
  sameSite: true,
  secret: true,
} satisfies Record<keyof StickyCookieOptions, true>);

const TEN_YEARS_S = 315_360_000;

/** nginx Plus names the peer by the MD5 of its address, in hex. */
function peerToken(id: string): string {
  return createHash('md5').update(id).digest('hex');
}

/**
 * Session persistence by a cookie that names the peer (NGINX Plus `sticky cookie`). The
 * first response sets the cookie; later requests carrying it go to the same peer while
 * it can take them. A missing, unknown or forged cookie leaves the choice to the
 * balancer; it is never an error.
 *
 * Differs from nginx: the cookie carries `Max-Age` only (no `Expires` date, which would
 * need a clock inside the policy).
 *
 * @example
 * ```ts
 * createUpstream({ name: 'app', servers, persistence: stickyCookie({ name: 'srv', secret: process.env.KEY }) });
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#sticky_cookie
 */
export function stickyCookie(options: StickyCookieOptions = {}): Persistence {
  if (isObject(options)) knownKeys('', options, STICKY_COOKIE_KEYS);
  const name = options.name ?? 'srv_id';
  if (typeof name !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) {
    throw new InvalidOptionError('name', 'a cookie name (an RFC 9110 token)', name);
  }
  const secrets =
    options.secret === undefined
      ? []
      : typeof options.secret === 'string'
        ? [options.secret]
        : [...options.secret];
  for (const [i, s] of secrets.entries()) {
    if (typeof s !== 'string' || s.length === 0) {
      throw new InvalidOptionError(
        typeof options.secret === 'string' ? 'secret' : `secret[${i}]`,
        'a non-empty string',
        s,
      );
    }
  }
  const { expiresMs } = options;
  // Max-Age counts whole seconds: under 1000 ms it would be 0, which deletes the cookie.
  if (expiresMs !== undefined && expiresMs !== 'max' && !(Number.isInteger(expiresMs) && expiresMs >= 1000)) {
    throw new InvalidOptionError('expiresMs', 'an integer of at least 1000 (ms) or "max"', expiresMs);
  }
  if (options.sameSite !== undefined) oneOf('sameSite', options.sameSite, ['strict', 'lax', 'none']);
  const attributes = {
    path: options.path ?? '/',
    domain: options.domain,
    httpOnly: options.httpOnly ?? false,
    secure: options.secure ?? false,
    sameSite: options.sameSite,
    maxAge:
      expiresMs === undefined ? undefined : expiresMs === 'max' ? TEN_YEARS_S : Math.floor(expiresMs / 1000),
  };

  for (const key of ['domain', 'path'] as const) {
    try {
      serialize(name, 'x', { [key]: attributes[key] });
    } catch {
      throw new InvalidOptionError(
        key,
        `a valid cookie ${key === 'domain' ? 'Domain' : 'Path'}`,
        options[key],
      );
    }
  }

  // Token → peer, built once per peers array (membership change).
  const tables = new WeakMap<readonly PeerView[], Map<string, PeerView>>();
  const tokens = new Map<string, string>();
  const tokenOf = (id: string): string => {
    let t = tokens.get(id);
    if (t === undefined) {
      t = peerToken(id);
      tokens.set(id, t);
    }
    return t;
  };
  const valueFor = (id: string): string =>
    secrets.length === 0 ? tokenOf(id) : sign(tokenOf(id), secrets[0] as string);

  /** The peer token in a request's cookie, verified against every secret. */
  function tokenIn(req: RequestInfo): string | undefined {
    const raw = cookieValue(req.headers.cookie, name);
    if (raw === undefined || secrets.length === 0) return raw;
    for (const s of secrets) {
      const token = unsign(raw, s);
      if (token !== false) return token;
    }
    return undefined;
  }

  return {
    find(req: RequestInfo, peers: readonly PeerView[]): PeerView | undefined {
      const token = tokenIn(req);
      if (token === undefined) return undefined;
      let table = tables.get(peers);
      if (table === undefined) {
        table = new Map(peers.map((p) => [tokenOf(p.id), p]));
        tables.set(peers, table);
      }
      return table.get(token);
    },

    bind(req: RequestInfo, res: ResponseHead, peer: PeerView): void {
      const want = valueFor(peer.id);
      // Set the cookie when it is absent, names another peer, or was signed with an old key.
      if (cookieValue(req.headers.cookie, name) === want) return;
      res.appendHeader('set-cookie', serialize(name, want, attributes));
    },
  };
}
