import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { boolAt, functionAt, intAt, optionsAt, stringAt } from '@switchyard/internals';
import { CacheStoreError, InvalidOptionError } from '../errors.js';
import { lend } from '../lent.js';
import type { CacheEntry, CacheStore, StreamedBody } from '../types.js';

/** Options of {@link diskStore}; each mirrors a parameter of nginx's `proxy_cache_path`. */
export interface DiskStoreOptions {
  /** The cache directory (created if missing). */
  path: string;
  /**
   * Subdirectory levels, nginx's `levels=`: `'1:2'` (or `[1, 2]`) stores the entry whose
   * key hashes to `…029c` as `path/c/29/…029c`. One to three levels of 1 or 2 characters;
   * `''` (or `[]`) keeps every file in `path`. @default ''
   */
  levels?: string | readonly number[];
  /**
   * Bytes the files may take; the least recently used go first (nginx `max_size`).
   * @default unlimited
   */
  maxSizeBytes?: number;
  /** An entry not used for this long is removed, fresh or not (nginx `inactive`). @default 600000 */
  inactiveMs?: number;
  /**
   * Write new entries under `tempPath` and rename them into place (nginx
   * `use_temp_path=on`); otherwise next to their final name (`use_temp_path=off`). Either
   * way a reader never sees half an entry. `tempPath` must be on the same file system.
   * @default false
   */
  useTempPath?: boolean;
  /** Where temporary files go with `useTempPath` (nginx `proxy_temp_path`). @default path + '/temp' */
  tempPath?: string;
  /**
   * How often the cache manager removes inactive entries, and entries over
   * `maxSizeBytes` left by the loader. Its timer is unref'd and stopped by `close()`.
   * @default 10000
   */
  managerSleepMs?: number;
  /**
   * How a hit reads its file, nginx's `aio`. `false`: blocking reads on the event loop, as
   * nginx's worker reads with `aio off`, its default. A file in the page cache (a hot entry)
   * is read in a few microseconds of CPU, where each trip through libuv's thread pool costs
   * tens of microseconds in hand-offs and wake-ups; a file that must come from a slow disk holds up every request of the process
   * meanwhile. `true`: reads go through the thread pool (nginx `aio threads`), for caches on
   * slow or network storage. Writes and the cache loader always use the thread pool.
   * @default false
   */
  aio?: boolean;
  /**
   * How many entry files stay open between hits, nginx's `open_file_cache max=` (which
   * nginx also applies to its cache files): a hot entry then costs one read, without an
   * open and a close. The least recently used is closed beyond it; `0` closes each file
   * after its hit. Only hits read whole with blocking reads (`aio` off, under 128 KiB) use it.
   * @default 256
   */
  openFiles?: number;
  /**
   * How long a file kept open serves hits before it is opened again, nginx's
   * `open_file_cache_valid`. The store closes a kept file at once when it replaces or removes
   * the entry; this bounds how long a change made behind its back (another program
   * replacing or deleting the file) goes unseen.
   * @default 60000
   */
  openFilesValidMs?: number;
  /** The clock, in ms; only differences are used. @default Date.now */
  now?: () => number;
}

/** A disk store: a {@link CacheStore} whose bodies are streamed from their files. */
export interface DiskStore extends CacheStore<Buffer | StreamedBody> {
  /**
   * Settles when the cache loader has indexed every file found at start (nginx's cache
   * loader). The store serves before that: a key not indexed yet is read from its file.
   */
  readonly loaded: Promise<void>;
  /** Stops the cache manager and the loader, and waits for writes in progress. */
  close(): Promise<void>;
}

/** Every key of {@link DiskStoreOptions}: any other is refused. */
const DISK_OPTION_KEYS = Object.keys({
  path: true,
  levels: true,
  maxSizeBytes: true,
  inactiveMs: true,
  useTempPath: true,
  tempPath: true,
  managerSleepMs: true,
  aio: true,
  openFiles: true,
  openFilesValidMs: true,
  now: true,
} satisfies Record<keyof DiskStoreOptions, true>);

/** `SWYC`, the file format's magic. */
const MAGIC = 0x53575943;
const VERSION = 1;
/** Magic (4), version (1), reserved (3), header length (4). */
const PREFIX_BYTES = 12;
/** A header larger than this is a corrupt file. */
const MAX_HEADER_BYTES = 1024 * 1024;
/** The first read of an entry not indexed yet (its size unknown): the header and a body this size. */
const CHUNK_BYTES = 64 * 1024;
/**
 * The most one read takes. An indexed entry's file (its size known) is read whole in one
 * read up to this size, and its body comes as a Buffer; a larger body is streamed in slices
 * of this size, so a hit never holds more than this much of a body at once.
 */
const READ_BYTES = 128 * 1024;

const ENTRY_NAME = /^[0-9a-f]{32}$/;
const TEMP_NAME = /^[0-9a-f]{32}\.\d+\.\d+\.tmp$/;

/** What the file's header holds: the entry without its body, its key, and the body's identity. */
interface Header {
  key: string;
  status: number;
  headers: string[];
  storedAt: number;
  expiresAt: number;
  updatingMs: number;
  errorMs: number;
  etag?: string;
  lastModified?: string;
  vary?: string[];
  variant?: string;
  tags: string[];
  bodyLength: number;
  /** Names the body's bytes: kept when a 304 rewrites the header around the same body. */
  bodyId: string;
}

/** One indexed file. */
interface Indexed {
  /** Its path, kept so that a hit does not hash the key again. */
  file: string;
  size: number;
  lastUse: number;
  tags: readonly string[];
}

/** An entry as the disk store gives it. */
type Entry = CacheEntry<Buffer | StreamedBody>;

/** The MD5 of a key, in hex: the entry's file name, as nginx names it. */
export function keyHash(key: string): string {
  return createHash('md5').update(key).digest('hex');
}

/**
 * The path of an entry's file relative to the cache directory, nginx's layout: the level
 * directories are taken from the end of the hash.
 * @example
 * ```ts
 * entryPath('b7f54b2df7773722d382f4809d65029c', [1, 2]); // 'c/29/b7f54b2df7773722d382f4809d65029c'
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_path
 */
export function entryPath(hash: string, levels: readonly number[]): string {
  const parts: string[] = [];
  let end = hash.length;
  for (const n of levels) {
    parts.push(hash.slice(end - n, end));
    end -= n;
  }
  parts.push(hash);
  return parts.join('/');
}

function parseLevels(value: unknown): number[] {
  const list = typeof value === 'string' ? (value === '' ? [] : value.split(':').map(Number)) : (value ?? []);
  if (!Array.isArray(list) || list.length > 3 || list.some((n) => n !== 1 && n !== 2)) {
    throw new InvalidOptionError('levels', "up to three levels of 1 or 2, e.g. '1:2'", value);
  }
  return list as number[];
}

function encodeHeader(h: Header): Buffer {
  const json = Buffer.from(JSON.stringify(h));
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.writeUInt32BE(MAGIC, 0);
  prefix.writeUInt8(VERSION, 4);
  prefix.writeUInt32BE(json.length, 8);
  return Buffer.concat([prefix, json]);
}

/** Not a usable entry file: removed when found. */
class Corrupt extends Error {}

/** The header length from a file's first bytes. */
function headerLength(prefix: Buffer): number {
  if (prefix.length < PREFIX_BYTES || prefix.readUInt32BE(0) !== MAGIC || prefix.readUInt8(4) !== VERSION) {
    throw new Corrupt('not a cache file');
  }
  const n = prefix.readUInt32BE(8);
  if (n > MAX_HEADER_BYTES) throw new Corrupt('header too long');
  return n;
}

function decodeHeader(json: Buffer): Header {
  let h: Header;
  try {
    h = JSON.parse(json.toString()) as Header;
  } catch {
    throw new Corrupt('unreadable header');
  }
  if (
    typeof h?.key !== 'string' ||
    typeof h.status !== 'number' ||
    !Array.isArray(h.headers) ||
    !Array.isArray(h.tags) ||
    !Number.isSafeInteger(h.bodyLength) ||
    typeof h.bodyId !== 'string'
  ) {
    throw new Corrupt('incomplete header');
  }
  return h;
}

const openAsync = promisify(fs.open);
const readAsync = promisify(fs.read);
const fstatAsync = promisify(fs.fstat);
const closeAsync = promisify(fs.close);

/** How a hit reads its file; see {@link DiskStoreOptions.aio}. */
interface FileIo {
  open(file: string): Promise<number>;
  /** Reads `length` bytes at `position` into `buf`; how many came. */
  read(fd: number, buf: Buffer, length: number, position: number): Promise<number>;
  size(fd: number): Promise<number>;
  close(fd: number): Promise<void>;
}

/** Through libuv's thread pool, as nginx's `aio threads`: the event loop never waits on the disk. */
const THREADED: FileIo = {
  open: (file) => openAsync(file, 'r'),
  read: async (fd, buf, length, position) => (await readAsync(fd, buf, 0, length, position)).bytesRead,
  size: async (fd) => (await fstatAsync(fd)).size,
  close: (fd) => closeAsync(fd),
};

/**
 * Blocking system calls, as nginx's worker makes them with `aio off` (its default): from the
 * page cache an open and a 128 KiB read take a few microseconds, where each thread-pool trip
 * costs tens of microseconds of CPU in hand-offs and wake-ups.
 */
const BLOCKING: FileIo = {
  open: async (file) => fs.openSync(file, 'r'),
  read: async (fd, buf, length, position) => fs.readSync(fd, buf, 0, length, position),
  size: async (fd) => fs.fstatSync(fd).size,
  close: async (fd) => fs.closeSync(fd),
};

/** How many free read buffers a store keeps for its next hits (2 MiB). */
const KEPT_READ_BUFFERS = 16;

/**
 * The buffers a store reads hits into, reused: a fresh buffer for each hit costs the kernel
 * a page fault and a zeroed page per 4 KiB, more than the read itself. A hit's body lent
 * from one comes back when its response has finished (see `lent.ts`); one that does not
 * come back is left to the garbage collector.
 */
class ReadBuffers {
  private readonly free: Buffer[] = [];
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES);
  }
  give(buf: Buffer): void {
    if (this.free.length < KEPT_READ_BUFFERS) this.free.push(buf);
  }
}

/** A file kept open by {@link OpenFiles}. */
interface KeptFile {
  fd: number;
  openedAt: number;
}

/**
 * Entry files kept open between hits (nginx's `open_file_cache`), by key, least recently
 * used first. Entry files are never written in place (a new version is renamed over the
 * name), so a kept descriptor always reads one whole version: the store drops it when it
 * replaces or removes the entry, and reopens it after `validMs` to see changes made by
 * others. Every use is synchronous, so a descriptor is never closed while being read.
 */
class OpenFiles {
  private readonly kept = new Map<string, KeptFile>();
  constructor(
    private max: number,
    private readonly validMs: number,
    private readonly now: () => number,
  ) {}

  /** A descriptor of `key`'s `file`: the kept one while valid, or a new one (throws as `openSync`). */
  open(key: string, file: string): number {
    const k = this.kept.get(key);
    if (k !== undefined) {
      this.kept.delete(key);
      if (this.now() - k.openedAt < this.validMs) {
        this.kept.set(key, k);
        return k.fd;
      }
      closeNow(k.fd);
    }
    const fd = fs.openSync(file, 'r');
    if (this.max > 0) {
      if (this.kept.size >= this.max) this.drop(this.kept.keys().next().value as string);
      this.kept.set(key, { fd, openedAt: this.now() });
    }
    return fd;
  }

  /** After a good read of `fd`: closed unless kept. */
  done(key: string, fd: number): void {
    if (this.kept.get(key)?.fd !== fd) closeNow(fd);
  }

  /** After a failed read of `fd`: closed, kept or not. */
  fail(key: string, fd: number): void {
    if (this.kept.get(key)?.fd === fd) this.kept.delete(key);
    closeNow(fd);
  }

  /** Closes the file kept for `key`, if any: its entry was replaced or removed. */
  drop(key: string): void {
    const k = this.kept.get(key);
    if (k === undefined) return;
    this.kept.delete(key);
    closeNow(k.fd);
  }

  /** Closes every kept file, and keeps none from now on (the store is closed). */
  closeAll(): void {
    this.max = 0;
    for (const key of [...this.kept.keys()]) this.drop(key);
  }
}

/**
 * The header of an open entry file whose first bytes are `got`, and where its body starts;
 * a header longer than `got` is read on its own.
 */
async function headerOf(io: FileIo, fd: number, got: Buffer): Promise<{ header: Header; bodyStart: number }> {
  const n = headerLength(got);
  const bodyStart = PREFIX_BYTES + n;
  if (bodyStart <= got.length)
    return { header: decodeHeader(got.subarray(PREFIX_BYTES, bodyStart)), bodyStart };
  const json = Buffer.allocUnsafe(n);
  if ((await io.read(fd, json, n, PREFIX_BYTES)) !== n) throw new Corrupt('truncated header');
  return { header: decodeHeader(json), bodyStart };
}

/** An entry's file, read up to its first chunk. */
interface Opened {
  header: Header;
  /** Where the body starts. */
  bodyStart: number;
  /** The body's bytes that came with the header. */
  first: Buffer;
  /** The file, still open, when `first` is not the whole body (with `keepOpen`). */
  fd: number | undefined;
  /** The file's size (as announced, when it was kept open unchecked). */
  size: number;
  /** The read buffer `first` lies in, when it was taken from the store's {@link ReadBuffers}. */
  taken: Buffer | undefined;
}

/**
 * Reads a file's header and the start of its body in one read, checking that the file is
 * whole. With `keepOpen`, a body larger than that read keeps its file open for the
 * stream, and a truncation beyond it is found by the stream; otherwise the size is checked.
 */
async function readEntryFile(
  io: FileIo,
  file: string,
  keepOpen: boolean,
  sizeHint?: number,
  buffers?: ReadBuffers,
): Promise<Opened> {
  const fd = await io.open(file);
  let kept = false;
  let taken: Buffer | undefined;
  try {
    // The index knows the file's size: read it whole when it is not large (a byte more, to
    // see a file that grew), into a reused buffer; else the first slice; without it, the
    // first chunk.
    const known = keepOpen && sizeHint !== undefined;
    const readBytes = known ? Math.min(sizeHint + 1, READ_BYTES) : CHUNK_BYTES;
    if (buffers !== undefined && known && sizeHint < READ_BYTES) taken = buffers.take();
    const buf = taken ?? Buffer.allocUnsafe(readBytes);
    const bytesRead = await io.read(fd, buf, readBytes, 0);
    const got = buf.subarray(0, bytesRead);
    const { header, bodyStart } = await headerOf(io, fd, got);
    const expected = bodyStart + header.bodyLength;
    const whole = bytesRead < readBytes;
    let size = expected;
    if (whole) size = bytesRead;
    else if (!keepOpen) size = await io.size(fd);
    // A torn or truncated write: the size the header announces is the proof of a whole file.
    if (size !== expected) throw new Corrupt(`size ${size}, expected ${expected}`);
    const first = bodyStart < got.length ? got.subarray(bodyStart, Math.min(got.length, expected)) : EMPTY;
    // A body that came whole with the header is a Buffer; the rest of a larger one is streamed.
    kept = keepOpen && !whole;
    // The start of a larger body goes to a stream, which keeps it: not a buffer to reuse.
    if (kept) taken = undefined;
    return { header, bodyStart, first, fd: kept ? fd : undefined, size, taken };
  } catch (err) {
    if (taken !== undefined) buffers?.give(taken);
    throw err;
  } finally {
    if (!kept) await io.close(fd);
  }
}

const EMPTY = Buffer.alloc(0);

/** A body shorter than this is copied out of its read buffer: Node takes it from its shared pool. */
const SMALL_BODY_BYTES = Buffer.poolSize >>> 1;

/** Whether `b` uses less than half of the memory it holds. */
function small(b: Buffer): boolean {
  return b.length * 2 < b.buffer.byteLength;
}

/** The file a lookup opened, handed to the first stream of its body. */
interface Held {
  fd: number;
  first: Buffer;
  bodyStart: number;
}

/**
 * A body left in its file. The first `stream()` reads the file the lookup opened (as
 * nginx does); a later one reopens it and checks that it still holds the same body.
 */
class DiskBody implements StreamedBody {
  readonly length: number;
  readonly file: string;
  readonly id: string;
  readonly io: FileIo;
  private held: Held | undefined;
  constructor(io: FileIo, file: string, length: number, id: string, held?: Held) {
    this.io = io;
    this.file = file;
    this.length = length;
    this.id = id;
    this.held = held;
  }
  stream(): Readable {
    const held = this.held;
    this.held = undefined;
    return new BodyStream(this, held);
  }
  /** Closes the file of a lookup whose body was not sent. */
  release(): void {
    const held = this.held;
    this.held = undefined;
    if (held !== undefined) closeQuietly(held.fd);
  }
}

/** Reads a {@link DiskBody} chunk by chunk; closes its file when done or destroyed. */
class BodyStream extends Readable {
  private readonly body: DiskBody;
  private fd: number | undefined;
  private pending: Buffer | undefined;
  private pos = 0;
  private end = 0;
  constructor(body: DiskBody, held: Held | undefined) {
    super({ highWaterMark: READ_BYTES });
    this.body = body;
    if (held !== undefined) {
      this.fd = held.fd;
      this.pending = held.first;
      this.pos = held.bodyStart + held.first.length;
      this.end = held.bodyStart + body.length;
    }
  }

  override _read(): void {
    const pending = this.pending;
    this.pending = undefined;
    if (pending !== undefined && pending.length > 0) {
      this.push(pending);
      // All of it came with the header: done without another turn.
      if (this.pos >= this.end) this.push(null);
      return;
    }
    this.next().catch((err: unknown) => this.destroy(err as Error));
  }

  private async next(): Promise<void> {
    if (this.fd === undefined) {
      const fd = await this.body.io.open(this.body.file);
      if (this.destroyed) {
        closeQuietly(fd);
        return;
      }
      this.fd = fd;
      const buf = Buffer.allocUnsafe(CHUNK_BYTES);
      const bytesRead = await this.body.io.read(fd, buf, CHUNK_BYTES, 0);
      const got = buf.subarray(0, bytesRead);
      const { header: h, bodyStart } = await headerOf(this.body.io, fd, got);
      // Replaced since it was looked up (a 304 keeps the body, so its id): not ours to send.
      if (h.bodyId !== this.body.id || h.bodyLength !== this.body.length) {
        throw new Corrupt(`${this.body.file}: replaced while it was being sent`);
      }
      this.end = bodyStart + h.bodyLength;
      const first = bodyStart < got.length ? got.subarray(bodyStart, Math.min(got.length, this.end)) : EMPTY;
      this.pos = bodyStart + first.length;
      if (first.length > 0) {
        this.push(first);
        return;
      }
    }
    const want = Math.min(READ_BYTES, this.end - this.pos);
    if (want <= 0) {
      this.push(null);
      return;
    }
    const buf = Buffer.allocUnsafe(want);
    const bytesRead = await this.body.io.read(this.fd, buf, want, this.pos);
    if (bytesRead === 0) throw new Corrupt(`${this.body.file}: truncated body`);
    this.pos += bytesRead;
    this.push(bytesRead === want ? buf : buf.subarray(0, bytesRead));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) closeNow(fd);
    cb(err);
  }
}

function closeQuietly(fd: number): void {
  fs.close(fd, () => {});
}

/**
 * Closes a file opened for reading at once: with nothing to flush, close(2) does not wait on
 * the disk (nginx closes its cache files so too), and a hit saves a thread-pool trip, which
 * costs the event loop a thread wake-up and, on a busy machine, a context switch.
 */
function closeNow(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Closed already: nothing to give back.
  }
}

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

async function unlinkQuietly(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * A cache store on disk with nginx's `proxy_cache_path` behaviour: one file per entry,
 * named by the MD5 of its key in the `levels` layout, holding a header (the key, status,
 * headers, times, Vary data, tags) then the body. Writes go to a temporary file renamed
 * into place, so no reader sees half an entry. At start a cache loader indexes the files
 * in the background while the store serves; a cache manager removes entries unused for
 * `inactiveMs` and the least recently used ones over `maxSizeBytes`. Bodies on a hit are
 * streamed from their file. Disk errors (EACCES, ENOSPC, a corrupt file) reject, so the
 * cache reports a `CacheStoreError` and goes upstream; a corrupt file is removed.
 *
 * @example
 * ```ts
 * const store = diskStore({ path: '/var/cache/shop', levels: '1:2', maxSizeBytes: 10 * 2 ** 30, inactiveMs: 3_600_000 });
 * const cache = createCache({ store, valid: { 200: '10m' } });
 * // at shutdown
 * await store.close();
 * ```
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_cache_path
 */
export function diskStore(options: DiskStoreOptions): DiskStore {
  optionsAt('', options, DISK_OPTION_KEYS);
  const o = options;
  const root = stringAt('path', o.path);
  const levels = parseLevels(o.levels);
  const maxSize =
    o.maxSizeBytes === undefined ? undefined : intAt('maxSizeBytes', o.maxSizeBytes, undefined, 1);
  const inactiveMs = intAt('inactiveMs', o.inactiveMs, 600_000, 1);
  const sleepMs = intAt('managerSleepMs', o.managerSleepMs, 10_000, 1);
  const useTempPath = boolAt('useTempPath', o.useTempPath, false);
  const tempPath = stringAt('tempPath', o.tempPath, join(root, 'temp'));
  const io = boolAt('aio', o.aio, false) ? THREADED : BLOCKING;
  const buffers = new ReadBuffers();
  const now = functionAt('now', o.now) ?? Date.now;
  const files = new OpenFiles(
    intAt('openFiles', o.openFiles, 256, 0),
    intAt('openFilesValidMs', o.openFilesValidMs, 60_000, 0),
    now,
  );

  /** key → file; Map order is least recently used first. */
  const index = new Map<string, Indexed>();
  const byTag = new Map<string, Set<string>>();
  let sizeBytes = 0;
  let loading = true;
  let closed = false;
  let seq = 0;
  const madeDirs = new Set<string>();
  /** Temporary files being written now: the loader must not take them for leftovers. */
  const writing = new Set<string>();
  const inFlight = new Set<Promise<unknown>>();

  const fileOf = (key: string): string => join(root, entryPath(keyHash(key), levels));

  const forget = (key: string): void => {
    const e = index.get(key);
    if (e === undefined) return;
    index.delete(key);
    files.drop(key);
    sizeBytes -= e.size;
    for (const tag of e.tags) {
      const keys = byTag.get(tag);
      if (keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) byTag.delete(tag);
    }
  };

  const remember = (key: string, file: string, size: number, tags: readonly string[]): void => {
    forget(key);
    index.set(key, { file, size, lastUse: now(), tags });
    sizeBytes += size;
    for (const tag of tags) {
      let keys = byTag.get(tag);
      if (keys === undefined) {
        keys = new Set();
        byTag.set(tag, keys);
      }
      keys.add(key);
    }
  };

  const touch = (key: string): void => {
    const e = index.get(key);
    if (e === undefined) return;
    index.delete(key);
    e.lastUse = now();
    index.set(key, e);
  };

  const remove = (key: string): Promise<boolean> => {
    forget(key);
    return unlinkQuietly(fileOf(key));
  };

  /** Over `maxSizeBytes`: the least recently used go (nginx's cache manager). */
  const trim = (): void => {
    if (maxSize === undefined) return;
    for (const key of index.keys()) {
      if (sizeBytes <= maxSize) break;
      void remove(key);
    }
  };

  /** One run of the cache manager: inactive entries, then the size limit. */
  const manage = (): void => {
    const limit = now() - inactiveMs;
    for (const [key, e] of index) {
      // Map order is by last use, so the first active entry ends the scan.
      if (e.lastUse > limit) break;
      void remove(key);
    }
    trim();
  };

  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    const done = (): void => {
      inFlight.delete(p);
    };
    p.then(done, done);
    return p;
  };

  const ensureDir = async (dir: string): Promise<void> => {
    if (madeDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    madeDirs.add(dir);
  };

  /** Indexes one entry file found by the loader; a torn or corrupt one is removed. */
  const loadFile = async (file: string, name: string): Promise<void> => {
    let opened: Opened;
    try {
      opened = await readEntryFile(THREADED, file, false);
    } catch (err) {
      if (err instanceof Corrupt) await unlinkQuietly(file);
      return;
    }
    const { header } = opened;
    if (keyHash(header.key) !== name) {
      await unlinkQuietly(file);
      return;
    }
    // Indexed meanwhile by a lookup or a write: that one is newer.
    if (!index.has(header.key) && !closed) remember(header.key, file, opened.size, header.tags);
  };

  const walk = async (dir: string, depth: number): Promise<void> => {
    let list: fs.Dirent[];
    try {
      list = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of list) {
      if (closed) return;
      const full = join(dir, d.name);
      if (d.isDirectory()) {
        if (depth < levels.length && d.name.length === levels[depth] && /^[0-9a-f]+$/.test(d.name)) {
          await walk(full, depth + 1);
        }
      } else if (d.isFile()) {
        if (TEMP_NAME.test(d.name)) {
          // A write that never reached its rename (a crash): never an entry.
          if (!writing.has(full)) await unlinkQuietly(full);
        } else if (depth === levels.length && ENTRY_NAME.test(d.name)) await loadFile(full, d.name);
      }
    }
  };

  // nginx's cache loader: index what is on disk, in the background.
  const loaded = track(
    (async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      await walk(root, 0);
      // Leftovers of writes through the temporary directory (any `useTempPath` before).
      await walk(tempPath, -1);
    })().finally(() => {
      loading = false;
      if (!closed) trim();
    }),
  );

  const timer = setInterval(manage, sleepMs);
  timer.unref?.();

  /** A lookup's failure to read `file`: a miss when it is gone, a store error when corrupt (removed). */
  const readFailed = (key: string, file: string, err: unknown): undefined => {
    if (code(err) === 'ENOENT' || code(err) === 'ENOTDIR') {
      forget(key);
      return undefined;
    }
    if (err instanceof Corrupt) {
      forget(key);
      try {
        fs.unlinkSync(file);
      } catch {
        // Gone already.
      }
      throw new CacheStoreError('get', `${file}: corrupt cache file removed (${err.message})`, err);
    }
    throw err;
  };

  /**
   * A hit of an indexed file smaller than one read, with blocking reads (`aio` off): read
   * whole, all in this turn, so the cache answers without a promise, as from memory.
   * `undefined` for a miss; `null` when the file is not as the index knows it (it grew):
   * the general lookup takes it.
   */
  const readWhole = (key: string, known: Indexed): Entry | undefined | null => {
    let fd: number;
    try {
      fd = files.open(key, known.file);
    } catch (err) {
      return readFailed(key, known.file, err);
    }
    const taken = buffers.take();
    let opened: Opened;
    try {
      // A byte more than the index knows, to see a file that grew.
      const bytesRead = fs.readSync(fd, taken, 0, known.size + 1, 0);
      const got = taken.subarray(0, bytesRead);
      const bodyStart = PREFIX_BYTES + headerLength(got);
      if (bytesRead > known.size || bodyStart > bytesRead) {
        buffers.give(taken);
        files.fail(key, fd);
        return null;
      }
      const header = decodeHeader(got.subarray(PREFIX_BYTES, bodyStart));
      const expected = bodyStart + header.bodyLength;
      // A torn or truncated write: the size the header announces is the proof of a whole file.
      if (bytesRead !== expected) throw new Corrupt(`size ${bytesRead}, expected ${expected}`);
      opened = { header, bodyStart, first: got.subarray(bodyStart), fd: undefined, size: bytesRead, taken };
    } catch (err) {
      buffers.give(taken);
      files.fail(key, fd);
      return readFailed(key, known.file, err);
    }
    files.done(key, fd);
    return entryOf(key, known.file, opened);
  };

  const read = async (key: string): Promise<Entry | undefined> => {
    const known = index.get(key);
    const file = known?.file ?? fileOf(key);
    let opened: Opened;
    try {
      opened = await readEntryFile(io, file, true, known?.size, buffers);
    } catch (err) {
      return readFailed(key, file, err);
    }
    return entryOf(key, file, opened);
  };

  /** The entry a lookup read; `undefined` when the file holds another key. */
  const entryOf = (key: string, file: string, opened: Opened): Entry | undefined => {
    const h = opened.header;
    const taken = opened.taken;
    // nginx: "cache file has md5 collision": another key with the same hash.
    if (h.key !== key) {
      if (opened.fd !== undefined) closeQuietly(opened.fd);
      if (taken !== undefined) buffers.give(taken);
      return undefined;
    }
    if (index.has(key)) touch(key);
    else remember(key, file, opened.size, h.tags);
    let body: Buffer | DiskBody;
    if (taken !== undefined) {
      // A small body is copied out (from Node's shared pool, at no page's cost) and the read
      // buffer goes back at once; a larger one is lent until its response has finished.
      if (opened.first.length < SMALL_BODY_BYTES) {
        body = Buffer.from(opened.first);
        buffers.give(taken);
      } else {
        body = opened.first;
        lend(body, () => buffers.give(taken));
      }
    } else if (opened.fd === undefined) {
      // A small body read with a larger first chunk is copied out, so as not to hold the chunk.
      body = small(opened.first) ? Buffer.from(opened.first) : opened.first;
    } else {
      const held = { fd: opened.fd, first: opened.first, bodyStart: opened.bodyStart };
      const disk = new DiskBody(io, file, h.bodyLength, h.bodyId, held);
      // The cache makes the response's stream in the same turn as the lookup answers;
      // a body it does not send (HEAD, 304, another Vary variant) gives its file back.
      setImmediate(() => disk.release());
      body = disk;
    }
    return {
      status: h.status,
      headers: h.headers,
      body,
      storedAt: h.storedAt,
      expiresAt: h.expiresAt,
      updatingMs: h.updatingMs,
      errorMs: h.errorMs,
      etag: h.etag,
      lastModified: h.lastModified,
      vary: h.vary,
      variant: h.variant,
      tags: h.tags,
    };
  };

  const write = async (key: string, entry: CacheEntry<Buffer | StreamedBody>): Promise<void> => {
    if (closed) return;
    const hash = keyHash(key);
    const file = join(root, entryPath(hash, levels));
    const body = entry.body;
    const header = encodeHeader({
      key,
      status: entry.status,
      headers: [...entry.headers],
      storedAt: entry.storedAt,
      expiresAt: entry.expiresAt,
      updatingMs: entry.updatingMs,
      errorMs: entry.errorMs,
      ...(entry.etag === undefined ? {} : { etag: entry.etag }),
      ...(entry.lastModified === undefined ? {} : { lastModified: entry.lastModified }),
      ...(entry.vary === undefined ? {} : { vary: [...entry.vary] }),
      ...(entry.variant === undefined ? {} : { variant: entry.variant }),
      tags: [...entry.tags],
      bodyLength: body.length,
      // A refreshed entry keeps its body, and so its id: streams opened before still match.
      bodyId: body instanceof DiskBody ? body.id : randomBytes(8).toString('hex'),
    });
    const size = header.length + body.length;
    if (maxSize !== undefined && size > maxSize) return;
    const dir = join(file, '..');
    const tempDir = useTempPath ? tempPath : dir;
    const temp = join(tempDir, `${hash}.${process.pid}.${++seq}.tmp`);
    writing.add(temp);
    try {
      await ensureDir(dir);
      if (tempDir !== dir) await ensureDir(tempDir);
      const fh = await open(temp, 'wx');
      if (Buffer.isBuffer(body)) {
        try {
          const { bytesWritten } = await fh.writev([header, body]);
          if (bytesWritten !== size)
            throw new Error(`short write to ${temp}: ${bytesWritten} of ${size} bytes`);
        } finally {
          await fh.close();
        }
      } else {
        try {
          await fh.write(header);
        } catch (err) {
          await fh.close();
          throw err;
        }
        await pipeline(body.stream(), fh.createWriteStream({ start: header.length }));
      }
      await rename(temp, file);
    } catch (err) {
      await unlinkQuietly(temp);
      throw err;
    } finally {
      writing.delete(temp);
    }
    remember(key, file, size, entry.tags);
    trim();
  };

  return {
    loaded,
    get: (key) => {
      const known = index.get(key);
      // Once loaded, the index knows every file: a miss is answered at once, with no system call.
      if (known === undefined) return loading ? read(key) : undefined;
      if (io === BLOCKING && known.size < READ_BYTES) {
        const hit = readWhole(key, known);
        if (hit !== null) return hit;
      }
      return read(key);
    },
    set: (key, entry) => track(write(key, entry)),
    delete: async (key) => {
      const had = index.has(key);
      return (await remove(key)) || had;
    },
    deletePrefix: async (prefix) => {
      await loaded;
      const doomed = [...index.keys()].filter((k) => k.startsWith(prefix));
      await Promise.all(doomed.map(remove));
      return doomed.length;
    },
    deleteTag: async (tag) => {
      await loaded;
      const doomed = [...(byTag.get(tag) ?? [])];
      await Promise.all(doomed.map(remove));
      return doomed.length;
    },
    usage: () => ({ sizeBytes, maxSizeBytes: maxSize, cold: loading }),
    close: async () => {
      closed = true;
      clearInterval(timer);
      files.closeAll();
      await Promise.allSettled([...inFlight]);
    },
  };
}
