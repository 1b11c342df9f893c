import * as zlib from 'node:zlib';

/** The IEEE 802.3 CRC-32 table (reflected polynomial 0xEDB88320), as nginx's `ngx_crc32_table256`. */
const TABLE = /* @__PURE__ */ (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function step(crc: number, byte: number): number {
  return (TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
}

/**
 * CRC-32 in plain TypeScript, table-driven, for runtimes whose `node:zlib` has no
 * `crc32` (Node < 20.15). Strings are hashed as their UTF-8 bytes, a lone surrogate as
 * U+FFFD, exactly as `Buffer.from(text)` encodes them.
 *
 * @param data - the bytes, or text hashed as UTF-8.
 * @param value - the CRC of the bytes before `data`, to continue a running CRC. @default 0
 * @returns the CRC as an unsigned 32-bit integer.
 * @example
 * ```ts
 * crc32Portable('123456789'); // 0xcbf43926
 * crc32Portable('56789', crc32Portable('1234')); // the same
 * ```
 */
export function crc32Portable(data: string | Uint8Array, value = 0): number {
  let c = ~value >>> 0;
  if (typeof data !== 'string') {
    for (let i = 0; i < data.length; i++) c = step(c, data[i] as number);
    return ~c >>> 0;
  }
  for (let i = 0; i < data.length; i++) {
    let code = data.charCodeAt(i);
    if (code < 0x80) {
      c = step(c, code);
      continue;
    }
    if (code < 0x800) {
      c = step(c, 0xc0 | (code >> 6));
      c = step(c, 0x80 | (code & 0x3f));
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const low = i + 1 < data.length ? data.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i++;
        c = step(c, 0xf0 | (code >> 18));
        c = step(c, 0x80 | ((code >> 12) & 0x3f));
        c = step(c, 0x80 | ((code >> 6) & 0x3f));
        c = step(c, 0x80 | (code & 0x3f));
        continue;
      }
      code = 0xfffd;
    }
    c = step(c, 0xe0 | (code >> 12));
    c = step(c, 0x80 | ((code >> 6) & 0x3f));
    c = step(c, 0x80 | (code & 0x3f));
  }
  return ~c >>> 0;
}

// node:zlib has a native crc32 from Node 20.15 (engines asks for >= 20.18.1); the
// namespace import keeps a runtime without it loading, and it then uses the table.
const native = (zlib as { crc32?: (data: string | Uint8Array, value?: number) => number }).crc32;

/**
 * CRC-32 (IEEE), the checksum nginx's `hash` and `hash … consistent` use
 * (`ngx_crc32_long`, `ngx_crc32_update`): `node:zlib`'s native `crc32` where the
 * runtime has it, {@link crc32Portable} otherwise. Both give the same results.
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
export const crc32: (data: string | Uint8Array, value?: number) => number =
  typeof native === 'function' ? native : crc32Portable;
