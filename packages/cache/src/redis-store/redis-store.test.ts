import { describe, expect, it } from 'vitest';
import type { CacheEntry } from '../types.js';
import { decodeEntry, encodeEntry, redisStore } from './index.js';

const entry: CacheEntry = {
  status: 200,
  headers: ['content-type', 'application/octet-stream', 'vary', 'accept'],
  body: Buffer.from([0, 1, 2, 255, 254]),
  storedAt: 1,
  expiresAt: 2,
  updatingMs: 3,
  errorMs: 4,
  etag: '"e"',
  lastModified: 'Tue, 01 Jan 2030 00:00:00 GMT',
  vary: ['accept'],
  variant: 'accept:x\n',
  tags: ['a', 'b'],
};

describe('redisStore entry encoding', () => {
  it('round-trips every field and a binary body', () => {
    expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
    const bare = { ...entry, etag: undefined, lastModified: undefined, vary: undefined, variant: undefined };
    expect(decodeEntry(encodeEntry(bare))).toEqual(bare);
  });

  it('reads anything else as no entry', () => {
    expect(decodeEntry(Buffer.from('hi'))).toBeUndefined();
    expect(decodeEntry(Buffer.from([0, 0, 0, 9, 1]))).toBeUndefined();
    expect(decodeEntry(Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{x')]))).toBeUndefined();
    expect(decodeEntry(Buffer.concat([Buffer.from([0, 0, 0, 2]), Buffer.from('{}')]))).toBeUndefined();
  });

  it('refuses bad options when built', () => {
    expect(() => redisStore({ client: {} as never })).toThrow(
      'client: expected a client of the redis package',
    );
    const client = { sendCommand: async () => null };
    expect(() => redisStore({ client, timeoutMs: 0 })).toThrow(
      'timeoutMs: expected a positive integer, got 0',
    );
    expect(() => redisStore({ client, prefix: 1 as never })).toThrow('prefix: expected a string, got 1');
    expect(() => redisStore({ client, ttl: 1 } as never)).toThrow(
      'ttl: unknown option (known: client, prefix, inactiveMs, timeoutMs)',
    );
  });
});
