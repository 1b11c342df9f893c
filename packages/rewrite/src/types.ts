/**
 * The public shapes of @switchyard/rewrite: the rules (a plain, JSON-friendly description
 * that the nginx parser, the builder and the Apache converter all produce), the request an
 * engine evaluates, and what it decides.
 */

/** Where a directive was written in nginx text (1-based). */
export interface SourcePosition {
  line: number;
  column: number;
}

/** The flag of a `rewrite` directive. */
export type RewriteFlag = 'last' | 'break' | 'redirect' | 'permanent';

/** `if (…)`: a variable's truthiness, a comparison, or a regex test. */
export type RewriteCondition =
  | { variable: string }
  | { variable: string; operator: '=' | '!='; value: string }
  | { variable: string; operator: '~' | '~*' | '!~' | '!~*'; regex: string };

/** One rewrite-module directive. Variables are written with their `$`, as in nginx. */
export type RewriteRule =
  | { type: 'rewrite'; regex: string; replacement: string; flag?: RewriteFlag; at?: SourcePosition }
  | {
      type: 'return';
      /** The status; absent for `return URL` (302). */
      code?: number;
      /** The body text, or the URL of a redirect. */
      text?: string;
      at?: SourcePosition;
    }
  | { type: 'set'; variable: string; value: string; at?: SourcePosition }
  | { type: 'break'; at?: SourcePosition }
  | {
      type: 'if';
      condition: RewriteCondition;
      rules: RewriteRule[];
      /** `proxy_pass` inside an `if` in a location (without a URI part). */
      proxyPass?: string;
      at?: SourcePosition;
    };

/** A location modifier: `''` prefix, `=` exact, `^~` prefix that stops the regex search, `~`/`~*` regex. */
export type LocationModifier = '' | '=' | '^~' | '~' | '~*';

/** A `location` block. */
export interface RewriteLocation {
  modifier: LocationModifier;
  /** The prefix, exact path or regex, as written. */
  path: string;
  rules: RewriteRule[];
  /** The location's `proxy_pass` URL, as written. */
  proxyPass?: string;
  at?: SourcePosition;
}

/** The rules of one nginx `server {}` block. */
export interface RewriteConfig {
  /** Server-level directives, in order. */
  rules: RewriteRule[];
  /** Locations, in the order written. */
  locations: RewriteLocation[];
}

/** The request an engine evaluates. Strings may be Node's latin1 byte strings or Unicode. */
export interface RewriteRequest {
  /** @default 'GET' */
  method?: string;
  /** The request-target as received (`req.url`): path and query, or an absolute URL. */
  uri: string;
  /**
   * Request headers; names in any case. A list keeps each header line: nginx 1.22 reads
   * the first line of a repeated header (pass Node's `req.headersDistinct` for that).
   */
  headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** @default 'http' */
  scheme?: 'http' | 'https';
  /** The port the server listens on (`$server_port`). @default 80 (443 for https) */
  port?: number;
  /** The client address (`$remote_addr`). @default '' */
  remoteAddr?: string;
  /** The server address, used for redirects when the request has no Host. @default 'localhost' */
  serverAddr?: string;
}

/** Send the request on: the URI to send upstream and the location that matched. */
export interface RewritePass {
  action: 'pass';
  /**
   * The request-target to send upstream, escaped as nginx's proxy escapes it (a byte
   * string: bytes above 0x7f stay raw only where nginx leaves them raw).
   */
  uri: string;
  /** The matched location, as written after `location` (`/api/`, `= /`, `~* \.jpg$`). */
  location?: string;
  /** The scheme and authority of the location's `proxy_pass` (`http://127.0.0.1:9211`). */
  target?: string;
}

/** Answer with a redirect (`rewrite … redirect|permanent`, `return 3xx URL`, a missing slash). */
export interface RewriteRedirect {
  action: 'redirect';
  /** The redirect status. */
  status: 301 | 302 | 303 | 307 | 308;
  /** The `Location` header, made absolute as nginx does (a byte string). */
  location: string;
}

/** Answer directly (`return code [text]`); 444 closes the connection. */
export interface RewriteReturn {
  action: 'return';
  /** The status code. */
  status: number;
  /**
   * The body text (UTF-8 decoded). Absent when nginx would send its own error page for
   * the status, and for HEAD requests.
   */
  body?: string;
}

/** What evaluating the rules decided for one request. */
export type RewriteResult = RewritePass | RewriteRedirect | RewriteReturn;

/**
 * The one method a proxy needs from a rewrite engine. `@switchyard/core` declares the same
 * shape; any object with this method plugs in, {@link RewriteEngine} among them. It never
 * throws: a request nginx would refuse comes back as a `return` with status 400 or 500.
 *
 * @example
 * ```ts
 * const r: Rewriter = compileNginx(text);
 * const d = r.evaluate({ method: req.method, uri: req.url, headers: req.headersDistinct });
 * if (d.action === 'pass') forward(d.target, d.uri);
 * ```
 */
export interface Rewriter {
  evaluate(request: RewriteRequest): RewriteResult;
}
