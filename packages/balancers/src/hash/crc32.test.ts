import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { crc32, crc32Word, SHORT_KEY } from './crc32.js';

// node:zlib as it is, with its crc32 watched: which keys crc32() hands to the native code.
vi.mock('node:zlib', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:zlib')>();
  return { ...real, crc32: vi.fn(real.crc32) };
});

/** CRC-32 (IEEE, reflected 0xEDB88320) one bit at a time, straight from the definition. */
function referenceCrc32(bytes: Uint8Array, value = 0): number {
  let c = ~value >>> 0;
  for (const byte of bytes) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (0xedb88320 ^ (c >>> 1)) >>> 0 : c >>> 1;
  }
  return ~c >>> 0;
}

/** Whether `crc32(data, value)` called into node:zlib, and what it answered. */
function hashed(data: string | Uint8Array, value?: number): { crc: number; native: boolean } {
  const native = vi.mocked(zlib.crc32);
  const before = native.mock.calls.length;
  const crc = crc32(data, value);
  return { crc, native: native.mock.calls.length > before };
}

describe('crc32', () => {
  it('gives the IEEE check value', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32('')).toBe(0);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('continues a running crc, as ngx_crc32_update does', () => {
    expect(crc32('56789', crc32('1234'))).toBe(0xcbf43926);
  });

  it('hashes text as its UTF-8 bytes, a lone surrogate as U+FFFD', () => {
    for (const text of ['/caf\u00e9', '/\u20ac', '/\u{1f600}', '/\ud800x', '/x\udc00']) {
      expect(crc32(text)).toBe(crc32(Buffer.from(text)));
    }
  });

  it('agrees with the native crc32 on any bytes and text', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.string({ unit: 'binary' }),
        fc.nat(),
        (bytes, text, seed) => {
          const value = seed >>> 0;
          expect(crc32(bytes, value)).toBe(zlib.crc32(bytes, value));
          expect(crc32(text, value)).toBe(zlib.crc32(Buffer.from(text), value));
        },
      ),
      { seed: 32, numRuns: 500 },
    );
  });

  it('hashes short ASCII keys in JavaScript exactly as node:zlib does, at every length around the cut-off', () => {
    const native = zlib.crc32;
    const alphabet = '/abcdefghijklmnopqrstuvwxyz0123456789?=&%-_.~ \u007f\u0000';
    for (let len = 0; len <= SHORT_KEY + 9; len++) {
      let text = '';
      for (let i = 0; i < len; i++) text += alphabet[(i * 7 + len) % alphabet.length];
      expect(crc32(text)).toBe(native(text));
      expect(crc32(text, 0xdeadbeef)).toBe(native(text, 0xdeadbeef));
      // A non-ASCII unit anywhere (in the 4-unit blocks or the tail) hands the whole key over.
      for (const at of [0, 3, 4, len - 1]) {
        if (at < 0 || at >= len) continue;
        const odd = `${text.slice(0, at)}\u00e9${text.slice(at + 1)}`;
        expect(crc32(odd)).toBe(native(odd));
        expect(crc32(odd, 7)).toBe(native(odd, 7));
      }
    }
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 2 * SHORT_KEY }), fc.nat(), (text, seed) => {
        expect(crc32(text, seed >>> 0)).toBe(native(text, seed >>> 0));
      }),
      { seed: 33, numRuns: 500 },
    );
  });

  it('hashes U+0080, the first unit that is not ASCII, as its two UTF-8 bytes', () => {
    // In a 4-unit block and in the tail.
    for (const text of ['\u0080abc', 'abcd\u0080', 'ab\u0080']) {
      expect(crc32(text)).toBe(zlib.crc32(Buffer.from(text)));
      expect(crc32(text)).toBe(crc32(new Uint8Array(Buffer.from(text))));
    }
  });

  it('hashes a 4-byte little-endian word as the bytes would hash', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (w, v) => {
        const word = w >>> 0;
        const value = v >>> 0;
        const bytes = new Uint8Array([word & 0xff, (word >>> 8) & 0xff, (word >>> 16) & 0xff, word >>> 24]);
        expect(crc32Word(word, value)).toBe(zlib.crc32(bytes, value));
      }),
      { seed: 34, numRuns: 500 },
    );
    expect(crc32Word(0xffffffff, 0)).toBe(zlib.crc32(new Uint8Array([255, 255, 255, 255])));
  });

  it('hashes U+0080 as its two UTF-8 bytes in a 4-unit block whose other units are NUL or U+0080', () => {
    // The units of such a block OR together to exactly 0x80.
    for (const text of [
      '\u0080\0\0\0',
      '\0\0\0\u0080',
      '\u0080\u0080\u0080\u0080',
      'abcd\0\0\u0080\0',
      'abcd\u0080',
    ]) {
      expect(crc32(text)).toBe(referenceCrc32(Buffer.from(text)));
      expect(crc32(text, 0x12345678)).toBe(referenceCrc32(Buffer.from(text), 0x12345678));
    }
  });

  it('matches the bitwise definition at key lengths 0 to 5, around a multiple of 4 and around SHORT_KEY', () => {
    for (const len of [0, 1, 2, 3, 4, 5, 7, 8, 9, SHORT_KEY - 1, SHORT_KEY, SHORT_KEY + 1, 2 * SHORT_KEY]) {
      const text = Array.from({ length: len }, (_, i) => String.fromCharCode(0x20 + ((i * 37) % 0x60))).join(
        '',
      );
      for (const value of [0, 1, 0xffffffff]) {
        expect(crc32(text, value)).toBe(referenceCrc32(Buffer.from(text), value));
        // A non-ASCII unit at the first, the last, and every position where a 4-unit block
        // starts or ends.
        for (let at = 0; at < len; at++) {
          if (at % 4 !== 0 && at % 4 !== 3 && at !== len - 1) continue;
          const odd = `${text.slice(0, at)}\u00ff${text.slice(at + 1)}`;
          expect(crc32(odd, value)).toBe(referenceCrc32(Buffer.from(odd), value));
        }
      }
    }
  });

  it('hashes ASCII text of up to SHORT_KEY units in JavaScript and hands anything else to node:zlib', () => {
    const ascii = (len: number) => 'k/0123456789?abc'.repeat(9).slice(0, len);
    for (const len of [0, 1, 3, 4, 5, 63, SHORT_KEY]) {
      for (const value of [0, 0xdeadbeef]) {
        const text = ascii(len);
        expect(hashed(text, value)).toEqual({ crc: referenceCrc32(Buffer.from(text), value), native: false });
      }
    }
    // The empty text with no running CRC hashes to 0 and still stays in JavaScript.
    expect(hashed('')).toEqual({ crc: 0, native: false });
    for (const text of [
      ascii(SHORT_KEY + 1),
      ascii(2 * SHORT_KEY),
      'abcd\u00e9',
      '\u00e9bcd',
      'abcde\u0080',
    ]) {
      expect(hashed(text)).toEqual({ crc: referenceCrc32(Buffer.from(text)), native: true });
    }
    const bytes = new Uint8Array(Buffer.from(ascii(5)));
    expect(hashed(bytes)).toEqual({ crc: referenceCrc32(bytes), native: true });
  });
});
