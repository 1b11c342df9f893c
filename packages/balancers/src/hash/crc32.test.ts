import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Word, SHORT_KEY } from './crc32.js';

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
});
