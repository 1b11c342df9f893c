/**
 * The public shapes of @switchyard/rewrite: the rules (a plain, JSON-friendly description
 * that the nginx parser, the builder and the Apache converter all produce), the request an
 * engine evaluates, and what it decides.
 */

/** Where a directive was written in nginx text (1-based). */
export interface SourcePosition {
  /** The line, from 1. */
  line: number;
  /** The column, from 1. */
  column: number;
}

/** The flag of a `rewrite` directive. */
export type RewriteFlag = 'last' | 'break' | 'redirect' | 'permanent';

/** `if (…)`: a variable's truthiness, a comparison, or a regex test. */
export type RewriteCondition =
  /** `if ($var)`: true unless the value is empty or `0`. */
  | {
      /** The variable tested, with its `$`. */
      variable: string;
    }
  /** `if ($var = value)`, `if ($var != value)`: compares strings. */
  | {
      /** The variable tested, with its `$`. */
      variable: string;
      /** `=` equal, `!=` not equal. */
      operator: '=' | '!=';
      /** The string to compare with; may contain variables. */
      value: string;
    }
  /** `if ($var ~ regex)`: a PCRE test, whose captures `$1`… the block can use. */
  | {
      /** The variable tested, with its `$`. */
      variable: string;
      /** `~` matches, `~*` matches ignoring case, `!~` / `!~*` does not match. */
      operator: '~' | '~*' | '!~' | '!~*';
      /** The PCRE pattern, as written in nginx. */
      regex: string;
    };

/** One rewrite-module directive. Variables are written with their `$`, as in nginx. */
export type RewriteRule =
  /** `rewrite regex replacement [flag];` */
  | {
      /** Discriminant: the `rewrite` directive. */
      type: 'rewrite';
      /** The PCRE pattern tested on `$uri`. */
      regex: string;
      /**
       * The new URI, with `$1`… and variables. One that starts with `http://`, `https://` or
       * `$scheme` redirects; a trailing `?` drops the original arguments.
       */
      replacement: string;
      /**
       * What to do after the rewrite; without one, the following directives run, then the
       * locations are searched with the new URI.
       */
      flag?: RewriteFlag;
      /** Where the directive was written, when parsed from nginx text. */
      at?: SourcePosition;
    }
  /** `return code [text];` or `return URL;` */
  | {
      /** Discriminant: the `return` directive. */
      type: 'return';
      /** The status; absent for `return URL` (302). */
      code?: number;
      /** The body text, or the URL of a redirect. */
      text?: string;
      /** Where the directive was written, when parsed from nginx text. */
      at?: SourcePosition;
    }
  /** `set $variable value;` */
  | {
      /** Discriminant: the `set` directive. */
      type: 'set';
      /** The variable to set, with its `$`; `$args` replaces the query string. */
      variable: string;
      /** The value; may contain variables and captures. */
      value: string;
      /** Where the directive was written, when parsed from nginx text. */
      at?: SourcePosition;
    }
  /** `break;`: stops processing rewrite directives; the request stays in its location. */
  | {
      /** Discriminant: the `break` directive. */
      type: 'break';
      /** Where the directive was written, when parsed from nginx text. */
      at?: SourcePosition;
    }
  /** `if (condition) { … }` */
  | {
      /** Discriminant: the `if` block. */
      type: 'if';
      /** The test. */
      condition: RewriteCondition;
      /** The directives run when the condition holds; an `if` may not contain another `if`. */
      rules: RewriteRule[];
      /** `proxy_pass` inside an `if` in a location (without a URI part). */
      proxyPass?: string;
      /**
       * `add_header` inside an `if` in a location: when the `if` matches, these replace the
       * location's list (absent or empty: the location's list applies).
       */
      addHeaders?: RewriteAddHeader[];
      /** Where the block was written, when parsed from nginx text. */
      at?: SourcePosition;
    };

/**
 * `add_header name value [always];` as written.
 * @see https://nginx.org/en/docs/http/ngx_http_headers_module.html#add_header
 */
export interface RewriteAddHeader {
  /** The response header's name, as it is sent. */
  name: string;
  /** The value; may contain variables and captures. An empty result adds nothing. */
  value: string;
  /**
   * Add it whatever the status; without it, only to 200, 201, 204, 206, 301, 302, 303,
   * 304, 307 and 308 responses. @default false
   */
  always?: boolean;
  /** Where the directive was written, when parsed from nginx text. */
  at?: SourcePosition;
}

/**
 * `proxy_set_header name value;` as written.
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_set_header
 */
export interface RewriteProxySetHeader {
  /** The request header's name, as it is sent upstream. */
  name: string;
  /** The value; may contain variables and captures. An empty result removes the header. */
  value: string;
  /** Where the directive was written, when parsed from nginx text. */
  at?: SourcePosition;
}

/**
 * The header directives of one level (`server`, `location`). Each list is inherited from
 * the outer level only when it is absent or empty here, independently of the others: a
 * location with one `add_header` of its own loses every server-level `add_header`, and
 * keeps the server's `proxy_set_header` lines if it has none of its own.
 */
export interface RewriteHeaderDirectives {
  /** `add_header` directives, in order. */
  addHeaders?: RewriteAddHeader[];
  /** `proxy_set_header` directives, in order. */
  proxySetHeaders?: RewriteProxySetHeader[];
  /**
   * `proxy_hide_header name;`: upstream response headers not passed to the client.
   * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_hide_header
   */
  proxyHideHeaders?: string[];
  /**
   * `proxy_pass_header name;`: upstream response headers that nginx hides by default
   * (`Date`, `Server`, `X-Pad`, `X-Accel-…`) passed to the client.
   * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_pass_header
   */
  proxyPassHeaders?: string[];
}

/** A location modifier: `''` prefix, `=` exact, `^~` prefix that stops the regex search, `~`/`~*` regex. */
export type LocationModifier = '' | '=' | '^~' | '~' | '~*';

/** A `location` block. */
export interface RewriteLocation extends RewriteHeaderDirectives {
  /** How `path` matches `$uri`. */
  modifier: LocationModifier;
  /** The prefix, exact path or regex, as written. */
  path: string;
  /** The location's rewrite directives, in order. */
  rules: RewriteRule[];
  /** The location's `proxy_pass` URL, as written. */
  proxyPass?: string;
  /** Where the block was written, when parsed from nginx text. */
  at?: SourcePosition;
}

/** The rules of one nginx `server {}` block; the header directives are the server level's. */
export interface RewriteConfig extends RewriteHeaderDirectives {
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
  /** Discriminant: proxy the request. */
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
  /**
   * `add_header`: headers to add to the response the client gets, once its status is
   * known: an entry without `always` only to 200, 201, 204, 206, 301, 302, 303, 304, 307
   * and 308. Absent when none apply here.
   */
  addHeaders?: readonly RewriteResponseHeader[];
  /**
   * `proxy_set_header`: request headers to send upstream in place of the client's lines
   * of the same name (any case); an entry whose `value` is `''` only removes them. A name
   * listed twice is sent twice. Absent when none apply here.
   */
  setHeaders?: readonly RewriteUpstreamHeader[];
  /**
   * `proxy_hide_header`: upstream response headers not to pass to the client, lower-cased.
   * Absent when none apply here.
   */
  hideHeaders?: readonly string[];
  /**
   * `proxy_pass_header`: headers nginx hides from upstream responses by default (`Date`,
   * `Server`, `X-Pad`, `X-Accel-…`) to pass, lower-cased. Absent when none apply here.
   */
  passHeaders?: readonly string[];
}

/**
 * A response header from `add_header`, its value evaluated for this request (a byte
 * string; control bytes escaped as `%XX`).
 */
export interface RewriteResponseHeader {
  /** The name, as written. */
  readonly name: string;
  /** The value; never empty unless `replace` is set. */
  readonly value: string;
  /** `always`: add it whatever the status. */
  readonly always: boolean;
  /**
   * Set for `Last-Modified` and `ETag`: nginx replaces the response's own header instead of
   * adding a second one, and an empty `value` removes it.
   */
  readonly replace: boolean;
}

/**
 * A request header from `proxy_set_header`, its value evaluated for this request (a byte
 * string; control bytes escaped as `%XX`).
 */
export interface RewriteUpstreamHeader {
  /** The name, as written. */
  readonly name: string;
  /** The value; `''`: do not send this header (nor the client's lines of that name). */
  readonly value: string;
}

/** Answer with a redirect (`rewrite … redirect|permanent`, `return 3xx URL`, a missing slash). */
export interface RewriteRedirect {
  /** Discriminant: answer with a redirect. */
  action: 'redirect';
  /** The redirect status. */
  status: 301 | 302 | 303 | 307 | 308;
  /** The `Location` header, made absolute as nginx does (a byte string). */
  location: string;
  /** `add_header`: headers to add to the redirect (every status here takes them all). */
  addHeaders?: readonly RewriteResponseHeader[];
}

/** Answer directly (`return code [text]`); 444 closes the connection. */
export interface RewriteReturn {
  /** Discriminant: answer with this status. */
  action: 'return';
  /** The status code. */
  status: number;
  /**
   * The body text (UTF-8 decoded). Absent when nginx would send its own error page for
   * the status, and for HEAD requests.
   */
  body?: string;
  /**
   * `add_header`: headers to add to this answer, already chosen for its status (entries
   * without `always` only for 200, 201, 204, 206, 304). Absent when none apply, and for 444.
   */
  addHeaders?: readonly RewriteResponseHeader[];
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
  /** Decides what to do with one request: pass it on, redirect, or answer directly. */
  evaluate(request: RewriteRequest): RewriteResult;
}
