/**
 * The request-target as nginx 1.22 reads it: the flags its request-line parser sets
 * (`complex_uri`, `quoted_uri`, `plus_in_uri`), the decoded and normalised `$uri`
 * (`ngx_http_parse_complex_uri` with `merge_slashes on`), `$args`, and the Host header check.
 * All strings are byte strings (see ../bytes).
 * @see src/http/ngx_http_parse.c ngx_http_parse_request_line, ngx_http_parse_complex_uri
 */

import { asciiLower } from '../bytes/index.js';

/** A request-target nginx accepted. */
export interface ParsedTarget {
  /** `$uri`: decoded, `//` merged, `.` and `..` resolved. */
  uri: string;
  /** `$args`: the raw query, without `?`. */
  args: string;
  /** `$request_uri`: the target as received, from the path on. */
  unparsed: string;
  /** The path held a `%` escape (`r->quoted_uri`). */
  quoted: boolean;
  /** The path held a `+`, literal or `%2B` (`r->plus_in_uri`). */
  plus: boolean;
  /** The host of an absolute-form target (`GET http://host/path`), lower-cased. */
  host: string | undefined;
}

const SLASH = 0x2f;
const DOT = 0x2e;
const PERCENT = 0x25;
const QUESTION = 0x3f;
const HASH = 0x23;
const PLUS = 0x2b;

/** Bytes the request-line parser treats specially after a path segment starts. */
function usual(c: number): boolean {
  return !(
    c <= 0x20 ||
    c === 0x7f ||
    c === HASH ||
    c === PERCENT ||
    c === PLUS ||
    c === DOT ||
    c === SLASH ||
    c === QUESTION
  );
}

const ABSOLUTE =
  /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(\[[0-9A-Za-z:._~!$&'()*+,;=-]*\]|[A-Za-z0-9._-]*)(:[0-9]*)?(?=\/|$)/;

/**
 * Parses a request-target; `undefined` means nginx answers 400 Bad Request (bad `%`
 * escape, `%00`, a control byte or space, `..` above the root, not a path).
 */
export function parseTarget(target: string): ParsedTarget | undefined {
  let host: string | undefined;
  let path = target;
  if (target.charCodeAt(0) !== SLASH) {
    const m = ABSOLUTE.exec(target);
    if (m === null) return undefined;
    host = validateHost(m[1] as string);
    if (host === undefined) return undefined;
    path = target.slice(m[0].length) || '/';
  }

  // The request-line parser: flags and where the arguments start.
  let complex = false;
  let quoted = false;
  let plus = false;
  let argsStart = -1;
  let state = 0; // 0 after slash, 1 in a segment, 2 after "?"/"%"/… (no more flags)
  for (let i = 1; i < path.length; i++) {
    const ch = path.charCodeAt(i);
    if (ch <= 0x20 || ch === 0x7f) return undefined;
    if (state === 2) {
      if (ch === HASH) complex = true;
      continue;
    }
    if (state === 0 && (ch === DOT || ch === SLASH)) {
      complex = true;
      state = 2;
    } else if (ch === SLASH) {
      state = 0;
    } else if (ch === PERCENT) {
      quoted = true;
      state = 2;
    } else if (ch === QUESTION) {
      argsStart = i + 1;
      state = 2;
    } else if (ch === HASH) {
      complex = true;
      state = 2;
    } else if (ch === PLUS) {
      plus = true;
    } else if (state === 0 || usual(ch)) {
      state = 1;
    }
  }

  if (!complex && !quoted) {
    return {
      uri: argsStart < 0 ? path : path.slice(0, argsStart - 1),
      args: argsStart < 0 ? '' : path.slice(argsStart),
      unparsed: path,
      quoted,
      plus,
      host,
    };
  }
  const c = parseComplex(path);
  if (c === undefined) return undefined;
  return { uri: c.uri, args: c.args, unparsed: path, quoted: quoted || c.quoted, plus: plus || c.plus, host };
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * `ngx_http_parse_complex_uri(r, merge_slashes=1)`, re-expressed: decodes `%XX` (a decoded
 * byte is read again in the state the `%` interrupted, so `%2F` is a slash and `/%2e%2e/`
 * is a parent segment, while `%25`, `%23` and `%3F` stay literal bytes), merges slashes and
 * resolves dot segments.
 */
function parseComplex(s: string): { uri: string; args: string; quoted: boolean; plus: boolean } | undefined {
  const out: number[] = [];
  let quoted = false;
  let plus = false;
  let state = 0; // 0 usual, 1 slash, 2 dot, 3 dot-dot, 4 quoted, 5 quoted second
  let quotedState = 0;
  let decoded = 0;
  let argsStart = -1;
  const len = s.length;
  let p = 0;
  let ch = s.charCodeAt(p++);

  // Drops the last "/.." segment and the one before it; false when it climbs above root.
  const up = (): boolean => {
    let k = out.length - 4;
    for (;;) {
      if (k < 0) return false;
      if (out[k] === SLASH) {
        out.length = k + 1;
        return true;
      }
      k--;
    }
  };

  loop: while (p <= len) {
    switch (state) {
      case 0: // usual
        if (usual(ch)) {
          out.push(ch);
        } else if (ch === SLASH) {
          state = 1;
          out.push(ch);
        } else if (ch === PERCENT) {
          quotedState = state;
          state = 4;
        } else if (ch === QUESTION) {
          argsStart = p;
          break loop;
        } else if (ch === HASH) {
          break loop;
        } else {
          if (ch === PLUS) plus = true;
          out.push(ch);
        }
        ch = s.charCodeAt(p++);
        break;
      case 1: // after slash
        if (usual(ch)) {
          state = 0;
          out.push(ch);
        } else if (ch === SLASH) {
          // merge_slashes: drop it
        } else if (ch === DOT) {
          state = 2;
          out.push(ch);
        } else if (ch === PERCENT) {
          quotedState = state;
          state = 4;
        } else if (ch === QUESTION) {
          argsStart = p;
          break loop;
        } else if (ch === HASH) {
          break loop;
        } else {
          if (ch === PLUS) plus = true;
          state = 0;
          out.push(ch);
        }
        ch = s.charCodeAt(p++);
        break;
      case 2: // "/."
        if (usual(ch)) {
          state = 0;
          out.push(ch);
        } else if (ch === SLASH) {
          state = 1;
          out.pop();
        } else if (ch === DOT) {
          state = 3;
          out.push(ch);
        } else if (ch === PERCENT) {
          quotedState = state;
          state = 4;
        } else if (ch === QUESTION) {
          out.pop();
          argsStart = p;
          break loop;
        } else if (ch === HASH) {
          out.pop();
          break loop;
        } else {
          if (ch === PLUS) plus = true;
          state = 0;
          out.push(ch);
        }
        ch = s.charCodeAt(p++);
        break;
      case 3: // "/.."
        if (usual(ch)) {
          state = 0;
          out.push(ch);
        } else if (ch === SLASH || ch === QUESTION || ch === HASH) {
          if (!up()) return undefined;
          if (ch === QUESTION) {
            argsStart = p;
            break loop;
          }
          if (ch === HASH) break loop;
          state = 1;
        } else if (ch === PERCENT) {
          quotedState = state;
          state = 4;
        } else {
          if (ch === PLUS) plus = true;
          state = 0;
          out.push(ch);
        }
        ch = s.charCodeAt(p++);
        break;
      case 4: {
        quoted = true;
        const v = hexValue(ch);
        if (v < 0) return undefined;
        decoded = v;
        state = 5;
        ch = s.charCodeAt(p++);
        break;
      }
      default: {
        const v = hexValue(ch);
        if (v < 0) return undefined;
        const isDigit = ch >= 0x30 && ch <= 0x39;
        const c = decoded * 16 + v;
        if (isDigit) {
          if (c === PERCENT || c === HASH) {
            state = 0;
            out.push(c);
            ch = s.charCodeAt(p++);
            break;
          }
          if (c === 0) return undefined;
        } else {
          if (c === QUESTION) {
            state = 0;
            out.push(c);
            ch = s.charCodeAt(p++);
            break;
          }
          if (c === PLUS) plus = true;
        }
        // The decoded byte is read again in the state the "%" interrupted.
        state = quotedState;
        ch = c;
      }
    }
  }

  if (argsStart < 0 && p > len) {
    // The whole target was read: finish a pending escape or dot segment.
    if (state === 4 || state === 5) return undefined;
    if (state === 2) out.pop();
    else if (state === 3 && !up()) return undefined;
  }

  let args = '';
  if (argsStart >= 0) {
    const hash = s.indexOf('#', argsStart);
    args = s.slice(argsStart, hash < 0 ? len : hash);
  }
  return { uri: String.fromCharCode(...out), args, quoted, plus };
}

/**
 * nginx's Host check (`ngx_http_validate_host`): lower-cases, drops the port and one
 * trailing dot; `undefined` (400) for `..`, `/`, a control byte or space, or an empty host.
 */
export function validateHost(value: string): string | undefined {
  let dotPos = -2;
  let hostLen = value.length;
  let state = 0; // 0 usual, 1 IP literal, 2 rest (port)
  for (let i = 0; i < value.length; i++) {
    const ch = value.charCodeAt(i);
    if (ch === DOT) {
      if (dotPos === i - 1) return undefined;
      dotPos = i;
    } else if (ch === 0x3a) {
      if (state === 0) {
        hostLen = i;
        state = 2;
      }
    } else if (ch === 0x5b) {
      if (i === 0) state = 1;
    } else if (ch === 0x5d) {
      if (state === 1) {
        hostLen = i + 1;
        state = 2;
      }
    } else if (ch === SLASH || ch <= 0x20 || ch === 0x7f) {
      return undefined;
    }
  }
  if (dotPos === hostLen - 1) hostLen--;
  if (hostLen <= 0) return undefined;
  return asciiLower(value.slice(0, hostLen));
}
