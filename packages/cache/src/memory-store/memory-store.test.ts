import { describe, expect, it } from 'vitest';
import type { CacheEntry } from '../types.js';
import { entrySize, memoryStore } from './index.js';

/** A Buffer with an ArrayBuffer of its own (not a slice of Node's pool), as the store keeps it. */
function ownBuffer(text: string): Buffer {
  const b = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  b.write(text);
  return b;
}

function entry(body: string, tags: string[] = []): CacheEntry {
  return {
    status: 200,
    headers: ['content-type', 'text/plain'],
    body: ownBuffer(body),
    storedAt: 0,
    expiresAt: 1000,
    updatingMs: 0,
    errorMs: 0,
    etag: undefined,
    lastModified: undefined,
    vary: undefined,
    variant: undefined,
    tags,
  };
}

/** An entry varying on User-Agent, stored with the request's value of it. */
function varyEntry(userAgent: string): CacheEntry {
  return {
    ...entry('x'),
    headers: ['content-type', 'text/plain', 'vary', 'User-Agent'],
    vary: ['user-agent'],
    variant: `user-agent:${userAgent}\n`,
  };
}

/** A seeded pseudo-random sequence in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function clock(start = 0) {
  let t = start;
  const now = () => t;
  return Object.assign(now, { advance: (ms: number) => (t += ms) });
}

describe('memoryStore', () => {
  it('answers synchronously with what was stored', () => {
    const store = memoryStore();
    const e = entry('hello');
    store.set('k', e);
    expect(store.get('k')).toBe(e);
    expect(store.get('other')).toBeUndefined();
    expect(store.delete('k')).toBe(true);
    expect(store.delete('k')).toBe(false);
    expect(store.get('k')).toBeUndefined();
  });

  it('drops an entry unused for inactiveMs, and each use restarts that time', () => {
    const now = clock();
    const store = memoryStore({ inactiveMs: 1000, now });
    store.set('a', entry('a'));
    store.set('b', entry('b'));
    now.advance(900);
    expect(store.get('a')).toBeDefined();
    now.advance(900);
    expect(store.get('a')).toBeDefined();
    expect(store.get('b')).toBeUndefined();
  });

  it('stays within maxSizeBytes, evicting the least recently used', () => {
    const size = entrySize('k0', entry('x'.repeat(1000)));
    const store = memoryStore({ maxSizeBytes: size * 3 });
    for (let i = 0; i < 3; i++) store.set(`k${i}`, entry('x'.repeat(1000)));
    store.get('k0');
    store.set('k3', entry('x'.repeat(1000)));
    expect(['k0', 'k1', 'k2', 'k3'].map((k) => store.get(k) !== undefined)).toEqual([
      true,
      false,
      true,
      true,
    ]);
  });

  it('does not keep an entry larger than the whole store', () => {
    const store = memoryStore({ maxSizeBytes: 500 });
    store.set('big', entry('x'.repeat(1000), ['t']));
    expect(store.get('big')).toBeUndefined();
    expect(store.deleteTag('t')).toBe(0);
  });

  it('deletes by prefix', () => {
    const store = memoryStore();
    for (const k of ['/a/1', '/a/2', '/b/1']) store.set(k, entry(k));
    expect(store.deletePrefix('/a/')).toBe(2);
    expect(store.get('/a/1')).toBeUndefined();
    expect(store.get('/b/1')).toBeDefined();
    expect(store.deletePrefix('/zzz')).toBe(0);
  });

  it('deletes by tag, and forgets the tags of replaced and evicted entries', () => {
    const store = memoryStore();
    store.set('1', entry('1', ['red', 'round']));
    store.set('2', entry('2', ['red']));
    store.set('3', entry('3', ['blue']));
    store.set('2', entry('2', ['green']));
    expect(store.deleteTag('red')).toBe(1);
    expect(store.get('1')).toBeUndefined();
    expect(store.get('2')).toBeDefined();
    expect(store.deleteTag('round')).toBe(0);
    store.delete('3');
    expect(store.deleteTag('blue')).toBe(0);
    expect(store.deleteTag('green')).toBe(1);
  });

  it('gives a body sliced from a larger buffer a buffer of its own', () => {
    const pool = Buffer.from('..hello..');
    const e = { ...entry('x'), body: pool.subarray(2, 7) };
    const store = memoryStore();
    store.set('k', e);
    const got = store.get('k') as CacheEntry;
    expect(got.body.toString()).toBe('hello');
    expect(got.body.buffer.byteLength).toBe(5);
    pool.write('HELLO', 2);
    expect(got.body.toString()).toBe('hello');
    expect({ ...got, body: null }).toEqual({ ...e, body: null });
  });

  it('keeps an entry whose body owns its buffer as it is', () => {
    const store = memoryStore();
    const e = entry('hello');
    store.set('k', e);
    expect(store.get('k')).toBe(e);
  });

  it('counts the request values a Vary entry stores', () => {
    const ua = 'u'.repeat(12 * 1024);
    const plain = entrySize('k', entry('x'));
    const vary = entrySize('k', varyEntry(ua));
    expect(vary - plain).toBeGreaterThan(
      ua.length + 'vary'.length + 'User-Agent'.length + 'user-agent'.length,
    );
  });

  it('keeps no more 12 KiB Vary variants than fit in maxSizeBytes', () => {
    const store = memoryStore({ maxSizeBytes: 1024 * 1024 });
    for (let i = 0; i < 200; i++) store.set(`k\n${i}`, varyEntry(`${i} ${'u'.repeat(12 * 1024)}`));
    let kept = 0;
    for (let i = 0; i < 200; i++) if (store.get(`k\n${i}`) !== undefined) kept++;
    expect(kept).toBeLessThan((1024 * 1024) / (12 * 1024));
    expect(store.usage?.().sizeBytes).toBeLessThanOrEqual(1024 * 1024);
  });

  it('counts a string outside Latin-1 at 2 bytes a character, and a Latin-1 one at 1', () => {
    const base = entrySize('k', varyEntry(''));
    expect(entrySize('k', varyEntry('é'.repeat(1000))) - base).toBeGreaterThanOrEqual(1000);
    expect(entrySize('k', varyEntry('é'.repeat(1000))) - base).toBeLessThan(1100);
    expect(entrySize('k', varyEntry('€'.repeat(1000))) - base).toBeGreaterThanOrEqual(2000);
    expect(entrySize('k'.repeat(1001), entry('x')) - entrySize('k', entry('x'))).toBeGreaterThanOrEqual(1000);
  });

  it('counts the key, every header, tag and validator, and the body', () => {
    const e = entry('x');
    const base = entrySize('k', e);
    expect(entrySize('k', { ...e, body: ownBuffer('x'.repeat(1001)) }) - base).toBe(1000);
    expect(
      entrySize('k', { ...e, headers: [...e.headers, 'x-long', 'v'.repeat(1000)] }) - base,
    ).toBeGreaterThan(1000);
    expect(entrySize('k', { ...e, tags: ['t'.repeat(1000)] }) - base).toBeGreaterThan(1000);
    // A validator from the headers is the same string; one from a later 304 is another.
    const withEtag = {
      ...e,
      headers: [...e.headers, 'etag', `"${'e'.repeat(1000)}"`],
      etag: `"${'e'.repeat(1000)}"`,
    };
    expect(entrySize('k', withEtag) - base).toBeLessThan(1100);
    expect(entrySize('k', { ...withEtag, etag: `"${'f'.repeat(1000)}"` }) - base).toBeGreaterThan(2000);
  });

  it('counts the tag index: a new tag costs more than joining a known one', () => {
    const store = memoryStore();
    store.set('a', entry('x', ['sport']));
    const first = store.usage?.().sizeBytes ?? 0;
    store.set('b', entry('x', ['sport']));
    const second = (store.usage?.().sizeBytes ?? 0) - first;
    expect(second).toBeLessThan(first);
    expect(second).toBe(entrySize('b', entry('x', ['sport'])));
  });

  it('never counts more than maxSizeBytes, whatever it is given', () => {
    const random = seeded(15);
    const maxSizeBytes = 64 * 1024;
    const store = memoryStore({ maxSizeBytes });
    for (let i = 0; i < 2000; i++) {
      const pick = random();
      const body = 'b'.repeat(Math.floor(random() * 8000));
      const e =
        pick < 0.3
          ? varyEntry('u'.repeat(Math.floor(random() * 12 * 1024)))
          : entry(body, pick < 0.6 ? [`t${Math.floor(random() * 50)}`, 'all'] : []);
      store.set(`/k/${Math.floor(random() * 300)}`, e);
      expect(store.usage?.().sizeBytes).toBeLessThanOrEqual(maxSizeBytes);
    }
  });

  it('refuses bad options when built', () => {
    expect(() => memoryStore({ maxSizeBytes: 0 })).toThrow(
      'maxSizeBytes: expected a positive integer, got 0',
    );
    expect(() => memoryStore({ inactiveMs: 1.5 })).toThrow(
      'inactiveMs: expected a positive integer, got 1.5',
    );
    expect(() => memoryStore({ maxSize: 1 } as never)).toThrow(
      'maxSize: unknown option (known: maxSizeBytes, inactiveMs, now)',
    );
  });
});
