import { parse as parseCookie } from 'cookie';
import type { RequestInfo, ResponseHead } from '../types.js';

/**
 * Where a value comes from in a request: a cookie, a query parameter, a header, or a
 * function of the request (nginx: a variable such as `$cookie_name` or `$arg_name`).
 */
export type RequestSource =
  | {
      /** A cookie's name. */
      cookie: string;
    }
  | {
      /** A query parameter's name. */
      query: string;
    }
  | {
      /** A header's name. */
      header: string;
    }
  | ((req: RequestInfo) => string | undefined);

/**
 * Where a value comes from in a response: a cookie the upstream sets, a header, or a
 * function of the response head (nginx: `$upstream_cookie_name`, `$upstream_http_name`).
 */
export type ResponseSource =
  | {
      /** The name of a cookie the upstream sets. */
      cookie: string;
    }
  | {
      /** A response header's name. */
      header: string;
    }
  | ((res: ResponseHead) => string | undefined);

/** URL-decodes a cookie value the way the cookie library does (kept as is when malformed). */
function decodeCookieValue(raw: string): string {
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The value of one cookie in a Cookie header, or `undefined`. */
export function cookieValue(header: string | string[] | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  const text = Array.isArray(header) ? header.join('; ') : header;
  if (!text.includes(name)) return undefined;
  const value = parseCookie(text)[name];
  return value === '' ? undefined : value;
}

/** Reads a source from the request; empty values count as absent. */
export function readRequest(source: RequestSource, req: RequestInfo): string | undefined {
  let value: string | undefined;
  if (typeof source === 'function') value = source(req);
  else if ('cookie' in source) value = cookieValue(req.headers.cookie, source.cookie);
  else if ('query' in source) {
    const q = req.url.indexOf('?');
    value = q === -1 ? undefined : (new URLSearchParams(req.url.slice(q + 1)).get(source.query) ?? undefined);
  } else {
    const h = req.headers[source.header.toLowerCase()];
    value = Array.isArray(h) ? h[0] : h;
  }
  return value === '' ? undefined : value;
}

/** Reads a source from the response head; for a cookie, the value the upstream sets. */
export function readResponse(source: ResponseSource, res: ResponseHead): string | undefined {
  if (typeof source === 'function') return source(res) || undefined;
  if ('header' in source) return res.getHeader(source.header) || undefined;
  const all = res.getHeaders('set-cookie');
  for (const line of all) {
    const eq = line.indexOf('=');
    if (eq === -1 || line.slice(0, eq).trim() !== source.cookie) continue;
    const semi = line.indexOf(';', eq);
    const raw = line.slice(eq + 1, semi === -1 ? undefined : semi).trim();
    // Decode as the cookie library decodes the request's Cookie, so both sides agree.
    return raw === '' ? undefined : decodeCookieValue(raw);
  }
  return undefined;
}

/** Validates a source given as an option; `path` names the option in the error. */
export function isRequestSource(v: unknown): v is RequestSource {
  if (typeof v === 'function') return true;
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  return (
    keys.length === 1 &&
    ['cookie', 'query', 'header'].includes(keys[0] as string) &&
    typeof o[keys[0] as string] === 'string' &&
    (o[keys[0] as string] as string).length > 0
  );
}

export function isResponseSource(v: unknown): v is ResponseSource {
  return isRequestSource(v) && (typeof v === 'function' || !('query' in v));
}
