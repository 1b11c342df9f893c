import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { knownKeys, objectAt, stringAt } from '@switchyard/internals';
import { InvalidOptionError } from '../errors.js';
import { ApiError, methodDisabled } from './errors.js';

/** Who may write (`POST`, `PATCH`, `DELETE`). Reads are open. */
export interface AdminAuth {
  /** A bearer token: `Authorization: Bearer <token>` may write. Compared in constant time. */
  token?: string;
  /**
   * Decides for requests without the token (or for all, when there is no token): `true`
   * allows the write, `false` answers 403. A hook that throws counts as `false`.
   */
  authorize?: (req: IncomingMessage) => boolean | Promise<boolean>;
}

/** The checked `auth`, `trustedOrigins` and `allowedHosts` options. */
export interface Gate {
  /** The token's SHA-256, compared with a presented token's; `undefined` = no token. */
  digest: Buffer | undefined;
  authorize: AdminAuth['authorize'];
  /** `undefined` = no `auth`: every write answers `MethodDisabled`. */
  writes: boolean;
  /** Origins whose pages may write besides the API's own, lowercase. */
  trustedOrigins: ReadonlySet<string>;
  /** Host names answered; `undefined` = any. */
  allowedHosts: ReadonlySet<string> | undefined;
}

/** Checks the options that say who may read and write, once, when the API is built. */
export function gateAt(auth: unknown, trustedOrigins: unknown, allowedHosts: unknown): Gate {
  const parsed = parseAuth(auth);
  return {
    digest: parsed?.digest,
    authorize: parsed?.authorize,
    writes: parsed !== undefined,
    trustedOrigins: new Set(stringsAt('trustedOrigins', trustedOrigins).map(originAt)),
    allowedHosts:
      allowedHosts === undefined
        ? undefined
        : new Set(stringsAt('allowedHosts', allowedHosts).map((h) => h.toLowerCase())),
  };
}

/** Whether the API answers a request for this `Host` (`allowedHosts`, against DNS rebinding). */
export function hostAllowed(gate: Gate, req: IncomingMessage): boolean {
  return gate.allowedHosts === undefined || gate.allowedHosts.has(hostName(req.headers.host));
}

/** `undefined` when the request may write; else the error to answer. */
export async function writeDenied(gate: Gate, req: IncomingMessage): Promise<ApiError | undefined> {
  if (!gate.writes) return methodDisabled();
  if (crossSite(req, gate.trustedOrigins)) return new ApiError('CrossSiteRequest');
  const header = req.headers.authorization;
  const presented = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
  if (gate.digest !== undefined && presented !== undefined) {
    // Equal-length digests, so neither the length nor the content leaks through timing.
    if (timingSafeEqual(sha256(presented), gate.digest)) return undefined;
  }
  if (gate.authorize !== undefined) {
    let allowed = false;
    try {
      allowed = (await gate.authorize(req)) === true;
    } catch {
      allowed = false;
    }
    return allowed ? undefined : new ApiError('Forbidden');
  }
  const challenge =
    presented === undefined
      ? 'Bearer realm="switchyard"'
      : 'Bearer realm="switchyard", error="invalid_token"';
  return new ApiError('Unauthorized', undefined, { 'www-authenticate': challenge });
}

/**
 * Whether a browser sent this write from another site's page: `Sec-Fetch-Site` says so,
 * or `Origin` is neither the API's own (`Host`) nor trusted. Requests without either
 * header come from outside a browser (curl, scripts) and are left to `auth`.
 */
function crossSite(req: IncomingMessage, trusted: ReadonlySet<string>): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  if (trusted.has(origin.toLowerCase())) return false;
  const host = req.headers.host?.toLowerCase();
  const own = origin.toLowerCase().replace(/^https?:\/\//, '');
  // 'null' (a sandboxed frame, a file: page) and any other scheme are never the API's own.
  return host === undefined || !/^https?:\/\//i.test(origin) || own !== host;
}

/** The host name of a `Host` header, lowercased, without the port (IPv6 keeps its brackets). */
function hostName(host: string | undefined): string {
  if (host === undefined) return '';
  const h = host.toLowerCase();
  return h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1) : h.replace(/:\d*$/, '');
}

function parseAuth(
  value: unknown,
): { digest: Buffer | undefined; authorize: AdminAuth['authorize'] } | undefined {
  if (value === undefined) return undefined;
  const a = objectAt('auth', value);
  knownKeys('auth', a, ['token', 'authorize']);
  if (a.token === undefined && a.authorize === undefined) {
    throw new InvalidOptionError('auth', 'a token or an authorize hook', value);
  }
  const token = a.token === undefined ? undefined : stringAt('auth.token', a.token);
  if (a.authorize !== undefined && typeof a.authorize !== 'function') {
    throw new InvalidOptionError('auth.authorize', 'a function', a.authorize);
  }
  return {
    digest: token === undefined ? undefined : sha256(token),
    authorize: a.authorize as AdminAuth['authorize'],
  };
}

/** A list of strings, or the error naming the option. */
function stringsAt(path: string, v: unknown): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x !== '')) {
    throw new InvalidOptionError(path, 'a list of non-empty strings', v);
  }
  return v as string[];
}

/** An origin as browsers send it (`scheme://host[:port]`, lowercase), or the error naming it. */
function originAt(origin: string, i: number): string {
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    throw new InvalidOptionError(`trustedOrigins[${i}]`, 'an origin like "https://ops.example.com"', origin);
  }
  if (u.origin === 'null' || u.origin !== origin.toLowerCase().replace(/\/$/, '')) {
    throw new InvalidOptionError(`trustedOrigins[${i}]`, 'an origin like "https://ops.example.com"', origin);
  }
  return u.origin;
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
