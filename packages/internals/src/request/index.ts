// What several middleware read from Node's request the same way: nginx's `$scheme`, the
// request-target before a router stripped its mount path, and `$cookie_NAME`.

/** `https` on a TLS socket, else `http` (nginx `$scheme`). */
export function schemeOf(req: { readonly socket?: object | null }): 'http' | 'https' {
  return (req.socket as { encrypted?: boolean } | null | undefined)?.encrypted === true ? 'https' : 'http';
}

/**
 * The request-target as the client sent it: Express's `originalUrl` when a router
 * stripped a mount path from `url`, else `url` (`/` when Node has none).
 */
export function originalUrlOf(req: { readonly url?: string | undefined }): string {
  return (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
}

/** The path of a request-target: all before the first `?` (the target when none). */
export function pathOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? target : target.slice(0, q);
}

/** nginx's `$args` of a request-target: all after the first `?` (`''` when none). */
export function argsOf(target: string): string {
  const q = target.indexOf('?');
  return q === -1 ? '' : target.slice(q + 1);
}

/** Lower-cases ASCII letters only, as nginx's `ngx_tolower` does (lengths never change). */
export function asciiLower(bytes: string): string {
  return bytes.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * nginx's `$cookie_NAME`: the value of the first cookie named `name` (matched without
 * ASCII case) across every Cookie line, as given (not decoded); `undefined` when none.
 * @see ngx_http_parse_multi_header_lines (nginx 1.22)
 */
export function cookieOf(lines: string | readonly string[] | undefined, name: string): string | undefined {
  if (lines === undefined) return undefined;
  const key = asciiLower(name);
  for (const line of typeof lines === 'string' ? [lines] : lines) {
    const value = cookieInLine(line, key);
    if (value !== undefined) return value;
  }
  return undefined;
}

function cookieInLine(line: string, name: string): string | undefined {
  const lower = asciiLower(line);
  const end = line.length;
  let p = 0;
  while (p < end) {
    if (lower.startsWith(name, p)) {
      p += name.length;
      while (p < end && line[p] === ' ') p++;
      if (p < end && line[p++] === '=') {
        while (p < end && line[p] === ' ') p++;
        let last = p;
        while (last < end && line[last] !== ';') last++;
        return line.slice(p, last);
      }
    }
    // Skip to the next cookie, from where the name check stopped.
    while (p < end) {
      const ch = line[p++];
      if (ch === ';' || ch === ',') break;
    }
    while (p < end && line[p] === ' ') p++;
  }
  return undefined;
}

/**
 * nginx's `$arg_NAME` (ngx_http_arg): the value of the first `NAME=` argument in `args`
 * (the query string without `?`), the name matched without case; a bare `NAME` with no
 * `=` is skipped. `undefined` when there is none.
 */
export function argOf(args: string, name: string): string | undefined {
  if (args.length === 0) return undefined;
  const lower = asciiLower(args);
  const key = asciiLower(name);
  for (let from = 0; ; ) {
    const p = lower.indexOf(key, from);
    if (p < 0 || p + key.length >= args.length) return undefined;
    if ((p === 0 || args[p - 1] === '&') && args[p + key.length] === '=') {
      const end = args.indexOf('&', p);
      return args.slice(p + key.length + 1, end < 0 ? args.length : end);
    }
    from = p + 1;
  }
}
