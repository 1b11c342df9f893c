/**
 * nginx works on bytes. This package keeps every request string as a *byte string*: one
 * UTF-16 code unit per byte (0–255), exactly what Node gives for `req.url` and header
 * values (latin1). Configuration text is Unicode and is UTF-8 encoded into byte strings
 * when compiled, as nginx reads its configuration file. Regexes then see the same bytes
 * PCRE sees in nginx (a `.` matches one byte of `é`, not the character).
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: byte-range check
const NON_BYTE = /[^\u0000-\u00ff]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII check
const NON_ASCII = /[^\u0000-\u007f]/;

/** UTF-8 encodes Unicode text into a byte string. */
export function utf8Bytes(text: string): string {
  return NON_ASCII.test(text) ? Buffer.from(text, 'utf8').toString('latin1') : text;
}

/**
 * A request string as bytes: unchanged when it already is a byte string (Node's latin1
 * `req.url`, header values), UTF-8 encoded when it holds characters above U+00FF.
 */
export function requestBytes(value: string): string {
  return NON_BYTE.test(value) ? Buffer.from(value, 'utf8').toString('latin1') : value;
}

/** Lower-cases ASCII letters only, as nginx's `ngx_tolower` does. */
export { asciiLower } from '@switchyard/internals';

/** Decodes a byte string as UTF-8 text (a `return` body for people to read). */
export function bytesToText(bytes: string): string {
  return NON_ASCII.test(bytes) ? Buffer.from(bytes, 'latin1').toString('utf8') : bytes;
}

const HEX = '0123456789ABCDEF';

/** A 256-entry table: true where the byte is escaped. */
type EscapeTable = readonly boolean[];

function table(extra: string): EscapeTable {
  const t: boolean[] = [];
  for (let c = 0; c < 256; c++) {
    t.push(c <= 0x20 || c >= 0x7f || extra.includes(String.fromCharCode(c)));
  }
  return t;
}

/**
 * nginx's `NGX_ESCAPE_URI` table (nginx ≥ 1.21.1): controls, space, `"`, `#`, `%`, `<`, `>`,
 * `?`, `\`, `^`, `` ` ``, `{`, `|`, `}` and bytes ≥ 0x7f.
 * @see src/core/ngx_string.c ngx_escape_uri
 */
export const ESCAPE_URI: EscapeTable = table('"#%<>?\\^`{|}');

/** nginx's `NGX_ESCAPE_ARGS` table: the URI table plus `&`, `+` and `;`. */
export const ESCAPE_ARGS: EscapeTable = table('"#%&+;<>?\\^`{|}');

/** Percent-encodes the bytes the table marks, with upper-case hex, as ngx_escape_uri does. */
export function escapeBytes(bytes: string, marked: EscapeTable): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    if (marked[c]) {
      out += `${bytes.slice(from, i)}%${HEX[c >> 4]}${HEX[c & 15]}`;
      from = i + 1;
    }
  }
  return from === 0 ? bytes : out + bytes.slice(from);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * nginx's `ngx_unescape_uri(…, NGX_UNESCAPE_REDIRECT)`, applied to a rewritten redirect:
 * up to the first `?` (literal or `%3F`), `%XX` is decoded when the byte is above `%` and
 * below 0x7f and kept encoded otherwise; the rest is copied as is. A malformed escape is
 * dropped the way nginx drops it.
 * @see src/core/ngx_string.c ngx_unescape_uri
 */
export function unescapeRedirect(bytes: string): string {
  let out = '';
  let state = 0; // 0 usual, 1 after %, 2 after %X
  let decoded = 0;
  for (let i = 0; i < bytes.length; i++) {
    const ch = bytes.charCodeAt(i);
    if (state === 0) {
      if (ch === 0x3f) return out + bytes.slice(i);
      if (ch === 0x25) state = 1;
      else out += bytes[i];
      continue;
    }
    if (state === 1) {
      const v = hexValue(ch);
      if (v >= 0) {
        decoded = v;
        state = 2;
      } else {
        // nginx drops the "%" and keeps the character that followed it.
        state = 0;
        out += bytes[i];
      }
      continue;
    }
    state = 0;
    const v = hexValue(ch);
    if (v < 0) continue; // "%X" and this byte are dropped
    const c = decoded * 16 + v;
    const isDigit = ch >= 0x30 && ch <= 0x39;
    if (!isDigit && c === 0x3f) return `${out}?${bytes.slice(i + 1)}`;
    out += c > 0x25 && c < 0x7f ? String.fromCharCode(c) : `%${bytes[i - 1]}${bytes[i]}`;
  }
  return out;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the bytes that must not reach a header
const HEADER_UNSAFE = /[\u0000-\u001f\u007f]/g;

/**
 * Escapes control bytes (CR, LF and the rest of 0x00–0x1f, 0x7f) as `%XX` so that a value
 * can go into a response header or a request line. nginx copies them raw; switchyard does
 * not let a capture split a header.
 */
export function escapeControls(bytes: string): string {
  return bytes.replace(HEADER_UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return `%${HEX[n >> 4]}${HEX[n & 15]}`;
  });
}
