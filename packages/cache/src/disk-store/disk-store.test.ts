import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import {
  open as fsOpen,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { listen, manualClock, pipelinedGets, waitFor } from '@switchyard/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCache } from '../cache/index.js';
import { type CacheStoreError, InvalidOptionError } from '../errors.js';
import type { CacheEntry, StreamedBody } from '../types.js';
import { type DiskStore, diskStore, entryPath, keyHash } from './index.js';

function entry(body: Buffer | string, tags: string[] = []): CacheEntry {
  return {
    status: 200,
    headers: ['content-type', 'text/plain', 'etag', '"v1"'],
    body: typeof body === 'string' ? Buffer.from(body) : body,
    storedAt: 1000,
    expiresAt: 61_000,
    updatingMs: 0,
    errorMs: 5000,
    etag: '"v1"',
    lastModified: undefined,
    vary: ['accept-encoding'],
    variant: 'gzip',
    tags,
  };
}

async function bytesOf(body: Buffer | StreamedBody): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const c of body.stream()) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** A body large enough to be streamed rather than read with the header. */
const big = Buffer.alloc(200_000, 'abcdefghij');

let dir: string;
const stores: DiskStore[] = [];
function open(options: Partial<Parameters<typeof diskStore>[0]> = {}): DiskStore {
  const s = diskStore({ path: dir, levels: '1:2', ...options });
  stores.push(s);
  return s;
}

/** The files this process has open under `root` (other descriptors come and go meanwhile). */
async function openUnder(root: string): Promise<string[]> {
  const links = await Promise.all(
    (await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
  );
  return links.filter((l) => l.startsWith(root)).sort();
}

/** The file of `key` in a store with levels 1:2 on `dir`. */
const fileOfKey = (key: string): string => join(dir, entryPath(keyHash(key), [1, 2]));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'swy-disk-'));
});

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('diskStore', () => {
  it('lays files out as nginx levels=1:2 does, named by the MD5 of the key', async () => {
    // The example of nginx's proxy_cache_path documentation.
    expect(entryPath('b7f54b2df7773722d382f4809d65029c', [1, 2])).toBe(
      'c/29/b7f54b2df7773722d382f4809d65029c',
    );
    expect(entryPath('b7f54b2df7773722d382f4809d65029c', [2])).toBe('9c/b7f54b2df7773722d382f4809d65029c');
    expect(entryPath('b7f54b2df7773722d382f4809d65029c', [])).toBe('b7f54b2df7773722d382f4809d65029c');
    const store = open();
    await store.set('httplocalhost/page', entry('hello'));
    const hash = createHash('md5').update('httplocalhost/page').digest('hex');
    expect(keyHash('httplocalhost/page')).toBe(hash);
    const file = join(dir, hash.slice(-1), hash.slice(-3, -1), hash);
    const raw = await readFile(file);
    expect(raw.includes('httplocalhost/page')).toBe(true);
    expect(raw.subarray(-5).toString()).toBe('hello');
  });

  it('gives back what was stored, the header whole and a large body as a stream', async () => {
    const store = open();
    await store.set('k', entry(big, ['sport']));
    const got = await store.get('k');
    expect(got).toBeDefined();
    const { body, ...rest } = got as CacheEntry<Buffer | StreamedBody>;
    const { body: _, ...expected } = entry(big, ['sport']);
    expect(rest).toEqual(expected);
    expect(Buffer.isBuffer(body)).toBe(false);
    expect(body.length).toBe(big.length);
    expect((await bytesOf(body)).equals(big)).toBe(true);
    // Each stream reads the file anew.
    expect((await bytesOf(body)).equals(big)).toBe(true);
    expect(await store.get('other')).toBeUndefined();
    expect(store.usage?.().sizeBytes).toBeGreaterThan(big.length);
  });

  it('gives an indexed body that fits one 128 KiB read as a Buffer, read with its header', async () => {
    const store = open();
    const page = Buffer.alloc(100 * 1024, 'xyz');
    await store.set('page', entry(page));
    const body = (await store.get('page'))?.body;
    expect(Buffer.isBuffer(body)).toBe(true);
    expect((body as Buffer).equals(page)).toBe(true);
  });

  describe('read buffers', () => {
    const pageA = Buffer.alloc(100 * 1024, 'page A. ');
    const pageB = Buffer.alloc(90 * 1024, 'page B! ');
    const pageC = Buffer.alloc(80 * 1024, 'page C? ');
    const reqOf = (url: string, method = 'GET') => ({ method, url, headers: { host: 'h' } });

    /** A cache on the disk store holding pageA at /a, pageB at /b and pageC at /c. */
    async function twoPages(options: Parameters<typeof createCache>[0] = {}) {
      const clock = manualClock(Date.UTC(2030, 0, 1));
      const store = open({ now: clock });
      const cache = createCache({ store, valid: { 200: '1m' }, now: clock, ...options });
      for (const [url, page] of [
        ['/a', pageA],
        ['/b', pageB],
        ['/c', pageC],
      ] as const) {
        const f = (await cache.lookup(reqOf(url))).forward;
        f?.head(200, ['content-type', 'text/plain', 'etag', '"v1"']);
        f?.data(page);
        f?.end();
        await waitFor(() => existsSync(join(dir, entryPath(keyHash(cache.keyOf(reqOf(url))), [1, 2]))));
      }
      return { cache, clock };
    }

    it('lends a HIT its read buffer until the response has finished, then reads the next hit into it', async () => {
      const { cache } = await twoPages();
      const a = (await cache.lookup(reqOf('/a'))).response;
      expect(a?.cacheStatus).toBe('HIT');
      expect(a?.finished).toBeTypeOf('function');
      const bodyA = a?.body as Buffer;
      expect(bodyA.equals(pageA)).toBe(true);
      // Not given back yet: the next hit reads into other memory, and A's bytes stay.
      const b = (await cache.lookup(reqOf('/b'))).response;
      const bodyB = b?.body as Buffer;
      expect(bodyB.buffer).not.toBe(bodyA.buffer);
      expect(bodyA.equals(pageA)).toBe(true);
      a?.finished?.();
      const again = (await cache.lookup(reqOf('/b'))).response?.body as Buffer;
      expect(again.buffer).toBe(bodyA.buffer);
      expect(again.equals(pageB)).toBe(true);
    });

    it('takes a buffer back at most once', async () => {
      const { cache } = await twoPages();
      const a = (await cache.lookup(reqOf('/a'))).response;
      const bodyA = a?.body as Buffer;
      a?.finished?.();
      a?.finished?.();
      const b = (await cache.lookup(reqOf('/b'))).response?.body as Buffer;
      const c = (await cache.lookup(reqOf('/a'))).response?.body as Buffer;
      // Given back twice, the one buffer would be handed to both lookups.
      expect(b.buffer).toBe(bodyA.buffer);
      expect(c.buffer).not.toBe(b.buffer);
      expect([b.equals(pageB), c.equals(pageA)]).toEqual([true, true]);
    });

    it('takes the buffer of a HEAD back at once, with no body to send', async () => {
      const { cache } = await twoPages();
      const head = (await cache.lookup(reqOf('/a', 'HEAD'))).response;
      expect([head?.cacheStatus, head?.body, head?.finished]).toEqual(['HIT', null, undefined]);
      const first = (await cache.lookup(reqOf('/b'))).response?.body as Buffer;
      const second = (await cache.lookup(reqOf('/a'))).response?.body as Buffer;
      // HEAD's buffer went back, and was taken by the first GET.
      expect(first.buffer).not.toBe(second.buffer);
      expect([first.equals(pageB), second.equals(pageA)]).toEqual([true, true]);
    });

    it('never lends the body of a response that is not a plain HIT (REVALIDATED, STALE)', async () => {
      const { cache, clock } = await twoPages({ revalidate: true, useStale: ['error'] });
      clock.advance(120_000);
      const expired = await cache.lookup(reqOf('/a'));
      expect(expired.response).toBeUndefined();
      const revalidated = expired.forward?.head(304, ['etag', '"v1"']);
      expect(revalidated?.cacheStatus).toBe('REVALIDATED');
      expect(revalidated?.finished).toBeUndefined();
      const failed = await cache.lookup(reqOf('/b'));
      const stale = failed.forward?.fail('error');
      expect(stale?.cacheStatus).toBe('STALE');
      expect(stale?.finished).toBeUndefined();
    });

    it('copies a small body out and lends nothing', async () => {
      const store = open();
      const cache = createCache({ store, valid: { 200: '1m' } });
      const f = (await cache.lookup(reqOf('/small'))).forward;
      f?.head(200, ['content-type', 'text/plain']);
      f?.data(Buffer.from('small page'));
      f?.end();
      await waitFor(() => (store.usage?.().sizeBytes ?? 0) > 0);
      const hit = (await cache.lookup(reqOf('/small'))).response;
      expect([hit?.cacheStatus, String(hit?.body), hit?.finished]).toEqual(['HIT', 'small page', undefined]);
    });

    it('gets the buffer of a hit sent by middleware() back after the response', async () => {
      const { cache } = await twoPages({ key: '$request_uri' });
      const first = (await cache.lookup(reqOf('/a'))).response;
      const firstBuffer = (first?.body as Buffer | undefined)?.buffer;
      first?.finished?.();
      const middleware = cache.middleware();
      const server = await listen(createServer((req, res) => middleware(req, res, () => res.end())));
      try {
        // The one free buffer goes to the server's hit of /b, and comes back once it is sent.
        const r = await fetch(`${server.url}/b`);
        expect(Buffer.from(await r.arrayBuffer()).equals(pageB)).toBe(true);
        const next = (await cache.lookup(reqOf('/a'))).response?.body as Buffer;
        expect(next.buffer).toBe(firstBuffer);
      } finally {
        await server.close();
      }
    });

    it('sends every hit its own bytes while buffers go round, through middleware() on a real server', async () => {
      const { cache } = await twoPages({ key: '$request_uri' });
      const middleware = cache.middleware();
      const server = await listen(
        createServer((req, res) =>
          middleware(req, res, () => {
            // /slow is a miss whose origin takes its time.
            setTimeout(() => res.end('slow'), 200);
          }),
        ),
      );
      try {
        // Pipelined behind /slow, the hits of /a and /b wait unsent in the server while
        // another client's hits of /c are read: a buffer given back before its response
        // finished is read into, and /a or /b goes out with /c's bytes.
        const held = pipelinedGets(server.port, ['/slow', '/a', '/b'], 0);
        await new Promise((r) => setTimeout(r, 80));
        const others = await pipelinedGets(server.port, ['/c', '/c', '/c'], 0);
        const [slow, a, b] = await held;
        expect([slow?.body.toString(), a?.headers['x-cache-status'], b?.headers['x-cache-status']]).toEqual([
          'slow',
          'HIT',
          'HIT',
        ]);
        expect([a?.body.equals(pageA), b?.body.equals(pageB)]).toEqual([true, true]);
        expect(others.map((r) => r.body.equals(pageC))).toEqual([true, true, true]);
      } finally {
        await server.close();
      }
    });
  });

  describe('aio', () => {
    /** Occupies every thread of libuv's pool: each open of a FIFO waits for a writer. */
    async function blockThreadPool(): Promise<() => Promise<void>> {
      const fifo = join(dir, 'fifo');
      execFileSync('mkfifo', [fifo]);
      const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
      const readers = Array.from({ length: threads }, () => fsOpen(fifo, 'r'));
      return async () => {
        // Opening for writing lets every blocked reader through.
        const writers = Array.from({ length: threads }, () => openSync(fifo, 'w'));
        for (const fh of await Promise.all(readers)) await fh.close();
        for (const fd of writers) closeSync(fd);
      };
    }

    it('reads a hit with blocking calls by default, as nginx with aio off: a busy thread pool does not hold it up', async () => {
      const store = open();
      await store.set('k', entry(Buffer.alloc(100 * 1024, 'a')));
      const release = await blockThreadPool();
      try {
        const got = await store.get('k');
        expect(Buffer.isBuffer(got?.body) && got.body.length).toBe(100 * 1024);
      } finally {
        await release();
      }
    });

    it('reads through the thread pool with aio: true (nginx aio threads)', async () => {
      const store = open({ aio: true });
      await store.set('k', entry('hello'));
      const release = await blockThreadPool();
      let answered = false;
      const pending = Promise.resolve(store.get('k')).then((got) => {
        answered = true;
        return got;
      });
      // Every thread is waiting on the FIFO, so the read cannot have run, however long this waits.
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(answered).toBe(false);
      await release();
      expect((await pending)?.body.toString()).toBe('hello');
    });

    it('rejects an aio that is not a boolean, naming it', () => {
      expect(() => diskStore({ path: dir, aio: 'threads' as unknown as boolean })).toThrow(
        /aio: expected a boolean, got "threads"/,
      );
    });
  });

  describe('a hit answered in the same turn (blocking reads)', () => {
    it('answers an indexed entry under one read without a promise, as the memory store does', async () => {
      const store = open();
      await store.set('k', entry(Buffer.alloc(100 * 1024, 'a')));
      const got = store.get('k');
      expect(got).not.toBeInstanceOf(Promise);
      expect((got as CacheEntry<Buffer>).body.equals(Buffer.alloc(100 * 1024, 'a'))).toBe(true);
      expect((got as CacheEntry).variant).toBe('gzip');
    });

    it('takes the promise path for a body beyond one read, with aio, and while an unknown key may be on disk', async () => {
      const store = open();
      await store.set('big', entry(big));
      expect(store.get('big')).toBeInstanceOf(Promise);
      const threaded = open({ path: join(dir, 'aio'), aio: true });
      await threaded.set('k', entry('hello'));
      const got = threaded.get('k');
      expect(got).toBeInstanceOf(Promise);
      expect((await got)?.body.toString()).toBe('hello');
    });

    it('reads a file that grew since it was indexed through the general lookup, whole', async () => {
      const store = open();
      await store.set('k', entry('small'));
      // Another process (here, a second store on the same directory) replaces it with a larger body.
      const other = open();
      await other.set('k', entry(big));
      const got = store.get('k');
      expect(got).toBeInstanceOf(Promise);
      expect((await bytesOf((await got)?.body as StreamedBody)).equals(big)).toBe(true);
    });

    it('misses at once, and forgets the entry, when its file was removed behind its back', async () => {
      const store = open();
      await store.set('k', entry('gone soon'));
      await rm(join(dir, entryPath(keyHash('k'), [1, 2])));
      expect(store.get('k')).toBeUndefined();
      expect(store.usage?.().sizeBytes).toBe(0);
    });

    it('throws a store error for a truncated file, and removes it', async () => {
      const store = open();
      await store.set('k', entry(Buffer.alloc(50_000, 'b')));
      const file = join(dir, entryPath(keyHash('k'), [1, 2]));
      await truncate(file, (await stat(file)).size - 10);
      expect(() => store.get('k')).toThrow(/corrupt cache file removed \(size \d+, expected \d+\)/);
      expect(existsSync(file)).toBe(false);
      expect(store.get('k')).toBeUndefined();
    });
  });

  describe.runIf(existsSync('/proc/self/fd'))('files kept open between hits (open_file_cache)', () => {
    const v1 = Buffer.alloc(20_000, 'one');
    const v2 = Buffer.alloc(20_000, 'two');
    const bodyOf = (got: unknown) => (got as CacheEntry<Buffer> | undefined)?.body;
    /** A store whose cache loader has run: the loader opens files too, meanwhile. */
    const ready = async (options: Parameters<typeof open>[0] = {}) => {
      const s = open(options);
      await s.loaded;
      return s;
    };

    it('keeps the file of a hit open for the next hits, and closes each after its hit with openFiles: 0', async () => {
      const store = await ready();
      await store.set('k', entry(v1));
      for (let i = 0; i < 3; i++) expect(bodyOf(store.get('k'))?.equals(v1)).toBe(true);
      expect(await openUnder(dir)).toEqual([fileOfKey('k')]);
      const other = join(dir, 'other');
      const closing = await ready({ path: other, openFiles: 0 });
      await closing.set('k', entry(v1));
      for (let i = 0; i < 3; i++) expect(bodyOf(closing.get('k'))?.equals(v1)).toBe(true);
      expect(await openUnder(other)).toEqual([]);
    });

    it('closes the kept file when the store replaces or deletes the entry: the next hit reads the new one', async () => {
      const store = await ready();
      await store.set('k', entry(v1));
      store.get('k');
      await store.set('k', entry(v2));
      expect(bodyOf(store.get('k'))?.equals(v2)).toBe(true);
      expect(await store.delete('k')).toBe(true);
      expect(await openUnder(dir)).toEqual([]);
      expect(store.get('k')).toBeUndefined();
    });

    it('keeps at most openFiles files, closing the least recently used', async () => {
      const store = await ready({ openFiles: 2 });
      for (const k of ['a', 'b', 'c']) await store.set(k, entry(v1));
      for (const k of ['a', 'b', 'a', 'c']) expect(bodyOf(store.get(k))?.equals(v1)).toBe(true);
      expect(await openUnder(dir)).toEqual([fileOfKey('a'), fileOfKey('c')].sort());
    });

    it('opens a kept file again after openFilesValidMs, to see a change made behind its back', async () => {
      const clock = manualClock(0);
      const store = await ready({ now: clock, openFilesValidMs: 1000 });
      await store.set('k', entry(v1));
      expect(bodyOf(store.get('k'))?.equals(v1)).toBe(true);
      // Another program renames a new version over the file: the kept one is still the old.
      const other = await ready({ openFiles: 0 });
      await other.set('k', entry(v2));
      clock.advance(999);
      expect(bodyOf(store.get('k'))?.equals(v1)).toBe(true);
      clock.advance(1);
      expect(bodyOf(store.get('k'))?.equals(v2)).toBe(true);
      expect(await openUnder(dir)).toEqual([fileOfKey('k')]);
    });

    it('removes a kept file truncated in place as corrupt, and closes it', async () => {
      const store = await ready();
      await store.set('k', entry(v1));
      store.get('k');
      const file = fileOfKey('k');
      await truncate(file, (await stat(file)).size - 10);
      expect(() => store.get('k')).toThrow(/corrupt cache file removed/);
      expect(existsSync(file)).toBe(false);
      expect(await openUnder(dir)).toEqual([]);
    });

    it('closes every kept file on close(), and keeps none after', async () => {
      const store = await ready();
      for (const k of ['a', 'b']) await store.set(k, entry(v1));
      store.get('a');
      store.get('b');
      await store.close();
      expect(await openUnder(dir)).toEqual([]);
      expect(bodyOf(store.get('a'))?.equals(v1)).toBe(true);
      expect(await openUnder(dir)).toEqual([]);
    });

    it('refuses an openFiles or openFilesValidMs that is not a whole number of 0 or more, naming it', () => {
      expect(() => diskStore({ path: dir, openFiles: -1 })).toThrow(/openFiles/);
      expect(() => diskStore({ path: dir, openFilesValidMs: 1.5 })).toThrow(/openFilesValidMs/);
    });
  });

  it('cuts off a body streamed again after another body replaced it', async () => {
    const store = open();
    await store.set('big', entry(big));
    const got = (await store.get('big')) as CacheEntry<StreamedBody>;
    expect((await bytesOf(got.body)).equals(big)).toBe(true);
    await store.set('big', entry(Buffer.alloc(300_000, 'z')));
    await expect(bytesOf(got.body)).rejects.toThrow(/replaced/);
  });

  it('reads a small body with its header, as a Buffer', async () => {
    const store = open();
    await store.set('k', entry('small'));
    const got = await store.get('k');
    expect(Buffer.isBuffer(got?.body) && got.body.toString()).toBe('small');
  });

  it('serves a hit through the cache with the body streamed from its file', async () => {
    const clock = manualClock();
    const store = open({ now: clock });
    const cache = createCache({ store, valid: { 200: '1m' }, now: clock });
    const req = { method: 'GET', url: '/big', headers: { host: 'h' } };
    const miss = await cache.lookup(req);
    const f = miss.forward;
    f?.head(200, ['content-type', 'text/plain']);
    f?.data(big.subarray(0, 100_000));
    f?.data(big.subarray(100_000));
    f?.end();
    await waitFor(() => existsSync(join(dir, entryPath(keyHash(cache.keyOf(req)), [1, 2]))));
    const hit = await cache.lookup(req);
    expect(hit.response?.cacheStatus).toBe('HIT');
    expect(hit.response?.bodyLength).toBe(big.length);
    expect(hit.response?.headers).toContain(String(big.length));
    const body = hit.response?.body;
    expect(body).toBeInstanceOf(Readable);
    const chunks: Buffer[] = [];
    for await (const c of body as Readable) chunks.push(c as Buffer);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
    // A HEAD gets no stream to read or to destroy.
    expect((await cache.lookup({ ...req, method: 'HEAD' })).response?.body).toBeNull();
  });

  it('finds its entries again after a restart, once the loader has run, and serves before', async () => {
    const first = open();
    await first.set('a', entry('one', ['t']));
    await first.set('b', entry(big));
    await first.close();

    const second = open();
    expect(second.usage?.().cold).toBe(true);
    // Not indexed yet: read from its file by its hashed path.
    expect(Buffer.isBuffer((await second.get('a'))?.body)).toBe(true);
    await second.loaded;
    expect(second.usage?.().cold).toBe(false);
    const size = second.usage?.().sizeBytes ?? 0;
    expect(size).toBeGreaterThan(big.length);
    expect((await bytesOf((await second.get('b'))?.body ?? Buffer.alloc(0))).equals(big)).toBe(true);
    expect(await second.deleteTag('t')).toBe(1);
    expect(await second.get('a')).toBeUndefined();
    expect(await second.deletePrefix('')).toBe(1);
    expect(second.usage?.().sizeBytes).toBe(0);
  });

  it('ignores and removes a torn write: a leftover temporary file and a truncated entry', async () => {
    const first = open();
    await first.set('whole', entry('ok'));
    await first.set('torn', entry(big));
    await first.close();
    const hash = keyHash('torn');
    const file = join(dir, entryPath(hash, [1, 2]));
    await truncate(file, (await stat(file)).size - 1000);
    const leftover = join(dir, 'f', '0f', `${'0'.repeat(30)}ff.123.1.tmp`);
    await mkdir(join(dir, 'f', '0f'), { recursive: true });
    await writeFile(leftover, 'half an entry');
    const tempLeftover = join(dir, 'temp', `${'1'.repeat(32)}.123.2.tmp`);
    await mkdir(join(dir, 'temp'));
    await writeFile(tempLeftover, 'half an entry');

    const second = open();
    await second.loaded;
    expect(existsSync(leftover)).toBe(false);
    expect(existsSync(tempLeftover)).toBe(false);
    expect(existsSync(file)).toBe(false);
    expect(await second.get('torn')).toBeUndefined();
    expect(Buffer.isBuffer((await second.get('whole'))?.body)).toBe(true);
  });

  it('reports a corrupt file found by a lookup as a store error, removes it, and misses', async () => {
    const errors: CacheStoreError[] = [];
    const store = open();
    await store.loaded;
    const cache = createCache({ store, valid: { 200: '1m' }, onStoreError: (e) => errors.push(e) });
    const req = { method: 'GET', url: '/', headers: { host: 'h' } };
    const key = cache.keyOf(req);
    await store.set(key, entry('fine'));
    const file = join(dir, entryPath(keyHash(key), [1, 2]));
    await writeFile(file, 'garbage that is not a cache file');
    const l = await cache.lookup(req);
    expect(l.response).toBeUndefined();
    expect(l.forward?.cacheStatus).toBe('MISS');
    l.forward?.abort();
    expect(errors.map((e) => [e.code, e.operation])).toEqual([['SWY_ERR_CACHE_STORE', 'get']]);
    expect(errors[0]?.message).toMatch(/corrupt/);
    expect(existsSync(file)).toBe(false);
    expect(await store.get(key)).toBeUndefined();
  });

  it('cuts a streamed body off when its entry was replaced after the lookup', async () => {
    const store = open();
    await store.set('k', entry(big));
    const got = await store.get('k');
    await store.set('k', entry(Buffer.alloc(300_000, 'z')));
    const s = (got as CacheEntry<StreamedBody>).body.stream();
    await expect(
      (async () => {
        for await (const _ of s);
      })(),
    ).rejects.toThrow(/replaced/);
  });

  it('sends the body the lookup opened, even when the entry is replaced meanwhile', async () => {
    const store = open();
    await store.set('k', entry(big));
    const got = await store.get('k');
    // Taken in the lookup's turn, as the cache does: the file the lookup opened.
    const s = (got as CacheEntry<StreamedBody>).body.stream();
    await store.set('k', entry(Buffer.alloc(300_000, 'z')));
    const chunks: Buffer[] = [];
    for await (const c of s) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(big)).toBe(true);
  });

  it.runIf(existsSync('/proc/self/fd'))(
    'gives back the files of lookups whose body is not sent',
    async () => {
      const store = open();
      await store.set('k', entry(big));
      for (let i = 0; i < 20; i++) await store.get('k');
      await new Promise((r) => setImmediate(r));
      expect(await openUnder(dir)).toEqual([]);
    },
  );

  it('keeps the body of an entry refreshed by a 304, and streams opened before still match', async () => {
    const store = open();
    await store.set('k', entry(big));
    const old = await store.get('k');
    await store.set('k', { ...(old as CacheEntry<StreamedBody>), expiresAt: 99_000 });
    const now = await store.get('k');
    expect(now?.expiresAt).toBe(99_000);
    expect((await bytesOf(now?.body as StreamedBody)).equals(big)).toBe(true);
    expect((await bytesOf(old?.body as StreamedBody)).equals(big)).toBe(true);
  });

  it('evicts the least recently used entries beyond maxSizeBytes', async () => {
    const probe = open({ path: join(dir, 'probe') });
    await probe.set('a', entry(Buffer.alloc(200)));
    const one = probe.usage?.().sizeBytes ?? 0;
    const limit = Math.floor(one * 2.5);
    const store = open({ path: join(dir, 'main'), maxSizeBytes: limit });
    await store.set('a', entry(Buffer.alloc(200)));
    await store.set('b', entry(Buffer.alloc(200)));
    await store.get('a');
    await store.set('c', entry(Buffer.alloc(200)));
    await waitFor(() => !existsSync(join(dir, 'main', entryPath(keyHash('b'), [1, 2]))));
    expect(await store.get('b')).toBeUndefined();
    expect(await store.get('a')).toBeDefined();
    expect(await store.get('c')).toBeDefined();
    expect(store.usage?.().sizeBytes).toBe(2 * one);
    // Larger than the whole store: not written.
    await store.set('huge', entry(Buffer.alloc(limit)));
    expect(await store.get('huge')).toBeUndefined();
  });

  it('removes entries unused for inactiveMs when the cache manager runs, and close() stops it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const clock = manualClock();
    const store = open({ inactiveMs: 60_000, managerSleepMs: 1000, now: clock });
    await store.loaded;
    await store.set('old', entry('x'));
    clock.advance(30_000);
    await store.set('used', entry('y'));
    clock.advance(29_000);
    await store.get('old');
    clock.advance(29_000);
    await store.set('new', entry('z'));
    // 'used' was last touched 58 s ago, 'old' 29 s ago.
    vi.advanceTimersByTime(1000);
    const usedFile = join(dir, entryPath(keyHash('used'), [1, 2]));
    await new Promise((r) => setTimeout(r, 5));
    expect(existsSync(usedFile)).toBe(true);
    clock.advance(3000);
    vi.advanceTimersByTime(1000);
    await waitFor(() => !existsSync(usedFile));
    expect(await store.get('used')).toBeUndefined();
    expect(await store.get('old')).toBeDefined();
    expect(vi.getTimerCount()).toBe(1);
    await store.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('writes through a temporary directory with useTempPath, leaving nothing there', async () => {
    const store = open({ useTempPath: true });
    await store.set('k', entry(big));
    expect(await readdir(join(dir, 'temp'))).toEqual([]);
    expect((await bytesOf((await store.get('k'))?.body ?? Buffer.alloc(0))).equals(big)).toBe(true);
  });

  it('reports a write that fails (an unwritable directory) by rejecting', async () => {
    await writeFile(join(dir, 'c'), 'a file where a level directory should be');
    const store = open({ levels: '1' });
    let key = 'k0';
    for (let i = 1; !keyHash(key).endsWith('c'); i++) key = `k${i}`;
    await expect(store.set(key, entry('x'))).rejects.toThrow();
    expect(await store.get(key)).toBeUndefined();
  });

  it('refuses bad options when built', () => {
    expect(() => diskStore({ path: '' })).toThrow(InvalidOptionError);
    expect(() => diskStore({ path: dir, levels: '1:3' })).toThrow(/levels/);
    expect(() => diskStore({ path: dir, levels: '1:2:2:1' })).toThrow(/levels/);
    expect(() => diskStore({ path: dir, maxSizeBytes: -1 })).toThrow(/maxSizeBytes/);
    expect(() => diskStore({ path: dir, level: '1:2' } as never)).toThrow(
      /level: unknown option \(known: path, levels,/,
    );
  });

  it('streams hits and revalidated entries from disk through cache.handler on a real server', async () => {
    const clock = manualClock(Date.UTC(2030, 0, 1));
    const store = open({ now: clock });
    const cache = createCache({ store, valid: { 200: '1m' }, revalidate: true, now: clock });
    let calls = 0;
    const server = await listen(
      createServer(
        cache.handler((req, res) => {
          calls++;
          if (req.headers['if-none-match'] === '"v1"') {
            res.writeHead(304, { etag: '"v1"' });
            res.end();
            return;
          }
          res.writeHead(200, { 'content-type': 'text/plain', etag: '"v1"', 'content-length': big.length });
          res.end(big);
        }),
      ),
    );
    try {
      const get = async () => {
        const r = await fetch(`${server.url}/page`);
        return { cache: r.headers.get('x-cache-status'), body: Buffer.from(await r.arrayBuffer()) };
      };
      const miss = await get();
      expect([miss.cache, miss.body.equals(big)]).toEqual(['MISS', true]);
      await waitFor(() => (store.usage?.().sizeBytes ?? 0) > big.length);
      const hit = await get();
      expect([hit.cache, hit.body.equals(big), calls]).toEqual(['HIT', true, 1]);
      clock.advance(120_000);
      const revalidated = await get();
      expect([revalidated.cache, revalidated.body.equals(big), calls]).toEqual(['REVALIDATED', true, 2]);
    } finally {
      await server.close();
    }
  });
});
