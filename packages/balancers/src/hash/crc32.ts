import { crc32 as nativeCrc32 } from 'node:zlib';

/**
 * The IEEE 802.3 CRC-32 tables (reflected polynomial 0xEDB88320) for slicing-by-4:
 * `TABLES[0…255]` is nginx's `ngx_crc32_table256`; `TABLES[256 × t + n]` is the CRC of
 * byte `n` followed by `t` zero bytes, so that four bytes fold in with four independent
 * lookups instead of a chain of four. Signed 32-bit entries keep the arithmetic in int32.
 */
const TABLES = /* @__PURE__ */ (() => {
  const table = new Int32Array(256 * 4);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = table[n] as number;
    for (let t = 1; t < 4; t++) {
      c = (table[c & 0xff] as number) ^ (c >>> 8);
      table[256 * t + n] = c;
    }
  }
  return table;
})();

/** Four bytes at once (slicing-by-4): `word` holds them little-endian, the first in the low byte. */
function step4(crc: number, word: number): number {
  const c = crc ^ word;
  return (
    (TABLES[768 + (c & 0xff)] as number) ^
    (TABLES[512 + ((c >>> 8) & 0xff)] as number) ^
    (TABLES[256 + ((c >>> 16) & 0xff)] as number) ^
    (TABLES[c >>> 24] as number)
  );
}

/**
 * `crc32(bytes, value)` for exactly 4 bytes given as a little-endian 32-bit word: what
 * the ketama ring build hashes for each point (`PREV_HASH`, continuing from the CRC of the
 * server text). Equal to `crc32(new Uint8Array(new Uint32Array([word]).buffer), value)` on
 * any byte order, without allocating or calling into native code.
 *
 * @param word - the 4 bytes, little-endian (the first byte is `word & 0xff`).
 * @param value - the CRC of the bytes before them.
 * @returns the CRC as an unsigned 32-bit integer.
 */
export function crc32Word(word: number, value: number): number {
  return ~step4(~value, word) >>> 0;
}

/**
 * Strings up to this many UTF-16 units are hashed in JavaScript when they are ASCII;
 * longer ones by `node:zlib`. A native call costs about 100 ns before its first byte (the
 * call and the UTF-8 encoding of the string) and then less per byte than the JavaScript
 * tables, which win below roughly 80 characters (bench of keys such as
 * `/api/v1/items/12345?page=3`: 7 chars ≈ 20 ns vs 75 ns, 22 chars ≈ 40 ns vs 125 ns,
 * 176 chars ≈ 375 ns vs 230 ns). Both give the same CRC, so the cut-off only moves time.
 */
export const SHORT_KEY = 64;

/**
 * The CRC of an ASCII string in JavaScript, or -1 when a unit is not ASCII (its UTF-8
 * bytes differ from the units; the caller then hashes it another way).
 */
function crc32Ascii(data: string, value: number): number {
  let c = ~value;
  const n = data.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = data.charCodeAt(i);
    const b = data.charCodeAt(i + 1);
    const d = data.charCodeAt(i + 2);
    const e = data.charCodeAt(i + 3);
    if ((a | b | d | e) >= 0x80) return -1;
    // step4, written out: this loop must not depend on the caller's inlining budget.
    const x = c ^ (a | (b << 8) | (d << 16) | (e << 24));
    c =
      (TABLES[768 + (x & 0xff)] as number) ^
      (TABLES[512 + ((x >>> 8) & 0xff)] as number) ^
      (TABLES[256 + ((x >>> 16) & 0xff)] as number) ^
      (TABLES[x >>> 24] as number);
  }
  for (; i < n; i++) {
    const code = data.charCodeAt(i);
    if (code >= 0x80) return -1;
    c = (TABLES[(c ^ code) & 0xff] as number) ^ (c >>> 8);
  }
  return ~c >>> 0;
}

/**
 * CRC-32 (IEEE), the checksum nginx's `hash` and `hash … consistent` use
 * (`ngx_crc32_long`, `ngx_crc32_update`). Short ASCII strings (up to {@link SHORT_KEY}
 * units, as most URIs and hash keys are) are hashed by slicing-by-4 tables in
 * JavaScript; anything else by `node:zlib`'s native `crc32` (Node ≥ 20.15; `engines`
 * asks for ≥ 20.18.1). Both give the same results; the split is only for speed.
 *
 * @param data - the bytes, or text hashed as UTF-8.
 * @param value - the CRC of the bytes before `data`, to continue a running CRC. @default 0
 * @returns the CRC as an unsigned 32-bit integer.
 * @example
 * ```ts
 * crc32('/item/1'); // what nginx computes for `hash $request_uri` on "/item/1"
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_upstream_module.html#hash
 */
export function crc32(data: string | Uint8Array, value = 0): number {
  if (typeof data === 'string' && data.length <= SHORT_KEY) {
    const c = crc32Ascii(data, value);
    if (c >= 0) return c;
  }
  return nativeCrc32(data, value);
}
