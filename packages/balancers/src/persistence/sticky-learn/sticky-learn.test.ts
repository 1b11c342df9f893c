import { describe, expect, it } from 'vitest';
import type { PeerView, RequestInfo, ResponseHead } from '../../types.js';
import { memorySessionStore, type SessionStore, stickyLearn } from './index.js';

const peers = [1, 2].map(
  (i): PeerView => ({ id: `10.0.0.${i}:80`, weight: 1, active: 0, responseTimeMs: 0, available: true }),
);
const req = (cookie?: string): RequestInfo => ({
  method: 'GET',
  url: '/',
  headers: cookie ? { cookie } : {},
});
const res = (setCookies: string[]): ResponseHead => ({
  statusCode: 200,
  getHeader: () => undefined,
  getHeaders: (name) => (name === 'set-cookie' ? setCookies : []),
  appendHeader: () => {},
});

describe('stickyLearn', () => {
  it('learns a session from the upstream Set-Cookie and routes it back', () => {
    const s = stickyLearn({ create: { cookie: 'SID' }, lookup: { cookie: 'SID' } });
    expect(s.find(req('SID=abc'), peers)).toBeUndefined();
    s.bind(req(), res(['other=1; Path=/', 'SID=abc; Path=/; HttpOnly']), peers[1] as PeerView);
    expect(s.find(req('SID=abc'), peers)).toBe(peers[1]);
    expect(s.find(req('SID=other'), peers)).toBeUndefined();
  });

  it('finds a session whose id has %-escapes, as the Cookie header decodes it', () => {
    const s = stickyLearn({ create: { cookie: 'SID' }, lookup: { cookie: 'SID' } });
    s.bind(req(), res(['SID=s%3Aabc.def; Path=/']), peers[0] as PeerView);
    expect(s.find(req('SID=s%3Aabc.def'), peers)).toBe(peers[0]);
  });

  it('forgets a session left unused for timeoutMs, and keeps one in use', () => {
    let t = 1_000_000;
    const store = memorySessionStore({ now: () => t });
    const s = stickyLearn({ create: { cookie: 'SID' }, lookup: { cookie: 'SID' }, timeoutMs: 1000, store });
    s.bind(req(), res(['SID=kept']), peers[0] as PeerView);
    s.bind(req(), res(['SID=idle']), peers[0] as PeerView);
    for (let i = 0; i < 3; i++) {
      t += 800;
      expect(s.find(req('SID=kept'), peers)).toBe(peers[0]);
    }
    expect(s.find(req('SID=idle'), peers)).toBeUndefined();
  });

  it('bounds the memory store, least recently used out first', () => {
    const store = memorySessionStore({ maxSessions: 2 });
    store.set('a', 'p1', 10_000);
    store.set('b', 'p1', 10_000);
    store.get('a', 10_000);
    store.set('c', 'p2', 10_000);
    expect(store.get('b', 10_000)).toBeUndefined();
    expect(store.get('a', 10_000)).toBe('p1');
    expect(store.get('c', 10_000)).toBe('p2');
  });

  it('falls back to the balancer and reports when the store fails', async () => {
    const errors: string[] = [];
    const broken: SessionStore = {
      get: () => Promise.reject(new Error('connection refused')),
      set: () => {
        throw new Error('read only');
      },
    };
    const s = stickyLearn({
      create: { header: 'x-session' },
      lookup: { header: 'x-session' },
      store: broken,
      onStoreError: (e) => errors.push(`${e.code}: ${e.message}`),
    });
    const h: ResponseHead = { ...res([]), getHeader: (n) => (n === 'x-session' ? 'z' : undefined) };
    s.bind(req(), h, peers[0] as PeerView);
    expect(await s.find({ method: 'GET', url: '/', headers: { 'x-session': 'z' } }, peers)).toBeUndefined();
    expect(errors).toEqual([
      'SWY_ERR_SESSION_STORE: session store: read only',
      'SWY_ERR_SESSION_STORE: session store: connection refused',
    ]);
  });

  it('rejects bad options with their path', () => {
    expect(() => stickyLearn({ create: { query: 'x' } as never, lookup: { cookie: 'a' } })).toThrow(
      'create: expected { cookie }, { header } or a function, got {"query":"x"}',
    );
    expect(() => stickyLearn({ create: { cookie: 'a' }, lookup: { cookie: 'a' }, timeoutMs: 0 })).toThrow(
      'timeoutMs: expected a positive integer, got 0',
    );
  });
});
