import { describe, expect, it } from 'vitest';
import type { CacheEntry } from '../types.js';
import { entrySize, memoryStore } from './index.js';

function entry(body: string, tags: string[] = []): CacheEntry {
  return {
    status: 200,
    headers: ['content-type', 'text/plain'],
    body: Buffer.from(body),
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

  it('refuses bad options when built', () => {
    expect(() => memoryStore({ maxSizeBytes: 0 })).toThrow(
      'maxSizeBytes: expected a positive integer, got 0',
    );
    expect(() => memoryStore({ inactiveMs: 1.5 })).toThrow(
      'inactiveMs: expected a positive integer, got 1.5',
    );
  });
});
