import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32, crc32Portable } from './crc32.js';

describe('crc32', () => {
  it('gives the IEEE check value', () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
    expect(crc32Portable('123456789')).toBe(0xcbf43926);
    expect(crc32('')).toBe(0);
    expect(crc32Portable(new Uint8Array(0))).toBe(0);
  });

  it('continues a running crc, as ngx_crc32_update does', () => {
    expect(crc32('56789', crc32('1234'))).toBe(0xcbf43926);
    expect(crc32Portable('56789', crc32Portable('1234'))).toBe(0xcbf43926);
  });

  it('hashes text as its UTF-8 bytes, a lone surrogate as U+FFFD', () => {
    for (const text of ['/caf\u00e9', '/\u20ac', '/\u{1f600}', '/\ud800x', '/x\udc00']) {
      expect(crc32Portable(text)).toBe(crc32Portable(Buffer.from(text)));
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
          expect(crc32Portable(bytes, value)).toBe(crc32(bytes, value));
          expect(crc32Portable(text, value)).toBe(crc32(text, value));
        },
      ),
      { seed: 32, numRuns: 500 },
    );
  });
});
