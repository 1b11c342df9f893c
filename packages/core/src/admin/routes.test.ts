import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import { type AdminContext, findRoute } from './routes.js';

/** A context with nothing in it: no groups, caches or limit zones. */
const cx: AdminContext = {
  groups: () => new Map(),
  caches: new Map(),
  limits: { reqs: () => new Map(), conns: () => new Map() },
  stats: {
    connections: () => ({ accepted: 0, dropped: 0, active: 0, idle: 0 }),
    requests: () => ({ total: 0, current: 0 }),
  },
  nginxVersion: '1.0',
  build: 'test',
  now: () => 0,
  loadedAt: 0,
  maxBodyBytes: 1024,
};

/** The methods a path takes, or the code of the error it answers. */
function at(version: number, path: string): string {
  const route = findRoute(cx, version, path === '' ? [] : path.split('/'));
  return route instanceof ApiError ? route.code : Object.keys(route).join(' ');
}

/** The body of a path's GET. */
async function read(version: number, path: string): Promise<unknown> {
  const route = findRoute(cx, version, path === '' ? [] : path.split('/'));
  if (route instanceof ApiError || route.GET === undefined) throw new Error(`no GET at ${path}`);
  const reply = await route.GET({} as never);
  if (reply instanceof ApiError) throw new Error(reply.code);
  return reply.body;
}

describe('the route table', () => {
  it('answers GET at every path the listings name', async () => {
    for (const version of [8, 9]) {
      for (const name of (await read(version, '')) as string[]) expect(at(version, name)).toMatch(/^GET/);
      for (const name of (await read(version, 'http')) as string[]) {
        expect(at(version, `http/${name}`)).toMatch(/^GET/);
      }
      for (const name of (await read(version, 'stream')) as string[]) {
        expect(at(version, `stream/${name}`)).toMatch(/^GET/);
      }
    }
  });

  it('has /workers from version 9 on', () => {
    expect([at(8, 'workers'), at(9, 'workers')]).toEqual(['PathNotFound', 'GET DELETE']);
    expect([at(9, 'workers/0'), at(9, 'workers/1'), at(9, 'workers/0/x')]).toEqual([
      'GET DELETE',
      'WorkerNotFound',
      'PathNotFound',
    ]);
  });

  it('answers an item of an always-empty collection, at any depth, with its not-found code', async () => {
    expect(await read(9, 'slabs')).toEqual({});
    expect([at(9, 'slabs/a'), at(9, 'slabs/a/b'), at(9, 'stream/upstreams/x')]).toEqual([
      'SlabNotFound',
      'SlabNotFound',
      'UpstreamNotFound',
    ]);
    expect([at(9, 'http/keyvals/k'), at(9, 'stream/limit_conns/z')]).toEqual([
      'KeyvalNotFound',
      'LimitConnNotFound',
    ]);
  });

  it('looks a group up before the rest of its path', () => {
    expect([at(9, 'http/upstreams/nope'), at(9, 'http/upstreams/nope/servers/0/extra')]).toEqual([
      'UpstreamNotFound',
      'UpstreamNotFound',
    ]);
  });

  it('answers zones it does not have with their NGINX Plus codes', () => {
    expect([
      at(9, 'http/caches/c'),
      at(9, 'http/caches/c/keys'),
      at(9, 'http/limit_reqs/z'),
      at(9, 'http/limit_conns/z'),
    ]).toEqual(['CacheNotFound', 'CacheNotFound', 'LimitReqNotFound', 'LimitConnNotFound']);
  });

  it('answers PathNotFound below a leaf and at names it does not have', () => {
    for (const path of [
      'nginx/x',
      'http/requests/x',
      'http/caches/c/other',
      'http/limit_reqs/z/x',
      'http/nothing',
      'constructor',
      'http/constructor',
    ]) {
      expect([path, at(9, path)]).toEqual([path, 'PathNotFound']);
    }
  });
});
