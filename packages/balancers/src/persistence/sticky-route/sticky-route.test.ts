import { describe, expect, it } from 'vitest';
import type { PeerView, RequestInfo } from '../../types.js';
import { stickyRoute } from './index.js';

const peers = ['a', 'b', 'c'].map((route, i): PeerView & { route: string } => ({
  id: `10.0.0.${i + 1}:80`,
  weight: 1,
  active: 0,
  responseTimeMs: 0,
  available: true,
  route,
}));
const req = (url: string, cookie?: string): RequestInfo => ({
  method: 'GET',
  url,
  headers: cookie === undefined ? {} : { cookie },
});

describe('stickyRoute', () => {
  it('takes the route from the first source that has one', () => {
    const s = stickyRoute({ from: [{ cookie: 'route' }, { query: 'route' }] });
    expect(s.find(req('/x?route=b'), peers)).toBe(peers[1]);
    expect(s.find(req('/x?route=b', 'route=c'), peers)).toBe(peers[2]);
    expect(s.find(req('/x?route=zz'), peers)).toBeUndefined();
    expect(s.find(req('/x'), peers)).toBeUndefined();
  });

  it('extracts the route with a pattern, Tomcat jvmRoute style', () => {
    const s = stickyRoute({ from: { cookie: 'JSESSIONID' }, pattern: /\.(?<route>[^.]+)$/ });
    expect(s.find(req('/', 'JSESSIONID=8F3A1C.b'), peers)).toBe(peers[1]);
    expect(s.find(req('/', 'JSESSIONID=8F3A1C'), peers)).toBeUndefined();
  });

  it('accepts a function as a source', () => {
    const s = stickyRoute({ from: (r) => r.headers['x-route'] as string | undefined });
    expect(s.find({ method: 'GET', url: '/', headers: { 'x-route': 'a' } }, peers)).toBe(peers[0]);
  });

  it('rejects a bad source with its path', () => {
    expect(() => stickyRoute({ from: [{ cookie: 'r' }, { body: 'x' } as never] })).toThrow(
      'from[1]: expected { cookie }, { query }, { header } or a function, got {"body":"x"}',
    );
  });
});
