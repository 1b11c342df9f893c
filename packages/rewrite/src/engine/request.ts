import { asciiLower, requestBytes } from '../bytes/index.js';
import type { CompiledRegex } from '../pcre/regex.js';
import type { RewriteRequest } from '../types.js';
import { type ParsedTarget, validateHost } from '../uri/index.js';
import type { CRule, Loc } from './compile.js';
import type { TraceStep } from './trace.js';

/** nginx's NGX_HTTP_MAX_URI_CHANGES + 1: ten URI changes work, the eleventh is a 500. */
export const URI_CHANGES = 11;

/**
 * The state of one request while the rules run: nginx's `ngx_http_request_t` fields the
 * rewrite module and the proxy read and write.
 */
export class Req {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  readonly port: number;
  readonly remoteAddr: string;
  readonly serverAddr: string;
  readonly serverName: string;
  /** `$request_uri`. */
  readonly unparsed: string;
  /** `r->headers_in.server`: the validated host of the target or of the Host header. */
  readonly server: string | undefined;
  readonly quoted: boolean;
  readonly plus: boolean;

  uri: string;
  args: string;
  internal = false;
  validUnparsed = true;
  validLocation = true;
  uriChanged = false;
  uriChanges = URI_CHANGES;
  /** The last successful regex match, `$0`…`$9` (`null`: none, `r->ncaptures == 0`). */
  caps: readonly (string | undefined)[] | null = null;
  /** Variables set by `set` and by named captures. */
  vars: Map<string, string> | undefined;
  loc: Loc | undefined;
  /**
   * The last `if` that matched in the location: its configuration is the request's
   * (`proxy_pass` and `add_header` of its own, else the location's).
   */
  ifMatched: (CRule & { k: 'if' }) | undefined;
  /** The scheme and authority the request goes to (`$proxy_host`), once decided. */
  proxyOrigin: string | undefined;
  readonly steps: TraceStep[] | undefined;

  private readonly rawHeaders: RewriteRequest['headers'];
  private headerIndex: Map<string, string[]> | undefined;

  constructor(
    request: RewriteRequest,
    target: ParsedTarget,
    server: string | undefined,
    serverName: string,
    steps: TraceStep[] | undefined,
  ) {
    this.method = request.method ?? 'GET';
    this.scheme = request.scheme === 'https' ? 'https' : 'http';
    this.port = request.port ?? (this.scheme === 'https' ? 443 : 80);
    this.remoteAddr = request.remoteAddr ?? '';
    this.serverAddr = request.serverAddr ?? 'localhost';
    this.serverName = serverName;
    this.unparsed = target.unparsed;
    this.uri = target.uri;
    this.args = target.args;
    this.quoted = target.quoted;
    this.plus = target.plus;
    this.server = server;
    this.rawHeaders = request.headers;
    this.steps = steps;
  }

  /**
   * Header lines by nginx variable name (lower case, `-` as `_`). Names with an
   * underscore or other bytes nginx refuses are ignored, as nginx ignores them.
   */
  headerLines(name: string): readonly string[] | undefined {
    if (this.headerIndex === undefined) {
      this.headerIndex = new Map();
      for (const [key, value] of Object.entries(this.rawHeaders ?? {})) {
        if (value === undefined || !/^[A-Za-z0-9-]+$/.test(key)) continue;
        const k = key.toLowerCase().replace(/-/g, '_');
        const lines = typeof value === 'string' ? [value] : value;
        const list = this.headerIndex.get(k) ?? [];
        for (const v of lines) list.push(requestBytes(v));
        this.headerIndex.set(k, list);
      }
    }
    return this.headerIndex.get(name);
  }

  /** `$host`: the target's host, else the Host header's, else `server_name`. */
  host(): string {
    return this.server ?? this.serverName;
  }

  /**
   * Records a trace step. Only while tracing: callers check `steps` first, so that no step
   * is built otherwise.
   */
  note(step: TraceStep): void {
    (this.steps as TraceStep[]).push(step);
  }

  /** Keeps a successful match: `$1`…`$9` and its named captures as variables. */
  matched(regex: CompiledRegex, m: readonly (string | undefined)[]): void {
    this.caps = m;
    for (let i = 1; i < regex.names.length; i++) {
      const name = regex.names[i];
      if (name !== undefined) {
        this.vars ??= new Map();
        this.vars.set(asciiLower(name), m[i] ?? '');
      }
    }
  }
}

/** Reads the Host header as nginx does: `undefined` when absent, `false` when invalid (400). */
export function hostHeader(headers: RewriteRequest['headers']): string | undefined | false {
  if (headers === undefined) return undefined;
  let value: string | readonly string[] | undefined = headers.host;
  if (value === undefined) {
    for (const key of Object.keys(headers)) {
      if (key.length === 4 && key.toLowerCase() === 'host') {
        value = headers[key];
        break;
      }
    }
  }
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    if (value.length === 0) return undefined;
    if (value.length > 1) return false; // "client sent duplicate host header"
    value = value[0] as string;
  }
  return validateHost(requestBytes(value)) ?? false;
}
